//! The status of a running agent, as one typed value.
//!
//! [`crate::metrics::Metrics::status`] fills a [`Status`] from the counters
//! and the state the agent holds; everything that shows a status renders
//! this one value, so they never disagree:
//!
//! * the control socket serialises it (serde) for `sigward status --json`,
//!   and `sigward status` reads it back into the same struct;
//! * [`prometheus`] encodes it in the Prometheus text format (version
//!   0.0.4) with the `prometheus-client` crate, for `sigward status
//!   --prometheus` and the metrics file;
//! * [`human`] renders the table of `sigward status`, also logged on
//!   SIGUSR1.
//!
//! Field names are the JSON members: renaming one is a change of the
//! documented `--json` format (`docs/operations.md`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod human;
mod prometheus;

pub use human::human;
pub use prometheus::prometheus;

/// The whole status of a running agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The agent's version.
    pub version: String,
    /// The agent's pid.
    pub pid: u32,
    /// When it started (Unix seconds).
    pub started_at: u64,
    /// The same, RFC 3339.
    pub started_at_rfc3339: String,
    /// Seconds since it started.
    pub uptime_seconds: u64,
    /// The mode of the policy in force: every protected tree's mode when
    /// they agree (`enforce`, `audit`, `off`), `mixed` when they differ
    /// (see `trees`), the policy's own mode when it protects no tree.
    pub mode: String,
    /// Whether the policy on disk is the policy in force.
    pub state: Health,
    /// Why not, while [`Health::Degraded`].
    pub degraded: Option<DegradedStatus>,
    /// How the last reload ended (none yet: `None`).
    pub last_reload: Option<LastReload>,
    /// The policy in force.
    pub policy: PolicyStatus,
    /// Its protected trees, innermost first.
    pub trees: Vec<TreeStatus>,
    /// Optional trees (`required = false`) whose directory does not exist.
    pub absent_trees: Vec<String>,
    /// Writable overlays over protected trees, as last looked for.
    pub overlay_views: Vec<OverlayStatus>,
    /// Directories marked since start (every walk counts).
    pub directories_marked: u64,
    /// Permission events read.
    pub events: u64,
    /// Events answered, by decision (`allow`, `deny`, `would-deny`).
    pub verdicts: BTreeMap<String, u64>,
    /// Events answered, by decision and reason. A reason that goes with a
    /// decision is always present, others only once counted.
    pub reasons: BTreeMap<String, BTreeMap<String, u64>>,
    /// Allows by the thread that answered them.
    pub allows: Allows,
    /// The verdict cache.
    pub cache: CacheStatus,
    /// Verifications by the workers.
    pub verifications: Verifications,
    /// Kernel ignore marks on verified files.
    pub kernel_cache: KernelCacheStatus,
    /// Events handed to the workers.
    pub queue: Queue,
    /// Time from reading an event to a worker's answer.
    pub latency: Latency,
    /// Reloads since start.
    pub reloads: Reloads,
    /// Records lost on the way to the journal.
    pub audit: AuditStatus,
    /// The metrics file, when one is configured.
    pub metrics_file: Option<MetricsFileStatus>,
    /// The event loop's health.
    pub event_loop: EventLoop,
    /// systemd's watchdog interval, when enabled.
    pub watchdog_seconds: Option<f64>,
    /// Recent denials (and would-denies), newest first.
    pub last_denials: Vec<DenialStatus>,
}

/// Whether the policy on disk is the policy in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// It is.
    Ok,
    /// It cannot be loaded; an older policy is enforced.
    Degraded,
}

/// The policy on disk cannot be loaded, and an older one is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DegradedStatus {
    /// Why (file and line at fault).
    pub reason: String,
    /// The file at fault.
    pub file: String,
    /// Since when (Unix seconds).
    pub since: u64,
    /// The same, RFC 3339.
    pub since_rfc3339: String,
    /// When the policy in force was saved as the last good one, when the
    /// agent started from it.
    pub last_good_saved_at: Option<u64>,
    /// The same, RFC 3339.
    pub last_good_saved_at_rfc3339: Option<String>,
}

