//! Verification ahead of the opens (`agent.verify_ahead`): once a file
//! someone waited for is verified, the other files of its directory are
//! verified before anyone opens them. Their verdicts are the verdicts an
//! open would have had: signed files are allowed without another
//! verification (here: by the kernel), an unsigned one is still denied and
//! recorded when it is opened, and a file changed after it was verified
//! ahead is checked again.

use std::fs;
use std::io::Write;
use std::time::Duration;

use crate::harness::{n, path_str, start, status_json, wait_until, Fixture};
use crate::openers::{cat, expect_allowed, expect_eperm};

const ASYNC: Duration = Duration::from_secs(10);

#[test]
fn the_files_of_a_directory_are_verified_before_they_are_opened() {
    let fx = Fixture::new();
    let signed: Vec<_> = (0..20)
        .map(|i| fx.write_signed(&format!("lib/m{i:02}.py"), format!("N = {i}\n").as_bytes()))
        .collect();
    let unsigned = fx.write_unsigned("lib/zz_unsigned.py", b"EVIL = 1\n");
    let (agent, socket) = start(&fx, &[]);

    expect_allowed(cat(&signed[0]), "the first file of the directory");
    wait_until("the rest of the directory verified ahead", ASYNC, || {
        n(&status_json(&socket), &["verifications", "ahead"]) >= 20
    });
    let v = status_json(&socket);
    assert_eq!(
        n(&v, &["verifications", "run"]),
        1,
        "only the first file waited for a verification: {v}"
    );
    for p in &signed[1..] {
        assert!(
            agent.has_kernel_verdict(p),
            "{} verified ahead, root-owned and read-only: left to the kernel",
            p.display()
        );
    }
    let events = n(&v, &["events"]);
    for p in &signed[1..] {
        expect_allowed(cat(p), "a file verified ahead");
    }
    assert_eq!(
        n(&status_json(&socket), &["events"]),
        events,
        "opens of files verified ahead never reach the agent"
    );

    // Refused ahead: the open is still denied, and recorded.
    expect_eperm(cat(&unsigned), "the unsigned file of the directory");
    let shown = path_str(&unsigned);
    agent.wait_record("the denial of the file refused ahead", |r| {
        r.get("SIGWARD_DECISION").map(String::as_str) == Some("deny")
            && r.get("SIGWARD_PATH") == Some(&shown)
            && r.get("SIGWARD_REASON").map(String::as_str) == Some("unsigned")
    });

    // Changed after it was verified ahead: checked again at its open.
    fs::OpenOptions::new()
        .append(true)
        .open(&signed[5])
        .and_then(|mut f| f.write_all(b"EVIL = True\n"))
        .unwrap_or_else(|e| panic!("append: {e}"));
    expect_eperm(
        cat(&signed[5]),
        "a file changed after it was verified ahead",
    );
}

#[test]
fn verify_ahead_zero_verifies_only_what_is_opened() {
    let fx = Fixture::new();
    let signed: Vec<_> = (0..5)
        .map(|i| fx.write_signed(&format!("m{i}.py"), format!("N = {i}\n").as_bytes()))
        .collect();
    let text = fs::read_to_string(&fx.policy).unwrap_or_else(|e| panic!("policy: {e}"));
    fx.write_policy(&format!("{text}\n[agent]\nverify_ahead = 0\n"));
    let (agent, socket) = start(&fx, &[]);
    expect_allowed(cat(&signed[0]), "the first file");
    expect_allowed(cat(&signed[1]), "the second file");
    let v = status_json(&socket);
    assert_eq!(n(&v, &["verifications", "ahead"]), 0, "{v}");
    assert_eq!(n(&v, &["verifications", "run"]), 2, "{v}");
    assert!(!agent.has_kernel_verdict(&signed[2]));
}
