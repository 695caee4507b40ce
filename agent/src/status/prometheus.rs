//! The status in the Prometheus text exposition format (version 0.0.4),
//! encoded by the `prometheus-client` crate.
//!
//! The counters live in [`crate::metrics::Metrics`] as plain atomics, so
//! that the event thread never allocates or locks; a [`Collector`] over a
//! [`Status`] snapshot hands them to the crate's encoder when a status is
//! rendered (the metrics file, `sigward status --prometheus`). The crate
//! appends `_total` to counters and `_info` to the info metric, escapes
//! label values and help texts, and makes histogram buckets cumulative.
//!
//! The metric names, labels and help texts are a documented interface
//! (`docs/operations.md`, the alert rules in `packaging/sigward.rules.yml`).

use std::fmt::Error;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{Health, Status};

/// The status as Prometheus text exposition format (version 0.0.4).
pub fn prometheus(status: &Status) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StatusCollector(status.clone())));
    let mut text = String::new();
    // Writing to a String cannot fail, and the collector's own writes only
    // fail when the writer does.
    match prometheus_client::encoding::prometheus_text::encode(&mut text, &registry) {
        Ok(()) => text,
        Err(Error) => String::new(),
    }
}

/// Hands one status to the encoder.
#[derive(Debug)]
struct StatusCollector(Status);

/// Writes families through a [`DescriptorEncoder`].
struct Families<'a>(DescriptorEncoder<'a>);

impl Families<'_> {
    /// A counter without labels (`name` without `_total`).
    fn counter(&mut self, name: &str, help: &str, value: u64) -> Result<(), Error> {
        self.0
            .encode_descriptor(name, help, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, u64, f64>(&value, None)
    }

    /// A counter with one sample per label set.
    fn counters<L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, u64)>,
    ) -> Result<(), Error> {
        let mut family = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in samples {
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, u64, f64>(&value, None)?;
        }
        Ok(())
    }

    /// A gauge without labels.
    fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        value: V,
    ) -> Result<(), Error> {
        self.0
            .encode_descriptor(name, help, None, MetricType::Gauge)?
            .encode_gauge(&value)
    }

    /// A gauge with one sample per label set.
    fn gauges<L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, u64)>,
    ) -> Result<(), Error> {
        let mut family = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in samples {
            family.encode_family(&labels)?.encode_gauge(&value)?;
        }
        Ok(())
    }
}

