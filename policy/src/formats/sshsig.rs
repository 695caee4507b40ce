//! OpenSSH file signatures (`ssh-keygen -Y sign`) and `allowed_signers`.
//!
//! `ssh-keygen -Y sign -f KEY -n NAMESPACE FILE` writes `FILE.sig`:
//!
//! ```text
//! -----BEGIN SSH SIGNATURE-----
//! base64 (wrapped at 70 columns) of:
//!   "SSHSIG" || uint32 version (1) || string public key || string namespace
//!   || string reserved || string hash algorithm || string signature
//! -----END SSH SIGNATURE-----
//! ```
//!
//! The signature covers the blob of PROTOCOL.sshsig, built here from the
//! digest the caller computed (sigward never holds the file):
//!
//! ```text
//! "SSHSIG" || string namespace || string "" (reserved)
//!          || string hash algorithm ("sha256" | "sha512") || string H(file)
//! ```
//!
//! exactly as OpenSSH's `sshsig_wrap_verify` rebuilds it (the reserved field
//! of the signature is ignored, the expected namespace is used). Ed25519 and
//! `sk-ssh-ed25519` signatures are checked with `verify_strict`; RSA
//! (`rsa-sha2-256`/`rsa-sha2-512` only: SHA-1 `ssh-rsa` signatures are refused
//! as OpenSSH refuses them), ECDSA P-256/P-384 and `sk-ecdsa` P-256 with the
//! `ssh-key` crate.
//!
//! Trust comes only from `allowed_signers` entries ([`parse_allowed_signers`])
//! whose key equals the signature's key, as `ssh-keygen -Y verify` decides:
//! the entry's `namespaces=` patterns must admit the namespace and the
//! verification time must lie within `valid-after`/`valid-before`.
//! Certificate-signed signatures (`-f key-cert.pub`, trusted through a
//! `cert-authority` entry) are not supported: they are refused as untrusted.

use base64::Engine as _;
use ed25519_dalek::Verifier as _;
use sha2::{Digest as _, Sha256};
use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use crate::fingerprint::Fingerprint;
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::{AllowedSigner, KeyFileError, KeyMaterial, KeyOrigin, TrustStore, TrustedKey};
use crate::verify::{Reason, Subject, Verdict};

/// First line of an armoured signature.
pub const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
/// Last line of an armoured signature.
pub const END: &str = "-----END SSH SIGNATURE-----";
/// Upper bound on a signature file (an RSA-16384 signature is under 8 KiB).
pub const MAX_SIGNATURE_FILE: usize = 64 * 1024;
const MAGIC: &[u8] = b"SSHSIG";
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// The message digest a signature covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshHash {
    /// `sha256`.
    Sha256,
    /// `sha512` (ssh-keygen's default).
    Sha512,
}

impl SshHash {
    /// The name in the signature.
    pub fn name(self) -> &'static str {
        match self {
            SshHash::Sha256 => "sha256",
            SshHash::Sha512 => "sha512",
        }
    }
}

/// The signer's key as the signature carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerKey {
    /// A plain public key.
    Plain(KeyData),
    /// An OpenSSH certificate (algorithm name ending in
    /// `-cert-v01@openssh.com`), not supported.
    Certificate(String),
}

/// A parsed `SSHSIG` signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSignature {
    /// Format version (1).
    pub version: u32,
    /// The signer's key.
    pub key: SignerKey,
    /// The namespace the signature was made for (`-n`).
    pub namespace: String,
    /// The digest it covers.
    pub hash: SshHash,
    /// The signature's algorithm name (`ssh-ed25519`, `rsa-sha2-512`, ...).
    pub signature_algorithm: String,
    /// The signature blob (algorithm string, signature string and, for
    /// security keys, flags and counter).
    pub signature: Vec<u8>,
}

/// A reader of SSH wire encoding (RFC 4251) over a byte slice.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("truncated".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| "truncated".to_string())?;
        Ok(u32::from_be_bytes(b))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn string(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()?;
        self.take(usize::try_from(n).map_err(|_| "truncated".to_string())?)
    }

    fn text(&mut self, what: &str) -> Result<&'a str, String> {
        let s = self.string()?;
        if s.contains(&0) {
            return Err(format!("{what} contains a NUL byte"));
        }
        std::str::from_utf8(s).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Every string put here is bounded far below 4 GiB (namespace from a
    // 64 KiB file, digests of 64 bytes), so the cast cannot truncate.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// Why the armour and the blob are read here rather than with `ssh-key`'s
// `SshSig` (whose key types and signature checks are used below): a
// signature must be accepted exactly when `ssh-keygen -Y verify` accepts
// it, and refused with a reason an operator can act on.
// * `SshSig::from_pem` goes through `pem-rfc7468`, which implements RFC
//   7468's strict form; OpenSSH's `sshsig_dearmor` ignores any whitespace
//   in the body and takes CRLF after the header, so re-wrapped signatures
//   that OpenSSH verifies would be refused.
// * `SshSig` holds the signer as plain `KeyData`: a signature made with a
//   certificate (`-f key-cert.pub`) does not decode at all, where sigward
//   must say that certificate-signed signatures are not supported.
// * Unknown hash algorithms, versions and trailing data get OpenSSH's
//   checks and messages of their own (see `parse_blob`).

/// Removes the armour as OpenSSH's `sshsig_dearmor` does: the header and a
/// line end, the base64 body (whitespace ignored), `\n` and the footer.
pub fn dearmor(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() > MAX_SIGNATURE_FILE {
        return Err(format!(
            "signature file is {} bytes, more than the {MAX_SIGNATURE_FILE} an OpenSSH signature can hold",
            bytes.len()
        ));
    }
    let text = bytes.trim_ascii_start();
    let rest = text
        .strip_prefix(BEGIN.as_bytes())
        .ok_or("missing -----BEGIN SSH SIGNATURE----- header")?;
    let rest = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .ok_or("no line end after the header")?;
    let footer = [b"\n", END.as_bytes()].concat();
    let end = find(rest, &footer).ok_or("missing -----END SSH SIGNATURE----- footer")?;
    let body: Vec<u8> = rest
        .get(..end)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace() && *b != 0x0b)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&body)
        .map_err(|e| format!("signature body is not base64: {e}"))
}

/// Parses the binary `SSHSIG` blob, as OpenSSH's `sshsig_wrap_verify` does
/// (trailing data is an error).
pub fn parse_blob(blob: &[u8]) -> Result<SshSignature, String> {
    let mut w = Wire(blob);
    if w.take(MAGIC.len()).ok() != Some(MAGIC) {
        return Err("missing SSHSIG magic".into());
    }
    let version = w.u32()?;
    if version > 1 {
        return Err(format!(
            "signature version {version} is newer than the supported version 1"
        ));
    }
    let key_blob = w.string()?;
    let namespace = w.text("namespace")?.to_string();
    let _reserved = w.string()?;
    let hash = match w.text("hash algorithm")? {
        "sha256" => SshHash::Sha256,
        "sha512" => SshHash::Sha512,
        other => {
            return Err(format!(
                "unsupported hash algorithm {other:?} (OpenSSH allows sha256 and sha512)"
            ))
        }
    };
    let signature = w.string()?.to_vec();
    if !w.is_empty() {
        return Err("signature contains trailing data".into());
    }
    let key_alg = Wire(key_blob).text("public key algorithm")?.to_string();
    let key = if key_alg.ends_with(CERT_SUFFIX) {
        SignerKey::Certificate(key_alg)
    } else {
        let pk = PublicKey::from_bytes(key_blob)
            .map_err(|e| format!("public key ({key_alg}) is invalid: {e}"))?;
        if pk.algorithm().as_str() != key_alg {
            return Err(format!(
                "public key algorithm {key_alg:?} does not match its key data"
            ));
        }
        if pk.to_bytes().ok().as_deref() != Some(key_blob) {
            return Err(format!("public key ({key_alg}) is not canonically encoded"));
        }
        SignerKey::Plain(pk.key_data().clone())
    };
    let signature_algorithm = Wire(&signature).text("signature algorithm")?.to_string();
    Ok(SshSignature {
        version,
        key,
        namespace,
        hash,
        signature_algorithm,
        signature,
    })
}

