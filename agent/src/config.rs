//! Loading a policy from disk: the policy file, its key files and its
//! protected directories, checked together so that an error anywhere refuses
//! the whole policy (at start-up, in `sigward check`, and on reload).

use std::fs;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::kcache;
use sigward_policy::config::{self, KeySource, Located, Mode, Policy, UntrustedWriters};
use sigward_policy::trust::{KeyMaterial, KeyOrigin, TrustedKey};
use sigward_policy::{Options, TrustStore};

/// Default policy location.
pub const DEFAULT_POLICY: &str = "/etc/sigward/policy.toml";

/// Key and policy files larger than this are refused: they are text files of
/// a few KiB, and reading an unbounded file would let a mistake exhaust memory.
const MAX_CONFIG_FILE: u64 = crate::files::bounded::CONFIG_LIMIT;

/// A policy error that names the file and, when known, the line at fault.
#[derive(Debug, thiserror::Error)]
#[error("{}:{}{message}", file.display(), line.map(|l| format!("{l}: ")).unwrap_or_else(|| " ".into()))]
pub struct LoadError {
    /// The file at fault (the policy file for its own entries).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// A protected tree, resolved on disk.
#[derive(Clone, Debug)]
pub struct Tree {
    /// Canonical path of the tree's root.
    pub root: PathBuf,
    /// Effective mode for files under it.
    pub mode: Mode,
    /// Line of its `path =` in the policy.
    pub line: usize,
    /// The file that protects it.
    pub file: PathBuf,
    /// How files under it are verified (accepted formats, SSH namespace,
    /// threshold, self-signed).
    pub options: Options,
    /// The keys it trusts.
    pub trust: Arc<TrustStore>,
    /// Whether files others than the trusted owners can change are
    /// verified (`allow`) or refused (`refuse`, the default).
    pub untrusted_writers: UntrustedWriters,
}

/// One loaded generation of policy and trust: immutable once built. Events
/// hold an `Arc<Engine>` for their whole life, so a reload never changes the
/// rules under an event that is being verified.
#[derive(Debug)]
pub struct Engine {
    /// Increases with every successful load.
    pub generation: u64,
    /// The policy file.
    pub source: PathBuf,
    /// The parsed policy.
    pub policy: Policy,
    /// Every trusted key, revocation and denied content.
    pub trust: Arc<TrustStore>,
    /// The files the policy was read from: main file, then drop-ins.
    pub files: Vec<PathBuf>,
    /// Protected trees, longest root first.
    pub trees: Vec<Tree>,
    /// Verification options outside every tree (and for `sigward verify`).
    pub options: Options,
    /// Non-fatal problems (skipped PEM blocks, empty trust store, ...).
    pub warnings: Vec<String>,
    /// Kernel ignore marks: `agent.kernel_cache*`, owners resolved.
    pub kernel_cache: kcache::Settings,
    /// Everything the load read: loading these again gives the same policy
    /// with nothing else (the last good policy, see [`crate::state`]).
    pub inputs: Inputs,
    /// Optional trees (`required = false`) whose directory does not exist.
    pub absent: Vec<PathBuf>,
}

/// Everything a policy load read from disk: the policy file, its drop-ins,
/// every key, allowed-signers and revocation file, and the listings of the
/// directories it looked in. [`Engine::from_inputs`] loads the same policy
/// from them alone (the protected directories themselves are looked up on
/// disk again).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The policy file (canonical).
    pub policy: PathBuf,
    /// The directory its relative paths and `policy.d` are found in.
    pub base: PathBuf,
    /// Each file read, by path.
    pub files: std::collections::BTreeMap<PathBuf, Vec<u8>>,
    /// Each directory listed, by path: its entries.
    pub dirs: std::collections::BTreeMap<PathBuf, Vec<PathBuf>>,
}

/// Why a file of the policy could not be read.
enum ReadFail {
    /// Strict modes refuse it ([`crate::strict`]).
    Strict(String),
    /// It could not be read (or is not among the saved inputs).
    Io(String),
}

