//! Counters and state of the running agent: what `sigward status` shows,
//! and what the metrics file (Prometheus text format) holds.
//!
//! The event thread only ever touches relaxed atomics here: no lock, no
//! allocation, no system call beyond reading the monotonic clock. Workers
//! also append to the small ring of recent denials (a mutex held for a
//! push); the reload path and the control thread use the policy state
//! (another mutex the event thread never takes).
//!
//! [`Metrics::status`] (`snapshot.rs`) takes a snapshot of all of it as one
//! typed [`crate::status::Status`], which [`crate::status`] serialises and renders.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sigward_policy::Reason;

use crate::verdict::{Decision, Why};

mod snapshot;

/// Upper bounds of the verification latency histogram, in microseconds
/// (50 µs to 10 s); a last `+Inf` bucket follows.
pub const LATENCY_BUCKETS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// How many recent denials are kept.
pub const LAST_DENIALS: usize = 20;

const REJECTIONS: [Reason; 8] = Reason::ALL;

/// Every reason, in the order they are shown.
const ALL_WHY: [Why; 21] = [
    Why::Verified,
    Why::SelfSigned,
    Why::Listed,
    Why::Cached,
    Why::Empty,
    Why::Directory,
    Why::SignatureRead,
    Why::AisocManifest,
    Why::BundleData,
    Why::ModeOff,
    Why::OutsideTrees,
    Why::OwnOpen,
    Why::Rejected(REJECTIONS[0]),
    Why::Rejected(REJECTIONS[1]),
    Why::Rejected(REJECTIONS[2]),
    Why::Rejected(REJECTIONS[3]),
    Why::Rejected(REJECTIONS[4]),
    Why::Rejected(REJECTIONS[5]),
    Why::Rejected(REJECTIONS[6]),
    Why::Rejected(REJECTIONS[7]),
    Why::Error,
];

const NWHY: usize = ALL_WHY.len();

/// Decisions, in the order they are shown.
const DECISIONS: [Decision; 3] = [Decision::Allow, Decision::Deny, Decision::WouldDeny];

impl Why {
    fn index(self) -> usize {
        match self {
            Why::Verified => 0,
            Why::SelfSigned => 1,
            Why::Cached => 2,
            Why::Empty => 3,
            Why::Directory => 4,
            Why::SignatureRead => 5,
            Why::AisocManifest => 6,
            Why::ModeOff => 7,
            Why::OwnOpen => 8,
            Why::Rejected(Reason::Unsigned) => 9,
            Why::Rejected(Reason::Malformed) => 10,
            Why::Rejected(Reason::Tampered) => 11,
            Why::Rejected(Reason::Untrusted) => 12,
            Why::Rejected(Reason::Invalid) => 13,
            Why::Rejected(Reason::Revoked) => 14,
            Why::Rejected(Reason::Expired) => 15,
            Why::Rejected(Reason::Writable) => 16,
            Why::Error => 17,
            Why::OutsideTrees => 18,
            Why::Listed => 19,
            Why::BundleData => 20,
        }
    }

    /// Whether an allow for this reason is answered on the event thread.
    fn on_event_thread(self) -> bool {
        matches!(
            self,
            Why::OwnOpen
                | Why::Directory
                | Why::Empty
                | Why::SignatureRead
                | Why::ModeOff
                | Why::OutsideTrees
                | Why::Cached
        )
    }

    /// Whether this reason goes with `decision` (the series always shown).
    fn fits(self, decision: Decision) -> bool {
        match self {
            Why::Rejected(_) | Why::Error => decision != Decision::Allow,
            _ => decision == Decision::Allow,
        }
    }
}

fn decision_index(d: Decision) -> usize {
    match d {
        Decision::Allow => 0,
        Decision::Deny => 1,
        Decision::WouldDeny => 2,
    }
}

