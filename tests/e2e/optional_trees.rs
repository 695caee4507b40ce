//! Optional trees (`required = false`): one policy for hosts that do not all
//! have every plugin directory.

use std::ffi::OsStr;
use std::fs;

use crate::harness::{is_msg, path_str, sigward, start, status, status_json, toml_str, Fixture};
use crate::openers::{expect_allowed, expect_eperm, python_open};

/// `MESSAGE_ID` of a policy warning.
const MSG_POLICY_WARNING: &str = sigward::ids::POLICY_WARNING;

#[test]
fn a_missing_optional_tree_is_reported_and_protected_from_the_reload_that_finds_it() {
    let fx = Fixture::new();
    let later = fx.root.join("later");
    let mut text = fx.policy_text("enforce", &[(&fx.plugins, None)]);
    text.push_str(&format!(
        "\n[[protect]]\npath = {}\nrequired = false\n",
        toml_str(&path_str(&later))
    ));
    fx.write_policy(&text);
    // `check` accepts it, with a warning.
    let fin = sigward([
        OsStr::new("check"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
    ]);
    assert!(fin.success(), "{fin}");
    assert!(
        format!("{}{}", fin.stdout, fin.stderr).contains("does not exist"),
        "{fin}"
    );
    let (agent, socket) = start(&fx, &[]);
    let v = status_json(&socket);
    assert_eq!(
        v["absent_trees"][0].as_str(),
        Some(path_str(&later).as_str()),
        "{v}"
    );
    assert_eq!(
        v["state"], "ok",
        "an absent optional tree is not a degraded state: {v}"
    );
    agent.wait_record("the warning about the absent tree", |r| {
        is_msg(r, MSG_POLICY_WARNING)
            && r.get("MESSAGE")
                .is_some_and(|m| m.contains(&path_str(&later)))
    });
    let prom = status(&socket, Some("--prometheus"));
    assert!(prom.stdout.contains("sigward_absent_trees 1"), "{prom}");
    // It appears (a package installs it): unprotected until the next reload.
    fs::create_dir_all(&later).unwrap();
    let evil = later.join("evil.py");
    fs::write(&evil, b"EVIL = 1\n").unwrap();
    expect_allowed(
        python_open(&evil),
        "an absent tree's file before the reload",
    );
    let fin = crate::harness::try_reload(&fx, &socket);
    assert!(fin.success(), "{fin}");
    expect_eperm(
        python_open(&evil),
        "an unsigned file in the tree the reload found",
    );
    let v = status_json(&socket);
    assert_eq!(v["absent_trees"].as_array().map(Vec::len), Some(0), "{v}");
}

#[test]
fn a_missing_required_tree_still_refuses_the_policy() {
    let fx = Fixture::new();
    let missing = fx.root.join("missing");
    let mut text = fx.policy_text("enforce", &[(&fx.plugins, None)]);
    text.push_str(&format!(
        "\n[[protect]]\npath = {}\nrequired = true\n",
        toml_str(&path_str(&missing))
    ));
    fx.write_policy(&text);
    let fin = sigward([
        OsStr::new("check"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
    ]);
    assert!(!fin.success(), "{fin}");
    assert!(fin.stderr.contains(&path_str(&missing)), "{fin}");
}
