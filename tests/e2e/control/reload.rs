//! `sigward reload` over the control socket (a valid policy applied, a
//! broken one refused), and its fallback to SIGHUP through the pid file.

use std::ffi::OsStr;
use std::fs;

use super::{all_output, generation, request, Ctl};
use crate::harness::{
    is_msg, path_str, sigward, toml_str, write_file, Agent, Fixture, MSG_RELOAD_OK,
};
use crate::openers::{expect_allowed, expect_eperm, python_open};

#[test]
fn reload_over_the_socket_applies_a_valid_policy() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let ctl = Ctl::in_dir(&fx.root);
    let agent = ctl.start(&fx);
    expect_eperm(python_open(&bad), "unsigned file before the reload");
    assert_eq!(generation(&ctl.socket), 1);

    fx.set_mode("audit");
    let fin = ctl.reload();
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert_eq!(fin.stdout.trim(), "reloaded: generation 2", "{fin}");
    // The answer comes once the new policy is in force: no waiting.
    expect_allowed(python_open(&bad), "unsigned file after the reload to audit");
    assert_eq!(generation(&ctl.socket), 2);
    agent.wait_record("reload-ok generation 2", |r| {
        is_msg(r, MSG_RELOAD_OK) && r.get("SIGWARD_GENERATION").map(String::as_str) == Some("2")
    });

    // And back: the cache never serves the audit-mode verdict.
    fx.set_mode("enforce");
    let fin = ctl.reload();
    assert_eq!(fin.stdout.trim(), "reloaded: generation 3", "{fin}");
    expect_eperm(
        python_open(&bad),
        "unsigned file after the reload to enforce",
    );
}

#[test]
fn reload_over_the_socket_refuses_a_broken_policy() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let ctl = Ctl::in_dir(&fx.root);
    let mut agent = ctl.start(&fx);

    // Would relax enforcement if it were (partly) applied.
    fx.write_policy(&format!(
        "mode = \"audit\"\nno_such_setting = true\n[trust]\nkeys = [{}]\n[[protect]]\npath = {}\n",
        toml_str(&path_str(&fx.pubkey)),
        toml_str(&path_str(&fx.plugins))
    ));
    let fin = ctl.reload();
    assert_eq!(fin.code(), Some(1), "{fin}");
    let out = all_output(&fin);
    let file_line = format!("{}:2:", path_str(&fx.policy));
    assert!(out.contains(&file_line), "expected {file_line} in\n{fin}");
    assert!(out.contains("no_such_setting"), "{fin}");
    assert!(out.contains("generation 1 stays in force"), "{fin}");
    assert!(!fin.stdout.contains("reloaded"), "{fin}");

    agent.assert_alive("after a refused reload over the socket");
    expect_eperm(python_open(&bad), "unsigned file after the refused reload");
    expect_allowed(python_open(&good), "signed file after the refused reload");
    assert_eq!(generation(&ctl.socket), 1);

    // The raw answer carries the error and the generation in force.
    let a = request(&ctl.socket, b"reload\n");
    assert_eq!(a["ok"], false, "{a}");
    assert_eq!(a["generation"], 1, "{a}");
    let err = a["error"].as_str().unwrap_or_default();
    assert!(err.starts_with(&file_line), "{a}");
}

#[test]
fn reload_falls_back_to_sighup_through_the_pid_file() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let ctl = Ctl::in_dir(&fx.root);
    let agent = Agent::start_with_env_args(
        &fx.policy,
        &[("SIGWARD_LOG_TARGET", "stderr")],
        &[
            OsStr::new("--control-socket"),
            OsStr::new("none"),
            OsStr::new("--pid-file"),
            ctl.pid_file.as_os_str(),
        ],
    );
    assert!(!ctl.socket.exists(), "--control-socket none made a socket");
    let pid_text = fs::read_to_string(&ctl.pid_file).unwrap();
    assert_eq!(pid_text, format!("{}\n", agent.pid()));
    expect_eperm(python_open(&bad), "unsigned file before the reload");

    fx.set_mode("audit");
    let fin = ctl.reload();
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains("SIGHUP"), "{fin}");
    assert!(fin.stdout.contains(&agent.pid().to_string()), "{fin}");
    assert!(fin.stdout.contains("journal"), "{fin}");
    agent.wait_record("reload-ok after SIGHUP from sigward reload", |r| {
        is_msg(r, MSG_RELOAD_OK)
    });
    expect_allowed(python_open(&bad), "unsigned file after the reload to audit");

    // Neither socket nor pid file: no agent.
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        fx.root.join("nothing.sock").as_os_str(),
        OsStr::new("--pid-file"),
        fx.root.join("nothing.pid").as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(2), "{fin}");
    assert!(fin.stderr.contains("no agent"), "{fin}");

    // A pid file naming a process that is not sigward: never signalled.
    let stale = fx.root.join("stale.pid");
    write_file(&stale, format!("{}\n", std::process::id()).as_bytes());
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        OsStr::new("none"),
        OsStr::new("--pid-file"),
        stale.as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(2), "{fin}");
    assert!(fin.stderr.contains("not a running sigward"), "{fin}");
}
