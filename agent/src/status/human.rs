//! The status as a table for people: `sigward status`, and the record
//! logged on SIGUSR1.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Health, Status};

/// The status as a table for people.
pub fn human(v: &Status) -> String {
    let mut t = Table::default();
    t.row(
        "agent",
        format!(
            "sigward {} (pid {}), up {} (since {})",
            v.version,
            v.pid,
            humantime::format_duration(Duration::from_secs(v.uptime_seconds)),
            v.started_at_rfc3339
        ),
    );
    t.row("mode", v.mode.clone());
    match (&v.state, &v.degraded) {
        (Health::Degraded, Some(d)) => {
            let saved = match &d.last_good_saved_at_rfc3339 {
                Some(at) => format!("the last good policy (saved {at})"),
                None => "the policy loaded before".to_string(),
            };
            t.row(
                "state",
                format!(
                    "DEGRADED since {}: the policy on disk cannot be loaded: {}; enforcing {saved}",
                    d.since_rfc3339, d.reason
                ),
            );
        }
        (Health::Degraded, None) => t.row("state", "DEGRADED".into()),
        (Health::Ok, _) => t.row("state", "ok".into()),
    }
    if let Some(r) = &v.last_reload {
        let text = if r.ok {
            format!("applied {}", r.at_rfc3339)
        } else {
            format!(
                "REFUSED {}: {}",
                r.at_rfc3339,
                r.error.as_deref().unwrap_or_default()
            )
        };
        t.row("last reload", text);
    }
    t.row(
        "policy",
        format!(
            "{}, generation {}, loaded {} ({} ago)",
            v.policy.file,
            v.policy.generation,
            v.policy.loaded_at_rfc3339,
            humantime::format_duration(Duration::from_secs(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .saturating_sub(v.policy.loaded_at)
            ))
        ),
    );
    t.row("digest", v.policy.digest.clone());
    keys(&mut t, v);
    trees(&mut t, v);
    let rate = match v.cache.hit_rate() {
        None => "no lookups yet".to_string(),
        Some(rate) => format!(
            "hit rate {:.1}% ({} hits, {} misses)",
            100.0 * rate,
            v.cache.hits,
            v.cache.misses
        ),
    };
    t.row(
        "cache",
        format!(
            "{} / {} verdicts, {rate}",
            v.cache.entries, v.cache.capacity
        ),
    );
    t.row(
        "events",
        format!(
            "{} (queue depth {}, max {}; {} handed to workers)",
            v.events, v.queue.depth, v.queue.max_depth, v.queue.jobs
        ),
    );
    let verdict = |d: &str| v.verdicts.get(d).copied().unwrap_or(0);
    t.row(
        "verdicts",
        format!(
            "allow {} (event thread {}, workers {}), deny {}, would-deny {}",
            verdict("allow"),
            v.allows.event_thread,
            v.allows.worker,
            verdict("deny"),
            verdict("would-deny")
        ),
    );
    let mut label = "by reason";
    for (d, by) in &v.reasons {
        let parts: Vec<String> = by
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        if !parts.is_empty() {
            t.row(label, format!("{d:<10}  {}", parts.join(", ")));
            label = "";
        }
    }
    if !label.is_empty() {
        t.row(label, "-".into());
    }
    let top = v.latency.top_bound();
    let latency = match (
        v.latency.quantile(0.5),
        v.latency.quantile(0.99),
        v.latency.mean(),
    ) {
        (Some(p50), Some(p99), Some(mean)) => format!(
            "{} answered by workers: half within {}, 99% within {} (mean {})",
            v.latency.count,
            short_duration(p50, top),
            short_duration(p99, top),
            short_duration(mean, top)
        ),
        _ => "nothing verified yet".into(),
    };
    t.row("latency", latency);
    t.row(
        "reloads",
        format!("{} applied, {} refused", v.reloads.ok, v.reloads.failed),
    );
    t.row("audit", format!("{} records dropped", v.audit.dropped));
    let metrics = match &v.metrics_file {
        Some(m) => format!(
            "{} every {} s ({} write errors)",
            m.path, m.interval_seconds, m.write_errors
        ),
        None => "no metrics_file configured".into(),
    };
    t.row("metrics file", metrics);
    let beat = v.event_loop.heartbeat_age_seconds;
    let watchdog = match v.watchdog_seconds {
        Some(w) => format!("systemd watchdog every {w} s; event loop beat {beat:.1} s ago"),
        None => format!("off; event loop beat {beat:.1} s ago"),
    };
    t.row("watchdog", watchdog);
    denials(&mut t, v);
    t.0
}

