//! `sigward sign`: detached signatures in each supported format, and AiSOC
//! bundle signatures.

use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::SigningKey;
use nix::errno::Errno;
use sha2::Digest;
use sigward_policy::formats::{aisoc, cloacina, conductor, notur};
use sigward_policy::{native, Fingerprint};

use crate::check;
use crate::cli::{SignArgs, SignFormat};
use crate::exit::Exit;
use crate::files::bounded::{self, ReadError};
use crate::files::AtomicWrite;
use crate::hash::HashError;

use super::CmdError;

/// Why a signing key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// It cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// It looks like PEM but is not an Ed25519 PKCS#8 private key.
    #[error("not an Ed25519 PKCS#8 PEM private key: {0}")]
    Pem(#[source] ed25519_dalek::pkcs8::Error),
    /// It looks like a Notur secret key but is not one.
    #[error("{0}")]
    Notur(#[source] notur::ParseError),
    /// None of the forms sigward signs with.
    #[error(
        "not a key sigward can sign with (expected PKCS#8 PEM, 128 hex characters or 32 raw bytes)"
    )]
    Unknown,
}

/// Why a file (or a bundle) could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// Signature files carry the name as UTF-8.
    #[error("the file name is not valid UTF-8, which signature files cannot carry")]
    NameNotUtf8,
    /// The file cannot be opened or examined.
    #[error("{0}")]
    Open(#[source] Errno),
    /// The open was refused with EPERM: a running agent denies the file.
    #[error(
        "{}: a running agent denies reading this file (an unsigned file in a protected tree \
         is refused to every program, this one included); sign a copy outside the protected \
         trees, then install the file and its signature (see sigward help sign)",
        Errno::EPERM
    )]
    Denied,
    /// Only regular files are signed.
    #[error("not a regular file")]
    NotRegular,
    /// Hashing it failed.
    #[error("{0}")]
    Hash(#[source] HashError),
    /// Reading it failed.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// It changed between hashing and reading.
    #[error("file changed while it was being signed")]
    Changed,
    /// A signature or checksum file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The plugin directory has no manifest.
    #[error("no {} in the directory", aisoc::MANIFEST_NAMES.join(" or "))]
    NoManifest,
    /// Its manifest cannot be read.
    #[error("{name}: {source}")]
    Manifest {
        /// The manifest's name.
        name: &'static str,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// Part of the plugin could not be read.
    #[error("some files or directories of the plugin could not be read")]
    Incomplete,
    /// The plugin's files cannot be listed as its signature lists them.
    #[error(transparent)]
    Files(#[from] check::BundleError),
    /// The bundle cannot be signed (the AiSOC format's own error).
    #[error("{0}")]
    Bundle(#[source] aisoc::BundleError),
}

/// `sigward sign`: one line per file signed; exit 1 when any failed.
pub fn sign(args: &SignArgs) -> Result<Exit, CmdError> {
    let key = load_signing_key(&args.key).map_err(|source| CmdError::SigningKey {
        path: args.key.clone(),
        source,
    })?;
    let fingerprint = Fingerprint::of_ed25519(&key.verifying_key());
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    if let Some(dir) = &args.bundle {
        let sig = sign_bundle(&key, dir, &mut buf).map_err(|source| CmdError::Sign {
            path: dir.clone(),
            source,
        })?;
        println!(
            "{}: signed bundle (key {fingerprint}) -> {}",
            dir.display(),
            sig.display()
        );
        return Ok(Exit::Ok);
    }
    let mut failed = false;
    for file in &args.files {
        match sign_one(&key, args, file, &mut buf) {
            Ok(sig) => println!(
                "{}: signed (key {fingerprint}, format {}) -> {}",
                file.display(),
                format_name(args.format),
                sig.display()
            ),
            Err(e) => {
                // The others are still signed: report this one and go on.
                eprintln!("sigward sign: {}: {e}", file.display());
                failed = true;
            }
        }
    }
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}

/// Reads a signing key: PKCS#8 PEM, a Notur secret key (128 hex
/// characters: seed and public key) or a Conductor private key (32 raw
/// bytes).
fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let bytes = bounded::read(path, bounded::CONFIG_LIMIT)?;
    if let Ok(text) = std::str::from_utf8(&bytes) {
        let t = text.trim();
        if t.starts_with("-----BEGIN") {
            return SigningKey::from_pkcs8_pem(t).map_err(KeyError::Pem);
        }
        if t.len() == 128 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return notur::parse_secret_key_hex(t).map_err(KeyError::Notur);
        }
    }
    if let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(SigningKey::from_bytes(&seed));
    }
    Err(KeyError::Unknown)
}

