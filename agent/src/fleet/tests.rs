#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::config::LoadOptions;

const KEY_A: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const KEY_B: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

/// Loads `main` with `drop_ins` (name, text) beside it, off-host (no
/// strict modes: the test's directory is under /tmp).
fn load(main: &str, drop_ins: &[(&str, &str)]) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policy.d")).unwrap();
    std::fs::write(dir.path().join("policy.toml"), main).unwrap();
    for (name, text) in drop_ins {
        std::fs::write(dir.path().join("policy.d").join(name), text).unwrap();
    }
    let lo = LoadOptions {
        offline: true,
        ..LoadOptions::default()
    };
    Engine::load_with(&dir.path().join("policy.toml"), 0, &lo).unwrap()
}

fn policy(keys: &[&str], trees: &[(&str, &str)]) -> String {
    let mut s = String::from("mode = \"enforce\"\n");
    for (i, k) in keys.iter().enumerate() {
        s.push_str(&format!(
            "[[trust.key]]\nname = \"k{i}\"\ned25519 = \"{k}\"\n"
        ));
    }
    for (path, mode) in trees {
        s.push_str(&format!(
            "[[protect]]\npath = \"{path}\"\nmode = \"{mode}\"\n"
        ));
    }
    s
}

#[test]
fn the_digest_follows_the_effective_policy_not_its_files() {
    let whole = load(&policy(&[KEY_A], &[("/srv/p", "enforce")]), &[]);
    let split = load(
        "mode = \"enforce\"\n# a comment\n",
        &[
            ("10-keys.toml", &policy(&[KEY_A], &[])[17..]),
            (
                "20-trees.toml",
                "[[protect]]\npath = \"/srv/p\"\nmode = \"enforce\"\n",
            ),
        ],
    );
    assert_eq!(digest(&whole), digest(&split));
    assert_eq!(digest(&whole).len(), 64);
    // Another key, another mode, another tree: another digest.
    let other_key = load(&policy(&[KEY_B], &[("/srv/p", "enforce")]), &[]);
    let other_mode = load(&policy(&[KEY_A], &[("/srv/p", "audit")]), &[]);
    let other_tree = load(&policy(&[KEY_A], &[("/srv/q", "enforce")]), &[]);
    for e in [&other_key, &other_mode, &other_tree] {
        assert_ne!(digest(&whole), digest(e));
    }
}

#[test]
fn validity_at_a_time() {
    let text = format!(
        "[[trust.key]]\nname = \"old\"\ned25519 = \"{KEY_A}\"\nnot_after = 2026-01-01T00:00:00Z\n\
         [[trust.key]]\nname = \"soon\"\ned25519 = \"{KEY_B}\"\nnot_after = 2026-01-20T00:00:00Z\n"
    );
    let e = load(&text, &[]);
    let now = sigward_policy::verify::parse_rfc3339("2026-01-10T00:00:00Z").unwrap();
    let ks = keys(&e.trust, now, 30 * 86_400);
    let by = |n: &str| ks.iter().find(|k| k.name.as_deref() == Some(n)).unwrap();
    assert_eq!(by("old").validity, Validity::Expired);
    assert_eq!(by("soon").validity, Validity::ExpiresSoon);
    assert_eq!(
        by("soon").not_after_rfc3339.as_deref(),
        Some("2026-01-20T00:00:00Z")
    );
    // Ten days is outside a horizon of five.
    let ks5 = keys(&e.trust, now, 5 * 86_400);
    assert!(ks5
        .iter()
        .any(|k| k.name.as_deref() == Some("soon") && k.validity == Validity::Valid));
    let w = expiry_warnings(&ks, now);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("\"old\"") && w[0].contains("expired at 2026-01-01T00:00:00Z"));
    assert!(
        w[1].contains("\"soon\"") && w[1].contains("in 10 days"),
        "{w:?}"
    );
    let before = sigward_policy::verify::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
    assert!(expiry_warnings(&keys(&e.trust, before, 30 * 86_400), before).is_empty());
}

#[test]
fn revoked_keys_say_so() {
    let fp =
        sigward_policy::Fingerprint::of_material(&sigward_policy::trust::KeyMaterial::Ed25519(
            ed25519_dalek::VerifyingKey::from_bytes(
                &hex::decode(KEY_A).unwrap().try_into().unwrap(),
            )
            .unwrap(),
        ));
    let e = load(
        &format!("[trust]\ned25519 = [\"{KEY_A}\"]\nrevoked = [\"{fp}\"]\n"),
        &[],
    );
    let ks = keys(&e.trust, 0, 0);
    assert_eq!(ks[0].validity, Validity::Revoked);
    assert_eq!(ks[0].origin, "hex");
}

#[test]
fn the_mode_summary_says_mixed_when_trees_differ() {
    let e = load(
        &policy(&[KEY_A], &[("/srv/a", "enforce"), ("/srv/b", "off")]),
        &[],
    );
    assert_eq!(mode_summary(e.policy.mode, &e.trees), "mixed");
    let e = load(&policy(&[KEY_A], &[("/srv/a", "audit")]), &[]);
    assert_eq!(mode_summary(e.policy.mode, &e.trees), "audit");
    let e = load("mode = \"off\"\n", &[]);
    assert_eq!(mode_summary(e.policy.mode, &e.trees), "off");
}
