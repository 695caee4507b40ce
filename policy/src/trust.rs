//! Trust stores: the public keys a policy trusts, with where each came from.
//!
//! Key files are recognised by content ([`TrustStore::add_file`]):
//!
//! * PEM text: `PUBLIC KEY` (SubjectPublicKeyInfo: Ed25519 or RSA),
//!   `RSA PUBLIC KEY` (PKCS#1) and `CERTIFICATE` (X.509, its subject key)
//!   blocks, several per file. Blocks that cannot be used are skipped with a
//!   warning naming the file and block; a private key is an error.
//! * 64 hex characters: a raw Ed25519 key (Notur, Conductor `.public`).
//! * a minisign public key (`untrusted comment:` line, base64 line).
//! * a Conductor `trusted_keys.toml` (`[[keys]]` tables) or
//!   `revoked_keys.toml` (`[[revoked]]` tables): keys it lists are revoked.
//!
//! OpenSSH `allowed_signers` files are not recognised by content (their
//! lines look like many other things); the policy names them as such and
//! they are loaded with [`TrustStore::add_allowed_signers`].

use std::collections::{HashMap, HashSet};

use ed25519_dalek::VerifyingKey;

use crate::fingerprint::Fingerprint;

/// The key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// An Ed25519 key.
    Ed25519(VerifyingKey),
    /// An RSA key (at least 2048 bits).
    Rsa(Box<rsa::RsaPublicKey>),
    /// An OpenSSH key from an `allowed_signers` file (any algorithm
    /// ssh-keygen signs with).
    Ssh(Box<ssh_key::PublicKey>),
}

// The fingerprint of a key is defined here, beside the key material, so
// that `fingerprint` needs nothing of the trust store.
impl Fingerprint {
    /// The fingerprint of any trusted key: SHA-256 of its raw public key.
    /// Ed25519: the 32-byte point. RSA: the PKCS#1 `RSAPublicKey` DER.
    /// OpenSSH keys: the same as the equivalent key above (so one Ed25519
    /// key has one fingerprint whether it comes from PEM, hex, minisign or
    /// `allowed_signers`); ECDSA: the SEC1 point; anything else: the SSH
    /// wire encoding.
    pub fn of_material(material: &KeyMaterial) -> Fingerprint {
        use rsa::pkcs1::EncodeRsaPublicKey;
        match material {
            KeyMaterial::Ed25519(k) => Fingerprint::of_ed25519(k),
            KeyMaterial::Rsa(k) => Fingerprint::of_raw_key(
                k.to_pkcs1_der()
                    .map(|d| d.into_vec())
                    .unwrap_or_default()
                    .as_slice(),
            ),
            KeyMaterial::Ssh(k) => match k.key_data() {
                ssh_key::public::KeyData::Ed25519(e) => Fingerprint::of_raw_key(&e.0),
                ssh_key::public::KeyData::Rsa(r) => match rsa::RsaPublicKey::try_from(r) {
                    Ok(rk) => Fingerprint::of_material(&KeyMaterial::Rsa(Box::new(rk))),
                    Err(_) => Fingerprint::of_raw_key(&k.to_bytes().unwrap_or_default()),
                },
                ssh_key::public::KeyData::Ecdsa(e) => Fingerprint::of_raw_key(e.as_sec1_bytes()),
                _ => Fingerprint::of_raw_key(&k.to_bytes().unwrap_or_default()),
            },
        }
    }
}

impl KeyMaterial {
    /// A short name of the key type.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyMaterial::Ed25519(_) => "ed25519",
            KeyMaterial::Rsa(_) => "rsa",
            KeyMaterial::Ssh(k) => match k.algorithm() {
                ssh_key::Algorithm::Ed25519 => "ssh-ed25519",
                ssh_key::Algorithm::Rsa { .. } => "ssh-rsa",
                ssh_key::Algorithm::Ecdsa { .. } => "ssh-ecdsa",
                _ => "ssh",
            },
        }
    }
}

/// An OpenSSH `allowed_signers` entry's restrictions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedSigner {
    /// Principals (comma-separated in the file; wildcards allowed).
    pub principals: Vec<String>,
    /// `namespaces="..."`: when present, the only namespaces accepted.
    pub namespaces: Option<Vec<String>>,
    /// `valid-after`, seconds since the epoch (UTC).
    pub valid_after: Option<u64>,
    /// `valid-before`, seconds since the epoch (UTC).
    pub valid_before: Option<u64>,
    /// `cert-authority`: the key signs certificates, not files.
    pub cert_authority: bool,
}

