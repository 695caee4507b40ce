//! Counters and state of the running agent: what `sigward status` shows,
//! and what the metrics file (Prometheus text format) holds.
//!
//! The event thread only ever touches relaxed atomics here: no lock, no
//! allocation, no system call beyond reading the monotonic clock. Workers
//! also append to the small ring of recent denials (a mutex held for a
//! push); the reload path and the control thread use the policy state
//! (another mutex the event thread never takes).
//!
//! The status is built as one JSON value ([`Metrics::status`]), which the
//! control socket serves as it is (`sigward status --json`) and from which
//! both the Prometheus text ([`prometheus`]) and the table ([`human`]) are
//! rendered, so the three never disagree.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sigward_policy::Reason;

use crate::verdict::{Decision, Why};

/// Upper bounds of the verification latency histogram, in microseconds
/// (50 µs to 10 s); a last `+Inf` bucket follows.
pub const LATENCY_BUCKETS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// How many recent denials are kept.
pub const LAST_DENIALS: usize = 20;

const REJECTIONS: [Reason; 8] = [
    Reason::Unsigned,
    Reason::Malformed,
    Reason::Tampered,
    Reason::Untrusted,
    Reason::Invalid,
    Reason::Revoked,
    Reason::Expired,
    Reason::Writable,
];

