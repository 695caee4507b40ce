//! Audit records.
//!
//! Verdicts never wait for logging: the event and worker threads hand
//! records to a bounded queue with `try_send`, and one audit thread turns
//! them into `tracing` events, which [`crate::logging`] queues again for
//! its writer (journald, or JSON lines on stderr). A full queue drops the
//! record and counts it ([`crate::logging::dropped`]); the count is itself
//! reported. The audit thread also
//! rate-limits per path: after `rate_limit_burst` records for one path in an
//! interval, further ones are counted and summarised in one record when the
//! interval ends.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use sigward_policy::config::{AuditSettings, Mode};

use crate::ids;
use crate::opener::{LoginUid, Opener};
use crate::verdict::Decision;

/// One decision worth recording.
#[derive(Clone, Debug)]
pub struct DecisionRecord {
    /// What was decided.
    pub decision: Decision,
    /// Why: a verification reason word, or `self-signed` for an allow that
    /// rests on an untrusted key (absent for other allows).
    pub reason: Option<&'static str>,
    /// One readable sentence.
    pub detail: String,
    /// The file.
    pub path: PathBuf,
    /// `open` or `exec`.
    pub access: &'static str,
    /// The opener's pid.
    pub pid: i32,
    /// What `/proc` told of the opener (executable, uid, parent, login
    /// uid, cgroup, unit), each fact absent when unknown.
    pub opener: Opener,
    /// The root of the protected tree the file is in.
    pub tree: Option<PathBuf>,
    /// The file's SHA-256, hex, when computed.
    pub sha256: Option<String>,
    /// Where the signature was looked for.
    pub sig_path: Option<PathBuf>,
    /// The signer's fingerprint when known.
    pub key: Option<String>,
    /// The signature format, when one matched.
    pub format: Option<&'static str>,
    /// Who signed, when known (OpenSSH principal, minisign trusted
    /// comment, Conductor developer, key label).
    pub signer: Option<String>,
    /// What sigward accepted in an allowed file that the signing system's
    /// own tool refuses (`SIGWARD_HOST_WARNING`, `; `-separated): the
    /// plugin host's loader may still refuse the file.
    pub host_warnings: Vec<String>,
    /// The mode that applied.
    pub mode: Mode,
    /// Policy generation.
    pub generation: u64,
    /// When the decision was made (records can be written later, when
    /// journald was slow).
    pub time: SystemTime,
}

impl DecisionRecord {
    /// A record of `decision` on the file at `path`, made now, with
    /// nothing else known yet: the callers fill in what they know with
    /// struct update syntax (`DecisionRecord { detail, ..new(..) }`).
    pub fn new(
        decision: Decision,
        path: PathBuf,
        access: &'static str,
        mode: Mode,
        generation: u64,
    ) -> DecisionRecord {
        DecisionRecord {
            decision,
            reason: None,
            detail: String::new(),
            path,
            access,
            pid: 0,
            opener: Opener::default(),
            tree: None,
            sha256: None,
            sig_path: None,
            key: None,
            format: None,
            signer: None,
            host_warnings: Vec::new(),
            mode,
            generation,
            time: SystemTime::now(),
        }
    }
}

enum Msg {
    Record(Box<DecisionRecord>),
    Settings(AuditSettings),
}

/// The producer side, cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    tx: Sender<Msg>,
    lost: Arc<AtomicU64>,
}

/// Records waiting to be written before new ones are dropped.
const QUEUE: usize = 8192;

impl Auditor {
    /// Starts the audit thread.
    pub fn start(settings: AuditSettings) -> std::io::Result<(Auditor, JoinHandle<()>)> {
        let (tx, rx) = bounded::<Msg>(QUEUE);
        let lost = Arc::new(AtomicU64::new(0));
        let lost_counter = lost.clone();
        let handle = std::thread::Builder::new()
            .name("sigward-audit".into())
            .spawn(move || {
                let mut w = Writer::new(settings, lost_counter);
                loop {
                    match rx.recv_timeout(Duration::from_secs(1)) {
                        Ok(Msg::Record(r)) => w.record(*r),
                        Ok(Msg::Settings(s)) => w.settings = s,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            w.flush(true);
                            return;
                        }
                    }
                    w.flush(false);
                }
            })?;
        Ok((Auditor { tx, lost }, handle))
    }

    /// Queues a record; never blocks.
    pub fn record(&self, r: DecisionRecord) {
        self.send(Msg::Record(Box::new(r)));
    }

    /// Counts permission events the event thread could not read (the
    /// kernel denied them itself); reported by the audit thread. Never
    /// blocks.
    pub fn event_lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    /// Permission events lost so far.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Records dropped so far because the audit queue or the log queue was
    /// full.
    pub fn dropped(&self) -> u64 {
        crate::logging::dropped()
    }

    /// Applies new rate-limit settings (after a reload).
    pub fn set_settings(&self, s: AuditSettings) {
        self.send(Msg::Settings(s));
    }

    fn send(&self, m: Msg) {
        match self.tx.try_send(m) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                crate::logging::count_dropped();
            }
        }
    }
}

