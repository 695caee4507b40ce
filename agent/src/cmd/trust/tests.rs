//! Unit tests of `trust`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn key_names() {
    for good in ["vendor-a", "Vendor_A.2026", "a", "0123"] {
        assert!(check_key_name(good).is_ok(), "{good}");
    }
    for bad in [
        "", ".", "..", ".hidden", "a/b", "../x", "a b", "é", "a\nb", "x*",
    ] {
        assert!(check_key_name(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        check_key_name("a b").unwrap_err().to_string(),
        "invalid key name \"a b\": ' ' is not allowed (letters, digits, '.', '_' and '-' only)"
    );
}

#[test]
fn messages_read_as_one_sentence() {
    let e = TrustError::NoSuchName {
        which: "zz".into(),
        dir: "/k".into(),
    };
    assert_eq!(
        e.to_string(),
        "no key named \"zz\" in /k (a fingerprint prefix is 8 to 64 hex digits)"
    );
    let e = TrustError::Ambiguous {
        prefix: "abcdef01".into(),
        matches: vec![
            ("/k/a.pub".into(), vec!["abcdef01aa".into()]),
            ("/k/b.pub".into(), vec!["abcdef01bb".into()]),
        ],
    };
    assert_eq!(
        e.to_string(),
        "fingerprint prefix abcdef01 is ambiguous; it matches keys in 2 files (give more \
         digits, or the name):\n  /k/a.pub: abcdef01aa\n  /k/b.pub: abcdef01bb"
    );
}
