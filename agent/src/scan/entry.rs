//! One evaluated file ([`Entry`]) and its status ([`Status`]): what `sigward
//! scan` and `sigward verify` print, what their `--json` holds, and what the
//! running agent answers to an `evaluate` request on its control socket.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sigward_policy::Reason;

/// What the agent makes of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A valid signature by a trusted key.
    Verified,
    /// A valid signature by an untrusted key, accepted by
    /// `allow_self_signed`.
    SelfSigned,
    /// Trusted without a signature by its content's SHA-256
    /// (`allow_sha256`).
    Listed,
    /// A data file of a verified AiSOC plugin (`protect.bundle_data`):
    /// readable without a signature of its own, never executed.
    BundleData,
    /// Refused by verification.
    Rejected(Reason),
    /// An empty file: allowed, checked again once written.
    Empty,
    /// A symbolic link: never followed.
    Symlink,
    /// An AiSOC manifest beside a `plugin.sig`: read freely, covered by the
    /// bundle signature (`sigward verify` only).
    Manifest,
    /// The open was refused with EPERM (a running agent denies the file).
    Denied,
    /// The file could not be opened for another reason.
    Unreadable,
}

/// Every verification reason, for reading a status word back.
const REASONS: [Reason; 8] = Reason::ALL;

impl Status {
    /// The word in `--json` (and the reason word of records for a
    /// rejection).
    pub fn word(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::SelfSigned => "self-signed",
            Status::Listed => "allow-sha256",
            Status::BundleData => "bundle-data",
            Status::Rejected(r) => r.as_str(),
            Status::Empty => "empty",
            Status::Symlink => "symlink",
            Status::Manifest => "manifest",
            Status::Denied => "denied",
            Status::Unreadable => "unreadable",
        }
    }

    /// The status a word names (the inverse of [`Status::word`]).
    pub fn from_word(word: &str) -> Option<Status> {
        let plain = [
            Status::Verified,
            Status::SelfSigned,
            Status::Listed,
            Status::BundleData,
            Status::Empty,
            Status::Symlink,
            Status::Manifest,
            Status::Denied,
            Status::Unreadable,
        ];
        plain
            .into_iter()
            .chain(REASONS.into_iter().map(Status::Rejected))
            .find(|s| s.word() == word)
    }

    /// The STATUS column of the table.
    pub fn shown(self) -> &'static str {
        match self {
            Status::Empty => "empty (allowed)",
            Status::Symlink => "symlink (not checked)",
            other => other.word(),
        }
    }

    /// Whether the agent would deny the file (or whether it could not be
    /// shown that it would not).
    pub fn denied(self) -> bool {
        matches!(
            self,
            Status::Rejected(_) | Status::Denied | Status::Unreadable
        )
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let word = String::deserialize(d)?;
        Status::from_word(&word)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown status {word:?}")))
    }
}

/// Who evaluated a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Evaluator {
    /// This command, with the policy (or keys) it loaded itself.
    #[default]
    Offline,
    /// The running agent, with the policy generation in force.
    Agent,
}

/// One evaluated file. Serialised (`--json`, and the agent's answer to
/// `evaluate`) with the fields in this order; paths that are not UTF-8 are
/// shown with U+FFFD in place of their invalid bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The file: as the kernel names it (`scan`), or as given (`verify`).
    #[serde(with = "lossy_path")]
    pub path: PathBuf,
    /// Its status.
    pub status: Status,
    /// The verification reason word (or `self-signed`).
    pub reason: Option<String>,
    /// One readable sentence.
    pub detail: Option<String>,
    /// The signer's fingerprint, when known.
    pub key: Option<String>,
    /// The signature format, when one matched.
    pub format: Option<String>,
    /// Who signed, when known.
    pub signer: Option<String>,
    /// SHA-256 of the content, when computed.
    pub sha256: Option<String>,
    /// The root of the protected tree the file is in (`None`: outside
    /// every tree).
    #[serde(default, with = "lossy_opt_path")]
    pub tree: Option<PathBuf>,
    /// The mode that applies to the file (its tree's, or the policy's
    /// global mode outside every tree).
    #[serde(default)]
    pub mode: Option<String>,
    /// Who evaluated it.
    #[serde(default)]
    pub evaluator: Evaluator,
    /// The agent's policy generation, when the agent evaluated it.
    #[serde(default)]
    pub generation: Option<u64>,
    /// For a verified file: what sigward accepted that the signing
    /// system's own tool refuses (upper-case hex it compares as text, ...),
    /// one sentence each. Absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Entry {
    /// An entry with a status and a detail, nothing else known.
    pub fn plain(path: &Path, status: Status, detail: impl Into<String>) -> Entry {
        Entry {
            path: path.to_path_buf(),
            status,
            reason: None,
            detail: Some(detail.into()),
            key: None,
            format: None,
            signer: None,
            sha256: None,
            tree: None,
            mode: None,
            evaluator: Evaluator::Offline,
            generation: None,
            warnings: Vec::new(),
        }
    }

    /// A rejection: status and reason word from `reason`.
    pub fn rejected(path: &Path, reason: Reason, detail: impl Into<String>) -> Entry {
        Entry {
            reason: Some(reason.as_str().to_string()),
            ..Entry::plain(path, Status::Rejected(reason), detail)
        }
    }

    /// `sigward verify`'s line for this file, named `shown`.
    pub fn verify_line(&self, shown: &Path) -> String {
        let shown = shown.display();
        let key = self.key.as_deref().unwrap_or("-");
        let detail = self.detail.as_deref().unwrap_or_default();
        match self.status {
            Status::Verified => {
                let warnings: String = self
                    .warnings
                    .iter()
                    .map(|w| format!("; warning: {w}"))
                    .collect();
                format!("{shown}: ok (key {key}{warnings})")
            }
            Status::SelfSigned => format!("{shown}: ok (self-signed, key {key})"),
            Status::Listed => format!("{shown}: ok ({detail})"),
            Status::BundleData => format!("{shown}: ok ({detail}, key {key})"),
            Status::Manifest => format!("{shown}: ok ({detail})"),
            Status::Rejected(reason) => format!("{shown}: {reason}: {detail}"),
            Status::Empty => format!("{shown}: ok ({detail})"),
            Status::Symlink => format!("{shown}: symlink: {detail}"),
            Status::Denied | Status::Unreadable => format!("{shown}: unreadable: {detail}"),
        }
    }

    /// Whether `sigward verify` counts the file as verified.
    pub fn verify_ok(&self) -> bool {
        matches!(
            self.status,
            Status::Verified
                | Status::SelfSigned
                | Status::Listed
                | Status::BundleData
                | Status::Manifest
                | Status::Empty
        )
    }
}

mod lossy_path {
    use super::*;

    pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_string_lossy())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        String::deserialize(d).map(PathBuf::from)
    }
}

mod lossy_opt_path {
    use super::*;

    #[allow(clippy::ref_option)] // serde's `with` hands over `&Option<T>`
    pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_some(&p.to_string_lossy()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Option::<String>::deserialize(d).map(|p| p.map(PathBuf::from))
    }
}
