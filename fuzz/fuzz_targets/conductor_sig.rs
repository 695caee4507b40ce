//! Conductor: the JSON signature (`conductor::parse`, verification of the
//! input as `plugin.wasm.sig` against the vectors' `trusted_keys.toml` and
//! `revoked_keys.toml`, with and without self-signed acceptance) and the
//! TOML trust files (`conductor::parse_keys_toml`; a store built from what
//! the input yields must verify the real signatures soundly).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{conductor, Format};
use sigward_fuzz::policy::{Options, TrustStore};
use sigward_fuzz::{only, store, vector, verify_sig, Fixture};

static FX: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new("plugin.wasm", vector!("conductor/plugin.wasm")));
static TRUST: LazyLock<TrustStore> = LazyLock::new(|| {
    store(&[
        ("trusted_keys.toml", vector!("conductor/trusted_keys.toml")),
        ("revoked_keys.toml", vector!("conductor/revoked_keys.toml")),
    ])
});
const SIGS: [&[u8]; 3] = [
    vector!("conductor/plugin.wasm.sig"),
    vector!("conductor/plugin.wasm.revoked.sig"),
    vector!("conductor/plugin.wasm.untrusted.sig"),
];

fuzz_target!(|data: &[u8]| {
    let _ = conductor::parse(data);
    verify_sig(&FX, data, &TRUST, &only(Format::Conductor));
    let self_signed = Options {
        allow_self_signed: true,
        ..only(Format::Conductor)
    };
    verify_sig(&FX, data, &TRUST, &self_signed);

    if let Ok(parsed) = conductor::parse_keys_toml("fuzz.toml", data) {
        let mut ts = TrustStore::new();
        for k in parsed.trusted.0 {
            ts.insert(k);
        }
        for fp in parsed.revoked {
            ts.revoke(fp);
        }
        for sig in SIGS {
            verify_sig(&FX, sig, &ts, &only(Format::Conductor));
            verify_sig(&FX, sig, &ts, &self_signed);
        }
    }
});
