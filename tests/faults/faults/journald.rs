//! journald stopped or killed and restarted: verdicts keep flowing, and
//! dropped records are counted and reported.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use std::{fs, io};

use crate::harness::{
    allow_untrusted_writers, ensure_journald, field, is_msg, journal_query, n, path_str, poll,
    sigward_cmd, start, status_json, write_file, Agent, Fixture, Proc, Record, JOURNALD_BIN,
    JOURNAL_SOCKET, MSG_DENY, MSG_RELOAD_OK,
};
use crate::openers::{expect_allowed, expect_eperm, python_cmd, python_open};

use super::{is_deny_of, proc_text, JOURNAL_BACK, MSG_DROPPED};

// ---------------------------------------------------------------------------
// journald
// ---------------------------------------------------------------------------

/// Serialises the tests that stop, kill or restart journald, and makes
/// sure journald runs (resuming one left stopped by a test run that was
/// killed before its guard could).
pub(super) fn journald_lock() -> MutexGuard<'static, ()> {
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

/// The inodes of the Unix sockets bound at `path`, from /proc/net/unix.
/// There can be several: the table is per network namespace, and a
/// container that shares this one (systemd-nspawn's default) lists its own
/// journald's socket under the same path.
pub(super) fn unix_socket_inodes(path: &str) -> Vec<u64> {
    let table = fs::read_to_string("/proc/net/unix").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && f[7] == path)
                .then(|| f[6].parse().ok())
                .flatten()
        })
        .collect()
}

/// The journald process serving the native socket in this mount namespace
/// (never a container's), and its descriptor of that socket.
pub(super) fn journald_serving() -> Option<(i32, i32)> {
    let targets: Vec<String> = unix_socket_inodes(JOURNAL_SOCKET)
        .iter()
        .map(|i| format!("socket:[{i}]"))
        .collect();
    let own_ns = fs::read_link("/proc/self/ns/mnt").ok()?;
    for p in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if !proc_text(&format!("/proc/{pid}/comm")).starts_with("systemd-journal") {
            continue;
        }
        if fs::read_link(format!("/proc/{pid}/ns/mnt")).ok().as_ref() != Some(&own_ns) {
            continue;
        }
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = fs::read_link(fd.path()) else {
                continue;
            };
            if targets.iter().any(|t| link.as_os_str() == t.as_str()) {
                if let Ok(n) = fd.file_name().to_string_lossy().parse::<i32>() {
                    return Some((pid, n));
                }
            }
        }
    }
    None
}

pub(super) fn journald_pid() -> i32 {
    ensure_journald();
    journald_serving()
        .unwrap_or_else(|| {
            panic!("{JOURNAL_SOCKET} is served, but no systemd-journald process holds it")
        })
        .0
}

/// The state letter of /proc/PID/stat (`?` when gone).
pub(super) fn proc_state(pid: i32) -> char {
    let stat = proc_text(&format!("/proc/{pid}/stat"));
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap_or('?')
}

/// Sends a message to journald and waits until `journalctl` shows it:
/// journald reads its socket again (and has read what was queued before).
pub(super) fn wait_journald_back(what: &str) {
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
pub(super) struct JournaldStopped {
    pub(super) pid: i32,
    pub(super) resumed: bool,
}

impl JournaldStopped {
    pub(super) fn stop() -> JournaldStopped {
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

    pub(super) fn resume(&mut self) {
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

pub(super) fn pidfd_getfd(pid: i32, fd: i32) -> io::Result<OwnedFd> {
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
pub(super) struct JournaldKilled {
    pub(super) old: i32,
    pub(super) socket: Option<OwnedFd>,
    pub(super) supervised: bool,
    pub(super) back: bool,
}

impl JournaldKilled {
    pub(super) fn kill() -> JournaldKilled {
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
    pub(super) fn restart(&mut self) {
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
pub(super) fn wait_in_journal(agent: &Agent, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
    poll(&format!("{what} in the journal"), JOURNAL_BACK, || {
        agent.journal_records().into_iter().find(|r| pred(r))
    })
}

/// The agent's `dropped` records in the journal: (sum of SIGWARD_DROPPED,
/// largest SIGWARD_DROPPED_TOTAL).
pub(super) fn dropped_reported(agent: &Agent) -> (u64, u64) {
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
pub(super) const BURST_PY: &str = r#"
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
pub(super) fn burst(manifest: &Path, count: usize, timeout: Duration, what: &str) {
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
pub(super) fn journald_fixture(n: usize) -> (Fixture, Vec<PathBuf>, PathBuf, PathBuf) {
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
pub(super) const OVERFLOW: usize = 12_000;

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
