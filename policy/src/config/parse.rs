//! One policy file (the main file or a drop-in) to a [`Fragment`], with
//! every error naming its line.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::fingerprint::Fingerprint;
use crate::formats::Format;

use super::raw::{OneOrMany, ProtectFragment, RawNamedKey, RawPolicy, RawTime};
use super::values::{bounded, data_patterns, format_list, mode_word, owner, writers_word, Cx};
use super::{
    line_of, KeySource, Located, Mode, NamedKey, Owner, PolicyError, MAX_THRESHOLD,
    MAX_VERIFY_AHEAD,
};

/// What one file says, before merging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    pub(super) file: usize,
    pub(super) mode: Option<Located<Mode>>,
    pub(super) formats: Option<Located<Vec<Format>>>,
    pub(super) keys: Vec<Located<PathBuf>>,
    pub(super) keys_dir: Option<Located<PathBuf>>,
    pub(super) aisoc_keys_dir: Option<Located<PathBuf>>,
    pub(super) notur_env: Vec<Located<PathBuf>>,
    pub(super) ed25519: Vec<Located<[u8; 32]>>,
    pub(super) allowed_signers: Vec<Located<PathBuf>>,
    pub(super) ssh_namespace: Option<Located<String>>,
    pub(super) minisign_legacy: Option<Located<bool>>,
    pub(super) expiry_warning_days: Option<Located<u64>>,
    pub(super) revoked: Vec<Located<Fingerprint>>,
    pub(super) revoked_dirs: Vec<Located<PathBuf>>,
    pub(super) deny_sha256: Vec<Located<[u8; 32]>>,
    pub(super) allow_sha256: Vec<Located<[u8; 32]>>,
    pub(super) named: Vec<NamedKey>,
    pub(super) protect: Vec<ProtectFragment>,
    pub(super) workers: Option<Located<usize>>,
    pub(super) cache_entries: Option<Located<usize>>,
    pub(super) verify_ahead: Option<Located<usize>>,
    pub(super) metrics_file: Option<Located<PathBuf>>,
    pub(super) metrics_interval: Option<Located<u64>>,
    pub(super) kernel_cache: Option<Located<bool>>,
    pub(super) kernel_cache_owners: Option<Located<Vec<Located<Owner>>>>,
    pub(super) log_allowed: Option<Located<bool>>,
    pub(super) kernel_audit: Option<Located<bool>>,
    pub(super) rate_limit_burst: Option<Located<u32>>,
    pub(super) rate_limit_interval: Option<Located<u64>>,
}

/// Reads one file of a policy. `file` is its index, recorded in every
/// location and error; relative paths resolve against `base_dir`. The error
/// is the file's first (by line); [`parse_fragment_all`] gives them all.
pub fn parse_fragment(text: &str, base_dir: &Path, file: usize) -> Result<Fragment, PolicyError> {
    parse_fragment_all(text, base_dir, file).map_err(|mut errors| errors.swap_remove(0))
}

