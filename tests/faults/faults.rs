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
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{symlink, FileTypeExt};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::fd_count;
use crate::harness::{allow_untrusted_writers, n, start, status_json};
use crate::harness::{
    ensure_journald, field, is_msg, journal_query, mkdirs, path_str, poll, run, sigward_cmd,
    toml_str, write_file, Agent, Finished, Fixture, Proc, Record, JOURNALD_BIN, JOURNAL_SOCKET,
    MIB, MSG_DENY, MSG_RELOAD_OK, PROC_TIMEOUT,
};
use crate::load::{wait_all_answered, write_manifest, Openers, HANG};
use crate::openers::{
    expect_allowed, expect_eperm, python_cmd, python_open, python_open_cmd, Outcome,
};

/// `MESSAGE_ID` of the record that reports dropped audit records.
const MSG_DROPPED: &str = sigward::ids::DROPPED;
/// How long journald may take to come back, and records to reach it.
const JOURNAL_BACK: Duration = Duration::from_secs(60);

fn is_deny_of(r: &Record, path: &Path) -> bool {
    is_msg(r, MSG_DENY) && field(r, "SIGWARD_PATH") == path_str(path)
}

/// A system tool by name, also where root's PATH may not look.
fn tool(name: &str) -> PathBuf {
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

fn run_tool(name: &str, args: &[&OsStr]) -> Finished {
    let fin = run(Command::new(tool(name)).args(args), PROC_TIMEOUT);
    if !fin.success() {
        panic!("{name} failed:\n{fin}");
    }
    fin
}

// ---------------------------------------------------------------------------
// Processes and threads
// ---------------------------------------------------------------------------

fn proc_text(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Thread ids of `pid` whose name starts with `prefix`.
fn threads_named(pid: i32, prefix: &str) -> Vec<i32> {
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
fn blocked_on_fanotify(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks
        .flatten()
        .any(|t| proc_text(&format!("{}/wchan", t.path().display())).contains("fanotify"))
}

/// Waits until every process of `pids` is blocked on a fanotify verdict.
fn wait_blocked_on_fanotify(pids: &[u32], what: &str) {
    poll(
        &format!("{what}: every opener blocked on a fanotify permission event"),
        HANG,
        || pids.iter().all(|&p| blocked_on_fanotify(p)).then_some(()),
    );
}

fn waitpid_nohang(tid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: plain syscall on a thread we trace.
    let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
    (r == tid).then_some(status)
}

/// Threads of the agent stopped with `PTRACE_INTERRUPT`: only they stop,
/// the rest of the agent runs on. Dropping this resumes them. Must be used
/// from one thread (the tracer), and dropped before the agent.
struct Frozen {
    tids: Vec<i32>,
}

impl Frozen {
    /// Freezes every `sigward-worker-*` thread of the agent.
    fn workers(agent: &Agent) -> Frozen {
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
    fn reap_killed(&mut self) {
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

// ---------------------------------------------------------------------------
// journald
// ---------------------------------------------------------------------------

/// Serialises the tests that stop, kill or restart journald, and makes
/// sure journald runs (resuming one left stopped by a test run that was
/// killed before its guard could).
fn journald_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((pid, _)) = journald_serving() {
        if proc_state(pid) == 'T' {
            eprintln!("journald (pid {pid}) was left stopped: resuming it");
            // SAFETY: plain syscall.
            unsafe {
                libc::kill(pid, libc::SIGCONT);
            }
        }
    }
    ensure_journald();
    guard
}

/// The inode of the Unix socket bound at `path`, from /proc/net/unix.
fn unix_socket_inode(path: &str) -> Option<u64> {
    let table = fs::read_to_string("/proc/net/unix").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 8 && f[7] == path)
            .then(|| f[6].parse().ok())
            .flatten()
    })
}

/// The journald process serving the native socket, and its descriptor of
/// that socket.
fn journald_serving() -> Option<(i32, i32)> {
    let target = format!("socket:[{}]", unix_socket_inode(JOURNAL_SOCKET)?);
    for p in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if !proc_text(&format!("/proc/{pid}/comm")).starts_with("systemd-journal") {
            continue;
        }
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == target.as_str()) {
                if let Ok(n) = fd.file_name().to_string_lossy().parse::<i32>() {
                    return Some((pid, n));
                }
            }
        }
    }
    None
}

fn journald_pid() -> i32 {
    ensure_journald();
    journald_serving()
        .unwrap_or_else(|| {
            panic!("{JOURNAL_SOCKET} is served, but no systemd-journald process holds it")
        })
        .0
}

/// The state letter of /proc/PID/stat (`?` when gone).
fn proc_state(pid: i32) -> char {
    let stat = proc_text(&format!("/proc/{pid}/stat"));
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap_or('?')
}

