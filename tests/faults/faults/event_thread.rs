//! The event thread answers what it can while everything else is stuck.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    allow_untrusted_writers, n, path_str, start, status_json, write_file, Fixture, Proc,
    PROC_TIMEOUT,
};
use crate::load::{wait_all_answered, write_manifest};
use crate::openers::{
    expect_allowed, expect_eperm, python_cmd, python_open, python_open_cmd, Outcome,
};

use super::journald::{burst, journald_lock, wait_in_journal, JournaldStopped};
use super::{is_deny_of, wait_blocked_on_fanotify, Frozen};

// ---------------------------------------------------------------------------
// The event thread answers what it can, whatever else is stuck
// ---------------------------------------------------------------------------

/// Opens, from one process, each path `reps` times; `OK n` / `FAIL errno n`.
pub(super) const FAST_PY: &str = r#"
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

pub(super) fn reason_count(v: &Value, decision: &str, why: &str) -> u64 {
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
    // In a directory of its own: no file beside it is opened first, so it
    // is not verified ahead either (agent.verify_ahead).
    let fresh = fx.write_signed("later/fresh.py", b"X = 'signed, never opened'\n");
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
