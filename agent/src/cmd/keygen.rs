//! `sigward keygen`: a new Ed25519 key pair.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{spki, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use sigward_policy::Fingerprint;

use crate::cli::{KeyFormat, KeygenArgs};
use crate::exit::Exit;
use crate::files::AtomicWrite;

use super::CmdError;

/// Why `keygen` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeygenError {
    /// A file it would write exists.
    #[error("{} exists; refusing to overwrite it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The private key cannot be encoded.
    #[error("cannot encode private key: {0}")]
    EncodePrivate(#[source] ed25519_dalek::pkcs8::Error),
    /// The public key cannot be encoded.
    #[error("cannot encode public key: {0}")]
    EncodePublic(#[source] spki::Error),
    /// A file cannot be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// `PREFIX` with `suffix` appended to its last component.
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `sigward keygen`.
pub fn keygen(args: &KeygenArgs) -> Result<Exit, CmdError> {
    let key_path = with_suffix(&args.out, ".key");
    let pub_path = with_suffix(
        &args.out,
        if args.format == KeyFormat::Conductor {
            ".public"
        } else {
            ".pub"
        },
    );
    for p in [&key_path, &pub_path] {
        if p.symlink_metadata().is_ok() {
            return Err(KeygenError::Exists { path: p.clone() }.into());
        }
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let private = key
        .to_pkcs8_pem(Default::default())
        .map_err(KeygenError::EncodePrivate)?;
    let public = match args.format {
        KeyFormat::Pem => key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .map_err(KeygenError::EncodePublic)?,
        KeyFormat::Hex | KeyFormat::Conductor => {
            format!("{}\n", hex::encode(key.verifying_key().as_bytes()))
        }
    };
    write_new(&key_path, private.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pub_path, public.as_bytes(), 0o644) {
        let _ = fs::remove_file(&key_path);
        return Err(e.into());
    }
    println!("{}", Fingerprint::of_ed25519(&key.verifying_key()));
    eprintln!(
        "wrote {} (private, keep secret) and {} (public, for trust stores)",
        key_path.display(),
        pub_path.display()
    );
    Ok(Exit::Ok)
}

/// Creates `path` with `mode` and `bytes`, atomically, never replacing a
/// file that exists ([`AtomicWrite::no_replace`]).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeygenError> {
    match AtomicWrite::new(mode).no_replace().write(path, bytes) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(KeygenError::Exists {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(KeygenError::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}
