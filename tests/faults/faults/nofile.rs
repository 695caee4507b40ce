//! RLIMIT_NOFILE exhausted in the agent: every open is answered.

use std::path::PathBuf;
use std::time::Duration;
use std::{fs, io};

use crate::harness::{fd_count, is_msg, n, path_str, start, Fixture, Proc, MIB};
use crate::load::wait_all_answered;
use crate::openers::{expect_allowed, expect_eperm, python_cmd, python_open};

// ---------------------------------------------------------------------------
// RLIMIT_NOFILE
// ---------------------------------------------------------------------------

/// Sets the RLIMIT_NOFILE of `pid` (when `new` is given); returns the
/// limits it had, (soft, hard).
pub(super) fn nofile(pid: i32, new: Option<(u64, u64)>) -> (u64, u64) {
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

/// The descriptor numbers `pid` uses (`None`: /proc/PID/fd unreadable).
fn used_fds(pid: i32) -> Option<Vec<u64>> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        dir.flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
            .collect(),
    )
}

/// How many of the numbers below `limit` `used` leaves free.
fn free_of(used: &[u64], limit: u64) -> u64 {
    limit.saturating_sub(used.iter().filter(|&&fd| fd < limit).count() as u64)
}

/// Descriptor numbers below `limit` that `pid` does not use (none when
/// that cannot be read).
fn free_below(pid: i32, limit: u64) -> u64 {
    used_fds(pid).map_or(0, |used| free_of(&used, limit))
}

/// The lowest limit that leaves `spare` descriptor numbers free in `pid`.
pub(super) fn limit_leaving(pid: i32, spare: u64) -> u64 {
    let used = used_fds(pid).unwrap_or_default();
    (1..)
        .find(|&l: &u64| free_of(&used, l) >= spare)
        .unwrap_or(u64::MAX)
}

/// Opens every path at once from one thread each (after a barrier); prints
/// `RES OK path` or `RES <errno> path` for each.
pub(super) const CONCURRENT_PY: &str = r#"
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

    // The agent's mount-table thread keeps /proc/self/mountinfo open; it
    // starts beside the event loop, so wait for it before counting.
    let mountinfo = format!("/proc/{pid}/mountinfo");
    crate::harness::wait_until(
        "the agent following its mount table",
        Duration::from_secs(10),
        || {
            fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| {
                    d.flatten().any(|e| {
                        fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == mountinfo.as_str())
                    })
                })
                .unwrap_or(false)
        },
    );
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

    // Still at the low limit, one open at a time is answered normally, once
    // the agent has let go of the descriptors of the burst (a worker may
    // still be ending an interrupted verification): an open of a signed file
    // needs three at once (its event, the agent's open of the signature, and
    // that open's own event, which the kernel denies without a descriptor).
    crate::harness::wait_until(
        "the agent's descriptors of the burst closed",
        Duration::from_secs(20),
        || free_below(pid, limit) >= 3,
    );
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
