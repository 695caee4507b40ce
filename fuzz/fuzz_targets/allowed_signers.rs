//! OpenSSH `allowed_signers` files: `TrustStore::add_allowed_signers`
//! (principals, `namespaces=`, `valid-after`/`valid-before`,
//! `cert-authority`, every key type). The keys loaded then verify the real
//! OpenSSH vector signatures (namespace `file`, at 2026-01-01): no panic,
//! and no success for a key the store does not hold.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::Format;
use sigward_fuzz::policy::TrustStore;
use sigward_fuzz::{only, vector, verify_sig, Fixture};

static FX: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new("payload.txt", vector!("ssh/payload.txt")));
const SIGS: [&[u8]; 7] = [
    vector!("ssh/payload.txt.alice.sig"),
    vector!("ssh/payload.txt.alice-sha256.sig"),
    vector!("ssh/payload.txt.bob.sig"),
    vector!("ssh/payload.txt.carol.sig"),
    vector!("ssh/payload.txt.dave.sig"),
    vector!("ssh/payload.txt.frank.sig"),
    vector!("ssh/payload.txt.grace-cert.sig"),
];

fuzz_target!(|data: &[u8]| {
    let mut ts = TrustStore::new();
    let Ok(report) = ts.add_allowed_signers("allowed_signers", data) else {
        return;
    };
    assert_eq!(report.added, ts.len());
    if ts.is_empty() {
        return;
    }
    let opts = only(Format::Ssh);
    for sig in SIGS {
        verify_sig(&FX, sig, &ts, &opts);
    }
});
