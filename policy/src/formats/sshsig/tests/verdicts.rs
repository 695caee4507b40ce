//! Verdicts end to end: trust, namespaces, validity, revocation.

use super::*;

#[test]
fn self_signed_only_when_the_tree_allows_it() {
    let ts = store();
    // The stranger's key is in no allowed_signers entry.
    assert_eq!(check(PAYLOAD, STRANGER).reason(), Some(Reason::Untrusted));
    let allow = Options {
        allow_self_signed: true,
        ..opts()
    };
    let v = check_with(PAYLOAD, STRANGER, &ts, &allow);
    assert!(v.is_verified() && v.is_self_signed(), "{v:?}");
    // Still a real signature over this content.
    let mut tampered = PAYLOAD.to_vec();
    tampered.push(b'!');
    assert_eq!(
        check_with(&tampered, STRANGER, &ts, &allow).reason(),
        Some(Reason::Invalid)
    );
    // And still for the policy's namespace.
    let other_ns = Options {
        ssh_namespace: Some("other".into()),
        ..allow
    };
    assert_eq!(
        check_with(PAYLOAD, STRANGER, &ts, &other_ns).reason(),
        Some(Reason::Invalid)
    );
}

#[test]
fn ed25519_sha512_vector_verifies_with_principal_as_signer() {
    let v = check(PAYLOAD, ALICE);
    assert_eq!(
        v,
        Verdict::verified(
            fingerprint_of(&key_of(ALICE_PUB)),
            Format::Ssh,
            Some("alice@example.com".into())
        )
    );
    // The same Ed25519 key has the same fingerprint in every kind of source.
    let KeyData::Ed25519(raw) = key_of(ALICE_PUB) else {
        panic!()
    };
    assert_eq!(v.key(), Some(Fingerprint::of_raw_key(&raw.0)));
}

#[test]
fn sha256_rsa_and_ecdsa_vectors_verify() {
    assert!(check(PAYLOAD, ALICE_SHA256).is_verified());
    let bob = check(PAYLOAD, BOB);
    assert!(
        matches!(&bob, Verdict::Verified { signer: Some(s), .. } if s == "bob@example.com,bob"),
        "{bob:?}"
    );
    let carol = check(PAYLOAD, CAROL);
    assert!(carol.is_verified(), "{carol:?}");
}

#[test]
fn needs_follow_the_hash_algorithm() {
    let o = opts();
    assert_eq!(
        needs(ALICE, &o),
        Needs {
            sha512: true,
            ..Needs::default()
        }
    );
    assert_eq!(needs(ALICE_SHA256, &o), Needs::default());
    assert_eq!(needs(b"junk", &o), Needs::default());
    assert_eq!(needs(ALICE, &Options::default()), Needs::default());
}

#[test]
fn tampered_payload_is_invalid() {
    for sig in [ALICE, ALICE_SHA256, BOB, CAROL] {
        let v = check(PAYLOAD_TAMPERED, sig);
        assert_eq!(v.reason(), Some(Reason::Invalid), "{v:?}");
        assert_eq!(v.format(), Some(Format::Ssh));
        assert!(v.key().is_some());
    }
}

#[test]
fn namespace_rules() {
    // Signed for "other" while the policy wants "file".
    let v = check(PAYLOAD, ALICE_OTHER);
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).contains("\"other\""), "{}", detail(&v));
    // A policy wanting "other": alice's entry allows only "file".
    let o = Options {
        ssh_namespace: Some("other".into()),
        ..opts()
    };
    let v = check_with(PAYLOAD, ALICE_OTHER, &store(), &o);
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    assert!(detail(&v).contains("namespace"), "{}", detail(&v));
    // frank's entry says namespaces="git,!file".
    let v = check(PAYLOAD, FRANK);
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    // No namespace in the policy: refused outright.
    let none = Options {
        ssh_namespace: None,
        ..opts()
    };
    let v = check_with(PAYLOAD, ALICE, &store(), &none);
    assert_eq!(v.reason(), Some(Reason::Malformed));
    assert!(detail(&v).contains("no ssh_namespace set in the policy"));
}

