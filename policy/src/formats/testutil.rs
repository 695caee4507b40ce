//! Shared checks for the format modules' tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::fingerprint::Fingerprint;

/// A format's own verifier, as every module exposes it.
pub type Verifier = fn(&Subject<'_>, &[u8], &Evidence<'_>, &TrustStore, &Options) -> Verdict;

/// Every truncation of `sig` and one flipped byte at every position,
/// read by the format's verifier and through the dispatcher: never a
/// panic, and never a verdict naming another key than `signer`.
pub fn mutations_never_name_another_key(
    verify_one: Verifier,
    subject: &Subject<'_>,
    sig: &[u8],
    sha256sum: Option<&[u8]>,
    ts: &TrustStore,
    signer: Fingerprint,
) {
    let opts = Options::default();
    for i in 0..sig.len() {
        let mut flipped = sig.to_vec();
        flipped[i] ^= 0x41;
        for m in [&sig[..i], &flipped[..]] {
            let evidence = Evidence {
                sig: Some(m),
                sha256sum,
                ..Evidence::default()
            };
            for v in [
                verify_one(subject, m, &evidence, ts, &opts),
                verify(subject, &evidence, ts, &opts),
            ] {
                if v.is_verified() {
                    assert_eq!(v.key(), Some(signer));
                }
            }
        }
    }
}
