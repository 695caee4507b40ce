//! The text of [`WindowError`]: character for character the `String`
//! [`TrustStore::check_window`] returned before its error became an enum
//! (inside the detail of an `expired` verdict).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use ed25519_dalek::SigningKey;

#[test]
fn window_text() {
    let vk = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let fp = Fingerprint::of_ed25519(&vk);
    let key = || TrustedKey::new(KeyMaterial::Ed25519(vk), "p", 1, KeyOrigin::Hex);
    let mut ts = TrustStore::new();
    ts.insert(key().named("vendor", &[], (Some(100), Some(200))));
    let mut unnamed = key();
    unnamed.block = 2;
    unnamed.window = (None, Some(50));
    ts.insert(unnamed);
    // Another origin, or the store would take it for the same entry.
    let mut open = TrustedKey::new(KeyMaterial::Ed25519(vk), "p", 3, KeyOrigin::Pem);
    open.window = (Some(1_000), None);
    ts.insert(open);

    let e = ts.check_window(&fp, 201).unwrap_err();
    assert_eq!(
        e.to_string(),
        "vendor valid from 1970-01-01T00:01:40Z to 1970-01-01T00:03:20Z; \
         key valid from - to 1970-01-01T00:00:50Z; \
         key valid from 1970-01-01T00:16:40Z to -"
    );
    let WindowError::Outside {
        fingerprint,
        at,
        windows,
    } = e;
    assert_eq!((fingerprint, at), (fp, 201));
    assert_eq!(
        windows,
        [
            KeyWindow {
                name: Some("vendor".into()),
                not_before: Some(100),
                not_after: Some(200),
            },
            KeyWindow {
                name: None,
                not_before: None,
                not_after: Some(50),
            },
            KeyWindow {
                name: None,
                not_before: Some(1_000),
                not_after: None,
            },
        ]
    );
    assert!(ts.check_window(&fp, 150).is_ok());
}
