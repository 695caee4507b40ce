//! OpenSSH signatures: `sshsig::parse` / `dearmor` / `parse_blob` and
//! verification against the vectors' `allowed_signers` (namespace `file`,
//! at 2026-01-01). Armoured input is verified as is; any other input is
//! also taken as the binary SSHSIG blob and armoured first, so the fuzzer
//! can mutate the blob's fields directly.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{sshsig, Format};
use sigward_fuzz::policy::TrustStore;
use sigward_fuzz::{only, ssh_armour, vector, verify_sig, Fixture};

static FX: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new("payload.txt", vector!("ssh/payload.txt")));
static TRUST: LazyLock<TrustStore> = LazyLock::new(|| {
    let mut ts = TrustStore::new();
    if let Err(e) = ts.add_allowed_signers("allowed_signers", vector!("ssh/allowed_signers")) {
        panic!("fixture allowed_signers: {e}");
    }
    ts
});

fuzz_target!(|data: &[u8]| {
    let opts = only(Format::Ssh);
    let _ = sshsig::parse(data);
    let _ = sshsig::parse_blob(data);
    if let Ok(blob) = sshsig::dearmor(data) {
        let _ = sshsig::parse_blob(&blob);
    }
    let _ = sshsig::needs(data, &opts);
    verify_sig(&FX, data, &TRUST, &opts);
    if !data.trim_ascii_start().starts_with(b"-----BEGIN") {
        verify_sig(&FX, &ssh_armour(data), &TRUST, &opts);
    }
});
