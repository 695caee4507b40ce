//! Loading a policy from disk: the policy file, its key files and its
//! protected directories, checked together so that an error anywhere refuses
//! the whole policy (at start-up, in `sigward check`, and on reload).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::kcache;
use sigward_policy::bundle_data::DataPattern;
use sigward_policy::config::{Mode, Policy, UntrustedWriters};
use sigward_policy::{Options, TrustStore};

mod keys;
mod load;
mod reader;
mod warnings;

/// Default policy location.
pub const DEFAULT_POLICY: &str = "/etc/sigward/policy.toml";

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
    /// Files of a verified AiSOC bundle that may be read without a
    /// signature of their own (`protect.bundle_data`).
    pub bundle_data: Vec<DataPattern>,
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
    /// What an off-host or `--without` validation did not check, one
    /// sentence each (see [`LoadOptions`]); empty for an ordinary load.
    pub notes: Vec<String>,
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
    /// Drop-ins of policy.d (by base name) to leave out: validating their
    /// removal before it is made.
    pub without: Vec<std::ffi::OsString>,
    /// Off-host validation: syntax, values and references only. Key files,
    /// key directories and protected directories that do not exist here
    /// are noted instead of refused, user names that do not resolve here
    /// are noted, and strict modes and the checks of the trees on disk are
    /// skipped (ownership is a property of the host the policy will run
    /// on). Files that do exist are still read and validated.
    pub offline: bool,
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

    /// The trust store that applies to a path: its tree's (which may be
    /// restricted to some named keys), else every trusted key.
    pub fn trust_for(&self, path: &Path) -> &TrustStore {
        self.tree_for(path).map_or(&self.trust, |t| &t.trust)
    }

    /// The tree a path belongs to (the innermost one).
    pub fn tree_for(&self, path: &Path) -> Option<&Tree> {
        self.trees.iter().find(|t| path.starts_with(&t.root))
    }

    /// The verification options that apply to a path.
    pub fn options_for(&self, path: &Path) -> &Options {
        self.tree_for(path).map_or(&self.options, |t| &t.options)
    }

    /// The `bundle_data` patterns that apply to a path: its tree's, or the
    /// defaults outside every tree.
    pub fn bundle_data_for(&self, path: &Path) -> &[DataPattern] {
        static DEFAULTS: std::sync::LazyLock<Vec<DataPattern>> =
            std::sync::LazyLock::new(sigward_policy::bundle_data::default_patterns);
        self.tree_for(path)
            .map_or(DEFAULTS.as_slice(), |t| t.bundle_data.as_slice())
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
