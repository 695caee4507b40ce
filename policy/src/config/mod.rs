//! The policy file (TOML), its drop-ins, and how they merge.
//!
//! A policy is a main file plus drop-ins (`policy.d/*.toml` beside it, in
//! lexical order). Each file is parsed on its own into a [`Fragment`]
//! ([`parse_fragment`]); [`merge`] then combines the fragments into the
//! effective [`Policy`]:
//!
//! * scalars (`mode`, `formats`, `trust.keys_dir`, `trust.aisoc_keys_dir`,
//!   `trust.ssh_namespace`, `trust.minisign_legacy`, `[agent]`, `[audit]`):
//!   the last file that sets one wins. `formats`,
//!   `agent.kernel_cache_owners` and `protect.bundle_data` count as
//!   scalars: a later file's list replaces the earlier list as a whole;
//! * lists (`trust.keys`, `trust.notur_env`, `trust.ed25519`, `trust.allowed_signers`,
//!   `trust.revoked`, `trust.revoked_dir`, `trust.deny_sha256`,
//!   `trust.allow_sha256`, `[[trust.key]]`, `protect.allow_sha256`):
//!   appended.
//!   Revocations and deny entries can only be added, never removed by a
//!   later file; a named key may be defined once;
//! * `[[protect]]`: appended; an entry for a path an earlier file already
//!   protects updates that entry (the fields it sets replace the earlier
//!   ones, the others are kept).
//!
//! Everything here is pure: relative paths resolve against each file's
//! directory lexically, and whether files exist is checked by the loader,
//! which reports errors as `FILE:LINE: message` using the file index and
//! line recorded in every [`Located`] value and [`PolicyError`].
//!
//! ```toml
//! mode = "enforce"        # enforce | audit | off (aliases: strict | warn | disabled)
//! formats = ["native"]    # accepted signature formats (default: all)
//!
//! [trust]
//! keys = ["keys/release.pub"]        # unnamed key files, recognised by content
//! keys_dir = "/etc/sigward/keys.d"   # every *.pem, *.pub, *.public in it
//! aisoc_keys_dir = "/opt/aisoc/plugin-keys"  # as AiSOC reads it: *.pem, *.pub (any case)
//! notur_env = "/var/www/panel/.env"  # its NOTUR_PUBLIC_KEY
//! ed25519 = ["<64 hex>"]             # unnamed inline keys
//! allowed_signers = ["allowed_signers"]
//! ssh_namespace = "file"
//! minisign_legacy = false
//! expiry_warning_days = 30           # warn about keys whose not_after is this close
//! revoked = ["<fingerprint>"]
//! revoked_dir = "/etc/sigward/revoked.d"
//! deny_sha256 = ["<sha256>"]
//! allow_sha256 = ["<sha256>"]        # contents trusted without a signature (deny wins)
//!
//! [[trust.key]]
//! name = "vendor-a"
//! file = "keys/vendor-a.pub"         # or: ed25519 = "<64 hex>", notur_env = "PATH"
//! groups = ["vendors"]
//! not_before = 2026-01-01T00:00:00Z
//! not_after = 2027-01-01T00:00:00Z
//!
//! [[protect]]
//! path = "/srv/app/plugins"
//! mode = "audit"
//! formats = ["native"]
//! trust = ["vendor-a", "vendors"]    # named keys and groups (default: every key)
//! threshold = 2
//! allow_self_signed = false
//! untrusted_writers = "refuse"       # or "allow": files users other than the trusted owners can write
//! required = true                   # false: a missing directory is reported, not an error
//! allow_sha256 = ["<sha256>"]        # trusted here without a signature (added to trust.allow_sha256)
//! bundle_data = ["*.md", "rules/*.yaml"] # read without a signature inside a verified AiSOC bundle (whole list replaced)
//!
//! [agent]
//! workers = 4
//! cache_entries = 65536
//! metrics_file = "/var/lib/prometheus/node-exporter/sigward.prom"
//! metrics_interval = 15              # seconds
//! kernel_cache = true                # kernel ignore marks on verified files only listed owners can change
//! kernel_cache_owners = [0, "deploy"] # uids or user names (default: [0], root only; whole list replaced)
//!
//! [audit]
//! log_allowed = false
//! kernel_audit = false
//! rate_limit_burst = 5
//! rate_limit_interval = 10
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::bundle_data::DataPattern;
use crate::fingerprint::Fingerprint;
use crate::formats::Format;

