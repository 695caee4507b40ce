//! The systemd watchdog: `WATCHDOG=1` only while the event loop runs, and
//! only when `WATCHDOG_USEC` asks for it.

use std::time::Duration;

use crate::harness::{start, Fixture};
use crate::openers::{expect_allowed, python_open};

#[test]
fn watchdog_pings_only_while_the_event_loop_runs() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 1\n");
    let (mut agent, _socket) = start(&fx, &[("WATCHDOG_USEC", "2000000")]);
    let seen = agent.notifications(Duration::from_millis(3500));
    let pings = seen
        .iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    assert!(
        (2..=6).contains(&pings),
        "expected a WATCHDOG=1 about every second, got {pings}: {seen:?}"
    );
    expect_allowed(python_open(&good), "signed file under the watchdog");

    // Once the agent stops, no more WATCHDOG=1.
    agent.signal(libc::SIGTERM);
    let seen = agent.notifications(Duration::from_millis(2500));
    assert!(agent.wait_exit(Duration::from_secs(20)).success());
    let stopping = seen
        .iter()
        .position(|m| m.lines().any(|l| l == "STOPPING=1"))
        .unwrap_or_else(|| panic!("no STOPPING=1 in {seen:?}"));
    assert!(
        !seen[stopping..]
            .iter()
            .any(|m| m.lines().any(|l| l == "WATCHDOG=1")),
        "WATCHDOG=1 after STOPPING=1: {seen:?}"
    );

    // Without WATCHDOG_USEC, none at all.
    let (agent, _socket) = start(&fx, &[]);
    let seen = agent.notifications(Duration::from_millis(1500));
    assert!(
        !seen.iter().any(|m| m.contains("WATCHDOG")),
        "WATCHDOG without WATCHDOG_USEC: {seen:?}"
    );
}
