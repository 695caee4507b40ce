//! SIGKILL of the agent under load leaves no opener blocked.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{poll, write_file, Fixture};
use crate::load::{write_manifest, Openers, HANG};

use super::{wait_blocked_on_fanotify, Frozen};

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
