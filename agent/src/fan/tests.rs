//! Unit tests of `fan`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use std::os::fd::AsRawFd;

fn record(len: u32, mask: u64, fd: i32, pid: i32) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&len.to_ne_bytes());
    e.push(libc::FANOTIFY_METADATA_VERSION);
    e.push(0);
    e.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
    e.extend_from_slice(&mask.to_ne_bytes());
    e.extend_from_slice(&fd.to_ne_bytes());
    e.extend_from_slice(&pid.to_ne_bytes());
    e.resize(len as usize, 0);
    e
}

#[test]
fn perm_events_are_framed_by_their_length() {
    // A descriptor this test owns, handed over as the kernel would.
    let fd = nix::unistd::dup(std::io::stdin()).unwrap();
    let raw = fd.as_raw_fd();
    std::mem::forget(fd);
    let mut buf = record(32, libc::FAN_OPEN_PERM, -1, 7);
    buf.extend(record(24, libc::FAN_OPEN_EXEC_PERM, raw, 42));
    // A truncated record ends the parse.
    buf.extend(record(24, 0, -1, 1).get(..10).unwrap());
    let mut out = Vec::new();
    parse_perm_events(&buf, &mut out);
    assert_eq!(out.len(), 1, "fd -1 is skipped, the truncated tail ignored");
    let e = &out[0];
    assert_eq!(
        (e.fd.as_raw_fd(), e.pid, e.mask, e.version_ok),
        (raw, 42, libc::FAN_OPEN_EXEC_PERM, true)
    );
}

#[test]
fn kernel_audit_refusal_names_the_switch_and_the_cause() {
    let text = KernelAuditUnavailable {
        errno: Errno::EPERM,
    }
    .to_string();
    assert!(text.contains("[audit] kernel_audit = true"), "{text}");
    assert!(text.contains("CAP_AUDIT_WRITE"), "{text}");
    assert!(text.contains("restarted"), "{text}");
    let text = KernelAuditUnavailable {
        errno: Errno::EINVAL,
    }
    .to_string();
    assert!(text.contains("CONFIG_AUDITSYSCALL"), "{text}");
}
