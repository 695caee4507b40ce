//! What verifying one file costs, for each signature format.
//!
//! For every format sigward reads (native, rsa-openssl, aisoc, cloacina,
//! conductor, notur, minisign, ssh) and two file sizes (4 KiB and 16 MiB of
//! deterministic pseudo-random content), each benchmark measures what the
//! agent does in memory when a protected file is opened (`evaluate` in
//! `agent/src/check/`), minus the I/O:
//!
//! 1. [`formats::needs`] over the evidence (it parses minisign and OpenSSH
//!    signatures to learn their hash);
//! 2. one pass over the content, in 1 MiB chunks as `digest_fd` in
//!    `agent/src/hash.rs` reads it, computing SHA-256 and whatever else the
//!    format needs (SHA-512, BLAKE2b-512, or an owned copy of the content);
//! 3. for AiSOC, [`aisoc::verify_bundle`] over the plugin's manifest (YAML
//!    parsed and canonicalised as Python does) and its one `.py` file;
//! 4. [`formats::verify_with`], the decision itself.
//!
//! Reading the file, its signature and the manifest from disk is not
//! measured. Each case's trust store holds the signing key and three
//! unrelated keys of the same kind, loaded *before* it: formats whose
//! signature names no key (rsa-openssl, aisoc, notur) try the keys in load
//! order, so this is their worst case with four trusted keys.
//!
//! Keys are generated from fixed seeds and signatures made in the setup,
//! outside the timed loop, with the same code the signing tools use
//! (`native::sign`, `cloacina::sign`, `conductor::sign`, `notur::sign`,
//! `aisoc::sign_bundle`), the `rsa` crate (PKCS#1 v1.5 over SHA-256,
//! RSA-2048, as `openssl dgst -sha256 -sign`), `ssh-key` (`ssh-keygen -Y
//! sign -n file`, SHA-512) and minisign's prehashed `ED` layout composed
//! with `ed25519-dalek`. Every case is checked to verify, by the signing
//! key and in its own format, before it is measured, so the benchmark
//! fails instead of timing a rejection.
//!
//! Run with
//!
//! ```text
//! cargo bench -p sigward-policy --bench formats
//! ```
//!
//! Criterion's options follow `--`, e.g. `-- notur` to run one format,
//! `-- --quick`, `-- --sample-size 20` or `-- --save-baseline main`. The
//! benchmark ids are `verify/<format>/<size>` (`verify/native/4KiB`) and
//! throughput is reported in bytes of the verified file per second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine as _;
use blake2::Blake2b512;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use ed25519_dalek::{Signer as _, SigningKey};
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest as _, Sha256, Sha512};
use sigward_policy::formats::{self, aisoc, cloacina, conductor, minisign, native, notur};
use sigward_policy::{Evidence, Fingerprint, Format, Needs, Options, Subject, TrustStore, Verdict};

/// The agent's read buffer (`hash::BUFFER_SIZE`): the content is hashed in
/// chunks of this size, every digest updated chunk by chunk.
const CHUNK: usize = 1 << 20;

/// The namespace OpenSSH signatures are made for (`trust.ssh_namespace` in
/// the documented policies, `ssh-keygen -Y sign -n file`).
const SSH_NAMESPACE: &str = "file";

/// The signing time written into signatures that carry one.
const SIGNED_AT: &str = "2026-01-15T12:00:00Z";

/// "Now" for the verification (after [`SIGNED_AT`]).
const NOW: u64 = 1_770_000_000;

/// How many unrelated keys each trust store holds besides the signer's.
const OTHER_KEYS: u8 = 3;

/// The AiSOC manifest of the benchmarked plugin (`plugin.yaml`).
const MANIFEST: &str = "\
name: bench-plugin
version: 1.4.2
description: A plugin whose only module is the benchmarked file
author:
  name: Example Vendor
  email: plugins@example.com
entrypoint: plugin.py
permissions:
  - network
  - filesystem
enabled: yes
";

/// The file sizes measured.
const SIZES: [(usize, &str); 2] = [(4 * 1024, "4KiB"), (16 * 1024 * 1024, "16MiB")];

/// An Ed25519 key from a fixed seed.
fn ed25519_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// SPKI `PUBLIC KEY` PEM of an Ed25519 key (Cloacina, AiSOC, native keys).
fn ed25519_pem(key: &SigningKey) -> String {
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("Ed25519 public key PEM")
}