/// Where a key came from, and what its source says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// A PEM block (public key or certificate).
    Pem,
    /// A 64-hex-character key file or string.
    Hex,
    /// A minisign public key.
    Minisign {
        /// The 8-byte key id.
        key_id: [u8; 8],
    },
    /// A Conductor `trusted_keys.toml` entry.
    Conductor {
        /// `name`.
        name: String,
        /// `email`.
        email: String,
    },
    /// An OpenSSH `allowed_signers` line.
    AllowedSigner(AllowedSigner),
}

/// A key in a trust store.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// The key.
    pub material: KeyMaterial,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// The file it was loaded from.
    pub source: String,
    /// 1-based position in that file (PEM block, line, table).
    pub block: usize,
    /// A human name when the source gives one (certificate subject,
    /// minisign comment, Conductor name, SSH principals).
    pub label: Option<String>,
    /// What kind of source it came from.
    pub origin: KeyOrigin,
    /// The policy's name for it (`[[trust.key]] name`), if any.
    pub name: Option<String>,
    /// The groups the policy puts it in.
    pub groups: Vec<String>,
    /// When signatures by it are acceptable: (not before, not after),
    /// seconds since the epoch.
    pub window: (Option<u64>, Option<u64>),
}

impl TrustedKey {
    /// A key with its fingerprint computed from the material.
    pub fn new(material: KeyMaterial, source: &str, block: usize, origin: KeyOrigin) -> Self {
        TrustedKey {
            fingerprint: Fingerprint::of_material(&material),
            material,
            source: source.to_string(),
            block,
            label: None,
            origin,
            name: None,
            groups: Vec::new(),
            window: (None, None),
        }
    }

    /// Sets the policy name, groups and validity window.
    pub fn named(
        mut self,
        name: &str,
        groups: &[String],
        window: (Option<u64>, Option<u64>),
    ) -> Self {
        self.name = Some(name.to_string());
        self.groups = groups.to_vec();
        self.window = window;
        if self.label.is_none() {
            self.label = Some(name.to_string());
        }
        self
    }

    /// Whether a signature made at `t` falls in the key's window.
    pub fn valid_at(&self, t: u64) -> bool {
        self.window.0.is_none_or(|b| t >= b) && self.window.1.is_none_or(|a| t <= a)
    }

    /// Sets the label.
    pub fn with_label(mut self, label: Option<String>) -> Self {
        self.label = label;
        self
    }

    /// The Ed25519 key, if this is one.
    pub fn ed25519(&self) -> Option<&VerifyingKey> {
        match &self.material {
            KeyMaterial::Ed25519(k) => Some(k),
            _ => None,
        }
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyFileError {
    /// Not a key format sigward recognises.
    #[error("not a recognised key file (expected PEM, 64 hex characters, a minisign public key or a Conductor keys TOML)")]
    Unrecognised,
    /// The file has no PEM block at all.
    #[error("no PEM block found (expected -----BEGIN PUBLIC KEY-----)")]
    NoPem,
    /// The PEM text is broken.
    #[error("invalid PEM: {0}")]
    BadPem(String),
    /// A block holds a private key.
    #[error(
        "PEM block {block} is a private key ({tag}); a trust store must hold public keys only: \
         remove this secret from the host (and replace the key, since it was copied where it \
         does not belong)"
    )]
    PrivateKey {
        /// 1-based block index.
        block: usize,
        /// The block's label.
        tag: String,
    },
    /// Every block or entry was skipped.
    #[error("no usable public key: {0}")]
    NoUsableKey(String),
    /// A line or entry is invalid (format-specific parsers).
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Anything else a format-specific parser reports.
    #[error("{0}")]
    Invalid(String),
}

/// One validity window of a trusted key, as [`WindowError`] lists it.
/// Its `Display` is `NAME valid from NOT_BEFORE to NOT_AFTER` (RFC 3339
/// times, `-` for an open end, `key` when the policy gives no name).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyWindow {
    /// The policy's name for the key entry (`[[trust.key]] name`), if any.
    pub name: Option<String>,
    /// Not before, seconds since the epoch.
    pub not_before: Option<u64>,
    /// Not after (inclusive), seconds since the epoch.
    pub not_after: Option<u64>,
}

