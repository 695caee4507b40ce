//! Unit tests of the dispatch between formats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::fingerprint::Fingerprint;
use crate::trust::{KeyMaterial, KeyOrigin, TrustedKey};
use ed25519_dalek::SigningKey;

/// The table holds every format of `FILE.sig` once, in `Format::ALL`'s
/// order, which breaks ties between candidates.
#[test]
fn the_detached_table_follows_format_all() {
    let table: Vec<Format> = DETACHED.iter().map(|f| f.format()).collect();
    let all: Vec<Format> = Format::ALL
        .into_iter()
        .filter(|f| !matches!(f, Format::Minisign | Format::Aisoc))
        .collect();
    assert_eq!(table, all);
}
use sha2::{Digest, Sha256};

const CONTENT: &[u8] = b"print('plugin')\n";
const NAME: &str = "p.py";
const SIGNED_AT: &str = "2026-06-01T00:00:00Z";
const SIGNED_AT_SECS: u64 = 1_780_272_000;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

type Window = (Option<u64>, Option<u64>);

fn trusted(keys: &[(&SigningKey, Window)]) -> TrustStore {
    let mut ts = TrustStore::new();
    for (k, window) in keys {
        ts.insert(
            TrustedKey::new(
                KeyMaterial::Ed25519(k.verifying_key()),
                "t",
                1,
                KeyOrigin::Hex,
            )
            .named(&format!("k{}", k.to_bytes()[0]), &[], *window),
        );
    }
    ts
}

fn native_sig(signers: &[&SigningKey]) -> String {
    let h: [u8; 32] = Sha256::digest(CONTENT).into();
    let mut doc = None;
    for k in signers {
        doc = Some(native::sign(
            doc,
            k,
            NAME,
            CONTENT.len() as u64,
            &h,
            SIGNED_AT,
        ));
    }
    native::to_text(&doc.unwrap())
}

fn run(sig: &str, ts: &TrustStore, opts: &Options) -> Verdict {
    let h: [u8; 32] = Sha256::digest(CONTENT).into();
    let subject = Subject::new(NAME.as_bytes(), CONTENT.len() as u64, &h);
    let evidence = Evidence {
        sig: Some(sig.as_bytes()),
        ..Evidence::default()
    };
    verify(&subject, &evidence, ts, opts)
}

#[test]
fn denied_content_is_revoked_whatever_signed_it() {
    let k = key(1);
    let mut ts = trusted(&[(&k, (None, None))]);
    assert!(run(&native_sig(&[&k]), &ts, &Options::default()).is_verified());
    ts.deny_content(Sha256::digest(CONTENT).into());
    let v = run(&native_sig(&[&k]), &ts, &Options::default());
    assert_eq!(v.reason(), Some(Reason::Revoked));
}

#[test]
fn validity_window_uses_the_authenticated_signing_time() {
    let k = key(1);
    let inside = trusted(&[(&k, (Some(SIGNED_AT_SECS - 10), Some(SIGNED_AT_SECS + 10)))]);
    // `now` far outside: the native signing time is what counts.
    let opts = Options {
        now: SIGNED_AT_SECS + 1_000_000,
        ..Options::default()
    };
    assert!(run(&native_sig(&[&k]), &inside, &opts).is_verified());
    let expired = trusted(&[(&k, (None, Some(SIGNED_AT_SECS - 1)))]);
    let v = run(&native_sig(&[&k]), &expired, &opts);
    assert_eq!(v.reason(), Some(Reason::Expired), "{v:?}");
    let not_yet = trusted(&[(&k, (Some(SIGNED_AT_SECS + 1), None))]);
    assert_eq!(
        run(&native_sig(&[&k]), &not_yet, &opts).reason(),
        Some(Reason::Expired)
    );
}

#[test]
fn window_without_a_signed_time_uses_now() {
    let k = key(2);
    let h: [u8; 32] = Sha256::digest(CONTENT).into();
    let sig = cloacina::sign(&k, &h, "2000-01-01T00:00:00Z");
    let ts = trusted(&[(&k, (None, Some(1_000)))]);
    let late = Options {
        now: 2_000,
        ..Options::default()
    };
    assert_eq!(run(&sig, &ts, &late).reason(), Some(Reason::Expired));
    let early = Options {
        now: 500,
        ..Options::default()
    };
    assert!(run(&sig, &ts, &early).is_verified());
}