/// One recent denial (or audit-mode would-deny).
#[derive(Clone, Debug)]
pub struct Denial {
    /// Seconds since the epoch.
    pub time: u64,
    /// Deny or would-deny.
    pub decision: Decision,
    /// The file.
    pub path: PathBuf,
    /// The reason word.
    pub reason: &'static str,
    /// One readable sentence.
    pub detail: String,
    /// The opener.
    pub pid: i32,
    /// The opener's executable, when known.
    pub exe: Option<String>,
}

/// A protected tree as loaded.
#[derive(Clone, Debug)]
pub struct TreeState {
    /// Its root.
    pub root: PathBuf,
    /// Its mode.
    pub mode: &'static str,
    /// Directories marked in it (at load or reload, then as new
    /// directories appear).
    pub directories: u64,
    /// `protect.untrusted_writers`: `refuse` or `allow`.
    pub untrusted_writers: &'static str,
    /// Whether the tree is a whole filesystem with a filesystem mark, so
    /// that new directories are checked before the agent marks them.
    pub filesystem_mark: bool,
}

/// A policy put in force, as the status shows it.
#[derive(Clone, Debug, Default)]
pub struct PolicyFacts {
    /// Its generation.
    pub generation: u64,
    /// Its main file.
    pub source: PathBuf,
    /// Its own `mode` (files outside every tree).
    pub global_mode: &'static str,
    /// Its trees.
    pub trees: Vec<TreeState>,
    /// [`crate::fleet::digest`].
    pub digest: String,
    /// Its trusted keys (their validity is computed again at every
    /// status).
    pub keys: Vec<crate::fleet::KeyInfo>,
    /// `trust.expiry_warning_days`, or the default.
    pub expiry_warning_days: u64,
}

/// The policy in force.
#[derive(Clone, Debug, Default)]
struct PolicyState {
    loaded_at: u64,
    facts: PolicyFacts,
    /// Writable overlays over protected trees, as last looked for.
    overlay_views: Vec<crate::views::UncoveredView>,
    /// Set while the policy on disk is not the policy in force.
    degraded: Option<Degraded>,
    /// Optional trees whose directory does not exist.
    absent_trees: Vec<PathBuf>,
    /// The last reload's result.
    last_reload: Option<ReloadResult>,
}

/// The policy on disk is not the policy in force: it cannot be loaded, and
/// the agent enforces an older one (the last good policy at start-up, the
/// previous generation after a refused reload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Degraded {
    /// Why the policy on disk cannot be loaded (file and line at fault).
    pub reason: String,
    /// The file at fault.
    pub file: PathBuf,
    /// Since when (Unix seconds).
    pub since: u64,
    /// When the policy in force was saved as the last good one, when the
    /// agent started from it.
    pub last_good_saved_at: Option<u64>,
}

/// How a reload ended.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReloadResult {
    ok: bool,
    at: u64,
    error: Option<String>,
}