#[test]
fn validity_windows() {
    let v = check(PAYLOAD, DAVE);
    assert_eq!(v.reason(), Some(Reason::Expired));
    assert!(
        detail(&v).contains("2020-01-01T00:00:00Z"),
        "{}",
        detail(&v)
    );
    let v = check(PAYLOAD, ERIN);
    assert_eq!(v.reason(), Some(Reason::Expired));
    assert!(detail(&v).contains("not yet valid"), "{}", detail(&v));
    // Inside dave's window.
    let early = Options {
        now: 1_500_000_000,
        ..opts()
    };
    assert!(check_with(PAYLOAD, DAVE, &store(), &early).is_verified());
    // valid-before is inclusive, as in OpenSSH.
    let edge = Options {
        now: 1_577_836_800,
        ..opts()
    };
    assert!(check_with(PAYLOAD, DAVE, &store(), &edge).is_verified());
    let late = Options {
        now: 4_070_952_000,
        ..opts()
    };
    assert!(check_with(PAYLOAD, ERIN, &store(), &late).is_verified());
}

#[test]
fn stranger_is_untrusted_with_its_fingerprint() {
    let v = check(PAYLOAD, STRANGER);
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    let key = key_of(STRANGER_PUB);
    assert_eq!(v.key(), Some(fingerprint_of(&key)));
    assert!(
        detail(&v).contains(&openssh_fingerprint(&key)),
        "{}",
        detail(&v)
    );
    assert!(openssh_fingerprint(&key).starts_with("SHA256:"));
    // The key trusted through a PEM/hex source only is still not enough.
    let KeyData::Ed25519(raw) = key else { panic!() };
    let mut ts = store();
    ts.add_file("stranger.public", hex::encode(raw.0).as_bytes())
        .unwrap();
    let v = check_with(PAYLOAD, STRANGER, &ts, &opts());
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    assert!(
        detail(&v).contains("not through an allowed_signers file"),
        "{}",
        detail(&v)
    );
}

#[test]
fn certificate_signatures_are_not_supported() {
    let sig = parse(GRACE_CERT).unwrap();
    assert!(
        matches!(&sig.key, SignerKey::Certificate(a) if a == "ssh-ed25519-cert-v01@openssh.com")
    );
    let v = check(PAYLOAD, GRACE_CERT);
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    assert!(detail(&v).contains("certificate"), "{}", detail(&v));
}

#[test]
fn cert_authority_key_does_not_sign_files() {
    // An entry for alice's key marked cert-authority only.
    let line = format!("alice@example.com cert-authority {}", ALICE_PUB.trim());
    let mut ts = TrustStore::new();
    ts.add_allowed_signers("ca", line.as_bytes()).unwrap();
    let v = check_with(PAYLOAD, ALICE, &ts, &opts());
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    assert!(detail(&v).contains("cert-authority"), "{}", detail(&v));
}

#[test]
fn revoked_key() {
    let mut ts = store();
    let fp = fingerprint_of(&key_of(ALICE_PUB));
    ts.revoke(fp);
    let v = check_with(PAYLOAD, ALICE, &ts, &opts());
    assert_eq!(v.reason(), Some(Reason::Revoked));
    assert_eq!(v.key(), Some(fp));
}

#[test]
fn sniffing() {
    assert_eq!(sniff(ALICE), Sniff::Yes);
    assert_eq!(sniff(b"untrusted comment: x"), Sniff::No);
    assert_eq!(sniff(&[0u8; 256]), Sniff::No);
}

#[test]
fn missing_sha512_is_an_internal_failure_not_a_pass() {
    let sha256: [u8; 32] = Sha256::digest(PAYLOAD).into();
    let subject = Subject::new(b"payload.txt", PAYLOAD.len() as u64, &sha256);
    let v = verify(&subject, ALICE, &Evidence::default(), &store(), &opts());
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).starts_with("internal:"));
}