/// Rows of `KEY  value`, the key column 13 wide.
#[derive(Default)]
struct Table(String);

impl Table {
    fn row(&mut self, key: &str, value: String) {
        let _ = writeln!(self.0, "{key:<13} {value}");
    }
}

fn trees(t: &mut Table, v: &Status) {
    if v.trees.is_empty() {
        t.row("trees", "none: nothing is protected".into());
    }
    let width = v.trees.iter().map(|t| t.path.len()).max().unwrap_or(0);
    let mut label = "trees";
    for tree in &v.trees {
        t.row(
            label,
            format!(
                "{:<width$}  {:<7}  {} directories marked, untrusted writers: {}{}",
                tree.path,
                tree.mode,
                tree.directories,
                tree.untrusted_writers,
                if tree.filesystem_mark {
                    ", filesystem marked"
                } else {
                    ", new directories unchecked until marked"
                }
            ),
        );
        label = "";
    }
    let mut label = "absent";
    for path in &v.absent_trees {
        t.row(
            label,
            format!(
                "{path} (required = false): does not exist; protected from the first reload that \
                 finds it"
            ),
        );
        label = "";
    }
    if !v.overlay_views.is_empty() {
        t.row(
            "overlays",
            format!(
                "{} writable overlay(s) over protected trees: files created through them are \
                 NOT checked",
                v.overlay_views.len()
            ),
        );
        for w in &v.overlay_views {
            t.row(
                "",
                format!(
                    "{} over {} (pid {}), upper layer {}",
                    w.mount_point, w.tree, w.pid, w.upper
                ),
            );
        }
    }
}

fn keys(t: &mut Table, v: &Status) {
    if v.policy.keys.is_empty() {
        t.row("keys", "none trusted".into());
        return;
    }
    let mut label = "keys";
    for k in &v.policy.keys {
        t.row(label, k.line());
        label = "";
    }
}

fn denials(t: &mut Table, v: &Status) {
    if v.last_denials.is_empty() {
        t.row("last denials", "none".into());
        return;
    }
    let o = &mut t.0;
    let _ = writeln!(o, "\nlast denials (newest first):");
    let _ = writeln!(
        o,
        "  {:<20}  {:<10}  {:<10}  {:>7}  {:<24}  PATH",
        "TIME", "DECISION", "REASON", "PID", "EXE"
    );
    for d in &v.last_denials {
        let _ = writeln!(
            o,
            "  {:<20}  {:<10}  {:<10}  {:>7}  {:<24}  {}",
            d.time_rfc3339,
            d.decision,
            d.reason,
            d.pid,
            d.exe.as_deref().unwrap_or("?"),
            d.path
        );
    }
}

/// A number of seconds for people: `250 µs`, `2.5 ms`, `10 s`, and `more
/// than 10 s` for the `+Inf` bucket (`top`: the largest finite bound).
fn short_duration(x: f64, top: f64) -> String {
    if x.is_infinite() {
        format!("more than {top} s")
    } else if x < 1e-3 {
        format!("{} µs", (x * 1e6).round())
    } else if x < 1.0 {
        format!("{} ms", (x * 1e4).round() / 10.0)
    } else {
        format!("{} s", (x * 100.0).round() / 100.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::metrics::{Live, Metrics};
    use crate::status::tests::sample;

    #[test]
    fn human_table() {
        let text = human(&sample());
        for want in [
            "mode          mixed",
            "digest        abab",
            "keys          ed25519 cdcd",
            "name=release-2027 groups=vendors not_after=2028-01-01T00:00:00Z",
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
        assert_eq!(short_duration(0.00005, 10.0), "50 µs");
        assert_eq!(short_duration(0.0025, 10.0), "2.5 ms");
        assert_eq!(short_duration(0.000381, 10.0), "381 µs");
        assert_eq!(short_duration(10.0, 10.0), "10 s");
        assert_eq!(short_duration(f64::INFINITY, 10.0), "more than 10 s");
        assert_eq!(sample().latency.top_bound(), 10.0);
    }
}
