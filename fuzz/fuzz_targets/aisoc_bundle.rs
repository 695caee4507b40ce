//! AiSOC bundle verification: `aisoc::verify_bundle` (and so
//! `parse_signature` and `canonical`) with a hostile `plugin.sig` and
//! manifest against the AiSOC vector signer key.
//!
//! Input layout (see `make_seeds.py`): byte 0: bit 0 picks the manifest
//! name (0: `plugin.yaml`, 1: `aisoc-plugin.json`), bits 1-7 modulo 6 pick
//! the `*.py` map of one vector plugin; bytes 1-2: the length of
//! `plugin.sig` (big-endian, capped at what remains); then `plugin.sig`;
//! the rest is the manifest.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{aisoc, Format};
use sigward_fuzz::policy::TrustStore;
use sigward_fuzz::{check, only, store, vector, AISOC_FILES};

static TRUST: LazyLock<TrustStore> =
    LazyLock::new(|| store(&[("signer.pem", vector!("aisoc/signer.pem"))]));

fuzz_target!(|data: &[u8]| {
    let [head, hi, lo, rest @ ..] = data else {
        return;
    };
    let manifest_name = aisoc::MANIFEST_NAMES[usize::from(head & 1)];
    let files = &AISOC_FILES[usize::from(head >> 1) % AISOC_FILES.len()];
    let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (sig, manifest) = rest.split_at(n);
    let _ = aisoc::parse_signature(sig);
    let bundle = aisoc::Bundle {
        manifest_name,
        manifest,
        sig,
        files,
    };
    let v = aisoc::verify_bundle(&bundle, &TRUST);
    check(&v, &TRUST, &only(Format::Aisoc));
});
