//! Fragments merged into one [`Policy`], main file first, then drop-ins in
//! order, and the result validated.

use std::collections::{BTreeMap, HashSet};

use crate::formats::Format;

use super::parse::Fragment;
use super::{
    AgentSettings, AuditSettings, Mode, Policy, PolicyError, Protect, Trust, UntrustedWriters,
};

/// Merges the fragments of a policy, main file first, then drop-ins in
/// order, and validates the result. The error is the first one
/// [`merge_all`] finds.
pub fn merge(fragments: &[Fragment]) -> Result<Policy, PolicyError> {
    merge_all(fragments).map_err(|mut errors| errors.swap_remove(0))
}

/// [`merge`], reporting every error (never an empty list), in the order of
/// the files and lines they name.
pub fn merge_all(fragments: &[Fragment]) -> Result<Policy, Vec<PolicyError>> {
    let mut errors = Vec::new();
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
        if let Some(d) = &f.aisoc_keys_dir {
            trust.aisoc_keys_dir = Some(d.clone());
            set("trust.aisoc_keys_dir", (d.file, d.line));
        }
        trust.notur_env.extend(f.notur_env.iter().cloned());
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
        if let Some(d) = &f.expiry_warning_days {
            trust.expiry_warning_days = Some(d.value);
            set("trust.expiry_warning_days", (d.file, d.line));
        }
        trust.revoked.extend(f.revoked.iter().cloned());
        // Revocations only accumulate: every file's directories apply.
        trust.revoked_dirs.extend(f.revoked_dirs.iter().cloned());
        trust.deny_sha256.extend(f.deny_sha256.iter().cloned());
        trust.allow_sha256.extend(f.allow_sha256.iter().cloned());
        for k in &f.named {
            if let Some(prev) = trust.named.iter().find(|p| p.name.value == k.name.value) {
                errors.push(PolicyError {
                    file: k.name.file,
                    line: Some(k.name.line),
                    message: format!(
                        "key name {:?} is already defined; names must be unique",
                        k.name.value
                    ),
                    previous: Some((prev.name.file, prev.name.line)),
                });
                continue;
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
                        allow_sha256: Vec::new(),
                        bundle_data: crate::bundle_data::default_patterns(),
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
            q.allow_sha256.extend(p.allow_sha256.iter().cloned());
            if let Some(d) = &p.bundle_data {
                q.bundle_data = d.value.clone();
                q.origins.insert("bundle_data", (d.file, d.line));
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
        if let Some(v) = &f.verify_ahead {
            agent.verify_ahead = v.value;
            set("agent.verify_ahead", (v.file, v.line));
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
        if let Some(k) = &f.kernel_audit {
            audit.kernel_audit = k.value;
            set("audit.kernel_audit", (k.file, k.line));
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
                errors.push(PolicyError {
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
                errors.push(PolicyError {
                    file: n.file,
                    line: Some(n.line),
                    message: format!(
                        "protect.trust names {:?}, which is neither a [[trust.key]] name nor a group",
                        n.value
                    ),
                    previous: None,
                });
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.file, e.line));
        return Err(errors);
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
