//! A burst of denials for one path does not flood the journal: after
//! `rate_limit_burst` records in an interval, the rest are counted and
//! reported in one summary record. Every open is still denied.

use std::thread;
use std::time::Duration;

use crate::harness::{path_str, Fixture};
use crate::openers::{cat, expect_eperm};

const MSG_DENY: &str = sigward::ids::DENY;
const MSG_SUPPRESSED: &str = sigward::ids::SUPPRESSED;

#[test]
fn burst_of_denials_is_rate_limited_with_a_summary() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("noisy.py", b"X = 'unsigned'\n");
    let other = fx.write_unsigned("quiet.py", b"Y = 'unsigned'\n");
    let mut policy = fx.policy_text("enforce", &[(&fx.plugins, None)]);
    policy.push_str("\n[audit]\nrate_limit_burst = 2\nrate_limit_interval = 1\n");
    fx.write_policy(&policy);
    let agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);

    for _ in 0..12 {
        expect_eperm(cat(&bad), "every open in the burst");
    }
    expect_eperm(cat(&other), "another path is limited separately");
    let bad_s = path_str(&bad);
    let summary = agent.wait_record("suppression summary", |r| {
        r.get("MESSAGE_ID").map(String::as_str) == Some(MSG_SUPPRESSED)
            && r.get("SIGWARD_PATH") == Some(&bad_s)
    });
    assert_eq!(
        summary.get("SIGWARD_SUPPRESSED").map(String::as_str),
        Some("10"),
        "{summary:?}"
    );
    let denies = |path: &str| {
        agent
            .stderr_records()
            .iter()
            .filter(|r| {
                r.get("MESSAGE_ID").map(String::as_str) == Some(MSG_DENY)
                    && r.get("SIGWARD_PATH").map(String::as_str) == Some(path)
            })
            .count()
    };
    assert_eq!(denies(&bad_s), 2, "deny records for the noisy path");
    assert_eq!(
        denies(&path_str(&other)),
        1,
        "deny records for the other path"
    );

    // A new interval starts afresh.
    thread::sleep(Duration::from_millis(1100));
    expect_eperm(cat(&bad), "open after the interval");
    agent.wait_records("deny after the interval", 3, |r| {
        r.get("MESSAGE_ID").map(String::as_str) == Some(MSG_DENY)
            && r.get("SIGWARD_PATH") == Some(&bad_s)
    });
}
