//! The snapshot of the counters and state as one [`Status`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{
    count, decision_index, rfc3339, unix_now, Live, Metrics, ALL_WHY, DECISIONS, LATENCY_BUCKETS_US,
};
use crate::status::{
    Allows, AuditStatus, Bucket, CacheStatus, DegradedStatus, DenialStatus, EventLoop, Health,
    KernelCacheStatus, LastReload, Latency, MetricsFileStatus, OverlayStatus, PolicyStatus, Queue,
    Reloads, Status, TreeStatus, Verifications,
};
use crate::verdict::Decision;

impl Metrics {
    /// The whole status, as served by the control socket and rendered by
    /// [`crate::status`].
    pub fn status(&self, live: &Live) -> Status {
        let load = |c: &AtomicU64| c.load(Relaxed);
        let policy = self.policy().clone();

        let mut verdicts = BTreeMap::new();
        let mut reasons = BTreeMap::new();
        let mut allows = Allows {
            event_thread: 0,
            worker: 0,
        };
        for d in DECISIONS {
            let row = self.verdicts.get(decision_index(d));
            let mut total = 0u64;
            let mut by = BTreeMap::new();
            for why in ALL_WHY {
                let n = row.and_then(|r| r.get(why.index())).map_or(0, load);
                total = total.saturating_add(n);
                if d == Decision::Allow {
                    let thread = if why.on_event_thread() {
                        &mut allows.event_thread
                    } else {
                        &mut allows.worker
                    };
                    *thread = thread.saturating_add(n);
                }
                if n > 0 || why.fits(d) {
                    by.insert(why.as_str().to_string(), n);
                }
            }
            verdicts.insert(d.as_str().to_string(), total);
            reasons.insert(d.as_str().to_string(), by);
        }

        let mut cumulative = 0u64;
        let buckets = self
            .latency
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cumulative = cumulative.saturating_add(load(c));
                Bucket {
                    le: LATENCY_BUCKETS_US
                        .get(i)
                        .map_or(f64::INFINITY, |&us| us as f64 / 1e6),
                    count: cumulative,
                }
            })
            .collect();

        let sent = load(&self.jobs_sent);
        let text = |p: &Path| p.display().to_string();
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started_at: self.started_at,
            started_at_rfc3339: rfc3339(self.started_at),
            uptime_seconds: self.start.elapsed().as_secs(),
            mode: crate::fleet::summary(
                policy.facts.global_mode,
                policy.facts.trees.iter().map(|t| t.mode),
            )
            .to_string(),
            state: if policy.degraded.is_some() {
                Health::Degraded
            } else {
                Health::Ok
            },
            degraded: policy.degraded.as_ref().map(|d| DegradedStatus {
                reason: d.reason.clone(),
                file: text(&d.file),
                since: d.since,
                since_rfc3339: rfc3339(d.since),
                last_good_saved_at: d.last_good_saved_at,
                last_good_saved_at_rfc3339: d.last_good_saved_at.map(rfc3339),
            }),
            last_reload: policy.last_reload.as_ref().map(|r| LastReload {
                ok: r.ok,
                at: r.at,
                at_rfc3339: rfc3339(r.at),
                error: r.error.clone(),
            }),
            policy: PolicyStatus {
                file: text(&policy.facts.source),
                generation: policy.facts.generation,
                mode: policy.facts.global_mode.to_string(),
                digest: policy.facts.digest.clone(),
                expiry_warning_days: policy.facts.expiry_warning_days,
                keys: {
                    let now = unix_now();
                    let horizon = policy.facts.expiry_warning_days.saturating_mul(86_400);
                    policy
                        .facts
                        .keys
                        .iter()
                        .map(|k| k.at(now, horizon))
                        .collect()
                },
                loaded_at: policy.loaded_at,
                loaded_at_rfc3339: rfc3339(policy.loaded_at),
            },
            trees: policy
                .facts
                .trees
                .iter()
                .map(|t| TreeStatus {
                    path: text(&t.root),
                    mode: t.mode.to_string(),
                    directories: t.directories,
                    untrusted_writers: t.untrusted_writers.to_string(),
                    filesystem_mark: t.filesystem_mark,
                })
                .collect(),
            absent_trees: policy.absent_trees.iter().map(|p| text(p)).collect(),
            overlay_views: policy
                .overlay_views
                .iter()
                .map(|o| OverlayStatus {
                    tree: text(&o.tree),
                    mount_point: text(&o.mount_point),
                    upper: text(&o.upper),
                    pid: o.pid,
                })
                .collect(),
            directories_marked: load(&self.directories_marked),
            events: load(&self.events),
            verdicts,
            reasons,
            allows,
            cache: CacheStatus {
                entries: count(live.cache_entries),
                capacity: count(live.cache_capacity),
                hits: load(&self.cache_hits),
                misses: load(&self.cache_misses),
            },
            verifications: Verifications {
                run: load(&self.verifications),
                coalesced: load(&self.coalesced),
                ahead: load(&self.verified_ahead),
            },
            kernel_cache: KernelCacheStatus {
                marks: count(live.kernel_marks),
                placed: live.kernel_marks_placed,
                dropped: live.kernel_marks_dropped,
            },
            queue: Queue {
                depth: self.jobs_in_flight(),
                max_depth: load(&self.queue_max),
                jobs: sent,
            },
            latency: Latency {
                count: cumulative,
                sum_seconds: load(&self.latency_sum_us) as f64 / 1e6,
                buckets,
            },
            reloads: Reloads {
                ok: load(&self.reloads_ok),
                failed: load(&self.reloads_failed),
            },
            audit: AuditStatus {
                dropped: live.audit_dropped,
            },
            metrics_file: live.metrics_file.as_ref().map(|p| MetricsFileStatus {
                path: text(p),
                interval_seconds: live.metrics_interval,
                write_errors: load(&self.metrics_write_errors),
            }),
            event_loop: EventLoop {
                heartbeat_age_seconds: self.heartbeat_age().as_secs_f64(),
                events_lost: live.events_lost,
            },
            watchdog_seconds: live.watchdog.map(|d| d.as_secs_f64()),
            last_denials: self
                .ring()
                .iter()
                .rev()
                .map(|d| DenialStatus {
                    time: d.time,
                    time_rfc3339: rfc3339(d.time),
                    decision: d.decision.as_str().to_string(),
                    path: crate::audit::path_text(&d.path),
                    path_hex: crate::audit::path_hex(&d.path),
                    reason: d.reason.to_string(),
                    detail: d.detail.clone(),
                    pid: d.pid,
                    exe: d.exe.clone(),
                })
                .collect(),
        }
    }
}
