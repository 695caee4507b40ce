//! `TrustStore::add_file`: key files recognised by content (PEM public
//! keys and certificates, 64-hex Ed25519 keys, minisign public keys,
//! Conductor `trusted_keys.toml` / `revoked_keys.toml`). Whatever the input
//! loads (keys and revocations) is then used to verify one real signature
//! of every per-file format: no panic, and no success for a key the store
//! does not hold or has revoked.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{Evidence, Format};
use sigward_fuzz::policy::TrustStore;
use sigward_fuzz::{example, only, vector, verify, Fixture};

struct Case {
    fx: Fixture,
    format: Format,
    sig: Option<&'static [u8]>,
    minisig: Option<&'static [u8]>,
}

static CASES: LazyLock<Vec<Case>> = LazyLock::new(|| {
    let sig = |fx, format, s| Case {
        fx,
        format,
        sig: Some(s),
        minisig: None,
    };
    vec![
        sig(
            Fixture::new("hello.py", example!("plugins/hello.py")),
            Format::Native,
            example!("plugins/hello.py.sig"),
        ),
        sig(
            Fixture::new("module.py", vector!("rsa/module.py")),
            Format::RsaOpenssl,
            vector!("rsa/module.py.rsa2048.sig"),
        ),
        sig(
            Fixture::new("libworkflow.so", vector!("cloacina/libworkflow.so")),
            Format::Cloacina,
            vector!("cloacina/libworkflow.so.sig"),
        ),
        sig(
            Fixture::new("plugin.wasm", vector!("conductor/plugin.wasm")),
            Format::Conductor,
            vector!("conductor/plugin.wasm.sig"),
        ),
        sig(
            Fixture::new(
                "acme-hello-1.0.0.notur",
                vector!("notur/acme-hello-1.0.0.notur"),
            ),
            Format::Notur,
            vector!("notur/acme-hello-1.0.0.notur.sig"),
        ),
        Case {
            fx: Fixture::new("payload.txt", vector!("minisign/payload.txt")),
            format: Format::Minisign,
            sig: None,
            minisig: Some(vector!("minisign/payload.txt.minisig")),
        },
    ]
});

fuzz_target!(|data: &[u8]| {
    let mut ts = TrustStore::new();
    let Ok(report) = ts.add_file("fuzz.key", data) else {
        return;
    };
    assert!(report.added <= ts.len());
    assert_eq!(report.revoked, ts.revoked().count());
    for c in CASES.iter() {
        let evidence = Evidence {
            sig: c.sig,
            minisig: c.minisig,
            sha256sum: None,
        };
        verify(&c.fx, &evidence, &ts, &only(c.format));
    }
});