/// Where a load reads the policy's files from.
enum Reader<'a> {
    /// The filesystem, under strict modes; what is read is recorded.
    Disk(std::cell::RefCell<Inputs>),
    /// What an earlier load read.
    Saved(&'a Inputs),
}

impl Reader<'_> {
    fn read(&self, path: &Path) -> Result<Vec<u8>, ReadFail> {
        match self {
            Reader::Disk(rec) => {
                // (A file that is not there is reported as such, below.)
                if fs::metadata(path).is_ok() {
                    strict(path).map_err(ReadFail::Strict)?;
                }
                let bytes = read_bounded(path).map_err(|e| ReadFail::Io(e.to_string()))?;
                rec.borrow_mut()
                    .files
                    .insert(path.to_path_buf(), bytes.clone());
                Ok(bytes)
            }
            Reader::Saved(inputs) => inputs
                .files
                .get(path)
                .cloned()
                .ok_or_else(|| ReadFail::Io("not among the saved policy's files".into())),
        }
    }

    /// The entries of directory `dir` (`None`: it does not exist).
    fn list(&self, dir: &Path) -> Result<Option<Vec<PathBuf>>, ReadFail> {
        match self {
            Reader::Disk(rec) => {
                match fs::metadata(dir) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    _ => {}
                }
                strict(dir).map_err(ReadFail::Strict)?;
                let entries = fs::read_dir(dir).map_err(|e| ReadFail::Io(e.to_string()))?;
                let mut paths = Vec::new();
                for e in entries {
                    paths.push(e.map_err(|e| ReadFail::Io(e.to_string()))?.path());
                }
                paths.sort();
                rec.borrow_mut()
                    .dirs
                    .insert(dir.to_path_buf(), paths.clone());
                Ok(Some(paths))
            }
            Reader::Saved(inputs) => Ok(inputs.dirs.get(dir).cloned()),
        }
    }

    /// Whether `path` is a regular file (on disk, or among the saved files).
    fn is_file(&self, path: &Path) -> bool {
        match self {
            Reader::Disk(_) => path.is_file(),
            Reader::Saved(inputs) => inputs.files.contains_key(path),
        }
    }
}

/// How to find a policy's parts (for validating files before they are
/// installed).
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Resolve the main file's relative paths, and find `policy.d`, here
    /// instead of the main file's own directory.
    pub base_dir: Option<PathBuf>,
    /// An extra drop-in, merged as if it were in `policy.d` (replacing one
    /// with the same base name there).
    pub extra_drop_in: Option<PathBuf>,
    /// The name the extra drop-in will have in `policy.d` (default: its own
    /// base name). Config management validates a temporary copy whose
    /// name says nothing of where it will be installed.
    pub extra_drop_in_name: Option<std::ffi::OsString>,
}

/// The files of a key directory (`[trust] keys_dir`) that are loaded.
pub const KEY_EXTENSIONS: [&str; 3] = ["pub", "pem", "public"];

/// The directory of drop-ins beside a policy.
pub const DROP_IN_DIR: &str = "policy.d";

impl Engine {
    /// Whether files and links owned by `uid` are trusted not to be turned
    /// against the agent: root and `agent.kernel_cache_owners`.
    pub fn trusted_owner(&self, uid: u32) -> bool {
        uid == 0 || self.kernel_cache.owners.contains(&uid)
    }

    /// The trusted owners as a list: root and `agent.kernel_cache_owners`.
    pub fn trusted_owners(&self) -> Vec<u32> {
        let mut v = self.kernel_cache.owners.clone();
        if !v.contains(&0) {
            v.push(0);
        }
        v
    }

    /// Loads and validates a policy file, its drop-ins and everything they
    /// name.
    pub fn load(path: &Path, generation: u64) -> Result<Engine, LoadError> {
        Self::load_with(path, generation, &LoadOptions::default())
    }

    /// [`Engine::load`] with explicit locations.
    pub fn load_with(path: &Path, generation: u64, lo: &LoadOptions) -> Result<Engine, LoadError> {
        // Reloads must find the same file whatever the working directory.
        let main = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let base = match &lo.base_dir {
            Some(d) => d.clone(),
            None => match main.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
        };
        let base = fs::canonicalize(&base).unwrap_or(base);
        let reader = Reader::Disk(std::cell::RefCell::new(Inputs {
            policy: main.clone(),
            base: base.clone(),
            ..Inputs::default()
        }));
        Self::load_from(&reader, main, base, generation, lo)
    }