mod merge;
mod parse;
mod print;
mod raw;
#[cfg(test)]
mod tests;
mod values;

pub use merge::{merge, merge_all};
pub use parse::{parse_fragment, parse_fragment_all, Fragment};
pub use print::{to_toml, to_toml_plain};

/// Parses and merges a single policy file (no drop-ins). Relative paths
/// resolve against `base_dir`.
pub fn parse(text: &str, base_dir: &std::path::Path) -> Result<Policy, PolicyError> {
    merge(&[parse_fragment(text, base_dir, 0)?])
}

/// What the agent does with a file that fails verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Deny the open or exec.
    Enforce,
    /// Allow, but record what enforce would have denied.
    Audit,
    /// Allow without checking.
    Off,
}

impl Mode {
    /// Parses a mode word, accepting the seeds' aliases.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "enforce" | "strict" => Some(Mode::Enforce),
            "audit" | "warn" => Some(Mode::Audit),
            "off" | "disabled" => Some(Mode::Off),
            _ => None,
        }
    }

    /// The canonical word.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
            Mode::Off => "off",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value, the file it came from (an index into the list of files given
/// to [`merge`]) and its 1-based line there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Its line in the file.
    pub line: usize,
    /// The file's index (0: the main policy).
    pub file: usize,
}

/// A parsed, merged, validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Global mode.
    pub mode: Mode,
    /// Formats accepted where a tree does not say (default: all).
    pub formats: Vec<Format>,
    /// Trust sources.
    pub trust: Trust,
    /// Protected trees.
    pub protect: Vec<Protect>,
    /// Agent tuning.
    pub agent: AgentSettings,
    /// Audit settings.
    pub audit: AuditSettings,
    /// Where each scalar setting was last set (`"mode"`, `"trust.keys_dir"`,
    /// ...): (file index, line).
    pub origins: BTreeMap<&'static str, (usize, usize)>,
}

/// The `[trust]` table, merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// Unnamed key files.
    pub keys: Vec<Located<PathBuf>>,
    /// A directory of unnamed key files.
    pub keys_dir: Option<Located<PathBuf>>,
    /// AiSOC's trusted-keys directory, read as AiSOC reads it: every
    /// `*.pem` and `*.pub` (any case), each an Ed25519 SPKI public key
    /// labelled with its file name without the extension; files AiSOC
    /// cannot use are skipped with a warning.
    pub aisoc_keys_dir: Option<Located<PathBuf>>,
    /// Notur panels' `.env` files: their `NOTUR_PUBLIC_KEY`, unnamed.
    pub notur_env: Vec<Located<PathBuf>>,
    /// Unnamed raw Ed25519 public keys given inline.
    pub ed25519: Vec<Located<[u8; 32]>>,
    /// OpenSSH `allowed_signers` files.
    pub allowed_signers: Vec<Located<PathBuf>>,
    /// The namespace OpenSSH signatures must have been made for.
    pub ssh_namespace: Option<String>,
    /// Accept legacy (non-prehashed) minisign signatures.
    pub minisign_legacy: bool,
    /// Warn about trusted keys whose `not_after` is this many days away or
    /// less (`None`: the agent's default, 30; 0: only expired keys).
    pub expiry_warning_days: Option<u64>,
    /// Revoked key fingerprints.
    pub revoked: Vec<Located<Fingerprint>>,
    /// Directories of revoked keys (key files, Conductor
    /// revoked_keys.toml); every file's `revoked_dir` applies.
    pub revoked_dirs: Vec<Located<PathBuf>>,
    /// Denied file contents.
    pub deny_sha256: Vec<Located<[u8; 32]>>,
    /// File contents trusted without a signature, in every tree (a digest
    /// that is also in `deny_sha256` stays denied).
    pub allow_sha256: Vec<Located<[u8; 32]>>,
    /// Named keys.
    pub named: Vec<NamedKey>,
}

