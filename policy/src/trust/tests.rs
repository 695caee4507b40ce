//! Unit tests of `trust`.

use super::*;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;

fn pub_pem(seed: u8) -> String {
    let sk = SigningKey::from_bytes(&[seed; 32]);
    sk.verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap_or_default()
}

#[test]
fn loads_several_blocks() {
    let text = format!("comment line\n{}{}", pub_pem(1), pub_pem(2));
    let mut ts = TrustStore::new();
    let report = ts.add_file("k.pem", text.as_bytes());
    assert_eq!(report.map(|r| r.added), Ok(2));
    assert_eq!(ts.len(), 2);
    let first = ts.iter().next().map(|k| (k.source.clone(), k.block));
    assert_eq!(first, Some(("k.pem".to_string(), 1)));
}

#[test]
fn duplicate_key_counted_once() {
    let mut ts = TrustStore::new();
    assert_eq!(
        ts.add_pem("a", pub_pem(1).as_bytes()).map(|r| r.added),
        Ok(1)
    );
    assert_eq!(
        ts.add_pem("b", pub_pem(1).as_bytes()).map(|r| r.added),
        Ok(0)
    );
    assert_eq!(ts.len(), 1);
}

#[test]
fn private_key_is_an_error() {
    let sk = SigningKey::from_bytes(&[3; 32]);
    let pem = sk
        .to_pkcs8_pem(Default::default())
        .map(|z| z.to_string())
        .unwrap_or_default();
    let err = TrustStore::new().add_file("x", pem.as_bytes());
    assert!(matches!(
        err,
        Err(KeyFileError::PrivateKey { block: 1, .. })
    ));
}

#[test]
fn unrecognised_and_unusable() {
    assert_eq!(
        TrustStore::new().add_file("x", b"hello").map(|r| r.added),
        Err(KeyFileError::Unrecognised)
    );
    let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        TrustStore::new().add_pem("x", cert.as_bytes()),
        Err(KeyFileError::NoUsableKey(_))
    ));
    // A usable key next to an unusable block loads with a warning.
    let text = format!("{cert}{}", pub_pem(4));
    let report = TrustStore::new().add_pem("x", text.as_bytes());
    assert!(matches!(&report, Ok(r) if r.added == 1 && r.warnings.len() == 1));
}

#[test]
fn garbage_public_key_block_is_skipped() {
    let text = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(matches!(
        TrustStore::new().add_pem("x", text.as_bytes()),
        Err(KeyFileError::NoUsableKey(_))
    ));
}

#[test]
fn hex_key_file() {
    let sk = SigningKey::from_bytes(&[5; 32]);
    let hexkey = format!("{}\n", hex::encode(sk.verifying_key().as_bytes()));
    let mut ts = TrustStore::new();
    assert_eq!(
        ts.add_file("k.public", hexkey.as_bytes()).map(|r| r.added),
        Ok(1)
    );
    let fp = Fingerprint::of_ed25519(&sk.verifying_key());
    assert!(ts.ed25519(&fp).is_some());
    assert_eq!(ts.get(&fp).map(|k| k.origin.clone()), Some(KeyOrigin::Hex));
}

#[test]
fn same_key_from_different_kinds_of_source_is_kept_for_each() {
    let sk = SigningKey::from_bytes(&[6; 32]);
    let mut ts = TrustStore::new();
    let _ = ts.add_pem("a.pem", pub_pem(6).as_bytes());
    let hexkey = hex::encode(sk.verifying_key().as_bytes());
    let _ = ts.add_file("a.public", hexkey.as_bytes());
    let fp = Fingerprint::of_ed25519(&sk.verifying_key());
    assert_eq!(ts.lookup(&fp).count(), 2);
}