/// Every reason, in the order they are shown.
const ALL_WHY: [Why; 19] = [
    Why::Verified,
    Why::SelfSigned,
    Why::Cached,
    Why::Empty,
    Why::Directory,
    Why::SignatureRead,
    Why::AisocManifest,
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

/// The policy in force.
#[derive(Clone, Debug, Default)]
struct PolicyState {
    generation: u64,
    loaded_at: u64,
    mode: &'static str,
    source: PathBuf,
    trees: Vec<TreeState>,
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
    pub fn set_policy(
        &self,
        generation: u64,
        mode: &'static str,
        source: &Path,
        trees: Vec<TreeState>,
    ) {
        let mut p = self.policy();
        // The degraded state and the last reload outlive a policy change:
        // whoever applies a policy sets them.
        let (degraded, last_reload) = (p.degraded.take(), p.last_reload.take());
        *p = PolicyState {
            generation,
            loaded_at: unix_now(),
            mode,
            source: source.to_path_buf(),
            trees,
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
            .trees
            .iter()
            .find(|t| t.root == root)
            .map(|t| t.directories)
    }

    /// Whether a filesystem mark covers the tree rooted at `root` now.
    pub fn set_tree_filesystem_mark(&self, root: &Path, marked: bool) {
        if let Some(t) = self.policy().trees.iter_mut().find(|t| t.root == root) {
            t.filesystem_mark = marked;
        }
    }

    /// A whole walk of the tree rooted at `root` marked `dirs` directories.
    pub fn set_tree_directories(&self, root: &Path, dirs: usize) {
        let n = u64::try_from(dirs).unwrap_or(u64::MAX);
        if let Some(t) = self.policy().trees.iter_mut().find(|t| t.root == root) {
            t.directories = n;
        }
    }

    /// A new directory at `path` (and `dirs` directories in all, with its
    /// subdirectories) was marked: counted in the innermost tree holding it.
    pub fn tree_grew(&self, path: &Path, dirs: usize) {
        let n = u64::try_from(dirs).unwrap_or(u64::MAX);
        // Trees are sorted longest root first: the first match is the
        // innermost.
        if let Some(t) = self
            .policy()
            .trees
            .iter_mut()
            .find(|t| path.starts_with(&t.root))
        {
            t.directories = t.directories.saturating_add(n);
        }
    }

    /// `dirs` directories were marked (every walk counts).
    pub fn count_marked(&self, dirs: usize) {
        self.directories_marked
            .fetch_add(u64::try_from(dirs).unwrap_or(u64::MAX), Relaxed);
    }

    /// Remembers a denial (workers only).
    pub fn denial(&self, d: Denial) {
        let mut ring = self.ring();
        while ring.len() >= LAST_DENIALS {
            ring.pop_front();
        }
        ring.push_back(d);
    }

    /// The whole status, as served by the control socket.
    pub fn status(&self, live: &Live) -> Value {
        let load = |c: &AtomicU64| c.load(Relaxed);
        let policy = self.policy().clone();
        let denials: Vec<Denial> = self.ring().iter().rev().cloned().collect();

        let mut verdicts = serde_json::Map::new();
        let mut reasons = serde_json::Map::new();
        let (mut allow_event, mut allow_worker) = (0u64, 0u64);
        for d in DECISIONS {
            let row = self.verdicts.get(decision_index(d));
            let mut total = 0u64;
            let mut by = serde_json::Map::new();
            for why in ALL_WHY {
                let n = row.and_then(|r| r.get(why.index())).map_or(0, load);
                total = total.saturating_add(n);
                if d == Decision::Allow {
                    if why.on_event_thread() {
                        allow_event = allow_event.saturating_add(n);
                    } else {
                        allow_worker = allow_worker.saturating_add(n);
                    }
                }
                if n > 0 || why.fits(d) {
                    by.insert(why.as_str().into(), json!(n));
                }
            }
            verdicts.insert(d.as_str().into(), json!(total));
            reasons.insert(d.as_str().into(), Value::Object(by));
        }

        let mut cumulative = 0u64;
        let mut buckets = Vec::new();
        for (i, c) in self.latency.iter().enumerate() {
            cumulative = cumulative.saturating_add(load(c));
            let le = LATENCY_BUCKETS_US
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |&us| seconds_label(us));
            buckets.push(json!({ "le": le, "count": cumulative }));
        }

        let sent = load(&self.jobs_sent);
        let done = load(&self.jobs_done);
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "started_at": self.started_at,
            "started_at_rfc3339": rfc3339(self.started_at),
            "uptime_seconds": self.start.elapsed().as_secs(),
            "mode": policy.mode,
            "state": if policy.degraded.is_some() { "degraded" } else { "ok" },
            "degraded": policy.degraded.as_ref().map(|d| json!({
                "reason": d.reason,
                "file": d.file.display().to_string(),
                "since": d.since,
                "since_rfc3339": rfc3339(d.since),
                "last_good_saved_at": d.last_good_saved_at,
                "last_good_saved_at_rfc3339": d.last_good_saved_at.map(rfc3339),
            })),
            "last_reload": policy.last_reload.as_ref().map(|r| json!({
                "ok": r.ok,
                "at": r.at,
                "at_rfc3339": rfc3339(r.at),
                "error": r.error,
            })),
            "policy": {
                "file": policy.source.display().to_string(),
                "generation": policy.generation,
                "loaded_at": policy.loaded_at,
                "loaded_at_rfc3339": rfc3339(policy.loaded_at),
            },
            "trees": policy.trees.iter().map(|t| json!({
                "path": t.root.display().to_string(),
                "mode": t.mode,
                "directories": t.directories,
                "untrusted_writers": t.untrusted_writers,
                "filesystem_mark": t.filesystem_mark,
            })).collect::<Vec<_>>(),
            "absent_trees": policy.absent_trees.iter()
                .map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "overlay_views": policy.overlay_views.iter().map(|o| json!({
                "tree": o.tree.display().to_string(),
                "mount_point": o.mount_point.display().to_string(),
                "upper": o.upper.display().to_string(),
                "pid": o.pid,
            })).collect::<Vec<_>>(),
            "directories_marked": load(&self.directories_marked),
            "events": load(&self.events),
            "verdicts": verdicts,
            "reasons": reasons,
            "allows": { "event_thread": allow_event, "worker": allow_worker },
            "cache": {
                "entries": live.cache_entries,
                "capacity": live.cache_capacity,
                "hits": load(&self.cache_hits),
                "misses": load(&self.cache_misses),
            },
            "verifications": {
                "run": load(&self.verifications),
                "coalesced": load(&self.coalesced),
            },
            "kernel_cache": {
                "marks": live.kernel_marks,
                "placed": live.kernel_marks_placed,
                "dropped": live.kernel_marks_dropped,
            },
            "queue": {
                "depth": sent.saturating_sub(done),
                "max_depth": load(&self.queue_max),
                "jobs": sent,
            },
            "latency": {
                "count": cumulative,
                "sum_seconds": load(&self.latency_sum_us) as f64 / 1e6,
                "buckets": buckets,
            },
            "reloads": {
                "ok": load(&self.reloads_ok),
                "failed": load(&self.reloads_failed),
            },
            "audit": { "dropped": live.audit_dropped },
            "metrics_file": live.metrics_file.as_ref().map(|p| json!({
                "path": p.display().to_string(),
                "interval_seconds": live.metrics_interval,
                "write_errors": load(&self.metrics_write_errors),
            })),
            "event_loop": {
                "heartbeat_age_seconds": self.heartbeat_age().as_secs_f64(),
                "events_lost": live.events_lost,
            },
            "watchdog_seconds": live.watchdog.map(|d| d.as_secs_f64()),
            "last_denials": denials.iter().map(|d| json!({
                "time": d.time,
                "time_rfc3339": rfc3339(d.time),
                "decision": d.decision.as_str(),
                "path": crate::audit::path_text(&d.path),
                "path_hex": crate::audit::path_hex(&d.path),
                "reason": d.reason,
                "detail": d.detail,
                "pid": d.pid,
                "exe": d.exe,
            })).collect::<Vec<_>>(),
        })
    }
}

/// `us` microseconds as a Prometheus `le` label (`0.00005`, `2.5`, `10`).
fn seconds_label(us: u64) -> String {
    format!("{}", us as f64 / 1e6)
}

/// `secs` (Unix seconds) as an RFC 3339 UTC timestamp.
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