/// [`parse_fragment`], reporting every error of the file, first line first
/// (never an empty list). A TOML syntax error stops the reading of the file
/// there: it is then the only error.
pub fn parse_fragment_all(
    text: &str,
    base_dir: &Path,
    file: usize,
) -> Result<Fragment, Vec<PolicyError>> {
    let cx = Cx {
        text,
        base_dir,
        file,
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        vec![PolicyError {
            file,
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
            previous: None,
        }]
    })?;
    let mut errors = Errors::default();
    let mut f = Fragment {
        file,
        ..Fragment::default()
    };
    if let Some(m) = &raw.mode {
        f.mode = errors.keep(mode_word(&cx, m)).map(|v| cx.located(m, v));
    }
    if let Some(list) = &raw.formats {
        f.formats = errors
            .keep(format_list(&cx, list))
            .map(|v| cx.located(list, v));
    }
    if let Some(t) = raw.trust {
        for k in &t.keys {
            f.keys.extend(errors.keep(cx.path(k, "trust.keys entry")));
        }
        if let Some(d) = &t.keys_dir {
            f.keys_dir = errors.keep(cx.path(d, "trust.keys_dir"));
        }
        if let Some(d) = &t.aisoc_keys_dir {
            f.aisoc_keys_dir = errors.keep(cx.path(d, "trust.aisoc_keys_dir"));
        }
        if let Some(e) = &t.notur_env {
            let files = match e.get_ref() {
                OneOrMany::One(one) => vec![one.clone()],
                OneOrMany::Many(many) => many.clone(),
            };
            for one in files {
                let spanned = Spanned::new(e.span(), one);
                f.notur_env
                    .extend(errors.keep(cx.path(&spanned, "trust.notur_env")));
            }
        }
        for k in &t.ed25519 {
            let v = errors.keep(ed25519_hex(&cx, k, "trust.ed25519 entries"));
            f.ed25519.extend(v.map(|v| cx.located(k, v)));
        }
        for a in &t.allowed_signers {
            f.allowed_signers
                .extend(errors.keep(cx.path(a, "trust.allowed_signers entry")));
        }
        if let Some(ns) = &t.ssh_namespace {
            let v = ns.get_ref();
            if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c.is_control()) {
                errors.push(cx.err(
                    ns.span(),
                    "trust.ssh_namespace must be a non-empty word (the -n of ssh-keygen -Y sign)",
                ));
            } else {
                f.ssh_namespace = Some(cx.located(ns, v.clone()));
            }
        }
        if let Some(b) = &t.minisign_legacy {
            f.minisign_legacy = Some(cx.located(b, *b.get_ref()));
        }
        if let Some(d) = &t.expiry_warning_days {
            f.expiry_warning_days = errors
                .keep(bounded(&cx, d, "trust.expiry_warning_days", 0, 3650))
                .map(|v| cx.located(d, v));
        }
        for r in &t.revoked {
            match Fingerprint::from_hex(r.get_ref().trim()) {
                Some(fp) => f.revoked.push(cx.located(r, fp)),
                None => errors.push(cx.err(
                    r.span(),
                    "trust.revoked entries must be key fingerprints: 64 hex characters (SHA-256 of the raw public key)",
                )),
            }
        }
        if let Some(d) = &t.revoked_dir {
            let dirs = match d.get_ref() {
                OneOrMany::One(one) => vec![one.clone()],
                OneOrMany::Many(many) => many.clone(),
            };
            for one in dirs {
                let spanned = Spanned::new(d.span(), one);
                f.revoked_dirs
                    .extend(errors.keep(cx.path(&spanned, "trust.revoked_dir")));
            }
        }
        for h in &t.deny_sha256 {
            let v = errors.keep(sha256_hex(&cx, h, "trust.deny_sha256"));
            f.deny_sha256.extend(v.map(|v| cx.located(h, v)));
        }
        for h in &t.allow_sha256 {
            let v = errors.keep(sha256_hex(&cx, h, "trust.allow_sha256"));
            f.allow_sha256.extend(v.map(|v| cx.located(h, v)));
        }
        for k in &t.key {
            f.named.extend(errors.keep(named_key(&cx, k)));
        }
    }
    let mut seen: Vec<Located<PathBuf>> = Vec::new();
    for entry in &raw.protect {
        let p = entry.get_ref();
        let Some(path) = errors.keep(cx.path(&p.path, "protect.path")) else {
            continue;
        };
        if path.value == Path::new("/") {
            errors.push(cx.err(
                p.path.span(),
                "protecting / is not supported: name the plugin directories to protect",
            ));
            continue;
        }
        if let Some(dup) = seen.iter().find(|q| q.value == path.value) {
            errors.push(cx.err(
                p.path.span(),
                format!(
                    "{} is already protected by the entry on line {}",
                    path.value.display(),
                    dup.line
                ),
            ));
            continue;
        }
        seen.push(path.clone());
        let mode = p
            .mode
            .as_ref()
            .and_then(|m| errors.keep(mode_word(&cx, m)).map(|v| cx.located(m, v)));
        let formats = p
            .formats
            .as_ref()
            .and_then(|l| errors.keep(format_list(&cx, l)).map(|v| cx.located(l, v)));
        let trust = match &p.trust {
            Some(list) if list.get_ref().is_empty() => {
                errors.push(cx.err(
                    list.span(),
                    "protect.trust is empty: nothing could ever verify (omit it to trust every key)",
                ));
                None
            }
            Some(list) => Some(
                cx.located(
                    list,
                    list.get_ref()
                        .iter()
                        .map(|n| cx.located(n, n.get_ref().clone()))
                        .collect(),
                ),
            ),
            None => None,
        };
        let threshold = p.threshold.as_ref().and_then(|t| {
            errors
                .keep(bounded(&cx, t, "protect.threshold", 1, MAX_THRESHOLD))
                .map(|v| cx.located(t, v))
        });
        let untrusted_writers = p
            .untrusted_writers
            .as_ref()
            .and_then(|w| errors.keep(writers_word(&cx, w)).map(|v| cx.located(w, v)));
        let allow_sha256 = p.allow_sha256.iter().flatten().filter_map(|h| {
            errors
                .keep(sha256_hex(&cx, h, "protect.allow_sha256"))
                .map(|v| cx.located(h, v))
        });
        let allow_sha256 = allow_sha256.collect();
        let bundle_data = p
            .bundle_data
            .as_ref()
            .and_then(|l| errors.keep(data_patterns(&cx, l)).map(|v| cx.located(l, v)));
        f.protect.push(ProtectFragment {
            path,
            mode,
            formats,
            trust,
            threshold,
            allow_self_signed: p
                .allow_self_signed
                .as_ref()
                .map(|b| cx.located(b, *b.get_ref())),
            untrusted_writers,
            required: p.required.as_ref().map(|b| cx.located(b, *b.get_ref())),
            allow_sha256,
            bundle_data,
        });
    }
    if let Some(a) = raw.agent {
        if let Some(w) = &a.workers {
            f.workers = errors
                .keep(bounded(&cx, w, "agent.workers", 1, 256))
                .map(|v| cx.located(w, v));
        }
        if let Some(c) = &a.cache_entries {
            f.cache_entries = errors
                .keep(bounded(&cx, c, "agent.cache_entries", 1, 16_777_216))
                .map(|v| cx.located(c, v));
        }
        if let Some(v) = &a.verify_ahead {
            f.verify_ahead = errors
                .keep(bounded(&cx, v, "agent.verify_ahead", 0, MAX_VERIFY_AHEAD))
                .map(|n| cx.located(v, n));
        }
        if let Some(m) = &a.metrics_file {
            f.metrics_file = errors.keep(cx.path(m, "agent.metrics_file"));
        }
        if let Some(i) = &a.metrics_interval {
            f.metrics_interval = errors
                .keep(bounded(&cx, i, "agent.metrics_interval", 1, 3600))
                .map(|v| cx.located(i, v));
        }
        if let Some(k) = &a.kernel_cache {
            f.kernel_cache = Some(cx.located(k, *k.get_ref()));
        }
        if let Some(list) = &a.kernel_cache_owners {
            let owners = list
                .get_ref()
                .iter()
                .filter_map(|o| errors.keep(owner(&cx, o)).map(|v| cx.located(o, v)))
                .collect();
            f.kernel_cache_owners = Some(cx.located(list, owners));
        }
    }
    if let Some(a) = raw.audit {
        if let Some(l) = &a.log_allowed {
            f.log_allowed = Some(cx.located(l, *l.get_ref()));
        }
        if let Some(k) = &a.kernel_audit {
            f.kernel_audit = Some(cx.located(k, *k.get_ref()));
        }
        if let Some(b) = &a.rate_limit_burst {
            f.rate_limit_burst = errors
                .keep(bounded(&cx, b, "audit.rate_limit_burst", 1, 1_000_000))
                .map(|v| cx.located(b, v));
        }
        if let Some(i) = &a.rate_limit_interval {
            f.rate_limit_interval = errors
                .keep(bounded(&cx, i, "audit.rate_limit_interval", 1, 86_400))
                .map(|v| cx.located(i, v));
        }
    }
    errors.finish(f)
}

