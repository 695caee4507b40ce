//! Notur: hex Ed25519 signatures over the whole archive and the
//! `sha256sum` companion. The input is read by `notur::parse_signature` and
//! `notur::parse_sha256sum`, verified as `acme-hello-1.0.0.notur.sig` (with
//! the real `.sha256` beside it), and verified as the `.sha256` companion
//! beside the real signature, against the Notur vector public key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{notur, Evidence, Format};
use sigward_fuzz::policy::TrustStore;
use sigward_fuzz::{only, store, vector, verify, Fixture};

static FX: LazyLock<Fixture> = LazyLock::new(|| {
    Fixture::new(
        "acme-hello-1.0.0.notur",
        vector!("notur/acme-hello-1.0.0.notur"),
    )
});
static TRUST: LazyLock<TrustStore> =
    LazyLock::new(|| store(&[("public.hex", vector!("notur/public.hex"))]));
const SIG: &[u8] = vector!("notur/acme-hello-1.0.0.notur.sig");
const SUMS: &[u8] = vector!("notur/acme-hello-1.0.0.notur.sha256");

fuzz_target!(|data: &[u8]| {
    let _ = notur::parse_signature(data);
    let _ = notur::parse_sha256sum(data);
    let opts = only(Format::Notur);
    for evidence in [
        Evidence {
            sig: Some(data),
            sha256sum: Some(SUMS),
            ..Evidence::default()
        },
        Evidence {
            sig: Some(data),
            ..Evidence::default()
        },
        Evidence {
            sig: Some(SIG),
            sha256sum: Some(data),
            ..Evidence::default()
        },
    ] {
        verify(&FX, &evidence, &TRUST, &opts);
    }
});