/// Parses an armoured OpenSSH signature file.
pub fn parse(bytes: &[u8]) -> Result<SshSignature, String> {
    parse_blob(&dearmor(bytes)?)
}

/// Format detection: the armour header.
pub fn sniff(bytes: &[u8]) -> Sniff {
    if bytes.trim_ascii_start().starts_with(BEGIN.as_bytes()) {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// SHA-256 is always computed; `sha512` signatures (ssh-keygen's default)
/// need SHA-512.
pub fn needs(bytes: &[u8], opts: &Options) -> Needs {
    match parse(bytes) {
        Ok(sig) if sig.hash == SshHash::Sha512 && opts.ssh_namespace.is_some() => Needs {
            sha512: true,
            ..Needs::default()
        },
        _ => Needs::default(),
    }
}

/// The blob the signature covers (PROTOCOL.sshsig), from the file's digest.
pub fn signed_data(namespace: &str, hash: SshHash, digest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(MAGIC.len() + namespace.len() + digest.len() + 32);
    m.extend_from_slice(MAGIC);
    put_string(&mut m, namespace.as_bytes());
    put_string(&mut m, b"");
    put_string(&mut m, hash.name().as_bytes());
    put_string(&mut m, digest);
    m
}

/// The sigward fingerprint of an SSH key (see [`Fingerprint::of_material`]).
pub fn fingerprint_of(key: &KeyData) -> Fingerprint {
    Fingerprint::of_material(&KeyMaterial::Ssh(Box::new(PublicKey::from(key.clone()))))
}

/// The key's fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
pub fn openssh_fingerprint(key: &KeyData) -> String {
    key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
}

/// Checks the signature blob against `message` with `key`.
fn check_signature(key: &KeyData, sig: &SshSignature, message: &[u8]) -> Result<(), String> {
    let mut w = Wire(&sig.signature);
    let alg = w.text("signature algorithm")?;
    let raw = w.string()?;
    let sk_trailer = match key {
        KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => Some((w.u8()?, w.u32()?)),
        _ => None,
    };
    if !w.is_empty() {
        return Err("signature blob has trailing data".into());
    }
    match key {
        KeyData::Ed25519(pk) => {
            if alg != "ssh-ed25519" {
                return Err(format!(
                    "signature algorithm {alg} does not match an ssh-ed25519 key"
                ));
            }
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.0)
                .map_err(|_| "invalid Ed25519 key")?;
            let s = ed25519_dalek::Signature::from_slice(raw)
                .map_err(|_| "Ed25519 signature is not 64 bytes")?;
            vk.verify_strict(message, &s)
                .map_err(|_| "signature does not verify".to_string())
        }
        KeyData::SkEd25519(sk) => {
            if alg != "sk-ssh-ed25519@openssh.com" {
                return Err(format!(
                    "signature algorithm {alg} does not match an sk-ssh-ed25519 key"
                ));
            }
            let (flags, counter) = sk_trailer.unwrap_or_default();
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&sk.public_key().0)
                .map_err(|_| "invalid Ed25519 key")?;
            let s = ed25519_dalek::Signature::from_slice(raw)
                .map_err(|_| "Ed25519 signature is not 64 bytes")?;
            // PROTOCOL.u2f: SHA256(application) || flags || counter || SHA256(message).
            let mut m = Vec::with_capacity(32 + 1 + 4 + 32);
            m.extend_from_slice(&Sha256::digest(sk.application().as_bytes()));
            m.push(flags);
            m.extend_from_slice(&counter.to_be_bytes());
            m.extend_from_slice(&Sha256::digest(message));
            vk.verify_strict(&m, &s)
                .map_err(|_| "signature does not verify".to_string())
        }
        KeyData::Rsa(_) | KeyData::Ecdsa(_) | KeyData::SkEcdsaSha2NistP256(_) => {
            if matches!(key, KeyData::Rsa(_)) && alg != "rsa-sha2-512" && alg != "rsa-sha2-256" {
                return Err(format!(
                    "RSA signature algorithm {alg} is refused (OpenSSH accepts only rsa-sha2-512 and rsa-sha2-256)"
                ));
            }
            let s = ssh_key::Signature::try_from(sig.signature.as_slice())
                .map_err(|e| format!("signature blob is invalid: {e}"))?;
            key.verify(message, &s)
                .map_err(|_| "signature does not verify".to_string())
        }
        other => Err(format!(
            "{} keys are not supported",
            other.algorithm().as_str()
        )),
    }
}

/// Whether an `allowed_signers` entry's restrictions admit the signature.
fn entry_admits(entry: &AllowedSigner, namespace: &str, now: u64) -> Result<(), (Reason, String)> {
    if let Some(ns) = &entry.namespaces {
        if match_pattern_list(namespace, ns) != 1 {
            return Err((
                Reason::Untrusted,
                format!(
                    "is not permitted for signature namespace {namespace:?} (namespaces=\"{}\")",
                    ns.join(",")
                ),
            ));
        }
    }
    if let Some(after) = entry.valid_after {
        if now < after {
            return Err((
                Reason::Expired,
                format!(
                    "is not yet valid: valid-after {} is later than the verification time",
                    format_time(after)
                ),
            ));
        }
    }
    if let Some(before) = entry.valid_before {
        if now > before {
            return Err((
                Reason::Expired,
                format!(
                    "has expired: valid-before {} has passed",
                    format_time(before)
                ),
            ));
        }
    }
    Ok(())
}