#[test]
fn an_expired_co_signer_does_not_hide_a_current_one() {
    let (old, new) = (key(1), key(2));
    let ts = trusted(&[
        (&old, (None, Some(SIGNED_AT_SECS - 1))),
        (&new, (None, None)),
    ]);
    let v = run(&native_sig(&[&old, &new]), &ts, &Options::default());
    assert_eq!(
        v.key(),
        Some(Fingerprint::of_ed25519(&new.verifying_key())),
        "{v:?}"
    );
    assert_eq!(
        run(&native_sig(&[&old]), &ts, &Options::default()).reason(),
        Some(Reason::Expired)
    );
}

#[test]
fn threshold_counts_distinct_trusted_keys() {
    let (a, b, c) = (key(1), key(2), key(3));
    let ts = trusted(&[(&a, (None, None)), (&b, (None, None))]);
    let two = Options {
        threshold: 2,
        ..Options::default()
    };
    let one_sig = run(&native_sig(&[&a]), &ts, &two);
    assert_eq!(one_sig.reason(), Some(Reason::Untrusted));
    assert!(
        matches!(&one_sig, Verdict::Rejected { detail, .. } if detail.contains("threshold 2 not met")),
        "{one_sig:?}"
    );
    // The same key twice counts once; an untrusted co-signer not at all.
    assert!(!run(&native_sig(&[&a, &a]), &ts, &two).is_verified());
    assert!(!run(&native_sig(&[&a, &c]), &ts, &two).is_verified());
    let both = run(&native_sig(&[&a, &b]), &ts, &two);
    assert!(both.is_verified(), "{both:?}");
    assert!(both
        .signer()
        .is_some_and(|s| s.starts_with("2 trusted signers")));
    // A threshold of one is met by either.
    assert!(run(&native_sig(&[&c, &b]), &ts, &Options::default()).is_verified());
}

#[test]
fn self_signed_only_when_allowed() {
    let k = key(9);
    let h: [u8; 32] = Sha256::digest(CONTENT).into();
    let sig = conductor::sign(
        &k,
        &h,
        CONTENT.len() as u64,
        SIGNED_AT,
        "Dev",
        "dev@example.com",
    );
    let empty = TrustStore::new();
    assert_eq!(
        run(&sig, &empty, &Options::default()).reason(),
        Some(Reason::Untrusted)
    );
    let allow = Options {
        allow_self_signed: true,
        ..Options::default()
    };
    let v = run(&sig, &empty, &allow);
    assert!(v.is_verified() && v.is_self_signed(), "{v:?}");
    assert_eq!(v.key(), Some(Fingerprint::of_ed25519(&k.verifying_key())));
    // Self-signed never satisfies a threshold.
    let two = Options {
        threshold: 2,
        ..allow
    };
    assert!(!run(&sig, &empty, &two).is_verified());
    // A revoked key stays refused even when self-signed is allowed.
    let mut revoked = TrustStore::new();
    revoked.revoke(Fingerprint::of_ed25519(&k.verifying_key()));
    assert_eq!(
        run(
            &sig,
            &revoked,
            &Options {
                allow_self_signed: true,
                ..Options::default()
            }
        )
        .reason(),
        Some(Reason::Revoked)
    );
}

/// What `verify` says of a file named `name` of `size` bytes with the
/// given SHA-256, with the evidence `sig` / `minisig`.
fn verify_facts(
    name: &[u8],
    size: u64,
    sha: &[u8; 32],
    evidence: &Evidence<'_>,
    ts: &TrustStore,
    opts: &Options,
) -> Verdict {
    verify(&Subject::new(name, size, sha), evidence, ts, opts)
}

/// Whenever the evidence alone refuses a file, `verify` refuses it for
/// the same reason whatever the content (here: the signed content's
/// hash, and another).
fn assert_agrees(name: &[u8], size: u64, evidence: &Evidence<'_>, ts: &TrustStore) {
    let opts = Options::default();
    let Some(early) = refused_without_content(name, size, evidence, &opts) else {
        return;
    };
    for sha in [Sha256::digest(CONTENT).into(), [0x5a; 32]] {
        let v = verify_facts(name, size, &sha, evidence, ts, &opts);
        assert!(!v.is_verified(), "{v:?}");
        assert_eq!(v.reason(), early.reason(), "{v:?} vs {early:?}");
        assert_eq!(v.format(), early.format(), "{v:?} vs {early:?}");
    }
}

#[test]
fn no_evidence_is_refused_without_the_content() {
    let opts = Options::default();
    for size in [1, 1 << 40] {
        let v = refused_without_content(b"p.py", size, &Evidence::default(), &opts);
        assert_eq!(v.as_ref().and_then(Verdict::reason), Some(Reason::Unsigned));
    }
    // A checksum companion alone is no signature.
    let sum = Evidence {
        sha256sum: Some(b"00  p.py\n"),
        ..Evidence::default()
    };
    let v = refused_without_content(b"p.py", 100, &sum, &opts);
    assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Unsigned));
    assert_agrees(b"p.py", 100, &sum, &TrustStore::new());
}

