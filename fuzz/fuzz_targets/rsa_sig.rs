//! Raw RSA PKCS#1 v1.5 signatures (`openssl dgst -sha256 -sign`) and the
//! RSA key files that trust them.
//!
//! The input is verified as `module.py.sig` against the RSA vector keys
//! (SPKI, PKCS#1, X.509 certificate, a mixed PEM file). The same input is
//! also read as a key file (`add_file` and `add_pem`); whatever keys it
//! yields must then verify the real vector signatures without panicking
//! and without crediting a key the store does not hold.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::Format;
use sigward_fuzz::policy::TrustStore;
use sigward_fuzz::{only, store, vector, verify_sig, Fixture};

static FX: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new("module.py", vector!("rsa/module.py")));
static TRUST: LazyLock<TrustStore> = LazyLock::new(|| {
    store(&[
        ("rsa2048.spki.pem", vector!("rsa/rsa2048.spki.pem")),
        ("rsa3072.pkcs1.pem", vector!("rsa/rsa3072.pkcs1.pem")),
        ("rsa4096.cert.pem", vector!("rsa/rsa4096.cert.pem")),
        ("mixed.pem", vector!("rsa/mixed.pem")),
    ])
});
const SIGS: [&[u8]; 4] = [
    vector!("rsa/module.py.rsa2048.sig"),
    vector!("rsa/module.py.rsa3072.sig"),
    vector!("rsa/module.py.rsa4096.sig"),
    vector!("rsa/module.py.rsa2048-sha512.sig"),
];

fuzz_target!(|data: &[u8]| {
    let opts = only(Format::RsaOpenssl);
    verify_sig(&FX, data, &TRUST, &opts);

    let mut by_file = TrustStore::new();
    let _ = by_file.add_file("fuzz.pem", data);
    let mut by_pem = TrustStore::new();
    let _ = by_pem.add_pem("fuzz.pem", data);
    for ts in [&by_file, &by_pem] {
        if ts.is_empty() {
            continue;
        }
        for sig in SIGS {
            verify_sig(&FX, sig, ts, &opts);
        }
    }
});
