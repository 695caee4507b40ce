//! Unit tests of `conductor`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::formats;
use sha2::{Digest, Sha256};

const PLUGIN: &[u8] = include_bytes!("../../../../tests/vectors/conductor/plugin.wasm");
const TAMPERED: &[u8] = include_bytes!("../../../../tests/vectors/conductor/plugin-tampered.wasm");
const SIG: &[u8] = include_bytes!("../../../../tests/vectors/conductor/plugin.wasm.sig");
const UNTRUSTED_SIG: &[u8] =
    include_bytes!("../../../../tests/vectors/conductor/plugin.wasm.untrusted.sig");
const REVOKED_SIG: &[u8] =
    include_bytes!("../../../../tests/vectors/conductor/plugin.wasm.revoked.sig");
const BAD_SIG: &[u8] = include_bytes!("../../../../tests/vectors/conductor/plugin.wasm.badsig.sig");
const TRUSTED_TOML: &[u8] = include_bytes!("../../../../tests/vectors/conductor/trusted_keys.toml");
const REVOKED_TOML: &[u8] = include_bytes!("../../../../tests/vectors/conductor/revoked_keys.toml");
const PUBLIC: &[u8] = include_bytes!("../../../../tests/vectors/conductor/my-plugin-key.public");
const PRIVATE: &[u8] = include_bytes!("../../../../tests/vectors/conductor/my-plugin-key.private");

const T: &str = "2025-11-19T08:59:12.482113+00:00";

fn dev_key() -> SigningKey {
    SigningKey::from_bytes(&PRIVATE.try_into().unwrap())
}

fn dev_fp() -> Fingerprint {
    Fingerprint::of_ed25519(&dev_key().verifying_key())
}

/// trusted_keys.toml + revoked_keys.toml, loaded as the agent loads them.
fn store() -> TrustStore {
    let mut ts = TrustStore::new();
    let r = ts.add_file("trusted_keys.toml", TRUSTED_TOML).unwrap();
    assert_eq!((r.added, r.revoked, r.warnings.len()), (2, 0, 0));
    let r = ts.add_file("revoked_keys.toml", REVOKED_TOML).unwrap();
    assert_eq!((r.added, r.revoked), (0, 1));
    ts
}

fn check(content: &[u8], sig: &[u8], ts: &TrustStore) -> Verdict {
    let h: [u8; 32] = Sha256::digest(content).into();
    let subject = Subject::new(b"plugin.wasm", content.len() as u64, &h);
    let evidence = Evidence {
        sig: Some(sig),
        ..Evidence::default()
    };
    let opts = Options::default();
    let direct = verify(&subject, sig, &evidence, ts, &opts);
    let dispatched = formats::verify(&subject, &evidence, ts, &opts);
    assert_eq!(dispatched, direct.clone().in_format(Format::Conductor));
    direct
}

fn detail(v: &Verdict) -> String {
    match v {
        Verdict::Rejected { detail, .. } => detail.clone(),
        Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
    }
}

#[test]
fn interop_valid() {
    let v = check(PLUGIN, SIG, &store());
    assert_eq!(
        v,
        Verdict::verified(
            dev_fp(),
            Format::Conductor,
            Some("Your Name <you@example.com>".into())
        )
    );
    // Trusting the bare .public file works as well.
    let mut ts = TrustStore::new();
    ts.add_file("my-plugin-key.public", PUBLIC).unwrap();
    assert!(check(PLUGIN, SIG, &ts).is_verified());
    assert_eq!(sniff(SIG), Sniff::Yes);
}

#[test]
fn interop_tampered() {
    let v = check(TAMPERED, SIG, &store());
    assert_eq!(v.reason(), Some(Reason::Tampered));
    let d = detail(&v);
    assert!(d.contains(&hex::encode(Sha256::digest(PLUGIN))), "{d}");
    assert!(d.contains(&hex::encode(Sha256::digest(TAMPERED))), "{d}");
    assert_eq!(v.key(), Some(dev_fp()));
    // Size differs.
    let mut longer = PLUGIN.to_vec();
    longer.push(0);
    assert_eq!(
        check(&longer, SIG, &store()).reason(),
        Some(Reason::Tampered)
    );
}