impl std::fmt::Display for KeyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time =
            |v: Option<u64>| v.map_or_else(|| "-".to_string(), crate::verify::format_rfc3339);
        write!(
            f,
            "{} valid from {} to {}",
            self.name.as_deref().unwrap_or("key"),
            time(self.not_before),
            time(self.not_after)
        )
    }
}

/// Why a trusted key may not be used for a signature made at a given time
/// ([`TrustStore::check_window`]). Its `Display` lists the key's windows,
/// for the detail of an `expired` verdict.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// No validity window set for the key allows the time.
    #[error("{}", join_windows(windows))]
    Outside {
        /// The key.
        fingerprint: Fingerprint,
        /// The time checked (the signing time, or the verification time),
        /// seconds since the epoch.
        at: u64,
        /// Every window set for the key, in load order.
        windows: Vec<KeyWindow>,
    },
}

/// The windows, `; `-separated.
fn join_windows(windows: &[KeyWindow]) -> String {
    windows
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What loading one key file did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys added (duplicates of keys already present are not counted).
    pub added: usize,
    /// Keys revoked by the file.
    pub revoked: usize,
    /// Blocks or entries skipped, one readable line each.
    pub warnings: Vec<String>,
}

/// A set of trusted keys, indexed by fingerprint, and revoked fingerprints.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    by_fingerprint: HashMap<Fingerprint, Vec<usize>>,
    revoked: HashSet<Fingerprint>,
    denied_content: HashSet<[u8; 32]>,
    allowed_content: HashSet<[u8; 32]>,
}

impl TrustStore {
    /// An empty trust store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one key. A key already present with the same fingerprint and
    /// the same kind of origin is not added again (returns false);
    /// `allowed_signers` entries are always kept, since each carries its own
    /// principals and restrictions.
    pub fn insert(&mut self, key: TrustedKey) -> bool {
        let same = |a: &TrustedKey, b: &TrustedKey| {
            std::mem::discriminant(&a.origin) == std::mem::discriminant(&b.origin)
                && !matches!(a.origin, KeyOrigin::AllowedSigner(_))
                && a.name == b.name
        };
        let slots = self.by_fingerprint.entry(key.fingerprint).or_default();
        if slots
            .iter()
            .filter_map(|&i| self.keys.get(i))
            .any(|k| same(k, &key))
        {
            return false;
        }
        slots.push(self.keys.len());
        self.keys.push(key);
        true
    }

    /// Marks a fingerprint as revoked: signatures by it are refused with
    /// reason `revoked`, whatever source trusts it.
    pub fn revoke(&mut self, fingerprint: Fingerprint) -> bool {
        self.revoked.insert(fingerprint)
    }

    /// Whether a fingerprint is revoked.
    pub fn is_revoked(&self, fingerprint: &Fingerprint) -> bool {
        self.revoked.contains(fingerprint)
    }

    /// Denies a file content (by SHA-256) whatever signed it.
    pub fn deny_content(&mut self, sha256: [u8; 32]) -> bool {
        self.denied_content.insert(sha256)
    }

    /// Whether a file content is denied.
    pub fn is_denied_content(&self, sha256: &[u8; 32]) -> bool {
        self.denied_content.contains(sha256)
    }

    /// Number of denied contents.
    pub fn denied_contents(&self) -> usize {
        self.denied_content.len()
    }

    /// Trusts a file content (by SHA-256) without a signature
    /// (`allow_sha256`). A denied content stays denied.
    pub fn allow_content(&mut self, sha256: [u8; 32]) -> bool {
        self.allowed_content.insert(sha256)
    }

    /// Whether a file content is trusted without a signature (and not
    /// denied).
    pub fn is_allowed_content(&self, sha256: &[u8; 32]) -> bool {
        self.allowed_content.contains(sha256) && !self.denied_content.contains(sha256)
    }

    /// Number of contents trusted without a signature.
    pub fn allowed_contents(&self) -> usize {
        self.allowed_content.len()
    }

    /// The contents trusted without a signature, sorted.
    pub fn allowed_digests(&self) -> Vec<[u8; 32]> {
        let mut v: Vec<[u8; 32]> = self.allowed_content.iter().copied().collect();
        v.sort_unstable();
        v
    }

