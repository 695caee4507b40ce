//! The alerting rules shipped in packaging/sigward.rules.yml: valid for
//! promtool, firing per host as tests/alerts/sigward.test.yml expects, and
//! naming only metrics the agent exports.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::{run, start, status, Fixture, PROC_TIMEOUT};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn promtool(args: &[&OsStr]) -> crate::harness::Finished {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok(),
        "promtool is missing: install Debian's prometheus package (.ci/run does)"
    );
    run(Command::new("promtool").args(args), PROC_TIMEOUT)
}

#[test]
fn the_rules_pass_promtool_and_their_unit_tests() {
    let rules = repo().join("packaging/sigward.rules.yml");
    let fin = promtool(&[OsStr::new("check"), OsStr::new("rules"), rules.as_os_str()]);
    assert!(fin.success(), "{fin}");
    let tests = repo().join("tests/alerts/sigward.test.yml");
    let fin = promtool(&[OsStr::new("test"), OsStr::new("rules"), tests.as_os_str()]);
    assert!(fin.success(), "{fin}");
}

#[test]
fn the_rules_name_only_metrics_the_agent_exports() {
    let text = std::fs::read_to_string(repo().join("packaging/sigward.rules.yml")).unwrap();
    let used: BTreeSet<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("sigward_"))
        .map(str::to_string)
        .collect();
    assert!(used.len() >= 8, "{used:?}");
    let fx = Fixture::new();
    let (_agent, socket) = start(&fx, &[]);
    // After one reload, the last reload's metrics exist too.
    let fin = crate::harness::try_reload(&fx, &socket);
    assert!(fin.success(), "{fin}");
    let prom = status(&socket, Some("--prometheus"));
    let exported: BTreeSet<&str> = prom
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for m in &used {
        assert!(
            exported.contains(m.as_str()),
            "the rules use {m}, which the agent does not export:\n{}",
            prom.stdout
        );
    }
}