#[test]
fn interop_untrusted_revoked_invalid() {
    let ts = store();
    let v = check(PLUGIN, UNTRUSTED_SIG, &ts);
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    assert!(detail(&v).contains("Mallory"));
    let v = check(PLUGIN, REVOKED_SIG, &ts);
    assert_eq!(v.reason(), Some(Reason::Revoked));
    let v = check(PLUGIN, BAD_SIG, &ts);
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert_eq!(v.key(), Some(dev_fp()));
    // Without the revocation list the old key is simply trusted.
    let mut ts = TrustStore::new();
    ts.add_file("trusted_keys.toml", TRUSTED_TOML).unwrap();
    let v = check(PLUGIN, REVOKED_SIG, &ts);
    assert_eq!(v.format(), Some(Format::Conductor), "{v:?}");
    assert!(v.is_verified());
    // Nothing trusted.
    assert_eq!(
        check(PLUGIN, SIG, &TrustStore::new()).reason(),
        Some(Reason::Untrusted)
    );
}

#[test]
fn self_signed_level_accepts_the_embedded_key_only_when_asked() {
    let h: [u8; 32] = Sha256::digest(PLUGIN).into();
    let subject = Subject::new(b"plugin.wasm", PLUGIN.len() as u64, &h);
    let empty = TrustStore::new();
    assert_eq!(
        verify_with(&subject, UNTRUSTED_SIG, &empty, false).reason(),
        Some(Reason::Untrusted)
    );
    assert!(verify_with(&subject, UNTRUSTED_SIG, &empty, true).is_verified());
    assert_eq!(
        verify_with(&subject, BAD_SIG, &empty, true).reason(),
        Some(Reason::Invalid)
    );
    assert_eq!(
        verify_with(&subject, REVOKED_SIG, &store(), true).reason(),
        Some(Reason::Revoked)
    );
}

#[test]
fn our_signer_writes_what_conductor_writes() {
    let h: [u8; 32] = Sha256::digest(PLUGIN).into();
    let text = sign(
        &dev_key(),
        &h,
        PLUGIN.len() as u64,
        T,
        "Your Name",
        "you@example.com",
    );
    assert_eq!(text.as_bytes(), SIG);
    assert_eq!(
        std::str::from_utf8(PUBLIC).unwrap(),
        hex::encode(dev_key().verifying_key().as_bytes())
    );
}

#[test]
fn flipped_signature_and_edited_fields() {
    let ts = store();
    let doc: SignatureFile = serde_json::from_slice(SIG).unwrap();
    let edit = |f: &dyn Fn(&mut SignatureFile)| {
        let mut d = doc.clone();
        f(&mut d);
        serde_json::to_string_pretty(&d).unwrap()
    };
    let flipped = edit(&|d| {
        let mut raw = hex::decode(&d.signature).unwrap();
        raw[7] ^= 1;
        d.signature = hex::encode(raw);
    });
    assert_eq!(
        check(PLUGIN, flipped.as_bytes(), &ts).reason(),
        Some(Reason::Invalid)
    );
    // Unsigned fields may change without breaking the signature.
    let renamed = edit(&|d| {
        d.signed_at = "2030-01-01T00:00:00Z".into();
        d.developer.name = "Someone Else".into();
    });
    let v = check(PLUGIN, renamed.as_bytes(), &ts);
    assert!(v.is_verified());
    // Rewriting the hash to match tampered content: signature fails.
    let rehashed = edit(&|d| d.plugin_hash = hex::encode(Sha256::digest(TAMPERED)));
    assert_eq!(
        check(TAMPERED, rehashed.as_bytes(), &ts).reason(),
        Some(Reason::Invalid)
    );
    // Swapping in an untrusted key.
    let swapped = edit(&|d| {
        d.public_key = hex::encode(SigningKey::from_bytes(&[4; 32]).verifying_key().as_bytes())
    });
    assert_eq!(
        check(PLUGIN, swapped.as_bytes(), &ts).reason(),
        Some(Reason::Untrusted)
    );
}

