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

/// The executable and real uid of a process.
pub fn describe(pid: i32) -> (Option<String>, Option<u32>) {
    let exe = nix::fcntl::readlink(format!("/proc/{pid}/exe").as_str())
        .ok()
        .map(|s| s.to_string_lossy().into_owned());
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| parse_uid(&s));
    (exe, uid)
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

#[cfg(test)]
mod tests {
    #[test]
    fn parses_real_uid() {
        assert_eq!(
            super::parse_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"),
            Some(1000)
        );
        assert_eq!(super::parse_uid("Name:\tx\n"), None);
        let (exe, uid) = super::describe(std::process::id() as i32);
        assert!(exe.is_some());
        assert_eq!(uid, Some(nix::unistd::getuid().as_raw()));
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