    /// Loads the policy that `inputs` (of an earlier load) hold, with
    /// nothing else from disk but the protected directories.
    pub fn from_inputs(inputs: &Inputs, generation: u64) -> Result<Engine, LoadError> {
        Self::load_from(
            &Reader::Saved(inputs),
            inputs.policy.clone(),
            inputs.base.clone(),
            generation,
            &LoadOptions::default(),
        )
    }

    fn load_from(
        reader: &Reader<'_>,
        main: PathBuf,
        base: PathBuf,
        generation: u64,
        lo: &LoadOptions,
    ) -> Result<Engine, LoadError> {
        let whole = |file: &Path, message: String| LoadError {
            file: file.to_path_buf(),
            line: None,
            message,
        };
        // The main file, then every policy.d/*.toml in lexical order.
        let mut files: Vec<(PathBuf, PathBuf)> = vec![(main.clone(), base.clone())];
        let drop_dir = base.join(DROP_IN_DIR);
        let mut drop_ins: Vec<PathBuf> = match reader.list(&drop_dir) {
            Ok(entries) => entries
                .unwrap_or_default()
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                // Hidden files are editors' and config management's
                // temporary files (Ansible writes .ansible_tmp*), never
                // drop-ins.
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
                })
                .collect(),
            Err(ReadFail::Strict(m)) => return Err(whole(&drop_dir, m)),
            Err(ReadFail::Io(e)) => {
                return Err(whole(
                    &drop_dir,
                    format!("cannot read drop-in directory: {e}"),
                ))
            }
        };
        let extra_name = lo.extra_drop_in.as_ref().and_then(|extra| {
            lo.extra_drop_in_name
                .clone()
                .or_else(|| extra.file_name().map(|n| n.to_os_string()))
        });
        if let Some(name) = &extra_name {
            drop_ins.retain(|p| p.file_name() != Some(name.as_os_str()));
            drop_ins.push(drop_dir.join(name));
        }
        drop_ins.sort();
        for d in drop_ins {
            // The candidate is read from where it is, but placed (and its
            // relative paths resolved) as if it were in policy.d under its
            // final name.
            let source = match (&lo.extra_drop_in, &extra_name) {
                (Some(extra), Some(name)) if d.file_name() == Some(name.as_os_str()) => {
                    extra.clone()
                }
                _ => d,
            };
            files.push((source, drop_dir.clone()));
        }

        let mut fragments = Vec::new();
        for (i, (file, dir)) in files.iter().enumerate() {
            let bytes = reader.read(file).map_err(|e| match e {
                ReadFail::Strict(m) => whole(file, m),
                ReadFail::Io(e) => whole(file, format!("cannot read policy: {e}")),
            })?;
            let text =
                String::from_utf8(bytes).map_err(|_| whole(file, "policy is not UTF-8".into()))?;
            fragments.push(
                config::parse_fragment(&text, dir, i).map_err(|e| LoadError {
                    file: file.clone(),
                    line: e.line,
                    message: e.message,
                })?,
            );
        }
        let file_of = |i: usize| {
            files
                .get(i)
                .map_or_else(|| main.clone(), |(f, _)| f.clone())
        };
        let policy = config::merge(&fragments).map_err(|e| LoadError {
            file: file_of(e.file),
            line: e.line,
            message: match e.previous {
                Some((f, l)) => format!("{} (first at {}:{l})", e.message, file_of(f).display()),
                None => e.message,
            },
        })?;
        let at = |file: usize, line: usize, message: String| LoadError {
            file: file_of(file),
            line: Some(line),
            message,
        };

        let mut warnings: Vec<String> = crate::strict::disabled_warning().into_iter().collect();
        let mut trust = TrustStore::new();
        for key in &policy.trust.keys {
            load_key_file(reader, &mut trust, &key.value, &mut warnings)
                .map_err(|m| at(key.file, key.line, m))?;
        }
        if let Some(dir) = &policy.trust.keys_dir {
            load_key_dir(reader, &mut trust, dir, &mut warnings)
                .map_err(|m| at(dir.file, dir.line, m))?;
        }
        for k in &policy.trust.ed25519 {
            if let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&k.value) {
                trust.insert(TrustedKey::new(
                    KeyMaterial::Ed25519(vk),
                    &format!("{}:{}", file_of(k.file).display(), k.line),
                    1,
                    KeyOrigin::Hex,
                ));
            }
        }
        for signers in &policy.trust.allowed_signers {
            load_allowed_signers(reader, &mut trust, &signers.value, &mut warnings)
                .map_err(|m| at(signers.file, signers.line, m))?;
        }
        for named in &policy.trust.named {
            let window = (named.not_before, named.not_after);
            let keys = match &named.source {
                KeySource::File(f) => {
                    let mut scratch = TrustStore::new();
                    load_key_file(reader, &mut scratch, &f.value, &mut warnings)
                        .map_err(|m| at(f.file, f.line, m))?;
                    scratch.iter().cloned().collect::<Vec<_>>()
                }
                KeySource::Ed25519(h) => ed25519_dalek::VerifyingKey::from_bytes(&h.value)
                    .map(|vk| {
                        vec![TrustedKey::new(
                            KeyMaterial::Ed25519(vk),
                            &format!("{}:{}", file_of(h.file).display(), h.line),
                            1,
                            KeyOrigin::Hex,
                        )]
                    })
                    .unwrap_or_default(),
            };
            for k in keys {
                trust.insert(k.named(&named.name.value, &named.groups, window));
            }
        }
        // Revocations and denied contents apply everywhere.
        for r in &policy.trust.revoked {
            trust.revoke(r.value);
        }
        for dir in &policy.trust.revoked_dirs {
            load_revoked_dir(reader, &mut trust, dir, &mut warnings)
                .map_err(|m| at(dir.file, dir.line, m))?;
        }
        for d in &policy.trust.deny_sha256 {
            trust.deny_content(d.value);
        }

        let options = Options {
            formats: policy.formats.clone(),
            ssh_namespace: policy.trust.ssh_namespace.clone(),
            minisign_legacy: policy.trust.minisign_legacy,
            now: 0,
            threshold: 1,
            allow_self_signed: false,
        };
        let shared_trust = Arc::new(trust.clone());

        let mut trees = Vec::new();
        let mut absent = Vec::new();
        for p in &policy.protect {
            let root = match resolve_dir(&p.path) {
                Ok(root) => root,
                // Optional, and not there (yet): reported, not an error.
                Err(_)
                    if !p.required
                        && fs::metadata(&p.path.value)
                            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
                {
                    warnings.push(format!(
                        "protected directory {} does not exist (required = false, {}:{}): it is \
                         protected from the first reload that finds it",
                        p.path.value.display(),
                        file_of(p.path.file).display(),
                        p.path.line
                    ));
                    absent.push(p.path.value.clone());
                    continue;
                }
                Err(m) => return Err(at(p.path.file, p.path.line, m)),
            };
            if let Some(t) = trees.iter().find(|t: &&Tree| t.root == root) {
                return Err(at(
                    p.path.file,
                    p.path.line,
                    format!(
                        "{} is the same directory as the entry at {}:{}",
                        p.path.value.display(),
                        t.file.display(),
                        t.line
                    ),
                ));
            }
            let tree_trust = match &p.trust {
                None => shared_trust.clone(),
                Some(names) => {
                    let wanted: std::collections::HashSet<String> =
                        names.iter().map(|n| n.value.clone()).collect();
                    let subset = trust.restricted_to(&wanted);
                    if subset.is_empty() {
                        warnings.push(format!(
                            "{}: protect.trust names no loaded key: every file there fails verification",
                            p.path.value.display()
                        ));
                    }
                    Arc::new(subset)
                }
            };
            trees.push(Tree {
                root,
                mode: p.mode.unwrap_or(policy.mode),
                line: p.path.line,
                file: file_of(p.path.file),
                options: Options {
                    formats: p.formats.clone().unwrap_or_else(|| options.formats.clone()),
                    threshold: p.threshold,
                    allow_self_signed: p.allow_self_signed,
                    ..options.clone()
                },
                trust: tree_trust,
                untrusted_writers: p.untrusted_writers,
            });
        }
        trees.sort_by_key(|t| std::cmp::Reverse(t.root.as_os_str().len()));

        if trust.is_empty()
            && trees
                .iter()
                .any(|t| t.mode != Mode::Off && !t.options.allow_self_signed)
        {
            warnings.push(
                "no trusted keys are configured: every non-empty file in the protected trees fails verification"
                    .into(),
            );
        }
        if !policy.trust.allowed_signers.is_empty() && policy.trust.ssh_namespace.is_none() {
            warnings.push(
                "allowed_signers is set but trust.ssh_namespace is not: every OpenSSH signature will be refused"
                    .into(),
            );
        }
        if trees.is_empty() {
            warnings.push("no [[protect]] entries: nothing is protected".into());
        }
        if let Some(m) = &policy.agent.metrics_file {
            metrics_file_warnings(m, &trees, &mut warnings);
        }
        let kernel_cache = kernel_cache_settings(&policy.agent, &at, &mut warnings)?;
        let mut trusted = kernel_cache.owners.clone();
        trusted.push(0);
        for t in &trees {
            if let Some(w) = untrusted_root_warning(t, &trusted) {
                warnings.push(w);
            }
        }

        let inputs = match reader {
            Reader::Disk(rec) => rec.borrow().clone(),
            Reader::Saved(inputs) => (*inputs).clone(),
        };
        Ok(Engine {
            generation,
            source: main.clone(),
            files: files.into_iter().map(|(f, _)| f).collect(),
            policy,
            trust: shared_trust,
            trees,
            options,
            warnings,
            kernel_cache,
            inputs,
            absent,
        })
    }

    /// The trust store that applies to a path: its tree's (which may be
    /// restricted to some named keys), else every trusted key.
    pub fn trust_for(&self, path: &Path) -> &TrustStore {
        self.tree_for(path).map_or(&self.trust, |t| &t.trust)
    }

    /// An engine for `sigward verify --trust-key`: just a trust store.
    pub fn from_key_files(files: &[PathBuf]) -> Result<Engine, LoadError> {
        let mut trust = TrustStore::new();
        let mut warnings = Vec::new();
        let reader = Reader::Disk(std::cell::RefCell::new(Inputs::default()));
        for f in files {
            load_key_file(&reader, &mut trust, f, &mut warnings).map_err(|message| LoadError {
                file: f.clone(),
                line: None,
                message,
            })?;
        }
        Ok(Engine {
            generation: 0,
            source: PathBuf::new(),
            files: Vec::new(),
            policy: config::parse("", Path::new("/")).map_err(|e| LoadError {
                file: PathBuf::new(),
                line: None,
                message: e.to_string(),
            })?,
            trust: Arc::new(trust),
            trees: Vec::new(),
            options: Options::default(),
            warnings,
            kernel_cache: kcache::Settings::default(),
            inputs: Inputs::default(),
            absent: Vec::new(),
        })
    }

    /// The tree a path belongs to (the innermost one).
    pub fn tree_for(&self, path: &Path) -> Option<&Tree> {
        self.trees.iter().find(|t| path.starts_with(&t.root))
    }

    /// The verification options that apply to a path.
    pub fn options_for(&self, path: &Path) -> &Options {
        self.tree_for(path).map_or(&self.options, |t| &t.options)
    }

    /// The mode that applies to a path: its tree's, or the global mode for a
    /// path outside every tree (a marked directory that was moved out, or a
    /// path seen through another mount): such files are still checked.
    pub fn mode_for(&self, path: &Path) -> Mode {
        self.tree_for(path).map_or(self.policy.mode, |t| t.mode)
    }

    /// The strictest mode of the policy (the global mode and every tree's):
    /// what applies to a file whose name, and so whose tree, cannot be told
    /// (see [`crate::names`]).
    pub fn strictest_mode(&self) -> Mode {
        let modes = || std::iter::once(self.policy.mode).chain(self.trees.iter().map(|t| t.mode));
        if modes().any(|m| m == Mode::Enforce) {
            Mode::Enforce
        } else if modes().any(|m| m == Mode::Audit) {
            Mode::Audit
        } else {
            Mode::Off
        }
    }
}