#[test]
fn windows_and_restriction() {
    let sk = SigningKey::from_bytes(&[7; 32]);
    let vk = sk.verifying_key();
    let fp = Fingerprint::of_ed25519(&vk);
    let mut ts = TrustStore::new();
    ts.insert(
        TrustedKey::new(KeyMaterial::Ed25519(vk), "p", 1, KeyOrigin::Hex).named(
            "vendor",
            &["vendors".to_string()],
            (Some(100), Some(200)),
        ),
    );
    assert!(ts.check_window(&fp, 150).is_ok());
    assert!(ts.check_window(&fp, 99).is_err());
    let e = ts
        .check_window(&fp, 201)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("vendor valid from"), "{e}");
    // An unknown key has no window to break.
    assert!(ts
        .check_window(&Fingerprint::of_raw_key(&[1; 32]), 0)
        .is_ok());
    ts.deny_content([9; 32]);
    ts.revoke(Fingerprint::of_raw_key(&[2; 32]));
    let only = |n: &str| [n.to_string()].into_iter().collect::<HashSet<String>>();
    let by_group = ts.restricted_to(&only("vendors"));
    assert_eq!(by_group.len(), 1);
    assert!(by_group.is_denied_content(&[9; 32]));
    assert!(by_group.is_revoked(&Fingerprint::of_raw_key(&[2; 32])));
    assert_eq!(ts.restricted_to(&only("vendor")).len(), 1);
    assert_eq!(ts.restricted_to(&only("partner")).len(), 0);
}

#[test]
fn valid_until_follows_the_windows() {
    let vk = SigningKey::from_bytes(&[8; 32]).verifying_key();
    let fp = Fingerprint::of_ed25519(&vk);
    let key = |name: &str, window| {
        TrustedKey::new(KeyMaterial::Ed25519(vk), "p", 1, KeyOrigin::Hex).named(name, &[], window)
    };
    let mut ts = TrustStore::new();
    // Unknown key, or a key without a window: nothing ends the verdict.
    assert_eq!(ts.valid_until(&fp, 150), None);
    ts.insert(TrustedKey::new(
        KeyMaterial::Ed25519(vk),
        "p",
        1,
        KeyOrigin::Hex,
    ));
    assert_eq!(ts.valid_until(&fp, 150), None);

    // One window [100, 200]: not_after is inclusive, so the verdict is
    // valid while now < 201, exactly as check_window says.
    ts.insert(key("a", (Some(100), Some(200))));
    assert_eq!(ts.valid_until(&fp, 150), Some(201));
    assert_eq!(ts.valid_until(&fp, 200), Some(201));
    for now in [150, 199, 200, 201, 202] {
        assert_eq!(
            ts.valid_until(&fp, 150).is_some_and(|u| now < u),
            ts.check_window(&fp, now).is_ok(),
            "now = {now}"
        );
    }
    // Outside every window: the check fails and the verdict never held.
    assert!(ts.check_window(&fp, 99).is_err());
    assert_eq!(ts.valid_until(&fp, 99), Some(99));
    assert_eq!(ts.valid_until(&fp, 201), Some(201));

    // Overlapping windows: the latest end among those valid at t.
    ts.insert(key("b", (Some(150), Some(300))));
    assert_eq!(ts.valid_until(&fp, 160), Some(301));
    assert_eq!(
        ts.valid_until(&fp, 120),
        Some(201),
        "b not yet valid at 120"
    );
    // A later window not valid at t does not extend the verdict.
    ts.insert(key("c", (Some(1000), Some(2000))));
    assert_eq!(ts.valid_until(&fp, 160), Some(301));
    assert_eq!(ts.valid_until(&fp, 1500), Some(2001));
    // An open-ended window valid at t: valid indefinitely.
    ts.insert(key("d", (Some(140), None)));
    assert_eq!(ts.valid_until(&fp, 120), Some(201));
    assert_eq!(ts.valid_until(&fp, 160), None);

    let mut edge = TrustStore::new();
    edge.insert(key("e", (None, Some(u64::MAX))));
    assert_eq!(edge.valid_until(&fp, 5), None);
    let mut only_start = TrustStore::new();
    only_start.insert(key("f", (Some(10), None)));
    assert_eq!(only_start.valid_until(&fp, 10), None);
    assert_eq!(only_start.valid_until(&fp, 9), Some(9));
}

#[test]
fn revocation() {
    let mut ts = TrustStore::new();
    let fp = Fingerprint::of_raw_key(&[1; 32]);
    assert!(!ts.is_revoked(&fp));
    assert!(ts.revoke(fp));
    assert!(ts.is_revoked(&fp));
}