#[test]
fn a_native_signature_for_another_size_or_name_is_refused_without_the_content() {
    let k = key(1);
    let ts = trusted(&[(&k, (None, None))]);
    let sig = native_sig(&[&k]);
    let ev = Evidence {
        sig: Some(sig.as_bytes()),
        ..Evidence::default()
    };
    let opts = Options::default();
    let size = CONTENT.len() as u64;
    // The signed size and name: the content decides.
    assert_eq!(
        refused_without_content(NAME.as_bytes(), size, &ev, &opts),
        None
    );
    let big = refused_without_content(NAME.as_bytes(), 100 << 30, &ev, &opts);
    assert_eq!(
        big.as_ref().and_then(Verdict::reason),
        Some(Reason::Tampered)
    );
    assert_eq!(big.as_ref().and_then(Verdict::format), Some(Format::Native));
    assert_eq!(
        big.as_ref().and_then(Verdict::key),
        Some(Fingerprint::of_ed25519(&k.verifying_key()))
    );
    let renamed = refused_without_content(b"other.py", size, &ev, &opts);
    assert_eq!(renamed.and_then(|v| v.reason()), Some(Reason::Tampered));
    for (name, size) in [
        (NAME.as_bytes(), 100 << 30),
        (b"other.py", size),
        (NAME.as_bytes(), 0),
    ] {
        assert_agrees(name, size, &ev, &ts);
    }
    // Malformed documents need no content either.
    for bad in [
        &b"{\"sigward\": 1}"[..],
        b"{\"sigward\": 2, \"x\": 1}",
        b"  \n",
    ] {
        let ev = Evidence {
            sig: Some(bad),
            ..Evidence::default()
        };
        let v = refused_without_content(NAME.as_bytes(), size, &ev, &opts);
        assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Malformed));
        assert_agrees(NAME.as_bytes(), size, &ev, &ts);
    }
}

#[test]
fn a_conductor_signature_for_another_size_is_refused_without_the_content() {
    let k = key(9);
    let h: [u8; 32] = Sha256::digest(CONTENT).into();
    let size = CONTENT.len() as u64;
    let sig = conductor::sign(&k, &h, size, SIGNED_AT, "Dev", "dev@example.com");
    let ts = trusted(&[(&k, (None, None))]);
    let ev = Evidence {
        sig: Some(sig.as_bytes()),
        ..Evidence::default()
    };
    let opts = Options::default();
    assert_eq!(
        refused_without_content(NAME.as_bytes(), size, &ev, &opts),
        None
    );
    let v = refused_without_content(NAME.as_bytes(), size + 1, &ev, &opts);
    assert_eq!(v.as_ref().and_then(Verdict::reason), Some(Reason::Tampered));
    assert_eq!(v.and_then(|v| v.format()), Some(Format::Conductor));
    assert_agrees(NAME.as_bytes(), size + 1, &ev, &ts);
}

#[test]
fn signatures_over_the_content_alone_leave_the_decision_to_the_content() {
    let k = key(2);
    let h: [u8; 32] = Sha256::digest(CONTENT).into();
    let cloacina = cloacina::sign(&k, &h, SIGNED_AT);
    let rsa_shaped = [7u8; 256];
    let opts = Options::default();
    for sig in [cloacina.as_bytes(), &rsa_shaped[..]] {
        let ev = Evidence {
            sig: Some(sig),
            ..Evidence::default()
        };
        assert_eq!(
            refused_without_content(NAME.as_bytes(), 100 << 30, &ev, &opts),
            None
        );
    }
    // A native signature for another size beside an accepted minisign
    // one: the minisign signature may verify.
    let native = native_sig(&[&k]);
    let both = Evidence {
        sig: Some(native.as_bytes()),
        minisig: Some(b"untrusted comment: x\n"),
        ..Evidence::default()
    };
    assert_eq!(
        refused_without_content(NAME.as_bytes(), 1 << 40, &both, &opts),
        None
    );
    // ... unless the policy does not accept minisign.
    let no_minisign = Options {
        formats: vec![Format::Native],
        ..Options::default()
    };
    let v = refused_without_content(NAME.as_bytes(), 1 << 40, &both, &no_minisign);
    assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Tampered));
    // Text in no accepted format.
    let ev = Evidence {
        sig: Some(b"not a signature"),
        ..Evidence::default()
    };
    let v = refused_without_content(NAME.as_bytes(), 1 << 40, &ev, &opts);
    assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Malformed));
    assert_agrees(NAME.as_bytes(), 1 << 40, &ev, &TrustStore::new());
}