/// What the agent knows besides the counters, when a status is built.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// Verdicts cached now.
    pub cache_entries: usize,
    /// Cache capacity.
    pub cache_capacity: usize,
    /// Kernel ignore marks the agent tracks now.
    pub kernel_marks: usize,
    /// Kernel ignore marks placed since start.
    pub kernel_marks_placed: u64,
    /// Kernel ignore marks removed by reloads since start.
    pub kernel_marks_dropped: u64,
    /// Permission events the agent could not read (out of descriptors).
    pub events_lost: u64,
    /// Records (audit records and others) dropped because a log queue was
    /// full: journald, or the reader of stderr, did not keep up.
    pub audit_dropped: u64,
    /// The metrics file in force, if any.
    pub metrics_file: Option<PathBuf>,
    /// Its interval, in seconds.
    pub metrics_interval: u64,
    /// systemd's watchdog interval, when enabled.
    pub watchdog: Option<Duration>,
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// The agent's counters and state.
pub struct Metrics {
    start: Instant,
    started_at: u64,
    events: AtomicU64,
    verdicts: [[AtomicU64; NWHY]; 3],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    verifications: AtomicU64,
    verified_ahead: AtomicU64,
    coalesced: AtomicU64,
    /// Per bucket (not cumulative); the last one is `+Inf`.
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    jobs_sent: AtomicU64,
    jobs_done: AtomicU64,
    queue_max: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    directories_marked: AtomicU64,
    /// Milliseconds since `start` at the event loop's last iteration.
    heartbeat_ms: AtomicU64,
    metrics_write_errors: AtomicU64,
    policy: Mutex<PolicyState>,
    denials: Mutex<VecDeque<Denial>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Seconds since the epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `n` as a counter value (saturating: a count never wraps).
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn saturating_u64(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Metrics {
    /// Fresh counters; the agent's start is now.
    pub fn new() -> Self {
        Metrics {
            start: Instant::now(),
            started_at: unix_now(),
            events: AtomicU64::new(0),
            verdicts: std::array::from_fn(|_| zeros()),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            verifications: AtomicU64::new(0),
            verified_ahead: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            latency: zeros(),
            latency_sum_us: AtomicU64::new(0),
            jobs_sent: AtomicU64::new(0),
            jobs_done: AtomicU64::new(0),
            queue_max: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            directories_marked: AtomicU64::new(0),
            heartbeat_ms: AtomicU64::new(0),
            metrics_write_errors: AtomicU64::new(0),
            policy: Mutex::new(PolicyState::default()),
            denials: Mutex::new(VecDeque::with_capacity(LAST_DENIALS)),
        }
    }

    // ------------------------------------------------ hot path (atomics)

    /// A permission event was read.
    pub fn event(&self) {
        self.events.fetch_add(1, Relaxed);
    }

    /// An event was answered.
    pub fn verdict(&self, decision: Decision, why: Why) {
        if let Some(c) = self
            .verdicts
            .get(decision_index(decision))
            .and_then(|row| row.get(why.index()))
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// A cache lookup found a verdict.
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Relaxed);
    }

    /// A cache lookup found nothing.
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Relaxed);
    }

    /// A worker verified a file (read and hashed it).
    pub fn verification(&self) {
        self.verifications.fetch_add(1, Relaxed);
    }

    /// A file was verified ahead of any open (`agent/ahead.rs`).
    pub fn verified_ahead(&self) {
        self.verified_ahead.fetch_add(1, Relaxed);
    }

    /// An event waited for a verification of the same file already running.
    pub fn coalesced(&self) {
        self.coalesced.fetch_add(1, Relaxed);
    }

    /// A job is about to be handed to the workers.
    pub fn job_sent(&self) {
        let sent = self.jobs_sent.fetch_add(1, Relaxed) + 1;
        let depth = sent.saturating_sub(self.jobs_done.load(Relaxed));
        self.queue_max.fetch_max(depth, Relaxed);
    }

    /// A worker finished a job (or a job was dropped unsent).
    pub fn job_done(&self) {
        self.jobs_done.fetch_add(1, Relaxed);
    }

    /// Jobs handed to the workers and not finished yet.
    pub fn jobs_in_flight(&self) -> u64 {
        self.jobs_sent
            .load(Relaxed)
            .saturating_sub(self.jobs_done.load(Relaxed))
    }

    /// Time from reading an event to a worker's answer.
    pub fn observe_latency(&self, took: Duration) {
        let us = saturating_u64(took.as_micros());
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        if let Some(c) = self.latency.get(i) {
            c.fetch_add(1, Relaxed);
        }
        self.latency_sum_us.fetch_add(us, Relaxed);
    }

    /// The event loop is making progress.
    pub fn beat(&self) {
        self.heartbeat_ms
            .store(saturating_u64(self.start.elapsed().as_millis()), Relaxed);
    }

    /// Time since the event loop's last [`Metrics::beat`].
    pub fn heartbeat_age(&self) -> Duration {
        let now = saturating_u64(self.start.elapsed().as_millis());
        Duration::from_millis(now.saturating_sub(self.heartbeat_ms.load(Relaxed)))
    }

    // ------------------------------------------------------- cold path

    /// A reload was applied (`true`) or refused.
    pub fn reloaded(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
    }

    /// A reload ended: applied (`error` is `None`) or refused.
    pub fn reload_result(&self, error: Option<String>) {
        self.policy().last_reload = Some(ReloadResult {
            ok: error.is_none(),
            at: unix_now(),
            error,
        });
    }

    /// The policy on disk is not (`Some`), or again is (`None`), the policy
    /// in force.
    pub fn set_degraded(&self, degraded: Option<Degraded>) {
        self.policy().degraded = degraded;
    }

    /// The optional trees of the policy in force whose directory does not
    /// exist.
    pub fn set_absent_trees(&self, absent: Vec<PathBuf>) {
        self.policy().absent_trees = absent;
    }

    /// Whether the agent is degraded now.
    pub fn degraded(&self) -> Option<Degraded> {
        self.policy().degraded.clone()
    }

    /// A write of the metrics file failed.
    pub fn metrics_write_failed(&self) {
        self.metrics_write_errors.fetch_add(1, Relaxed);
    }

    fn policy(&self) -> MutexGuard<'_, PolicyState> {
        self.policy.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ring(&self) -> MutexGuard<'_, VecDeque<Denial>> {
        self.denials.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A policy generation was put in force, with its trees and how many
    /// directories each has marked.
    pub fn set_policy(&self, facts: PolicyFacts) {
        let mut p = self.policy();
        // The degraded state and the last reload outlive a policy change:
        // whoever applies a policy sets them.
        let (degraded, last_reload) = (p.degraded.take(), p.last_reload.take());
        *p = PolicyState {
            loaded_at: unix_now(),
            facts,
            overlay_views: Vec::new(),
            degraded,
            last_reload,
            absent_trees: Vec::new(),
        };
    }

    /// The writable overlays over protected trees found at start-up or by
    /// the last reload (see [`crate::views`]).
    pub fn set_overlay_views(&self, views: Vec<crate::views::UncoveredView>) {
        self.policy().overlay_views = views;
    }

    /// Directories marked in the tree rooted at `root` (as last counted).
    pub fn tree_directories(&self, root: &Path) -> Option<u64> {
        self.policy()
            .facts
            .trees
            .iter()
            .find(|t| t.root == root)
            .map(|t| t.directories)
    }

    /// Whether a filesystem mark covers the tree rooted at `root` now.
    pub fn set_tree_filesystem_mark(&self, root: &Path, marked: bool) {
        if let Some(t) = self
            .policy()
            .facts
            .trees
            .iter_mut()
            .find(|t| t.root == root)
        {
            t.filesystem_mark = marked;
        }
    }

    /// A whole walk of the tree rooted at `root` marked `dirs` directories.
    pub fn set_tree_directories(&self, root: &Path, dirs: usize) {
        let n = count(dirs);
        if let Some(t) = self
            .policy()
            .facts
            .trees
            .iter_mut()
            .find(|t| t.root == root)
        {
            t.directories = n;
        }
    }

    /// A new directory at `path` (and `dirs` directories in all, with its
    /// subdirectories) was marked: counted in the innermost tree holding it.
    pub fn tree_grew(&self, path: &Path, dirs: usize) {
        let n = count(dirs);
        // Trees are sorted longest root first: the first match is the
        // innermost.
        if let Some(t) = self
            .policy()
            .facts
            .trees
            .iter_mut()
            .find(|t| path.starts_with(&t.root))
        {
            t.directories = t.directories.saturating_add(n);
        }
    }

    /// `dirs` directories were marked (every walk counts).
    pub fn count_marked(&self, dirs: usize) {
        self.directories_marked.fetch_add(count(dirs), Relaxed);
    }

    /// Remembers a denial (workers only).
    pub fn denial(&self, d: Denial) {
        let mut ring = self.ring();
        while ring.len() >= LAST_DENIALS {
            ring.pop_front();
        }
        ring.push_back(d);
    }
}

/// `secs` (Unix seconds) as an RFC 3339 UTC timestamp.
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
pub(crate) mod tests;
