//! `sigward trust add-hash`: trust file contents without a signature, by
//! their SHA-256, through a drop-in the command owns.
//!
//! The drop-in (`policy.d/NAME.toml`, `90-allow-sha256` unless `--name`
//! says otherwise) holds `[trust] allow_sha256` for every tree and, with
//! `--tree`, `allow_sha256` in a `[[protect]]` entry for one tree the
//! policy already protects. Each digest is followed by a comment naming the
//! file it was computed from. The new drop-in is validated together with
//! the whole policy before it replaces the old one, so a policy that would
//! not load is never written; a digest on the deny list is refused.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::cli::TrustAddHashArgs;
use crate::config::{Engine, LoadError, LoadOptions, DROP_IN_DIR};
use crate::exit::Exit;
use crate::files::AtomicWrite;

use super::CmdError;

/// The drop-in's name when `--name` is not given.
pub const DEFAULT_NAME: &str = "90-allow-sha256";

/// Why `trust add-hash` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllowError {
    /// A file to hash could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file to hash could not be hashed (a read failed, or it shrank
    /// meanwhile).
    #[error("{}: {source}", path.display())]
    Hash {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::hash::HashError,
    },
    /// A file to hash is not a regular file.
    #[error("{}: not a regular file", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// `--sha256` is not a digest.
    #[error("--sha256 {0:?}: expected 64 hex characters")]
    BadDigest(String),
    /// Nothing to add.
    #[error("give at least one FILE or --sha256 HEX")]
    Nothing,
    /// `--name` cannot be a drop-in's name.
    #[error("--name {0:?}: letters, digits, '.', '_' and '-' only, not starting with '.'")]
    BadName(String),
    /// `--tree` is not a tree of the policy.
    #[error("--tree {}: the policy protects no such directory (protected: {})", tree.display(), protected.join(", "))]
    NotATree {
        /// The directory given.
        tree: PathBuf,
        /// What the policy protects.
        protected: Vec<String>,
    },
    /// A digest is on the policy's deny list.
    #[error("{digest} ({what}) is on the policy's deny list (trust.deny_sha256 at {at}): a denied content is never allowed")]
    Denied {
        /// The digest.
        digest: String,
        /// Where it came from.
        what: String,
        /// Where it is denied.
        at: String,
    },
    /// The drop-in as it is cannot be read.
    #[error("{}: {message}", path.display())]
    Existing {
        /// The drop-in.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The policy with the new drop-in would not load.
    #[error("the policy would not load with the new {}; nothing was written:\n{}", path.display(), errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The drop-in.
        path: PathBuf,
        /// Every error.
        errors: Vec<LoadError>,
    },
    /// Writing failed.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The digests of the drop-in: the policy-wide ones and each tree's, each
/// with the comment that names its file.
#[derive(Debug, Default, PartialEq, Eq)]
struct Allowed {
    global: BTreeMap<String, String>,
    trees: BTreeMap<String, BTreeMap<String, String>>,
}