// ------------------------------------------------------------ rendering

fn u(v: &Value, path: &[&str]) -> u64 {
    get(v, path).and_then(Value::as_u64).unwrap_or(0)
}

fn f(v: &Value, path: &[&str]) -> f64 {
    get(v, path).and_then(Value::as_f64).unwrap_or(0.0)
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn entries<'a>(v: &'a Value, path: &[&str]) -> Vec<(&'a String, &'a Value)> {
    get(v, path)
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

fn array<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A label value escaped for the text exposition format.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "NaN".into()
    }
}

struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The status as Prometheus text exposition format (version 0.0.4).
pub fn prometheus(v: &Value) -> String {
    let mut e = Exposition(String::new());
    e.family("sigward_info", "gauge", "The running agent (always 1).");
    e.sample("sigward_info", &[("version", s(v, &["version"]))], 1);
    e.one(
        "sigward_start_time_seconds",
        "gauge",
        "When the agent started, in seconds since the epoch.",
        u(v, &["started_at"]),
    );
    e.one(
        "sigward_uptime_seconds",
        "gauge",
        "Seconds since the agent started.",
        u(v, &["uptime_seconds"]),
    );
    e.family(
        "sigward_mode",
        "gauge",
        "The global mode of the policy in force (1 for the mode in force).",
    );
    let mode = s(v, &["mode"]);
    for m in ["enforce", "audit", "off"] {
        e.sample("sigward_mode", &[("mode", m)], u8::from(m == mode));
    }
    e.one(
        "sigward_policy_generation",
        "gauge",
        "Generation of the policy in force (1 at start, +1 per applied reload).",
        u(v, &["policy", "generation"]),
    );
    e.one(
        "sigward_policy_loaded_time_seconds",
        "gauge",
        "When the policy in force was loaded, in seconds since the epoch.",
        u(v, &["policy", "loaded_at"]),
    );
    e.one(
        "sigward_degraded",
        "gauge",
        "1 while the policy on disk cannot be loaded and the agent enforces an older one (the \
         last good policy, or the generation before a refused reload).",
        u64::from(s(v, &["state"]) == "degraded"),
    );
    if let Some(r) = v.get("last_reload").filter(|r| !r.is_null()) {
        e.one(
            "sigward_last_reload_success",
            "gauge",
            "1 if the last reload was applied, 0 if it was refused.",
            u64::from(r["ok"].as_bool() == Some(true)),
        );
        e.one(
            "sigward_last_reload_time_seconds",
            "gauge",
            "When the last reload ended, in seconds since the epoch.",
            u(r, &["at"]),
        );
    }
    let trees = array(v, &["trees"]);
    e.one(
        "sigward_trees",
        "gauge",
        "Protected trees in the policy in force.",
        trees.len(),
    );
    let absent = array(v, &["absent_trees"]);
    e.one(
        "sigward_absent_trees",
        "gauge",
        "Optional protected trees (required = false) whose directory does not exist: protected \
         from the first reload that finds them.",
        absent.len(),
    );
    e.one(
        "sigward_overlay_views",
        "gauge",
        "Writable overlays over protected trees found at start-up or by the last reload: \
         files created through them are not checked.",
        array(v, &["overlay_views"]).len(),
    );
    e.family(
        "sigward_tree_directories",
        "gauge",
        "Directories marked in each protected tree.",
    );
    for t in trees {
        e.sample(
            "sigward_tree_directories",
            &[("tree", s(t, &["path"])), ("mode", s(t, &["mode"]))],
            u(t, &["directories"]),
        );
    }
    e.one(
        "sigward_directories_marked_total",
        "counter",
        "Directories marked (start-up, reloads, new directories, rescans).",
        u(v, &["directories_marked"]),
    );
    e.one(
        "sigward_events_total",
        "counter",
        "Permission events read (opens and execs in protected trees).",
        u(v, &["events"]),
    );
    e.family(
        "sigward_verdicts_total",
        "counter",
        "Permission events answered, by decision.",
    );
    for (d, n) in entries(v, &["verdicts"]) {
        e.sample(
            "sigward_verdicts_total",
            &[("decision", d)],
            n.as_u64().unwrap_or(0),
        );
    }
    e.family(
        "sigward_verdict_reasons_total",
        "counter",
        "Permission events answered, by decision and reason.",
    );
    for (d, by) in entries(v, &["reasons"]) {
        if let Some(by) = by.as_object() {
            for (r, n) in by {
                e.sample(
                    "sigward_verdict_reasons_total",
                    &[("decision", d), ("reason", r)],
                    n.as_u64().unwrap_or(0),
                );
            }
        }
    }
    e.family(
        "sigward_allows_total",
        "counter",
        "Allows answered on the event thread (no verification) and by workers.",
    );
    e.sample(
        "sigward_allows_total",
        &[("thread", "event")],
        u(v, &["allows", "event_thread"]),
    );
    e.sample(
        "sigward_allows_total",
        &[("thread", "worker")],
        u(v, &["allows", "worker"]),
    );
    e.one(
        "sigward_cache_hits_total",
        "counter",
        "Verdict cache lookups that found a verdict.",
        u(v, &["cache", "hits"]),
    );
    e.one(
        "sigward_cache_misses_total",
        "counter",
        "Verdict cache lookups that found nothing.",
        u(v, &["cache", "misses"]),
    );
    e.one(
        "sigward_cache_entries",
        "gauge",
        "Verdicts in the cache.",
        u(v, &["cache", "entries"]),
    );
    e.one(
        "sigward_cache_capacity",
        "gauge",
        "Capacity of the verdict cache.",
        u(v, &["cache", "capacity"]),
    );
    e.one(
        "sigward_verifications_total",
        "counter",
        "Files read, hashed and verified by a worker.",
        u(v, &["verifications", "run"]),
    );
    e.one(
        "sigward_verifications_coalesced_total",
        "counter",
        "Events that waited for a verification of the same file already running.",
        u(v, &["verifications", "coalesced"]),
    );
    e.one(
        "sigward_kernel_cache_marks",
        "gauge",
        "Kernel ignore marks on verified files (opens answered by the kernel).",
        u(v, &["kernel_cache", "marks"]),
    );
    e.one(
        "sigward_kernel_cache_marks_placed_total",
        "counter",
        "Kernel ignore marks placed on verified files.",
        u(v, &["kernel_cache", "placed"]),
    );
    e.one(
        "sigward_kernel_cache_marks_dropped_total",
        "counter",
        "Kernel ignore marks removed by policy reloads.",
        u(v, &["kernel_cache", "dropped"]),
    );
    let hist = "sigward_verification_duration_seconds";
    e.family(
        hist,
        "histogram",
        "Time from reading a permission event to a worker's answer.",
    );
    for b in array(v, &["latency", "buckets"]) {
        e.sample(
            &format!("{hist}_bucket"),
            &[("le", s(b, &["le"]))],
            u(b, &["count"]),
        );
    }
    e.sample(
        &format!("{hist}_sum"),
        &[],
        number(f(v, &["latency", "sum_seconds"])),
    );
    e.sample(&format!("{hist}_count"), &[], u(v, &["latency", "count"]));
    e.one(
        "sigward_queue_depth",
        "gauge",
        "Events handed to the workers and not answered yet.",
        u(v, &["queue", "depth"]),
    );
    e.one(
        "sigward_queue_depth_max",
        "gauge",
        "Largest queue depth seen since the agent started.",
        u(v, &["queue", "max_depth"]),
    );
    e.one(
        "sigward_jobs_total",
        "counter",
        "Events handed to the workers.",
        u(v, &["queue", "jobs"]),
    );
    e.family(
        "sigward_reloads_total",
        "counter",
        "Policy reloads, by result (ok: applied, failed: refused).",
    );
    e.sample(
        "sigward_reloads_total",
        &[("result", "ok")],
        u(v, &["reloads", "ok"]),
    );
    e.sample(
        "sigward_reloads_total",
        &[("result", "failed")],
        u(v, &["reloads", "failed"]),
    );
    e.one(
        "sigward_audit_dropped_total",
        "counter",
        "Records (audit records and others) dropped because a log queue was full.",
        u(v, &["audit", "dropped"]),
    );
    e.one(
        "sigward_metrics_file_write_errors_total",
        "counter",
        "Failed writes of the metrics file.",
        u(v, &["metrics_file", "write_errors"]),
    );
    e.one(
        "sigward_event_loop_heartbeat_age_seconds",
        "gauge",
        "Seconds since the event loop last made progress (it beats at least once a second).",
        number(f(v, &["event_loop", "heartbeat_age_seconds"])),
    );
    e.one(
        "sigward_events_lost_total",
        "counter",
        "Permission events the agent could not read (out of descriptors); the kernel denied them.",
        u(v, &["event_loop", "events_lost"]),
    );
    e.0
}