struct PathState {
    window_start: Instant,
    emitted: u32,
    suppressed: u64,
    last: Option<DecisionRecord>,
}

struct Writer {
    settings: AuditSettings,
    paths: HashMap<PathBuf, PathState>,
    lost: Arc<AtomicU64>,
    lost_reported: u64,
    last_flush: Instant,
}

/// Upper bound on paths tracked by the rate limiter.
const MAX_TRACKED_PATHS: usize = 65_536;

impl Writer {
    fn new(settings: AuditSettings, lost: Arc<AtomicU64>) -> Self {
        Self {
            settings,
            paths: HashMap::new(),
            lost,
            lost_reported: 0,
            last_flush: Instant::now(),
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.settings.rate_limit_interval_secs)
    }

    fn record(&mut self, r: DecisionRecord) {
        let now = Instant::now();
        let interval = self.interval();
        if self.paths.len() >= MAX_TRACKED_PATHS && !self.paths.contains_key(&r.path) {
            self.flush(true);
        }
        let st = self.paths.entry(r.path.clone()).or_insert(PathState {
            window_start: now,
            emitted: 0,
            suppressed: 0,
            last: None,
        });
        if now.duration_since(st.window_start) >= interval && st.suppressed == 0 {
            st.window_start = now;
            st.emitted = 0;
        }
        if st.emitted < self.settings.rate_limit_burst {
            st.emitted += 1;
            emit(&r);
        } else {
            st.suppressed += 1;
            st.last = Some(r);
        }
    }

    /// Emits summaries for windows that ended (all of them when `all`), and
    /// reports lost events (dropped records are reported by the log writer).
    fn flush(&mut self, all: bool) {
        let now = Instant::now();
        if !all && now.duration_since(self.last_flush) < Duration::from_millis(500) {
            return;
        }
        self.last_flush = now;
        let interval = self.interval();
        self.paths.retain(|path, st| {
            let ended = all || now.duration_since(st.window_start) >= interval;
            if !ended {
                return true;
            }
            if st.suppressed > 0 {
                emit_summary(path, st.suppressed, interval, st.last.as_ref());
            }
            false
        });
        let lost = self.lost.load(Ordering::Relaxed);
        if lost > self.lost_reported {
            let n = lost - self.lost_reported;
            self.lost_reported = lost;
            tracing::error!(
                message_id = ids::EVENTS_LOST,
                sigward_lost = n,
                sigward_lost_total = lost,
                "{n} permission events could not be read because the agent ran out of file \
                 descriptors ({lost} in total): the kernel denied those opens without a verdict \
                 or a record"
            );
        }
    }
}

