//! Shared fixtures for the fuzz targets in `fuzz_targets/`.
//!
//! Every verifying target checks hostile signature (or key) bytes against a
//! fixed subject (a real signed file from `tests/vectors/` or `examples/`,
//! with every digest a format may ask for computed) and a fixed trust store
//! loaded from the same vectors. Besides "never panics, never hangs", every
//! verdict goes through [`check`]: a success must name a key the trust store
//! holds and has not revoked (or be an allowed self-signed success by an
//! unrevoked key), in a format the options accept.
//!
//! The fixtures are compiled in (`include_bytes!`) from the repository's
//! test vectors, so the targets need no files at run time.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::Engine as _;
use blake2::Blake2b512;
use sha2::{Digest, Sha256, Sha512};

pub use sigward_policy as policy;
use sigward_policy::formats::{self, Evidence, Format, Options};
use sigward_policy::{Subject, TrustStore, Verdict};

/// Bytes of a file under the repository's `tests/vectors/`.
#[macro_export]
macro_rules! vector {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/",
            $path
        )) as &[u8]
    };
}

/// Bytes of a file under the repository's `examples/`.
#[macro_export]
macro_rules! example {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/", $path)) as &[u8]
    };
}

/// 2026-01-01T00:00:00Z: the verification time of the OpenSSH vectors.
pub const NOW: u64 = 1_767_225_600;

/// A signed file: its name, content and every digest of it.
pub struct Fixture {
    pub name: &'static str,
    pub content: &'static [u8],
    sha256: [u8; 32],
    sha512: [u8; 64],
    blake2b512: [u8; 64],
}

impl Fixture {
    pub fn new(name: &'static str, content: &'static [u8]) -> Self {
        Fixture {
            name,
            content,
            sha256: Sha256::digest(content).into(),
            sha512: Sha512::digest(content).into(),
            blake2b512: Blake2b512::digest(content).into(),
        }
    }

    /// The subject with everything filled in, as the agent builds it when
    /// [`formats::needs`] asks for all of it.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            name: self.name.as_bytes(),
            size: self.content.len() as u64,
            sha256: &self.sha256,
            sha512: Some(&self.sha512),
            blake2b512: Some(&self.blake2b512),
            content: Some(self.content),
        }
    }
}

/// A trust store loaded from key files (recognised by content); panics if
/// a fixture does not load, since that is a broken harness, not a finding.
pub fn store(files: &[(&str, &[u8])]) -> TrustStore {
    let mut ts = TrustStore::new();
    for (name, bytes) in files {
        if let Err(e) = ts.add_file(name, bytes) {
            panic!("fixture key file {name} does not load: {e}");
        }
    }
    ts
}

/// Options accepting only `format`, with the vectors' OpenSSH namespace
/// and time.
pub fn only(format: Format) -> Options {
    Options {
        formats: vec![format],
        ssh_namespace: Some("file".to_string()),
        minisign_legacy: true,
        now: NOW,
        threshold: 1,
        allow_self_signed: false,
    }
}

/// The invariants every verdict must satisfy.
pub fn check(v: &Verdict, trust: &TrustStore, opts: &Options) {
    let Verdict::Verified {
        key,
        format,
        self_signed,
        ..
    } = v
    else {
        return;
    };
    assert!(
        opts.formats.contains(format),
        "verified in format {format}, which the options do not accept: {v:?}"
    );
    assert!(!trust.is_revoked(key), "verified by a revoked key: {v:?}");
    if *self_signed {
        assert!(
            opts.allow_self_signed,
            "self-signed success although not allowed: {v:?}"
        );
    } else {
        assert!(
            trust.get(key).is_some(),
            "verified by a key the trust store does not hold: {v:?}"
        );
    }
}

/// Runs the dispatcher (`needs`, then `verify`) on some evidence and checks
/// the verdict.
pub fn verify(
    fx: &Fixture,
    evidence: &Evidence<'_>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    let _ = formats::needs(evidence, opts);
    let v = formats::verify(&fx.subject(), evidence, trust, opts);
    check(&v, trust, opts);
    v
}

/// Verifies `sig` as `FILE.sig`.
pub fn verify_sig(fx: &Fixture, sig: &[u8], trust: &TrustStore, opts: &Options) -> Verdict {
    verify(
        fx,
        &Evidence {
            sig: Some(sig),
            ..Evidence::default()
        },
        trust,
        opts,
    )
}

/// Wraps a binary SSHSIG blob in the armour `ssh-keygen -Y sign` writes.
pub fn ssh_armour(blob: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    let mut out = Vec::with_capacity(b64.len() + 80);
    out.extend_from_slice(b"-----BEGIN SSH SIGNATURE-----\n");
    for line in b64.as_bytes().chunks(70) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END SSH SIGNATURE-----\n");
    out
}

/// The AiSOC vector plugins' `*.py` maps, in the order `make_seeds.py`
/// numbers them (sorted plugin directory names).
pub static AISOC_FILES: LazyLock<Vec<BTreeMap<Vec<u8>, [u8; 32]>>> = LazyLock::new(|| {
    [
        vector!("aisoc/plugins/json_manifest/files.json"),
        vector!("aisoc/plugins/no_python/files.json"),
        vector!("aisoc/plugins/yaml_anchors/files.json"),
        vector!("aisoc/plugins/yaml_crlf_bom/files.json"),
        vector!("aisoc/plugins/yaml_typing/files.json"),
        vector!("aisoc/plugins/yaml_unicode/files.json"),
    ]
    .iter()
    .map(|json| {
        let map: BTreeMap<String, String> = match serde_json::from_slice(json) {
            Ok(m) => m,
            Err(e) => panic!("fixture files.json: {e}"),
        };
        map.into_iter()
            .map(|(path, h)| {
                let mut d = [0u8; 32];
                if hex::decode_to_slice(&h, &mut d).is_err() {
                    panic!("fixture files.json: bad digest for {path}");
                }
                (path.into_bytes(), d)
            })
            .collect()
    })
    .collect()
});
