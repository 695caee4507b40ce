//! The counters and their snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;

/// The status as the control socket sends it.
fn wire(m: &Metrics, live: &Live) -> serde_json::Value {
    serde_json::to_value(m.status(live)).unwrap()
}

pub(crate) fn sample() -> (Metrics, Live) {
    let m = Metrics::new();
    m.set_policy(PolicyFacts {
        generation: 3,
        global_mode: "enforce",
        source: PathBuf::from("/etc/sigward/policy.toml"),
        digest: "ab".repeat(32),
        expiry_warning_days: 30,
        keys: vec![crate::fleet::KeyInfo {
            fingerprint: "cd".repeat(32),
            kind: "ed25519".into(),
            name: Some("release-2027".into()),
            groups: vec!["vendors".into()],
            label: None,
            source: "/etc/sigward/keys.d/release.pub#1".into(),
            origin: "pem".into(),
            not_before: None,
            not_after: Some(1_830_297_600),
            not_after_rfc3339: Some("2028-01-01T00:00:00Z".into()),
            validity: crate::fleet::Validity::Valid,
        }],
        trees: vec![
            TreeState {
                root: PathBuf::from("/srv/p/inner"),
                mode: "audit",
                directories: 2,
                untrusted_writers: "refuse",
                filesystem_mark: false,
            },
            TreeState {
                root: PathBuf::from("/srv/p"),
                mode: "enforce",
                directories: 5,
                untrusted_writers: "allow",
                filesystem_mark: true,
            },
        ],
    });
    for _ in 0..4 {
        m.event();
    }
    m.verdict(Decision::Allow, Why::Empty);
    m.verdict(Decision::Allow, Why::Verified);
    m.verdict(Decision::Deny, Why::Rejected(Reason::Unsigned));
    m.verdict(Decision::WouldDeny, Why::Rejected(Reason::Tampered));
    m.cache_hit();
    m.cache_miss();
    m.cache_miss();
    m.job_sent();
    m.job_sent();
    m.job_done();
    m.observe_latency(Duration::from_micros(30));
    m.observe_latency(Duration::from_micros(700));
    m.observe_latency(Duration::from_secs(20));
    m.reloaded(true);
    m.reloaded(false);
    m.reloaded(false);
    m.count_marked(4);
    m.tree_grew(Path::new("/srv/p/inner/new"), 1);
    m.tree_grew(Path::new("/srv/p/other"), 3);
    for i in 0..25 {
        m.denial(Denial {
            time: 1_767_225_600 + i,
            decision: Decision::Deny,
            path: PathBuf::from(format!("/srv/p/\"x\"{i}.py")),
            reason: "unsigned",
            detail: "no signature file".into(),
            pid: 42,
            exe: Some("/usr/bin/python3".into()),
        });
    }
    let live = Live {
        cache_entries: 1,
        cache_capacity: 100,
        kernel_marks: 3,
        kernel_marks_placed: 5,
        kernel_marks_dropped: 2,
        events_lost: 0,
        audit_dropped: 7,
        metrics_file: Some(PathBuf::from("/var/lib/x.prom")),
        metrics_interval: 15,
        watchdog: Some(Duration::from_secs(30)),
    };
    (m, live)
}

#[test]
fn status_counts() {
    let (m, live) = sample();
    let v = wire(&m, &live);
    assert_eq!(v["events"], 4);
    assert_eq!(v["verdicts"]["allow"], 2);
    assert_eq!(v["verdicts"]["deny"], 1);
    assert_eq!(v["verdicts"]["would-deny"], 1);
    assert_eq!(v["reasons"]["deny"]["unsigned"], 1);
    assert_eq!(v["reasons"]["deny"]["tampered"], 0);
    assert_eq!(v["reasons"]["would-deny"]["tampered"], 1);
    assert_eq!(v["reasons"]["allow"]["empty"], 1);
    assert!(v["reasons"]["allow"].get("unsigned").is_none());
    assert!(v["reasons"]["deny"].get("verified").is_none());
    assert_eq!(v["allows"]["event_thread"], 1);
    assert_eq!(v["allows"]["worker"], 1);
    assert_eq!(v["cache"]["hits"], 1);
    assert_eq!(v["cache"]["misses"], 2);
    assert_eq!(v["queue"]["depth"], 1);
    assert_eq!(v["queue"]["max_depth"], 2);
    assert_eq!(v["latency"]["count"], 3);
    let buckets = v["latency"]["buckets"].as_array().unwrap();
    assert_eq!(buckets[0], json!({"le": "0.00005", "count": 1}));
    assert_eq!(buckets.last().unwrap(), &json!({"le": "+Inf", "count": 3}));
    assert_eq!(buckets[buckets.len() - 2]["le"], "10");
    assert_eq!(v["reloads"]["ok"], 1);
    assert_eq!(v["reloads"]["failed"], 2);
    assert_eq!(v["audit"]["dropped"], 7);
    assert_eq!(v["policy"]["generation"], 3);
    assert_eq!(v["trees"][0]["directories"], 3, "inner tree: 2 + 1");
    assert_eq!(v["trees"][1]["directories"], 8, "outer tree: 5 + 3");
    assert_eq!(v["directories_marked"], 4);
    let denials = v["last_denials"].as_array().unwrap();
    assert_eq!(denials.len(), LAST_DENIALS);
    assert_eq!(denials[0]["path"], "/srv/p/\"x\"24.py", "newest first");
    assert_eq!(denials[19]["path"], "/srv/p/\"x\"5.py");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn replace_sets_a_tree_count() {
    let (m, _) = sample();
    m.set_tree_directories(Path::new("/srv/p"), 11);
    assert_eq!(m.tree_directories(Path::new("/srv/p")), Some(11));
    assert_eq!(m.tree_directories(Path::new("/nowhere")), None);
}

#[test]
fn latency_buckets_are_inclusive_upper_bounds() {
    let m = Metrics::new();
    m.observe_latency(Duration::from_micros(50));
    m.observe_latency(Duration::from_micros(51));
    let v = wire(&m, &Live::default());
    assert_eq!(v["latency"]["buckets"][0]["count"], 1);
    assert_eq!(v["latency"]["buckets"][1]["count"], 2);
    assert!((v["latency"]["sum_seconds"].as_f64().unwrap() - 0.000101).abs() < 1e-9);
}

#[test]
fn heartbeat() {
    let m = Metrics::new();
    m.beat();
    assert!(m.heartbeat_age() < Duration::from_secs(1));
}