/// Approximate latency quantile from cumulative buckets: the upper bound
/// of the first bucket holding `q` of the observations.
fn quantile(v: &Value, q: f64) -> Option<String> {
    let count = u(v, &["latency", "count"]);
    if count == 0 {
        return None;
    }
    let want = (count as f64 * q).ceil() as u64;
    array(v, &["latency", "buckets"])
        .iter()
        .find(|b| u(b, &["count"]) >= want)
        .map(|b| s(b, &["le"]).to_string())
}

/// A number of seconds (as a bucket label) for people: `250 µs`, `2.5 ms`,
/// `10 s`, `more than 10 s` for `+Inf`.
fn short_duration(secs: &str) -> String {
    let Ok(x) = secs.parse::<f64>() else {
        return secs.to_string();
    };
    if x.is_infinite() {
        let top = LATENCY_BUCKETS_US.last().copied().unwrap_or(0) as f64 / 1e6;
        format!("more than {top} s")
    } else if x < 1e-3 {
        format!("{} µs", (x * 1e6).round())
    } else if x < 1.0 {
        format!("{} ms", (x * 1e4).round() / 10.0)
    } else {
        format!("{} s", (x * 100.0).round() / 100.0)
    }
}

fn ago(now: u64, then: u64) -> String {
    humantime::format_duration(Duration::from_secs(now.saturating_sub(then))).to_string()
}

