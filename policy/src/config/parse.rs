//! One policy file (the main file or a drop-in) to a [`Fragment`], with
//! every error naming its line.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::fingerprint::Fingerprint;
use crate::formats::Format;

use super::raw::{OneOrMany, ProtectFragment, RawNamedKey, RawPolicy, RawTime};
use super::values::{bounded, format_list, mode_word, owner, writers_word, Cx};
use super::{line_of, KeySource, Located, Mode, NamedKey, Owner, PolicyError, MAX_THRESHOLD};

/// What one file says, before merging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    pub(super) file: usize,
    pub(super) mode: Option<Located<Mode>>,
    pub(super) formats: Option<Located<Vec<Format>>>,
    pub(super) keys: Vec<Located<PathBuf>>,
    pub(super) keys_dir: Option<Located<PathBuf>>,
    pub(super) ed25519: Vec<Located<[u8; 32]>>,
    pub(super) allowed_signers: Vec<Located<PathBuf>>,
    pub(super) ssh_namespace: Option<Located<String>>,
    pub(super) minisign_legacy: Option<Located<bool>>,
    pub(super) revoked: Vec<Located<Fingerprint>>,
    pub(super) revoked_dirs: Vec<Located<PathBuf>>,
    pub(super) deny_sha256: Vec<Located<[u8; 32]>>,
    pub(super) named: Vec<NamedKey>,
    pub(super) protect: Vec<ProtectFragment>,
    pub(super) workers: Option<Located<usize>>,
    pub(super) cache_entries: Option<Located<usize>>,
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
        if let Some(k) = &a.kernel_audit {
            f.kernel_audit = Some(cx.located(k, *k.get_ref()));
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