/// RSA-2048 keys, generated once per run from a seeded RNG (reproducible,
/// and generating them is the slow part of the setup): the signer and
/// [`OTHER_KEYS`] unrelated keys.
static RSA_KEYS: LazyLock<(RsaPrivateKey, Vec<RsaPublicKey>)> = LazyLock::new(|| {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5167_7761_7264);
    let mut generate = || RsaPrivateKey::new(&mut rng, 2048).expect("RSA-2048 key generation");
    let others = (0..OTHER_KEYS)
        .map(|_| RsaPublicKey::from(&generate()))
        .collect();
    (generate(), others)
});

/// One file to verify, with everything that lies beside it.
struct Case<'a> {
    /// The file's base name.
    name: &'static str,
    content: &'a [u8],
    sig: Option<Vec<u8>>,
    minisig: Option<Vec<u8>>,
    sha256sum: Option<Vec<u8>>,
    /// AiSOC: (`plugin.yaml`, `plugin.sig`) of the plugin the file is in.
    bundle: Option<(Vec<u8>, Vec<u8>)>,
    trust: TrustStore,
    options: Options,
    /// Who signed, as the verdict must name it.
    signer: Fingerprint,
}

impl Case<'_> {
    fn evidence(&self) -> Evidence<'_> {
        Evidence {
            sig: self.sig.as_deref(),
            minisig: self.minisig.as_deref(),
            sha256sum: self.sha256sum.as_deref(),
        }
    }
}

/// What one pass over the file computes (`hash::Digests` in the agent).
struct Digests {
    sha256: [u8; 32],
    sha512: Option<[u8; 64]>,
    blake2b512: Option<[u8; 64]>,
    content: Option<Vec<u8>>,
}

/// SHA-256 and whatever `needs` asks for, in one chunked pass, as
/// `hash::digest_fd` computes them (including the owned copy of the
/// content for formats that sign the file itself).
fn digest(content: &[u8], needs: Needs) -> Digests {
    let mut sha256 = Sha256::new();
    if needs == Needs::default() {
        for chunk in content.chunks(CHUNK) {
            sha256.update(chunk);
        }
        return Digests {
            sha256: sha256.finalize().into(),
            sha512: None,
            blake2b512: None,
            content: None,
        };
    }
    let mut sha512 = needs.sha512.then(Sha512::new);
    let mut blake = needs.blake2b512.then(Blake2b512::new);
    let mut copy = needs.content.then(|| Vec::with_capacity(content.len()));
    for chunk in content.chunks(CHUNK) {
        sha256.update(chunk);
        if let Some(h) = sha512.as_mut() {
            h.update(chunk);
        }
        if let Some(h) = blake.as_mut() {
            h.update(chunk);
        }
        if let Some(c) = copy.as_mut() {
            c.extend_from_slice(chunk);
        }
    }
    Digests {
        sha256: sha256.finalize().into(),
        sha512: sha512.map(|h| h.finalize().into()),
        blake2b512: blake.map(|h| h.finalize().into()),
        content: copy,
    }
}

/// The measured work: everything the agent computes to decide one open.
fn verify_file(case: &Case<'_>) -> Verdict {
    let evidence = case.evidence();
    let needs = formats::needs(&evidence, &case.options);
    let digests = digest(case.content, needs);
    let subject = Subject {
        name: case.name.as_bytes(),
        size: case.content.len() as u64,
        sha256: &digests.sha256,
        sha512: digests.sha512.as_ref(),
        blake2b512: digests.blake2b512.as_ref(),
        content: digests.content.as_deref(),
    };
    let mut extra = Vec::new();
    if let Some((manifest, sig)) = &case.bundle {
        let files = BTreeMap::from([(case.name.as_bytes().to_vec(), digests.sha256)]);
        let bundle = aisoc::Bundle {
            manifest_name: "plugin.yaml",
            manifest,
            sig,
            files: &files,
        };
        extra.push(aisoc::verify_bundle(&bundle, &case.trust));
    }
    formats::verify_with(&subject, &evidence, extra, &case.trust, &case.options)
}

/// A trust store loaded from key files, in order, as the agent loads them.
fn trust_from_files(files: &[String]) -> TrustStore {
    let mut trust = TrustStore::new();
    for (i, text) in files.iter().enumerate() {
        trust
            .add_file(&format!("key{i}"), text.as_bytes())
            .expect("bench key file loads");
    }
    trust
}

