//! Cloacina JSON signatures: `cloacina::parse` and verification of the
//! input as `libworkflow.so.sig` against the Cloacina vector release key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{cloacina, Format};
use sigward_fuzz::policy::TrustStore;
use sigward_fuzz::{only, store, vector, verify_sig, Fixture};

static FX: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new("libworkflow.so", vector!("cloacina/libworkflow.so")));
static TRUST: LazyLock<TrustStore> =
    LazyLock::new(|| store(&[("release.pub.pem", vector!("cloacina/release.pub.pem"))]));

fuzz_target!(|data: &[u8]| {
    let _ = cloacina::parse(data);
    verify_sig(&FX, data, &TRUST, &only(Format::Cloacina));
});
