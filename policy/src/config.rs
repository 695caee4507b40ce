//! The policy file (TOML), its drop-ins, and how they merge.
//!
//! A policy is a main file plus drop-ins (`policy.d/*.toml` beside it, in
//! lexical order). Each file is parsed on its own into a [`Fragment`]
//! ([`parse_fragment`]); [`merge`] then combines the fragments into the
//! effective [`Policy`]:
//!
//! * scalars (`mode`, `formats`, `trust.keys_dir`,
//!   `trust.ssh_namespace`, `trust.minisign_legacy`, `[agent]`, `[audit]`):
//!   the last file that sets one wins. `formats` and
//!   `agent.kernel_cache_owners` count as scalars: a later file's list
//!   replaces the earlier list as a whole;
//! * lists (`trust.keys`, `trust.ed25519`, `trust.allowed_signers`,
//!   `trust.revoked`, `trust.revoked_dir`, `trust.deny_sha256`,
//!   `[[trust.key]]`): appended.
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
//! ed25519 = ["<64 hex>"]             # unnamed inline keys
//! allowed_signers = ["allowed_signers"]
//! ssh_namespace = "file"
//! minisign_legacy = false
//! revoked = ["<fingerprint>"]
//! revoked_dir = "/etc/sigward/revoked.d"
//! deny_sha256 = ["<sha256>"]
//!
//! [[trust.key]]
//! name = "vendor-a"
//! file = "keys/vendor-a.pub"         # or: ed25519 = "<64 hex>"
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
//! rate_limit_burst = 5
//! rate_limit_interval = 10
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::fingerprint::Fingerprint;
use crate::formats::Format;

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
    /// Unnamed raw Ed25519 public keys given inline.
    pub ed25519: Vec<Located<[u8; 32]>>,
    /// OpenSSH `allowed_signers` files.
    pub allowed_signers: Vec<Located<PathBuf>>,
    /// The namespace OpenSSH signatures must have been made for.
    pub ssh_namespace: Option<String>,
    /// Accept legacy (non-prehashed) minisign signatures.
    pub minisign_legacy: bool,
    /// Revoked key fingerprints.
    pub revoked: Vec<Located<Fingerprint>>,
    /// Directories of revoked keys (key files, Conductor
    /// revoked_keys.toml); every file's `revoked_dir` applies.
    pub revoked_dirs: Vec<Located<PathBuf>>,
    /// Denied file contents.
    pub deny_sha256: Vec<Located<[u8; 32]>>,
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
    /// Records per path per interval before suppression.
    pub rate_limit_burst: u32,
    /// Rate-limit interval in seconds.
    pub rate_limit_interval_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            log_allowed: false,
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

// ------------------------------------------------------------ one file