/// Verifies an OpenSSH signature file.
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    _evidence: &Evidence<'_>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    let sig = match parse(bytes) {
        Ok(sig) => sig,
        Err(why) => {
            return Verdict::reject(
                Reason::Malformed,
                format!("not an OpenSSH signature: {why}"),
                None,
            )
        }
    };
    let Some(expected_ns) = opts.ssh_namespace.as_deref() else {
        return Verdict::reject(
            Reason::Malformed,
            "no ssh_namespace set in the policy: OpenSSH signatures are refused",
            None,
        );
    };
    let key = match &sig.key {
        SignerKey::Plain(k) => k,
        SignerKey::Certificate(alg) => {
            return Verdict::reject(
                Reason::Untrusted,
                format!("signed with an OpenSSH certificate ({alg}); certificate-signed signatures (cert-authority) are not supported"),
                None,
            )
        }
    };
    let fp = fingerprint_of(key);
    let ssh_fp = openssh_fingerprint(key);
    if trust.is_revoked(&fp) {
        return Verdict::reject(
            Reason::Revoked,
            format!(
                "signed by revoked key {fp} ({} {ssh_fp})",
                key.algorithm().as_str()
            ),
            Some(fp),
        );
    }
    let mut entries: Vec<(&TrustedKey, &AllowedSigner)> = Vec::new();
    let mut ca_only = false;
    let mut other_origin = false;
    for k in trust.lookup(&fp) {
        match (&k.origin, &k.material) {
            (KeyOrigin::AllowedSigner(a), KeyMaterial::Ssh(pk)) if pk.key_data() == key => {
                if a.cert_authority {
                    ca_only = true;
                } else {
                    entries.push((k, a));
                }
            }
            _ => other_origin = true,
        }
    }
    if entries.is_empty() && !ca_only && opts.allow_self_signed {
        // The tree accepts a valid signature by any key; the namespace
        // must still be the policy's.
        if let Some(v) = wrong_namespace(&sig, expected_ns, fp) {
            return v;
        }
        let message = match message_for(subject, sig.hash, expected_ns) {
            Ok(m) => m,
            Err(why) => return Verdict::reject(Reason::Invalid, why, Some(fp)),
        };
        return match check_signature(key, &sig, &message) {
            Ok(()) => Verdict::verified(fp, Format::Ssh, None).as_self_signed(),
            Err(why) => Verdict::reject(
                Reason::Invalid,
                format!("self-signed OpenSSH signature by key {ssh_fp} ({fp}) is invalid: {why}"),
                Some(fp),
            ),
        };
    }
    if entries.is_empty() {
        let why = if ca_only {
            "is listed in allowed_signers only as a cert-authority, which does not sign files itself"
        } else if other_origin {
            "is trusted, but not through an allowed_signers file, which OpenSSH signatures need"
        } else {
            "is not in allowed_signers"
        };
        return Verdict::reject(
            Reason::Untrusted,
            format!(
                "signed by {} key {ssh_fp} (fingerprint {fp}), which {why}",
                key.algorithm().as_str()
            ),
            Some(fp),
        );
    }
    if let Some(v) = wrong_namespace(&sig, expected_ns, fp) {
        return v;
    }
    let message = match message_for(subject, sig.hash, expected_ns) {
        Ok(m) => m,
        Err(why) => return Verdict::reject(Reason::Invalid, why, Some(fp)),
    };
    if let Err(why) = check_signature(key, &sig, &message) {
        return Verdict::reject(
            Reason::Invalid,
            format!(
                "OpenSSH signature by trusted key {ssh_fp} ({fp}) is invalid: {why} (the file changed since it was signed, or the signature is corrupt)"
            ),
            Some(fp),
        );
    }
    let mut refusal: Option<(Reason, String)> = None;
    for (k, entry) in &entries {
        match entry_admits(entry, &sig.namespace, opts.now) {
            Ok(()) => return Verdict::verified(fp, Format::Ssh, k.label.clone()),
            Err((reason, why)) => {
                refusal.get_or_insert((
                    reason,
                    format!(
                        "key {ssh_fp} ({fp}) of {} in {} line {} {why}",
                        k.label.as_deref().unwrap_or("?"),
                        k.source,
                        k.block
                    ),
                ));
            }
        }
    }
    let (reason, detail) = refusal.unwrap_or((
        Reason::Untrusted,
        "internal: no allowed_signers entry".into(),
    ));
    Verdict::reject(reason, detail, Some(fp))
}

/// The refusal for a signature made for another namespace than the
/// policy's.
fn wrong_namespace(sig: &SshSignature, expected_ns: &str, fp: Fingerprint) -> Option<Verdict> {
    (sig.namespace != expected_ns).then(|| {
        Verdict::reject(
            Reason::Invalid,
            format!(
                "signature was made for namespace {:?}, the policy requires {expected_ns:?}",
                sig.namespace
            ),
            Some(fp),
        )
    })
}

/// The SSHSIG signed data for the file, from the digest the signature's
/// hash algorithm names.
fn message_for(subject: &Subject<'_>, hash: SshHash, namespace: &str) -> Result<Vec<u8>, String> {
    let digest: &[u8] = match hash {
        SshHash::Sha256 => subject.sha256,
        SshHash::Sha512 => subject
            .sha512
            .ok_or_else(|| "internal: SHA-512 of the file was not computed".to_string())?,
    };
    Ok(signed_data(namespace, hash, digest))
}

// ---------------------------------------------------------------------------
// Patterns (OpenSSH match.c)
// ---------------------------------------------------------------------------

/// OpenSSH `match_pattern`: `*` matches any run of bytes, `?` any one byte.
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    let (s, p) = (s.as_bytes(), pattern.as_bytes());
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = s.get(si) {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&q) if q == b'?' || q == c => {
                si += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    while p.get(pi) == Some(&b'*') {
        pi += 1;
    }
    pi == p.len()
}

/// OpenSSH `match_pattern_list` over already split sub-patterns (each may
/// start with `!`): -1 when a negated pattern matches, 1 when a positive one
/// matches and no negated one does, 0 otherwise. Like OpenSSH, a sub-pattern
/// of 1023 bytes or more makes the whole list fail to match.
pub fn match_pattern_list(s: &str, patterns: &[String]) -> i8 {
    let mut positive = false;
    for p in patterns {
        let (negated, sub) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        if sub.len() >= 1023 {
            return 0;
        }
        if match_pattern(s, sub) {
            if negated {
                return -1;
            }
            positive = true;
        }
    }
    i8::from(positive)
}

/// Splits a comma-separated pattern list as `match_pattern_list` walks it
/// (a trailing comma adds no empty pattern).
fn split_list(list: &str) -> Vec<String> {
    let mut v: Vec<String> = list.split(',').map(str::to_string).collect();
    if v.last().is_some_and(String::is_empty) {
        v.pop();
    }
    v
}

// ---------------------------------------------------------------------------
// Times (OpenSSH misc.c parse_absolute_time), with the `time` crate
// ---------------------------------------------------------------------------