/// Sends a message to journald and waits until `journalctl` shows it:
/// journald reads its socket again (and has read what was queued before).
fn wait_journald_back(what: &str) {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let tag = format!(
        "sigward e2e probe {} {}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let msg = format!("MESSAGE={tag}\nSYSLOG_IDENTIFIER=sigward-e2e-probe\nPRIORITY=7\n");
    let sock = UnixDatagram::unbound().unwrap_or_else(|e| panic!("socket: {e}"));
    sock.set_nonblocking(true)
        .unwrap_or_else(|e| panic!("nonblocking: {e}"));
    let mut sent = false;
    let filters = [
        "SYSLOG_IDENTIFIER=sigward-e2e-probe".to_string(),
        format!("MESSAGE={tag}"),
    ];
    poll(
        &format!("journald to log again ({what})"),
        JOURNAL_BACK,
        || {
            if !sent {
                sent = sock.send_to(msg.as_bytes(), JOURNAL_SOCKET).is_ok();
                return None;
            }
            journal_query(&filters)
                .ok()
                .filter(|r| !r.is_empty())
                .map(|_| ())
        },
    );
}

/// journald stopped with SIGSTOP: its socket fills up and every sender
/// blocks. Resumed on drop.
struct JournaldStopped {
    pid: i32,
    resumed: bool,
}

impl JournaldStopped {
    fn stop() -> JournaldStopped {
        let pid = journald_pid();
        // SAFETY: plain syscall.
        let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(
            rc,
            0,
            "SIGSTOP journald {pid}: {}",
            io::Error::last_os_error()
        );
        let stopped = JournaldStopped {
            pid,
            resumed: false,
        };
        poll("journald to stop", Duration::from_secs(10), || {
            (proc_state(pid) == 'T').then_some(())
        });
        eprintln!("journald (pid {pid}) stopped");
        stopped
    }

    fn resume(&mut self) {
        if !self.resumed {
            // SAFETY: plain syscall.
            unsafe {
                libc::kill(self.pid, libc::SIGCONT);
            }
            self.resumed = true;
            eprintln!("journald (pid {}) resumed", self.pid);
        }
    }
}

impl Drop for JournaldStopped {
    fn drop(&mut self) {
        self.resume();
    }
}

fn pidfd_getfd(pid: i32, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscalls; each result is a new descriptor we own.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd as i32);
        let got = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0);
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(got as i32))
    }
}

/// journald killed, its socket kept (by this test, or by systemd when it
/// supervises journald): records queue in the socket, then senders block,
/// as while systemd restarts journald. [`JournaldKilled::restart`] starts a
/// new journald on the same socket; dropping this does it if the test did
/// not.
struct JournaldKilled {
    old: i32,
    socket: Option<OwnedFd>,
    supervised: bool,
    back: bool,
}

impl JournaldKilled {
    fn kill() -> JournaldKilled {
        ensure_journald();
        let (pid, fd) = journald_serving().unwrap_or_else(|| {
            panic!("{JOURNAL_SOCKET} is served, but no systemd-journald process holds it")
        });
        let supervised = proc_text("/proc/1/comm") == "systemd";
        let socket = if supervised {
            None
        } else {
            Some(pidfd_getfd(pid, fd).unwrap_or_else(|e| {
                panic!(
                    "cannot take a copy of journald's socket (pidfd_getfd of fd {fd} of pid \
                     {pid}: {e}); this test needs Linux >= 5.6 and CAP_SYS_PTRACE"
                )
            }))
        };
        // SAFETY: plain syscall.
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(
            rc,
            0,
            "SIGKILL journald {pid}: {}",
            io::Error::last_os_error()
        );
        let killed = JournaldKilled {
            old: pid,
            socket,
            supervised,
            back: false,
        };
        poll("journald to die", Duration::from_secs(10), || {
            // Reaps it when this test binary started it.
            // SAFETY: plain syscall.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
            matches!(proc_state(pid), 'Z' | 'X' | '?').then_some(())
        });
        eprintln!(
            "journald (pid {pid}) killed; its socket is kept by {}",
            if supervised { "systemd" } else { "this test" }
        );
        killed
    }

    /// Starts journald again on the kept socket (under systemd: waits for
    /// systemd to have done so), and waits until it logs.
    fn restart(&mut self) {
        if self.back {
            return;
        }
        self.back = true;
        if let Some(sock) = self.socket.take() {
            let raw = sock.as_raw_fd();
            // The outer shell starts the inner one in the background and
            // exits: journald (the inner shell's pid, for LISTEN_PID) is
            // nobody's child here and outlives this test, like the harness's.
            let inner = format!(
                "LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec {JOURNALD_BIN}"
            );
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c")
                .arg(r#"/bin/sh -c "$1" &"#)
                .arg("sh")
                .arg(inner)
                .current_dir("/")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: setsid, dup2 and fcntl are async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setsid() < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    if raw == 3 {
                        if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                            return Err(io::Error::last_os_error());
                        }
                    } else if libc::dup2(raw, 3) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let st = cmd
                .status()
                .unwrap_or_else(|e| panic!("cannot start {JOURNALD_BIN}: {e}"));
            assert!(st.success(), "starting {JOURNALD_BIN}: {st}");
            drop(sock);
        }
        let old = self.old;
        poll("a new journald to serve the socket", JOURNAL_BACK, || {
            journald_serving().filter(|&(p, _)| p != old).map(|_| ())
        });
        wait_journald_back("after the restart");
        eprintln!(
            "journald is back (pid {:?})",
            journald_serving().map(|s| s.0)
        );
    }
}

impl Drop for JournaldKilled {
    fn drop(&mut self) {
        if !self.back {
            self.restart();
        }
    }
}

/// Waits for a journal record (not a stderr one: these agents log to
/// journald) of `agent` matching `pred`.
fn wait_in_journal(agent: &Agent, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
    poll(&format!("{what} in the journal"), JOURNAL_BACK, || {
        agent.journal_records().into_iter().find(|r| pred(r))
    })
}

/// The agent's `dropped` records in the journal: (sum of SIGWARD_DROPPED,
/// largest SIGWARD_DROPPED_TOTAL).
fn dropped_reported(agent: &Agent) -> (u64, u64) {
    let recs: Vec<Record> = agent
        .journal_records()
        .into_iter()
        .filter(|r| is_msg(r, MSG_DROPPED))
        .collect();
    let num = |r: &Record, f: &str| field(r, f).parse::<u64>().unwrap_or(0);
    (
        recs.iter().map(|r| num(r, "SIGWARD_DROPPED")).sum(),
        recs.iter()
            .map(|r| num(r, "SIGWARD_DROPPED_TOTAL"))
            .max()
            .unwrap_or(0),
    )
}

