//! SIGHUP reloads (refusing invalid policies) and SIGTERM shutdown.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    is_msg, mkdirs, path_str, toml_str, write_file, Fixture, Proc, MIB, MSG_RELOAD_FAILED,
    MSG_RELOAD_OK, PROC_TIMEOUT,
};
use crate::openers::{
    expect_allowed, expect_eperm, python_import, python_open, python_open_cmd, Outcome, EPERM,
};

#[test]
fn sighup_with_invalid_policy_keeps_the_old_one() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let mut agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);

    expect_allowed(python_open(&good), "signed file before reload");
    expect_eperm(python_open(&bad), "unsigned file before reload");

    let key = toml_str(&path_str(&fx.pubkey));
    let dir = toml_str(&path_str(&fx.plugins));
    // Each broken policy would relax enforcement if (partly) applied.
    let broken = [
        (
            "TOML syntax error",
            format!("mode = \"off\"\n[trust\nkeys = [{key}]\n[[protect]]\npath = {dir}\n"),
        ),
        (
            "unknown key",
            format!(
                "mode = \"audit\"\nno_such_setting = true\n[trust]\nkeys = [{key}]\n\
                 [[protect]]\npath = {dir}\n"
            ),
        ),
        (
            "unknown mode",
            format!("mode = \"permissive\"\n[trust]\nkeys = [{key}]\n[[protect]]\npath = {dir}\n"),
        ),
        (
            "missing trusted key file",
            format!(
                "mode = \"audit\"\n[trust]\nkeys = [{}]\n[[protect]]\npath = {dir}\n",
                toml_str(&path_str(&fx.root.join("keys/missing.pub")))
            ),
        ),
    ];
    for (i, (what, text)) in broken.iter().enumerate() {
        fx.write_policy(text);
        agent.signal(libc::SIGHUP);
        agent.wait_records(&format!("reload-failed after {what}"), i + 1, |r| {
            is_msg(r, MSG_RELOAD_FAILED)
        });
        agent.assert_alive(&format!("after SIGHUP with an invalid policy ({what})"));
        expect_eperm(
            python_open(&bad),
            &format!("unsigned file after refused reload ({what})"),
        );
        expect_eperm(
            python_import(&fx.plugins, "bad"),
            &format!("import of unsigned module after refused reload ({what})"),
        );
        expect_allowed(
            python_open(&good),
            &format!("signed file after refused reload ({what})"),
        );
    }
    assert_eq!(
        agent.count_records(|r| is_msg(r, MSG_RELOAD_OK)),
        0,
        "an invalid policy was reported as reloaded"
    );
}

#[test]
fn sighup_with_valid_policy_takes_effect() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let extra = fx.root.join("extra");
    mkdirs(&extra);
    let extra_bad = extra.join("rogue.py");
    write_file(&extra_bad, b"X = 'unsigned, not yet protected'\n");

    let mut agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);
    expect_eperm(python_open(&bad), "unsigned file before reload");
    expect_allowed(python_open(&extra_bad), "file in a not yet protected dir");

    // enforce -> audit
    fx.set_mode("audit");
    agent.signal(libc::SIGHUP);
    agent.wait_records("reload-ok (audit)", 1, |r| is_msg(r, MSG_RELOAD_OK));
    expect_allowed(python_open(&bad), "unsigned file after reload to audit");
    expect_allowed(
        python_import(&fx.plugins, "bad"),
        "import after reload to audit",
    );
    expect_allowed(python_open(&good), "signed file after reload to audit");

    // audit -> enforce, now also protecting extra/
    fx.write_policy(&fx.policy_text("enforce", &[(&fx.plugins, None), (&extra, None)]));
    agent.signal(libc::SIGHUP);
    agent.wait_records("reload-ok (enforce + extra)", 2, |r| {
        is_msg(r, MSG_RELOAD_OK)
    });
    agent.wait_marked(&[&extra]);
    expect_eperm(
        python_open(&bad),
        "unsigned file after reload back to enforce",
    );
    expect_eperm(
        python_open(&extra_bad),
        "unsigned file in a newly protected dir",
    );
    expect_allowed(
        python_open(&good),
        "signed file after reload back to enforce",
    );

    // ... and no longer protecting plugins/ at all.
    fx.write_policy(&fx.policy_text("enforce", &[(&extra, None)]));
    agent.signal(libc::SIGHUP);
    agent.wait_records("reload-ok (extra only)", 3, |r| is_msg(r, MSG_RELOAD_OK));
    expect_allowed(
        python_open(&bad),
        "unsigned file in a dir no longer protected",
    );
    expect_eperm(
        python_open(&extra_bad),
        "unsigned file in extra/ still protected",
    );
    agent.assert_alive("after three reloads");
}

#[test]
fn sigterm_exits_zero_and_leaves_no_blocked_opener() {
    let fx = Fixture::new();
    let big = fx.write_signed_sparse("big.bin", 512 * MIB);
    let bad = fx.write_unsigned("bad.py", b"X = 1\n");
    let mut agent = fx.start_agent();
    expect_eperm(python_open(&bad), "unsigned file before SIGTERM");

    // Several openers of a large file: verifying it takes a while, so their
    // permission events are still pending when SIGTERM arrives.
    let mut openers: Vec<Proc> = (0..4)
        .map(|_| Proc::spawn(&mut python_open_cmd(&big)))
        .collect();
    let start = Instant::now();
    while !openers.iter().all(|p| p.stdout_so_far().contains("BEGIN")) {
        if start.elapsed() > PROC_TIMEOUT {
            let states: Vec<String> = openers
                .iter()
                .map(|p| {
                    format!(
                        "pid {}: {} {}",
                        p.pid(),
                        p.stdout_so_far(),
                        p.stderr_so_far()
                    )
                })
                .collect();
            panic!("openers did not start within {PROC_TIMEOUT:?}: {states:#?}");
        }
        thread::sleep(Duration::from_millis(2));
    }
    thread::sleep(Duration::from_millis(30));
    let pending = openers
        .iter_mut()
        .map(|p| !p.has_exited())
        .filter(|&still| still)
        .count();

    agent.signal(libc::SIGTERM);
    let status = agent.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "agent exit status after SIGTERM is {status} (expected exit code 0)\n--- stderr ---\n{}",
        agent.stderr_text()
    );

    for p in openers.drain(..) {
        let fin = p.wait(PROC_TIMEOUT);
        let last = fin.stdout.lines().last().unwrap_or("").trim().to_string();
        assert!(
            last == "OK" || last == format!("ERRNO {EPERM}"),
            "opener finished oddly:\n{fin}"
        );
    }
    eprintln!("{pending} of 4 openers were still pending at SIGTERM");

    // No agent any more: everything opens.
    assert_eq!(python_open(&bad), Outcome::Ok, "after the agent exited");
}

#[test]
fn sigint_exits_zero() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 1\n");
    let mut agent = fx.start_agent();
    expect_allowed(python_open(&good), "signed file before SIGINT");
    agent.signal(libc::SIGINT);
    let status = agent.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "agent exit status after SIGINT is {status} (expected exit code 0)"
    );
}