/// Key files of [`OTHER_KEYS`] unrelated Ed25519 keys, then the signer's.
fn ed25519_key_files(signer: &SigningKey, encode: impl Fn(&SigningKey) -> String) -> Vec<String> {
    (0..OTHER_KEYS)
        .map(|i| encode(&ed25519_key(200 + i)))
        .chain([encode(signer)])
        .collect()
}

/// A minisign public key file (`minisign -G`).
fn minisign_public_key(key: &SigningKey, key_id: [u8; 8]) -> String {
    let mut blob = b"Ed".to_vec();
    blob.extend_from_slice(&key_id);
    blob.extend_from_slice(key.verifying_key().as_bytes());
    format!(
        "untrusted comment: minisign public key {}\n{}\n",
        minisign::key_id_hex(&key_id),
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// A prehashed (`ED`) `.minisig`, as `minisign -S` writes it.
fn minisign_sign(key: &SigningKey, key_id: [u8; 8], content: &[u8], name: &str) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let signature = key.sign(&Blake2b512::digest(content)).to_bytes();
    let comment = format!("timestamp:{NOW}\tfile:{name}\thashed");
    let mut global = signature.to_vec();
    global.extend_from_slice(comment.as_bytes());
    let mut blob = b"ED".to_vec();
    blob.extend_from_slice(&key_id);
    blob.extend_from_slice(&signature);
    format!(
        "untrusted comment: signature from minisign secret key\n{}\ntrusted comment: {comment}\n{}\n",
        b64(&blob),
        b64(&key.sign(&global).to_bytes())
    )
}

/// An OpenSSH key pair from a fixed seed.
fn ssh_signing_key(seed: u8) -> ssh_key::PrivateKey {
    ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]))
}

/// An `allowed_signers` line for the key.
fn allowed_signer(principal: &str, key: &ssh_key::PrivateKey) -> String {
    let public = key.public_key().to_openssh().expect("OpenSSH public key");
    format!("{principal} namespaces=\"{SSH_NAMESPACE}\" {public}\n")
}

