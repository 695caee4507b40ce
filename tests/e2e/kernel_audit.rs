//! `[audit] kernel_audit = true`: denials are answered `FAN_DENY |
//! FAN_AUDIT`, and the kernel writes an `AUDIT_FANOTIFY` (type 1331)
//! record for each, next to the `SYSCALL` record of the opener's `open`.
//!
//! The kernel writes them only for a process whose syscalls are audited:
//! auditing enabled and at least one syscall rule loaded. The test turns
//! auditing on if it is off, adds a rule that matches nothing (so that the
//! opener's `open` has an audit context), and restores both when it ends.
//! The test reads the records as they leave the kernel, from the audit
//! log's netlink multicast group (joined before the open), which gets
//! every record whether auditd runs or not; auditd's `ausearch -m
//! FANOTIFY` and the kernel log show the same records, the latter
//! rate-limited.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use crate::harness::{
    path_str, poll, reload, run, start, Agent, Finished, Fixture, PROC_TIMEOUT, RECORD_TIMEOUT,
};
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
        // (/run/lock is made by systemd-tmpfiles: a machine without
        // systemd as PID 1 may lack it.)
        if let Some(dir) = std::path::Path::new(LOCK).parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
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

/// The kernel's audit records from now on, as every reader of the audit
/// log multicast group receives them (`AUDIT_NLGRP_READLOG`, what
/// journald's audit transport reads; needs `CAP_AUDIT_READ`). Unlike the
/// kernel log, which the kernel rate-limits (10 messages per 5 s, shared
/// with everything that logs), the group gets every record, whether
/// auditd runs or not.
struct AuditLog(OwnedFd);

/// `AUDIT_NLGRP_READLOG` (linux/audit.h).
const AUDIT_NLGRP_READLOG: u32 = 1;
/// `AUDIT_SYSCALL` (linux/audit.h).
const AUDIT_SYSCALL: u16 = 1300;
/// `AUDIT_FANOTIFY` (linux/audit.h).
const AUDIT_FANOTIFY: u16 = 1331;

impl AuditLog {
    fn open() -> AuditLog {
        // SAFETY: socket(2) with constant arguments; it returns a new
        // descriptor or -1.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_AUDIT,
            )
        };
        assert!(
            fd >= 0,
            "netlink audit socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; the fields are set below.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = AUDIT_NLGRP_READLOG;
        // SAFETY: `addr` is a valid sockaddr_nl and the length is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        assert_eq!(
            rc,
            0,
            "joining the audit log multicast group: {}",
            std::io::Error::last_os_error()
        );
        AuditLog(fd)
    }

    /// The records received since the last call, as (type, text).
    fn read_new(&mut self, out: &mut Vec<(u16, String)>) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                match e.kind() {
                    std::io::ErrorKind::WouldBlock => return,
                    std::io::ErrorKind::Interrupted => continue,
                    // ENOBUFS: the socket overflowed; what follows is kept.
                    _ if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                    _ => panic!("reading the audit log: {e}"),
                }
            }
            let mut msg = &buf[..usize::try_from(n).unwrap_or(0)];
            // nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32.
            while msg.len() >= 16 {
                let len = u32::from_ne_bytes(msg[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(msg[4..6].try_into().unwrap());
                if len < 16 {
                    break;
                }
                let end = len.min(msg.len());
                let text = String::from_utf8_lossy(&msg[16..end]);
                out.push((kind, text.trim_end_matches('\0').to_string()));
                // Messages are aligned to 4 bytes.
                msg = &msg[((end + 3) & !3).min(msg.len())..];
            }
        }
    }
}

/// The event serial of an audit record: `audit(TIME:SERIAL)`.
fn serial(msg: &str) -> Option<&str> {
    let rest = msg.split_once("audit(")?.1;
    let inner = rest.split_once(')')?.0;
    Some(inner.split_once(':')?.1)
}

/// An AUDIT_FANOTIFY record with `resp=2` (FAN_DENY) whose event's
/// SYSCALL record is the `open` of process `pid`.
fn denial_of(records: &[(u16, String)], pid: u32) -> Option<String> {
    let pid_field = format!(" pid={pid} ");
    records
        .iter()
        .filter(|(t, r)| *t == AUDIT_FANOTIFY && r.contains("resp=2"))
        .find(|(_, fan)| {
            let s = serial(fan);
            s.is_some()
                && records
                    .iter()
                    .any(|(t, r)| *t == AUDIT_SYSCALL && r.contains(&pid_field) && serial(r) == s)
        })
        .map(|(_, r)| r.clone())
}

/// Opens `bad` (denied) and waits for the kernel's audit record of that
/// denial.
fn expect_kernel_record(agent: &Agent, bad: &Path) {
    let mut log = AuditLog::open();
    let opened = python_open_detailed(bad);
    expect_eperm(opened.outcome, "unsigned file with kernel_audit on");
    let bad_s = path_str(bad);
    agent.wait_record("the journal's deny record", |r| {
        r.get("SIGWARD_DECISION").map(String::as_str) == Some("deny")
            && r.get("SIGWARD_PATH") == Some(&bad_s)
    });
    let mut records = Vec::new();
    let record = poll(
        "the kernel's audit record of the denial",
        RECORD_TIMEOUT,
        || {
            log.read_new(&mut records);
            denial_of(&records, opened.pid)
        },
    );
    assert!(record.contains("resp=2"), "{record}");
}

fn no_kernel_audit_warning(agent: &Agent) {
    let records = agent.stderr_records();
    assert!(
        !records
            .iter()
            .any(|r| r.get("MESSAGE").is_some_and(|m| m.contains("kernel_audit"))),
        "the kernel accepted FAN_ENABLE_AUDIT: no warning about kernel_audit expected: \
         {records:#?}"
    );
}

#[test]
fn kernel_audit_records_every_denial() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("audited.py", b"X = 'unsigned'\n");
    let mut policy = fx.policy_text("enforce", &[(&fx.plugins, None)]);
    policy.push_str("\n[audit]\nkernel_audit = true\n");
    fx.write_policy(&policy);

    let _auditing = Auditing::start();
    let agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);
    expect_kernel_record(&agent, &bad);
    no_kernel_audit_warning(&agent);
}

/// The group is made able to ask for audit records whatever the policy
/// says, so a reload turns the switch on without a restart.
#[test]
fn a_reload_turns_kernel_audit_on() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("later.py", b"X = 'unsigned'\n");
    let policy = fx.policy_text("enforce", &[(&fx.plugins, None)]);
    fx.write_policy(&format!("{policy}\n[audit]\nkernel_audit = false\n"));

    let _auditing = Auditing::start();
    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    fx.write_policy(&format!("{policy}\n[audit]\nkernel_audit = true\n"));
    reload(&fx, &socket);
    expect_kernel_record(&agent, &bad);
    no_kernel_audit_warning(&agent);
}
