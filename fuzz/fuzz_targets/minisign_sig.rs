//! minisign: `minisign::parse_signature`, `parse_public_key_file`, and
//! verification of the input as `payload.txt.minisig` (prehashed `ED` and,
//! when allowed, legacy `Ed`) against the minisign vector public key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{minisign, Evidence, Format};
use sigward_fuzz::policy::{Options, TrustStore};
use sigward_fuzz::{only, store, vector, verify, Fixture};

static FX: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new("payload.txt", vector!("minisign/payload.txt")));
static TRUST: LazyLock<TrustStore> =
    LazyLock::new(|| store(&[("trusted.pub", vector!("minisign/trusted.pub"))]));

fuzz_target!(|data: &[u8]| {
    let _ = minisign::parse_signature(data);
    let _ = minisign::parse_public_key_file("fuzz.pub", data);
    let evidence = Evidence {
        minisig: Some(data),
        ..Evidence::default()
    };
    verify(&FX, &evidence, &TRUST, &only(Format::Minisign));
    let strict = Options {
        minisign_legacy: false,
        ..only(Format::Minisign)
    };
    verify(&FX, &evidence, &TRUST, &strict);
});