/// Where a named key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A key file (every key in it gets the name).
    File(Located<PathBuf>),
    /// An inline raw Ed25519 key.
    Ed25519(Located<[u8; 32]>),
    /// The `NOTUR_PUBLIC_KEY` of a Notur panel's `.env` file.
    NoturEnv(Located<PathBuf>),
}

/// A `[[trust.key]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedKey {
    /// The name, unique in the policy.
    pub name: Located<String>,
    /// The key.
    pub source: KeySource,
    /// Groups it belongs to.
    pub groups: Vec<String>,
    /// Not valid before (seconds since the epoch).
    pub not_before: Option<u64>,
    /// Not valid after (seconds since the epoch).
    pub not_after: Option<u64>,
}

/// One `[[protect]]` entry, merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protect {
    /// The tree's root (absolute, lexically normalised).
    pub path: Located<PathBuf>,
    /// Mode override.
    pub mode: Option<Mode>,
    /// Accepted formats override.
    pub formats: Option<Vec<Format>>,
    /// Named keys and groups trusted here (`None`: every key).
    pub trust: Option<Vec<Located<String>>>,
    /// Distinct trusted keys required.
    pub threshold: usize,
    /// Accept valid signatures by any key (formats carrying the key).
    pub allow_self_signed: bool,
    /// What to do with files that users other than the trusted owners can
    /// change.
    pub untrusted_writers: UntrustedWriters,
    /// Whether the directory must exist (`true`, the default): a missing
    /// required tree refuses the policy; a missing optional one is reported
    /// and protected from the first reload that finds it.
    pub required: bool,
    /// File contents trusted without a signature in this tree (added to
    /// `trust.allow_sha256`; every file's entries apply).
    pub allow_sha256: Vec<Located<[u8; 32]>>,
    /// Files of a signed AiSOC bundle that may be read without a signature
    /// of their own, as patterns relative to the bundle's root (see
    /// [`crate::bundle_data`]); [`crate::bundle_data::DEFAULT_PATTERNS`]
    /// unless set. A later file's list replaces the earlier one.
    pub bundle_data: Vec<DataPattern>,
    /// Where each field was last set (`"mode"`, `"threshold"`, ...).
    pub origins: BTreeMap<&'static str, (usize, usize)>,
}

/// `[[protect]] untrusted_writers`: what becomes of a file in the tree that
/// someone other than the trusted owners (root and
/// `agent.kernel_cache_owners`) can change: a file they own or can write,
/// or one in a directory (up to the tree's root) they can write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UntrustedWriters {
    /// Refused (`writable`), without reading it: its content or name could
    /// change after any check. The default.
    #[default]
    Refuse,
    /// Verified like any other file. The agent refuses it while another
    /// process has it open for writing, and refuses opens for writing while
    /// another process has it open; what is left is in the threat model.
    Allow,
}

impl UntrustedWriters {
    /// Parses the policy word.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "refuse" => Some(UntrustedWriters::Refuse),
            "allow" => Some(UntrustedWriters::Allow),
            _ => None,
        }
    }

    /// The policy word.
    pub fn as_str(self) -> &'static str {
        match self {
            UntrustedWriters::Refuse => "refuse",
            UntrustedWriters::Allow => "allow",
        }
    }
}

