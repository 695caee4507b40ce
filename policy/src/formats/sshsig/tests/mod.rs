//! Unit tests of `sshsig`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::patterns::split_list;
use super::times::format_time;
use super::wire::{put_string, Wire};
use super::*;
use crate::formats;
use crate::trust::KeyFileError;
use base64::Engine as _;
use sha2::{Digest as _, Sha256, Sha512};

const ALLOWED: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/allowed_signers");
const PAYLOAD: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt");
const PAYLOAD_TAMPERED: &[u8] =
    include_bytes!("../../../../../tests/vectors/ssh/payload_tampered.txt");
const ALICE: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt.alice.sig");
const ALICE_SHA256: &[u8] =
    include_bytes!("../../../../../tests/vectors/ssh/payload.txt.alice-sha256.sig");
const ALICE_OTHER: &[u8] =
    include_bytes!("../../../../../tests/vectors/ssh/payload.txt.alice-other.sig");
const BOB: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt.bob.sig");
const CAROL: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt.carol.sig");
const DAVE: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt.dave.sig");
const ERIN: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt.erin.sig");
const FRANK: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt.frank.sig");
const STRANGER: &[u8] = include_bytes!("../../../../../tests/vectors/ssh/payload.txt.stranger.sig");
const GRACE_CERT: &[u8] =
    include_bytes!("../../../../../tests/vectors/ssh/payload.txt.grace-cert.sig");
const ALICE_PUB: &str = include_str!("../../../../../tests/vectors/ssh/alice_ed25519.pub");
const STRANGER_PUB: &str = include_str!("../../../../../tests/vectors/ssh/stranger_ed25519.pub");

/// 2026-01-01T00:00:00Z, the time make.sh cross-checks at.
const NOW: u64 = 1_767_225_600;

fn store() -> TrustStore {
    let mut ts = TrustStore::new();
    let report = ts.add_allowed_signers("allowed_signers", ALLOWED).unwrap();
    assert_eq!(report.added, 7, "{report:?}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    ts
}

fn opts() -> Options {
    Options {
        ssh_namespace: Some("file".into()),
        now: NOW,
        ..Options::default()
    }
}

/// Verifies through the dispatcher, computing what `needs` asks for the
/// way the caller does.
fn check_with(content: &[u8], sig: &[u8], ts: &TrustStore, opts: &Options) -> Verdict {
    let evidence = Evidence {
        sig: Some(sig),
        ..Evidence::default()
    };
    let n = formats::needs(&evidence, opts);
    let sha256: [u8; 32] = Sha256::digest(content).into();
    let sha512: [u8; 64] = Sha512::digest(content).into();
    let mut subject = Subject::new(b"payload.txt", content.len() as u64, &sha256);
    if n.sha512 {
        subject.sha512 = Some(&sha512);
    }
    formats::verify(&subject, &evidence, ts, opts)
}

fn check(content: &[u8], sig: &[u8]) -> Verdict {
    check_with(content, sig, &store(), &opts())
}

fn detail(v: &Verdict) -> String {
    match v {
        Verdict::Rejected { detail, .. } => detail.clone(),
        Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
    }
}

fn key_of(pub_line: &str) -> KeyData {
    PublicKey::from_openssh(pub_line)
        .unwrap()
        .key_data()
        .clone()
}

mod blob;
mod error_texts;
mod signers;
mod verdicts;