/// Signs `content` in `format` and builds the trust store that verifies it.
fn prepare(format: Format, content: &[u8]) -> Case<'_> {
    let sha256: [u8; 32] = Sha256::digest(content).into();
    let size = content.len() as u64;
    let options = Options {
        ssh_namespace: Some(SSH_NAMESPACE.to_string()),
        now: NOW,
        ..Options::default()
    };
    let signer = ed25519_key(7);
    let signer_fp = Fingerprint::of_ed25519(&signer.verifying_key());
    let hex_key = |k: &SigningKey| format!("{}\n", hex::encode(k.verifying_key().as_bytes()));
    let case = |name, trust, signer| Case {
        name,
        content,
        sig: None,
        minisig: None,
        sha256sum: None,
        bundle: None,
        trust,
        options: options.clone(),
        signer,
    };
    match format {
        Format::Native => {
            let name = "plugin.so";
            let doc = native::sign(None, &signer, name, size, &sha256, SIGNED_AT);
            Case {
                sig: Some(native::to_text(&doc).into_bytes()),
                ..case(
                    name,
                    trust_from_files(&ed25519_key_files(&signer, ed25519_pem)),
                    signer_fp,
                )
            }
        }
        Format::RsaOpenssl => {
            let name = "module.py";
            let (private, others) = &*RSA_KEYS;
            let sig = private
                .sign(Pkcs1v15Sign::new::<Sha256>(), &sha256)
                .expect("RSA signature");
            let public = RsaPublicKey::from(private);
            let pem = |k: &RsaPublicKey| k.to_public_key_pem(LineEnding::LF).expect("RSA PEM");
            let files: Vec<String> = others.iter().chain([&public]).map(pem).collect();
            let fp = Fingerprint::of_material(&sigward_policy::KeyMaterial::Rsa(Box::new(public)));
            Case {
                sig: Some(sig),
                ..case(name, trust_from_files(&files), fp)
            }
        }
        Format::Aisoc => {
            let name = "plugin.py";
            let files = BTreeMap::from([(name.as_bytes().to_vec(), sha256)]);
            let sig = aisoc::sign_bundle(&signer, "plugin.yaml", MANIFEST.as_bytes(), &files)
                .expect("AiSOC bundle signature");
            Case {
                bundle: Some((MANIFEST.as_bytes().to_vec(), sig.into_bytes())),
                ..case(
                    name,
                    trust_from_files(&ed25519_key_files(&signer, ed25519_pem)),
                    signer_fp,
                )
            }
        }
        Format::Cloacina => {
            let name = "libplugin.so";
            Case {
                sig: Some(cloacina::sign(&signer, &sha256, SIGNED_AT).into_bytes()),
                ..case(
                    name,
                    trust_from_files(&ed25519_key_files(&signer, ed25519_pem)),
                    signer_fp,
                )
            }
        }
        Format::Conductor => {
            let name = "plugin.wasm";
            let sig = conductor::sign(
                &signer,
                &sha256,
                size,
                SIGNED_AT,
                "Example Vendor",
                "plugins@example.com",
            );
            Case {
                sig: Some(sig.into_bytes()),
                ..case(
                    name,
                    trust_from_files(&ed25519_key_files(&signer, hex_key)),
                    signer_fp,
                )
            }
        }
        Format::Notur => {
            let name = "extension.zip";
            Case {
                sig: Some(notur::sign(&signer, content).into_bytes()),
                sha256sum: Some(notur::sha256sum_line(&sha256, name).into_bytes()),
                ..case(
                    name,
                    trust_from_files(&ed25519_key_files(&signer, hex_key)),
                    signer_fp,
                )
            }
        }
        Format::Minisign => {
            let name = "plugin.tar.gz";
            let key_id = |k: &SigningKey| {
                let mut id = [0u8; 8];
                id.copy_from_slice(&k.verifying_key().as_bytes()[..8]);
                id
            };
            let files = ed25519_key_files(&signer, |k| minisign_public_key(k, key_id(k)));
            Case {
                minisig: Some(minisign_sign(&signer, key_id(&signer), content, name).into_bytes()),
                ..case(name, trust_from_files(&files), signer_fp)
            }
        }
        Format::Ssh => {
            let name = "plugin.bin";
            let key = ssh_signing_key(7);
            let sig = key
                .sign(SSH_NAMESPACE, ssh_key::HashAlg::Sha512, content)
                .expect("SSHSIG signature")
                .to_pem(ssh_key::LineEnding::LF)
                .expect("SSHSIG armour");
            let allowed: String = (0..OTHER_KEYS)
                .map(|i| {
                    allowed_signer(&format!("other{i}@example.com"), &ssh_signing_key(200 + i))
                })
                .chain([allowed_signer("release@example.com", &key)])
                .collect();
            let mut trust = TrustStore::new();
            trust
                .add_allowed_signers("allowed_signers", allowed.as_bytes())
                .expect("allowed_signers loads");
            let fp = formats::sshsig::fingerprint_of(key.public_key().key_data());
            Case {
                sig: Some(sig.into_bytes()),
                ..case(name, trust, fp)
            }
        }
    }
}

/// Deterministic pseudo-random content of `len` bytes.
fn content(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    ChaCha20Rng::seed_from_u64(len as u64).fill_bytes(&mut out);
    out
}

/// Benchmarks every format on one file size.
fn bench_size(c: &mut Criterion, size: usize, label: &str, sampling: SamplingMode) {
    let data = content(size);
    let mut group = c.benchmark_group("verify");
    group.sampling_mode(sampling);
    group.throughput(Throughput::Bytes(size as u64));
    for format in Format::ALL {
        let case = prepare(format, &data);
        // Outside the timed loop: the case must verify, by its signer, in
        // its own format.
        match verify_file(&case) {
            Verdict::Verified {
                key,
                format: f,
                self_signed: false,
                ..
            } if f == format && key == case.signer => {}
            other => panic!("{format}/{label}: the prepared case does not verify: {other:?}"),
        }
        group.bench_with_input(BenchmarkId::new(format.name(), label), &case, |b, case| {
            b.iter(|| verify_file(black_box(case)))
        });
    }
    group.finish();
}

/// 4 KiB files: Criterion's default sampling (100 samples).
fn small(c: &mut Criterion) {
    let (size, label) = SIZES[0];
    bench_size(c, size, label, SamplingMode::Auto);
}

/// 16 MiB files: few samples of flat sampling (one verification takes tens
/// of milliseconds).
fn large(c: &mut Criterion) {
    let (size, label) = SIZES[1];
    bench_size(c, size, label, SamplingMode::Flat);
}

criterion_group! {
    name = small_files;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = small
}

criterion_group! {
    name = large_files;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = large
}

criterion_main!(small_files, large_files);