/// A tree that refuses untrusted writers (the default) whose root someone
/// other than the trusted owners owns or may write: whatever they put
/// there is refused as `writable`, which is rarely what a policy that
/// protects such a tree means.
fn untrusted_root_warning(t: &Tree, trusted: &[u32]) -> Option<String> {
    if t.untrusted_writers != UntrustedWriters::Refuse || t.mode == Mode::Off {
        return None;
    }
    let st = nix::sys::stat::stat(&t.root).ok()?;
    let who = if !trusted.contains(&st.st_uid) {
        format!("is owned by uid {}", st.st_uid)
    } else if st.st_mode & 0o022 != 0 {
        format!(
            "is writable by group or others (mode {:04o})",
            st.st_mode & 0o7777
        )
    } else {
        return None;
    };
    Some(format!(
        "{} {who}: files that users other than root and agent.kernel_cache_owners can change \
         are refused there as writable (protect.untrusted_writers = \"refuse\", the default); \
         set untrusted_writers = \"allow\" on the tree to verify them instead",
        t.root.display()
    ))
}

/// `agent.kernel_cache` and `agent.kernel_cache_owners`, with user names
/// resolved to uids (an unknown name is an error at its line: the operator
/// meant to trust someone). Kernel caching is off when
/// `fs.protected_hardlinks` is not 1, with a warning.
fn kernel_cache_settings(
    agent: &config::AgentSettings,
    at: &dyn Fn(usize, usize, String) -> LoadError,
    warnings: &mut Vec<String>,
) -> Result<kcache::Settings, LoadError> {
    let mut owners = Vec::new();
    for owner in &agent.kernel_cache_owners {
        match &owner.value {
            config::Owner::Uid(u) => owners.push(*u),
            config::Owner::Name(name) => {
                let err = |message: String| at(owner.file, owner.line, message);
                match nix::unistd::User::from_name(name) {
                    Ok(Some(user)) => owners.push(user.uid.as_raw()),
                    Ok(None) => {
                        return Err(err(format!(
                            "agent.kernel_cache_owners: no user named {name:?} on this system"
                        )))
                    }
                    Err(e) => {
                        return Err(err(format!(
                            "agent.kernel_cache_owners: cannot look up user {name:?}: {e}"
                        )))
                    }
                }
            }
        }
    }
    let mut enabled = agent.kernel_cache && !owners.is_empty();
    if enabled && !kcache::hardlinks_protected() {
        warnings.push(
            "fs.protected_hardlinks is not 1: verified files are not kernel-cached (anyone could \
             link them under another name); every open reaches the agent"
                .into(),
        );
        enabled = false;
    }
    Ok(kcache::Settings {
        enabled,
        owners,
        limit: agent.cache_entries,
    })
}

