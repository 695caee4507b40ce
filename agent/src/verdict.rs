//! The verdict core: what the agent answers and why, decided from facts,
//! with no system call. The event thread and the workers gather the facts
//! (the file's identity, the cache, the verification outcome) and do the
//! I/O; the decisions themselves are made here, and unit-tested without
//! root.

use sigward_policy::config::Mode;
use sigward_policy::{Reason, Verdict};

/// What was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Denied (enforce).
    Deny,
    /// Allowed in audit mode, but enforce would have denied.
    WouldDeny,
    /// Allowed.
    Allow,
}

impl Decision {
    /// The word used in the `SIGWARD_DECISION` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Deny => "deny",
            Decision::WouldDeny => "would-deny",
            Decision::Allow => "allow",
        }
    }

    /// Whether the answer lets the open through (everything but a deny).
    pub fn allows(self) -> bool {
        self != Decision::Deny
    }
}

/// Why an event got its answer: the `reason` of a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The agent's own open (answered on the event thread).
    OwnOpen,
    /// A directory (event thread).
    Directory,
    /// An empty regular file (event thread).
    Empty,
    /// A signature file opened for reading (event thread).
    SignatureRead,
    /// A tree (or the policy) in mode `off` (event thread).
    ModeOff,
    /// A file outside every tree, on a filesystem whose mark guards a tree
    /// that is a mount of its own (event thread).
    OutsideTrees,
    /// A cached verified verdict (event thread).
    Cached,
    /// Verified by a worker.
    Verified,
    /// Verified by a key that is not trusted (`allow_self_signed`).
    SelfSigned,
    /// Trusted without a signature: its content's SHA-256 is on the
    /// policy's allow list (`allow_sha256`).
    Listed,
    /// An AiSOC manifest read (covered by the bundle signature).
    AisocManifest,
    /// A data file of a verified AiSOC bundle read without a signature of
    /// its own (`protect.bundle_data`).
    BundleData,
    /// Refused by verification.
    Rejected(Reason),
    /// No verdict could be reached (the file could not be examined, or
    /// the agent was stopping): the fail-closed answer of the mode.
    Error,
}

impl Why {
    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::OwnOpen => "own-open",
            Why::Directory => "directory",
            Why::Empty => "empty",
            Why::SignatureRead => "signature-read",
            Why::ModeOff => "mode-off",
            Why::OutsideTrees => "outside-trees",
            Why::Cached => "cached",
            Why::Verified => "verified",
            Why::SelfSigned => "self-signed",
            Why::Listed => "allow-sha256",
            Why::AisocManifest => "aisoc-manifest",
            Why::BundleData => "bundle-data",
            Why::Rejected(r) => r.as_str(),
            Why::Error => "error",
        }
    }
}

/// The answer to an event whose file was verified (or whose verification
/// outcome was cached), and what its record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// The answer, as counted and recorded.
    pub decision: Decision,
    /// The reason label (metrics).
    pub why: Why,
    /// The record's reason word: a rejection's reason, `self-signed`, or
    /// none for a plain allow.
    pub reason: Option<&'static str>,
    /// The record's sentence.
    pub detail: String,
    /// Whether a record is written: every refusal (or would-be refusal),
    /// every self-signed allow, every allow with warnings (a file the
    /// signing system's own loader would refuse), and other allows only
    /// with `log_allowed`.
    pub record: bool,
    /// The verdict's warnings (`SIGWARD_HOST_WARNING`).
    pub warnings: Vec<String>,
}

impl Judgement {
    /// Judges a verification outcome under `mode`.
    pub fn of(verdict: &Verdict, mode: Mode, log_allowed: bool) -> Judgement {
        let decision = match (verdict.is_verified(), mode) {
            (true, _) => Decision::Allow,
            (false, Mode::Enforce) => Decision::Deny,
            (false, _) => Decision::WouldDeny,
        };
        // A self-signed allow is always recorded: it rests on an untrusted key.
        let self_signed = verdict.is_self_signed();
        let (why, reason, detail) = match verdict {
            Verdict::Verified { .. } if self_signed => (
                Why::SelfSigned,
                Some("self-signed"),
                String::from("valid signature by a key that is not trusted (allow_self_signed)"),
            ),
            Verdict::Verified { warnings, .. } => (Why::Verified, None, verified_detail(warnings)),
            Verdict::Listed { sha256 } => (
                Why::Listed,
                Some("allow-sha256"),
                format!(
                    "content sha256 {} is on the policy's allow list (allow_sha256)",
                    hex::encode(sha256)
                ),
            ),
            Verdict::Rejected { reason, detail, .. } => (
                Why::Rejected(*reason),
                Some(reason.as_str()),
                detail.clone(),
            ),
        };
        Judgement {
            decision,
            why,
            reason,
            detail,
            record: decision != Decision::Allow
                || log_allowed
                || self_signed
                || !verdict.warnings().is_empty(),
            warnings: verdict.warnings().to_vec(),
        }
    }
}