/// Parses `YYYYMMDD[HHMM[SS]]` with an optional `Z` or `UTC` suffix into
/// seconds since the epoch. OpenSSH reads times without the suffix as local
/// time; sigward reads every time as UTC (the agent's verdicts must not
/// depend on the machine's time zone). Returns `None` for anything OpenSSH
/// refuses, and for times before 1970.
pub fn parse_absolute_time(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits = if text.len() > 1 && lower.ends_with('z') {
        text.get(..text.len() - 1)?
    } else if text.len() > 3 && lower.ends_with("utc") {
        text.get(..text.len() - 3)?
    } else {
        text
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |a: usize, b: usize| digits.get(a..b).and_then(|f| f.parse::<i64>().ok());
    let (y, mo, d) = (field(0, 4)?, field(4, 6)?, field(6, 8)?);
    let (h, mi) = if digits.len() >= 12 {
        (field(8, 10)?, field(10, 12)?)
    } else {
        (0, 0)
    };
    let s = if digits.len() == 14 {
        field(12, 14)?
    } else {
        0
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 61 {
        return None;
    }
    // OpenSSH (strptime, then timegm) takes day 1 to 31 in every month and
    // normalises what overflows (20200231 is 2 March), and seconds up to 61:
    // so the day and the time are added to the month's first day, not
    // checked as a calendar date.
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let first = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, 1).ok()?;
    let t =
        first.midnight().assume_utc().unix_timestamp() + (d - 1) * 86_400 + h * 3600 + mi * 60 + s;
    u64::try_from(t).ok().filter(|&t| t > 0)
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn format_time(t: u64) -> String {
    crate::verify::format_rfc3339(t)
}

// ---------------------------------------------------------------------------
// allowed_signers (OpenSSH sshsig.c parse_principals_key_and_options)
// ---------------------------------------------------------------------------

/// Key types sigward verifies.
const SUPPORTED_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Key types OpenSSH reads that sigward does not verify (entries skipped
/// with a warning).
const UNSUPPORTED_KEY_TYPES: &[&str] = &["ssh-dss", "ecdsa-sha2-nistp521", "ssh-xmss@openssh.com"];

fn is_key_type(name: &str) -> bool {
    SUPPORTED_KEY_TYPES.contains(&name)
        || UNSUPPORTED_KEY_TYPES.contains(&name)
        || name.strip_suffix(CERT_SUFFIX).is_some_and(|base| {
            base.starts_with("ssh-") || base.starts_with("ecdsa-") || base.starts_with("sk-")
        })
}

const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

/// OpenSSH `strdelimw`: the next whitespace-delimited token, where a `"`
/// starts a quoted part running to the next `"` (quotes removed). Returns
/// the token and the rest after the whitespace that follows it.
fn next_token(s: &str) -> Result<(String, &str), String> {
    let Some(i) = s.find(|c: char| WHITESPACE.contains(&c) || c == '"') else {
        return Err("missing key".into());
    };
    let (head, rest) = s.split_at(i);
    if let Some(quoted) = rest.strip_prefix('"') {
        let close = quoted.find('"').ok_or("unterminated quote")?;
        let token = format!("{head}{}", quoted.get(..close).unwrap_or_default());
        let after = quoted.get(close + 1..).unwrap_or_default();
        return Ok((token, after.trim_start_matches(WHITESPACE)));
    }
    Ok((head.to_string(), rest.trim_start_matches(WHITESPACE)))
}

/// OpenSSH `sshkey_advance_past_options`: the options run to the first
/// space or tab outside double quotes (`\"` inside quotes is literal).
fn split_options(s: &str) -> Result<(&str, &str), String> {
    let bytes = s.as_bytes();
    let mut quoted = false;
    let mut i = 0usize;
    while let Some(&c) = bytes.get(i) {
        if !quoted && (c == b' ' || c == b'\t') {
            break;
        }
        if c == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 2;
            continue;
        }
        if c == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted {
        return Err("invalid options: unterminated quote".into());
    }
    let i = i.min(s.len());
    Ok((
        s.get(..i).unwrap_or_default(),
        s.get(i..).unwrap_or_default(),
    ))
}

/// A key read from `keytype base64 [comment]`.
enum ReadKey {
    Key(PublicKey),
    Unsupported(String),
}

/// OpenSSH `sshkey_read`: key type, whitespace, base64 blob whose key type
/// must match; the rest of the line is a comment.
fn read_key(s: &str) -> Result<ReadKey, String> {
    let Some(i) = s.find([' ', '\t']) else {
        return Err("missing key data after the key type".into());
    };
    let (kind, rest) = s.split_at(i);
    if !is_key_type(kind) {
        return Err(format!("unknown key type {kind:?}"));
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let end = rest.find([' ', '\t']).unwrap_or(rest.len());
    let (b64, comment) = rest.split_at(end);
    if b64.is_empty() {
        return Err("missing key data after the key type".into());
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64.trim_matches(WHITESPACE))
        .map_err(|e| format!("key data is not base64: {e}"))?;
    let inner = Wire(&blob)
        .text("key type")
        .map_err(|e| format!("key data is invalid: {e}"))?;
    if inner != kind {
        return Err(format!(
            "key type {kind} does not match the key data ({inner})"
        ));
    }
    if !SUPPORTED_KEY_TYPES.contains(&kind) {
        return Ok(ReadKey::Unsupported(kind.to_string()));
    }
    let mut pk = PublicKey::from_bytes(&blob).map_err(|e| format!("invalid {kind} key: {e}"))?;
    if pk.algorithm().as_str() != kind {
        return Err(format!("key type {kind} does not match the key data"));
    }
    if pk.to_bytes().ok().as_deref() != Some(blob.as_slice()) {
        return Err(format!("{kind} key data is not canonically encoded"));
    }
    if let KeyData::Rsa(r) = pk.key_data() {
        if rsa::RsaPublicKey::try_from(r).is_err() {
            // Too small or too large for the rsa crate: it could never verify.
            return Ok(ReadKey::Unsupported(format!(
                "{kind} (modulus outside 2048..=4096 bits)"
            )));
        }
    }
    pk.set_comment(comment.trim_matches(WHITESPACE));
    Ok(ReadKey::Key(pk))
}

/// OpenSSH `opt_dequote`: a double-quoted value (`\"` is a literal quote).
fn dequote(s: &str) -> Result<(String, &str), String> {
    let inner = s.strip_prefix('"').ok_or("missing start quote")?;
    let mut out = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, inner.get(i + 1..).unwrap_or_default())),
            '\\' if inner.get(i + 1..).is_some_and(|r| r.starts_with('"')) => {
                out.push('"');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    Err("missing end quote".into())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// OpenSSH `sshsigopt_parse`: `cert-authority`, `namespaces="..."`,
/// `valid-after="..."`, `valid-before="..."`, comma-separated, names in any
/// case; anything else is an error.
fn parse_options(opts: &str, entry: &mut AllowedSigner) -> Result<(), String> {
    let mut s = opts;
    let mut namespaces_seen = false;
    while !s.is_empty() && !s.starts_with([' ', '\t']) {
        if let Some(rest) = strip_prefix_ci(s, "cert-authority") {
            entry.cert_authority = true;
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "namespaces=") {
            if namespaces_seen {
                return Err("multiple \"namespaces\" clauses".into());
            }
            namespaces_seen = true;
            let (value, rest) = dequote(rest)?;
            entry.namespaces = Some(split_list(&value));
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "valid-after=") {
            if entry.valid_after.is_some() {
                return Err("multiple \"valid-after\" clauses".into());
            }
            let (value, rest) = dequote(rest)?;
            entry.valid_after =
                Some(parse_absolute_time(&value).ok_or("invalid \"valid-after\" time")?);
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "valid-before=") {
            if entry.valid_before.is_some() {
                return Err("multiple \"valid-before\" clauses".into());
            }
            let (value, rest) = dequote(rest)?;
            entry.valid_before =
                Some(parse_absolute_time(&value).ok_or("invalid \"valid-before\" time")?);
            s = rest;
        }
        if s.is_empty() || s.starts_with([' ', '\t']) {
            break;
        }
        let Some(rest) = s.strip_prefix(',') else {
            let name: String = s
                .chars()
                .take_while(|&c| c != ',' && c != '=')
                .take(40)
                .collect();
            return Err(format!("unknown key option {name:?}"));
        };
        if rest.is_empty() {
            return Err("unexpected end-of-options".into());
        }
        s = rest;
    }
    if let (Some(after), Some(before)) = (entry.valid_after, entry.valid_before) {
        if before <= after {
            return Err("\"valid-before\" time is before \"valid-after\"".into());
        }
    }
    Ok(())
}

/// Parses one non-blank, non-comment line.
fn parse_line(line: &str) -> Result<(AllowedSigner, ReadKey), String> {
    let (principals, rest) = next_token(line).map_err(|e| format!("invalid line: {e}"))?;
    if principals.is_empty() {
        return Err("empty principal list".into());
    }
    let mut entry = AllowedSigner {
        principals: principals.split(',').map(str::to_string).collect(),
        ..AllowedSigner::default()
    };
    // A key directly after the principals, else options then the key.
    let first = rest.split([' ', '\t']).next().unwrap_or_default();
    let key = if is_key_type(first) {
        read_key(rest)?
    } else {
        let (opts, after) = split_options(rest)?;
        let after = after.trim_start_matches([' ', '\t']);
        if after.is_empty() {
            return Err(if opts.is_empty() {
                "missing key".into()
            } else {
                format!("missing key (or unknown key type {opts:?})")
            });
        }
        parse_options(opts, &mut entry).map_err(|e| format!("bad options: {e}"))?;
        read_key(after).map_err(|e| format!("invalid key: {e}"))?
    };
    Ok((entry, key))
}

/// Parses an OpenSSH `allowed_signers` file (`man ssh-keygen`, ALLOWED
/// SIGNERS): one `principals [options] keytype base64-key [comment]` entry
/// per line; blank lines and lines starting with `#` are ignored. Principals
/// are a comma-separated list of patterns, double-quoted when they hold
/// spaces. Options: `cert-authority`, `namespaces="list"`,
/// `valid-after="time"`, `valid-before="time"`; times `YYYYMMDD[HHMM[SS]]`
/// with an optional `Z`, always read as UTC here (OpenSSH reads times
/// without `Z` as local time). An unknown option or a line that is not an
/// entry is an error naming the line. Keys sigward cannot verify (DSA,
/// NIST P-521, XMSS, certificates) are skipped with a warning.
pub fn parse_allowed_signers(
    source: &str,
    text: &[u8],
) -> Result<(Vec<TrustedKey>, Vec<String>), KeyFileError> {
    let mut keys = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let bad = |message: String| KeyFileError::Line {
            line: number,
            message,
        };
        let line = std::str::from_utf8(raw).map_err(|_| bad("not UTF-8 text".into()))?;
        let line = line.trim_matches(WHITESPACE);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains('\0') {
            return Err(bad("contains a NUL byte".into()));
        }
        let (entry, key) = parse_line(line).map_err(bad)?;
        match key {
            ReadKey::Key(pk) => {
                let label = entry.principals.join(",");
                keys.push(
                    TrustedKey::new(
                        KeyMaterial::Ssh(Box::new(pk)),
                        source,
                        number,
                        KeyOrigin::AllowedSigner(entry),
                    )
                    .with_label(Some(label)),
                );
            }
            ReadKey::Unsupported(kind) => warnings.push(format!(
                "{source}: line {number} ({}): {kind} keys are not supported; entry skipped",
                entry.principals.join(",")
            )),
        }
    }
    Ok((keys, warnings))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::formats;
    use sha2::Sha512;

    const ALLOWED: &[u8] = include_bytes!("../../../tests/vectors/ssh/allowed_signers");
    const PAYLOAD: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt");
    const PAYLOAD_TAMPERED: &[u8] =
        include_bytes!("../../../tests/vectors/ssh/payload_tampered.txt");
    const ALICE: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt.alice.sig");
    const ALICE_SHA256: &[u8] =
        include_bytes!("../../../tests/vectors/ssh/payload.txt.alice-sha256.sig");
    const ALICE_OTHER: &[u8] =
        include_bytes!("../../../tests/vectors/ssh/payload.txt.alice-other.sig");
    const BOB: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt.bob.sig");
    const CAROL: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt.carol.sig");
    const DAVE: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt.dave.sig");
    const ERIN: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt.erin.sig");
    const FRANK: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt.frank.sig");
    const STRANGER: &[u8] = include_bytes!("../../../tests/vectors/ssh/payload.txt.stranger.sig");
    const GRACE_CERT: &[u8] =
        include_bytes!("../../../tests/vectors/ssh/payload.txt.grace-cert.sig");
    const ALICE_PUB: &str = include_str!("../../../tests/vectors/ssh/alice_ed25519.pub");
    const STRANGER_PUB: &str = include_str!("../../../tests/vectors/ssh/stranger_ed25519.pub");

    /// 2026-01-01T00:00:00Z, the time make.sh cross-checks at.
    const NOW: u64 = 1_767_225_600;

    fn store() -> TrustStore {
        let mut ts = TrustStore::new();
        let report = ts.add_allowed_signers("allowed_signers", ALLOWED).unwrap();
        assert_eq!(report.added, 7, "{report:?}");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        ts
    }

    fn opts() -> Options {
        Options {
            ssh_namespace: Some("file".into()),
            now: NOW,
            ..Options::default()
        }
    }

    /// Verifies through the dispatcher, computing what `needs` asks for the
    /// way the caller does.
    fn check_with(content: &[u8], sig: &[u8], ts: &TrustStore, opts: &Options) -> Verdict {
        let evidence = Evidence {
            sig: Some(sig),
            ..Evidence::default()
        };
        let n = formats::needs(&evidence, opts);
        let sha256: [u8; 32] = Sha256::digest(content).into();
        let sha512: [u8; 64] = Sha512::digest(content).into();
        let mut subject = Subject::new(b"payload.txt", content.len() as u64, &sha256);
        if n.sha512 {
            subject.sha512 = Some(&sha512);
        }
        formats::verify(&subject, &evidence, ts, opts)
    }

    #[test]
    fn self_signed_only_when_the_tree_allows_it() {
        let ts = store();
        // The stranger's key is in no allowed_signers entry.
        assert_eq!(check(PAYLOAD, STRANGER).reason(), Some(Reason::Untrusted));
        let allow = Options {
            allow_self_signed: true,
            ..opts()
        };
        let v = check_with(PAYLOAD, STRANGER, &ts, &allow);
        assert!(v.is_verified() && v.is_self_signed(), "{v:?}");
        // Still a real signature over this content.
        let mut tampered = PAYLOAD.to_vec();
        tampered.push(b'!');
        assert_eq!(
            check_with(&tampered, STRANGER, &ts, &allow).reason(),
            Some(Reason::Invalid)
        );
        // And still for the policy's namespace.
        let other_ns = Options {
            ssh_namespace: Some("other".into()),
            ..allow
        };
        assert_eq!(
            check_with(PAYLOAD, STRANGER, &ts, &other_ns).reason(),
            Some(Reason::Invalid)
        );
    }

    fn check(content: &[u8], sig: &[u8]) -> Verdict {
        check_with(content, sig, &store(), &opts())
    }

    fn detail(v: &Verdict) -> String {
        match v {
            Verdict::Rejected { detail, .. } => detail.clone(),
            Verdict::Verified { .. } => String::new(),
        }
    }

    fn key_of(pub_line: &str) -> KeyData {
        PublicKey::from_openssh(pub_line)
            .unwrap()
            .key_data()
            .clone()
    }

    #[test]
    fn allowed_signers_vector_parses() {
        let (keys, warnings) = parse_allowed_signers("as", ALLOWED).unwrap();
        assert!(warnings.is_empty());
        let entry = |i: usize| match &keys[i].origin {
            KeyOrigin::AllowedSigner(a) => a.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(keys[0].label.as_deref(), Some("alice@example.com"));
        assert_eq!(keys[0].block, 2);
        assert_eq!(entry(0).namespaces, Some(vec!["file".to_string()]));
        assert_eq!(keys[0].fingerprint, fingerprint_of(&key_of(ALICE_PUB)));
        assert_eq!(keys[1].label.as_deref(), Some("bob@example.com,bob"));
        assert_eq!(entry(1).principals, vec!["bob@example.com", "bob"]);
        assert_eq!(keys[1].material.kind(), "ssh-rsa");
        assert_eq!(keys[2].label.as_deref(), Some("carol@example.com"));
        assert_eq!(keys[2].material.kind(), "ssh-ecdsa");
        assert_eq!(entry(3).valid_before, Some(1_577_836_800)); // 2020-01-01
        assert_eq!(entry(4).valid_after, Some(4_070_952_000)); // 2099-01-01T12:00
        assert_eq!(
            entry(5).namespaces,
            Some(vec!["git".to_string(), "!file".to_string()])
        );
        assert!(entry(6).cert_authority);
        assert_eq!(entry(6).principals, vec!["*@example.com"]);
    }

    #[test]
    fn ed25519_sha512_vector_verifies_with_principal_as_signer() {
        let v = check(PAYLOAD, ALICE);
        assert_eq!(
            v,
            Verdict::verified(
                fingerprint_of(&key_of(ALICE_PUB)),
                Format::Ssh,
                Some("alice@example.com".into())
            )
        );
        // The same Ed25519 key has the same fingerprint in every kind of source.
        let KeyData::Ed25519(raw) = key_of(ALICE_PUB) else {
            panic!()
        };
        assert_eq!(v.key(), Some(Fingerprint::of_raw_key(&raw.0)));
    }

    #[test]
    fn sha256_rsa_and_ecdsa_vectors_verify() {
        assert!(check(PAYLOAD, ALICE_SHA256).is_verified());
        let bob = check(PAYLOAD, BOB);
        assert!(
            matches!(&bob, Verdict::Verified { signer: Some(s), .. } if s == "bob@example.com,bob"),
            "{bob:?}"
        );
        let carol = check(PAYLOAD, CAROL);
        assert!(carol.is_verified(), "{carol:?}");
    }

    #[test]
    fn needs_follow_the_hash_algorithm() {
        let o = opts();
        assert_eq!(
            needs(ALICE, &o),
            Needs {
                sha512: true,
                ..Needs::default()
            }
        );
        assert_eq!(needs(ALICE_SHA256, &o), Needs::default());
        assert_eq!(needs(b"junk", &o), Needs::default());
        assert_eq!(needs(ALICE, &Options::default()), Needs::default());
    }

    #[test]
    fn tampered_payload_is_invalid() {
        for sig in [ALICE, ALICE_SHA256, BOB, CAROL] {
            let v = check(PAYLOAD_TAMPERED, sig);
            assert_eq!(v.reason(), Some(Reason::Invalid), "{v:?}");
            assert_eq!(v.format(), Some(Format::Ssh));
            assert!(v.key().is_some());
        }
    }

    #[test]
    fn namespace_rules() {
        // Signed for "other" while the policy wants "file".
        let v = check(PAYLOAD, ALICE_OTHER);
        assert_eq!(v.reason(), Some(Reason::Invalid));
        assert!(detail(&v).contains("\"other\""), "{}", detail(&v));
        // A policy wanting "other": alice's entry allows only "file".
        let o = Options {
            ssh_namespace: Some("other".into()),
            ..opts()
        };
        let v = check_with(PAYLOAD, ALICE_OTHER, &store(), &o);
        assert_eq!(v.reason(), Some(Reason::Untrusted));
        assert!(detail(&v).contains("namespace"), "{}", detail(&v));
        // frank's entry says namespaces="git,!file".
        let v = check(PAYLOAD, FRANK);
        assert_eq!(v.reason(), Some(Reason::Untrusted));
        // No namespace in the policy: refused outright.
        let none = Options {
            ssh_namespace: None,
            ..opts()
        };
        let v = check_with(PAYLOAD, ALICE, &store(), &none);
        assert_eq!(v.reason(), Some(Reason::Malformed));
        assert!(detail(&v).contains("no ssh_namespace set in the policy"));
    }

    #[test]
    fn validity_windows() {
        let v = check(PAYLOAD, DAVE);
        assert_eq!(v.reason(), Some(Reason::Expired));
        assert!(
            detail(&v).contains("2020-01-01T00:00:00Z"),
            "{}",
            detail(&v)
        );
        let v = check(PAYLOAD, ERIN);
        assert_eq!(v.reason(), Some(Reason::Expired));
        assert!(detail(&v).contains("not yet valid"), "{}", detail(&v));
        // Inside dave's window.
        let early = Options {
            now: 1_500_000_000,
            ..opts()
        };
        assert!(check_with(PAYLOAD, DAVE, &store(), &early).is_verified());
        // valid-before is inclusive, as in OpenSSH.
        let edge = Options {
            now: 1_577_836_800,
            ..opts()
        };
        assert!(check_with(PAYLOAD, DAVE, &store(), &edge).is_verified());
        let late = Options {
            now: 4_070_952_000,
            ..opts()
        };
        assert!(check_with(PAYLOAD, ERIN, &store(), &late).is_verified());
    }

    #[test]
    fn stranger_is_untrusted_with_its_fingerprint() {
        let v = check(PAYLOAD, STRANGER);
        assert_eq!(v.reason(), Some(Reason::Untrusted));
        let key = key_of(STRANGER_PUB);
        assert_eq!(v.key(), Some(fingerprint_of(&key)));
        assert!(
            detail(&v).contains(&openssh_fingerprint(&key)),
            "{}",
            detail(&v)
        );
        assert!(openssh_fingerprint(&key).starts_with("SHA256:"));
        // The key trusted through a PEM/hex source only is still not enough.
        let KeyData::Ed25519(raw) = key else { panic!() };
        let mut ts = store();
        ts.add_file("stranger.public", hex::encode(raw.0).as_bytes())
            .unwrap();
        let v = check_with(PAYLOAD, STRANGER, &ts, &opts());
        assert_eq!(v.reason(), Some(Reason::Untrusted));
        assert!(
            detail(&v).contains("not through an allowed_signers file"),
            "{}",
            detail(&v)
        );
    }

    #[test]
    fn certificate_signatures_are_not_supported() {
        let sig = parse(GRACE_CERT).unwrap();
        assert!(
            matches!(&sig.key, SignerKey::Certificate(a) if a == "ssh-ed25519-cert-v01@openssh.com")
        );
        let v = check(PAYLOAD, GRACE_CERT);
        assert_eq!(v.reason(), Some(Reason::Untrusted));
        assert!(detail(&v).contains("certificate"), "{}", detail(&v));
    }

    #[test]
    fn cert_authority_key_does_not_sign_files() {
        // An entry for alice's key marked cert-authority only.
        let line = format!("alice@example.com cert-authority {}", ALICE_PUB.trim());
        let mut ts = TrustStore::new();
        ts.add_allowed_signers("ca", line.as_bytes()).unwrap();
        let v = check_with(PAYLOAD, ALICE, &ts, &opts());
        assert_eq!(v.reason(), Some(Reason::Untrusted));
        assert!(detail(&v).contains("cert-authority"), "{}", detail(&v));
    }

    #[test]
    fn revoked_key() {
        let mut ts = store();
        let fp = fingerprint_of(&key_of(ALICE_PUB));
        ts.revoke(fp);
        let v = check_with(PAYLOAD, ALICE, &ts, &opts());
        assert_eq!(v.reason(), Some(Reason::Revoked));
        assert_eq!(v.key(), Some(fp));
    }

    #[test]
    fn flipped_signature_bytes_are_invalid_or_malformed() {
        let blob = dearmor(ALICE).unwrap();
        let n = blob.len();
        // The last bytes are the Ed25519 signature itself.
        for pos in [n - 1, n - 40] {
            let mut b = blob.clone();
            b[pos] ^= 0x01;
            let armoured = format!(
                "{BEGIN}\n{}\n{END}\n",
                base64::engine::general_purpose::STANDARD.encode(&b)
            );
            let v = check(PAYLOAD, armoured.as_bytes());
            assert_eq!(v.reason(), Some(Reason::Invalid), "{v:?}");
        }
        // Anywhere else: a different key, namespace or structure.
        for pos in 0..n - 64 {
            let mut b = blob.clone();
            b[pos] ^= 0x20;
            let armoured = format!(
                "{BEGIN}\n{}\n{END}\n",
                base64::engine::general_purpose::STANDARD.encode(&b)
            );
            let v = check(PAYLOAD, armoured.as_bytes());
            assert!(!v.is_verified(), "byte {pos}: {v:?} {:02x?}", &b[..40]);
        }
    }

    #[test]
    fn truncated_garbage_and_oversized_files() {
        for cut in [0, 10, 30, 40, 100, ALICE.len() - 30] {
            let v = check(PAYLOAD, &ALICE[..cut]);
            assert!(
                matches!(v.reason(), Some(Reason::Malformed)),
                "cut at {cut}: {v:?}"
            );
        }
        let blob = dearmor(ALICE).unwrap();
        for cut in 0..blob.len() {
            assert!(parse_blob(&blob[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = blob.clone();
        trailing.push(0);
        assert!(parse_blob(&trailing).unwrap_err().contains("trailing"));
        let garbage = format!("{BEGIN}\n!!!!\n{END}\n");
        assert_eq!(
            check(PAYLOAD, garbage.as_bytes()).reason(),
            Some(Reason::Malformed)
        );
        let mut huge = format!("{BEGIN}\n").into_bytes();
        huge.extend_from_slice(&vec![b'A'; MAX_SIGNATURE_FILE]);
        assert_eq!(check(PAYLOAD, &huge).reason(), Some(Reason::Malformed));
        // A huge declared string length cannot make the reader allocate.
        let mut w = b"SSHSIG\0\0\0\x01\xff\xff\xff\xff".to_vec();
        w.extend_from_slice(&[0; 16]);
        assert!(parse_blob(&w).is_err());
        // CRLF armour is read as OpenSSH reads it.
        let crlf = std::str::from_utf8(ALICE).unwrap().replace('\n', "\r\n");
        assert!(check(PAYLOAD, crlf.as_bytes()).is_verified());
    }

    #[test]
    fn mutated_inputs_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ts = store();
        let blob = dearmor(BOB).unwrap();
        for _ in 0..3000 {
            for base in [ALLOWED, ALICE, BOB, blob.as_slice()] {
                let mut m = base.to_vec();
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() as usize) % m.len();
                    match next() % 3 {
                        0 => m[i] = next() as u8,
                        1 => m.truncate(i),
                        _ => m.insert(i, next() as u8),
                    }
                    if m.is_empty() {
                        break;
                    }
                }
                let _ = parse_allowed_signers("fuzz", &m);
                let _ = parse_blob(&m);
                let _ = check_with(PAYLOAD, &m, &ts, &opts());
            }
        }
    }

    #[test]
    fn rsa_sha1_signature_type_is_refused() {
        // Relabel bob's rsa-sha2-512 signature as SHA-1 "ssh-rsa".
        let sig = parse(BOB).unwrap();
        let mut w = Wire(&sig.signature);
        assert_eq!(w.text("alg").unwrap(), "rsa-sha2-512");
        let raw = w.string().unwrap();
        let mut sig_blob = Vec::new();
        put_string(&mut sig_blob, b"ssh-rsa");
        put_string(&mut sig_blob, raw);
        let SignerKey::Plain(key) = &sig.key else {
            panic!()
        };
        let mut blob = b"SSHSIG".to_vec();
        blob.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut blob, &PublicKey::from(key.clone()).to_bytes().unwrap());
        put_string(&mut blob, b"file");
        put_string(&mut blob, b"");
        put_string(&mut blob, b"sha512");
        put_string(&mut blob, &sig_blob);
        let armoured = format!(
            "{BEGIN}\n{}\n{END}\n",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        );
        let v = check(PAYLOAD, armoured.as_bytes());
        assert_eq!(v.reason(), Some(Reason::Invalid));
        assert!(detail(&v).contains("ssh-rsa is refused"), "{}", detail(&v));
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(ALICE), Sniff::Yes);
        assert_eq!(sniff(b"untrusted comment: x"), Sniff::No);
        assert_eq!(sniff(&[0u8; 256]), Sniff::No);
    }

    #[test]
    fn missing_sha512_is_an_internal_failure_not_a_pass() {
        let sha256: [u8; 32] = Sha256::digest(PAYLOAD).into();
        let subject = Subject::new(b"payload.txt", PAYLOAD.len() as u64, &sha256);
        let v = verify(&subject, ALICE, &Evidence::default(), &store(), &opts());
        assert_eq!(v.reason(), Some(Reason::Invalid));
        assert!(detail(&v).starts_with("internal:"));
    }

    #[test]
    fn signed_data_layout_matches_the_ssh_key_crate() {
        let digest = Sha512::digest(PAYLOAD);
        let ours = signed_data("file", SshHash::Sha512, &digest);
        let theirs =
            ssh_key::SshSig::signed_data("file", ssh_key::HashAlg::Sha512, PAYLOAD).unwrap();
        assert_eq!(ours, theirs);
        // And the crate's own verifier accepts the ssh-keygen signature.
        let sig = ssh_key::SshSig::from_pem(ALICE).unwrap();
        PublicKey::from_openssh(ALICE_PUB)
            .unwrap()
            .verify("file", PAYLOAD, &sig)
            .unwrap();
    }

    #[test]
    fn patterns() {
        assert!(match_pattern("file", "file"));
        assert!(match_pattern("file", "f*"));
        assert!(match_pattern("file", "*"));
        assert!(match_pattern("file", "f?le"));
        assert!(match_pattern("", "*"));
        assert!(match_pattern("", ""));
        assert!(!match_pattern("file", ""));
        assert!(!match_pattern("file", "fil"));
        assert!(match_pattern("a@example.com", "*@example.com"));
        assert!(match_pattern("aaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*b"));
        assert!(!match_pattern(
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "*a*a*a*a*a*a*a*a*b"
        ));
        let list = |s: &str| split_list(s);
        assert_eq!(match_pattern_list("file", &list("git,file")), 1);
        assert_eq!(match_pattern_list("file", &list("git,!file")), -1);
        assert_eq!(match_pattern_list("file", &list("*,!file")), -1);
        assert_eq!(match_pattern_list("file", &list("!git")), 0);
        assert_eq!(match_pattern_list("file", &list("")), 0);
        assert_eq!(match_pattern_list("file", &list("file,")), 1);
        assert_eq!(list("a,"), vec!["a"]);
        assert_eq!(list(",a"), vec!["", "a"]);
        let long = format!("file,{}", "x".repeat(1100));
        assert_eq!(match_pattern_list("file", &list(&long)), 0);
    }

    #[test]
    fn times() {
        assert_eq!(parse_absolute_time("20200101"), Some(1_577_836_800));
        assert_eq!(parse_absolute_time("20200101Z"), Some(1_577_836_800));
        assert_eq!(parse_absolute_time("20200101utc"), Some(1_577_836_800));
        assert_eq!(parse_absolute_time("202001011230"), Some(1_577_881_800));
        assert_eq!(parse_absolute_time("20200101123045Z"), Some(1_577_881_845));
        assert_eq!(
            parse_absolute_time("20200231"),
            parse_absolute_time("20200302")
        );
        // A leap second, as timegm counts it: the next minute's first.
        assert_eq!(parse_absolute_time("20191231235960"), Some(1_577_836_800));
        assert_eq!(parse_absolute_time("99991231"), Some(253_402_214_400));
        for bad in [
            "",
            "Z",
            "2020010",
            "202001011",
            "20201301",
            "20200100",
            "20200101246000",
            "2020-1-01",
            "19000101",
            "19700101",
            "+2020101",
        ] {
            assert_eq!(parse_absolute_time(bad), None, "{bad}");
        }
        assert_eq!(format_time(1_577_881_845), "2020-01-01T12:30:45Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
    }

    fn one(line: &str) -> Result<(Vec<TrustedKey>, Vec<String>), KeyFileError> {
        parse_allowed_signers("t", line.as_bytes())
    }

    #[test]
    fn allowed_signers_syntax() {
        let key = ALICE_PUB.trim();
        let bare = key.rsplit_once(' ').map(|(k, _)| k).unwrap();
        let entry = |line: &str| -> AllowedSigner {
            match &one(line).unwrap().0[0].origin {
                KeyOrigin::AllowedSigner(a) => a.clone(),
                o => panic!("{o:?}"),
            }
        };
        // Comments, blank lines, CRLF, tabs, leading blanks.
        let text = format!("# c\n\n  \t\na@b\t{bare}\r\n   # x\n");
        assert_eq!(one(&text).unwrap().0.len(), 1);
        // Quoted principals with a space; options in any case; escaped quotes.
        let e = entry(&format!(
            "\"a b,c\" NAMESPACES=\"x,y\",Cert-Authority {bare}"
        ));
        assert_eq!(e.principals, vec!["a b", "c"]);
        assert_eq!(e.namespaces, Some(vec!["x".to_string(), "y".to_string()]));
        assert!(e.cert_authority);
        let e = entry(&format!("p namespaces=\"a\\\"b\" {bare}"));
        assert_eq!(e.namespaces, Some(vec!["a\"b".to_string()]));
        let e = entry(&format!("p namespaces=\"with space\" {bare} comment words"));
        assert_eq!(e.namespaces, Some(vec!["with space".to_string()]));
        let e = entry(&format!(
            "p valid-after=\"20200101\",valid-before=\"20300101Z\" {bare}"
        ));
        assert_eq!(
            (e.valid_after, e.valid_before),
            (Some(1_577_836_800), Some(1_893_456_000))
        );
        // The comment after the key is kept on the key.
        let (keys, _) = one(&format!("p {key}")).unwrap();
        let KeyMaterial::Ssh(pk) = &keys[0].material else {
            panic!()
        };
        assert_eq!(pk.comment(), "alice_ed25519");
        // Errors name the line.
        let bad = |line: &str, want: &str| match one(&format!("# first\n{line}")) {
            Err(KeyFileError::Line { line: 2, message }) => {
                assert!(message.contains(want), "{line:?}: {message}")
            }
            other => panic!("{line:?}: {other:?}"),
        };
        bad("principal-only", "invalid line");
        bad("p", "invalid line");
        bad("p ", "missing key");
        bad(&format!("p bogus-option {bare}"), "unknown key option");
        bad(&format!("p cert-authorityx {bare}"), "unknown key option");
        bad(&format!("p verify-required {bare}"), "unknown key option");
        bad(&format!("p namespaces=file {bare}"), "missing start quote");
        bad(
            &format!("p namespaces=\"a\",namespaces=\"b\" {bare}"),
            "multiple",
        );
        bad(&format!("p valid-before=\"2020\" {bare}"), "valid-before");
        bad(
            &format!("p valid-after=\"20300101\",valid-before=\"20200101\" {bare}"),
            "before",
        );
        bad(&format!("p cert-authority, {bare}"), "end-of-options");
        bad(&format!("p namespaces=\"a {bare}"), "unterminated");
        bad("\"unterminated ssh-ed25519 AAAA", "invalid line");
        bad("p ssh-ed25519 !!!!", "base64");
        bad("p ssh-ed25519 AAAA", "invalid");
        bad(
            "p ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIKuT8cgn49IxRuyiYEpzMIOecegXzXv49HZw7B8VeHhn",
            "",
        );
        bad(
            &format!("p {}", bare.replace("ssh-ed25519", "ssh-rsa")),
            "does not match",
        );
        // OpenSSH: only the quoted part is the principal list, ",bob" is
        // then read as options.
        bad(&format!("\"a\",b {bare}"), "unknown key option");
        bad("p\u{0}x ssh-ed25519 AAAA", "NUL");
        assert!(matches!(
            parse_allowed_signers("t", b"\xff\xfe"),
            Err(KeyFileError::Line { line: 1, .. })
        ));
        // Unsupported key types are skipped with a warning.
        let mut dss_blob = Vec::new();
        put_string(&mut dss_blob, b"ssh-dss");
        put_string(&mut dss_blob, &[1; 20]);
        let dss = format!(
            "p ssh-dss {}",
            base64::engine::general_purpose::STANDARD.encode(&dss_blob)
        );
        let (keys, warnings) = one(&format!("{dss}\np {key}")).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("ssh-dss"), "{warnings:?}");
        // Empty file: no keys, no error (an empty allowed_signers is valid).
        assert_eq!(one("").unwrap().0.len(), 0);
    }

    #[test]
    fn sk_ed25519_signature_layout() {
        // No security key here: build an sk-ssh-ed25519 key and signature by
        // hand following PROTOCOL.u2f, to check the layout we verify.
        use ed25519_dalek::Signer as _;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let app = "ssh:";
        let mut key_blob = Vec::new();
        put_string(&mut key_blob, b"sk-ssh-ed25519@openssh.com");
        put_string(&mut key_blob, sk.verifying_key().as_bytes());
        put_string(&mut key_blob, app.as_bytes());
        let key = PublicKey::from_bytes(&key_blob).unwrap();
        let line = format!(
            "u@x sk-ssh-ed25519@openssh.com {}",
            base64::engine::general_purpose::STANDARD.encode(&key_blob)
        );
        let mut ts = TrustStore::new();
        ts.add_allowed_signers("sk", line.as_bytes()).unwrap();
        let digest = Sha256::digest(PAYLOAD);
        let message = signed_data("file", SshHash::Sha256, &digest);
        let (flags, counter) = (1u8, 42u32);
        let mut m = Sha256::digest(app.as_bytes()).to_vec();
        m.push(flags);
        m.extend_from_slice(&counter.to_be_bytes());
        m.extend_from_slice(&Sha256::digest(&message));
        let raw = sk.sign(&m).to_bytes();
        let mut sig_blob = Vec::new();
        put_string(&mut sig_blob, b"sk-ssh-ed25519@openssh.com");
        put_string(&mut sig_blob, &raw);
        sig_blob.push(flags);
        sig_blob.extend_from_slice(&counter.to_be_bytes());
        let mut blob = b"SSHSIG".to_vec();
        blob.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut blob, &key_blob);
        put_string(&mut blob, b"file");
        put_string(&mut blob, b"");
        put_string(&mut blob, b"sha256");
        put_string(&mut blob, &sig_blob);
        let armoured = format!(
            "{BEGIN}\n{}\n{END}\n",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        );
        let v = check_with(PAYLOAD, armoured.as_bytes(), &ts, &opts());
        assert_eq!(
            v,
            Verdict::verified(
                fingerprint_of(key.key_data()),
                Format::Ssh,
                Some("u@x".into())
            )
        );
        assert_eq!(
            check_with(PAYLOAD_TAMPERED, armoured.as_bytes(), &ts, &opts()).reason(),
            Some(Reason::Invalid)
        );
    }
}