#[test]
fn malformed() {
    let ts = store();
    let doc: SignatureFile = serde_json::from_slice(SIG).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            serde_json::to_string(&SignatureFile {
                version: 2,
                ..doc.clone()
            })
            .unwrap(),
            "version 2",
        ),
        (
            serde_json::to_string(&SignatureFile {
                algorithm: "ed25519".into(),
                ..doc.clone()
            })
            .unwrap(),
            "algorithm",
        ),
        (
            serde_json::to_string(&SignatureFile {
                plugin_hash: "abc".into(),
                ..doc.clone()
            })
            .unwrap(),
            "plugin_hash",
        ),
        (
            serde_json::to_string(&SignatureFile {
                public_key: "zz".into(),
                ..doc.clone()
            })
            .unwrap(),
            "public_key",
        ),
        (
            serde_json::to_string(&SignatureFile {
                signature: doc.signature[..126].into(),
                ..doc.clone()
            })
            .unwrap(),
            "signature",
        ),
        (
            String::from_utf8(SIG[..SIG.len() / 2].to_vec()).unwrap(),
            "not a Conductor",
        ),
        (r#"{"plugin_hash": 1}"#.into(), "not a Conductor"),
        (
            format!("{{\"plugin_hash\":\"{}\"}}", "a".repeat(MAX_SIG_BYTES)),
            "at most",
        ),
    ];
    for (text, want) in cases {
        let v = check(PLUGIN, text.as_bytes(), &ts);
        assert_eq!(v.reason(), Some(Reason::Malformed), "{text}");
        assert!(detail(&v).contains(want), "{want}: {}", detail(&v));
    }
    assert_eq!(sniff(b"{\"package_hash\": 1}"), Sniff::No);
    assert_eq!(sniff(b"\"plugin_hash\""), Sniff::No);
    assert_eq!(sniff(&[0xff; 4096]), Sniff::No);
    let deep = format!("{}\"plugin_hash\"", "[".repeat(100_000));
    assert!(parse(deep.as_bytes()).is_err());
}

#[test]
fn trusted_keys_toml() {
    let parsed = parse_keys_toml("trusted_keys.toml", TRUSTED_TOML).unwrap();
    let (keys, warnings) = &parsed.trusted;
    assert!(warnings.is_empty());
    assert!(parsed.revoked.is_empty());
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].fingerprint, dev_fp());
    assert_eq!(keys[0].block, 1);
    assert_eq!(keys[1].block, 2);
    assert_eq!(keys[0].source, "trusted_keys.toml");
    assert_eq!(
        keys[0].label.as_deref(),
        Some("Your Name <you@example.com>")
    );
    assert_eq!(
        keys[0].origin,
        KeyOrigin::Conductor {
            name: "Your Name".into(),
            email: "you@example.com".into()
        }
    );
    let parsed = parse_keys_toml("revoked_keys.toml", REVOKED_TOML).unwrap();
    assert!(parsed.trusted.0.is_empty());
    assert_eq!(parsed.revoked, vec![keys[1].fingerprint]);
}

#[test]
fn keys_toml_variants_and_errors() {
    let pk = hex::encode(dev_key().verifying_key().as_bytes());
    let fp = dev_fp().to_string();
    // Both tables in one file; public_key form of revocation; uppercase.
    let both = format!(
        "# trust\n[[keys]]\npublic_key = \"{}\"\n\n[[revoked]]\npublic_key = \" {pk} \"\nreason = \"x\"\n\n[[revoked]]\nfingerprint = \"{}\"\npublic_key = \"{pk}\"\n",
        pk.to_uppercase(),
        fp.to_uppercase()
    );
    let parsed = parse_keys_toml("both", both.as_bytes()).unwrap();
    assert_eq!(parsed.trusted.0.len(), 1);
    assert_eq!(parsed.trusted.0[0].label, None);
    assert_eq!(parsed.revoked, vec![dev_fp(), dev_fp()]);

    // A bad trusted entry is skipped with a warning naming its line.
    let skip = format!(
        "[[keys]]\nname = \"bad\"\npublic_key = \"nothex\"\n\n[[keys]]\nname = \"ok\"\npublic_key = \"{pk}\"\n"
    );
    let parsed = parse_keys_toml("k.toml", skip.as_bytes()).unwrap();
    assert_eq!(parsed.trusted.0.len(), 1);
    assert_eq!(parsed.trusted.0[0].block, 2);
    assert_eq!(parsed.trusted.0[0].label.as_deref(), Some("ok"));
    assert_eq!(parsed.trusted.1.len(), 2);
    assert!(
        parsed.trusted.1[0].contains("k.toml: line 1"),
        "{:?}",
        parsed.trusted.1
    );
    // ...but when nothing is usable the file is refused.
    let none = "[[keys]]\nname = \"x\"\n";
    assert!(matches!(
        parse_keys_toml("k", none.as_bytes()),
        Err(KeyFileError::NoUsableKey(_))
    ));

    let line_err = |text: &str| match parse_keys_toml("k", text.as_bytes()) {
        Err(KeyFileError::Line { line, message }) => (line, message),
        other => panic!("{text:?}: {:?}", other.map(|p| p.revoked)),
    };
    // A bad revocation entry refuses the whole file, at its line.
    let (line, msg) = line_err(&format!(
        "[[revoked]]\nfingerprint = \"{fp}\"\n\n[[revoked]]\nreason = \"x\"\nfingerprint = \"abc\"\n"
    ));
    assert_eq!(line, 6, "{msg}");
    assert!(msg.contains("entry 2"), "{msg}");
    let (line, msg) = line_err("[[revoked]]\nreason = \"no key\"\n");
    assert_eq!(line, 1);
    assert!(msg.contains("fingerprint"), "{msg}");
    let (line, msg) = line_err(&format!(
        "[[revoked]]\nfingerprint = \"{}\"\npublic_key = \"{pk}\"\n",
        "0".repeat(64)
    ));
    assert_eq!(line, 3);
    assert!(msg.contains("does not match"), "{msg}");
    let (_, msg) = line_err("[[revoked]]\nfingerprint = 5\n");
    assert!(msg.contains("must be a string"), "{msg}");
    // Unknown top-level keys and wrong shapes.
    let (line, msg) = line_err(&format!(
        "[[keys]]\npublic_key = \"{pk}\"\n\n[[revoke]]\nfingerprint = \"{fp}\"\n"
    ));
    assert_eq!(line, 4);
    assert!(msg.contains("revoke"), "{msg}");
    let (_, msg) = line_err("keys = 5\n[[revoked]]\n");
    assert!(msg.contains("array of tables"), "{msg}");
    // TOML syntax errors carry their line.
    let (line, msg) = line_err("[[keys]]\nname = \"a\"\npublic_key = \n");
    assert_eq!(line, 3, "{msg}");
    // Not UTF-8, too big, empty.
    assert!(matches!(
        parse_keys_toml("k", b"[[keys]]\nname = \"\xff\"\n"),
        Err(KeyFileError::Invalid(_))
    ));
    assert!(matches!(
        parse_keys_toml("k", &vec![b'#'; MAX_TOML_BYTES + 1]),
        Err(KeyFileError::Invalid(_))
    ));
    assert!(matches!(
        parse_keys_toml("k", b"# [[keys]]\n"),
        Err(KeyFileError::NoUsableKey(_))
    ));
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("[[keys]]\nx = {}\n", "[".repeat(100_000));
    assert!(parse_keys_toml("k", deep.as_bytes()).is_err());
}

