//! Signals: bursts of every signal that root, systemd or a configuration-
//! management run may plausibly send. None of them kills the agent except
//! SIGTERM and SIGINT, which stop it cleanly (exit 0), as documented in
//! docs/operations.md ("Signals").
//!
//! Before every thread blocked the handled signals, a SIGHUP that arrived
//! while the main thread was reloading went to the log thread, whose
//! default action ended the process (exit 129), and SIGUSR1, SIGUSR2 and
//! SIGALRM killed it at once.

use std::time::Duration;

use crate::harness::{field, is_msg, Agent, Fixture, MSG_RELOAD_OK};
use crate::openers::{expect_allowed, expect_eperm, python_open};

/// `MESSAGE_ID` of the status record written on SIGUSR1.
const MSG_STATUS: &str = sigward::ids::STATUS;

/// How many signals one burst sends.
const BURST: usize = 500;

/// Sends `sig` to the agent `BURST` times, as fast as `kill` goes.
fn burst(agent: &Agent, sig: i32) {
    for _ in 0..BURST {
        // SAFETY: plain syscall on our own child's pid (not yet reaped).
        let rc = unsafe { libc::kill(agent.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", agent.pid());
    }
}

fn enforcing(agent: &mut Agent, good: &std::path::Path, bad: &std::path::Path, after: &str) {
    agent.assert_alive(after);
    expect_eperm(python_open(bad), &format!("unsigned file {after}"));
    expect_allowed(python_open(good), &format!("signed file {after}"));
}

#[test]
fn bursts_of_hup_usr1_usr2_alrm_and_pipe_never_stop_enforcement() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let mut agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);
    enforcing(&mut agent, &good, &bad, "before any signal");

    // Each SIGHUP burst lands while reloads run: the race that killed the
    // agent in 3 of 5 trials.
    for round in 1..=5 {
        burst(&agent, libc::SIGHUP);
        agent.wait_records(
            &format!("a reload after SIGHUP burst {round}"),
            round,
            |r| is_msg(r, MSG_RELOAD_OK),
        );
        enforcing(
            &mut agent,
            &good,
            &bad,
            &format!("after SIGHUP burst {round}"),
        );
    }

    burst(&agent, libc::SIGUSR1);
    let rec = agent.wait_record("the status record on SIGUSR1", |r| is_msg(r, MSG_STATUS));
    let status: serde_json::Value = serde_json::from_str(field(&rec, "SIGWARD_STATUS"))
        .unwrap_or_else(|e| panic!("SIGWARD_STATUS is not JSON ({e}): {rec:?}"));
    assert!(
        status["policy"]["generation"]
            .as_u64()
            .is_some_and(|g| g >= 2),
        "the status record names no generation after the reloads: {status}"
    );
    assert!(
        field(&rec, "MESSAGE").contains("generation"),
        "the status record's message is not the human status: {rec:?}"
    );
    enforcing(&mut agent, &good, &bad, "after a SIGUSR1 burst");

    for (sig, name) in [
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGPIPE, "SIGPIPE"),
    ] {
        burst(&agent, sig);
        // Signals are delivered before kill() returns to an unblocked
        // thread; a short settle lets a dying process finish dying.
        std::thread::sleep(Duration::from_millis(50));
        enforcing(&mut agent, &good, &bad, &format!("after a {name} burst"));
    }
}

#[test]
fn a_burst_of_sigterm_stops_the_agent_cleanly() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let fx = Fixture::new();
        let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
        let mut agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);
        expect_eperm(python_open(&bad), "unsigned file before the burst");
        burst(&agent, sig);
        let st = agent.wait_exit(Duration::from_secs(10));
        assert_eq!(
            st.code(),
            Some(0),
            "a burst of {name} must stop the agent cleanly (exit 0), not kill it: {st}\n{}",
            agent.stderr_text()
        );
    }
}