/// One python process opening the manifest's files in turn, `count` opens
/// in all, each checked (signed: allowed, unsigned: EPERM).
const BURST_PY: &str = r#"
import os, sys, errno
entries = []
with open(sys.argv[1]) as f:
    for line in f:
        kind, path = line.rstrip('\n').split(' ', 1)
        entries.append((path, kind == 'S'))
count = int(sys.argv[2])
wrong = 0
for k in range(count):
    path, signed = entries[k % len(entries)]
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        res = 0
    except OSError as e:
        res = e.errno
    if res != (0 if signed else errno.EPERM):
        wrong += 1
        if wrong <= 20:
            print('WRONG %s got %s' % (path, errno.errorcode.get(res, res)), flush=True)
print('DONE %d %d' % (count, wrong), flush=True)
"#;

/// Runs [`BURST_PY`]; every open must get the right verdict, and the whole
/// burst must finish within `timeout`.
fn burst(manifest: &Path, count: usize, timeout: Duration, what: &str) {
    let fin = Proc::spawn(&mut python_cmd(
        BURST_PY,
        &[&path_str(manifest), &count.to_string()],
    ))
    .finish(timeout)
    .unwrap_or_else(|e| panic!("{what}: the opens did not all get a verdict: {e}"));
    assert!(
        fin.success() && fin.stdout.contains(&format!("DONE {count} 0")),
        "{what}: wrong verdicts:\n{fin}"
    );
}

/// A fixture with `n` unsigned files and one group-writable signed file
/// (never cached by the kernel), and a manifest opening the signed file once
/// for every 7 unsigned ones. The per-path rate limit is lifted, so that
/// every denial makes a record and a burst can fill the log queue.
fn journald_fixture(n: usize) -> (Fixture, Vec<PathBuf>, PathBuf, PathBuf) {
    let fx = Fixture::new();
    // Group-writable files (never kernel-cached) are verified.
    let mut policy = allow_untrusted_writers(&fx.policy_text("enforce", &[(&fx.plugins, None)]));
    policy.push_str("\n[audit]\nrate_limit_burst = 1000000\n");
    fx.write_policy(&policy);
    let unsigned: Vec<PathBuf> = (0..n)
        .map(|i| fx.write_unsigned(&format!("u/u{i:03}.py"), format!("U = {i}\n").as_bytes()))
        .collect();
    let good = fx.write_signed_mode("good.py", b"X = 'signed'\n", 0o664);
    let manifest = fx.root.join("manifest.txt");
    let mut text = String::new();
    for (i, u) in unsigned.iter().enumerate() {
        if i % 7 == 0 {
            text.push_str(&format!("S {}\n", path_str(&good)));
        }
        text.push_str(&format!("U {}\n", path_str(u)));
    }
    write_file(&manifest, text.as_bytes());
    (fx, unsigned, good, manifest)
}

/// More denials than the log queue holds (8192), so that records must be
/// dropped while journald does not read.
const OVERFLOW: usize = 12_000;

#[test]
fn journald_stopped_verdicts_keep_flowing_and_dropped_records_are_counted_and_reported() {
    let _serial = journald_lock();
    let (fx, unsigned, good, manifest) = journald_fixture(64);
    // The default log target: journald.
    let (mut agent, socket) = start(&fx, &[]);
    expect_eperm(python_open(&unsigned[0]), "unsigned file, journald running");
    wait_in_journal(&agent, "a deny record", |r| is_deny_of(r, &unsigned[0]));

    let mut stopped = JournaldStopped::stop();
    burst(
        &manifest,
        OVERFLOW,
        Duration::from_secs(300),
        "opens while journald is stopped",
    );
    // The control socket answers too (it never waits on journald).
    let v = status_json(&socket);
    let dropped = n(&v, &["audit", "dropped"]);
    eprintln!(
        "journald stopped: {OVERFLOW} opens answered; {} denials counted, {dropped} audit \
         records dropped; agent threads:\n{}",
        n(&v, &["verdicts", "deny"]),
        agent.thread_states().join("\n")
    );
    assert!(
        dropped > 0,
        "more denials ({OVERFLOW}) than the log queue holds were made while journald was \
         stopped, but sigward status reports no dropped record: {v:#}"
    );
    expect_allowed(python_open(&good), "signed file, journald still stopped");

    // A reload completes too, and so does a status request after it: no
    // thread of the agent writes to journald itself. The reload's record
    // waits in the log queue, in the room decision records may not take.
    let generation = n(&v, &["policy", "generation"]);
    let fin = Proc::spawn(&mut sigward_cmd([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--pid-file"),
        fx.root.join("agent.pid").as_os_str(),
        OsStr::new("--timeout"),
        OsStr::new("10"),
    ]))
    .finish(Duration::from_secs(20))
    .unwrap_or_else(|e| panic!("sigward reload hung while journald was stopped: {e}"));
    assert!(
        fin.success(),
        "sigward reload failed while journald was stopped:\n{fin}"
    );
    let reloaded = generation + 1;
    assert_eq!(
        n(&status_json(&socket), &["policy", "generation"]),
        reloaded,
        "sigward status after the reload, journald stopped"
    );
    let resumed_at = std::time::SystemTime::now();
    stopped.resume();
    // Decisions made while journald was stopped are written after it
    // resumed, and say when they were made.
    let micros = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros())
    };
    let late = wait_in_journal(
        &agent,
        "a deny record made while journald was stopped, written after it resumed",
        |r| {
            let made = humantime::parse_rfc3339(field(r, "SIGWARD_TIME")).map(micros);
            let written = field(r, "__REALTIME_TIMESTAMP").parse::<u128>();
            is_msg(r, MSG_DENY)
                && matches!((made, written), (Ok(m), Ok(w))
                    if m < micros(resumed_at) && w >= micros(resumed_at))
        },
    );
    eprintln!(
        "made {} while journald was stopped, written at {} µs",
        field(&late, "SIGWARD_TIME"),
        field(&late, "__REALTIME_TIMESTAMP")
    );
    wait_in_journal(
        &agent,
        "the reload record made while journald was stopped",
        |r| is_msg(r, MSG_RELOAD_OK) && field(r, "SIGWARD_GENERATION") == reloaded.to_string(),
    );

    // The count is reported, and catches up with the counter.
    let (sum, total) = poll(
        "the dropped-records record to report every dropped record",
        JOURNAL_BACK,
        || {
            let want = n(&status_json(&socket), &["audit", "dropped"]);
            let (sum, total) = dropped_reported(&agent);
            (total == want && total > 0).then_some((sum, total))
        },
    );
    assert_eq!(
        sum, total,
        "the dropped records' increments add up to the total"
    );
    eprintln!("journald back: the agent reported {total} dropped audit records");

    // Records flow again.
    let late = fx.write_unsigned("late.py", b"X = 'after journald came back'\n");
    expect_eperm(python_open(&late), "unsigned file after journald resumed");
    wait_in_journal(&agent, "a deny record after journald resumed", |r| {
        is_deny_of(r, &late)
    });
    agent.assert_alive("after journald was stopped and resumed");
}