#[test]
fn revocation_through_the_trust_store_from_a_combined_file() {
    let text = format!(
        "{}\n[[revoked]]\nfingerprint = \"{}\"\n",
        std::str::from_utf8(TRUSTED_TOML).unwrap(),
        dev_fp()
    );
    let mut ts = TrustStore::new();
    let r = ts.add_file("combined.toml", text.as_bytes()).unwrap();
    assert_eq!((r.added, r.revoked), (2, 1));
    assert_eq!(check(PLUGIN, SIG, &ts).reason(), Some(Reason::Revoked));
}

#[test]
fn mutated_signature_files_never_panic() {
    let h: [u8; 32] = Sha256::digest(PLUGIN).into();
    let subject = Subject {
        content: Some(PLUGIN),
        ..Subject::new(b"plugin.wasm", PLUGIN.len() as u64, &h)
    };
    crate::formats::testutil::mutations_never_name_another_key(
        verify,
        &subject,
        SIG,
        None,
        &store(),
        dev_fp(),
    );
}

#[test]
fn empty_revocation_lists_revoke_nothing_with_a_warning() {
    // Conductor's `revoked` defaults to empty: these revoke nothing there,
    // and sigward reads them the same way instead of refusing the policy.
    for text in ["revoked = []\n", "# nothing yet\nrevoked = []\nkeys = []\n"] {
        let parsed = parse_keys_toml("revoked_keys.toml", text.as_bytes()).unwrap();
        assert!(parsed.revoked.is_empty() && parsed.trusted.0.is_empty());
        assert_eq!(
            parsed.trusted.1,
            ["revoked_keys.toml: revokes nothing (an empty Conductor revocation list)"]
        );
        let mut ts = TrustStore::new();
        let r = ts.add_file("revoked_keys.toml", text.as_bytes()).unwrap();
        assert_eq!((r.added, r.revoked, r.warnings.len()), (0, 0, 1));
        let r = ts
            .add_revocation_file("revoked_keys.toml", text.as_bytes())
            .unwrap();
        assert_eq!((r.added, r.revoked, r.warnings.len()), (0, 0, 1));
    }
    // An empty file (or comments only) is one too, where a revocation
    // list is expected.
    for text in ["", "\n", "# revoked keys\n"] {
        assert!(is_empty_revocation_list(text.as_bytes()), "{text:?}");
        let mut ts = TrustStore::new();
        let r = ts.add_revocation_file("r.toml", text.as_bytes()).unwrap();
        assert_eq!(
            r.warnings,
            ["r.toml: revokes nothing (an empty Conductor revocation list)"]
        );
        // ...but not where keys are expected.
        assert!(ts.add_file("r.toml", text.as_bytes()).is_err());
    }
    // A trust list that trusts nothing is still refused, and a list with
    // entries is no empty list.
    assert!(matches!(
        parse_keys_toml("k", b"keys = []\n"),
        Err(KeyFileError::NoUsableKey(_))
    ));
    assert!(!is_empty_revocation_list(REVOKED_TOML));
    assert!(!is_empty_revocation_list(PUBLIC));
    assert!(!is_empty_revocation_list(b"revoked = [1]\n"));
    assert!(!is_empty_revocation_list(b"other = []\n"));
    assert!(!is_empty_revocation_list(b"\xff"));
    // A broken revocation list stays an error.
    assert!(parse_keys_toml("k", b"revoked = [{ reason = \"x\" }]\n").is_err());
}