/// What one file says, before merging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    file: usize,
    mode: Option<Located<Mode>>,
    formats: Option<Located<Vec<Format>>>,
    keys: Vec<Located<PathBuf>>,
    keys_dir: Option<Located<PathBuf>>,
    ed25519: Vec<Located<[u8; 32]>>,
    allowed_signers: Vec<Located<PathBuf>>,
    ssh_namespace: Option<Located<String>>,
    minisign_legacy: Option<Located<bool>>,
    revoked: Vec<Located<Fingerprint>>,
    revoked_dirs: Vec<Located<PathBuf>>,
    deny_sha256: Vec<Located<[u8; 32]>>,
    named: Vec<NamedKey>,
    protect: Vec<ProtectFragment>,
    workers: Option<Located<usize>>,
    cache_entries: Option<Located<usize>>,
    metrics_file: Option<Located<PathBuf>>,
    metrics_interval: Option<Located<u64>>,
    kernel_cache: Option<Located<bool>>,
    kernel_cache_owners: Option<Located<Vec<Located<Owner>>>>,
    log_allowed: Option<Located<bool>>,
    rate_limit_burst: Option<Located<u32>>,
    rate_limit_interval: Option<Located<u64>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ProtectFragment {
    path: Located<PathBuf>,
    mode: Option<Located<Mode>>,
    formats: Option<Located<Vec<Format>>>,
    trust: Option<Located<Vec<Located<String>>>>,
    threshold: Option<Located<usize>>,
    allow_self_signed: Option<Located<bool>>,
    untrusted_writers: Option<Located<UntrustedWriters>>,
    required: Option<Located<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    mode: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<Spanned<String>>>>,
    trust: Option<RawTrust>,
    #[serde(default)]
    protect: Vec<Spanned<RawProtect>>,
    agent: Option<RawAgent>,
    audit: Option<RawAudit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    keys_dir: Option<Spanned<String>>,
    #[serde(default)]
    ed25519: Vec<Spanned<String>>,
    #[serde(default)]
    allowed_signers: Vec<Spanned<String>>,
    ssh_namespace: Option<Spanned<String>>,
    minisign_legacy: Option<Spanned<bool>>,
    #[serde(default)]
    revoked: Vec<Spanned<String>>,
    revoked_dir: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    deny_sha256: Vec<Spanned<String>>,
    #[serde(default)]
    key: Vec<Spanned<RawNamedKey>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamedKey {
    name: Spanned<String>,
    file: Option<Spanned<String>>,
    ed25519: Option<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    not_before: Option<Spanned<RawTime>>,
    not_after: Option<Spanned<RawTime>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime {
    Datetime(toml::value::Datetime),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProtect {
    path: Spanned<String>,
    mode: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<Spanned<String>>>>,
    trust: Option<Spanned<Vec<Spanned<String>>>>,
    threshold: Option<Spanned<i64>>,
    allow_self_signed: Option<Spanned<bool>>,
    untrusted_writers: Option<Spanned<String>>,
    required: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    workers: Option<Spanned<i64>>,
    cache_entries: Option<Spanned<i64>>,
    metrics_file: Option<Spanned<String>>,
    metrics_interval: Option<Spanned<i64>>,
    kernel_cache: Option<Spanned<bool>>,
    /// Elements are checked by hand, so that a wrong type names its own
    /// line rather than the list's.
    kernel_cache_owners: Option<Spanned<Vec<Spanned<toml::Value>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    log_allowed: Option<Spanned<bool>>,
    rate_limit_burst: Option<Spanned<i64>>,
    rate_limit_interval: Option<Spanned<i64>>,
}

/// Parses and merges a single policy file (no drop-ins). Relative paths
/// resolve against `base_dir`.
pub fn parse(text: &str, base_dir: &Path) -> Result<Policy, PolicyError> {
    merge(&[parse_fragment(text, base_dir, 0)?])
}

/// Reads one file of a policy. `file` is its index, recorded in every
/// location and error; relative paths resolve against `base_dir`.
pub fn parse_fragment(text: &str, base_dir: &Path, file: usize) -> Result<Fragment, PolicyError> {
    let cx = Cx {
        text,
        base_dir,
        file,
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError {
        file,
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
        previous: None,
    })?;
    let mut f = Fragment {
        file,
        ..Fragment::default()
    };
    if let Some(m) = &raw.mode {
        f.mode = Some(cx.located(m, mode_word(&cx, m)?));
    }
    if let Some(list) = &raw.formats {
        f.formats = Some(cx.located(list, format_list(&cx, list)?));
    }
    if let Some(t) = raw.trust {
        for k in &t.keys {
            f.keys.push(cx.path(k, "trust.keys entry")?);
        }
        if let Some(d) = &t.keys_dir {
            f.keys_dir = Some(cx.path(d, "trust.keys_dir")?);
        }
        for k in &t.ed25519 {
            f.ed25519
                .push(cx.located(k, ed25519_hex(&cx, k, "trust.ed25519 entries")?));
        }
        for a in &t.allowed_signers {
            f.allowed_signers
                .push(cx.path(a, "trust.allowed_signers entry")?);
        }
        if let Some(ns) = &t.ssh_namespace {
            let v = ns.get_ref();
            if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(cx.err(
                    ns.span(),
                    "trust.ssh_namespace must be a non-empty word (the -n of ssh-keygen -Y sign)",
                ));
            }
            f.ssh_namespace = Some(cx.located(ns, v.clone()));
        }
        if let Some(b) = &t.minisign_legacy {
            f.minisign_legacy = Some(cx.located(b, *b.get_ref()));
        }
        for r in &t.revoked {
            let fp = Fingerprint::from_hex(r.get_ref().trim()).ok_or_else(|| {
                cx.err(
                    r.span(),
                    "trust.revoked entries must be key fingerprints: 64 hex characters (SHA-256 of the raw public key)",
                )
            })?;
            f.revoked.push(cx.located(r, fp));
        }
        if let Some(d) = &t.revoked_dir {
            let dirs = match d.get_ref() {
                OneOrMany::One(one) => vec![one.clone()],
                OneOrMany::Many(many) => many.clone(),
            };
            for one in dirs {
                let spanned = Spanned::new(d.span(), one);
                f.revoked_dirs.push(cx.path(&spanned, "trust.revoked_dir")?);
            }
        }
        for h in &t.deny_sha256 {
            let mut raw = [0u8; 32];
            hex::decode_to_slice(h.get_ref().trim(), &mut raw).map_err(|_| {
                cx.err(
                    h.span(),
                    "trust.deny_sha256 entries must be SHA-256 digests: 64 hex characters",
                )
            })?;
            f.deny_sha256.push(cx.located(h, raw));
        }
        for k in &t.key {
            f.named.push(named_key(&cx, k)?);
        }
    }
    let mut seen: Vec<&Located<PathBuf>> = Vec::new();
    let mut paths = Vec::new();
    for entry in &raw.protect {
        let p = entry.get_ref();
        let path = cx.path(&p.path, "protect.path")?;
        if path.value == Path::new("/") {
            return Err(cx.err(
                p.path.span(),
                "protecting / is not supported: name the plugin directories to protect",
            ));
        }
        paths.push(path);
    }
    for (entry, path) in raw.protect.iter().zip(paths.iter()) {
        let p = entry.get_ref();
        if let Some(dup) = seen.iter().find(|q| q.value == path.value) {
            return Err(cx.err(
                p.path.span(),
                format!(
                    "{} is already protected by the entry on line {}",
                    path.value.display(),
                    dup.line
                ),
            ));
        }
        seen.push(path);
        let mode = match &p.mode {
            Some(m) => Some(cx.located(m, mode_word(&cx, m)?)),
            None => None,
        };
        let formats = match &p.formats {
            Some(l) => Some(cx.located(l, format_list(&cx, l)?)),
            None => None,
        };
        let trust = match &p.trust {
            Some(list) => {
                if list.get_ref().is_empty() {
                    return Err(cx.err(
                        list.span(),
                        "protect.trust is empty: nothing could ever verify (omit it to trust every key)",
                    ));
                }
                Some(
                    cx.located(
                        list,
                        list.get_ref()
                            .iter()
                            .map(|n| cx.located(n, n.get_ref().clone()))
                            .collect(),
                    ),
                )
            }
            None => None,
        };
        let threshold = match &p.threshold {
            Some(t) => Some(cx.located(t, bounded(&cx, t, "protect.threshold", 1, MAX_THRESHOLD)?)),
            None => None,
        };
        f.protect.push(ProtectFragment {
            path: path.clone(),
            mode,
            formats,
            trust,
            threshold,
            allow_self_signed: p
                .allow_self_signed
                .as_ref()
                .map(|b| cx.located(b, *b.get_ref())),
            untrusted_writers: match &p.untrusted_writers {
                Some(w) => Some(cx.located(w, writers_word(&cx, w)?)),
                None => None,
            },
            required: p.required.as_ref().map(|b| cx.located(b, *b.get_ref())),
        });
    }
    if let Some(a) = raw.agent {
        if let Some(w) = &a.workers {
            f.workers = Some(cx.located(w, bounded(&cx, w, "agent.workers", 1, 256)?));
        }
        if let Some(c) = &a.cache_entries {
            f.cache_entries =
                Some(cx.located(c, bounded(&cx, c, "agent.cache_entries", 1, 16_777_216)?));
        }
        if let Some(m) = &a.metrics_file {
            f.metrics_file = Some(cx.path(m, "agent.metrics_file")?);
        }
        if let Some(i) = &a.metrics_interval {
            f.metrics_interval =
                Some(cx.located(i, bounded(&cx, i, "agent.metrics_interval", 1, 3600)?));
        }
        if let Some(k) = &a.kernel_cache {
            f.kernel_cache = Some(cx.located(k, *k.get_ref()));
        }
        if let Some(list) = &a.kernel_cache_owners {
            let mut owners = Vec::new();
            for o in list.get_ref() {
                owners.push(cx.located(o, owner(&cx, o)?));
            }
            f.kernel_cache_owners = Some(cx.located(list, owners));
        }
    }
    if let Some(a) = raw.audit {
        if let Some(l) = &a.log_allowed {
            f.log_allowed = Some(cx.located(l, *l.get_ref()));
        }
        if let Some(b) = &a.rate_limit_burst {
            f.rate_limit_burst =
                Some(cx.located(b, bounded(&cx, b, "audit.rate_limit_burst", 1, 1_000_000)?));
        }
        if let Some(i) = &a.rate_limit_interval {
            f.rate_limit_interval =
                Some(cx.located(i, bounded(&cx, i, "audit.rate_limit_interval", 1, 86_400)?));
        }
    }
    Ok(f)
}

struct Cx<'a> {
    text: &'a str,
    base_dir: &'a Path,
    file: usize,
}

impl Cx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: self.file,
            line: Some(line_of(self.text, span.start)),
            message: message.into(),
            previous: None,
        }
    }

    fn located<S, T>(&self, at: &Spanned<S>, value: T) -> Located<T> {
        Located {
            value,
            line: line_of(self.text, at.span().start),
            file: self.file,
        }
    }

    fn path(&self, v: &Spanned<String>, what: &str) -> Result<Located<PathBuf>, PolicyError> {
        let raw = v.get_ref();
        if raw.is_empty() {
            return Err(self.err(v.span(), format!("{what} is empty")));
        }
        if raw.contains('\0') {
            return Err(self.err(v.span(), format!("{what} contains a NUL byte")));
        }
        Ok(self.located(v, normalize(&self.base_dir.join(raw))))
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn ed25519_hex(cx: &Cx<'_>, v: &Spanned<String>, what: &str) -> Result<[u8; 32], PolicyError> {
    let mut raw = [0u8; 32];
    if hex::decode_to_slice(v.get_ref().trim(), &mut raw).is_err()
        || ed25519_dalek::VerifyingKey::from_bytes(&raw).is_err()
    {
        return Err(cx.err(
            v.span(),
            format!("{what} must be Ed25519 public keys of 64 hex characters"),
        ));
    }
    Ok(raw)
}

fn time_value(cx: &Cx<'_>, v: &Spanned<RawTime>, what: &str) -> Result<u64, PolicyError> {
    let text = match v.get_ref() {
        RawTime::Datetime(d) => d.to_string(),
        RawTime::Text(s) => s.clone(),
    };
    crate::verify::parse_rfc3339(&text).ok_or_else(|| {
        cx.err(
            v.span(),
            format!("{what} must be an RFC 3339 time with a UTC offset, e.g. 2027-01-01T00:00:00Z (got {text:?})"),
        )
    })
}

fn named_key(cx: &Cx<'_>, k: &Spanned<RawNamedKey>) -> Result<NamedKey, PolicyError> {
    let r = k.get_ref();
    if !valid_name(r.name.get_ref()) {
        return Err(cx.err(
            r.name.span(),
            "trust.key name must be letters, digits, '.', '_' or '-' (at most 128)",
        ));
    }
    let source = match (&r.file, &r.ed25519) {
        (Some(f), None) => KeySource::File(cx.path(f, "trust.key file")?),
        (None, Some(h)) => {
            KeySource::Ed25519(cx.located(h, ed25519_hex(cx, h, "trust.key ed25519")?))
        }
        _ => {
            return Err(cx.err(
                k.span(),
                format!(
                    "trust.key {:?} needs exactly one of file = \"PATH\" or ed25519 = \"<64 hex>\"",
                    r.name.get_ref()
                ),
            ))
        }
    };
    let mut groups = Vec::new();
    for g in &r.groups {
        if !valid_name(g.get_ref()) {
            return Err(cx.err(
                g.span(),
                "group names must be letters, digits, '.', '_' or '-'",
            ));
        }
        groups.push(g.get_ref().clone());
    }
    let not_before = match &r.not_before {
        Some(t) => Some(time_value(cx, t, "not_before")?),
        None => None,
    };
    let not_after = match &r.not_after {
        Some(t) => Some(time_value(cx, t, "not_after")?),
        None => None,
    };
    if let (Some(b), Some(a), Some(span)) = (
        not_before,
        not_after,
        r.not_after.as_ref().map(|s| s.span()),
    ) {
        if a <= b {
            return Err(cx.err(span, "not_after must be later than not_before"));
        }
    }
    Ok(NamedKey {
        name: cx.located(&r.name, r.name.get_ref().clone()),
        source,
        groups,
        not_before,
        not_after,
    })
}

// --------------------------------------------------------------- merge

/// Merges the fragments of a policy, main file first, then drop-ins in
/// order, and validates the result.
pub fn merge(fragments: &[Fragment]) -> Result<Policy, PolicyError> {
    let mut origins = BTreeMap::new();
    let mut set = |key: &'static str, at: (usize, usize)| {
        origins.insert(key, at);
    };
    let mut mode = Mode::Enforce;
    let mut formats = Format::ALL.to_vec();
    let mut trust = Trust::default();
    let mut protect: Vec<Protect> = Vec::new();
    let mut agent = AgentSettings::default();
    let mut audit = AuditSettings::default();
    for f in fragments {
        if let Some(m) = &f.mode {
            mode = m.value;
            set("mode", (m.file, m.line));
        }
        if let Some(l) = &f.formats {
            formats = l.value.clone();
            set("formats", (l.file, l.line));
        }
        trust.keys.extend(f.keys.iter().cloned());
        if let Some(d) = &f.keys_dir {
            trust.keys_dir = Some(d.clone());
            set("trust.keys_dir", (d.file, d.line));
        }
        trust.ed25519.extend(f.ed25519.iter().cloned());
        trust
            .allowed_signers
            .extend(f.allowed_signers.iter().cloned());
        if let Some(ns) = &f.ssh_namespace {
            trust.ssh_namespace = Some(ns.value.clone());
            set("trust.ssh_namespace", (ns.file, ns.line));
        }
        if let Some(b) = &f.minisign_legacy {
            trust.minisign_legacy = b.value;
            set("trust.minisign_legacy", (b.file, b.line));
        }
        trust.revoked.extend(f.revoked.iter().cloned());
        // Revocations only accumulate: every file's directories apply.
        trust.revoked_dirs.extend(f.revoked_dirs.iter().cloned());
        trust.deny_sha256.extend(f.deny_sha256.iter().cloned());
        for k in &f.named {
            if let Some(prev) = trust.named.iter().find(|p| p.name.value == k.name.value) {
                return Err(PolicyError {
                    file: k.name.file,
                    line: Some(k.name.line),
                    message: format!(
                        "key name {:?} is already defined; names must be unique",
                        k.name.value
                    ),
                    previous: Some((prev.name.file, prev.name.line)),
                });
            }
            trust.named.push(k.clone());
        }
        for p in &f.protect {
            let idx = match protect.iter().position(|q| q.path.value == p.path.value) {
                Some(i) => i,
                None => {
                    protect.push(Protect {
                        path: p.path.clone(),
                        mode: None,
                        formats: None,
                        trust: None,
                        threshold: 1,
                        allow_self_signed: false,
                        untrusted_writers: UntrustedWriters::default(),
                        required: true,
                        origins: BTreeMap::new(),
                    });
                    protect.len() - 1
                }
            };
            let Some(q) = protect.get_mut(idx) else {
                continue;
            };
            // A later file adjusts a tree an earlier one protects: the
            // fields it sets replace the earlier ones.
            if let Some(m) = &p.mode {
                q.mode = Some(m.value);
                q.origins.insert("mode", (m.file, m.line));
            }
            if let Some(l) = &p.formats {
                q.formats = Some(l.value.clone());
                q.origins.insert("formats", (l.file, l.line));
            }
            if let Some(t) = &p.trust {
                q.trust = Some(t.value.clone());
                q.origins.insert("trust", (t.file, t.line));
            }
            if let Some(t) = &p.threshold {
                q.threshold = t.value;
                q.origins.insert("threshold", (t.file, t.line));
            }
            if let Some(v) = &p.allow_self_signed {
                q.allow_self_signed = v.value;
                q.origins.insert("allow_self_signed", (v.file, v.line));
            }
            if let Some(w) = &p.untrusted_writers {
                q.untrusted_writers = w.value;
                q.origins.insert("untrusted_writers", (w.file, w.line));
            }
            if let Some(r) = &p.required {
                q.required = r.value;
                q.origins.insert("required", (r.file, r.line));
            }
        }
        if let Some(w) = &f.workers {
            agent.workers = Some(w.value);
            set("agent.workers", (w.file, w.line));
        }
        if let Some(c) = &f.cache_entries {
            agent.cache_entries = c.value;
            set("agent.cache_entries", (c.file, c.line));
        }
        if let Some(m) = &f.metrics_file {
            agent.metrics_file = Some(m.value.clone());
            set("agent.metrics_file", (m.file, m.line));
        }
        if let Some(i) = &f.metrics_interval {
            agent.metrics_interval_secs = i.value;
            set("agent.metrics_interval", (i.file, i.line));
        }
        if let Some(k) = &f.kernel_cache {
            agent.kernel_cache = k.value;
            set("agent.kernel_cache", (k.file, k.line));
        }
        if let Some(l) = &f.kernel_cache_owners {
            // Like every [agent] setting: the last file's list replaces
            // the earlier one as a whole.
            agent.kernel_cache_owners = l.value.clone();
            set("agent.kernel_cache_owners", (l.file, l.line));
        }
        if let Some(l) = &f.log_allowed {
            audit.log_allowed = l.value;
            set("audit.log_allowed", (l.file, l.line));
        }
        if let Some(b) = &f.rate_limit_burst {
            audit.rate_limit_burst = b.value;
            set("audit.rate_limit_burst", (b.file, b.line));
        }
        if let Some(i) = &f.rate_limit_interval {
            audit.rate_limit_interval_secs = i.value;
            set("audit.rate_limit_interval", (i.file, i.line));
        }
    }
    // Names and groups share one namespace, so that `trust = [...]` in a
    // tree is never ambiguous.
    let names: HashSet<&str> = trust.named.iter().map(|k| k.name.value.as_str()).collect();
    for k in &trust.named {
        for g in &k.groups {
            if names.contains(g.as_str()) {
                return Err(PolicyError {
                    file: k.name.file,
                    line: Some(k.name.line),
                    message: format!(
                        "group {g:?} has the same name as a key; names and groups must differ"
                    ),
                    previous: None,
                });
            }
        }
    }
    let groups: HashSet<&str> = trust
        .named
        .iter()
        .flat_map(|k| k.groups.iter().map(String::as_str))
        .collect();
    for p in &protect {
        for n in p.trust.iter().flatten() {
            if !names.contains(n.value.as_str()) && !groups.contains(n.value.as_str()) {
                return Err(PolicyError {
                    file: n.file,
                    line: Some(n.line),
                    message: format!(
                        "protect.trust names {:?}, which is neither a [[trust.key]] name nor a group",
                        n.value
                    ), previous: None });
            }
        }
    }
    Ok(Policy {
        mode,
        formats,
        trust,
        protect,
        agent,
        audit,
        origins,
    })
}