/// The `[agent]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSettings {
    /// Verification threads; `None` means one per CPU, at least 2.
    pub workers: Option<usize>,
    /// Verdict cache capacity.
    pub cache_entries: usize,
    /// After a verification someone waited for, verify up to this many
    /// other files of the same directory before anyone opens them (0:
    /// never).
    pub verify_ahead: usize,
    /// Where the agent writes its metrics (Prometheus text format) for
    /// node_exporter's textfile collector; `None`: not written.
    pub metrics_file: Option<PathBuf>,
    /// Seconds between two writes of the metrics file.
    pub metrics_interval_secs: u64,
    /// Put a kernel ignore mark on the inode of a verified, allowed file
    /// that only [`kernel_cache_owners`](Self::kernel_cache_owners) can
    /// change, so that later opens of it never reach the agent (which
    /// decides what is eligible).
    pub kernel_cache: bool,
    /// The owners whose files (and parent directories) may be
    /// kernel-cached, as written: names are resolved to uids by the agent.
    /// Default `[0]` (root). The list is explicit: root-owned files are not
    /// kernel-cached unless 0 is listed, and an empty list means no file
    /// is. Each entry says where it was written (the default's is line 0);
    /// the list as a whole has the origin `"agent.kernel_cache_owners"`.
    pub kernel_cache_owners: Vec<Located<Owner>>,
}

/// An entry of `agent.kernel_cache_owners`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A uid, 0 to 4294967294 (never `(uid_t)-1`).
    Uid(u32),
    /// A user name, to be resolved by the agent: non-empty, at most 32
    /// bytes, no NUL or `/`, not all digits.
    Name(String),
}

impl fmt::Display for Owner {
    /// As TOML writes it: `0`, `"deploy"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Uid(u) => write!(f, "{u}"),
            Owner::Name(n) => write!(f, "{}", toml::Value::String(n.clone())),
        }
    }
}

/// Default verdict cache capacity.
pub const DEFAULT_CACHE_ENTRIES: usize = 65_536;

/// Default `agent.verify_ahead`: files of one directory verified ahead.
pub const DEFAULT_VERIFY_AHEAD: usize = 1024;

/// Largest `agent.verify_ahead`.
pub const MAX_VERIFY_AHEAD: i64 = 65_536;

/// Default seconds between two writes of the metrics file.
pub const DEFAULT_METRICS_INTERVAL: u64 = 15;

/// Largest `threshold` accepted.
pub const MAX_THRESHOLD: i64 = 64;

/// Largest uid accepted in `kernel_cache_owners` (`(uid_t)-1` is no user).
pub const MAX_UID: i64 = 4_294_967_294;

/// Longest user name accepted in `kernel_cache_owners`, in bytes.
pub const MAX_USER_NAME: usize = 32;

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            workers: None,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            verify_ahead: DEFAULT_VERIFY_AHEAD,
            metrics_file: None,
            metrics_interval_secs: DEFAULT_METRICS_INTERVAL,
            kernel_cache: true,
            kernel_cache_owners: vec![Located {
                value: Owner::Uid(0),
                line: 0,
                file: 0,
            }],
        }
    }
}

/// The `[audit]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    /// Record allowed opens too.
    pub log_allowed: bool,
    /// Ask the kernel to write an audit record (`AUDIT_FANOTIFY`) for
    /// every denial too, by answering it `FAN_DENY | FAN_AUDIT`.
    pub kernel_audit: bool,
    /// Records per path per interval before suppression.
    pub rate_limit_burst: u32,
    /// Rate-limit interval in seconds.
    pub rate_limit_interval_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            log_allowed: false,
            kernel_audit: false,
            rate_limit_burst: 5,
            rate_limit_interval_secs: 10,
        }
    }
}

/// A policy error, with the file (index) and line at fault when known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct PolicyError {
    /// The file's index (0: the main policy).
    pub file: usize,
    /// 1-based line in that file.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// An earlier place the error refers to (file index, line), e.g. the
    /// first definition of a duplicated name.
    pub previous: Option<(usize, usize)>,
}

/// The 1-based line holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
