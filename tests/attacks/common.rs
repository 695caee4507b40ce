//! The attacker, the victim, and the two modes every attack runs in.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    chmod, expect_field, mkdirs, run, sig_path, status, write_file, Agent, Finished, Fixture, Proc,
    Record, MSG_DENY, MSG_WOULD_DENY, PROC_TIMEOUT,
};
use crate::openers::{expect_allowed, expect_eperm, expect_exec_denied, Outcome};

/// The attacker: uid and gid 65534 ("nobody").
pub const ATTACKER: u32 = 65534;

/// The system python, which the attacker can run (the test's own python may
/// live under /root, which the attacker cannot search).
pub const ATTACKER_PYTHON: &str = "/usr/bin/python3";

/// How long the agent may take to react to a notification (a new symlink, a
/// retargeted one) for which there is nothing to observe from outside. The
/// same window exists, and is documented, for new directories.
pub const SETTLE: Duration = Duration::from_millis(300);

/// The mode the agent runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Audit,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }

    /// `SIGWARD_DECISION` of a refused open in this mode.
    pub fn decision(self) -> &'static str {
        match self {
            Mode::Enforce => "deny",
            Mode::Audit => "would-deny",
        }
    }

    fn message_id(self) -> &'static str {
        match self {
            Mode::Enforce => MSG_DENY,
            Mode::Audit => MSG_WOULD_DENY,
        }
    }
}

/// Instantiates each attack `fn NAME(mode: Mode)` as two tests,
/// `NAME::enforce` and `NAME::audit`.
macro_rules! both_modes {
    ($($attack:ident),+ $(,)?) => {
        $(
            mod $attack {
                #[test]
                fn enforce() {
                    super::$attack($crate::common::Mode::Enforce);
                }

                #[test]
                fn audit() {
                    super::$attack($crate::common::Mode::Audit);
                }
            }
        )+
    };
}
pub(crate) use both_modes;

pub fn chown_to_attacker(path: &Path) {
    std::os::unix::fs::lchown(path, Some(ATTACKER), Some(ATTACKER))
        .unwrap_or_else(|e| panic!("chown {ATTACKER} {}: {e}", path.display()));
}

/// A fixture set up for an attacker:
///
/// ```text
/// /tmp/sigward-e2e-XXXX/      0755 (the attacker may search it)
///   keys/                     0700 (but not read the signing key)
///   plugins/                  root's, 0755, protected
///     att/                    the attacker's plugin directory
///   outside/                  the attacker's, not protected
///   stash/                    signed files the publisher handed out
/// ```
pub struct Scene {
    pub fx: Fixture,
    pub mode: Mode,
    /// `plugins/att`, owned by the attacker.
    pub dir: PathBuf,
    /// A directory of the attacker's outside every protected tree (same
    /// filesystem, so that files can be renamed and linked into the tree).
    pub outside: PathBuf,
    /// Signed files anyone may read and copy.
    pub stash: PathBuf,
}

impl Scene {
    pub fn new(mode: Mode) -> Scene {
        let fx = Fixture::with_mode(mode.as_str());
        // The premise of the suite: a tree whose plugin directory a user
        // other than the trusted owners may write, which the tree allows
        // (`untrusted_writers = "allow"`). What the default ("refuse")
        // makes of the same attacks is in `writable.rs`.
        fx.allow_untrusted_writers();
        chmod(&fx.root, 0o755);
        chmod(&fx.root.join("keys"), 0o700);
        chmod(&fx.plugins, 0o755);
        let dir = fx.path("att");
        mkdirs(&dir);
        chmod(&dir, 0o755);
        chown_to_attacker(&dir);
        let outside = fx.root.join("outside");
        mkdirs(&outside);
        chmod(&outside, 0o755);
        chown_to_attacker(&outside);
        let stash = fx.root.join("stash");
        mkdirs(&stash);
        chmod(&stash, 0o755);
        Scene {
            fx,
            mode,
            dir,
            outside,
            stash,
        }
    }