#[test]
fn journald_killed_and_restarted_verdicts_keep_flowing_and_records_resume() {
    let _serial = journald_lock();
    let (fx, unsigned, good, manifest) = journald_fixture(64);
    let (mut agent, socket) = start(&fx, &[]);
    expect_eperm(python_open(&unsigned[0]), "unsigned file, journald running");
    wait_in_journal(&agent, "a deny record", |r| is_deny_of(r, &unsigned[0]));

    let mut killed = JournaldKilled::kill();
    burst(
        &manifest,
        OVERFLOW,
        Duration::from_secs(300),
        "opens while journald is dead",
    );
    let v = status_json(&socket);
    let dropped = n(&v, &["audit", "dropped"]);
    eprintln!(
        "journald dead: {OVERFLOW} opens answered, {dropped} audit records dropped; agent \
         threads:\n{}",
        agent.thread_states().join("\n")
    );
    expect_allowed(python_open(&good), "signed file, journald dead");
    if !killed.supervised {
        assert!(
            dropped > 0,
            "{OVERFLOW} denials while journald was dead, none dropped: {v:#}"
        );
    }
    killed.restart();

    if dropped > 0 {
        poll(
            "the dropped-records record after the restart",
            JOURNAL_BACK,
            || {
                let want = n(&status_json(&socket), &["audit", "dropped"]);
                (dropped_reported(&agent).1 == want).then_some(())
            },
        );
    }
    let late = fx.write_unsigned("late.py", b"X = 'after journald restarted'\n");
    expect_eperm(python_open(&late), "unsigned file after journald restarted");
    wait_in_journal(&agent, "a deny record after journald restarted", |r| {
        is_deny_of(r, &late)
    });
    agent.assert_alive("after journald was killed and restarted");
}

// ---------------------------------------------------------------------------
// RLIMIT_NOFILE
// ---------------------------------------------------------------------------

/// Sets the RLIMIT_NOFILE of `pid` (when `new` is given); returns the
/// limits it had, (soft, hard).
fn nofile(pid: i32, new: Option<(u64, u64)>) -> (u64, u64) {
    let limits = new.map(|(soft, hard)| libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    });
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let new_ptr = limits
        .as_ref()
        .map_or(std::ptr::null(), |l| l as *const libc::rlimit);
    // SAFETY: valid pointers to initialised structs (or null: no change).
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, new_ptr, &mut old) };
    assert_eq!(
        rc,
        0,
        "prlimit({pid}, NOFILE, {new:?}): {}",
        io::Error::last_os_error()
    );
    (old.rlim_cur, old.rlim_max)
}

/// The lowest limit that leaves `spare` descriptor numbers free in `pid`.
fn limit_leaving(pid: i32, spare: u64) -> u64 {
    let used: Vec<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    (1..)
        .find(|&l: &u64| l - used.iter().filter(|&&fd| fd < l).count() as u64 >= spare)
        .unwrap_or(u64::MAX)
}

/// Opens every path at once from one thread each (after a barrier); prints
/// `RES OK path` or `RES <errno> path` for each.
const CONCURRENT_PY: &str = r#"
import os, sys, threading
paths = sys.argv[1:]
barrier = threading.Barrier(len(paths))
res = [None] * len(paths)
def go(i):
    barrier.wait()
    try:
        os.close(os.open(paths[i], os.O_RDONLY | os.O_CLOEXEC))
        res[i] = 'OK'
    except OSError as e:
        res[i] = str(e.errno)
ts = [threading.Thread(target=go, args=(i,)) for i in range(len(paths))]
for t in ts: t.start()
for t in ts: t.join()
for i, p in enumerate(paths):
    print('RES %s %s' % (res[i], p), flush=True)
"#;