fn format_name(f: SignFormat) -> &'static str {
    match f {
        SignFormat::Native => "native",
        SignFormat::Notur => "notur",
        SignFormat::Cloacina => "cloacina",
        SignFormat::Conductor => "conductor",
    }
}

/// Writes a signature (or checksum) file: world-readable, atomically.
fn write(path: &Path, text: &str) -> Result<(), SignError> {
    AtomicWrite::new(0o644)
        .write(path, text.as_bytes())
        .map(|_| ())
        .map_err(|source| SignError::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn sign_one(
    key: &SigningKey,
    args: &SignArgs,
    file: &Path,
    buf: &mut [u8],
) -> Result<PathBuf, SignError> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or(SignError::NameNotUtf8)?;
    let fd = check::open_for_verify(file).map_err(|e| match e {
        Errno::EPERM => SignError::Denied,
        e => SignError::Open(e),
    })?;
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(SignError::Open)?;
    if !crate::files::is_regular(&st) {
        return Err(SignError::NotRegular);
    }
    let size = u64::try_from(st.st_size).map_err(|_| SignError::NotRegular)?;
    let sha = crate::hash::sha256_fd(fd.as_fd(), size, buf).map_err(SignError::Hash)?;
    let sig_path = check::sig_path_for(file);
    let signed_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let text = match args.format {
        SignFormat::Native => {
            let existing = match check::read_signature(&sig_path) {
                Ok(Some((bytes, _))) if native::looks_native(&bytes) => native::parse(&bytes).ok(),
                _ => None,
            };
            native::to_text(&native::sign(existing, key, name, size, &sha, &signed_at))
        }
        SignFormat::Cloacina => cloacina::sign(key, &sha, &signed_at),
        SignFormat::Conductor => conductor::sign(
            key,
            &sha,
            size,
            &signed_at,
            args.name.as_deref().unwrap_or_default(),
            args.email.as_deref().unwrap_or_default(),
        ),
        SignFormat::Notur => {
            let mut content = Vec::new();
            fs::File::from(fd)
                .read_to_end(&mut content)
                .map_err(SignError::Read)?;
            if content.len() as u64 != size
                || <[u8; 32]>::from(sha2::Sha256::digest(&content)) != sha
            {
                return Err(SignError::Changed);
            }
            let sum_path = check::companion(file, ".sha256");
            write(&sum_path, &notur::sha256sum_line(&sha, name))?;
            notur::sign(key, &content)
        }
    };
    write(&sig_path, &text)?;
    Ok(sig_path)
}

fn sign_bundle(key: &SigningKey, dir: &Path, buf: &mut [u8]) -> Result<PathBuf, SignError> {
    let manifest_name = aisoc::MANIFEST_NAMES
        .into_iter()
        .find(|m| dir.join(m).is_file())
        .ok_or(SignError::NoManifest)?;
    let manifest =
        bounded::read(&dir.join(manifest_name), bounded::CONFIG_LIMIT).map_err(|source| {
            SignError::Manifest {
                name: manifest_name,
                source,
            }
        })?;
    let (files, complete) = check::bundle_files(dir, None, buf)?;
    if !complete {
        return Err(SignError::Incomplete);
    }
    let text =
        aisoc::sign_bundle(key, manifest_name, &manifest, &files).map_err(SignError::Bundle)?;
    let sig_path = dir.join(aisoc::SIG_NAME);
    write(&sig_path, &text)?;
    Ok(sig_path)
}
