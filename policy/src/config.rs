//! The policy file (TOML).
//!
//! ```toml
//! mode = "enforce"        # enforce | audit | off (aliases: strict | warn | disabled)
//! formats = ["native", "rsa-openssl"]        # accepted signature formats (default: all)
//!
//! [trust]
//! keys = ["/etc/sigward/keys/release.pub"]   # key files, recognised by content
//! keys_dir = "/etc/sigward/keys.d"           # every *.pem, *.pub, *.public in it
//! ed25519 = ["a1b2...64 hex"]               # raw Ed25519 keys given inline (Notur)
//! allowed_signers = ["/etc/sigward/allowed_signers"]  # OpenSSH allowed_signers
//! ssh_namespace = "file"                     # namespace OpenSSH signatures must use
//! minisign_legacy = false                    # accept legacy (non-prehashed) minisign
//!
//! [[protect]]
//! path = "/srv/app/plugins"                  # protected recursively
//! mode = "audit"                             # optional per-directory override
//! formats = ["ssh"]                          # optional per-directory override
//!
//! [agent]
//! workers = 4                                # verification threads
//! cache_entries = 65536                      # verdict cache size
//!
//! [audit]
//! log_allowed = false
//! rate_limit_burst = 5                       # records per path per interval
//! rate_limit_interval = 10                   # seconds
//! ```
//!
//! [`parse`] is pure: it checks syntax, types, unknown keys and values, and
//! resolves relative paths against the policy file's directory. Whether the
//! named files and directories exist is checked by the agent's loader, which
//! uses the line numbers recorded here to point at the culprit.

use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

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

/// A value and the 1-based line of the policy file it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Its line in the policy file.
    pub line: usize,
}

/// A parsed, validated policy.
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
}

/// The `[trust]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// Key files.
    pub keys: Vec<Located<PathBuf>>,
    /// A directory of key files.
    pub keys_dir: Option<Located<PathBuf>>,
    /// Raw Ed25519 public keys given inline (64 hex characters each).
    pub ed25519: Vec<Located<[u8; 32]>>,
    /// OpenSSH `allowed_signers` files.
    pub allowed_signers: Vec<Located<PathBuf>>,
    /// The namespace OpenSSH signatures must have been made for.
    pub ssh_namespace: Option<String>,
    /// Accept legacy (non-prehashed) minisign signatures.
    pub minisign_legacy: bool,
}

/// One `[[protect]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protect {
    /// The tree's root (absolute, lexically normalised).
    pub path: Located<PathBuf>,
    /// Mode override.
    pub mode: Option<Mode>,
    /// Accepted formats override.
    pub formats: Option<Vec<Format>>,
}

/// The `[agent]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSettings {
    /// Verification threads; `None` means one per CPU, at least 2.
    pub workers: Option<usize>,
    /// Verdict cache capacity.
    pub cache_entries: usize,
}

/// Default verdict cache capacity.
pub const DEFAULT_CACHE_ENTRIES: usize = 65_536;

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            workers: None,
            cache_entries: DEFAULT_CACHE_ENTRIES,
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

/// A policy error, with the line at fault when known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct PolicyError {
    /// 1-based line in the policy file.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl PolicyError {
    fn at(text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            line: Some(line_of(text, span.start)),
            message: message.into(),
        }
    }
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
    minisign_legacy: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProtect {
    path: Spanned<String>,
    mode: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    workers: Option<Spanned<i64>>,
    cache_entries: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    log_allowed: Option<bool>,
    rate_limit_burst: Option<Spanned<i64>>,
    rate_limit_interval: Option<Spanned<i64>>,
}

