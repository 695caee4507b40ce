//! audit / off modes, per-directory overrides, and the audit records in the
//! journal and on stderr.

use std::path::Path;

use crate::harness::{
    ensure_journald, expect_field, expect_field_present, mkdirs, path_str, sha256_hex, sig_path,
    wait_journal_record, write_file, Agent, Fixture, Record, MSG_DENY, MSG_READY, MSG_WOULD_DENY,
};
use crate::openers::{
    cat, exec_path, expect_allowed, expect_eperm, python_import, python_open, python_open_detailed,
    Opened,
};

/// `journalctl ... SYSLOG_IDENTIFIER=sigward SIGWARD_PATH=<path>` for a
/// record with the given decision, waiting up to 10 s.
fn journal_record_for(path: &Path, decision: &str) -> Record {
    wait_journal_record(
        &format!("decision {decision} for {}", path.display()),
        &[
            "SYSLOG_IDENTIFIER=sigward".to_string(),
            format!("SIGWARD_PATH={}", path_str(path)),
        ],
        |r| r.get("SIGWARD_DECISION").map(String::as_str) == Some(decision),
    )
}

/// Fields every deny / would-deny record must carry.
/// `sha` is the file's SHA-256, computed before the agent started (with an
/// enforcing agent running, sha256sum itself could not read the file).
fn check_decision_record(
    rec: &Record,
    path: &Path,
    sha: &str,
    opened: &Opened,
    decision: &str,
    reason: &str,
    mode: &str,
) {
    expect_field(rec, "SYSLOG_IDENTIFIER", "sigward");
    expect_field(rec, "SIGWARD_DECISION", decision);
    expect_field(
        rec,
        "MESSAGE_ID",
        if decision == "deny" {
            MSG_DENY
        } else {
            MSG_WOULD_DENY
        },
    );
    expect_field(rec, "SIGWARD_REASON", reason);
    expect_field(rec, "SIGWARD_PATH", &path_str(path));
    expect_field(rec, "SIGWARD_PID", &opened.pid.to_string());
    expect_field(rec, "SIGWARD_EXE", &opened.exe);
    expect_field(rec, "SIGWARD_UID", "0");
    expect_field(rec, "SIGWARD_SHA256", sha);
    expect_field(rec, "SIGWARD_MODE", mode);
    expect_field(rec, "SIGWARD_SIG_PATH", &path_str(&sig_path(path)));
    expect_field_present(rec, "MESSAGE");
    // When the decision was made: RFC 3339, within the last minute.
    let time = rec.get("SIGWARD_TIME").map(String::as_str).unwrap_or("");
    let made = humantime::parse_rfc3339(time)
        .unwrap_or_else(|e| panic!("SIGWARD_TIME {time:?} is not RFC 3339 ({e}): {rec:?}"));
    let age = std::time::SystemTime::now()
        .duration_since(made)
        .unwrap_or_else(|e| panic!("SIGWARD_TIME {time:?} is in the future ({e})"));
    assert!(age.as_secs() < 60, "SIGWARD_TIME {time:?} is {age:?} old");
}

#[test]
fn audit_mode_allows_unsigned_and_journals_would_deny() {
    ensure_journald();
    let fx = Fixture::with_mode("audit");
    let bad = fx.write_unsigned("audited.py", b"X = 'unsigned but audited'\n");
    let tampered = fx.write_signed("tampered.py", b"X = 1\n");
    std::fs::write(&tampered, b"X = 2\n").unwrap();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let sha = sha256_hex(&bad);

    let _agent = fx.start_agent();

    let opened = python_open_detailed(&bad);
    expect_allowed(opened.outcome, "unsigned file in audit mode");
    expect_allowed(
        python_import(&fx.plugins, "audited"),
        "import in audit mode",
    );
    expect_allowed(cat(&bad), "cat in audit mode");
    let opened_t = python_open_detailed(&tampered);
    expect_allowed(opened_t.outcome, "tampered file in audit mode");
    expect_allowed(python_open(&good), "signed file in audit mode");

    let rec = journal_record_for(&bad, "would-deny");
    check_decision_record(&rec, &bad, &sha, &opened, "would-deny", "unsigned", "audit");
    let rec = journal_record_for(&tampered, "would-deny");
    expect_field(&rec, "SIGWARD_REASON", "tampered");
    expect_field(&rec, "MESSAGE_ID", MSG_WOULD_DENY);
    expect_field(&rec, "SIGWARD_PID", &opened_t.pid.to_string());
}