/// Problems with `[agent] metrics_file` that do not stop the agent (the
/// directory may appear later, e.g. when node_exporter is installed; a
/// failed write is logged and never affects a verdict).
fn metrics_file_warnings(path: &Path, trees: &[Tree], warnings: &mut Vec<String>) {
    let dir = path.parent().unwrap_or(Path::new("/"));
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => warnings.push(format!(
            "agent.metrics_file {}: {} is not a directory; metrics are not written",
            path.display(),
            dir.display()
        )),
        Err(e) => warnings.push(format!(
            "agent.metrics_file {}: directory {}: {e}; metrics are not written until it exists",
            path.display(),
            dir.display()
        )),
    }
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        warnings.push(format!(
            "agent.metrics_file {} is a directory; metrics are not written",
            path.display()
        ));
    }
    let resolved = fs::canonicalize(dir)
        .map(|d| d.join(path.file_name().unwrap_or_default()))
        .unwrap_or_else(|_| path.to_path_buf());
    if let Some(t) = trees.iter().find(|t| resolved.starts_with(&t.root)) {
        warnings.push(format!(
            "agent.metrics_file {} is inside the protected tree {}: it carries no signature, \
             so other programs that open it (node_exporter) are refused in enforce mode",
            path.display(),
            t.root.display()
        ));
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, crate::files::bounded::ReadError> {
    crate::files::bounded::read(path, MAX_CONFIG_FILE)
}

/// [`crate::strict::check`], as the text of an error about `path`.
fn strict(path: &Path) -> Result<(), String> {
    crate::strict::check(path).map_err(|e| e.to_string())
}

fn load_key_file(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let bytes = reader.read(path).map_err(|e| match e {
        ReadFail::Strict(m) => format!("key file {}: {m}", path.display()),
        ReadFail::Io(m) => format!("cannot read key file {}: {m}", path.display()),
    })?;
    let shown = path.display().to_string();
    let report = trust
        .add_file(&shown, &bytes)
        .map_err(|e| format!("key file {shown}: {e}"))?;
    warnings.extend(report.warnings);
    Ok(())
}

/// The entries of a directory the policy names (`what` = `keys_dir`,
/// `revoked_dir`): it must exist.
fn list_named_dir(reader: &Reader<'_>, what: &str, dir: &Path) -> Result<Vec<PathBuf>, String> {
    match reader.list(dir) {
        Ok(Some(entries)) => Ok(entries),
        Ok(None) => Err(format!(
            "cannot read {what} {}: No such file or directory (os error 2)",
            dir.display()
        )),
        Err(ReadFail::Strict(m)) => Err(format!("{what} {}: {m}", dir.display())),
        Err(ReadFail::Io(m)) => Err(format!("cannot read {what} {}: {m}", dir.display())),
    }
}

/// Every file in the revocation directory: a key file whose keys are
/// revoked, or a Conductor `revoked_keys.toml`.
fn load_revoked_dir(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    dir: &Located<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let files: Vec<PathBuf> = list_named_dir(reader, "revoked_dir", &dir.value)?
        .into_iter()
        .filter(|p| reader.is_file(p))
        .collect();
    for f in files {
        let mut scratch = TrustStore::new();
        load_key_file(reader, &mut scratch, &f, warnings)?;
        let keys: Vec<_> = scratch.iter().map(|k| k.fingerprint).collect();
        let listed: Vec<_> = scratch.revoked().copied().collect();
        for fp in keys.into_iter().chain(listed) {
            trust.revoke(fp);
        }
    }
    Ok(())
}

fn load_allowed_signers(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let bytes = reader.read(path).map_err(|e| match e {
        ReadFail::Strict(m) => format!("allowed_signers file {}: {m}", path.display()),
        ReadFail::Io(m) => format!("cannot read allowed_signers file {}: {m}", path.display()),
    })?;
    let shown = path.display().to_string();
    let report = trust
        .add_allowed_signers(&shown, &bytes)
        .map_err(|e| format!("allowed_signers file {shown}: {e}"))?;
    if report.added == 0 {
        warnings.push(format!("allowed_signers file {shown} lists no keys"));
    }
    warnings.extend(report.warnings);
    Ok(())
}

fn load_key_dir(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    dir: &Located<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let files: Vec<PathBuf> = list_named_dir(reader, "keys_dir", &dir.value)?
        .into_iter()
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| KEY_EXTENSIONS.contains(&e))
        })
        .collect();
    for f in files {
        load_key_file(reader, trust, &f, warnings)?;
    }
    Ok(())
}

fn resolve_dir(path: &Located<PathBuf>) -> Result<PathBuf, String> {
    let canonical = fs::canonicalize(&path.value).map_err(|e| {
        format!(
            "protected directory {} cannot be used: {e}",
            path.value.display()
        )
    })?;
    let meta = fs::metadata(&canonical)
        .map_err(|e| format!("protected directory {}: {e}", path.value.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "protected path {} is not a directory",
            path.value.display()
        ));
    }
    if canonical == Path::new("/") {
        return Err(format!(
            "protected directory {} resolves to /, which is not supported",
            path.value.display()
        ));
    }
    Ok(canonical)
}