/// How the last reload ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReload {
    /// Applied (`true`) or refused.
    pub ok: bool,
    /// When it ended (Unix seconds).
    pub at: u64,
    /// The same, RFC 3339.
    pub at_rfc3339: String,
    /// Why it was refused (`FILE:LINE: message`).
    pub error: Option<String>,
}

/// The policy in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// Its main file.
    pub file: String,
    /// Its generation (1 at start, +1 per applied reload).
    pub generation: u64,
    /// Its own `mode` (what applies outside every tree).
    pub mode: String,
    /// The digest of the effective policy with its key material (see
    /// `sigward check --help`): equal on hosts that enforce the same.
    pub digest: String,
    /// Keys expiring within this many days are `expires-soon`.
    pub expiry_warning_days: u64,
    /// The trusted keys, with their validity now.
    pub keys: Vec<crate::fleet::KeyInfo>,
    /// When it was put in force (Unix seconds).
    pub loaded_at: u64,
    /// The same, RFC 3339.
    pub loaded_at_rfc3339: String,
}

/// A protected tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeStatus {
    /// Its root.
    pub path: String,
    /// Its mode.
    pub mode: String,
    /// Directories marked in it.
    pub directories: u64,
    /// `protect.untrusted_writers`: `refuse` or `allow`.
    pub untrusted_writers: String,
    /// Whether a filesystem mark covers it (new directories are checked
    /// before the agent marks them).
    pub filesystem_mark: bool,
}

/// A writable overlay over a protected tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayStatus {
    /// The tree.
    pub tree: String,
    /// Where the overlay is mounted.
    pub mount_point: String,
    /// Its upper (writable) layer.
    pub upper: String,
    /// A process that sees it.
    pub pid: i32,
}

/// Allows by the thread that answered them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allows {
    /// On the event thread, without a verification.
    pub event_thread: u64,
    /// By a worker.
    pub worker: u64,
}

/// The verdict cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStatus {
    /// Verdicts cached now.
    pub entries: u64,
    /// Its capacity.
    pub capacity: u64,
    /// Lookups that found a verdict.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
}

impl CacheStatus {
    /// The share of lookups that found a verdict, when there were any.
    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.hits.saturating_add(self.misses);
        (total > 0).then(|| self.hits as f64 / total as f64)
    }
}

/// Verifications by the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifications {
    /// Files read, hashed and verified.
    pub run: u64,
    /// Events that waited for a verification of the same file.
    pub coalesced: u64,
    /// Files verified ahead of any open, in the directory of a file just
    /// verified (`agent.verify_ahead`).
    pub ahead: u64,
}

/// Kernel ignore marks on verified files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCacheStatus {
    /// Marks tracked now.
    pub marks: u64,
    /// Placed since start.
    pub placed: u64,
    /// Removed by reloads since start.
    pub dropped: u64,
}

/// Events handed to the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    /// Handed over and not answered yet.
    pub depth: u64,
    /// The largest depth seen.
    pub max_depth: u64,
    /// Handed over since start.
    pub jobs: u64,
}

/// The verification latency histogram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Observations.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
    /// Cumulative buckets, the last one `+Inf`.
    pub buckets: Vec<Bucket>,
}

impl Latency {
    /// The upper bound of the first bucket that holds `q` (0 to 1) of the
    /// observations: an approximate quantile. `None` before the first.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let want = (self.count as f64 * q).ceil() as u64;
        self.buckets.iter().find(|b| b.count >= want).map(|b| b.le)
    }

    /// The largest finite bucket bound, in seconds (0 without buckets).
    pub fn top_bound(&self) -> f64 {
        self.buckets
            .iter()
            .map(|b| b.le)
            .filter(|le| le.is_finite())
            .fold(0.0, f64::max)
    }

    /// The mean, in seconds, when there were observations.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_seconds / self.count as f64)
    }
}

/// One cumulative histogram bucket.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Its upper bound in seconds (`+Inf` for the last), written as a
    /// decimal string (`"0.00005"`, `"+Inf"`).
    #[serde(with = "le_label")]
    pub le: f64,
    /// Observations at or below it.
    pub count: u64,
}