    /// `plugins/att/REL`
    pub fn att(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Starts the agent, its records going to stderr as JSON lines, its
    /// control socket at [`Scene::control_socket`].
    pub fn start(&self) -> Agent {
        let socket = self.control_socket();
        Agent::start_with_env_args(
            &self.fx.policy,
            &[("SIGWARD_LOG_TARGET", "stderr")],
            &[OsStr::new("--control-socket"), socket.as_os_str()],
        )
    }

    pub fn control_socket(&self) -> PathBuf {
        self.fx.root.join("ctl.sock")
    }

    /// The agent's counters (`sigward status --json`), for failure reports.
    pub fn status(&self) -> String {
        let fin = status(&self.control_socket(), Some("--json"));
        let Ok(v) = serde_json::from_str::<serde_json::Value>(fin.stdout.trim()) else {
            return fin.to_string();
        };
        // The parts that tell how opens were answered.
        let pick = |k: &str| format!("{k}: {}", v[k]);
        [
            "events",
            "verdicts",
            "reasons",
            "cache",
            "verifications",
            "kernel_cache",
        ]
        .iter()
        .map(|k| pick(k))
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// Hands `path` and every directory between `plugins/att` and it to the
    /// attacker.
    fn give(&self, path: &Path) {
        let mut p = path.to_path_buf();
        while p.starts_with(&self.dir) && p != self.dir {
            chown_to_attacker(&p);
            if !p.pop() {
                break;
            }
        }
    }

    /// `plugins/att/REL` signed by the publisher, the file and its `.sig`
    /// owned by the attacker (the deployment user of the plugin directory).
    /// Only before the agent starts (signing reads the file).
    pub fn signed(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let p = self.fx.write_signed(&format!("att/{rel}"), contents);
        self.give(&p);
        self.give(&sig_path(&p));
        p
    }

    /// `stash/NAME`, signed, with its `.sig`: for the attacker to copy into
    /// the tree while the agent runs.
    pub fn stash_signed(&self, name: &OsStr, contents: &[u8]) -> PathBuf {
        let p = self.stash.join(name);
        write_file(&p, contents);
        chmod(&p, 0o644);
        self.fx.sign(&p);
        chmod(&sig_path(&p), 0o644);
        p
    }

    /// `outside/NAME` with `contents`, owned by the attacker.
    pub fn outside_file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.outside.join(name);
        write_file(&p, contents);
        chmod(&p, 0o644);
        chown_to_attacker(&p);
        p
    }

    /// Asserts the answer to an open of something the attack put there:
    /// `EPERM` under enforce, allowed under audit, and in both modes a
    /// record of the decision for one of `paths` with `reason`.
    #[track_caller]
    pub fn expect_refused(
        &self,
        agent: &Agent,
        outcome: Outcome,
        paths: &[&Path],
        reason: &str,
        what: &str,
    ) -> Record {
        self.expect_refused_outcome(outcome, what);
        self.expect_record(agent, paths, reason, what)
    }

    /// `EPERM` under enforce, allowed under audit.
    #[track_caller]
    pub fn expect_refused_outcome(&self, outcome: Outcome, what: &str) {
        match self.mode {
            Mode::Enforce => expect_eperm(outcome, what),
            Mode::Audit => expect_allowed(outcome, &format!("{what} (audit mode)")),
        }
    }

    /// Like [`Scene::expect_refused`] for an `execve`.
    #[track_caller]
    pub fn expect_exec_refused(
        &self,
        agent: &Agent,
        outcome: Outcome,
        paths: &[&Path],
        reason: &str,
        what: &str,
    ) -> Record {
        match self.mode {
            Mode::Enforce => expect_exec_denied(outcome, what),
            Mode::Audit => expect_allowed(outcome, &format!("exec of {what} (audit mode)")),
        }
        self.expect_record(agent, paths, reason, what)
    }

    /// Waits for the deny (enforce) or would-deny (audit) record of one of
    /// `paths` with `reason`.
    pub fn expect_record(
        &self,
        agent: &Agent,
        paths: &[&Path],
        reason: &str,
        what: &str,
    ) -> Record {
        let want: Vec<(String, Option<String>)> = paths
            .iter()
            .map(|p| (record_path(p), record_path_hex(p)))
            .collect();
        let rec = self.expect_record_where(
            agent,
            &format!("path one of {want:?}"),
            |p| want.iter().any(|(w, _)| w == p),
            reason,
            what,
        );
        // A name that is not UTF-8 also comes as exact bytes, in hex.
        let shown = rec.get("SIGWARD_PATH").cloned().unwrap_or_default();
        let hex = rec.get("SIGWARD_PATH_HEX").cloned();
        assert!(
            want.iter().any(|(w, h)| *w == shown && *h == hex),
            "{what}: SIGWARD_PATH_HEX {hex:?} does not match SIGWARD_PATH {shown:?} \
             (expected one of {want:?}): {rec:?}"
        );
        rec
    }

    /// Waits for the deny (enforce) or would-deny (audit) record with
    /// `reason` whose `SIGWARD_PATH` satisfies `path_ok`.
    pub fn expect_record_where(
        &self,
        agent: &Agent,
        paths: &str,
        path_ok: impl Fn(&str) -> bool,
        reason: &str,
        what: &str,
    ) -> Record {
        let decision = self.mode.decision();
        let rec = agent.wait_record(&format!("{decision} / {reason} for {what}: {paths}"), |r| {
            r.get("SIGWARD_DECISION").map(String::as_str) == Some(decision)
                && r.get("SIGWARD_REASON").map(String::as_str) == Some(reason)
                && r.get("SIGWARD_PATH").is_some_and(|p| path_ok(p))
        });
        expect_field(&rec, "MESSAGE_ID", self.mode.message_id());
        expect_field(&rec, "SIGWARD_MODE", self.mode.as_str());
        rec
    }
}

/// `cmd` as the attacker: uid and gid 65534, no supplementary groups, in /.
pub fn as_attacker(cmd: &mut Command) -> &mut Command {
    cmd.uid(ATTACKER)
        .gid(ATTACKER)
        .current_dir("/")
        .env("HOME", "/")
        .env_remove("PYTHONPATH")
}

/// `sh -c SCRIPT sh ARGS...` as the attacker.
pub fn attacker_sh(script: &str, args: &[&OsStr]) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(script).arg("sh").args(args);
    as_attacker(&mut cmd);
    cmd
}