/// The sentence of a verified file: `signature verified`, followed by the
/// verdict's warnings (what the signing system's own tool refuses).
pub fn verified_detail(warnings: &[String]) -> String {
    let mut detail = String::from("signature verified");
    for w in warnings {
        detail.push_str("; warning: ");
        detail.push_str(w);
    }
    detail
}

/// The detail of a read allowed as bundle data.
pub const BUNDLE_DATA_DETAIL: &str = "not signed itself: a data file (protect.bundle_data) of an \
     AiSOC plugin whose plugin.sig verifies, allowed for reading only";

/// The detail of an exec of a file that was allowed as bundle data.
pub const BUNDLE_DATA_EXEC: &str =
    "a data file of an AiSOC plugin (protect.bundle_data) is never executed";

impl Judgement {
    /// Judges an outcome that allows a file as bundle data: a read is
    /// allowed (`bundle-data`, recorded only with `log_allowed`); an exec
    /// never is (`unsigned`), whoever asked for the verification (events
    /// parked behind a read, a cached outcome).
    pub fn of_bundle_data(
        verdict: &Verdict,
        exec: bool,
        mode: Mode,
        log_allowed: bool,
    ) -> Judgement {
        if exec || !verdict.is_verified() {
            let refused = if verdict.is_verified() {
                Verdict::reject(Reason::Unsigned, BUNDLE_DATA_EXEC, None)
            } else {
                verdict.clone()
            };
            return Judgement::of(&refused, mode, log_allowed);
        }
        Judgement {
            decision: Decision::Allow,
            why: Why::BundleData,
            reason: Some("bundle-data"),
            detail: BUNDLE_DATA_DETAIL.to_string(),
            record: log_allowed,
            warnings: Vec::new(),
        }
    }
}

/// How a fail-closed (or, outside enforce mode, fail-open) answer counts:
/// an event that got no verdict (the file could not be examined, the
/// agent was stopping) is denied in enforce mode and allowed otherwise.
pub fn failure_decision(allow: bool) -> Decision {
    if allow {
        Decision::WouldDeny
    } else {
        Decision::Deny
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn rejected(reason: Reason) -> Verdict {
        Verdict::reject(reason, format!("{} for the test", reason.as_str()), None)
    }

    #[test]
    fn a_rejection_is_denied_in_enforce_and_recorded_in_every_mode() {
        for (mode, want) in [
            (Mode::Enforce, Decision::Deny),
            (Mode::Audit, Decision::WouldDeny),
        ] {
            let j = Judgement::of(&rejected(Reason::Tampered), mode, false);
            assert_eq!(j.decision, want);
            assert_eq!(j.why, Why::Rejected(Reason::Tampered));
            assert_eq!(j.reason, Some("tampered"));
            assert_eq!(j.detail, "tampered for the test");
            assert!(j.record);
            assert_eq!(j.decision.allows(), mode != Mode::Enforce);
        }
    }

    #[test]
    fn bundle_data_is_read_never_executed() {
        let ok = Verdict::verified(
            sigward_policy::Fingerprint::of_raw_key(&[1; 32]),
            sigward_policy::Format::Aisoc,
            None,
        );
        let j = Judgement::of_bundle_data(&ok, false, Mode::Enforce, false);
        assert_eq!(
            (j.decision, j.why, j.record),
            (Decision::Allow, Why::BundleData, false)
        );
        assert!(Judgement::of_bundle_data(&ok, false, Mode::Enforce, true).record);
        let j = Judgement::of_bundle_data(&ok, true, Mode::Enforce, false);
        assert_eq!(j.decision, Decision::Deny);
        assert_eq!(j.why, Why::Rejected(Reason::Unsigned));
        assert_eq!(j.detail, BUNDLE_DATA_EXEC);
        assert!(j.record);
        let j = Judgement::of_bundle_data(&ok, true, Mode::Audit, false);
        assert_eq!(j.decision, Decision::WouldDeny);
        let j = Judgement::of_bundle_data(&rejected(Reason::Invalid), false, Mode::Enforce, false);
        assert_eq!(j.why, Why::Rejected(Reason::Invalid));
        assert_eq!(Why::BundleData.as_str(), "bundle-data");
    }

    #[test]
    fn failures_close_in_enforce_only() {
        assert_eq!(failure_decision(false), Decision::Deny);
        assert_eq!(failure_decision(true), Decision::WouldDeny);
    }

    #[test]
    fn labels_are_stable() {
        // Dashboards and journal queries use these words.
        assert_eq!(Decision::WouldDeny.as_str(), "would-deny");
        assert_eq!(Why::OutsideTrees.as_str(), "outside-trees");
        assert_eq!(Why::Rejected(Reason::Unsigned).as_str(), "unsigned");
    }
}
