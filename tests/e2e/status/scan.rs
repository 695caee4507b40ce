//! `sigward scan`: every file with the agent's verdict, as a table and
//! `--json`, with or without an enforcing agent.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;

use serde_json::Value;

use crate::harness::{
    keygen, path_str, sha256_hex, sign_with, sigward, start, write_file, Fixture,
};

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