/// Runs `sh -c SCRIPT sh ARGS...` as the attacker; it must succeed.
#[track_caller]
pub fn attack(script: &str, args: &[&OsStr]) -> Finished {
    let fin = run(&mut attacker_sh(script, args), PROC_TIMEOUT);
    if !fin.success() {
        panic!("the attacker's command failed:\n{fin}");
    }
    fin
}

/// `python3 -I -c SNIPPET ARGS...` as the attacker.
pub fn attacker_py(snippet: &str, args: &[&OsStr]) -> Command {
    let mut cmd = Command::new(ATTACKER_PYTHON);
    cmd.arg("-I").arg("-c").arg(snippet).args(args);
    as_attacker(&mut cmd);
    cmd
}

fn errno_outcome(e: &io::Error) -> Outcome {
    Outcome::Errno(
        e.raw_os_error()
            .unwrap_or_else(|| panic!("an error without errno: {e}")),
    )
}

/// Waits (up to 20 s) until the attacker's process `p` has printed `line`
/// (a whole line) on stdout; fails at once if it exits without printing it.
#[track_caller]
pub fn wait_for_line(p: &mut Proc, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let printed = |p: &Proc| p.stdout_so_far().lines().any(|l| l.trim() == line);
    while !printed(p) {
        let exited = p.has_exited();
        if exited {
            // What it printed last may still be on its way from the pipe.
            thread::sleep(Duration::from_millis(100));
            if printed(p) {
                return;
            }
        }
        assert!(
            !exited && Instant::now() < deadline,
            "the attacker did not print {line} ({}): stdout {:?}, stderr {:?}",
            if exited { "it exited" } else { "within 20 s" },
            p.stdout_so_far(),
            p.stderr_so_far()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Opens `path` for reading from this process (root, the victim) and reads
/// it whole: the content, or the errno of the open.
pub fn victim_read(agent: &Agent, path: &Path) -> Result<Vec<u8>, Outcome> {
    agent.guard(&format!("opening {}", path.display()), || {
        let mut f = fs::File::open(path).map_err(|e| errno_outcome(&e))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .unwrap_or_else(|e| panic!("reading {} after it was opened: {e}", path.display()));
        Ok(buf)
    })
}

/// Opens `path` for reading from this process (the victim).
pub fn victim_open(agent: &Agent, path: &Path) -> Outcome {
    match victim_read(agent, path) {
        Ok(_) => Outcome::Ok,
        Err(o) => o,
    }
}

/// Opens `path` with `O_RDONLY | O_NONBLOCK` (a FIFO must not block the
/// victim) and closes it again.
pub fn victim_open_nonblock(agent: &Agent, path: &Path) -> Outcome {
    agent.guard(
        &format!("opening {} non-blocking", path.display()),
        || match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(_) => Outcome::Ok,
            Err(e) => errno_outcome(&e),
        },
    )
}

/// The attack's premise: the attacker can change this file (or its name),
/// so its verdict must never be left to the kernel.
#[track_caller]
pub fn assert_not_kernel_cached(agent: &Agent, path: &Path) {
    assert!(
        !agent.has_kernel_verdict(path),
        "{} is writable by the attacker (or in a directory the attacker can write) but got a \
         kernel verdict: {:x?}",
        path.display(),
        agent.fanotify_marks()
    );
}

/// How records show a path: UTF-8 as it is, other bytes as `\xNN`.
pub fn record_path(p: &Path) -> String {
    let mut out = String::new();
    for chunk in p.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The `SIGWARD_PATH_HEX` a record carries for `p`: its bytes in hex when
/// they are not UTF-8.
pub fn record_path_hex(p: &Path) -> Option<String> {
    let bytes = p.as_os_str().as_bytes();
    std::str::from_utf8(bytes)
        .is_err()
        .then(|| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Held while a test has a filesystem mounted but its tree not yet bound
/// onto itself (`window::Guarded`), and while a test makes a mount namespace
/// of its own (`unshare -m`): a namespace made in that window would show the
/// other test's tree without its bind for as long as it lives, and that
/// agent would rightly refuse the filesystem mark (see `stale.rs`).
static MOUNT_WINDOW: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` outside every other test's mount window (see [`MOUNT_WINDOW`]).
pub fn outside_mount_windows<T>(f: impl FnOnce() -> T) -> T {
    let _held = MOUNT_WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    f()
}
