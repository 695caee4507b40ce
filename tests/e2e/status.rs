//! `sigward status` (table, `--json`, `--prometheus`), the metrics file,
//! `sigward scan`, and the systemd watchdog.
//!
//! Every agent here gets its control socket, pid file and metrics file
//! inside its fixture's temporary directory.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::Value;
use sigward_testkit::exposition;

use crate::harness::{
    allow_untrusted_writers, keygen, mkdirs, n, path_str, sha256_hex, sign_with, sigward, start,
    status, status_json, toml_str, wait_until, write_file, Fixture,
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
    // The group-writable file is verified, not refused as writable.
    fx.write_policy(&allow_untrusted_writers(&fx.policy_text(
        "enforce",
        &[(&fx.plugins, None), (&audit_dir, Some("audit"))],
    )));
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
    assert_eq!(v["mode"], "enforce", "{v:#}");
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
    assert_eq!(n(&v, &["kernel_cache", "marks"]), 1, "{v:#}");
    assert_eq!(n(&v, &["kernel_cache", "placed"]), 1, "{v:#}");
    assert_eq!(n(&v, &["kernel_cache", "dropped"]), 0, "{v:#}");
    assert!(n(&v, &["events"]) >= 6, "{v:#}");
    assert!(n(&v, &["cache", "hits"]) >= 1, "{v:#}");
    assert!(n(&v, &["cache", "misses"]) >= 4, "{v:#}");
    assert!(n(&v, &["cache", "entries"]) >= 1, "{v:#}");
    assert_eq!(n(&v, &["cache", "capacity"]), 65_536, "{v:#}");
    assert_eq!(n(&v, &["queue", "depth"]), 0, "{v:#}");
    assert!(n(&v, &["queue", "max_depth"]) >= 1, "{v:#}");
    assert_eq!(n(&v, &["latency", "count"]), 5, "{v:#}");
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
        "mode          enforce".to_string(),
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
    assert_eq!(get("sigward_mode{mode=\"enforce\"}"), 1.0);
    assert_eq!(get("sigward_verification_duration_seconds_count"), 5.0);
    assert_eq!(get("sigward_kernel_cache_marks"), 1.0);
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

fn metrics_policy(fx: &Fixture, metrics_file: &Path, interval: u64) -> String {
    format!(
        "{}\n[agent]\nmetrics_file = {}\nmetrics_interval = {interval}\n",
        fx.policy_text("enforce", &[(&fx.plugins, None)]),
        toml_str(&path_str(metrics_file))
    )
}

#[test]
fn metrics_file_is_replaced_atomically_and_follows_reloads() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let dir = fx.root.join("textfile");
    mkdirs(&dir);
    let prom = dir.join("sigward.prom");
    fx.write_policy(&metrics_policy(&fx, &prom, 1));
    let (mut agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    wait_until("metrics file written", Duration::from_secs(10), || {
        prom.exists()
    });
    let samples = exposition::check(&fs::read_to_string(&prom).unwrap());
    assert_eq!(samples.get("sigward_policy_generation"), Some(&1.0));

    // New counts show up within an interval or two.
    expect_eperm(python_open(&bad), "unsigned file");
    wait_until("deny counted in the file", Duration::from_secs(10), || {
        exposition::check(&fs::read_to_string(&prom).unwrap())
            .get("sigward_verdicts_total{decision=\"deny\"}")
            == Some(&1.0)
    });

    // Readers never see part of a file while it is rewritten: every read
    // is a whole, valid exposition. Reloads rewrite it at once, on top of
    // the interval.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let prom = prom.clone();
        thread::spawn(move || {
            let mut reads = 0u64;
            let mut seen = HashSet::new();
            while !stop.load(Ordering::SeqCst) {
                let text = fs::read_to_string(&prom)
                    .unwrap_or_else(|e| panic!("metrics file missing during a rewrite: {e}"));
                let samples = exposition::check(&text);
                assert!(
                    samples.contains_key("sigward_event_loop_heartbeat_age_seconds"),
                    "truncated metrics file:\n{text}"
                );
                seen.insert(
                    samples
                        .get("sigward_policy_generation")
                        .copied()
                        .unwrap_or(0.0) as u64,
                );
                reads += 1;
            }
            (reads, seen)
        })
    };
    for _ in 0..8 {
        let fin = sigward([
            OsStr::new("reload"),
            OsStr::new("--control-socket"),
            socket.as_os_str(),
            OsStr::new("--pid-file"),
            OsStr::new("none"),
        ]);
        assert_eq!(fin.code(), Some(0), "{fin}");
        thread::sleep(Duration::from_millis(150));
    }
    thread::sleep(Duration::from_millis(1200));
    stop.store(true, Ordering::SeqCst);
    let (reads, generations) = reader.join().unwrap();
    assert!(reads > 50, "only {reads} reads");
    assert!(
        generations.len() >= 3,
        "the file was not rewritten on reloads: generations seen {generations:?}"
    );
    let left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["sigward.prom".to_string()],
        "temporary files left"
    );

    // The status names the file.
    let v = status_json(&socket);
    assert_eq!(v["metrics_file"]["path"], path_str(&prom), "{v:#}");
    assert_eq!(v["metrics_file"]["interval_seconds"], 1);
    assert_eq!(v["metrics_file"]["write_errors"], 0);

    // A new path on reload: written there at once, the old file removed.
    let dir2 = fx.root.join("textfile2");
    mkdirs(&dir2);
    let prom2 = dir2.join("agent.prom");
    fx.write_policy(&metrics_policy(&fx, &prom2, 3600));
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    wait_until(
        "metrics file at its new path",
        Duration::from_secs(5),
        || prom2.exists() && !prom.exists(),
    );
    let samples = exposition::check(&fs::read_to_string(&prom2).unwrap());
    assert_eq!(samples.get("sigward_policy_generation"), Some(&10.0));

    // A directory that does not exist: logged, counted, verdicts unaffected.
    let missing = fx.root.join("no-such-dir/x.prom");
    fx.write_policy(&metrics_policy(&fx, &missing, 1));
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    wait_until("write error counted", Duration::from_secs(10), || {
        n(&status_json(&socket), &["metrics_file", "write_errors"]) >= 2
    });
    expect_eperm(python_open(&bad), "unsigned file while metrics fail");
    let errors = agent
        .stderr_text()
        .matches("cannot write metrics file")
        .count();
    assert_eq!(errors, 1, "the error is logged once, then rate-limited");

    // Back to a good path; at shutdown the file is written a last time.
    fx.write_policy(&metrics_policy(&fx, &prom, 3600));
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    wait_until("metrics file back", Duration::from_secs(5), || {
        prom.exists()
    });
    expect_eperm(python_open(&bad), "unsigned file again");
    agent.signal(libc::SIGTERM);
    assert!(agent.wait_exit(Duration::from_secs(20)).success());
    let samples = exposition::check(&fs::read_to_string(&prom).unwrap());
    assert_eq!(
        samples.get("sigward_verdicts_total{decision=\"deny\"}"),
        Some(&3.0),
        "the last write holds the final counts"
    );
}