#[test]
fn nofile_exhausted_every_open_is_answered_and_unexaminable_files_are_denied() {
    let fx = Fixture::new();
    // 16 MiB each: hashing them keeps events pending, each holding a
    // descriptor in the agent.
    let signed: Vec<PathBuf> = (0..48)
        .map(|i| fx.write_signed_sparse(&format!("s{i:02}.bin"), 16 * MIB))
        .collect();
    let unsigned: Vec<PathBuf> = (0..16)
        .map(|i| fx.write_unsigned(&format!("u{i:02}.py"), b"X = 'unsigned'\n"))
        .collect();
    let small = fx.write_signed("small.py", b"X = 'signed'\n");
    let late_unsigned = fx.write_unsigned("late.py", b"X = 'unsigned'\n");
    let (mut agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    let pid = agent.pid();

    // Four free descriptor numbers. The agent raises its soft limit to the
    // hard one only at start-up, so lowering the soft limit now is enough
    // (and can be undone without CAP_SYS_RESOURCE).
    let limit = limit_leaving(pid, 4);
    let old = nofile(pid, None);
    nofile(pid, Some((limit, old.1)));
    eprintln!(
        "agent pid {pid}: {} fds open, RLIMIT_NOFILE {old:?} lowered to {limit}",
        fd_count(pid)
    );

    let mut args: Vec<String> = signed.iter().map(|p| path_str(p)).collect();
    args.extend(unsigned.iter().map(|p| path_str(p)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let fin = Proc::spawn(&mut python_cmd(CONCURRENT_PY, &args))
        .finish(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("opens with the agent out of descriptors hung: {e}"));
    assert!(fin.success(), "{fin}");
    let mut counts = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for line in fin.stdout.lines() {
        let Some(rest) = line.strip_prefix("RES ") else {
            continue;
        };
        let (res, path) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
        let is_signed = signed.iter().any(|s| path_str(s) == path);
        let kind = if is_signed { "signed" } else { "unsigned" };
        let res = match res {
            "OK" => "allowed",
            "1" => "EPERM",
            other => panic!("open of {path} failed with errno {other}, not EPERM:\n{fin}"),
        };
        assert!(
            is_signed || res == "EPERM",
            "unsigned {path} was allowed with the agent out of descriptors"
        );
        *counts.entry((kind, res)).or_default() += 1;
    }
    assert_eq!(
        counts.values().sum::<usize>(),
        signed.len() + unsigned.len(),
        "one result per open:\n{fin}"
    );
    eprintln!(
        "with {limit} descriptors, {} concurrent opens: {counts:?} (a signed file is denied \
         when the kernel could not give the agent a descriptor for its event, or when the \
         agent could not open its signature: fail-closed)",
        signed.len() + unsigned.len()
    );
    agent.assert_alive("after running out of descriptors");

    // Still at the low limit, one open at a time is answered normally.
    expect_allowed(python_open(&small), "signed file once the load dropped");
    expect_eperm(
        python_open(&late_unsigned),
        "unsigned file once the load dropped",
    );
    expect_allowed(python_open(&signed[0]), "a big signed file on its own");

    nofile(pid, Some(old));
    let v = wait_all_answered(&socket, "after the descriptor shortage");
    // The events the kernel could not hand over are counted and reported.
    let lost = n(&v, &["event_loop", "events_lost"]);
    assert!(
        lost > 0,
        "events lost for want of descriptors are counted: {v:#}"
    );
    agent.wait_record("the lost events reported", |r| {
        is_msg(r, sigward::ids::EVENTS_LOST)
    });
    eprintln!(
        "agent: {} events, verdicts {}, reasons {}",
        n(&v, &["events"]),
        v["verdicts"],
        v["reasons"]["deny"]
    );
    agent.assert_alive("at the end");
}

// ---------------------------------------------------------------------------
// Disk errors
// ---------------------------------------------------------------------------

/// A small ext4 image holding one file, `f` (900 KiB: below every size limit
/// of signature and key files), mounted read-only, with its loop device then
/// cut short at the file's last data block: the file can be opened and
/// stat'ed like any other, and reading it fails with EIO (as a failing disk
/// does). Unmounted and detached on drop.
struct EioDisk {
    dev: String,
    mnt: PathBuf,
    binds: Vec<PathBuf>,
}

impl EioDisk {
    fn new(dir: &Path) -> EioDisk {
        const LEN: usize = 900 * 1024;
        let src = dir.join("eio-src");
        mkdirs(&src);
        write_file(&src.join("f"), &[b'#'; LEN]);
        let img = dir.join("eio.img");
        let f = fs::File::create(&img).unwrap_or_else(|e| panic!("create {}: {e}", img.display()));
        f.set_len(16 * MIB)
            .unwrap_or_else(|e| panic!("size {}: {e}", img.display()));
        drop(f);
        run_tool(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-F".as_ref(),
                "-b".as_ref(),
                "4096".as_ref(),
                "-O".as_ref(),
                "^has_journal".as_ref(),
                "-E".as_ref(),
                "lazy_itable_init=0".as_ref(),
                "-d".as_ref(),
                src.as_os_str(),
                img.as_os_str(),
            ],
        );
        let debugfs = |req: &str| -> String {
            run_tool("debugfs", &["-R".as_ref(), req.as_ref(), img.as_os_str()]).stdout
        };
        let number = |text: &str, what: &str| -> u64 {
            text.split(|c: char| !c.is_ascii_digit())
                .rfind(|t| !t.is_empty())
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("debugfs: no {what} in {text:?}"))
        };
        let data = number(
            &debugfs(&format!("bmap /f {}", LEN.div_ceil(4096) - 1)),
            "data block",
        );
        let root_dir = number(&debugfs("bmap / 0"), "root directory block");
        let imap = debugfs("imap /f");
        let inode_block = imap
            .split("located at block ")
            .nth(1)
            .map(|t| number(t.split(',').next().unwrap_or(""), "inode block"))
            .unwrap_or_else(|| panic!("debugfs imap: {imap:?}"));
        assert!(
            root_dir < data && inode_block < data,
            "test setup: the file's last data block ({data}) lies before its metadata \
             (root directory block {root_dir}, inode block {inode_block})"
        );

        let dev = run_tool(
            "losetup",
            &["--find".as_ref(), "--show".as_ref(), img.as_os_str()],
        )
        .stdout
        .trim()
        .to_string();
        let mnt = dir.join("eio-mnt");
        mkdirs(&mnt);
        let disk = EioDisk {
            dev,
            mnt,
            binds: Vec::new(),
        };
        run_tool(
            "mount",
            &[
                "-t".as_ref(),
                "ext4".as_ref(),
                "-o".as_ref(),
                "ro,noatime".as_ref(),
                disk.dev.as_ref(),
                disk.mnt.as_os_str(),
            ],
        );
        // Cut the device at the file's last data block.
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&img)
            .unwrap_or_else(|e| panic!("open {}: {e}", img.display()));
        f.set_len(data * 4096)
            .unwrap_or_else(|e| panic!("truncate {}: {e}", img.display()));
        drop(f);
        run_tool("losetup", &["--set-capacity".as_ref(), disk.dev.as_ref()]);
        let mut buf = Vec::new();
        let got = fs::File::open(disk.file()).and_then(|mut f| f.read_to_end(&mut buf));
        match got {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
            other => panic!(
                "test setup: reading {} should fail with EIO, got {other:?}",
                disk.file().display()
            ),
        }
        disk
    }

    /// The file whose content cannot be read.
    fn file(&self) -> PathBuf {
        self.mnt.join("f")
    }

    /// Bind-mounts the file over `target` (an existing file).
    fn bind_over(&mut self, target: &Path) {
        run_tool(
            "mount",
            &[
                "--bind".as_ref(),
                self.file().as_os_str(),
                target.as_os_str(),
            ],
        );
        self.binds.push(target.to_path_buf());
    }
}

