//! Who opened a file: read from `/proc/PID` while the opener is still
//! blocked in `open`, so the answer is about the right process.

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

/// One process of each mount namespace, with that namespace's mount table
/// (`/proc/PID/mountinfo`), skipping `except` (the agent itself).
pub fn mount_namespaces(except: Option<i32>) -> Vec<(i32, String)> {
    let mut seen = std::collections::HashSet::new();
    pids()
        .into_iter()
        .filter(|&pid| Some(pid) != except)
        .filter_map(|pid| {
            let ns = nix::sys::stat::stat(format!("/proc/{pid}/ns/mnt").as_str()).ok()?;
            if !seen.insert(ns.st_ino) {
                return None;
            }
            let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
            Some((pid, text))
        })
        .collect()
}

/// The pids of every process, as `/proc` lists them now (an empty list if
/// it cannot be read).
pub fn pids() -> Vec<i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// What a record says about the process that opened a file: each fact
/// read from `/proc` while the opener is still blocked in `open`, `None`
/// when it could not be read (the record then lacks the field; a verdict
/// never depends on it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opener {
    /// Its executable (`/proc/PID/exe`).
    pub exe: Option<String>,
    /// Its real uid (`/proc/PID/status`).
    pub uid: Option<u32>,
    /// Its parent's pid (`/proc/PID/status`, `PPid:`).
    pub ppid: Option<i32>,
    /// Its parent's executable, only when the parent was still the
    /// opener's parent after it was read (see [`describe`]).
    pub parent_exe: Option<String>,
    /// Its login uid (`/proc/PID/loginuid`).
    pub login_uid: Option<LoginUid>,
    /// The path of its cgroup in the unified hierarchy (the `0::` line of
    /// `/proc/PID/cgroup`), as seen from the agent's cgroup namespace.
    pub cgroup: Option<String>,
    /// The systemd unit that cgroup belongs to ([`unit_of`]).
    pub unit: Option<String>,
}

/// A process's login uid: the uid of the login session it descends from,
/// or unset (`4294967295` in `/proc`: started outside any login session,
/// a service or a process of the boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginUid {
    /// Set, to this uid.
    Uid(u32),
    /// Unset.
    Unset,
}

impl LoginUid {
    /// The value written in records: the uid, or `unset`.
    pub fn as_text(self) -> String {
        match self {
            LoginUid::Uid(u) => u.to_string(),
            LoginUid::Unset => "unset".to_string(),
        }
    }
}

/// The limit for each `/proc` file read here (`status`, `cgroup`,
/// `loginuid`): a few hundred bytes each in practice.
const PROC_LIMIT: u64 = 64 * 1024;

fn proc_text(pid: i32, name: &str) -> Option<String> {
    let path = format!("/proc/{pid}/{name}");
    crate::files::bounded::read_text(std::path::Path::new(&path), PROC_LIMIT).ok()
}

/// The executable of process `pid` (`/proc/PID/exe`).
pub fn exe(pid: i32) -> Option<String> {
    nix::fcntl::readlink(format!("/proc/{pid}/exe").as_str())
        .ok()
        .map(|s| s.to_string_lossy().into_owned())
}

/// Describes process `pid` ([`Opener`]). Call it while the process cannot
/// have ended (an opener blocked in `open` until answered), so that every
/// fact is about it and not about a process that reused its pid. Its
/// parent can end meanwhile: the parent's executable is kept only if the
/// opener still has the same parent after it was read (a parent that has
/// exited has handed its children to another, before its pid could be
/// reused).
pub fn describe(pid: i32) -> Opener {
    if pid <= 0 {
        return Opener::default();
    }
    let status = proc_text(pid, "status");
    let ppid = status.as_deref().and_then(parse_ppid);
    let parent_exe = ppid.filter(|&p| p > 0).and_then(|p| {
        let parent = exe(p)?;
        let still = proc_text(pid, "status").as_deref().and_then(parse_ppid);
        (still == Some(p)).then_some(parent)
    });
    let cgroup = proc_text(pid, "cgroup").and_then(|t| parse_cgroup(&t));
    let unit = cgroup.as_deref().and_then(unit_of);
    Opener {
        exe: exe(pid),
        uid: status.as_deref().and_then(parse_uid),
        ppid,
        parent_exe,
        login_uid: proc_text(pid, "loginuid").and_then(|t| parse_login_uid(&t)),
        cgroup,
        unit,
    }
}

/// Whether process `pid` has ended: exited, or killed and not yet reaped
/// by its parent (a zombie's pidfd is readable). `false` when that cannot be
/// told (pid 0: the opener is outside the agent's pid namespace; no
/// descriptor left). A pid reused by a new process reads as not ended: a
/// caller can only be told too late, never too early, that an opener is
/// gone.
pub fn gone(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: pidfd_open(2) takes a pid and flags (no pointers) and returns
    // a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return match Errno::last() {
            Errno::ESRCH => true,
            // Before Linux 5.3: no pidfd, a zombie still reads as alive.
            Errno::ENOSYS => nix::sys::signal::kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH),
            _ => false,
        };
    }
    let Ok(raw) = RawFd::try_from(raw) else {
        return false;
    };
    // SAFETY: the kernel just returned this descriptor, which nothing else
    // owns; the OwnedFd closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