#[test]
fn scan_reports_every_file_with_the_agents_verdict() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let deep = fx.write_signed("sub/deeper/deep.py", b"D = 1\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let tampered = fx.write_signed("tampered.py", b"X = 'original'\n");
    write_file(&tampered, b"X = 'changed'\n");
    let other = keygen(&fx.root.join("keys/other"));
    let untrusted = fx.path("untrusted.py");
    write_file(&untrusted, b"X = 'signed by an untrusted key'\n");
    sign_with(&fx.root.join("keys/other.key"), &untrusted);
    let empty = fx.write_unsigned("empty.py", b"");
    let link = fx.path("link.py");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    // An AiSOC plugin: its manifest and plugin.sig are not listed.
    let plugin = fx.path("enricher");
    write_file(
        &plugin.join("plugin.yaml"),
        b"name: enricher\nversion: 1.0\n",
    );
    write_file(&plugin.join("main.py"), b"def run(): return 1\n");
    let fin = sigward([
        OsStr::new("sign"),
        OsStr::new("--bundle"),
        plugin.as_os_str(),
        OsStr::new("--key"),
        fx.key.as_os_str(),
    ]);
    assert!(fin.success(), "{fin}");

    let scan = |extra: &[&OsStr]| {
        let mut args = vec![
            OsStr::new("scan"),
            OsStr::new("--policy"),
            fx.policy.as_os_str(),
        ];
        args.extend_from_slice(extra);
        sigward(args)
    };

    let fin = scan(&[OsStr::new("--json")]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let list: Vec<Value> = serde_json::from_str(fin.stdout.trim())
        .unwrap_or_else(|e| panic!("scan --json is not a JSON array: {e}\n{fin}"));
    let by_path: HashMap<String, &Value> = list
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), e))
        .collect();
    let expected = [
        (&good, "verified"),
        (&deep, "verified"),
        (&plugin.join("main.py"), "verified"),
        (&bad, "unsigned"),
        (&tampered, "tampered"),
        (&untrusted, "untrusted"),
        (&empty, "empty"),
        (&link, "symlink"),
    ];
    assert_eq!(list.len(), expected.len(), "{fin}");
    for (p, status) in expected {
        let e = by_path
            .get(&path_str(p))
            .unwrap_or_else(|| panic!("{} not scanned:\n{fin}", p.display()));
        assert_eq!(e["status"], status, "{e}");
        for k in [
            "path", "status", "reason", "detail", "key", "format", "signer", "sha256",
        ] {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
    }
    let g = by_path[&path_str(&good)];
    assert_eq!(g["key"], fx.fingerprint.as_str(), "{g}");
    assert_eq!(g["format"], "native", "{g}");
    assert_eq!(g["reason"], Value::Null, "{g}");
    assert_eq!(g["sha256"], sha256_hex(&good).as_str(), "{g}");
    assert_eq!(
        by_path[&path_str(&plugin.join("main.py"))]["format"],
        "aisoc"
    );
    let b = by_path[&path_str(&bad)];
    assert_eq!(b["reason"], "unsigned", "{b}");
    assert_eq!(b["key"], Value::Null, "{b}");
    let t = by_path[&path_str(&tampered)];
    assert_eq!(t["sha256"], sha256_hex(&tampered).as_str(), "{t}");
    assert_eq!(by_path[&path_str(&untrusted)]["key"], other.as_str());

    // The table.
    let fin = scan(&[]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let lines: Vec<&str> = fin.stdout.lines().collect();
    assert!(
        lines[0].starts_with("STATUS")
            && lines[0].contains("PATH")
            && lines[0].ends_with("SIGNER/DETAIL"),
        "{fin}"
    );
    assert_eq!(lines.len(), 1 + expected.len(), "{fin}");
    let line_of = |p: &Path| {
        lines
            .iter()
            .find(|l| l.contains(&format!(" {} ", path_str(p))) || l.ends_with(&path_str(p)))
            .unwrap_or_else(|| panic!("no line for {} in\n{fin}", p.display()))
            .to_string()
    };
    let g = line_of(&good);
    assert!(g.starts_with("verified "), "{g}");
    assert!(g.contains(&format!(" {} ", &fx.fingerprint[..16])), "{g}");
    assert!(g.contains(" native "), "{g}");
    assert!(line_of(&bad).starts_with("unsigned "), "{fin}");
    assert!(line_of(&tampered).starts_with("tampered "), "{fin}");
    assert!(line_of(&untrusted).starts_with("untrusted "), "{fin}");
    assert!(line_of(&empty).starts_with("empty (allowed) "), "{fin}");
    let l = line_of(&link);
    assert!(l.starts_with("symlink (not checked) "), "{l}");
    assert!(l.ends_with("-> /etc/hostname"), "{l}");
    assert!(!fin.stdout.contains("plugin.yaml"), "{fin}");
    assert!(
        !list.iter().any(|e| {
            let p = e["path"].as_str().unwrap();
            p.ends_with(".sig") || p.ends_with("plugin.yaml")
        }),
        "{list:?}"
    );
    assert!(fin.stderr.contains("3 verified"), "{fin}");

    // Only what is given; all verified (or empty): exit 0.
    let fin = scan(&[
        good.as_os_str(),
        fx.path("sub").as_os_str(),
        empty.as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert_eq!(fin.stdout.lines().count(), 4, "{fin}");

    // Usage and configuration errors: exit 2.
    let fin = scan(&[fx.path("missing.py").as_os_str()]);
    assert_eq!(fin.code(), Some(2), "{fin}");
    let fin = sigward([
        OsStr::new("scan"),
        OsStr::new("--policy"),
        fx.root.join("no-policy.toml").as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(2), "{fin}");
}

#[test]
fn scan_under_an_enforcing_agent_shows_denied_files() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 1\n");
    let bad = fx.write_unsigned("bad.py", b"X = 2\n");
    let (agent, _socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    let fin = agent.guard("sigward scan", || {
        sigward([
            OsStr::new("scan"),
            OsStr::new("--json"),
            OsStr::new("--policy"),
            fx.policy.as_os_str(),
        ])
    });
    assert_eq!(fin.code(), Some(1), "{fin}");
    let list: Vec<Value> = serde_json::from_str(fin.stdout.trim()).unwrap();
    let status_of = |p: &Path| {
        list.iter()
            .find(|e| e["path"] == path_str(p))
            .map(|e| e["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of(&good).as_deref(), Some("verified"), "{fin}");
    assert_eq!(status_of(&bad).as_deref(), Some("denied"), "{fin}");
}

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
