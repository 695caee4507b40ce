//! The trust sources read in the tools' own forms: a Notur panel's `.env`
//! (`TrustStore::add_notur_env`), a file of AiSOC's trusted-keys directory
//! (`TrustStore::add_aisoc_key`) and a revocation directory's file
//! (`TrustStore::add_revocation_file`). No panic; at most one key from a
//! `.env` or an AiSOC file, and it is an Ed25519 key; a revocation file
//! trusts nothing it does not also revoke.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::TrustStore;

fuzz_target!(|data: &[u8]| {
    let mut ts = TrustStore::new();
    if let Ok(r) = ts.add_notur_env("fuzz.env", data) {
        assert_eq!((r.added, ts.len()), (1, 1));
        assert!(ts.iter().all(|k| k.ed25519().is_some()));
    }
    let mut ts = TrustStore::new();
    if let Ok(r) = ts.add_aisoc_key("fuzz.pem", "fuzz", data) {
        assert_eq!((r.added, ts.len()), (1, 1));
        assert!(ts.iter().all(|k| k.ed25519().is_some()));
    }
    let mut ts = TrustStore::new();
    if let Ok(r) = ts.add_revocation_file("fuzz.toml", data) {
        assert!(r.added <= ts.len());
    }
});