impl Drop for EioDisk {
    fn drop(&mut self) {
        let umount = |p: &Path| {
            let _ = Command::new(tool("umount"))
                .arg("-l")
                .arg(p)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for b in self.binds.iter().rev() {
            umount(b);
        }
        umount(&self.mnt);
        let _ = Command::new(tool("losetup"))
            .arg("-d")
            .arg(&self.dev)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn disk_error_reading_a_signature_denies_with_a_record_naming_it() {
    let fx = Fixture::new();
    fx.allow_untrusted_writers();
    let eio_file = fx.write_signed("eio.py", b"X = 'signed, signature on a failing disk'\n");
    let good = fx.write_signed_mode("good.py", b"X = 'signed'\n", 0o664);
    let mut disk = EioDisk::new(&fx.root);
    disk.bind_over(&crate::harness::sig_path(&eio_file));
    let (mut agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);

    for attempt in 1..=3 {
        expect_eperm(
            python_open(&eio_file),
            &format!("signed file whose signature cannot be read (open {attempt})"),
        );
    }
    let r = agent.wait_record("deny record of the unreadable signature", |r| {
        is_deny_of(r, &eio_file)
    });
    eprintln!("deny record: {r:#?}");
    let detail = format!("{} {}", field(&r, "SIGWARD_DETAIL"), field(&r, "MESSAGE"));
    assert!(
        detail.contains("Input/output error") || detail.contains("EIO"),
        "the record should name the I/O error: {r:#?}"
    );
    assert!(
        detail.contains(&path_str(&crate::harness::sig_path(&eio_file))),
        "the record should name the signature file: {r:#?}"
    );
    // A signature file that cannot be read is reported like one that
    // cannot be parsed.
    let reason = "malformed";
    assert_eq!(field(&r, "SIGWARD_REASON"), reason, "{r:#?}");
    expect_allowed(python_open(&good), "signed file beside it");

    // Not cached: each open was verified again (a passing disk error must
    // not stick).
    let v = wait_all_answered(&socket, "after the disk errors");
    let denials = n(&v, &["reasons", "deny", reason]);
    assert!(
        denials >= 3,
        "every open of the file should be verified again and denied ({reason}): {v:#}"
    );
    agent.assert_alive("after the disk errors");
}

// ---------------------------------------------------------------------------
// Unreadable key files at start-up
// ---------------------------------------------------------------------------

/// A policy trusting the fixture key and `bad`; returns the line naming
/// `bad`.
fn policy_with_key(fx: &Fixture, bad: &Path) -> usize {
    let text = format!(
        "mode = \"enforce\"\n\n[trust]\nkeys = [\n  {},\n  {},\n]\n\n[[protect]]\npath = {}\n",
        toml_str(&path_str(&fx.pubkey)),
        toml_str(&path_str(bad)),
        toml_str(&path_str(&fx.plugins))
    );
    fx.write_policy(&text);
    text.lines()
        .position(|l| l.contains(&path_str(bad)))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// How long refusing a policy may take (it takes milliseconds).
const REFUSE_TIMEOUT: Duration = Duration::from_secs(10);

/// `sigward check` and `sigward run` on the fixture's policy: both must
/// refuse within [`REFUSE_TIMEOUT`], exit 1, and print `POLICY:LINE:` with
/// the key file's name and `why` on stderr (`run` with its default log
/// target, journald). Returns what went wrong, if anything.
fn expect_key_refused(fx: &Fixture, bad: &Path, line: usize, why: &str) -> Option<String> {
    let prefix = format!("{}:{line}:", fx.policy.display());
    let check = Proc::spawn(&mut sigward_cmd([
        OsStr::new("check"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
    ]));
    let run = Proc::spawn(
        sigward_cmd([
            OsStr::new("run"),
            OsStr::new("--policy"),
            fx.policy.as_os_str(),
            OsStr::new("--control-socket"),
            fx.root.join("refused.sock").as_os_str(),
            OsStr::new("--pid-file"),
            fx.root.join("refused.pid").as_os_str(),
        ])
        .env_remove("SIGWARD_LOG_TARGET"),
    );
    let deadline = Instant::now() + REFUSE_TIMEOUT;
    let mut problems = Vec::new();
    for (what, mut proc) in [("sigward check", check), ("sigward run", run)] {
        let left = deadline.saturating_duration_since(Instant::now());
        match proc.finish(left.max(Duration::from_millis(100))) {
            Err(e) => problems.push(format!(
                "{what} did not refuse within {REFUSE_TIMEOUT:?} (it blocked reading the key \
                 file): {e}"
            )),
            Ok(fin) => {
                let line_ok = fin
                    .stderr
                    .lines()
                    .any(|l| l.contains(&prefix) && l.contains(&path_str(bad)) && l.contains(why));
                if fin.code() != Some(1) || !line_ok {
                    problems.push(format!(
                        "{what} should exit 1 with `{prefix} ... {} ... {why}` on stderr:\n{fin}",
                        bad.display()
                    ));
                } else {
                    eprintln!("{what}: {}", fin.stderr.trim());
                }
            }
        }
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

#[test]
fn unreadable_key_file_at_startup_is_refused_naming_the_file_and_line() {
    let _serial = journald_lock();
    let fx = Fixture::new();
    let dir_key = fx.root.join("keys/a-directory.pub");
    mkdirs(&dir_key);
    let dangling = fx.root.join("keys/dangling.pub");
    symlink(fx.root.join("keys/nowhere.pub"), &dangling).unwrap_or_else(|e| panic!("symlink: {e}"));
    let disk = EioDisk::new(&fx.root);

    let mut problems = Vec::new();
    for (bad, why) in [
        (dir_key.clone(), "not a regular file"),
        (dangling.clone(), "No such file or directory"),
        (disk.file(), "Input/output error"),
    ] {
        let line = policy_with_key(&fx, &bad);
        if let Some(p) = expect_key_refused(&fx, &bad, line, why) {
            problems.push(p);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn key_file_that_is_a_fifo_is_refused_without_blocking() {
    let _serial = journald_lock();
    let fx = Fixture::new();
    let fifo = fx.root.join("keys/fifo.pub");
    let c = std::ffi::CString::new(path_str(&fifo)).unwrap();
    // SAFETY: valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let line = policy_with_key(&fx, &fifo);
    if let Some(p) = expect_key_refused(&fx, &fifo, line, "not a regular file") {
        panic!("{p}");
    }
}

// ---------------------------------------------------------------------------
// SIGKILL under load
// ---------------------------------------------------------------------------

/// See tests/systemd/run.sh ("kill -9") for the restart under systemd.
#[test]
fn sigkill_under_load_leaves_no_opener_blocked() {
    let fx = Fixture::new();
    fx.allow_untrusted_writers();
    let signed: Vec<PathBuf> = (0..40)
        .map(|i| fx.write_signed_mode(&format!("s{i:02}.py"), b"X = 'signed'\n", 0o664))
        .collect();
    let unsigned: Vec<PathBuf> = (0..40)
        .map(|i| fx.write_unsigned(&format!("u{i:02}.py"), b"X = 'unsigned'\n"))
        .collect();
    let manifest = fx.root.join("manifest.txt");
    write_manifest(&manifest, &signed, &unsigned);
    let stop = fx.root.join("stop");
    let mut agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);

    let mut openers = Openers::start(8, &manifest, 600.0, Some(&stop), false);
    thread::sleep(Duration::from_secs(2));
    if let Some(crash) = openers.exited_early() {
        panic!("{crash}");
    }
    let before = openers.total();
    eprintln!("before the kill: {before:?}");
    assert!(
        before.eperm > 0 && before.ok > 0,
        "the load is running: {before:?}"
    );

    // Freeze the workers so that every opener is surely waiting for an
    // answer when the agent dies: each soon opens an unsigned file, which
    // only a worker answers.
    let mut frozen = Frozen::workers(&agent);
    wait_blocked_on_fanotify(&openers.pids(), "workers frozen");
    // Each opener's count while it waits (a TICK printed during the wait).
    let at_block = poll("a TICK from every waiting opener", HANG, || {
        let t = openers.ticks();
        t.iter().all(|c| c.blocked_ms > 0).then_some(t)
    });
    agent.signal(libc::SIGKILL);
    frozen.reap_killed();
    agent.wait_exit(Duration::from_secs(10));
    let killed_at = Instant::now();

    // Every opener gets out of its open and runs on (everything is allowed
    // now): its count goes up.
    poll("every opener to make progress after the kill", HANG, || {
        openers
            .ticks()
            .iter()
            .zip(&at_block)
            .all(|(now, then)| now.opens > then.opens)
            .then_some(())
    });
    eprintln!(
        "{} openers were waiting for a verdict at SIGKILL; {:?} later every one had been \
         released",
        at_block.len(),
        killed_at.elapsed()
    );
    write_file(&stop, b"");
    let total = openers.finish(HANG);
    eprintln!("openers: {total:?}");
    assert_eq!(total.other, 0, "opens failed with another errno: {total:?}");
}

// ---------------------------------------------------------------------------
// The event thread answers what it can, whatever else is stuck
// ---------------------------------------------------------------------------

/// Opens, from one process, each path `reps` times; `OK n` / `FAIL errno n`.
const FAST_PY: &str = r#"
import os, sys
reps = int(sys.argv[1])
for p in sys.argv[2:]:
    ok, fail = 0, []
    for _ in range(reps):
        try:
            if os.path.isdir(p):
                os.listdir(p)
            else:
                with open(p, 'rb') as f:
                    f.read(1)
            ok += 1
        except OSError as e:
            fail.append(e.errno)
    print('RES %s ok=%d fail=%s' % (p, ok, fail), flush=True)
"#;

fn reason_count(v: &Value, decision: &str, why: &str) -> u64 {
    v["reasons"][decision][why].as_u64().unwrap_or(0)
}

#[test]
fn event_thread_answers_what_it_can_while_workers_journald_and_control_clients_are_stuck() {
    let _serial = journald_lock();
    let fx = Fixture::new();
    let off_tree = fx.root.join("off");
    let off_file = off_tree.join("loose.py");
    write_file(&off_file, b"X = 'unchecked'\n");
    fx.write_policy(&allow_untrusted_writers(&fx.policy_text(
        "enforce",
        &[(&fx.plugins, None), (&off_tree, Some("off"))],
    )));
    let cached = fx.write_signed_mode("cached.py", b"X = 'signed, group-writable'\n", 0o664);
    let kernel = fx.write_signed("kernel.py", b"X = 'signed, read-only'\n");
    let fresh = fx.write_signed("fresh.py", b"X = 'signed, never opened'\n");
    let empty = fx.write_unsigned("empty.py", b"");
    let unsigned: Vec<PathBuf> = (0..40)
        .map(|i| fx.write_unsigned(&format!("u/u{i:02}.py"), format!("U = {i}\n").as_bytes()))
        .collect();
    // journald, the default log target.
    let (mut agent, socket) = start(&fx, &[]);

    expect_allowed(
        python_open(&cached),
        "group-writable signed file (now cached)",
    );
    expect_allowed(python_open(&kernel), "read-only signed file (now cached)");
    expect_eperm(python_open(&unsigned[0]), "unsigned file");
    wait_in_journal(&agent, "a deny record", |r| is_deny_of(r, &unsigned[0]));

    // journald stops reading; enough denials that the audit thread blocks
    // writing to it.
    let mut stopped = JournaldStopped::stop();
    let manifest = fx.root.join("denials.txt");
    write_manifest(&manifest, &[], &unsigned[1..]);
    burst(
        &manifest,
        unsigned.len() - 1,
        Duration::from_secs(120),
        "denials while journald is stopped",
    );
    let v = wait_all_answered(&socket, "before freezing the workers");
    eprintln!(
        "agent threads with journald stopped:\n{}",
        agent.thread_states().join("\n")
    );

    // Every worker frozen while idle (no job queued, so none holds a lock).
    let frozen = Frozen::workers(&agent);
    let before = status_json(&socket);
    assert_eq!(n(&before, &["queue", "depth"]), 0, "{v:#}");

    // A control client that connects and says nothing.
    let silent = UnixStream::connect(&socket).unwrap_or_else(|e| panic!("connect: {e}"));
    // Two opens that need a worker: they must wait.
    let mut waiting: Vec<(Proc, PathBuf, bool)> =
        [(fresh.clone(), true), (unsigned[0].clone(), false)]
            .into_iter()
            .map(|(p, ok)| (Proc::spawn(&mut python_open_cmd(&p)), p, ok))
            .collect();
    let pids: Vec<u32> = waiting.iter().map(|(p, _, _)| p.pid()).collect();
    wait_blocked_on_fanotify(&pids, "opens that need a worker");

    // Everything the event thread can answer is answered meanwhile.
    const REPS: usize = 50;
    let fast = [
        fx.plugins.clone(),
        empty.clone(),
        crate::harness::sig_path(&fresh),
        cached.clone(),
        kernel.clone(),
        off_file.clone(),
    ];
    let mut args = vec![REPS.to_string()];
    args.extend(fast.iter().map(|p| path_str(p)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let fin = Proc::spawn(&mut python_cmd(FAST_PY, &args))
        .finish(PROC_TIMEOUT)
        .unwrap_or_else(|e| {
            panic!(
                "opens the event thread answers by itself hung while the workers were frozen, \
                 journald stopped and a control client silent: {e}\nagent threads:\n{}",
                agent.thread_states().join("\n")
            )
        });
    for p in &fast {
        let want = format!("RES {} ok={REPS} fail=[]", path_str(p));
        assert!(fin.stdout.contains(&want), "expected `{want}`:\n{fin}");
    }
    for (p, path, _) in &mut waiting {
        assert!(
            !p.has_exited(),
            "the open of {} needs a worker, but was answered while every worker was frozen",
            path.display()
        );
    }
    drop(silent);

    let after = status_json(&socket);
    eprintln!(
        "allowed on the event thread: before {}, after {}; queue depth {}",
        before["reasons"]["allow"],
        after["reasons"]["allow"],
        n(&after, &["queue", "depth"])
    );
    // The agent opened nothing in the tree meanwhile (its own opens in
    // protected directories come back to it as events).
    assert_eq!(
        reason_count(&after, "allow", "own-open"),
        reason_count(&before, "allow", "own-open"),
        "the agent opened files in the protected tree while answering from its event thread"
    );
    for (why, at_least) in [
        ("empty", REPS),
        ("signature-read", REPS),
        ("cached", REPS),
        ("mode-off", REPS),
    ] {
        let grew = reason_count(&after, "allow", why) - reason_count(&before, "allow", why);
        assert!(
            grew >= at_least as u64,
            "allow/{why} grew by {grew}, expected at least {at_least}:\nbefore {}\nafter {}",
            before["reasons"],
            after["reasons"]
        );
    }
    assert_eq!(n(&after, &["queue", "depth"]), 2, "{after:#}");

    // Thawed, the workers answer the two waiting opens.
    drop(frozen);
    for (p, path, ok) in waiting {
        let fin = p.wait(PROC_TIMEOUT);
        let got = if fin.stdout.contains("\nOK") {
            Outcome::Ok
        } else if fin.stdout.contains("ERRNO 1") {
            Outcome::Errno(libc::EPERM)
        } else {
            panic!("unexpected result for {}:\n{fin}", path.display())
        };
        if ok {
            expect_allowed(got, "signed file that waited for a worker");
        } else {
            expect_eperm(got, "unsigned file that waited for a worker");
        }
    }
    stopped.resume();
    wait_all_answered(&socket, "at the end");
    agent.assert_alive("at the end");
}
