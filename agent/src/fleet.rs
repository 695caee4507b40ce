//! What a fleet compares between hosts: the digest of the effective
//! policy, the keys in force with their validity, and the mode summary.
//!
//! Every output that shows a policy (`sigward check`, `sigward status` in
//! its three forms, `sigward trust list`) takes these from here, so that
//! two hosts that print the same digest enforce the same rules with the
//! same key material, whatever files their policy was divided into.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sigward_policy::config::Mode;
use sigward_policy::trust::{KeyOrigin, TrustedKey};
use sigward_policy::TrustStore;

use crate::config::{Engine, Tree};

/// Warn about keys that expire within this many days, unless the policy
/// says otherwise (`trust.expiry_warning_days`).
pub const DEFAULT_EXPIRY_WARNING_DAYS: u64 = 30;

/// The version of the digest's input; part of what is hashed, so that a
/// change of the input's form never passes for the same policy.
const DIGEST_FORM: &str = "sigward policy digest 1";

/// The digest of an engine's effective policy: SHA-256, hex, over the
/// policy as `check --print` shows it without annotations (so a value
/// moved from one drop-in to another changes nothing), then every trusted
/// key's fingerprint, name, groups and validity window, and every revoked
/// fingerprint (revocation directories included). The protected
/// directories count as the policy names them, not as they resolve on a
/// host.
pub fn digest(engine: &Engine) -> String {
    let mut text = String::from(DIGEST_FORM);
    text.push('\n');
    text.push_str(&sigward_policy::config::to_toml_plain(&engine.policy));
    let mut keys: Vec<String> = engine
        .trust
        .iter()
        .map(|k| {
            format!(
                "key {} {} name={} groups={} not_before={} not_after={} origin={}",
                k.fingerprint,
                k.material.kind(),
                k.name.as_deref().unwrap_or("-"),
                k.groups.join(","),
                k.window.0.map_or_else(|| "-".into(), |t| t.to_string()),
                k.window.1.map_or_else(|| "-".into(), |t| t.to_string()),
                origin(k),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    let mut revoked: Vec<String> = engine
        .trust
        .revoked()
        .map(|fp| format!("revoked {fp}"))
        .collect();
    revoked.sort();
    for line in keys.iter().chain(revoked.iter()) {
        text.push_str(line);
        text.push('\n');
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How far a key is from being unusable, at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validity {
    /// Usable, and not expiring within the warning horizon.
    Valid,
    /// Usable, but its `not_after` is within the warning horizon.
    ExpiresSoon,
    /// Its `not_after` has passed: signatures made now are refused.
    Expired,
    /// Its `not_before` has not come yet.
    NotYetValid,
    /// Revoked (`trust.revoked`, `revoked_dir`): every signature by it is
    /// refused.
    Revoked,
}

impl Validity {
    /// The word shown and exported.
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::ExpiresSoon => "expires-soon",
            Validity::Expired => "expired",
            Validity::NotYetValid => "not-yet-valid",
            Validity::Revoked => "revoked",
        }
    }
}

/// One trusted key, as compared across a fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// SHA-256 fingerprint of the raw public key, hex.
    pub fingerprint: String,
    /// `ed25519`, `rsa`, `ssh-ed25519`, ...
    pub kind: String,
    /// The policy's name for it (`[[trust.key]] name`).
    pub name: Option<String>,
    /// Its groups.
    pub groups: Vec<String>,
    /// What its source calls it (certificate subject, minisign comment,
    /// Conductor name, SSH principals).
    pub label: Option<String>,
    /// Where it was loaded from: `FILE#BLOCK`.
    pub source: String,
    /// The form of its source: `pem`, `hex`, `minisign`, `conductor`,
    /// `allowed-signers`.
    pub origin: String,
    /// `not_before` (Unix seconds).
    pub not_before: Option<u64>,
    /// `not_after` (Unix seconds).
    pub not_after: Option<u64>,
    /// `not_after`, RFC 3339.
    pub not_after_rfc3339: Option<String>,
    /// Its state when shown.
    pub validity: Validity,
}

impl KeyInfo {
    /// The key on one line, as `check`, `check --key` and the status table
    /// show it: kind, fingerprint, source, name, groups, `not_after`, and
    /// the validity unless it is `valid`.
    pub fn line(&self) -> String {
        let mut s = format!("{} {} ({})", self.kind, self.fingerprint, self.source);
        if let Some(n) = &self.name {
            s.push_str(&format!(" name={n}"));
        }
        if !self.groups.is_empty() {
            s.push_str(&format!(" groups={}", self.groups.join(",")));
        }
        if let Some(t) = &self.not_after_rfc3339 {
            s.push_str(&format!(" not_after={t}"));
        }
        if self.validity != Validity::Valid {
            s.push_str(&format!(" [{}]", self.validity.as_str()));
        }
        s
    }

    /// The warning about this key at `now`, when it has expired, is not
    /// valid yet, or expires within the horizon its validity was computed
    /// with.
    pub fn expiry_warning(&self, now: u64) -> Option<String> {
        let who = match &self.name {
            Some(n) => format!("trusted key {n:?} ({})", self.fingerprint),
            None => format!("trusted key {} ({})", self.fingerprint, self.source),
        };
        let when = self.not_after_rfc3339.as_deref().unwrap_or("-");
        match self.validity {
            Validity::Expired => Some(format!(
                "{who} expired at {when}: signatures by it are refused"
            )),
            Validity::ExpiresSoon => {
                let days = self.not_after.unwrap_or(now).saturating_sub(now) / 86_400;
                Some(format!(
                    "{who} expires at {when} (in {days} days): sign with its successor and \
                     trust it before then"
                ))
            }
            Validity::NotYetValid => Some(format!(
                "{who} is not valid before {}: signatures by it are refused until then",
                self.not_before
                    .map(sigward_policy::verify::format_rfc3339)
                    .unwrap_or_default()
            )),
            Validity::Valid | Validity::Revoked => None,
        }
    }

    /// The same key with its validity at `now` (a revoked key stays
    /// revoked).
    pub fn at(&self, now: u64, horizon: u64) -> KeyInfo {
        let validity = if self.validity == Validity::Revoked {
            Validity::Revoked
        } else {
            window_validity((self.not_before, self.not_after), now, horizon)
        };
        KeyInfo {
            validity,
            ..self.clone()
        }
    }
}

/// The state of a validity window at `now`, warning `horizon` seconds
/// ahead.
fn window_validity(window: (Option<u64>, Option<u64>), now: u64, horizon: u64) -> Validity {
    let (not_before, not_after) = window;
    if not_after.is_some_and(|t| t < now) {
        Validity::Expired
    } else if not_before.is_some_and(|t| t > now) {
        Validity::NotYetValid
    } else if not_after.is_some_and(|t| t <= now.saturating_add(horizon)) {
        Validity::ExpiresSoon
    } else {
        Validity::Valid
    }
}

/// The form of a key's source, as one word.
pub fn origin(k: &TrustedKey) -> &'static str {
    match k.origin {
        KeyOrigin::Pem => "pem",
        KeyOrigin::Hex => "hex",
        KeyOrigin::Minisign { .. } => "minisign",
        KeyOrigin::Conductor { .. } => "conductor",
        KeyOrigin::AllowedSigner(_) => "allowed-signers",
    }
}

/// The state of a key at `now`, warning `horizon` seconds ahead.
pub fn validity(trust: &TrustStore, k: &TrustedKey, now: u64, horizon: u64) -> Validity {
    if trust.is_revoked(&k.fingerprint) {
        Validity::Revoked
    } else {
        window_validity(k.window, now, horizon)
    }
}

/// Every key of `trust`, with its state at `now` (`horizon`: seconds of
/// warning before a `not_after`).
pub fn keys(trust: &TrustStore, now: u64, horizon: u64) -> Vec<KeyInfo> {
    trust
        .iter()
        .map(|k| KeyInfo {
            fingerprint: k.fingerprint.to_string(),
            kind: k.material.kind().to_string(),
            name: k.name.clone(),
            groups: k.groups.clone(),
            label: k.label.clone(),
            source: format!("{}#{}", k.source, k.block),
            origin: origin(k).to_string(),
            not_before: k.window.0,
            not_after: k.window.1,
            not_after_rfc3339: k.window.1.map(sigward_policy::verify::format_rfc3339),
            validity: validity(trust, k, now, horizon),
        })
        .collect()
}

/// The warning horizon of an engine's policy, in days.
pub fn horizon_days(engine: &Engine) -> u64 {
    engine
        .policy
        .trust
        .expiry_warning_days
        .unwrap_or(DEFAULT_EXPIRY_WARNING_DAYS)
}

/// The warning horizon of an engine's policy, in seconds.
pub fn horizon(engine: &Engine) -> u64 {
    horizon_days(engine).saturating_mul(86_400)
}

/// What the status shows of a policy put in force with these trees.
pub fn facts(
    engine: &Engine,
    trees: Vec<crate::metrics::TreeState>,
) -> crate::metrics::PolicyFacts {
    crate::metrics::PolicyFacts {
        generation: engine.generation,
        source: engine.source.clone(),
        global_mode: engine.policy.mode.as_str(),
        trees,
        digest: digest(engine),
        keys: keys(&engine.trust, crate::metrics::unix_now(), horizon(engine)),
        expiry_warning_days: horizon_days(engine),
    }
}

/// One warning per key that has expired, is not valid yet, or expires
/// within the horizon: what `check` prints and a reload answers.
pub fn expiry_warnings(keys: &[KeyInfo], now: u64) -> Vec<String> {
    keys.iter().filter_map(|k| k.expiry_warning(now)).collect()
}

/// The mode of a set of trees as one word: theirs when they agree,
/// `mixed` when they differ, and `global` when there is no tree.
pub fn mode_summary(global: Mode, trees: &[Tree]) -> &'static str {
    summary(global.as_str(), trees.iter().map(|t| t.mode.as_str()))
}

/// [`mode_summary`] over mode words (the status's trees hold words).
pub fn summary<'a>(global: &'a str, modes: impl IntoIterator<Item = &'a str>) -> &'a str {
    let mut modes = modes.into_iter();
    let Some(first) = modes.next() else {
        return global;
    };
    if modes.all(|m| m == first) {
        first
    } else {
        "mixed"
    }
}

#[cfg(test)]
mod tests;