/// Parses a policy. Relative paths resolve against `base_dir` (the policy
/// file's directory).
pub fn parse(text: &str, base_dir: &Path) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;

    let mode = match &raw.mode {
        Some(m) => mode_word(text, m)?,
        None => Mode::Enforce,
    };
    let formats = match &raw.formats {
        Some(f) => format_list(text, f)?,
        None => Format::ALL.to_vec(),
    };

    let mut trust = Trust::default();
    if let Some(t) = raw.trust {
        for k in t.keys {
            trust
                .keys
                .push(path_value(text, base_dir, &k, "trust.keys entry")?);
        }
        if let Some(d) = t.keys_dir {
            trust.keys_dir = Some(path_value(text, base_dir, &d, "trust.keys_dir")?);
        }
        for k in t.ed25519 {
            let mut raw = [0u8; 32];
            if hex::decode_to_slice(k.get_ref().trim(), &mut raw).is_err()
                || ed25519_dalek::VerifyingKey::from_bytes(&raw).is_err()
            {
                return Err(PolicyError::at(
                    text,
                    k.span(),
                    "trust.ed25519 entries must be Ed25519 public keys of 64 hex characters",
                ));
            }
            trust.ed25519.push(Located {
                value: raw,
                line: line_of(text, k.span().start),
            });
        }
        for a in t.allowed_signers {
            trust.allowed_signers.push(path_value(
                text,
                base_dir,
                &a,
                "trust.allowed_signers entry",
            )?);
        }
        if let Some(ns) = t.ssh_namespace {
            let v = ns.get_ref();
            if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(PolicyError::at(
                    text,
                    ns.span(),
                    "trust.ssh_namespace must be a non-empty word (the -n of ssh-keygen -Y sign)",
                ));
            }
            trust.ssh_namespace = Some(v.clone());
        }
        trust.minisign_legacy = t.minisign_legacy.unwrap_or(false);
    }

    let mut protect: Vec<Protect> = Vec::new();
    for entry in &raw.protect {
        let p = entry.get_ref();
        let path = path_value(text, base_dir, &p.path, "protect.path")?;
        if path.value == Path::new("/") {
            return Err(PolicyError::at(
                text,
                p.path.span(),
                "protecting / is not supported: name the plugin directories to protect",
            ));
        }
        if let Some(dup) = protect.iter().find(|q| q.path.value == path.value) {
            return Err(PolicyError::at(
                text,
                p.path.span(),
                format!(
                    "{} is already protected by the entry on line {}",
                    path.value.display(),
                    dup.path.line
                ),
            ));
        }
        let mode = match &p.mode {
            Some(m) => Some(mode_word(text, m)?),
            None => None,
        };
        let formats = match &p.formats {
            Some(f) => Some(format_list(text, f)?),
            None => None,
        };
        protect.push(Protect {
            path,
            mode,
            formats,
        });
    }

    let mut agent = AgentSettings::default();
    if let Some(a) = raw.agent {
        if let Some(w) = a.workers {
            agent.workers = Some(bounded(text, &w, "agent.workers", 1, 256)?);
        }
        if let Some(c) = a.cache_entries {
            agent.cache_entries = bounded(text, &c, "agent.cache_entries", 1, 16_777_216)?;
        }
    }

    let mut audit = AuditSettings::default();
    if let Some(a) = raw.audit {
        if let Some(l) = a.log_allowed {
            audit.log_allowed = l;
        }
        if let Some(b) = a.rate_limit_burst {
            audit.rate_limit_burst = bounded(text, &b, "audit.rate_limit_burst", 1, 1_000_000)?;
        }
        if let Some(i) = a.rate_limit_interval {
            audit.rate_limit_interval_secs =
                bounded(text, &i, "audit.rate_limit_interval", 1, 86_400)?;
        }
    }

    Ok(Policy {
        mode,
        formats,
        trust,
        protect,
        agent,
        audit,
    })
}

fn mode_word(text: &str, m: &Spanned<String>) -> Result<Mode, PolicyError> {
    Mode::from_word(m.get_ref()).ok_or_else(|| {
        PolicyError::at(
            text,
            m.span(),
            format!(
                "unknown mode {:?}: expected \"enforce\", \"audit\" or \"off\" (or the aliases \"strict\", \"warn\", \"disabled\")",
                m.get_ref()
            ),
        )
    })
}

fn format_list(
    text: &str,
    list: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<Format>, PolicyError> {
    let mut out = Vec::new();
    for item in list.get_ref() {
        let Some(f) = Format::from_name(item.get_ref()) else {
            return Err(PolicyError::at(
                text,
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
        return Err(PolicyError::at(
            text,
            list.span(),
            "formats is empty: nothing could ever verify (omit it to accept every format)",
        ));
    }
    Ok(out)
}

fn bounded<T: TryFrom<i64>>(
    text: &str,
    v: &Spanned<i64>,
    what: &str,
    min: i64,
    max: i64,
) -> Result<T, PolicyError> {
    let n = *v.get_ref();
    if n < min || n > max {
        return Err(PolicyError::at(
            text,
            v.span(),
            format!("{what} = {n} is out of range ({min} to {max})"),
        ));
    }
    T::try_from(n)
        .map_err(|_| PolicyError::at(text, v.span(), format!("{what} = {n} is out of range")))
}

fn path_value(
    text: &str,
    base_dir: &Path,
    v: &Spanned<String>,
    what: &str,
) -> Result<Located<PathBuf>, PolicyError> {
    let raw = v.get_ref();
    if raw.is_empty() {
        return Err(PolicyError::at(text, v.span(), format!("{what} is empty")));
    }
    if raw.contains('\0') {
        return Err(PolicyError::at(
            text,
            v.span(),
            format!("{what} contains a NUL byte"),
        ));
    }
    let joined = base_dir.join(raw);
    Ok(Located {
        value: normalize(&joined),
        line: line_of(text, v.span().start),
    })
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
        let (line, msg) = err_line("[trust]\nkey = [\"a\"]\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("key"), "{msg}");
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

    #[test]
    fn error_display() {
        let e = PolicyError {
            line: Some(4),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "line 4: bad");
    }
}