/// The errors of one file, collected so that all are reported.
#[derive(Default)]
struct Errors(Vec<PolicyError>);

impl Errors {
    fn push(&mut self, e: PolicyError) {
        self.0.push(e);
    }

    /// The value, or `None` with its error kept.
    fn keep<T>(&mut self, r: Result<T, PolicyError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    /// `value` when nothing was wrong, else every error, first line first.
    fn finish<T>(mut self, value: T) -> Result<T, Vec<PolicyError>> {
        if self.0.is_empty() {
            return Ok(value);
        }
        self.0.sort_by_key(|e| e.line);
        Err(self.0)
    }
}

/// A SHA-256 digest given as 64 hex characters (`what`: the key, for the
/// message).
fn sha256_hex(cx: &Cx<'_>, h: &Spanned<String>, what: &str) -> Result<[u8; 32], PolicyError> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(h.get_ref().trim(), &mut raw).map_err(|_| {
        cx.err(
            h.span(),
            format!("{what} entries must be SHA-256 digests: 64 hex characters"),
        )
    })?;
    Ok(raw)
}

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(super) fn ed25519_hex(
    cx: &Cx<'_>,
    v: &Spanned<String>,
    what: &str,
) -> Result<[u8; 32], PolicyError> {
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

pub(super) fn time_value(
    cx: &Cx<'_>,
    v: &Spanned<RawTime>,
    what: &str,
) -> Result<u64, PolicyError> {
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

pub(super) fn named_key(cx: &Cx<'_>, k: &Spanned<RawNamedKey>) -> Result<NamedKey, PolicyError> {
    let r = k.get_ref();
    if !valid_name(r.name.get_ref()) {
        return Err(cx.err(
            r.name.span(),
            "trust.key name must be letters, digits, '.', '_' or '-' (at most 128)",
        ));
    }
    let source = match (&r.file, &r.ed25519, &r.notur_env) {
        (Some(f), None, None) => KeySource::File(cx.path(f, "trust.key file")?),
        (None, Some(h), None) => {
            KeySource::Ed25519(cx.located(h, ed25519_hex(cx, h, "trust.key ed25519")?))
        }
        (None, None, Some(e)) => KeySource::NoturEnv(cx.path(e, "trust.key notur_env")?),
        (None, None, None) => {
            return Err(cx.err(
                k.span(),
                format!(
                    "trust.key {:?} needs exactly one of file = \"PATH\" or ed25519 = \"<64 hex>\"",
                    r.name.get_ref()
                ),
            ))
        }
        _ if r.notur_env.is_some() => {
            return Err(cx.err(
                k.span(),
                format!(
                    "trust.key {:?} needs exactly one of file = \"PATH\", ed25519 = \"<64 hex>\" \
                     or notur_env = \"PATH\"",
                    r.name.get_ref()
                ),
            ))
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
