//! `[audit] kernel_audit = true`: denials are answered `FAN_DENY |
//! FAN_AUDIT`, and the kernel writes an `AUDIT_FANOTIFY` (type 1331)
//! record for each, next to the `SYSCALL` record of the opener's `open`.
//!
//! The kernel writes them only for a process whose syscalls are audited:
//! auditing enabled and at least one syscall rule loaded. The test turns
//! auditing on if it is off, adds a rule that matches nothing (so that the
//! opener's `open` has an audit context), and restores both when it ends.
//! Records go to auditd when it runs (read with `ausearch`), else to the
//! kernel log (read from `/dev/kmsg`, from a position taken before the
//! open).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{path_str, run, Finished, Fixture, PROC_TIMEOUT, RECORD_TIMEOUT};
use crate::openers::{expect_eperm, python_open_detailed};

/// Serialises the tests that change the kernel's audit settings (of this
/// and of other checkouts on the same machine).
const LOCK: &str = "/run/lock/sigward-e2e-kernel-audit.lock";

fn auditctl(args: &[&str]) -> Finished {
    run(Command::new("auditctl").args(args), PROC_TIMEOUT)
}

/// `auditctl -s` as (key, value) pairs.
fn audit_status() -> Vec<(String, String)> {
    let fin = auditctl(&["-s"]);
    assert!(
        fin.success(),
        "auditctl -s failed (install auditd, which has auditctl and ausearch):\n{fin}"
    );
    fin.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn status_value(status: &[(String, String)], key: &str) -> String {
    status
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Auditing on with one rule that matches nothing; restored on drop.
struct Auditing {
    rule: Vec<String>,
    was_disabled: bool,
    _lock: File,
}

impl Auditing {
    fn start() -> Auditing {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK)
            .unwrap_or_else(|e| panic!("{LOCK}: {e}"));
        lock.lock()
            .unwrap_or_else(|e| panic!("locking {LOCK}: {e}"));
        let status = audit_status();
        let enabled = status_value(&status, "enabled");
        assert_ne!(
            enabled, "2",
            "auditing is locked (enabled 2): rules cannot be added"
        );
        let was_disabled = enabled == "0";
        if was_disabled {
            auditctl(&["-e", "1"]).assert_success();
        }
        let arch = if cfg!(target_pointer_width = "64") {
            "arch=b64"
        } else {
            "arch=b32"
        };
        // auid 2147483646 is nobody's login uid: the rule matches nothing,
        // but while a syscall rule is loaded every syscall has an audit
        // context, which audit_fanotify() needs.
        let rule: Vec<String> = [
            "always,exit",
            "-F",
            arch,
            "-S",
            "openat",
            "-F",
            "auid=2147483646",
            "-k",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("sigward-e2e-{}", std::process::id())])
        .collect();
        let mut add = vec!["-a".to_string()];
        add.extend(rule.iter().cloned());
        let fin = run(Command::new("auditctl").args(&add), PROC_TIMEOUT);
        if !fin.success() {
            if was_disabled {
                auditctl(&["-e", "0"]);
            }
            panic!("auditctl {}:\n{fin}", add.join(" "));
        }
        Auditing {
            rule,
            was_disabled,
            _lock: lock,
        }
    }

    /// Whether auditd receives the records (else the kernel log does).
    fn auditd_running() -> bool {
        !matches!(status_value(&audit_status(), "pid").as_str(), "" | "0")
    }
}

impl Drop for Auditing {
    fn drop(&mut self) {
        let mut del = vec!["-d".to_string()];
        del.extend(self.rule.iter().cloned());
        let _ = Command::new("auditctl").args(&del).output();
        if self.was_disabled {
            let _ = Command::new("auditctl").args(["-e", "0"]).output();
        }
    }
}

/// The kernel log from now on.
struct Kmsg(File);

impl Kmsg {
    fn open() -> Kmsg {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .unwrap_or_else(|e| panic!("/dev/kmsg: {e}"));
        f.seek(SeekFrom::End(0))
            .unwrap_or_else(|e| panic!("seeking /dev/kmsg: {e}"));
        Kmsg(f)
    }

    /// The messages logged since the last call (one per read).
    fn read_new(&mut self, out: &mut Vec<String>) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    // `PRIORITY,SEQ,TIME,FLAGS;MESSAGE`
                    if let Some((_, msg)) = rec.split_once(';') {
                        out.push(msg.lines().next().unwrap_or("").to_string());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // EPIPE: records were overwritten before they were read.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) => panic!("reading /dev/kmsg: {e}"),
            }
        }
    }
}

/// The event serial of an audit message: `audit(TIME:SERIAL)`.
fn serial(msg: &str) -> Option<&str> {
    let rest = msg.split_once("audit(")?.1;
    let inner = rest.split_once(')')?.0;
    Some(inner.split_once(':')?.1)
}

/// An AUDIT_FANOTIFY record with `resp=2` (FAN_DENY) whose event's SYSCALL
/// record is the `open` of process `pid`.
fn denial_in_kmsg(lines: &[String], pid: u32) -> Option<String> {
    let pid_field = format!(" pid={pid} ");
    lines
        .iter()
        .filter(|l| l.contains("type=1331") && l.contains("resp=2"))
        .find(|fan| {
            let s = serial(fan);
            lines.iter().any(|l| {
                l.contains("type=1300") && l.contains(&pid_field) && serial(l) == s && s.is_some()
            })
        })
        .cloned()
}

#[test]
fn kernel_audit_records_every_denial() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("audited.py", b"X = 'unsigned'\n");
    let mut policy = fx.policy_text("enforce", &[(&fx.plugins, None)]);
    policy.push_str("\n[audit]\nkernel_audit = true\n");
    fx.write_policy(&policy);

    let _auditing = Auditing::start();
    let auditd = Auditing::auditd_running();
    let agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);
    let mut kmsg = Kmsg::open();

    let opened = python_open_detailed(&bad);
    expect_eperm(opened.outcome, "unsigned file with kernel_audit on");
    let bad_s = path_str(&bad);
    agent.wait_record("the journal's deny record", |r| {
        r.get("SIGWARD_DECISION").map(String::as_str) == Some("deny")
            && r.get("SIGWARD_PATH") == Some(&bad_s)
    });
    assert!(
        !agent
            .stderr_records()
            .iter()
            .any(|r| r.get("MESSAGE").is_some_and(|m| m.contains("kernel_audit"))),
        "the kernel accepted FAN_ENABLE_AUDIT: no warning about kernel_audit expected: {:#?}",
        agent.stderr_records()
    );

    let start = Instant::now();
    let mut lines = Vec::new();
    loop {
        let found = if auditd {
            let fin = run(
                Command::new("ausearch").args([
                    "-m",
                    "FANOTIFY",
                    "-p",
                    &opened.pid.to_string(),
                    "-ts",
                    "recent",
                ]),
                PROC_TIMEOUT,
            );
            (fin.success() && fin.stdout.contains("resp=2")).then(|| fin.stdout.clone())
        } else {
            kmsg.read_new(&mut lines);
            denial_in_kmsg(&lines, opened.pid)
        };
        if let Some(record) = found {
            assert!(record.contains("resp=2"), "{record}");
            return;
        }
        if start.elapsed() > RECORD_TIMEOUT {
            panic!(
                "no kernel audit record (type 1331, resp=2) for the denied open by pid {} \
                 within {RECORD_TIMEOUT:?} (auditd running: {auditd}); kernel log since the \
                 open:\n{}",
                opened.pid,
                lines.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
