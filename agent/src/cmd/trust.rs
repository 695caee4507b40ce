//! `sigward trust list|add|remove`: the keys a policy trusts, and its
//! key directory.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use sigward_policy::formats::minisign;
use sigward_policy::trust::{KeyFileError, KeyOrigin, LoadReport};
use sigward_policy::TrustStore;

use crate::cli::{TrustAddArgs, TrustDirArg, TrustListArgs, TrustRemoveArgs};
use crate::config::{Engine, LoadError, KEY_EXTENSIONS};
use crate::exit::Exit;
use crate::files::bounded::{self, ReadError};
use crate::files::AtomicWrite;

use super::CmdError;

/// Key files larger than this are refused (they are a few KiB).
const MAX_KEY_FILE: u64 = bounded::CONFIG_LIMIT;

/// The shortest fingerprint prefix `trust remove` accepts.
const MIN_PREFIX: usize = 8;

const RELOAD_REMINDER: &str = "run `sigward reload` to apply the change to the running agent";

/// A key name that `trust add` cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyNameError {
    /// Empty.
    #[error("a key name cannot be empty")]
    Empty,
    /// Longer than 200 characters.
    #[error("a key name is at most 200 characters")]
    TooLong,
    /// A character outside `[A-Za-z0-9._-]`.
    #[error(
        "invalid key name {name:?}: {bad:?} is not allowed (letters, digits, '.', '_' and '-' only)"
    )]
    Character {
        /// The name.
        name: String,
        /// The first character not allowed.
        bad: char,
    },
    /// Starts with `.` (hidden, `.`, `..`).
    #[error("invalid key name {0:?}: it cannot start with '.'")]
    Hidden(String),
}