/// The status as a table for people.
pub fn human(v: &Value) -> String {
    let now = unix_now();
    let mut o = String::new();
    let row = |o: &mut String, k: &str, val: String| {
        let _ = writeln!(o, "{k:<13} {val}");
    };
    row(
        &mut o,
        "agent",
        format!(
            "sigward {} (pid {}), up {} (since {})",
            s(v, &["version"]),
            u(v, &["pid"]),
            humantime::format_duration(Duration::from_secs(u(v, &["uptime_seconds"]))),
            s(v, &["started_at_rfc3339"])
        ),
    );
    row(&mut o, "mode", s(v, &["mode"]).to_string());
    if s(v, &["state"]) == "degraded" {
        let d = &v["degraded"];
        let saved = match d["last_good_saved_at_rfc3339"].as_str() {
            Some(t) => format!("the last good policy (saved {t})"),
            None => "the policy loaded before".to_string(),
        };
        row(
            &mut o,
            "state",
            format!(
                "DEGRADED since {}: the policy on disk cannot be loaded: {}; enforcing {saved}",
                s(d, &["since_rfc3339"]),
                s(d, &["reason"])
            ),
        );
    } else {
        row(&mut o, "state", "ok".to_string());
    }
    if let Some(r) = v.get("last_reload").filter(|r| !r.is_null()) {
        let text = if r["ok"].as_bool() == Some(true) {
            format!("applied {}", s(r, &["at_rfc3339"]))
        } else {
            format!("REFUSED {}: {}", s(r, &["at_rfc3339"]), s(r, &["error"]))
        };
        row(&mut o, "last reload", text);
    }
    row(
        &mut o,
        "policy",
        format!(
            "{}, generation {}, loaded {} ({} ago)",
            s(v, &["policy", "file"]),
            u(v, &["policy", "generation"]),
            s(v, &["policy", "loaded_at_rfc3339"]),
            ago(now, u(v, &["policy", "loaded_at"]))
        ),
    );
    let trees = array(v, &["trees"]);
    if trees.is_empty() {
        row(&mut o, "trees", "none: nothing is protected".into());
    } else {
        let width = trees
            .iter()
            .map(|t| s(t, &["path"]).len())
            .max()
            .unwrap_or(0);
        for (i, t) in trees.iter().enumerate() {
            row(
                &mut o,
                if i == 0 { "trees" } else { "" },
                format!(
                    "{:<width$}  {:<7}  {} directories marked, untrusted writers: {}{}",
                    s(t, &["path"]),
                    s(t, &["mode"]),
                    u(t, &["directories"]),
                    s(t, &["untrusted_writers"]),
                    if t["filesystem_mark"].as_bool() == Some(true) {
                        ", filesystem marked"
                    } else {
                        ", new directories unchecked until marked"
                    }
                ),
            );
        }
    }
    for (i, t) in array(v, &["absent_trees"]).iter().enumerate() {
        row(
            &mut o,
            if i == 0 { "absent" } else { "" },
            format!(
                "{} (required = false): does not exist; protected from the first reload that \
                 finds it",
                t.as_str().unwrap_or_default()
            ),
        );
    }
    let views = array(v, &["overlay_views"]);
    if !views.is_empty() {
        row(
            &mut o,
            "overlays",
            format!(
                "{} writable overlay(s) over protected trees: files created through them are \
                 NOT checked",
                views.len()
            ),
        );
        for w in views {
            row(
                &mut o,
                "",
                format!(
                    "{} over {} (pid {}), upper layer {}",
                    s(w, &["mount_point"]),
                    s(w, &["tree"]),
                    u(w, &["pid"]),
                    s(w, &["upper"])
                ),
            );
        }
    }
    let (hits, misses) = (u(v, &["cache", "hits"]), u(v, &["cache", "misses"]));
    let rate = if hits + misses == 0 {
        "no lookups yet".to_string()
    } else {
        format!(
            "hit rate {:.1}% ({hits} hits, {misses} misses)",
            100.0 * hits as f64 / (hits + misses) as f64
        )
    };
    row(
        &mut o,
        "cache",
        format!(
            "{} / {} verdicts, {rate}",
            u(v, &["cache", "entries"]),
            u(v, &["cache", "capacity"])
        ),
    );
    row(
        &mut o,
        "events",
        format!(
            "{} (queue depth {}, max {}; {} handed to workers)",
            u(v, &["events"]),
            u(v, &["queue", "depth"]),
            u(v, &["queue", "max_depth"]),
            u(v, &["queue", "jobs"])
        ),
    );
    row(
        &mut o,
        "verdicts",
        format!(
            "allow {} (event thread {}, workers {}), deny {}, would-deny {}",
            u(v, &["verdicts", "allow"]),
            u(v, &["allows", "event_thread"]),
            u(v, &["allows", "worker"]),
            u(v, &["verdicts", "deny"]),
            u(v, &["verdicts", "would-deny"])
        ),
    );
    let mut first = true;
    for (d, by) in entries(v, &["reasons"]) {
        let parts: Vec<String> = by
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(r, n)| format!("{r} {}", n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        if parts.is_empty() {
            continue;
        }
        row(
            &mut o,
            if first { "by reason" } else { "" },
            format!("{d:<10}  {}", parts.join(", ")),
        );
        first = false;
    }
    if first {
        row(&mut o, "by reason", "-".into());
    }
    let latency = match (quantile(v, 0.5), quantile(v, 0.99)) {
        (Some(p50), Some(p99)) => format!(
            "{} answered by workers: half within {}, 99% within {} (mean {})",
            u(v, &["latency", "count"]),
            short_duration(&p50),
            short_duration(&p99),
            short_duration(&format!(
                "{}",
                f(v, &["latency", "sum_seconds"]) / u(v, &["latency", "count"]).max(1) as f64
            ))
        ),
        _ => "nothing verified yet".into(),
    };
    row(&mut o, "latency", latency);
    row(
        &mut o,
        "reloads",
        format!(
            "{} applied, {} refused",
            u(v, &["reloads", "ok"]),
            u(v, &["reloads", "failed"])
        ),
    );
    row(
        &mut o,
        "audit",
        format!("{} records dropped", u(v, &["audit", "dropped"])),
    );
    let metrics = if get(v, &["metrics_file", "path"]).is_some() {
        format!(
            "{} every {} s ({} write errors)",
            s(v, &["metrics_file", "path"]),
            u(v, &["metrics_file", "interval_seconds"]),
            u(v, &["metrics_file", "write_errors"])
        )
    } else {
        "no metrics_file configured".into()
    };
    row(&mut o, "metrics file", metrics);
    let beat = f(v, &["event_loop", "heartbeat_age_seconds"]);
    let watchdog = match get(v, &["watchdog_seconds"]).and_then(Value::as_f64) {
        Some(w) => format!("systemd watchdog every {w} s; event loop beat {beat:.1} s ago"),
        None => format!("off; event loop beat {beat:.1} s ago"),
    };
    row(&mut o, "watchdog", watchdog);
    let denials = array(v, &["last_denials"]);
    if denials.is_empty() {
        row(&mut o, "last denials", "none".into());
    } else {
        let _ = writeln!(o, "\nlast denials (newest first):");
        let _ = writeln!(
            o,
            "  {:<20}  {:<10}  {:<10}  {:>7}  {:<24}  PATH",
            "TIME", "DECISION", "REASON", "PID", "EXE"
        );
        for d in denials {
            let exe = get(d, &["exe"]).and_then(Value::as_str).unwrap_or("?");
            let _ = writeln!(
                o,
                "  {:<20}  {:<10}  {:<10}  {:>7}  {:<24}  {}",
                s(d, &["time_rfc3339"]),
                s(d, &["decision"]),
                s(d, &["reason"]),
                get(d, &["pid"]).and_then(Value::as_i64).unwrap_or(0),
                exe,
                s(d, &["path"])
            );
        }
    }
    o
}

// ----------------------------------------------------------- the file

/// Writes `text` to `path` atomically ([`crate::files::AtomicWrite`]),
/// world-readable whatever the umask (the unit sets 0077): node_exporter
/// runs as another user.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    crate::files::AtomicWrite::new(0o644)
        .write(path, text.as_bytes())
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> (Metrics, Live) {
        let m = Metrics::new();
        m.set_policy(
            3,
            "enforce",
            Path::new("/etc/sigward/policy.toml"),
            vec![
                TreeState {
                    root: PathBuf::from("/srv/p/inner"),
                    mode: "audit",
                    directories: 2,
                    untrusted_writers: "refuse",
                    filesystem_mark: false,
                },
                TreeState {
                    root: PathBuf::from("/srv/p"),
                    mode: "enforce",
                    directories: 5,
                    untrusted_writers: "allow",
                    filesystem_mark: true,
                },
            ],
        );
        for _ in 0..4 {
            m.event();
        }
        m.verdict(Decision::Allow, Why::Empty);
        m.verdict(Decision::Allow, Why::Verified);
        m.verdict(Decision::Deny, Why::Rejected(Reason::Unsigned));
        m.verdict(Decision::WouldDeny, Why::Rejected(Reason::Tampered));
        m.cache_hit();
        m.cache_miss();
        m.cache_miss();
        m.job_sent();
        m.job_sent();
        m.job_done();
        m.observe_latency(Duration::from_micros(30));
        m.observe_latency(Duration::from_micros(700));
        m.observe_latency(Duration::from_secs(20));
        m.reloaded(true);
        m.reloaded(false);
        m.reloaded(false);
        m.count_marked(4);
        m.tree_grew(Path::new("/srv/p/inner/new"), 1);
        m.tree_grew(Path::new("/srv/p/other"), 3);
        for i in 0..25 {
            m.denial(Denial {
                time: 1_767_225_600 + i,
                decision: Decision::Deny,
                path: PathBuf::from(format!("/srv/p/\"x\"{i}.py")),
                reason: "unsigned",
                detail: "no signature file".into(),
                pid: 42,
                exe: Some("/usr/bin/python3".into()),
            });
        }
        let live = Live {
            cache_entries: 1,
            cache_capacity: 100,
            kernel_marks: 3,
            kernel_marks_placed: 5,
            kernel_marks_dropped: 2,
            events_lost: 0,
            audit_dropped: 7,
            metrics_file: Some(PathBuf::from("/var/lib/x.prom")),
            metrics_interval: 15,
            watchdog: Some(Duration::from_secs(30)),
        };
        (m, live)
    }

    #[test]
    fn status_counts() {
        let (m, live) = sample();
        let v = m.status(&live);
        assert_eq!(v["events"], 4);
        assert_eq!(v["verdicts"]["allow"], 2);
        assert_eq!(v["verdicts"]["deny"], 1);
        assert_eq!(v["verdicts"]["would-deny"], 1);
        assert_eq!(v["reasons"]["deny"]["unsigned"], 1);
        assert_eq!(v["reasons"]["deny"]["tampered"], 0);
        assert_eq!(v["reasons"]["would-deny"]["tampered"], 1);
        assert_eq!(v["reasons"]["allow"]["empty"], 1);
        assert!(v["reasons"]["allow"].get("unsigned").is_none());
        assert!(v["reasons"]["deny"].get("verified").is_none());
        assert_eq!(v["allows"]["event_thread"], 1);
        assert_eq!(v["allows"]["worker"], 1);
        assert_eq!(v["cache"]["hits"], 1);
        assert_eq!(v["cache"]["misses"], 2);
        assert_eq!(v["queue"]["depth"], 1);
        assert_eq!(v["queue"]["max_depth"], 2);
        assert_eq!(v["latency"]["count"], 3);
        let buckets = v["latency"]["buckets"].as_array().unwrap();
        assert_eq!(buckets[0], json!({"le": "0.00005", "count": 1}));
        assert_eq!(buckets.last().unwrap(), &json!({"le": "+Inf", "count": 3}));
        assert_eq!(buckets[buckets.len() - 2]["le"], "10");
        assert_eq!(v["reloads"]["ok"], 1);
        assert_eq!(v["reloads"]["failed"], 2);
        assert_eq!(v["audit"]["dropped"], 7);
        assert_eq!(v["policy"]["generation"], 3);
        assert_eq!(v["trees"][0]["directories"], 3, "inner tree: 2 + 1");
        assert_eq!(v["trees"][1]["directories"], 8, "outer tree: 5 + 3");
        assert_eq!(v["directories_marked"], 4);
        let denials = v["last_denials"].as_array().unwrap();
        assert_eq!(denials.len(), LAST_DENIALS);
        assert_eq!(denials[0]["path"], "/srv/p/\"x\"24.py", "newest first");
        assert_eq!(denials[19]["path"], "/srv/p/\"x\"5.py");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn replace_sets_a_tree_count() {
        let (m, _) = sample();
        m.set_tree_directories(Path::new("/srv/p"), 11);
        assert_eq!(m.tree_directories(Path::new("/srv/p")), Some(11));
        assert_eq!(m.tree_directories(Path::new("/nowhere")), None);
    }

    #[test]
    fn latency_buckets_are_inclusive_upper_bounds() {
        let m = Metrics::new();
        m.observe_latency(Duration::from_micros(50));
        m.observe_latency(Duration::from_micros(51));
        let v = m.status(&Live::default());
        assert_eq!(v["latency"]["buckets"][0]["count"], 1);
        assert_eq!(v["latency"]["buckets"][1]["count"], 2);
        assert!((v["latency"]["sum_seconds"].as_f64().unwrap() - 0.000101).abs() < 1e-9);
    }

    #[test]
    fn heartbeat() {
        let m = Metrics::new();
        m.beat();
        assert!(m.heartbeat_age() < Duration::from_secs(1));
    }

    /// Checks the text exposition format: `# HELP`/`# TYPE` before the
    /// samples of each family, sample lines `name{labels} value`,
    /// cumulative histogram buckets ending with `+Inf`.
    pub fn check_exposition(text: &str) {
        let mut typed: std::collections::HashMap<String, String> = Default::default();
        let mut helped = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(helped.insert(name.to_string()), "HELP twice for {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut w = rest.split(' ');
                let name = w.next().unwrap();
                let kind = w.next().unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "{line}");
                }
                assert!(helped.contains(name), "TYPE before HELP: {line}");
                assert!(typed.insert(name.into(), kind.into()).is_none(), "{line}");
                continue;
            }
            let (name, rest) = match line.find(['{', ' ']) {
                Some(i) => line.split_at(i),
                None => panic!("bad sample line {line:?}"),
            };
            assert!(name.starts_with("sigward_"), "{line}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| typed.get(*f).map(String::as_str) == Some("histogram"))
                })
                .unwrap_or(name);
            assert!(typed.contains_key(family), "sample before TYPE: {line}");
            let value = if let Some(labels) = rest.strip_prefix('{') {
                let end = labels.rfind("} ").unwrap_or_else(|| panic!("{line}"));
                labels[end + 2..].to_string()
            } else {
                rest.trim_start().to_string()
            };
            assert!(
                value.parse::<f64>().is_ok() || value == "NaN",
                "bad value in {line}"
            );
        }
    }

    #[test]
    fn prometheus_text() {
        let (m, live) = sample();
        let text = prometheus(&m.status(&live));
        check_exposition(&text);
        for want in [
            "sigward_events_total 4\n",
            "sigward_verdicts_total{decision=\"deny\"} 1\n",
            "sigward_verdict_reasons_total{decision=\"deny\",reason=\"unsigned\"} 1\n",
            "sigward_verdict_reasons_total{decision=\"would-deny\",reason=\"tampered\"} 1\n",
            "sigward_verdict_reasons_total{decision=\"allow\",reason=\"self-signed\"} 0\n",
            "sigward_verification_duration_seconds_bucket{le=\"0.00005\"} 1\n",
            "sigward_verification_duration_seconds_bucket{le=\"0.001\"} 2\n",
            "sigward_verification_duration_seconds_bucket{le=\"+Inf\"} 3\n",
            "sigward_verification_duration_seconds_count 3\n",
            "sigward_queue_depth 1\n",
            "sigward_reloads_total{result=\"failed\"} 2\n",
            "sigward_tree_directories{tree=\"/srv/p\",mode=\"enforce\"} 8\n",
            "sigward_mode{mode=\"enforce\"} 1\n",
            "sigward_mode{mode=\"audit\"} 0\n",
            "sigward_policy_generation 3\n",
            "sigward_audit_dropped_total 7\n",
            "sigward_cache_hits_total 1\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // Buckets are cumulative.
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("sigward_verification_duration_seconds_bucket"))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(counts.len(), LATENCY_BUCKETS_US.len() + 1);
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let m = Metrics::new();
        m.set_policy(
            1,
            "audit",
            Path::new("/p"),
            vec![TreeState {
                root: PathBuf::from("/srv/we\"ird\\dir\nx"),
                mode: "audit",
                directories: 1,
                untrusted_writers: "refuse",
                filesystem_mark: false,
            }],
        );
        let text = prometheus(&m.status(&Live::default()));
        check_exposition(&text);
        assert!(
            text.contains("tree=\"/srv/we\\\"ird\\\\dir\\nx\""),
            "{text}"
        );
    }

    #[test]
    fn human_table() {
        let (m, live) = sample();
        let text = human(&m.status(&live));
        for want in [
            "mode          enforce",
            "generation 3",
            "/srv/p/inner  audit    3 directories marked, untrusted writers: refuse, new directories unchecked until marked",
            "/srv/p        enforce  8 directories marked, untrusted writers: allow, filesystem marked",
            "hit rate 33.3% (1 hits, 2 misses)",
            "deny        unsigned 1",
            "would-deny  tampered 1",
            "1 applied, 2 refused",
            "7 records dropped",
            "/var/lib/x.prom every 15 s",
            "systemd watchdog every 30 s",
            "last denials (newest first)",
            "/usr/bin/python3",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let empty = human(&Metrics::new().status(&Live::default()));
        assert!(empty.contains("nothing is protected"), "{empty}");
        assert!(empty.contains("last denials  none"), "{empty}");
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(short_duration("0.00005"), "50 µs");
        assert_eq!(short_duration("0.0025"), "2.5 ms");
        assert_eq!(short_duration("0.000381"), "381 µs");
        assert_eq!(short_duration("10"), "10 s");
        assert_eq!(short_duration("+Inf"), "more than 10 s");
    }

    #[test]
    fn atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sigward.prom");
        write_atomic(&p, "a 1\n").unwrap();
        write_atomic(&p, "a 2\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "a 2\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sigward.prom")]);
        // 0644 whatever the umask (not changed here: it is per process,
        // and other tests run meanwhile).
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert!(write_atomic(&dir.path().join("missing/x.prom"), "").is_err());
    }
}