    /// The validity check for signatures by `fingerprint` made at `t`:
    /// `Err` describes the windows when none allows `t`. A window set on
    /// any entry for the key binds it everywhere, so a key retired with
    /// `not_after` stays retired even if an unnamed copy of it is also
    /// trusted; several windows for one key are alternatives.
    pub fn check_window(&self, fingerprint: &Fingerprint, t: u64) -> Result<(), WindowError> {
        let windowed: Vec<&TrustedKey> = self
            .lookup(fingerprint)
            .filter(|k| k.window != (None, None))
            .collect();
        if windowed.is_empty() || windowed.iter().any(|k| k.valid_at(t)) {
            return Ok(());
        }
        Err(WindowError::Outside {
            fingerprint: *fingerprint,
            at: t,
            windows: windowed
                .iter()
                .map(|k| KeyWindow {
                    name: k.name.clone(),
                    not_before: k.window.0,
                    not_after: k.window.1,
                })
                .collect(),
        })
    }

    /// How long a verdict by `fingerprint` whose window check passed at
    /// `t` (see [`check_window`](Self::check_window): the authenticated
    /// signing time, or the verification time for formats without one)
    /// stays valid: the first second at which the key's windows no longer
    /// allow it, so that `now < valid_until` is the validity test for
    /// `now >= t`. Since `not_after` is inclusive ([`TrustedKey::valid_at`]),
    /// this is one past the largest `not_after` among the windowed entries
    /// valid at `t` (entries valid at `t` overlap, so their union holds
    /// every second from `t` up to that `not_after`).
    ///
    /// `None` means no window ends the verdict: the key has no windowed
    /// entry, or a windowed entry valid at `t` has no `not_after` (or has
    /// `u64::MAX`). When no windowed entry is valid at `t` (the check
    /// failed), the verdict was never valid and this is `Some(t)`.
    ///
    /// Entries whose window starts after `t` are not counted: a verdict
    /// may expire although one of them would allow a new check later, which
    /// errs towards checking again.
    pub fn valid_until(&self, fingerprint: &Fingerprint, t: u64) -> Option<u64> {
        let mut windowed = self
            .lookup(fingerprint)
            .filter(|k| k.window != (None, None))
            .peekable();
        windowed.peek()?;
        let mut until = None;
        for k in windowed.filter(|k| k.valid_at(t)) {
            let end = k.window.1.and_then(|a| a.checked_add(1))?;
            until = Some(until.map_or(end, |u: u64| u.max(end)));
        }
        Some(until.unwrap_or(t))
    }

    /// The subset a tree trusts: keys whose policy name or one of whose
    /// groups is in `names`. Revocations and denied contents are kept.
    pub fn restricted_to(&self, names: &HashSet<String>) -> TrustStore {
        let mut out = TrustStore {
            revoked: self.revoked.clone(),
            denied_content: self.denied_content.clone(),
            allowed_content: self.allowed_content.clone(),
            ..TrustStore::default()
        };
        for k in &self.keys {
            let wanted = k.name.as_ref().is_some_and(|n| names.contains(n))
                || k.groups.iter().any(|g| names.contains(g));
            if wanted {
                out.insert(k.clone());
            }
        }
        out
    }

    /// Adds parsed keys, counting the new ones; `warnings` go into the
    /// report.
    pub(crate) fn extend(
        &mut self,
        parsed: (Vec<TrustedKey>, Vec<String>),
    ) -> Result<LoadReport, KeyFileError> {
        let (keys, warnings) = parsed;
        let mut report = LoadReport {
            warnings,
            ..LoadReport::default()
        };
        for k in keys {
            if self.insert(k) {
                report.added += 1;
            }
        }
        Ok(report)
    }

    /// Every key with this fingerprint, in load order.
    pub fn lookup(&self, fingerprint: &Fingerprint) -> impl Iterator<Item = &TrustedKey> {
        self.by_fingerprint
            .get(fingerprint)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.keys.get(i))
    }

    /// The first key with this fingerprint.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&TrustedKey> {
        self.lookup(fingerprint).next()
    }

    /// A trusted Ed25519 key with this fingerprint (any origin except
    /// `allowed_signers`, whose keys are bound to SSH namespaces).
    pub fn ed25519(&self, fingerprint: &Fingerprint) -> Option<(&TrustedKey, &VerifyingKey)> {
        self.lookup(fingerprint)
            .filter(|k| !matches!(k.origin, KeyOrigin::AllowedSigner(_)))
            .find_map(|k| k.ed25519().map(|vk| (k, vk)))
    }

    /// Every key, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }

    /// Revoked fingerprints.
    pub fn revoked(&self) -> impl Iterator<Item = &Fingerprint> {
        self.revoked.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod window_texts;