/// `sigward trust add-hash`.
pub fn add_hash(args: &TrustAddHashArgs) -> Result<Exit, CmdError> {
    let name = args.name.as_deref().unwrap_or(DEFAULT_NAME);
    if !valid_name(name) {
        return Err(AllowError::BadName(name.into()).into());
    }
    if args.files.is_empty() && args.sha256.is_empty() {
        return Err(AllowError::Nothing.into());
    }
    let engine = Engine::load(&args.policy, 0).map_err(CmdError::Policy)?;
    let tree = match &args.tree {
        None => None,
        Some(t) => Some(tree_of(&engine, t)?),
    };
    let mut new: Vec<(String, String)> = Vec::new();
    for h in &args.sha256 {
        let h = h.trim().to_ascii_lowercase();
        let mut raw = [0u8; 32];
        hex::decode_to_slice(&h, &mut raw).map_err(|_| AllowError::BadDigest(h.clone()))?;
        new.push((h, "given with --sha256".into()));
    }
    for f in &args.files {
        new.push((hash_file(f)?, f.display().to_string()));
    }
    for (digest, what) in &new {
        if let Some(d) = engine
            .policy
            .trust
            .deny_sha256
            .iter()
            .find(|d| hex::encode(d.value) == *digest)
        {
            let file = engine
                .files
                .get(d.file)
                .map_or_else(String::new, |f| f.display().to_string());
            return Err(AllowError::Denied {
                digest: digest.clone(),
                what: what.clone(),
                at: format!("{file}:{}", d.line),
            }
            .into());
        }
    }

    let base = engine.inputs.base.clone();
    let dir = base.join(DROP_IN_DIR);
    let path = dir.join(format!("{name}.toml"));
    let mut allowed = match std::fs::read(&path) {
        Ok(bytes) => read_existing(&path, &bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Allowed::default(),
        Err(source) => return Err(AllowError::Read { path, source }.into()),
    };
    let slot = match &tree {
        None => &mut allowed.global,
        Some(t) => allowed.trees.entry(t.clone()).or_default(),
    };
    let mut added = 0;
    for (digest, what) in new {
        if !slot.contains_key(&digest) {
            added += 1;
        }
        println!("{digest}  {what}");
        slot.insert(digest, what);
    }
    let text = render(&allowed);

    // Validated with the whole policy first, from a hidden file beside it
    // (hidden files are never read as drop-ins).
    std::fs::create_dir_all(&dir).map_err(|source| AllowError::Write {
        path: dir.clone(),
        source,
    })?;
    let candidate = dir.join(format!(".{name}.toml.candidate"));
    AtomicWrite::new(0o644)
        .write(&candidate, text.as_bytes())
        .map_err(|source| AllowError::Write {
            path: candidate.clone(),
            source,
        })?;
    let lo = LoadOptions {
        extra_drop_in: Some(candidate.clone()),
        extra_drop_in_name: Some(OsString::from(format!("{name}.toml"))),
        ..LoadOptions::default()
    };
    let checked = Engine::load_all(&args.policy, 0, &lo);
    let _ = std::fs::remove_file(&candidate);
    if let Err(errors) = checked {
        return Err(AllowError::Invalid { path, errors }.into());
    }
    AtomicWrite::new(0o644)
        .write(&path, text.as_bytes())
        .map_err(|source| AllowError::Write {
            path: path.clone(),
            source,
        })?;
    eprintln!(
        "{}: {added} digest(s) added{}; run `sigward reload` to apply the change to the running agent",
        path.display(),
        tree.map(|t| format!(" for {t}")).unwrap_or_default()
    );
    Ok(Exit::Ok)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The `[[protect]] path` of the tree `dir` names, as the policy writes it.
fn tree_of(engine: &Engine, dir: &Path) -> Result<String, AllowError> {
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    engine
        .policy
        .protect
        .iter()
        .find(|p| {
            p.path.value == dir
                || std::fs::canonicalize(&p.path.value).is_ok_and(|c| c == canonical)
        })
        .map(|p| p.path.value.display().to_string())
        .ok_or_else(|| AllowError::NotATree {
            tree: dir.to_path_buf(),
            protected: engine
                .policy
                .protect
                .iter()
                .map(|p| p.path.value.display().to_string())
                .collect(),
        })
}

/// SHA-256 of a regular file's content, read without following it into a
/// FIFO or device.
fn hash_file(path: &Path) -> Result<String, AllowError> {
    let read = |source| AllowError::Read {
        path: path.to_path_buf(),
        source,
    };
    let fd = crate::check::open_for_verify(path).map_err(|e| read(e.into()))?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| read(e.into()))?;
    if !crate::files::is_regular(&st) {
        return Err(AllowError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    let digest =
        crate::hash::sha256_fd(fd.as_fd(), size, &mut buf).map_err(|source| AllowError::Hash {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(hex::encode(digest))
}

/// The digests of a drop-in this command wrote (comments kept: they name
/// the files).
fn read_existing(path: &Path, bytes: &[u8]) -> Result<Allowed, AllowError> {
    let bad = |message: String| AllowError::Existing {
        path: path.to_path_buf(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
    let value: toml::Table = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
    // `"<hex>",  # comment` lines give each digest's comment.
    let comments: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| {
            let (entry, comment) = l.split_once('#')?;
            let digest = entry.trim().trim_end_matches(',').trim_matches('"');
            (digest.len() == 64).then(|| (digest.to_string(), comment.trim().to_string()))
        })
        .collect();
    let digests = |v: Option<&toml::Value>| -> Result<BTreeMap<String, String>, AllowError> {
        let mut out = BTreeMap::new();
        for d in v.and_then(toml::Value::as_array).into_iter().flatten() {
            let d = d
                .as_str()
                .ok_or_else(|| bad("allow_sha256 holds a value that is not a string".into()))?;
            let comment = comments.get(d).cloned().unwrap_or_default();
            out.insert(d.to_string(), comment);
        }
        Ok(out)
    };
    let mut allowed = Allowed {
        global: digests(value.get("trust").and_then(|t| t.get("allow_sha256")))?,
        trees: BTreeMap::new(),
    };
    for p in value
        .get("protect")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = p
            .get("path")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| bad("a [[protect]] entry without a path".into()))?;
        allowed
            .trees
            .insert(path.to_string(), digests(p.get("allow_sha256"))?);
    }
    Ok(allowed)
}

fn render(a: &Allowed) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let list = |o: &mut String, digests: &BTreeMap<String, String>| {
        o.push_str("allow_sha256 = [\n");
        for (d, what) in digests {
            o.push_str(&format!("  {},  # {}\n", q(d), what.replace('\n', " ")));
        }
        o.push_str("]\n");
    };
    let mut o = String::from(
        "# Written by `sigward trust add-hash`: file contents trusted without a signature.\n\
         # Edit with that command (it validates the whole policy before writing), or\n\
         # remove lines by hand and run `sigward check`. A digest that is also in\n\
         # trust.deny_sha256 stays denied.\n",
    );
    if !a.global.is_empty() {
        o.push_str("\n[trust]\n");
        list(&mut o, &a.global);
    }
    for (path, digests) in &a.trees {
        o.push_str(&format!("\n[[protect]]\npath = {}\n", q(path)));
        list(&mut o, digests);
    }
    o
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn what_it_writes_it_reads_back() {
        let mut a = Allowed::default();
        a.global
            .insert("ab".repeat(32), "/opt/vendor/tool.so".into());
        a.trees
            .entry("/srv/plugins".into())
            .or_default()
            .insert("cd".repeat(32), "given with --sha256".into());
        let text = render(&a);
        assert_eq!(
            read_existing(Path::new("x.toml"), text.as_bytes()).unwrap(),
            a
        );
        // And it is a policy fragment.
        sigward_policy::config::parse_fragment(&text, Path::new("/etc/sigward/policy.d"), 1)
            .unwrap();
    }

    #[test]
    fn names() {
        assert!(valid_name(DEFAULT_NAME));
        for bad in ["", ".hidden", "a/b", "x y"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