fn parse_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn parse_ppid(status: &str) -> Option<i32> {
    let line = status.lines().find(|l| l.starts_with("PPid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `/proc/PID/loginuid`: a decimal uid, `4294967295` (`(uid_t)-1`) when
/// unset.
fn parse_login_uid(text: &str) -> Option<LoginUid> {
    match text.trim().parse::<u32>().ok()? {
        u32::MAX => Some(LoginUid::Unset),
        uid => Some(LoginUid::Uid(uid)),
    }
}

/// The cgroup path of the unified hierarchy in the text of
/// `/proc/PID/cgroup`: the path of its `0::PATH` line (cgroup v2, and the
/// unified part of a hybrid layout); `None` without one (cgroup v1 only).
pub fn parse_cgroup(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| p.starts_with('/'))
        .map(str::to_string)
}

/// The suffixes of the systemd units that hold processes.
const UNIT_SUFFIXES: [&str; 5] = [".service", ".scope", ".socket", ".mount", ".swap"];

/// The systemd unit of a cgroup path: its last component that names a unit
/// holding processes (`.service`, `.scope`, `.socket`, `.mount`, `.swap`;
/// slices hold none), without the `_` systemd puts before names that could
/// clash with the kernel's own files. `/system.slice/nginx.service` is
/// `nginx.service`; a user's unit, `/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope`,
/// is `app-foo.scope`; a cgroup a service made below its own,
/// `/system.slice/docker.service/payload`, is still `docker.service`.
/// `None` for `/` and for paths without a unit.
pub fn unit_of(cgroup: &str) -> Option<String> {
    cgroup
        .split('/')
        .rev()
        .map(|c| c.strip_prefix('_').unwrap_or(c))
        .find(|c| {
            UNIT_SUFFIXES
                .iter()
                .any(|s| c.len() > s.len() && c.ends_with(s))
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_real_uid() {
        assert_eq!(
            super::parse_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"),
            Some(1000)
        );
        assert_eq!(super::parse_uid("Name:\tx\n"), None);
        let me = super::describe(std::process::id() as i32);
        assert!(me.exe.is_some());
        assert_eq!(me.uid, Some(nix::unistd::getuid().as_raw()));
        assert_eq!(me.ppid, Some(nix::unistd::getppid().as_raw()));
        assert!(me.parent_exe.is_some());
        assert!(me.login_uid.is_some());
        assert_eq!(super::describe(0), super::Opener::default());
    }

    #[test]
    fn parses_parent_and_login_uid() {
        assert_eq!(
            super::parse_ppid("Name:\tx\nPid:\t7\nPPid:\t42\nUid:\t0\n"),
            Some(42)
        );
        assert_eq!(super::parse_ppid("Name:\tx\n"), None);
        assert_eq!(
            super::parse_login_uid("1000"),
            Some(super::LoginUid::Uid(1000))
        );
        assert_eq!(
            super::parse_login_uid("4294967295"),
            Some(super::LoginUid::Unset)
        );
        assert_eq!(super::parse_login_uid("x"), None);
        assert_eq!(super::LoginUid::Unset.as_text(), "unset");
        assert_eq!(super::LoginUid::Uid(0).as_text(), "0");
    }

    #[test]
    fn finds_the_unified_cgroup_line() {
        use super::parse_cgroup;
        let v2 = "0::/system.slice/nginx.service\n";
        assert_eq!(
            parse_cgroup(v2).as_deref(),
            Some("/system.slice/nginx.service")
        );
        // Hybrid: v1 controllers first, the unified line last.
        let hybrid = "9:name=systemd:/user.slice\n4:memory:/x\n0::/user.slice/user-1000.slice/session-3.scope\n";
        assert_eq!(
            parse_cgroup(hybrid).as_deref(),
            Some("/user.slice/user-1000.slice/session-3.scope")
        );
        assert_eq!(parse_cgroup("0::/\n").as_deref(), Some("/"));
        // v1 only, empty, garbage.
        assert_eq!(parse_cgroup("4:memory:/x\n1:cpu:/\n"), None);
        assert_eq!(parse_cgroup(""), None);
        assert_eq!(parse_cgroup("0::\n"), None);
        assert_eq!(parse_cgroup("10::/a\n"), None);
    }

    #[test]
    fn derives_the_unit_from_a_cgroup_path() {
        use super::unit_of;
        assert_eq!(
            unit_of("/system.slice/nginx.service").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            unit_of("/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope")
                .as_deref(),
            Some("app-foo.scope")
        );
        assert_eq!(
            unit_of("/user.slice/user-1000.slice/session-3.scope").as_deref(),
            Some("session-3.scope")
        );
        // Below a unit's own cgroup (delegation): still the unit.
        assert_eq!(
            unit_of("/system.slice/docker.service/payload").as_deref(),
            Some("docker.service")
        );
        assert_eq!(unit_of("/init.scope").as_deref(), Some("init.scope"));
        assert_eq!(
            unit_of("/system.slice/_cpu.service").as_deref(),
            Some("cpu.service")
        );
        assert_eq!(
            unit_of("/system.slice/var-lib.mount").as_deref(),
            Some("var-lib.mount")
        );
        // No unit: the root, slices only, bare suffixes, other names.
        assert_eq!(unit_of("/"), None);
        assert_eq!(unit_of(""), None);
        assert_eq!(unit_of("/user.slice/user-1000.slice"), None);
        assert_eq!(unit_of("/.service"), None);
        assert_eq!(unit_of("/process_api/abc"), None);
    }

    #[test]
    fn tells_a_live_process_from_an_ended_one() {
        assert!(!super::gone(std::process::id() as i32));
        assert!(!super::gone(0), "pid 0 (unknown) is never taken for gone");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap_or_else(|e| unreachable!("{e}"));
        let pid = child.id() as i32;
        assert!(!super::gone(pid));
        // Killed but not reaped: a zombie has ended.
        child.kill().unwrap_or_else(|e| unreachable!("{e}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !super::gone(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the killed child never read as gone"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(super::gone(pid), "reaped");
    }
}