/// Why `trust list|add|remove` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The key directory cannot be listed.
    #[error("{}: {source}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The policy that names the key directory cannot be loaded.
    #[error("{0}\n(the policy must load to find its [trust] keys_dir; or give --dir DIR)")]
    PolicyForDir(#[source] LoadError),
    /// The policy names no key directory.
    #[error("{}: the policy sets no [trust] keys_dir; set one, or give --dir DIR", policy.display())]
    NoKeysDir {
        /// The policy file.
        policy: PathBuf,
    },
    /// A key file cannot be read.
    #[error("{}: {source}", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// Neither a file nor a literal key.
    #[error("{}: no such file, and not an Ed25519 public key of 64 hex characters", given.display())]
    NotAKey {
        /// What was given.
        given: PathBuf,
    },
    /// Not a public key file sigward can use.
    #[error("{source_name}: not a usable public key file: {source}")]
    Unusable {
        /// The file (or "the key given").
        source_name: String,
        /// Why.
        #[source]
        source: KeyFileError,
    },
    /// A usable file, but with no key in it (revocations only).
    #[error("{0}: holds no public key to trust")]
    NoPublicKey(String),
    /// A key of that name exists and `--force` was not given.
    #[error("a key named {name} already exists ({}); give --force to replace it", existing.display())]
    NameTaken {
        /// The name.
        name: String,
        /// Its file.
        existing: PathBuf,
    },
    /// The destination appeared meanwhile (without `--force`).
    #[error("{} already exists; give --force to replace it", dest.display())]
    Exists {
        /// The destination.
        dest: PathBuf,
    },
    /// A file or directory could not be created, written or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `create`, `write` or `remove`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `trust remove` found no key of that name, and it is no fingerprint
    /// prefix.
    #[error(
        "no key named {which:?} in {} (a fingerprint prefix is {MIN_PREFIX} to 64 hex digits)",
        dir.display()
    )]
    NoSuchName {
        /// What was asked for.
        which: String,
        /// The key directory.
        dir: PathBuf,
    },
    /// No key's fingerprint starts with the prefix.
    #[error(
        "no key named {which:?} and no key whose fingerprint starts with {prefix} in {}",
        dir.display()
    )]
    NoSuchFingerprint {
        /// What was asked for.
        which: String,
        /// The prefix, in lower case.
        prefix: String,
        /// The key directory.
        dir: PathBuf,
    },
    /// Keys in several files start with the prefix.
    #[error(
        "fingerprint prefix {prefix} is ambiguous; it matches keys in {} files (give more \
         digits, or the name):\n{}",
        matches.len(),
        matches.iter().map(|(f, fps)| format!("  {}: {}", f.display(), fps.join(", ")))
            .collect::<Vec<_>>().join("\n")
    )]
    Ambiguous {
        /// The prefix.
        prefix: String,
        /// Each file and the fingerprints in it that match.
        matches: Vec<(PathBuf, Vec<String>)>,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TrustError + 'a {
    move |source| TrustError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What `trust list --json` prints.
#[derive(serde::Serialize)]
struct Listing {
    keys: Vec<crate::fleet::KeyInfo>,
    revoked: Vec<String>,
    allow_sha256: Vec<String>,
    warnings: Vec<String>,
    errors: Vec<String>,
}

/// `sigward trust list`: the keys of a policy, or of a key directory.
pub fn list(args: &TrustListArgs) -> Result<Exit, CmdError> {
    let now = crate::metrics::unix_now();
    let (trust, horizon, warnings, errors) = match &args.dir {
        Some(dir) => {
            let loaded = load_trust_dir(dir)?;
            let horizon = crate::fleet::DEFAULT_EXPIRY_WARNING_DAYS * 86_400;
            (loaded.trust, horizon, loaded.warnings, loaded.errors)
        }
        None => {
            let engine = Engine::load(&args.policy, 0).map_err(CmdError::Policy)?;
            let horizon = crate::fleet::horizon(&engine);
            let warnings = engine
                .warnings
                .iter()
                .map(|w| format!("{}: warning: {w}", args.policy.display()))
                .collect();
            ((*engine.trust).clone(), horizon, warnings, Vec::new())
        }
    };
    let keys = crate::fleet::keys(&trust, now, horizon);
    if args.json {
        let listing = Listing {
            revoked: trust.revoked().map(ToString::to_string).collect(),
            allow_sha256: trust.allowed_digests().iter().map(hex::encode).collect(),
            keys,
            warnings,
            errors,
        };
        let text = serde_json::to_string_pretty(&listing).unwrap_or_default();
        println!("{text}");
        return Ok(if listing.errors.is_empty() {
            Exit::Ok
        } else {
            Exit::Failed
        });
    }
    for w in &warnings {
        if args.dir.is_some() {
            eprintln!("warning: {w}");
        } else {
            eprintln!("{w}");
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    print_keys(&trust, &keys);
    Ok(if errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

fn print_keys(trust: &TrustStore, keys: &[crate::fleet::KeyInfo]) {
    println!(
        "{:<12} {:<64} {:<40} {:<13} {:<20} NAME",
        "TYPE", "FINGERPRINT", "SOURCE", "VALIDITY", "NOT_AFTER"
    );
    for (k, info) in trust.iter().zip(keys) {
        let name = match &k.origin {
            KeyOrigin::AllowedSigner(a) => {
                let mut s = format!("principals={}", a.principals.join(","));
                if let Some(ns) = &a.namespaces {
                    s.push_str(&format!(" namespaces={}", ns.join(",")));
                }
                s
            }
            KeyOrigin::Minisign { key_id } => {
                format!(
                    "{} (minisign key id {})",
                    k.label.clone().unwrap_or_default(),
                    minisign::key_id_hex(key_id)
                )
            }
            _ => k.label.clone().unwrap_or_default(),
        };
        let name = match &k.name {
            Some(n) if !name.trim().is_empty() && name.trim() != n => {
                format!("{n} ({})", name.trim())
            }
            Some(n) => n.clone(),
            None => name.trim().to_string(),
        };
        println!(
            "{:<12} {} {:<40} {:<13} {:<20} {}",
            k.material.kind(),
            k.fingerprint,
            info.source,
            info.validity.as_str(),
            info.not_after_rfc3339.as_deref().unwrap_or("-"),
            name
        );
    }
    for fp in trust.revoked() {
        println!("{:<12} {fp} {:<40} revoked", "-", "");
    }
}

/// `sigward trust add`.
pub fn add(args: &TrustAddArgs) -> Result<Exit, CmdError> {
    check_key_name(&args.name)?;
    let dir = trust_dir(&args.target)?;
    add_key(args, &dir)?;
    eprintln!("{RELOAD_REMINDER}");
    Ok(Exit::Ok)
}

/// `sigward trust remove`.
pub fn remove(args: &TrustRemoveArgs) -> Result<Exit, CmdError> {
    let dir = trust_dir(&args.target)?;
    remove_key(&args.key, &dir)?;
    eprintln!("{RELOAD_REMINDER}");
    Ok(Exit::Ok)
}

// ------------------------------------------------------ trust directories

/// What loading every key file of a trust directory gave.
struct LoadedDir {
    trust: TrustStore,
    /// `FILE: error` for each file that could not be used.
    errors: Vec<String>,
    warnings: Vec<String>,
}

fn is_key_file_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| KEY_EXTENSIONS.contains(&e))
}

/// The key files of a directory, sorted.
fn key_files(dir: &Path) -> Result<Vec<PathBuf>, TrustError> {
    let read_dir = |source| TrustError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        if is_key_file_name(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, TrustError> {
    bounded::read(path, MAX_KEY_FILE).map_err(|source| TrustError::ReadKey {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads one key file into a store of its own.
fn load_one(path: &Path) -> Result<(TrustStore, LoadReport), TrustError> {
    let bytes = read_key_file(path)?;
    let shown = path.display().to_string();
    let mut store = TrustStore::new();
    let report = store
        .add_file(&shown, &bytes)
        .map_err(|source| TrustError::Unusable {
            source_name: shown,
            source,
        })?;
    Ok((store, report))
}

fn load_trust_dir(dir: &Path) -> Result<LoadedDir, TrustError> {
    let mut loaded = LoadedDir {
        trust: TrustStore::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    for f in key_files(dir)? {
        let shown = f.display().to_string();
        let added = read_key_file(&f).and_then(|b| {
            loaded
                .trust
                .add_file(&shown, &b)
                .map_err(|source| TrustError::Unusable {
                    source_name: shown.clone(),
                    source,
                })
        });
        match added {
            Ok(report) => loaded.warnings.extend(report.warnings),
            Err(e) => loaded.errors.push(e.to_string()),
        }
    }
    Ok(loaded)
}

/// The directory `sigward trust add|remove` manage: `--dir`, else the
/// policy's `[trust] keys_dir`.
fn trust_dir(target: &TrustDirArg) -> Result<PathBuf, TrustError> {
    if let Some(dir) = &target.dir {
        return Ok(dir.clone());
    }
    let engine = Engine::load(&target.policy, 0).map_err(TrustError::PolicyForDir)?;
    engine
        .policy
        .trust
        .keys_dir
        .as_ref()
        .map(|d| d.value.clone())
        .ok_or_else(|| TrustError::NoKeysDir {
            policy: target.policy.clone(),
        })
}

/// Key names: `[A-Za-z0-9._-]+`, not starting with `.` (no hidden files,
/// no `.` or `..`).
fn check_key_name(name: &str) -> Result<(), KeyNameError> {
    if name.is_empty() {
        return Err(KeyNameError::Empty);
    }
    if name.len() > 200 {
        return Err(KeyNameError::TooLong);
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(KeyNameError::Character {
            name: name.to_string(),
            bad,
        });
    }
    if name.starts_with('.') {
        return Err(KeyNameError::Hidden(name.to_string()));
    }
    Ok(())
}

/// The files that hold the key named `name` in `dir`.
fn named_key_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = KEY_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    // `trust remove vendor-a.pub` names the file itself.
    let whole = dir.join(name);
    if found.is_empty() && is_key_file_name(&whole) && whole.symlink_metadata().is_ok() {
        found.push(whole);
    }
    found
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn key_summary(store: &TrustStore) -> Vec<String> {
    store
        .iter()
        .map(|k| format!("{} {}", k.material.kind(), k.fingerprint))
        .collect()
}

fn add_key(args: &TrustAddArgs, dir: &Path) -> Result<(), TrustError> {
    let key = &args.key;
    // A file, else a literal key.
    let (bytes, source) = if key.symlink_metadata().is_ok() {
        (read_key_file(key)?, key.display().to_string())
    } else {
        match key.to_str() {
            Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => (
                format!("{}\n", t.to_ascii_lowercase()).into_bytes(),
                "the key given".to_string(),
            ),
            _ => return Err(TrustError::NotAKey { given: key.clone() }),
        }
    };
    let mut scratch = TrustStore::new();
    let report = scratch
        .add_file(&source, &bytes)
        .map_err(|e| TrustError::Unusable {
            source_name: source.clone(),
            source: e,
        })?;
    if scratch.is_empty() {
        return Err(TrustError::NoPublicKey(source));
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if report.revoked > 0 {
        eprintln!(
            "warning: {source} also revokes {} key(s); they stay revoked while it is installed",
            report.revoked
        );
    }
    let existing = named_key_files(dir, &args.name);
    if !args.force {
        if let Some(e) = existing.first() {
            return Err(TrustError::NameTaken {
                name: args.name.clone(),
                existing: e.clone(),
            });
        }
    }
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io("create", dir))?;
        eprintln!("created {}", dir.display());
    }
    let dest = dir.join(format!("{}.pub", args.name));
    // Keys already in the directory under another name: worth knowing.
    if let Ok(loaded) = load_trust_dir(dir) {
        for k in scratch.iter() {
            for other in loaded.trust.lookup(&k.fingerprint) {
                if !existing
                    .iter()
                    .any(|e| e.display().to_string() == other.source)
                {
                    eprintln!(
                        "note: key {} is already trusted by {}",
                        k.fingerprint, other.source
                    );
                }
            }
        }
    }
    // Written beside the destination under a name the agent does not load,
    // then moved into place in one step: a reload never sees half a key.
    // Without --force, link() fails if the name appeared meanwhile: never
    // overwrite.
    let write = AtomicWrite::new(0o644);
    let write = if args.force {
        write
    } else {
        write.no_replace()
    };
    write.write(&dest, &bytes).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            TrustError::Exists { dest: dest.clone() }
        } else {
            io("write", &dest)(e)
        }
    })?;
    // With --force, the same name under another extension goes.
    for old in existing.iter().filter(|p| **p != dest) {
        fs::remove_file(old).map_err(io("remove", old))?;
        eprintln!("removed {}", old.display());
    }
    sync_dir(dir);
    for k in scratch.iter() {
        println!(
            "{} {} -> {}",
            k.material.kind(),
            k.fingerprint,
            dest.display()
        );
    }
    Ok(())
}

fn remove_key(which: &str, dir: &Path) -> Result<(), TrustError> {
    let by_name = if check_key_name(which).is_ok() {
        named_key_files(dir, which)
    } else {
        Vec::new()
    };
    let files = if !by_name.is_empty() {
        by_name
    } else {
        let hex = which.bytes().all(|b| b.is_ascii_hexdigit()) && !which.is_empty();
        if !hex || which.len() < MIN_PREFIX || which.len() > 64 {
            return Err(TrustError::NoSuchName {
                which: which.to_string(),
                dir: dir.to_path_buf(),
            });
        }
        let prefix = which.to_ascii_lowercase();
        let mut matches = Vec::new();
        for f in key_files(dir)? {
            match load_one(&f) {
                Ok((store, _)) => {
                    let hits: Vec<String> = store
                        .iter()
                        .map(|k| k.fingerprint.to_string())
                        .filter(|fp| fp.starts_with(&prefix))
                        .collect();
                    if !hits.is_empty() {
                        matches.push((f, hits));
                    }
                }
                Err(e) => eprintln!("warning: {}: skipped: {e}", f.display()),
            }
        }
        match matches.len() {
            0 => {
                return Err(TrustError::NoSuchFingerprint {
                    which: which.to_string(),
                    prefix,
                    dir: dir.to_path_buf(),
                })
            }
            1 => matches.into_iter().map(|(f, _)| f).collect(),
            _ => return Err(TrustError::Ambiguous { prefix, matches }),
        }
    };
    for f in &files {
        let keys = load_one(f)
            .map(|(store, _)| key_summary(&store).join(", "))
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        fs::remove_file(f).map_err(io("remove", f))?;
        println!("removed {} ({keys})", f.display());
    }
    sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests;