/// Reloads since start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloads {
    /// Applied.
    pub ok: u64,
    /// Refused.
    pub failed: u64,
}

/// Records lost on the way to the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStatus {
    /// Records (audit and others) dropped because a log queue was full.
    pub dropped: u64,
}

/// The metrics file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsFileStatus {
    /// Where.
    pub path: String,
    /// How often it is written, in seconds.
    pub interval_seconds: u64,
    /// Failed writes since start.
    pub write_errors: u64,
}

/// The event loop's health.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLoop {
    /// Seconds since its last iteration (it beats at least once a second).
    pub heartbeat_age_seconds: f64,
    /// Permission events it could not read (out of descriptors).
    pub events_lost: u64,
}

/// One recent denial (or would-deny).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialStatus {
    /// When (Unix seconds).
    pub time: u64,
    /// The same, RFC 3339.
    pub time_rfc3339: String,
    /// `deny` or `would-deny`.
    pub decision: String,
    /// The file, as text (see `path_hex` for names that are not UTF-8).
    pub path: String,
    /// The file's name bytes in hex, when it is not UTF-8.
    pub path_hex: Option<String>,
    /// The reason word.
    pub reason: String,
    /// One readable sentence.
    pub detail: String,
    /// The opener.
    pub pid: i32,
    /// The opener's executable, when known.
    pub exe: Option<String>,
}

/// A bucket bound as Prometheus writes it in `le`: a decimal number of
/// seconds, or `+Inf`.
mod le_label {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(le: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*le))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "+Inf" => Ok(f64::INFINITY),
            other => other
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| D::Error::custom(format!("bad bucket bound {s:?}"))),
        }
    }

    /// `0.00005`, `2.5`, `10`, `+Inf`.
    pub(super) fn text(le: f64) -> String {
        if le.is_infinite() {
            "+Inf".to_string()
        } else {
            format!("{le}")
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A status with something in every part (see
    /// `metrics::tests::sample`), of version 9.9.9.
    pub(crate) fn sample() -> Status {
        let (m, live) = crate::metrics::tests::sample();
        let mut s = m.status(&live);
        s.version = "9.9.9".into();
        s.last_reload = Some(LastReload {
            ok: false,
            at: 1_767_225_600,
            at_rfc3339: "2026-01-01T00:00:00Z".into(),
            error: Some("/etc/sigward/policy.toml:3: bad".into()),
        });
        s
    }

    #[test]
    fn the_wire_form_reads_back_as_it_was() {
        let s = sample();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Status>(&text).unwrap(), s);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["state"], "ok");
        assert_eq!(v["latency"]["buckets"][0]["le"], "0.00005");
        assert_eq!(v["latency"]["buckets"][16]["le"], "10");
        assert_eq!(v["latency"]["buckets"][17]["le"], "+Inf");
        assert_eq!(v["last_reload"]["error"], "/etc/sigward/policy.toml:3: bad");
        assert!(v["degraded"].is_null());
    }

    #[test]
    fn a_missing_member_is_an_error_not_a_zero() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["cache"].as_object_mut().unwrap().remove("hits");
        let e = serde_json::from_value::<Status>(v).unwrap_err();
        assert!(e.to_string().contains("hits"), "{e}");
        for bad in ["1e999", "fast", "-Inf"] {
            let mut v = serde_json::to_value(sample()).unwrap();
            v["latency"]["buckets"][0]["le"] = bad.into();
            assert!(serde_json::from_value::<Status>(v).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantiles_and_rates() {
        let s = sample();
        assert_eq!(s.latency.quantile(0.5), Some(0.001));
        assert_eq!(s.latency.quantile(0.99), Some(f64::INFINITY));
        assert!(s.cache.hit_rate().unwrap() > 0.33);
        let empty = crate::metrics::Metrics::new().status(&Default::default());
        assert_eq!(empty.latency.quantile(0.5), None);
        assert_eq!(empty.cache.hit_rate(), None);
    }
}
