//! `sigward status` as a table, `--json` and `--prometheus`: counts,
//! reasons, the last denials, the trees and their marked directories,
//! reloads.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::time::Duration;

use sigward_testkit::exposition;

use crate::harness::{
    allow_untrusted_writers, mkdirs, n, path_str, sigward, start, status, status_json, wait_until,
    write_file, Fixture,
};
use crate::openers::{cat, expect_allowed, expect_eperm, python_open};

#[test]
fn status_shows_counts_reasons_denials_and_marks() {
    let fx = Fixture::new();
    let audit_dir = fx.root.join("audited");
    mkdirs(&audit_dir.join("sub"));
    mkdirs(&fx.plugins.join("sub"));
    // Root's and read-only for others: kernel-cached after one verdict.
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    // Group-writable: every open reaches the agent, the second one hits
    // the userspace cache.
    let shared = fx.write_signed("shared.py", b"X = 'signed, group-writable'\n");
    crate::harness::chmod(&shared, 0o664);
    let bad = fx.write_unsigned("sub/bad.py", b"X = 'unsigned'\n");
    let tampered = fx.write_signed("tampered.py", b"X = 'original'\n");
    write_file(&tampered, b"X = 'changed after signing'\n");
    let empty = fx.write_unsigned("empty.py", b"");
    let audited = audit_dir.join("sub/loose.py");
    write_file(&audited, b"X = 'unsigned, audit mode'\n");
    // The group-writable file is verified, not refused as writable. Each
    // file is verified when it is opened, not ahead (the counts below are
    // exact).
    let text = allow_untrusted_writers(&fx.policy_text(
        "enforce",
        &[(&fx.plugins, None), (&audit_dir, Some("audit"))],
    ));
    fx.write_policy(&format!("{text}\n[agent]\nverify_ahead = 0\n"));
    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);

    expect_allowed(python_open(&good), "signed file");
    expect_allowed(python_open(&good), "signed file again (kernel-cached)");
    expect_allowed(python_open(&shared), "group-writable signed file");
    expect_allowed(
        python_open(&shared),
        "group-writable signed file again (cached)",
    );
    expect_eperm(python_open(&bad), "unsigned file");
    expect_eperm(python_open(&tampered), "tampered file");
    expect_allowed(cat(&empty), "empty file");
    expect_allowed(python_open(&audited), "unsigned file in the audit tree");

    let v = status_json(&socket);
    // One tree enforces, the other audits.
    assert_eq!(v["mode"], "mixed", "{v:#}");
    assert_eq!(v["policy"]["mode"], "enforce", "{v:#}");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{v:#}");
    assert_eq!(n(&v, &["pid"]), u64::try_from(agent.pid()).unwrap());
    assert_eq!(n(&v, &["policy", "generation"]), 1);
    assert_eq!(v["policy"]["file"], path_str(&fx.policy));
    assert!(n(&v, &["policy", "loaded_at"]) >= n(&v, &["started_at"]));
    assert_eq!(n(&v, &["verdicts", "deny"]), 2, "{v:#}");
    assert_eq!(n(&v, &["verdicts", "would-deny"]), 1, "{v:#}");
    assert_eq!(n(&v, &["reasons", "deny", "unsigned"]), 1, "{v:#}");
    assert_eq!(n(&v, &["reasons", "deny", "tampered"]), 1, "{v:#}");
    assert_eq!(n(&v, &["reasons", "deny", "untrusted"]), 0, "{v:#}");
    assert_eq!(n(&v, &["reasons", "would-deny", "unsigned"]), 1, "{v:#}");
    assert_eq!(n(&v, &["reasons", "allow", "verified"]), 2, "{v:#}");
    assert_eq!(n(&v, &["reasons", "allow", "cached"]), 1, "{v:#}");
    assert!(n(&v, &["reasons", "allow", "empty"]) >= 1, "{v:#}");
    assert!(n(&v, &["allows", "event_thread"]) >= 2, "{v:#}");
    assert_eq!(n(&v, &["allows", "worker"]), 2, "{v:#}");
    // good.py, and for reads only the three signature files the agent
    // read (good, shared and tampered: root's, read-only), each marked
    // before it was read.
    assert_eq!(n(&v, &["kernel_cache", "marks"]), 4, "{v:#}");
    assert_eq!(n(&v, &["kernel_cache", "placed"]), 4, "{v:#}");
    assert_eq!(n(&v, &["kernel_cache", "dropped"]), 0, "{v:#}");
    assert!(n(&v, &["events"]) >= 6, "{v:#}");
    assert!(n(&v, &["cache", "hits"]) >= 1, "{v:#}");
    assert!(n(&v, &["cache", "misses"]) >= 4, "{v:#}");
    assert!(n(&v, &["cache", "entries"]) >= 1, "{v:#}");
    assert_eq!(n(&v, &["cache", "capacity"]), 65_536, "{v:#}");
    assert_eq!(n(&v, &["queue", "depth"]), 0, "{v:#}");
    assert!(n(&v, &["queue", "max_depth"]) >= 1, "{v:#}");
    assert_eq!(n(&v, &["latency", "count"]), 5, "{v:#}");
    assert_eq!(n(&v, &["verifications", "run"]), 5, "{v:#}");
    assert_eq!(n(&v, &["verifications", "ahead"]), 0, "{v:#}");
    assert_eq!(n(&v, &["reloads", "ok"]), 0, "{v:#}");

    // Trees, with the directories marked in each.
    let trees = v["trees"].as_array().unwrap();
    let tree = |p: &Path| {
        trees
            .iter()
            .find(|t| t["path"] == path_str(p))
            .unwrap_or_else(|| panic!("no tree {} in {v:#}", p.display()))
    };
    assert_eq!(tree(&fx.plugins)["mode"], "enforce");
    assert_eq!(tree(&fx.plugins)["directories"], 2, "{v:#}");
    assert_eq!(tree(&audit_dir)["mode"], "audit");
    assert_eq!(tree(&audit_dir)["directories"], 2, "{v:#}");
    assert_eq!(n(&v, &["directories_marked"]), 4, "{v:#}");

    // The last denials, newest first, with the opener.
    let denials = v["last_denials"].as_array().unwrap();
    assert_eq!(denials.len(), 3, "{v:#}");
    assert_eq!(denials[0]["path"], path_str(&audited), "{v:#}");
    assert_eq!(denials[0]["decision"], "would-deny");
    assert_eq!(denials[1]["path"], path_str(&tampered));
    assert_eq!(denials[1]["reason"], "tampered");
    assert_eq!(denials[2]["path"], path_str(&bad));
    assert_eq!(denials[2]["decision"], "deny");
    assert_eq!(denials[2]["reason"], "unsigned");
    assert!(
        denials[2]["exe"]
            .as_str()
            .unwrap_or_default()
            .contains("python"),
        "{v:#}"
    );
    assert!(n(&denials[2], &["pid"]) > 0);
    assert!(n(&denials[2], &["time"]) >= n(&v, &["started_at"]));

    // A new directory is marked and counted in its tree.
    let newdir = fx.plugins.join("new");
    mkdirs(&newdir);
    agent.wait_marked(&[&newdir]);
    let plugins_dirs = || {
        let v = status_json(&socket);
        v["trees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["path"] == path_str(&fx.plugins))
            .map(|t| n(t, &["directories"]))
    };
    wait_until("the new directory counted", Duration::from_secs(10), || {
        plugins_dirs() == Some(3)
    });

    // The table.
    let fin = status(&socket, None);
    assert_eq!(fin.code(), Some(0), "{fin}");
    for want in [
        "mode          mixed".to_string(),
        format!("{}, generation 1", path_str(&fx.policy)),
        format!("{}  audit", path_str(&audit_dir)),
        "2 directories marked".into(),
        "deny 2, would-deny 1".into(),
        "unsigned 1".into(),
        "tampered 1".into(),
        "65536 verdicts".into(),
        "last denials (newest first)".into(),
        path_str(&bad),
        "0 applied, 0 refused".into(),
    ] {
        assert!(fin.stdout.contains(&want), "missing {want:?} in\n{fin}");
    }

    // The Prometheus text.
    let fin = status(&socket, Some("--prometheus"));
    assert_eq!(fin.code(), Some(0), "{fin}");
    let samples = exposition::check(&fin.stdout);
    let get = |k: &str| {
        *samples
            .get(k)
            .unwrap_or_else(|| panic!("no sample {k} in\n{}", fin.stdout))
    };
    assert_eq!(get("sigward_verdicts_total{decision=\"deny\"}"), 2.0);
    assert_eq!(get("sigward_verdicts_total{decision=\"would-deny\"}"), 1.0);
    assert_eq!(
        get("sigward_verdict_reasons_total{decision=\"deny\",reason=\"unsigned\"}"),
        1.0
    );
    assert_eq!(
        get("sigward_verdict_reasons_total{decision=\"deny\",reason=\"tampered\"}"),
        1.0
    );
    assert_eq!(
        get("sigward_verdict_reasons_total{decision=\"would-deny\",reason=\"unsigned\"}"),
        1.0
    );
    assert_eq!(get("sigward_policy_generation"), 1.0);
    assert_eq!(get("sigward_mode{mode=\"mixed\"}"), 1.0);
    assert_eq!(get("sigward_mode{mode=\"enforce\"}"), 0.0);
    assert_eq!(
        get(&format!(
            "sigward_tree_mode{{tree={:?},mode=\"audit\"}}",
            path_str(&audit_dir)
        )),
        1.0
    );
    assert_eq!(get("sigward_verification_duration_seconds_count"), 5.0);
    assert_eq!(get("sigward_kernel_cache_marks"), 4.0);
    assert_eq!(get("sigward_queue_depth"), 0.0);
    assert_eq!(
        get(&format!(
            "sigward_tree_directories{{tree={:?},mode=\"audit\"}}",
            path_str(&audit_dir)
        )),
        2.0
    );
    assert!(get("sigward_events_total") >= 6.0);
    assert!(get("sigward_uptime_seconds") >= 0.0);

    // Reloads, applied and refused, are counted; a refused one keeps the
    // generation.
    let reload = || {
        sigward([
            OsStr::new("reload"),
            OsStr::new("--control-socket"),
            socket.as_os_str(),
            OsStr::new("--pid-file"),
            OsStr::new("none"),
        ])
    };
    assert_eq!(reload().code(), Some(0));
    let policy = fs::read_to_string(&fx.policy).unwrap();
    fx.write_policy(&format!("{policy}\nnot_a_key = 1\n"));
    assert_eq!(reload().code(), Some(1));
    let v = status_json(&socket);
    assert_eq!(n(&v, &["reloads", "ok"]), 1, "{v:#}");
    assert_eq!(n(&v, &["reloads", "failed"]), 1, "{v:#}");
    assert_eq!(n(&v, &["policy", "generation"]), 2, "{v:#}");
    let kept = v["trees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["path"] == path_str(&fx.plugins))
        .cloned()
        .unwrap();
    assert_eq!(kept["directories"], 3, "a reload keeps the count: {v:#}");
    drop(agent);

    // No agent: exit 2.
    let fin = status(&fx.root.join("nothing.sock"), None);
    assert_eq!(fin.code(), Some(2), "{fin}");
    assert!(fin.stderr.contains("no agent answers"), "{fin}");
}
