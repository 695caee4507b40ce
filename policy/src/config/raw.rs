//! The policy file as serde reads it: every value with its span, so that
//! errors can name the line.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::bundle_data::DataPattern;
use crate::formats::Format;

use super::{Located, Mode, UntrustedWriters};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ProtectFragment {
    pub(super) path: Located<PathBuf>,
    pub(super) mode: Option<Located<Mode>>,
    pub(super) formats: Option<Located<Vec<Format>>>,
    pub(super) trust: Option<Located<Vec<Located<String>>>>,
    pub(super) threshold: Option<Located<usize>>,
    pub(super) allow_self_signed: Option<Located<bool>>,
    pub(super) untrusted_writers: Option<Located<UntrustedWriters>>,
    pub(super) required: Option<Located<bool>>,
    pub(super) allow_sha256: Vec<Located<[u8; 32]>>,
    pub(super) bundle_data: Option<Located<Vec<DataPattern>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) mode: Option<Spanned<String>>,
    pub(super) formats: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) trust: Option<RawTrust>,
    #[serde(default)]
    pub(super) protect: Vec<Spanned<RawProtect>>,
    pub(super) agent: Option<RawAgent>,
    pub(super) audit: Option<RawAudit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    #[serde(default)]
    pub(super) keys: Vec<Spanned<String>>,
    pub(super) keys_dir: Option<Spanned<String>>,
    pub(super) aisoc_keys_dir: Option<Spanned<String>>,
    pub(super) notur_env: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub(super) ed25519: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) allowed_signers: Vec<Spanned<String>>,
    pub(super) ssh_namespace: Option<Spanned<String>>,
    pub(super) minisign_legacy: Option<Spanned<bool>>,
    pub(super) expiry_warning_days: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) revoked: Vec<Spanned<String>>,
    pub(super) revoked_dir: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub(super) deny_sha256: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) allow_sha256: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) key: Vec<Spanned<RawNamedKey>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNamedKey {
    pub(super) name: Spanned<String>,
    pub(super) file: Option<Spanned<String>>,
    pub(super) ed25519: Option<Spanned<String>>,
    pub(super) notur_env: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) groups: Vec<Spanned<String>>,
    pub(super) not_before: Option<Spanned<RawTime>>,
    pub(super) not_after: Option<Spanned<RawTime>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawTime {
    Datetime(toml::value::Datetime),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProtect {
    pub(super) path: Spanned<String>,
    pub(super) mode: Option<Spanned<String>>,
    pub(super) formats: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) trust: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) threshold: Option<Spanned<i64>>,
    pub(super) allow_self_signed: Option<Spanned<bool>>,
    pub(super) untrusted_writers: Option<Spanned<String>>,
    pub(super) required: Option<Spanned<bool>>,
    pub(super) allow_sha256: Option<Vec<Spanned<String>>>,
    pub(super) bundle_data: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub(super) workers: Option<Spanned<i64>>,
    pub(super) cache_entries: Option<Spanned<i64>>,
    pub(super) verify_ahead: Option<Spanned<i64>>,
    pub(super) metrics_file: Option<Spanned<String>>,
    pub(super) metrics_interval: Option<Spanned<i64>>,
    pub(super) kernel_cache: Option<Spanned<bool>>,
    /// Elements are checked by hand, so that a wrong type names its own
    /// line rather than the list's.
    pub(super) kernel_cache_owners: Option<Spanned<Vec<Spanned<toml::Value>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    pub(super) log_allowed: Option<Spanned<bool>>,
    pub(super) kernel_audit: Option<Spanned<bool>>,
    pub(super) rate_limit_burst: Option<Spanned<i64>>,
    pub(super) rate_limit_interval: Option<Spanned<i64>>,
}