impl Collector for StatusCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), Error> {
        let v = &self.0;
        let mut f = Families(encoder);
        f.0.encode_descriptor(
            "sigward",
            "The running agent (always 1).",
            None,
            MetricType::Info,
        )?
        .encode_info(&[("version", v.version.as_str())])?;
        f.gauge(
            "sigward_start_time_seconds",
            "When the agent started, in seconds since the epoch.",
            v.started_at,
        )?;
        f.gauge(
            "sigward_uptime_seconds",
            "Seconds since the agent started.",
            v.uptime_seconds,
        )?;
        f.gauges(
            "sigward_mode",
            "The mode of the policy in force (1 for the mode in force): every protected tree's \
             mode when they agree, mixed when they differ (see sigward_tree_mode).",
            ["enforce", "audit", "off", "mixed"].map(|m| ([("mode", m)], u64::from(v.mode == m))),
        )?;
        f.gauges(
            "sigward_tree_mode",
            "The effective mode of each protected tree (1 for its mode).",
            v.trees.iter().flat_map(|t| {
                ["enforce", "audit", "off"].map(|m| {
                    (
                        [("tree", t.path.as_str()), ("mode", m)],
                        u64::from(t.mode == m),
                    )
                })
            }),
        )?;
        f.gauges(
            "sigward_policy_info",
            "The policy in force (always 1): its digest, equal on hosts that enforce the same \
             policy with the same keys, and its own mode.",
            [(
                [
                    ("digest", v.policy.digest.as_str()),
                    ("global_mode", v.policy.mode.as_str()),
                ],
                1u64,
            )],
        )?;
        f.gauges(
            "sigward_key_info",
            "Each trusted key of the policy in force (always 1), with its validity now.",
            v.policy.keys.iter().map(|k| {
                (
                    [
                        ("fingerprint", k.fingerprint.as_str()),
                        ("name", k.name.as_deref().unwrap_or("")),
                        ("kind", k.kind.as_str()),
                        ("origin", k.origin.as_str()),
                        ("validity", k.validity.as_str()),
                    ],
                    1u64,
                )
            }),
        )?;
        f.gauges(
            "sigward_key_not_after_timestamp_seconds",
            "When each trusted key with a not_after stops being valid, in seconds since the \
             epoch.",
            v.policy.keys.iter().filter_map(|k| {
                k.not_after.map(|t| {
                    (
                        [
                            ("fingerprint", k.fingerprint.as_str()),
                            ("name", k.name.as_deref().unwrap_or("")),
                        ],
                        t,
                    )
                })
            }),
        )?;
        f.gauge(
            "sigward_policy_generation",
            "Generation of the policy in force (1 at start, +1 per applied reload).",
            v.policy.generation,
        )?;
        f.gauge(
            "sigward_policy_loaded_time_seconds",
            "When the policy in force was loaded, in seconds since the epoch.",
            v.policy.loaded_at,
        )?;
        f.gauge(
            "sigward_degraded",
            "1 while the policy on disk cannot be loaded and the agent enforces an older one (the \
             last good policy, or the generation before a refused reload).",
            u64::from(v.state == Health::Degraded),
        )?;
        if let Some(r) = &v.last_reload {
            f.gauge(
                "sigward_last_reload_success",
                "1 if the last reload was applied, 0 if it was refused.",
                u64::from(r.ok),
            )?;
            f.gauge(
                "sigward_last_reload_time_seconds",
                "When the last reload ended, in seconds since the epoch.",
                r.at,
            )?;
        }
        f.gauge(
            "sigward_trees",
            "Protected trees in the policy in force.",
            v.trees.len(),
        )?;
        f.gauge(
            "sigward_absent_trees",
            "Optional protected trees (required = false) whose directory does not exist: \
             protected from the first reload that finds them.",
            v.absent_trees.len(),
        )?;
        f.gauge(
            "sigward_overlay_views",
            "Writable overlays over protected trees found at start-up or by the last reload: \
             files created through them are not checked.",
            v.overlay_views.len(),
        )?;
        f.gauges(
            "sigward_tree_directories",
            "Directories marked in each protected tree.",
            v.trees.iter().map(|t| {
                (
                    [("tree", t.path.as_str()), ("mode", t.mode.as_str())],
                    t.directories,
                )
            }),
        )?;
        f.counter(
            "sigward_directories_marked",
            "Directories marked (start-up, reloads, new directories, rescans).",
            v.directories_marked,
        )?;
        f.counter(
            "sigward_events",
            "Permission events read (opens and execs in protected trees).",
            v.events,
        )?;
        f.counters(
            "sigward_verdicts",
            "Permission events answered, by decision.",
            v.verdicts
                .iter()
                .map(|(d, n)| ([("decision", d.as_str())], *n)),
        )?;
        f.counters(
            "sigward_verdict_reasons",
            "Permission events answered, by decision and reason.",
            v.reasons.iter().flat_map(|(d, by)| {
                by.iter()
                    .map(move |(r, n)| ([("decision", d.as_str()), ("reason", r.as_str())], *n))
            }),
        )?;
        f.counters(
            "sigward_allows",
            "Allows answered on the event thread (no verification) and by workers.",
            [
                ([("thread", "event")], v.allows.event_thread),
                ([("thread", "worker")], v.allows.worker),
            ],
        )?;
        f.counter(
            "sigward_cache_hits",
            "Verdict cache lookups that found a verdict.",
            v.cache.hits,
        )?;
        f.counter(
            "sigward_cache_misses",
            "Verdict cache lookups that found nothing.",
            v.cache.misses,
        )?;
        f.gauge(
            "sigward_cache_entries",
            "Verdicts in the cache.",
            v.cache.entries,
        )?;
        f.gauge(
            "sigward_cache_capacity",
            "Capacity of the verdict cache.",
            v.cache.capacity,
        )?;
        f.counter(
            "sigward_verifications",
            "Files read, hashed and verified by a worker.",
            v.verifications.run,
        )?;
        f.counter(
            "sigward_verifications_coalesced",
            "Events that waited for a verification of the same file already running.",
            v.verifications.coalesced,
        )?;
        f.counter(
            "sigward_verifications_ahead",
            "Files verified ahead of any open, in the directory of a file just verified.",
            v.verifications.ahead,
        )?;
        f.gauge(
            "sigward_kernel_cache_marks",
            "Kernel ignore marks on verified files and, for reads only, on the signature files read to verify them (opens answered by the kernel).",
            v.kernel_cache.marks,
        )?;
        f.counter(
            "sigward_kernel_cache_marks_placed",
            "Kernel ignore marks placed on verified files.",
            v.kernel_cache.placed,
        )?;
        f.counter(
            "sigward_kernel_cache_marks_dropped",
            "Kernel ignore marks removed by policy reloads.",
            v.kernel_cache.dropped,
        )?;
        // The crate wants each bucket's own count and adds them up.
        let mut below = 0u64;
        let buckets: Vec<(f64, u64)> = v
            .latency
            .buckets
            .iter()
            .map(|b| {
                let own = b.count.saturating_sub(below);
                below = b.count;
                (b.le, own)
            })
            .collect();
        f.0.encode_descriptor(
            "sigward_verification_duration_seconds",
            "Time from reading a permission event to a worker's answer.",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<NoLabelSet>(
            v.latency.sum_seconds,
            v.latency.count,
            &buckets,
            None,
        )?;
        f.gauge(
            "sigward_queue_depth",
            "Events handed to the workers and not answered yet.",
            v.queue.depth,
        )?;
        f.gauge(
            "sigward_queue_depth_max",
            "Largest queue depth seen since the agent started.",
            v.queue.max_depth,
        )?;
        f.counter(
            "sigward_jobs",
            "Events handed to the workers.",
            v.queue.jobs,
        )?;
        f.counters(
            "sigward_reloads",
            "Policy reloads, by result (ok: applied, failed: refused).",
            [
                ([("result", "ok")], v.reloads.ok),
                ([("result", "failed")], v.reloads.failed),
            ],
        )?;
        f.counter(
            "sigward_audit_dropped",
            "Records (audit records and others) dropped because a log queue was full.",
            v.audit.dropped,
        )?;
        f.counter(
            "sigward_metrics_file_write_errors",
            "Failed writes of the metrics file.",
            v.metrics_file.as_ref().map_or(0, |m| m.write_errors),
        )?;
        f.gauge(
            "sigward_event_loop_heartbeat_age_seconds",
            "Seconds since the event loop last made progress (it beats at least once a second).",
            v.event_loop.heartbeat_age_seconds,
        )?;
        f.counter(
            "sigward_events_lost",
            "Permission events the agent could not read (out of descriptors); the kernel denied \
             them.",
            v.event_loop.events_lost,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::status::tests::sample;
    use sigward_testkit::exposition;

    #[test]
    fn prometheus_text() {
        let text = prometheus(&sample());
        let samples = exposition::check(&text);
        for want in [
            "sigward_info{version=\"9.9.9\"} 1\n",
            "sigward_events_total 4\n",
            "sigward_verdicts_total{decision=\"deny\"} 1\n",
            "sigward_verdict_reasons_total{decision=\"deny\",reason=\"unsigned\"} 1\n",
            "sigward_verdict_reasons_total{decision=\"would-deny\",reason=\"tampered\"} 1\n",
            "sigward_verdict_reasons_total{decision=\"allow\",reason=\"self-signed\"} 0\n",
            "sigward_verification_duration_seconds_bucket{le=\"0.001\"} 2\n",
            "sigward_verification_duration_seconds_bucket{le=\"+Inf\"} 3\n",
            "sigward_verification_duration_seconds_count 3\n",
            "sigward_queue_depth 1\n",
            "sigward_reloads_total{result=\"failed\"} 2\n",
            "sigward_tree_directories{tree=\"/srv/p\",mode=\"enforce\"} 8\n",
            "sigward_mode{mode=\"mixed\"} 1\n",
            "sigward_mode{mode=\"enforce\"} 0\n",
            "sigward_tree_mode{tree=\"/srv/p/inner\",mode=\"audit\"} 1\n",
            "sigward_tree_mode{tree=\"/srv/p/inner\",mode=\"enforce\"} 0\n",
            "sigward_policy_info{digest=\"abababababababababababababababababababababababababababababababab\",global_mode=\"enforce\"} 1\n",
            "sigward_key_info{fingerprint=\"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\",name=\"release-2027\",kind=\"ed25519\",origin=\"pem\",validity=\"valid\"} 1\n",
            "sigward_key_not_after_timestamp_seconds{fingerprint=\"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\",name=\"release-2027\"} 1830297600\n",
            "sigward_policy_generation 3\n",
            "sigward_audit_dropped_total 7\n",
            "sigward_cache_hits_total 1\n",
            "# TYPE sigward_events_total counter\n",
            "# TYPE sigward_info gauge\n",
            "# TYPE sigward_verification_duration_seconds histogram\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // The first bound, written as Go's client writes it (Prometheus 3
        // normalises `le` on ingestion either way).
        let first = text
            .lines()
            .find(|l| l.starts_with("sigward_verification_duration_seconds_bucket"))
            .unwrap();
        assert_eq!(
            first,
            "sigward_verification_duration_seconds_bucket{le=\"5e-05\"} 1"
        );
        assert_eq!(samples["sigward_verification_duration_seconds_count"], 3.0);
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("sigward_verification_duration_seconds_bucket"))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(counts.len(), crate::metrics::LATENCY_BUCKETS_US.len() + 1);
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    }

    #[test]
    fn labels_are_escaped() {
        let mut s = sample();
        s.trees[0].path = "/srv/we\"ird\\dir\nx".into();
        let text = prometheus(&s);
        exposition::check(&text);
        assert!(
            text.contains("tree=\"/srv/we\\\"ird\\\\dir\\nx\""),
            "{text}"
        );
    }

    #[test]
    fn reload_gauges_only_after_a_reload() {
        let mut s = sample();
        s.last_reload = None;
        let text = prometheus(&s);
        exposition::check(&text);
        assert!(!text.contains("sigward_last_reload_success"), "{text}");
    }
}