fn mode_word(cx: &Cx<'_>, m: &Spanned<String>) -> Result<Mode, PolicyError> {
    Mode::from_word(m.get_ref()).ok_or_else(|| {
        cx.err(
            m.span(),
            format!(
                "unknown mode {:?}: expected \"enforce\", \"audit\" or \"off\" (or the aliases \"strict\", \"warn\", \"disabled\")",
                m.get_ref()
            ),
        )
    })
}

fn writers_word(cx: &Cx<'_>, w: &Spanned<String>) -> Result<UntrustedWriters, PolicyError> {
    UntrustedWriters::from_word(w.get_ref()).ok_or_else(|| {
        cx.err(
            w.span(),
            format!(
                "unknown protect.untrusted_writers {:?}: expected \"refuse\" (the default) or \"allow\"",
                w.get_ref()
            ),
        )
    })
}

fn format_list(
    cx: &Cx<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<Format>, PolicyError> {
    let mut out = Vec::new();
    for item in list.get_ref() {
        let Some(f) = Format::from_name(item.get_ref()) else {
            return Err(cx.err(
                item.span(),
                format!(
                    "unknown format {:?}: expected one of {}",
                    item.get_ref(),
                    Format::ALL.map(|f| f.name()).join(", ")
                ),
            ));
        };
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        return Err(cx.err(
            list.span(),
            "formats is empty: nothing could ever verify (omit it to accept every format)",
        ));
    }
    Ok(out)
}

fn owner(cx: &Cx<'_>, o: &Spanned<toml::Value>) -> Result<Owner, PolicyError> {
    match o.get_ref() {
        toml::Value::Integer(n) => {
            if *n == MAX_UID + 1 {
                return Err(cx.err(
                    o.span(),
                    format!("agent.kernel_cache_owners uid = {n} is (uid_t)-1, which is no user (0 to {MAX_UID})"),
                ));
            }
            let uid = Spanned::new(o.span(), *n);
            Ok(Owner::Uid(bounded(
                cx,
                &uid,
                "agent.kernel_cache_owners uid",
                0,
                MAX_UID,
            )?))
        }
        toml::Value::String(name) => {
            let bad = |why: &str| {
                cx.err(
                    o.span(),
                    format!("agent.kernel_cache_owners: user name {name:?} {why}"),
                )
            };
            if name.is_empty() {
                return Err(bad("is empty"));
            }
            if name.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!(
                    "is all digits: write a uid as a number, without quotes ({name})"
                )));
            }
            if name.contains('\0') {
                return Err(bad("contains a NUL byte"));
            }
            if name.contains('/') {
                return Err(bad("contains '/'"));
            }
            if name.len() > MAX_USER_NAME {
                return Err(bad(&format!("is longer than {MAX_USER_NAME} bytes")));
            }
            Ok(Owner::Name(name.clone()))
        }
        other => Err(cx.err(
            o.span(),
            format!(
                "agent.kernel_cache_owners entries must be uids (integers) or user names (strings), not {} {other}",
                other.type_str()
            ),
        )),
    }
}

