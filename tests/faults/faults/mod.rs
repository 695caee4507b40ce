//! Faults: every event is answered whatever goes wrong around the agent.
//!
//! * journald stopped (SIGSTOP: its socket fills up) or killed and
//!   restarted: verdicts keep flowing, and so do reloads and status
//!   requests; records wait in the bounded log queue, what does not fit is
//!   counted (`sigward status`: `audit.dropped`) and the count is itself
//!   reported once journald is back. Reload records are not crowded out by
//!   a flood of denials.
//! * RLIMIT_NOFILE exhausted in the agent, a disk error reading a signature:
//!   every open is answered, with the fail-closed answer (EPERM) in enforce
//!   mode where the agent could not examine the file.
//! * An unreadable key file at start-up: `sigward run` and `sigward check`
//!   refuse with `POLICY:LINE:` and the key file's name.
//! * SIGKILL of the agent under load: no opener stays blocked (the kernel
//!   releases pending events when the group's descriptor closes). That a
//!   killed agent is back and enforcing within seconds under systemd is
//!   checked by `tests/systemd/run.sh` ("kill -9"), not repeated here.
//! * The event thread answers what it can answer (signature reads, empty
//!   files, cached verdicts, trees in mode off) while every worker is
//!   frozen, journald is stopped and a control client sits silent, and it
//!   opens nothing in the protected tree meanwhile.
//!
//! Tests that stop, kill or restart journald take [`journald_lock`], and
//! a guard always resumes or restarts it, also when the test fails. Killing
//! journald keeps its socket alive (as systemd's socket units do): the test
//! takes a duplicate of journald's socket first (`pidfd_getfd`) and hands it
//! to the new journald, so no record sent meanwhile, by any process, is lost.
//! Workers are frozen with `PTRACE_INTERRUPT` on their threads alone.

use std::ffi::OsStr;
use std::fs;
use std::io::{self};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    field, is_msg, path_str, poll, run, Agent, Finished, Record, MSG_DENY, PROC_TIMEOUT,
};
use crate::load::HANG;

mod disk;
mod event_thread;
mod journald;
mod keys;
mod nofile;
mod sigkill;

/// `MESSAGE_ID` of the record that reports dropped audit records.
pub(super) const MSG_DROPPED: &str = sigward::ids::DROPPED;
/// How long journald may take to come back, and records to reach it.
pub(super) const JOURNAL_BACK: Duration = Duration::from_secs(60);

pub(super) fn is_deny_of(r: &Record, path: &Path) -> bool {
    is_msg(r, MSG_DENY) && field(r, "SIGWARD_PATH") == path_str(path)
}

/// A system tool by name, also where root's PATH may not look.
pub(super) fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{name} is required for this test (packages: util-linux for losetup and mount, \
         e2fsprogs for mkfs.ext4 and debugfs)"
    );
}

pub(super) fn run_tool(name: &str, args: &[&OsStr]) -> Finished {
    let fin = run(Command::new(tool(name)).args(args), PROC_TIMEOUT);
    if !fin.success() {
        panic!("{name} failed:\n{fin}");
    }
    fin
}

// ---------------------------------------------------------------------------
// Processes and threads
// ---------------------------------------------------------------------------

pub(super) fn proc_text(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Thread ids of `pid` whose name starts with `prefix`.
pub(super) fn threads_named(pid: i32, prefix: &str) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let Ok(tid) = t.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if proc_text(&format!("/proc/{pid}/task/{tid}/comm")).starts_with(prefix) {
                out.push(tid);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Whether some thread of `pid` sleeps waiting for a fanotify verdict.
pub(super) fn blocked_on_fanotify(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks
        .flatten()
        .any(|t| proc_text(&format!("{}/wchan", t.path().display())).contains("fanotify"))
}

/// Waits until every process of `pids` is blocked on a fanotify verdict.
pub(super) fn wait_blocked_on_fanotify(pids: &[u32], what: &str) {
    poll(
        &format!("{what}: every opener blocked on a fanotify permission event"),
        HANG,
        || pids.iter().all(|&p| blocked_on_fanotify(p)).then_some(()),
    );
}

pub(super) fn waitpid_nohang(tid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: plain syscall on a thread we trace.
    let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
    (r == tid).then_some(status)
}

/// Threads of the agent stopped with `PTRACE_INTERRUPT`: only they stop,
/// the rest of the agent runs on. Dropping this resumes them. Must be used
/// from one thread (the tracer), and dropped before the agent.
pub(super) struct Frozen {
    pub(super) tids: Vec<i32>,
}

impl Frozen {
    /// Freezes every `sigward-worker-*` thread of the agent.
    pub(super) fn workers(agent: &Agent) -> Frozen {
        let tids = threads_named(agent.pid(), "sigward-worker");
        assert!(
            !tids.is_empty(),
            "the agent has no sigward-worker threads: {:?}",
            agent.thread_states()
        );
        let mut frozen = Frozen { tids: Vec::new() };
        let null = std::ptr::null_mut::<libc::c_void>();
        for tid in tids {
            // SAFETY: plain syscalls on a thread of our child.
            let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, null, null) };
            if rc != 0 {
                panic!(
                    "PTRACE_SEIZE of agent thread {tid}: {} (this test needs CAP_SYS_PTRACE)",
                    io::Error::last_os_error()
                );
            }
            frozen.tids.push(tid);
            // SAFETY: as above; the thread is traced by this thread now.
            let rc = unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, null, null) };
            assert_eq!(
                rc,
                0,
                "PTRACE_INTERRUPT {tid}: {}",
                io::Error::last_os_error()
            );
            let status = poll(
                &format!("agent thread {tid} to stop"),
                Duration::from_secs(10),
                || waitpid_nohang(tid),
            );
            assert!(
                libc::WIFSTOPPED(status),
                "agent thread {tid} did not stop: wait status {status:#x}"
            );
        }
        frozen
    }

    /// After the agent was SIGKILLed: collects the frozen threads' exits
    /// (a tracer must, or the agent could never be reaped).
    pub(super) fn reap_killed(&mut self) {
        for tid in std::mem::take(&mut self.tids) {
            let start = Instant::now();
            loop {
                let mut status = 0;
                // SAFETY: plain syscall on a thread we trace.
                let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
                if r < 0 || (r == tid && (libc::WIFEXITED(status) || libc::WIFSIGNALED(status))) {
                    break;
                }
                if start.elapsed() > Duration::from_secs(10) {
                    panic!("frozen agent thread {tid} did not exit after SIGKILL");
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let null = std::ptr::null_mut::<libc::c_void>();
        for &tid in &self.tids {
            // SAFETY: plain syscall; the thread is in a ptrace stop.
            let rc = unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, null, null) };
            if rc != 0 {
                let _ = waitpid_nohang(tid);
            }
        }
    }
}
