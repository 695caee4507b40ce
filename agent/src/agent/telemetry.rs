//! What the agent tells the world besides its records: the status (the
//! control socket, SIGUSR1), the metrics file writer, and the systemd
//! watchdog.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::files::AtomicWrite;
use crate::{ids, metrics, notify};

use super::Shared;

/// SIGUSR1: one record with the status, as `sigward status` shows it (the
/// record's `SIGWARD_STATUS` carries the JSON form).
pub(super) fn log_status(shared: &Shared) {
    let v = status(shared);
    let json = serde_json::to_string(&v).unwrap_or_default();
    tracing::info!(
        message_id = ids::STATUS,
        sigward_status = %json,
        "status on SIGUSR1:\n{}",
        crate::status::human(&v)
    );
}

/// The agent's status (see [`metrics::Metrics::status`]).
pub(super) fn status(shared: &Shared) -> crate::status::Status {
    let engine = shared.engine();
    shared.metrics.status(&metrics::Live {
        cache_entries: shared.cache.len(),
        cache_capacity: shared.cache.capacity(),
        kernel_marks: shared.kcache.len(),
        kernel_marks_placed: shared.kcache.placed(),
        kernel_marks_dropped: shared.kcache.removed(),
        events_lost: shared.auditor.lost(),
        audit_dropped: shared.auditor.dropped(),
        metrics_file: engine.policy.agent.metrics_file.clone(),
        metrics_interval: engine.policy.agent.metrics_interval_secs,
        watchdog: shared.watchdog,
    })
}

/// How often the event loop wakes up at least: once a second, and four
/// times per watchdog interval when that is shorter.
pub(super) fn beat_interval_ms(watchdog: Option<Duration>) -> u16 {
    let ms = watchdog.map_or(1000, |w| (w.as_millis() / 4).clamp(10, 1000));
    u16::try_from(ms).unwrap_or(1000)
}

/// Sends `WATCHDOG=1` every half interval while the event loop's heartbeat
/// is fresh; stops when the agent begins to stop.
pub(super) fn watchdog_loop(shared: &Shared, interval: Duration, stop: &Receiver<()>) {
    let every = (interval / 2).max(Duration::from_millis(5));
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let stopping = shared.shutting_down.load(Ordering::SeqCst);
        if notify::alive(shared.metrics.heartbeat_age(), interval, stopping) {
            notify::notify(notify::State::Watchdog);
        }
    }
}

/// Writes the metrics file every interval, at once after a reload, and a
/// last time when the agent stops. A failure is logged (at most every
/// [`METRICS_ERROR_EVERY`]) and counted, and never affects a verdict.
pub(super) fn metrics_loop(shared: &Shared, wake: &Receiver<()>) {
    let mut written: Option<PathBuf> = None;
    let mut failures = FailureLog::default();
    loop {
        let engine = shared.engine();
        let want = engine.policy.agent.metrics_file.clone();
        let interval = Duration::from_secs(engine.policy.agent.metrics_interval_secs.max(1));
        drop(engine);
        if written.is_some() && written != want {
            // A stale file beside the new one would be exported as well
            // (and node_exporter refuses the same series from two files).
            if let Some(old) = written.take() {
                match std::fs::remove_file(&old) {
                    Ok(()) => {
                        tracing::info!("metrics file moved: removed the old {}", old.display())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!("cannot remove old metrics file {}: {e}", old.display())
                    }
                }
            }
        }
        if let Some(path) = &want {
            // World-readable whatever the umask (the unit sets 0077):
            // node_exporter runs as another user.
            let text = crate::status::prometheus(&status(shared));
            match AtomicWrite::new(0o644).write(path, text.as_bytes()) {
                Ok(_) => {
                    written = Some(path.clone());
                    failures.recovered(path);
                }
                Err(e) => {
                    shared.metrics.metrics_write_failed();
                    failures.failed(path, &e);
                }
            }
        }
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let wait = if want.is_some() {
            interval
        } else {
            Duration::from_secs(3600)
        };
        match wake.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// How often a failing metrics file is reported.
pub(super) const METRICS_ERROR_EVERY: Duration = Duration::from_secs(600);

/// Rate-limits the reports of a failing metrics file.
#[derive(Default)]
pub(super) struct FailureLog {
    failing: bool,
    last_report: Option<Instant>,
    suppressed: u64,
}

impl FailureLog {
    pub(super) fn failed(&mut self, path: &Path, e: &std::io::Error) {
        self.failing = true;
        if self
            .last_report
            .is_some_and(|t| t.elapsed() < METRICS_ERROR_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        let more = if self.suppressed > 0 {
            format!(" ({} more failures since the last report)", self.suppressed)
        } else {
            String::new()
        };
        tracing::error!(
            message_id = ids::METRICS_FAILED,
            "cannot write metrics file {}: {e}{more}; verdicts are not affected",
            path.display()
        );
        self.last_report = Some(Instant::now());
        self.suppressed = 0;
    }

    pub(super) fn recovered(&mut self, path: &Path) {
        if self.failing {
            tracing::info!("metrics file {} written again", path.display());
        }
        *self = FailureLog::default();
    }
}