fn bounded<T: TryFrom<i64>>(
    cx: &Cx<'_>,
    v: &Spanned<i64>,
    what: &str,
    min: i64,
    max: i64,
) -> Result<T, PolicyError> {
    let n = *v.get_ref();
    if n < min || n > max {
        return Err(cx.err(
            v.span(),
            format!("{what} = {n} is out of range ({min} to {max})"),
        ));
    }
    T::try_from(n).map_err(|_| cx.err(v.span(), format!("{what} = {n} is out of range")))
}

/// Removes `.` and resolves `..` lexically. Symlinks are resolved later by
/// the loader, which sees the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

// ------------------------------------------------------------ printing

/// The effective policy as TOML, each value annotated with where it was
/// set. `files` names the files by index.
pub fn to_toml(p: &Policy, files: &[PathBuf]) -> String {
    let at = |file: usize, line: usize| -> String {
        let name = files
            .get(file)
            .map_or_else(|| format!("file #{file}"), |f| f.display().to_string());
        format!("  # from {name}:{line}")
    };
    let origin = |key: &str| {
        p.origins
            .get(key)
            .map_or_else(|| "  # default".to_string(), |&(f, l)| at(f, l))
    };
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let qp = |pb: &Path| q(&pb.display().to_string());
    let mut o = String::new();
    o.push_str("# effective sigward policy (main file and drop-ins merged)\n");
    o.push_str(&format!(
        "mode = {}{}\n",
        q(p.mode.as_str()),
        origin("mode")
    ));
    let fl: Vec<String> = p.formats.iter().map(|f| q(f.name())).collect();
    o.push_str(&format!(
        "formats = [{}]{}\n",
        fl.join(", "),
        origin("formats")
    ));
    o.push_str("\n[trust]\n");
    let list = |o: &mut String, key: &str, items: Vec<(String, usize, usize)>| {
        if items.is_empty() {
            return;
        }
        o.push_str(&format!("{key} = [\n"));
        for (v, f, l) in items {
            o.push_str(&format!("  {v},{}\n", at(f, l)));
        }
        o.push_str("]\n");
    };
    list(
        &mut o,
        "keys",
        p.trust
            .keys
            .iter()
            .map(|k| (qp(&k.value), k.file, k.line))
            .collect(),
    );
    if let Some(d) = &p.trust.keys_dir {
        o.push_str(&format!(
            "keys_dir = {}{}\n",
            qp(&d.value),
            at(d.file, d.line)
        ));
    }
    list(
        &mut o,
        "ed25519",
        p.trust
            .ed25519
            .iter()
            .map(|k| (q(&hex::encode(k.value)), k.file, k.line))
            .collect(),
    );
    list(
        &mut o,
        "allowed_signers",
        p.trust
            .allowed_signers
            .iter()
            .map(|k| (qp(&k.value), k.file, k.line))
            .collect(),
    );
    if let Some(ns) = &p.trust.ssh_namespace {
        o.push_str(&format!(
            "ssh_namespace = {}{}\n",
            q(ns),
            origin("trust.ssh_namespace")
        ));
    }
    o.push_str(&format!(
        "minisign_legacy = {}{}\n",
        p.trust.minisign_legacy,
        origin("trust.minisign_legacy")
    ));
    list(
        &mut o,
        "revoked",
        p.trust
            .revoked
            .iter()
            .map(|k| (q(&k.value.to_string()), k.file, k.line))
            .collect(),
    );
    list(
        &mut o,
        "revoked_dir",
        p.trust
            .revoked_dirs
            .iter()
            .map(|k| (qp(&k.value), k.file, k.line))
            .collect(),
    );
    list(
        &mut o,
        "deny_sha256",
        p.trust
            .deny_sha256
            .iter()
            .map(|k| (q(&hex::encode(k.value)), k.file, k.line))
            .collect(),
    );
    for k in &p.trust.named {
        // A named key is defined once: every field comes from its entry.
        let here = at(k.name.file, k.name.line);
        o.push_str(&format!(
            "\n[[trust.key]]\nname = {}{here}\n",
            q(&k.name.value)
        ));
        match &k.source {
            KeySource::File(f) => o.push_str(&format!("file = {}{here}\n", qp(&f.value))),
            KeySource::Ed25519(h) => {
                o.push_str(&format!("ed25519 = {}{here}\n", q(&hex::encode(h.value))))
            }
        }
        if !k.groups.is_empty() {
            let g: Vec<String> = k.groups.iter().map(|g| q(g)).collect();
            o.push_str(&format!("groups = [{}]{here}\n", g.join(", ")));
        }
        if let Some(t) = k.not_before {
            o.push_str(&format!(
                "not_before = {}{here}\n",
                crate::verify::format_rfc3339(t)
            ));
        }
        if let Some(t) = k.not_after {
            o.push_str(&format!(
                "not_after = {}{here}\n",
                crate::verify::format_rfc3339(t)
            ));
        }
    }
    for t in &p.protect {
        let field = |key: &str| {
            t.origins.get(key).map_or_else(
                || "  # inherited or default".to_string(),
                |&(f, l)| at(f, l),
            )
        };
        o.push_str(&format!(
            "\n[[protect]]\npath = {}{}\n",
            qp(&t.path.value),
            at(t.path.file, t.path.line)
        ));
        o.push_str(&format!(
            "mode = {}{}\n",
            q(t.mode.unwrap_or(p.mode).as_str()),
            field("mode")
        ));
        let fl: Vec<String> = t
            .formats
            .as_ref()
            .unwrap_or(&p.formats)
            .iter()
            .map(|f| q(f.name()))
            .collect();
        o.push_str(&format!(
            "formats = [{}]{}\n",
            fl.join(", "),
            field("formats")
        ));
        if let Some(tr) = &t.trust {
            let n: Vec<String> = tr.iter().map(|n| q(&n.value)).collect();
            o.push_str(&format!("trust = [{}]{}\n", n.join(", "), field("trust")));
        }
        o.push_str(&format!(
            "threshold = {}{}\n",
            t.threshold,
            field("threshold")
        ));
        o.push_str(&format!(
            "allow_self_signed = {}{}\n",
            t.allow_self_signed,
            field("allow_self_signed")
        ));
        o.push_str(&format!(
            "untrusted_writers = {}{}\n",
            q(t.untrusted_writers.as_str()),
            field("untrusted_writers")
        ));
        o.push_str(&format!("required = {}{}\n", t.required, field("required")));
    }
    o.push_str("\n[agent]\n");
    if let Some(w) = p.agent.workers {
        o.push_str(&format!("workers = {w}{}\n", origin("agent.workers")));
    }
    o.push_str(&format!(
        "cache_entries = {}{}\n",
        p.agent.cache_entries,
        origin("agent.cache_entries")
    ));
    if let Some(m) = &p.agent.metrics_file {
        o.push_str(&format!(
            "metrics_file = {}{}\n",
            qp(m),
            origin("agent.metrics_file")
        ));
    }
    o.push_str(&format!(
        "metrics_interval = {}{}\n",
        p.agent.metrics_interval_secs,
        origin("agent.metrics_interval")
    ));
    o.push_str(&format!(
        "kernel_cache = {}{}\n",
        p.agent.kernel_cache,
        origin("agent.kernel_cache")
    ));
    let owners: Vec<String> = p
        .agent
        .kernel_cache_owners
        .iter()
        .map(|o| o.value.to_string())
        .collect();
    o.push_str(&format!(
        "kernel_cache_owners = [{}]{}\n",
        owners.join(", "),
        origin("agent.kernel_cache_owners")
    ));
    o.push_str("\n[audit]\n");
    o.push_str(&format!(
        "log_allowed = {}{}\n",
        p.audit.log_allowed,
        origin("audit.log_allowed")
    ));
    o.push_str(&format!(
        "rate_limit_burst = {}{}\n",
        p.audit.rate_limit_burst,
        origin("audit.rate_limit_burst")
    ));
    o.push_str(&format!(
        "rate_limit_interval = {}{}\n",
        p.audit.rate_limit_interval_secs,
        origin("audit.rate_limit_interval")
    ));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Policy, PolicyError> {
        parse(text, Path::new("/etc/sigward"))
    }

    fn err_line(text: &str) -> (Option<usize>, String) {
        match p(text) {
            Ok(_) => (None, "parsed".into()),
            Err(e) => (e.line, e.message),
        }
    }

    #[test]
    fn untrusted_writers_are_refused_unless_a_tree_allows_them() {
        let pol = match p("[[protect]]\npath = \"/a\"\n[[protect]]\npath = \"/b\"\nuntrusted_writers = \"allow\"\n") {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        assert_eq!(pol.protect[0].untrusted_writers, UntrustedWriters::Refuse);
        assert_eq!(pol.protect[1].untrusted_writers, UntrustedWriters::Allow);
        assert_eq!(
            pol.protect[1].origins.get("untrusted_writers"),
            Some(&(0, 5))
        );
        let (line, msg) = err_line("[[protect]]\npath = \"/a\"\nuntrusted_writers = \"yes\"\n");
        assert_eq!(line, Some(3), "{msg}");
        assert!(
            msg.contains("\"refuse\"") && msg.contains("\"allow\""),
            "{msg}"
        );
        let printed = to_toml(&pol, &[PathBuf::from("/etc/sigward/policy.toml")]);
        assert!(
            printed.contains("untrusted_writers = \"allow\""),
            "{printed}"
        );
        assert!(
            printed.contains("untrusted_writers = \"refuse\""),
            "{printed}"
        );
    }

    #[test]
    fn full_example() {
        let text = r#"
mode = "strict"
[trust]
keys = ["keys/a.pub", "/abs/b.pem"]
keys_dir = "keys.d"
[[protect]]
path = "/srv/app/plugins"
[[protect]]
path = "../srv/other/./x"
mode = "warn"
[agent]
workers = 3
cache_entries = 10
[audit]
log_allowed = true
rate_limit_burst = 2
rate_limit_interval = 30
"#;
        let pol = p(text);
        let pol = match pol {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        assert_eq!(pol.mode, Mode::Enforce);
        assert_eq!(
            pol.trust.keys[0].value,
            PathBuf::from("/etc/sigward/keys/a.pub")
        );
        assert_eq!(pol.trust.keys[0].line, 4);
        assert_eq!(pol.trust.keys[1].value, PathBuf::from("/abs/b.pem"));
        assert_eq!(
            pol.trust.keys_dir.as_ref().map(|d| d.value.clone()),
            Some(PathBuf::from("/etc/sigward/keys.d"))
        );
        assert_eq!(pol.protect.len(), 2);
        assert_eq!(pol.protect[0].path.line, 7);
        assert_eq!(pol.protect[0].mode, None);
        assert_eq!(pol.protect[1].path.value, PathBuf::from("/etc/srv/other/x"));
        assert_eq!(pol.protect[1].mode, Some(Mode::Audit));
        assert_eq!(pol.agent.workers, Some(3));
        assert_eq!(pol.agent.cache_entries, 10);
        assert!(pol.audit.log_allowed);
        assert_eq!(pol.audit.rate_limit_burst, 2);
        assert_eq!(pol.audit.rate_limit_interval_secs, 30);
    }

    #[test]
    fn defaults() {
        let pol = p("").ok();
        let pol = pol.as_ref();
        assert_eq!(pol.map(|p| p.mode), Some(Mode::Enforce));
        assert_eq!(
            pol.map(|p| p.agent.cache_entries),
            Some(DEFAULT_CACHE_ENTRIES)
        );
        assert_eq!(pol.map(|p| p.audit.log_allowed), Some(false));
        assert_eq!(pol.map(|p| p.protect.len()), Some(0));
    }

    #[test]
    fn mode_aliases() {
        for (w, m) in [
            ("enforce", Mode::Enforce),
            ("strict", Mode::Enforce),
            ("audit", Mode::Audit),
            ("warn", Mode::Audit),
            ("off", Mode::Off),
            ("disabled", Mode::Off),
        ] {
            assert_eq!(p(&format!("mode = \"{w}\"")).map(|p| p.mode), Ok(m));
        }
    }

    #[test]
    fn unknown_top_level_key_has_line() {
        let (line, msg) = err_line("mode = \"enforce\"\n\nmoed = 1\n");
        assert_eq!(line, Some(3));
        assert!(msg.contains("moed"), "{msg}");
    }

    #[test]
    fn unknown_key_in_protect_has_line() {
        let (line, msg) =
            err_line("[[protect]]\npath = \"/x\"\n[[protect]]\npath = \"/y\"\npaht = \"/z\"\n");
        assert_eq!(line, Some(5));
        assert!(msg.contains("paht"), "{msg}");
    }

    #[test]
    fn unknown_key_in_trust_has_line() {
        let (line, msg) = err_line("[trust]\nkeyz = [\"a\"]\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("keyz"), "{msg}");
    }

    #[test]
    fn bad_mode_has_line() {
        let (line, msg) = err_line("\nmode = \"enforcing\"\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("enforcing"), "{msg}");
        let (line, _) = err_line("[[protect]]\npath = \"/x\"\nmode = \"nope\"\n");
        assert_eq!(line, Some(3));
    }

    #[test]
    fn wrong_types_have_lines() {
        assert_eq!(err_line("mode = 1\n").0, Some(1));
        assert_eq!(err_line("[trust]\nkeys = \"a.pub\"\n").0, Some(2));
        assert_eq!(err_line("[agent]\nworkers = \"4\"\n").0, Some(2));
    }

    #[test]
    fn syntax_error_has_line() {
        assert_eq!(err_line("mode = \"enforce\"\n[trust\n").0, Some(2));
    }

    #[test]
    fn missing_path_in_protect() {
        let (line, msg) = err_line("[[protect]]\nmode = \"audit\"\n");
        assert!(line.is_some());
        assert!(msg.contains("path"), "{msg}");
    }

    #[test]
    fn root_and_duplicates_refused() {
        let (line, msg) = err_line("[[protect]]\npath = \"/\"\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("not supported"));
        let (line, msg) = err_line("[[protect]]\npath = \"/a\"\n[[protect]]\npath = \"/a/\"\n");
        assert_eq!(line, Some(4));
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn formats_and_ssh_settings() {
        let text = r#"formats = ["native", "ssh", "native"]
[trust]
allowed_signers = ["signers"]
ssh_namespace = "file"
minisign_legacy = true
[[protect]]
path = "/a"
formats = ["rsa-openssl"]
[[protect]]
path = "/b"
"#;
        let pol = match p(text) {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        assert_eq!(pol.formats, vec![Format::Native, Format::Ssh]);
        assert_eq!(pol.protect[0].formats, Some(vec![Format::RsaOpenssl]));
        assert_eq!(pol.protect[1].formats, None);
        assert_eq!(
            pol.trust.allowed_signers[0].value,
            PathBuf::from("/etc/sigward/signers")
        );
        assert_eq!(pol.trust.ssh_namespace.as_deref(), Some("file"));
        assert!(pol.trust.minisign_legacy);
        assert_eq!(p("").map(|p| p.formats.len()), Ok(Format::ALL.len()));
    }

    #[test]
    fn inline_ed25519_keys() {
        let key = hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[1; 32])
                .verifying_key()
                .as_bytes(),
        );
        let pol = p(&format!("[trust]\ned25519 = [\n  \"{key}\",\n]\n"));
        assert_eq!(pol.map(|p| p.trust.ed25519[0].line), Ok(3));
        let (line, msg) = err_line("[trust]\ned25519 = [\"abcd\"]\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("64 hex"), "{msg}");
    }

    #[test]
    fn bad_formats_have_lines() {
        let (line, msg) =
            err_line("[[protect]]\npath = \"/a\"\nformats = [\n  \"native\",\n  \"pgp\",\n]\n");
        assert_eq!(line, Some(5));
        assert!(msg.contains("pgp") && msg.contains("rsa-openssl"), "{msg}");
        assert_eq!(err_line("formats = []\n").0, Some(1));
        assert_eq!(err_line("[trust]\nssh_namespace = \"a b\"\n").0, Some(2));
    }

    #[test]
    fn ranges_checked() {
        assert_eq!(err_line("[agent]\n\nworkers = 0\n").0, Some(3));
        assert_eq!(err_line("[agent]\ncache_entries = -1\n").0, Some(2));
        assert_eq!(err_line("[audit]\nrate_limit_interval = 0\n").0, Some(2));
        assert_eq!(err_line("[trust]\nkeys = [\"\"]\n").0, Some(2));
    }

    fn frag(text: &str, file: usize) -> Fragment {
        match parse_fragment(text, Path::new(&format!("/etc/sigward/f{file}")), file) {
            Ok(f) => f,
            Err(e) => unreachable!("{e}"),
        }
    }

    const KEY_A: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

    #[test]
    fn drop_ins_override_scalars_and_append_lists() {
        let main = frag(
            "mode = \"audit\"\n[trust]\nkeys = [\"a.pub\"]\nrevoked = [\"00000000000000000000000000000000000000000000000000000000000000aa\"]\n[[protect]]\npath = \"/srv/p\"\nmode = \"audit\"\n[audit]\nrate_limit_burst = 3\n",
            0,
        );
        let d1 = frag(
            "mode = \"enforce\"\n[trust]\nkeys = [\"b.pub\"]\nrevoked = [\"00000000000000000000000000000000000000000000000000000000000000bb\"]\n[[protect]]\npath = \"/srv/p\"\nthreshold = 2\n[[protect]]\npath = \"/srv/q\"\n",
            1,
        );
        let pol = match merge(&[main, d1]) {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        assert_eq!(pol.mode, Mode::Enforce);
        assert_eq!(pol.origins.get("mode"), Some(&(1, 1)));
        let keys: Vec<_> = pol
            .trust
            .keys
            .iter()
            .map(|k| (k.value.clone(), k.file))
            .collect();
        assert_eq!(
            keys,
            vec![
                (PathBuf::from("/etc/sigward/f0/a.pub"), 0),
                (PathBuf::from("/etc/sigward/f1/b.pub"), 1)
            ]
        );
        assert_eq!(pol.trust.revoked.len(), 2, "revocations only accumulate");
        assert_eq!(pol.protect.len(), 2);
        // The drop-in adjusted the tree: its threshold replaced, its mode kept.
        assert_eq!(pol.protect[0].threshold, 2);
        assert_eq!(pol.protect[0].mode, Some(Mode::Audit));
        assert_eq!(pol.audit.rate_limit_burst, 3);
        assert_eq!(pol.origins.get("audit.rate_limit_burst"), Some(&(0, 9)));
    }

    #[test]
    fn named_keys_groups_and_windows() {
        let text = format!(
            "[[trust.key]]\nname = \"vendor-a\"\ned25519 = \"{KEY_A}\"\ngroups = [\"vendors\"]\nnot_before = 2026-01-01T00:00:00Z\nnot_after = \"2027-01-01T01:00:00+01:00\"\n[[trust.key]]\nname = \"partner\"\nfile = \"partner.pub\"\n[[protect]]\npath = \"/a\"\ntrust = [\"vendors\", \"partner\"]\nallow_self_signed = true\n"
        );
        let pol = match p(&text) {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        let a = &pol.trust.named[0];
        assert_eq!(a.name.value, "vendor-a");
        assert_eq!(a.groups, vec!["vendors".to_string()]);
        assert_eq!(a.not_before, Some(1_767_225_600));
        assert_eq!(a.not_after, Some(1_798_761_600));
        assert!(
            matches!(&pol.trust.named[1].source, KeySource::File(f) if f.value == Path::new("/etc/sigward/partner.pub"))
        );
        assert_eq!(pol.protect[0].trust.as_ref().map(|t| t.len()), Some(2));
        assert!(pol.protect[0].allow_self_signed);
        assert_eq!(pol.protect[0].threshold, 1);
    }

    #[test]
    fn named_key_errors() {
        let dup = frag(
            &format!("[[trust.key]]\nname = \"k\"\ned25519 = \"{KEY_A}\"\n"),
            0,
        );
        let again = frag(
            &format!("\n[[trust.key]]\nname = \"k\"\ned25519 = \"{KEY_A}\"\n"),
            1,
        );
        let e = merge(&[dup, again]).err();
        assert_eq!(e.as_ref().map(|e| (e.file, e.line)), Some((1, Some(3))));
        assert_eq!(err_line("[[trust.key]]\nname = \"k\"\n").0, Some(1));
        assert_eq!(
            err_line(&format!(
                "[[trust.key]]\nname = \"k\"\nfile = \"x\"\ned25519 = \"{KEY_A}\"\n"
            ))
            .0,
            Some(1)
        );
        assert_eq!(
            err_line("[[trust.key]]\nname = \"a b\"\nfile = \"x\"\n").0,
            Some(2)
        );
        assert_eq!(
            err_line(
                "[[trust.key]]\nname = \"k\"\nfile = \"x\"\nnot_after = 2020-01-01T00:00:00\n"
            )
            .0,
            Some(4),
            "a time without offset is refused"
        );
        assert_eq!(
            err_line("[[trust.key]]\nname = \"k\"\nfile = \"x\"\nnot_before = 2021-01-01T00:00:00Z\nnot_after = 2020-01-01T00:00:00Z\n").0,
            Some(5)
        );
        let (line, msg) = err_line("[[protect]]\npath = \"/a\"\ntrust = [\n  \"nobody\",\n]\n");
        assert_eq!(line, Some(4));
        assert!(msg.contains("nobody"), "{msg}");
        assert_eq!(
            err_line("[[protect]]\npath = \"/a\"\nthreshold = 0\n").0,
            Some(3)
        );
        assert_eq!(
            err_line("[[trust.key]]\nname = \"k\"\nfile = \"x\"\ngroups = [\"k\"]\n").0,
            Some(2)
        );
    }

    #[test]
    fn revocation_and_deny_entries_are_checked() {
        assert_eq!(err_line("[trust]\nrevoked = [\"abc\"]\n").0, Some(2));
        assert_eq!(err_line("[trust]\ndeny_sha256 = [\"xyz\"]\n").0, Some(2));
        let pol = p("[trust]\ndeny_sha256 = [\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"]\nrevoked_dir = \"revoked.d\"\n");
        assert_eq!(pol.as_ref().map(|p| p.trust.deny_sha256.len()), Ok(1));
        assert_eq!(
            pol.ok().map(|p| p
                .trust
                .revoked_dirs
                .into_iter()
                .map(|d| d.value)
                .collect::<Vec<_>>()),
            Some(vec![PathBuf::from("/etc/sigward/revoked.d")])
        );
        // Every file's revoked_dir applies (revocations only accumulate).
        let a = frag("[trust]\nrevoked_dir = \"a\"\n", 0);
        let b = frag("[trust]\nrevoked_dir = [\"b\", \"c\"]\n", 1);
        assert_eq!(merge(&[a, b]).map(|p| p.trust.revoked_dirs.len()), Ok(3));
    }

    #[test]
    fn effective_policy_prints_with_origins_and_parses_back() {
        let main = frag(&format!("mode = \"audit\"\n[[trust.key]]\nname = \"k\"\ned25519 = \"{KEY_A}\"\n[[protect]]\npath = \"/srv/p\"\ntrust = [\"k\"]\n"), 0);
        let d = frag("mode = \"enforce\"\n", 1);
        let pol = match merge(&[main, d]) {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        let text = to_toml(
            &pol,
            &[
                PathBuf::from("/etc/sigward/policy.toml"),
                PathBuf::from("/etc/sigward/policy.d/10.toml"),
            ],
        );
        assert!(
            text.contains("mode = \"enforce\"  # from /etc/sigward/policy.d/10.toml:1"),
            "{text}"
        );
        assert!(text.contains("# from /etc/sigward/policy.toml:3"), "{text}");
        let back = parse(&text, Path::new("/"));
        assert_eq!(back.as_ref().map(|b| b.mode), Ok(Mode::Enforce), "{text}");
        assert_eq!(
            back.map(|b| b.protect[0].trust.clone().map(|t| t.len())),
            Ok(Some(1))
        );
    }

    #[test]
    fn metrics_file_and_interval() {
        let pol =
            match p("[agent]\nmetrics_file = \"metrics/sigward.prom\"\nmetrics_interval = 60\n") {
                Ok(p) => p,
                Err(e) => unreachable!("{e}"),
            };
        assert_eq!(
            pol.agent.metrics_file,
            Some(PathBuf::from("/etc/sigward/metrics/sigward.prom")),
            "relative paths resolve against the file's directory"
        );
        assert_eq!(pol.agent.metrics_interval_secs, 60);
        assert_eq!(pol.origins.get("agent.metrics_file"), Some(&(0, 2)));
        assert_eq!(pol.origins.get("agent.metrics_interval"), Some(&(0, 3)));
        let defaults = p("").ok();
        assert_eq!(
            defaults.as_ref().map(|p| p.agent.metrics_file.clone()),
            Some(None)
        );
        assert_eq!(
            defaults.map(|p| p.agent.metrics_interval_secs),
            Some(DEFAULT_METRICS_INTERVAL)
        );
        assert_eq!(err_line("[agent]\nmetrics_interval = 0\n").0, Some(2));
        assert_eq!(err_line("[agent]\n\nmetrics_interval = 3601\n").0, Some(3));
        assert_eq!(err_line("[agent]\nmetrics_file = \"\"\n").0, Some(2));
        assert_eq!(err_line("[agent]\nmetrics_file = 1\n").0, Some(2));
        assert!(p("[agent]\nmetrics_interval = 3600\n").is_ok());

        // Last file wins, and the origin says which.
        let main = frag(
            "[agent]\nmetrics_file = \"/var/lib/a.prom\"\nmetrics_interval = 5\n",
            0,
        );
        let d = frag("\n[agent]\nmetrics_file = \"b.prom\"\n", 1);
        let pol = match merge(&[main, d]) {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        assert_eq!(
            pol.agent.metrics_file,
            Some(PathBuf::from("/etc/sigward/f1/b.prom"))
        );
        assert_eq!(pol.origins.get("agent.metrics_file"), Some(&(1, 3)));
        assert_eq!(pol.agent.metrics_interval_secs, 5);

        // Printed with its origin, and read back.
        let text = to_toml(
            &pol,
            &[
                PathBuf::from("/etc/sigward/policy.toml"),
                PathBuf::from("/etc/sigward/policy.d/10.toml"),
            ],
        );
        assert!(
            text.contains(
                "metrics_file = \"/etc/sigward/f1/b.prom\"  # from /etc/sigward/policy.d/10.toml:3"
            ),
            "{text}"
        );
        assert!(
            text.contains("metrics_interval = 5  # from /etc/sigward/policy.toml:3"),
            "{text}"
        );
        let back = parse(&text, Path::new("/"));
        assert_eq!(
            back.map(|b| (b.agent.metrics_file, b.agent.metrics_interval_secs)),
            Ok((Some(PathBuf::from("/etc/sigward/f1/b.prom")), 5))
        );
        let text = to_toml(&p("").unwrap_or_else(|e| unreachable!("{e}")), &[]);
        assert!(!text.contains("metrics_file"), "{text}");
        assert!(text.contains("metrics_interval = 15  # default"), "{text}");
    }

    /// The owners' values, and where each was written.
    fn owners(a: &AgentSettings) -> (Vec<Owner>, Vec<(usize, usize)>) {
        a.kernel_cache_owners
            .iter()
            .map(|o| (o.value.clone(), (o.file, o.line)))
            .unzip()
    }

    #[test]
    fn kernel_cache_defaults_and_parse() {
        let defaults = p("").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(defaults.agent.kernel_cache);
        assert_eq!(
            owners(&defaults.agent),
            (vec![Owner::Uid(0)], vec![(0, 0)]),
            "the default is root, written nowhere"
        );
        assert_eq!(defaults.origins.get("agent.kernel_cache"), None);
        assert_eq!(defaults.origins.get("agent.kernel_cache_owners"), None);
        assert_eq!(AgentSettings::default(), defaults.agent);

        let pol = p(
            "[agent]\nkernel_cache = false\nkernel_cache_owners = [\n  0,\n  \"deploy\",\n  4294967294, \"svc-app.1\",\n]\n",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!pol.agent.kernel_cache);
        assert_eq!(
            owners(&pol.agent),
            (
                vec![
                    Owner::Uid(0),
                    Owner::Name("deploy".into()),
                    Owner::Uid(4_294_967_294),
                    Owner::Name("svc-app.1".into()),
                ],
                vec![(0, 4), (0, 5), (0, 6), (0, 6)]
            )
        );
        assert_eq!(pol.origins.get("agent.kernel_cache"), Some(&(0, 2)));
        assert_eq!(pol.origins.get("agent.kernel_cache_owners"), Some(&(0, 3)));

        // An empty list is allowed: nothing is kernel-cached.
        let none = p("[agent]\nkernel_cache_owners = []\n").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(none.agent.kernel_cache_owners.is_empty());
        assert_eq!(none.origins.get("agent.kernel_cache_owners"), Some(&(0, 2)));
        // Root is not implied: a list without 0 replaces the default.
        let deploy = p("[agent]\nkernel_cache_owners = [\"deploy\"]\n")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(owners(&deploy.agent).0, vec![Owner::Name("deploy".into())]);
    }

    #[test]
    fn kernel_cache_errors_have_lines() {
        let (line, msg) = err_line("[agent]\n\nkernel_cache = \"yes\"\n");
        assert_eq!(line, Some(3), "{msg}");
        let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n  0,\n  -1,\n]\n");
        assert_eq!(line, Some(4), "{msg}");
        assert!(msg.contains("-1") && msg.contains("4294967294"), "{msg}");
        let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n  4294967295,\n]\n");
        assert_eq!(line, Some(3), "{msg}");
        assert!(
            msg.contains("4294967295") && msg.contains("(uid_t)-1"),
            "{msg}"
        );
        let (line, msg) = err_line("[agent]\nkernel_cache_owners = [0,\n  \"1000\"]\n");
        assert_eq!(line, Some(3), "{msg}");
        assert!(
            msg.contains("all digits") && msg.contains("without quotes"),
            "{msg}"
        );
        let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\"\"]\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("empty"), "{msg}");
        let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n\"a/b\"]\n");
        assert_eq!(line, Some(3));
        assert!(msg.contains('/'), "{msg}");
        let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\"a\\u0000b\"]\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("NUL"), "{msg}");
        let long = "x".repeat(MAX_USER_NAME + 1);
        let (line, msg) = err_line(&format!("[agent]\n\nkernel_cache_owners = [\"{long}\"]\n"));
        assert_eq!(line, Some(3));
        assert!(msg.contains("32 bytes"), "{msg}");
        assert!(p(&format!(
            "[agent]\nkernel_cache_owners = [\"{}\"]\n",
            "x".repeat(MAX_USER_NAME)
        ))
        .is_ok());
        // Neither a uid nor a name.
        let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n  0,\n  true,\n]\n");
        assert_eq!(line, Some(4), "{msg}");
        assert!(msg.contains("uid") && msg.contains("user name"), "{msg}");
        assert_eq!(err_line("[agent]\nkernel_cache_owners = 0\n").0, Some(2));
        assert_eq!(err_line("[agent]\nkernel_cache_owner = [0]\n").0, Some(2));
    }

    #[test]
    fn kernel_cache_drop_ins_replace_and_print() {
        let main = frag(
            "[agent]\nkernel_cache = false\nkernel_cache_owners = [0, \"deploy\"]\n",
            0,
        );
        let d1 = frag("\n[agent]\nkernel_cache_owners = [\n  \"app\",\n]\n", 1);
        let pol = merge(&[main.clone(), d1]).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!pol.agent.kernel_cache, "kept from the main file");
        assert_eq!(pol.origins.get("agent.kernel_cache"), Some(&(0, 2)));
        assert_eq!(
            owners(&pol.agent),
            (vec![Owner::Name("app".into())], vec![(1, 4)]),
            "the later list replaces the earlier one as a whole"
        );
        assert_eq!(pol.origins.get("agent.kernel_cache_owners"), Some(&(1, 3)));

        let d2 = frag(
            "[agent]\nkernel_cache = true\nkernel_cache_owners = []\n",
            2,
        );
        let pol = merge(&[main, d2]).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(pol.agent.kernel_cache);
        assert!(pol.agent.kernel_cache_owners.is_empty());

        let files = [
            PathBuf::from("/etc/sigward/policy.toml"),
            PathBuf::from("/etc/sigward/policy.d/10.toml"),
            PathBuf::from("/etc/sigward/policy.d/20.toml"),
        ];
        let text = to_toml(&pol, &files);
        assert!(
            text.contains("kernel_cache = true  # from /etc/sigward/policy.d/20.toml:2"),
            "{text}"
        );
        assert!(
            text.contains("kernel_cache_owners = []  # from /etc/sigward/policy.d/20.toml:3"),
            "{text}"
        );

        let main = frag(
            "[agent]\nkernel_cache = false\nkernel_cache_owners = [0, \"deploy\", 1000]\n",
            0,
        );
        let pol = merge(&[main]).unwrap_or_else(|e| unreachable!("{e}"));
        let text = to_toml(&pol, &files);
        assert!(
            text.contains("kernel_cache = false  # from /etc/sigward/policy.toml:2"),
            "{text}"
        );
        assert!(
            text.contains(
                "kernel_cache_owners = [0, \"deploy\", 1000]  # from /etc/sigward/policy.toml:3"
            ),
            "{text}"
        );
        let back = parse(&text, Path::new("/")).unwrap_or_else(|e| unreachable!("{e}"));
        // The same owners; only where they were written differs.
        assert_eq!(owners(&back.agent).0, owners(&pol.agent).0);
        assert_eq!(back.agent, {
            let mut a = pol.agent.clone();
            a.kernel_cache_owners = back.agent.kernel_cache_owners.clone();
            a
        });

        let text = to_toml(&p("").unwrap_or_else(|e| unreachable!("{e}")), &[]);
        assert!(text.contains("kernel_cache = true  # default"), "{text}");
        assert!(
            text.contains("kernel_cache_owners = [0]  # default"),
            "{text}"
        );
    }

    #[test]
    fn owner_display_is_toml() {
        assert_eq!(Owner::Uid(0).to_string(), "0");
        assert_eq!(Owner::Uid(4_294_967_294).to_string(), "4294967294");
        assert_eq!(Owner::Name("deploy".into()).to_string(), "\"deploy\"");
        // Whatever quoting TOML picks, it reads back as the same name.
        let weird = Owner::Name("we\"ird\\".into());
        let back: Result<toml::Table, _> = format!("x = {weird}").parse();
        assert_eq!(
            back.ok().and_then(|t| t.get("x").cloned()),
            Some(toml::Value::String("we\"ird\\".into()))
        );
    }

    #[test]
    fn error_display() {
        let e = PolicyError {
            file: 0,
            line: Some(4),
            message: "bad".into(),
            previous: None,
        };
        assert_eq!(e.to_string(), "line 4: bad");
    }
}