#[test]
fn trusted_keys_entries_conductor_refuses_are_loaded_with_warnings() {
    let pk = hex::encode(dev_key().verifying_key().as_bytes());
    // As `conductor-sign trust add` writes it: no warning.
    let full = format!(
        "[[keys]]\nname = \"Official Plugin\"\nemail = \"\"\npublic_key = \"{pk}\"\nadded_at = \"2025-11-19T08:50:03.113904+00:00\"\n"
    );
    let parsed = parse_keys_toml("trusted_keys.toml", full.as_bytes()).unwrap();
    assert!(parsed.trusted.1.is_empty(), "{:?}", parsed.trusted.1);
    // Upper-case hex and missing fields: the key is trusted, and the
    // warnings name the entry and what Conductor does with it.
    let lax = format!(
        "[[keys]]\nname = \"Official Plugin\"\nemail = \"\"\npublic_key = \"{}\"\nadded_at = \"2025-11-19T08:50:03+00:00\"\n\n[[keys]]\npublic_key = \"{pk}\"\nname = \"n\"\n",
        pk.to_uppercase()
    );
    let parsed = parse_keys_toml("trusted_keys.toml", lax.as_bytes()).unwrap();
    assert_eq!(parsed.trusted.0.len(), 2);
    assert_eq!(parsed.trusted.0[0].fingerprint, dev_fp());
    assert_eq!(
        parsed.trusted.1,
        [
            "trusted_keys.toml: line 1: [[keys]] entry 1: upper-case hex in public_key: Conductor \
             compares it as text and will not trust this key",
            "trusted_keys.toml: line 7: [[keys]] entry 2: no `email`, `added_at`: Conductor \
             requires name, email and added_at in every entry and will refuse this file",
        ]
    );
    let mut ts = TrustStore::new();
    let r = ts.add_file("trusted_keys.toml", lax.as_bytes()).unwrap();
    assert_eq!(r.warnings.len(), 2);
    assert!(check(PLUGIN, SIG, &ts).is_verified());
}

#[test]
fn upper_case_hex_in_a_signature_verifies_with_a_warning() {
    let ts = store();
    assert!(check(PLUGIN, SIG, &ts).warnings().is_empty());
    let doc: SignatureFile = serde_json::from_slice(SIG).unwrap();
    let mut d = doc.clone();
    d.plugin_hash = d.plugin_hash.to_uppercase();
    let v = check(
        PLUGIN,
        serde_json::to_string_pretty(&d).unwrap().as_bytes(),
        &ts,
    );
    assert!(v.is_verified());
    assert_eq!(
        v.warnings(),
        ["upper-case hex in plugin_hash: Conductor compares it as text and will refuse this plugin"]
    );
    d.public_key = d.public_key.to_uppercase();
    let v = check(
        PLUGIN,
        serde_json::to_string_pretty(&d).unwrap().as_bytes(),
        &ts,
    );
    assert!(v.is_verified());
    assert_eq!(
        v.warnings(),
        [WARN_UPPER_PLUGIN_HASH, WARN_UPPER_PUBLIC_KEY]
    );
    // Only successes carry warnings.
    let v = check(
        TAMPERED,
        serde_json::to_string_pretty(&d).unwrap().as_bytes(),
        &ts,
    );
    assert!(!v.is_verified() && v.warnings().is_empty());
}