/// A path as text for records: UTF-8 as it is, every byte that is not
/// valid UTF-8 as `\xNN` (as `ls -b` and systemd show them), so that names
/// differing only in such bytes stay distinct. The exact bytes are in
/// [`path_hex`].
pub fn path_text(p: &Path) -> String {
    let mut out = String::new();
    for chunk in p.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The path's bytes in hex when it is not valid UTF-8 (the record field
/// `SIGWARD_PATH_HEX`), else `None`.
pub fn path_hex(p: &Path) -> Option<String> {
    let bytes = p.as_os_str().as_bytes();
    std::str::from_utf8(bytes)
        .is_err()
        .then(|| hex::encode(bytes))
}

fn emit(r: &DecisionRecord) {
    let path = path_text(&r.path);
    let path_hex = path_hex(&r.path);
    let sig = r.sig_path.as_deref().map(path_text);
    let tree = r.tree.as_deref().map(path_text);
    let o = &r.opener;
    let login_uid = o.login_uid.map(LoginUid::as_text);
    let time = humantime::format_rfc3339_micros(r.time).to_string();
    let reason = r.reason;
    let (id, verb) = match r.decision {
        Decision::Deny => (ids::DENY, "denied"),
        Decision::WouldDeny => (ids::WOULD_DENY, "would deny (audit mode)"),
        Decision::Allow => (ids::ALLOW, "allowed"),
    };
    let exe = o.exe.as_deref().unwrap_or("?");
    let host_warning = (!r.host_warnings.is_empty()).then(|| r.host_warnings.join("; "));
    let message = match (reason, &host_warning) {
        (Some(reason), _) => format!(
            "{verb} {} of {path} by pid {} ({exe}): {reason}: {}",
            r.access, r.pid, r.detail
        ),
        (None, Some(w)) => format!(
            "{verb} {} of {path} by pid {} ({exe}): warning: {w}",
            r.access, r.pid
        ),
        (None, None) => format!("{verb} {} of {path} by pid {} ({exe})", r.access, r.pid),
    };
    macro_rules! record {
        ($level:expr) => {
            tracing::event!(
                target: crate::logging::DECISION_TARGET,
                $level,
                message_id = id,
                sigward_decision = r.decision.as_str(),
                sigward_reason = reason,
                sigward_detail = r.detail.as_str(),
                sigward_path = path.as_str(),
                sigward_path_hex = path_hex.as_deref(),
                sigward_access = r.access,
                sigward_pid = r.pid,
                sigward_exe = o.exe.as_deref(),
                sigward_uid = o.uid,
                sigward_ppid = o.ppid,
                sigward_parent_exe = o.parent_exe.as_deref(),
                sigward_loginuid = login_uid.as_deref(),
                sigward_cgroup = o.cgroup.as_deref(),
                sigward_unit = o.unit.as_deref(),
                sigward_tree = tree.as_deref(),
                sigward_sha256 = r.sha256.as_deref(),
                sigward_sig_path = sig.as_deref(),
                sigward_key = r.key.as_deref(),
                sigward_format = r.format,
                sigward_signer = r.signer.as_deref(),
                sigward_host_warning = host_warning.as_deref(),
                sigward_mode = r.mode.as_str(),
                sigward_generation = r.generation,
                sigward_time = time.as_str(),
                "{message}"
            )
        };
    }
    match r.decision {
        Decision::Allow => record!(tracing::Level::INFO),
        Decision::Deny | Decision::WouldDeny => record!(tracing::Level::WARN),
    }
}

fn emit_summary(path: &std::path::Path, n: u64, interval: Duration, last: Option<&DecisionRecord>) {
    let shown = path_text(path);
    let shown_hex = path_hex(path);
    let decision = last.map(|r| r.decision.as_str());
    let reason = last.and_then(|r| r.reason);
    tracing::warn!(
        target: crate::logging::DECISION_TARGET,
        message_id = ids::SUPPRESSED,
        sigward_path = shown.as_str(),
        sigward_path_hex = shown_hex.as_deref(),
        sigward_suppressed = n,
        sigward_decision = decision,
        sigward_reason = reason,
        "suppressed {n} more audit records for {shown} in the last {}s (rate limit)",
        interval.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigward_policy::Reason;

    fn rec(path: &str) -> DecisionRecord {
        DecisionRecord {
            reason: Some(Reason::Unsigned.as_str()),
            detail: "x".into(),
            pid: 1,
            time: SystemTime::UNIX_EPOCH,
            ..DecisionRecord::new(
                Decision::Deny,
                PathBuf::from(path),
                "open",
                Mode::Enforce,
                1,
            )
        }
    }

    #[test]
    fn paths_that_are_not_utf8_stay_distinct_in_records() {
        use std::ffi::OsStr;
        let utf8 = Path::new("/p/mod\u{fffd}.py\n");
        assert_eq!(path_text(utf8), "/p/mod\u{fffd}.py\n");
        assert_eq!(path_hex(utf8), None);
        let bad = Path::new(OsStr::from_bytes(b"/p/mod\xff.py"));
        let worse = Path::new(OsStr::from_bytes(b"/p/mod\xfe.py"));
        assert_eq!(path_text(bad), "/p/mod\\xff.py");
        assert_ne!(path_text(bad), path_text(worse));
        assert_eq!(path_hex(bad).as_deref(), Some("2f702f6d6f64ff2e7079"));
        // A name that literally reads `\xff` has no hex field: the two are
        // told apart by it.
        let literal = Path::new("/p/mod\\xff.py");
        assert_eq!(path_text(literal), path_text(bad));
        assert_eq!(path_hex(literal), None);
    }

    #[test]
    fn rate_limit_counts_per_path() {
        let settings = AuditSettings {
            log_allowed: false,
            kernel_audit: false,
            rate_limit_burst: 2,
            rate_limit_interval_secs: 3600,
        };
        let mut w = Writer::new(settings, Arc::new(AtomicU64::new(0)));
        for _ in 0..5 {
            w.record(rec("/a"));
        }
        w.record(rec("/b"));
        let a = w
            .paths
            .get(&PathBuf::from("/a"))
            .map(|s| (s.emitted, s.suppressed));
        assert_eq!(a, Some((2, 3)));
        let b = w
            .paths
            .get(&PathBuf::from("/b"))
            .map(|s| (s.emitted, s.suppressed));
        assert_eq!(b, Some((1, 0)));
        w.flush(true);
        assert!(w.paths.is_empty());
    }
}