#[test]
fn enforce_mode_journals_deny() {
    ensure_journald();
    let fx = Fixture::new();
    let bad = fx.write_unsigned("denied.py", b"X = 'unsigned'\n");
    let tampered = fx.write_signed("tampered.py", b"X = 1\n");
    std::fs::write(&tampered, b"X = 2\n").unwrap();
    let sha = sha256_hex(&bad);
    let sha_t = sha256_hex(&tampered);

    let _agent = fx.start_agent();

    let opened = python_open_detailed(&bad);
    expect_eperm(opened.outcome, "unsigned file in enforce mode");
    let rec = journal_record_for(&bad, "deny");
    check_decision_record(&rec, &bad, &sha, &opened, "deny", "unsigned", "enforce");

    let opened_t = python_open_detailed(&tampered);
    expect_eperm(opened_t.outcome, "tampered file in enforce mode");
    let rec = journal_record_for(&tampered, "deny");
    check_decision_record(
        &rec, &tampered, &sha_t, &opened_t, "deny", "tampered", "enforce",
    );
    // The signature names its key, so the key is known here.
    expect_field(&rec, "SIGWARD_KEY", &fx.fingerprint);
}

#[test]
fn per_directory_audit_override_under_global_enforce() {
    ensure_journald();
    let fx = Fixture::new();
    let audited_dir = fx.root.join("audited");
    mkdirs(&audited_dir);
    fx.write_policy(&fx.policy_text(
        "enforce",
        &[(&fx.plugins, None), (&audited_dir, Some("audit"))],
    ));
    let in_audit = audited_dir.join("lenient.py");
    write_file(&in_audit, b"X = 'unsigned, audited dir'\n");
    let in_enforce = fx.write_unsigned("strict.py", b"X = 'unsigned, enforced dir'\n");
    let sha_a = sha256_hex(&in_audit);
    let sha_e = sha256_hex(&in_enforce);

    let _agent = fx.start_agent();

    let opened_a = python_open_detailed(&in_audit);
    expect_allowed(
        opened_a.outcome,
        "unsigned file under a mode = \"audit\" override",
    );
    expect_allowed(
        python_import(&audited_dir, "lenient"),
        "import under the audit override",
    );
    let opened_e = python_open_detailed(&in_enforce);
    expect_eperm(opened_e.outcome, "unsigned file in the enforced directory");
    expect_eperm(
        python_import(&fx.plugins, "strict"),
        "import from the enforced directory",
    );

    let rec = journal_record_for(&in_audit, "would-deny");
    check_decision_record(
        &rec,
        &in_audit,
        &sha_a,
        &opened_a,
        "would-deny",
        "unsigned",
        "audit",
    );
    let rec = journal_record_for(&in_enforce, "deny");
    check_decision_record(
        &rec,
        &in_enforce,
        &sha_e,
        &opened_e,
        "deny",
        "unsigned",
        "enforce",
    );
}

#[test]
fn stderr_fallback_writes_json_records() {
    let fx = Fixture::with_mode("audit");
    let bad = fx.write_unsigned("audited.py", b"X = 'unsigned'\n");
    let sha = sha256_hex(&bad);

    let agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);

    let ready = agent.wait_record("ready on stderr", |r| {
        r.get("MESSAGE_ID").map(String::as_str) == Some(MSG_READY)
    });
    expect_field(&ready, "SYSLOG_IDENTIFIER", "sigward");

    let opened = python_open_detailed(&bad);
    expect_allowed(opened.outcome, "unsigned file in audit mode");
    let bad_s = path_str(&bad);
    let rec = agent.wait_record("would-deny on stderr", |r| {
        r.get("SIGWARD_PATH") == Some(&bad_s)
            && r.get("SIGWARD_DECISION").map(String::as_str) == Some("would-deny")
    });
    check_decision_record(&rec, &bad, &sha, &opened, "would-deny", "unsigned", "audit");
    // Forced to stderr: nothing from this agent may go to the journal.
    assert!(
        agent.journal_records().is_empty(),
        "SIGWARD_LOG_TARGET=stderr, yet records reached the journal: {:?}",
        agent.journal_records()
    );
}

#[test]
fn stderr_fallback_deny_record_in_enforce_mode() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("denied.py", b"X = 'unsigned'\n");
    let sha = sha256_hex(&bad);
    let agent: Agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);

    let opened = python_open_detailed(&bad);
    expect_eperm(opened.outcome, "unsigned file in enforce mode");
    let bad_s = path_str(&bad);
    let rec = agent.wait_record("deny on stderr", |r| {
        r.get("SIGWARD_PATH") == Some(&bad_s)
            && r.get("SIGWARD_DECISION").map(String::as_str) == Some("deny")
    });
    check_decision_record(&rec, &bad, &sha, &opened, "deny", "unsigned", "enforce");
}

#[test]
fn off_mode_allows_everything() {
    let fx = Fixture::with_mode("off");
    let bad = fx.write_unsigned("unsigned.py", b"X = 'unsigned'\n");
    let tampered = fx.write_signed("tampered.py", b"X = 1\n");
    std::fs::write(&tampered, b"X = 2\n").unwrap();
    let script = fx.write_unsigned_mode("run.sh", b"#!/bin/sh\nexit 0\n", 0o755);

    let mut agent = fx.start_agent();

    expect_allowed(python_open(&bad), "unsigned file in off mode");
    expect_allowed(python_import(&fx.plugins, "unsigned"), "import in off mode");
    expect_allowed(cat(&tampered), "tampered file in off mode");
    expect_allowed(exec_path(&script), "unsigned script in off mode");
    agent.assert_alive("after opens in off mode");
}
