//! The effective policy as TOML, each value annotated with the file that
//! set it.

use std::path::{Path, PathBuf};

use super::{KeySource, Policy};

/// The effective policy as TOML, each value annotated with where it was
/// set. `files` names the files by index.
pub fn to_toml(p: &Policy, files: &[PathBuf]) -> String {
    render(p, Some(files))
}

/// The effective policy as TOML without annotations: the same text for the
/// same effective policy however its files divide it (what the policy
/// digest is computed over).
pub fn to_toml_plain(p: &Policy) -> String {
    render(p, None)
}

/// `files`: annotate each value with where it was set.
fn render(p: &Policy, files: Option<&[PathBuf]>) -> String {
    let note = |text: &str| -> String {
        match files {
            Some(_) => format!("  # {text}"),
            None => String::new(),
        }
    };
    let at = |file: usize, line: usize| -> String {
        let name = files
            .and_then(|f| f.get(file))
            .map_or_else(|| format!("file #{file}"), |f| f.display().to_string());
        note(&format!("from {name}:{line}"))
    };
    let origin = |key: &str| {
        p.origins
            .get(key)
            .map_or_else(|| note("default"), |&(f, l)| at(f, l))
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
    if let Some(d) = &p.trust.aisoc_keys_dir {
        o.push_str(&format!(
            "aisoc_keys_dir = {}{}\n",
            qp(&d.value),
            at(d.file, d.line)
        ));
    }
    list(
        &mut o,
        "notur_env",
        p.trust
            .notur_env
            .iter()
            .map(|k| (qp(&k.value), k.file, k.line))
            .collect(),
    );
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
    if let Some(d) = p.trust.expiry_warning_days {
        o.push_str(&format!(
            "expiry_warning_days = {d}{}\n",
            origin("trust.expiry_warning_days")
        ));
    }
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
    let digests = |v: &[super::Located<[u8; 32]>]| {
        v.iter()
            .map(|k| (q(&hex::encode(k.value)), k.file, k.line))
            .collect()
    };
    list(&mut o, "allow_sha256", digests(&p.trust.allow_sha256));
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
            KeySource::NoturEnv(f) => o.push_str(&format!("notur_env = {}{here}\n", qp(&f.value))),
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
            t.origins
                .get(key)
                .map_or_else(|| note("inherited or default"), |&(f, l)| at(f, l))
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
        list(&mut o, "allow_sha256", digests(&t.allow_sha256));
        let dl: Vec<String> = t.bundle_data.iter().map(|d| q(d.as_str())).collect();
        o.push_str(&format!(
            "bundle_data = [{}]{}\n",
            dl.join(", "),
            field("bundle_data")
        ));
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
    o.push_str(&format!(
        "verify_ahead = {}{}\n",
        p.agent.verify_ahead,
        origin("agent.verify_ahead")
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
        "kernel_audit = {}{}\n",
        p.audit.kernel_audit,
        origin("audit.kernel_audit")
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
