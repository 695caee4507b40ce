//! The last good policy: a policy that cannot be loaded at the next start
//! leaves every tree guarded by the one saved at the last successful load,
//! and the agent says so until the policy on disk loads again.

use std::ffi::OsStr;
use std::fs;

use crate::harness::{
    is_msg, sigward_cmd, start, status, status_json, try_reload, Fixture, Proc, PROC_TIMEOUT,
};
use crate::openers::{expect_allowed, expect_eperm, python_open};

/// `MESSAGE_ID` of "the policy on disk cannot be loaded".
const MSG_NOT_IN_FORCE: &str = sigward::ids::NOT_IN_FORCE;

#[test]
fn a_broken_key_file_at_the_next_start_is_enforced_by_the_last_good_policy() {
    let fx = Fixture::new();
    let signed = fx.write_signed("good.py", b"GOOD = 1\n");
    let unsigned = fx.write_unsigned("evil.py", b"EVIL = 1\n");
    {
        let (_first, socket) = start(&fx, &[]);
        assert_eq!(status_json(&socket)["state"], "ok");
    }
    assert!(
        fx.root
            .join("state")
            .join("last-good-policy.json")
            .is_file(),
        "the first start saved no last good policy"
    );
    // Config management pushes the private key as the public one.
    let public = fs::read(&fx.pubkey).unwrap();
    fs::copy(&fx.key, &fx.pubkey).unwrap();
    let (agent, socket) = start(&fx, &[]);
    expect_eperm(
        python_open(&unsigned),
        "an unsigned file under the last good policy",
    );
    expect_allowed(
        python_open(&signed),
        "a signed file under the last good policy",
    );
    let fin = status(&socket, None);
    assert_eq!(fin.code(), Some(1), "status of a degraded agent:\n{fin}");
    assert!(fin.stdout.contains("DEGRADED"), "{fin}");
    let v = status_json(&socket);
    assert_eq!(v["state"], "degraded", "{v}");
    let reason = v["degraded"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&fx.pubkey.display().to_string()) && reason.contains("private key"),
        "the reason does not name the key file and what is wrong: {reason}"
    );
    assert!(
        v["degraded"]["last_good_saved_at"].as_u64().is_some(),
        "{v}"
    );
    let rec = agent.wait_record("the degraded record", |r| is_msg(r, MSG_NOT_IN_FORCE));
    assert_eq!(
        rec.get("PRIORITY").map(String::as_str),
        Some("3"),
        "{rec:?}"
    );
    // Fixed and reloaded: no longer degraded.
    fs::write(&fx.pubkey, public).unwrap();
    let fin = try_reload(&fx, &socket);
    assert!(fin.success(), "{fin}");
    assert_eq!(status(&socket, None).code(), Some(0));
    assert_eq!(status_json(&socket)["state"], "ok");
}

#[test]
fn without_a_last_good_policy_a_broken_start_is_refused() {
    let fx = Fixture::new();
    let dir = fx.root.join("policy.d");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("50-bad.toml"), b"[[protect]]\npath = 42\n").unwrap();
    let mut cmd = sigward_cmd([
        OsStr::new("run"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
        OsStr::new("--control-socket"),
        OsStr::new("none"),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
        OsStr::new("--state-dir"),
        fx.root.join("fresh-state").as_os_str(),
    ]);
    cmd.env("SIGWARD_LOG_TARGET", "stderr");
    let fin = Proc::spawn(&mut cmd).wait(PROC_TIMEOUT);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("50-bad.toml:2"), "{fin}");
}

#[test]
fn a_refused_reload_is_reported_until_the_policy_on_disk_loads() {
    let fx = Fixture::new();
    let (agent, socket) = start(&fx, &[]);
    let dir = fx.root.join("policy.d");
    fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("50-bad.toml");
    fs::write(&bad, b"mode = \"sometimes\"\n").unwrap();
    let fin = try_reload(&fx, &socket);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let fin = status(&socket, Some("--prometheus"));
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stdout.contains("sigward_degraded 1"), "{fin}");
    assert!(
        fin.stdout.contains("sigward_last_reload_success 0"),
        "{fin}"
    );
    let rec = agent.wait_record("the record of the refused reload", |r| {
        is_msg(r, MSG_NOT_IN_FORCE)
    });
    assert!(
        rec.get("SIGWARD_FILE")
            .is_some_and(|f| f.ends_with("50-bad.toml")),
        "{rec:?}"
    );
    fs::remove_file(&bad).unwrap();
    assert!(try_reload(&fx, &socket).success());
    let fin = status(&socket, Some("--prometheus"));
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains("sigward_degraded 0"), "{fin}");
    assert!(
        fin.stdout.contains("sigward_last_reload_success 1"),
        "{fin}"
    );
}
