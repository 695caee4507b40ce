//! Where the agent's records go: journald when its socket answers, else one
//! JSON object per line on stderr with the same field names (MESSAGE,
//! MESSAGE_ID, PRIORITY, SIGWARD_*), so that both can be parsed by the same
//! tools. `SIGWARD_LOG_TARGET=stderr` forces stderr; `SIGWARD_LOG` sets the
//! level filter (default `info`).
//!
//! No thread of the agent ever waits for journald (or for a reader of
//! stderr). Every thread's records, whether audit records, reload records
//! or start-up records, are captured into owned values and handed with
//! `try_send` to one bounded queue; a single `sigward-log` thread writes
//! them. When journald stops reading, only that thread waits; the queue
//! fills and further records are dropped and counted ([`dropped`]). The
//! writer reports the count itself, directly, once it can write again.
//! Per-file decision records (target [`DECISION_TARGET`]) may only fill the
//! queue up to [`RESERVE`] records short of its capacity, so that a flood
//! of denials cannot crowd out reload, start and stop records.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use tracing::field::{Field, Value, Visit};
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::ids;

/// Where records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The systemd journal.
    Journald,
    /// JSON lines on stderr.
    Stderr,
}

/// The `tracing` target of per-file decision records (deny, would-deny,
/// allow, and their rate-limit summaries).
pub const DECISION_TARGET: &str = "sigward::decision";

/// Records waiting for the writer before new ones are dropped.
pub const QUEUE: usize = 8192;

/// Queue slots that decision records may not take.
pub const RESERVE: usize = 512;

/// Records dropped because the log queue (or the audit queue feeding it)
/// was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The queue's producer side, for [`flush`].
static QUEUE_TX: OnceLock<Sender<Msg>> = OnceLock::new();

/// Records dropped so far because a queue was full.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Counts one record dropped before it reached the log queue.
pub fn count_dropped() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("SIGWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber and the writer thread, and says where
/// records go. If the writer thread cannot be started, records are written
/// by the thread that makes them, as before there was a queue.
pub fn init() -> Target {
    let forced_stderr = std::env::var("SIGWARD_LOG_TARGET").is_ok_and(|v| v == "stderr");
    let journald = if forced_stderr {
        None
    } else {
        tracing_journald::layer().ok().map(|layer| {
            layer
                .with_field_prefix(None)
                .with_syslog_identifier("sigward".into())
        })
    };
    let target = if journald.is_some() {
        Target::Journald
    } else {
        Target::Stderr
    };
    let sink = match journald {
        Some(layer) => Dispatch::new(Registry::default().with(filter()).with(layer)),
        None => Dispatch::new(Registry::default().with(filter()).with(JsonLines)),
    };
    let (tx, rx) = bounded::<Msg>(QUEUE);
    let writer_sink = sink.clone();
    let started = std::thread::Builder::new()
        .name("sigward-log".into())
        .spawn(move || writer(&rx, &writer_sink));
    if started.is_err() {
        let _ = tracing::dispatcher::set_global_default(sink);
        return target;
    }
    let _ = QUEUE_TX.set(tx.clone());
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(Deferred { tx })
        .try_init();
    target
}

/// Waits until every record queued so far is written, for at most
/// `timeout` (journald may not be reading). Called before the process exits.
pub fn flush(timeout: Duration) {
    let Some(tx) = QUEUE_TX.get() else {
        return;
    };
    let (ack_tx, ack_rx) = bounded(1);
    if tx.send_timeout(Msg::Flush(ack_tx), timeout).is_ok() {
        let _ = ack_rx.recv_timeout(timeout);
    }
}

/// A field value, owned so that it can cross to the writer thread.
#[derive(Debug, PartialEq)]
enum Owned {
    Str(String),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

impl Owned {
    fn as_value(&self) -> &dyn Value {
        match self {
            Owned::Str(v) => v,
            Owned::I64(v) => v,
            Owned::U64(v) => v,
            Owned::I128(v) => v,
            Owned::U128(v) => v,
            Owned::F64(v) => v,
            Owned::Bool(v) => v,
        }
    }
}

/// One event, captured: its callsite's metadata and a value for each of the
/// callsite's fields that the event set, by field index.
struct Captured {
    meta: &'static Metadata<'static>,
    values: Vec<Option<Owned>>,
    time: SystemTime,
}

thread_local! {
    /// On the writer thread, while an event is replayed: when it was made.
    static EVENT_TIME: Cell<Option<SystemTime>> = const { Cell::new(None) };
}

impl Captured {
    fn of(event: &Event<'_>) -> Captured {
        let meta = event.metadata();
        let mut values = Values((0..meta.fields().len()).map(|_| None).collect());
        event.record(&mut values);
        Captured {
            meta,
            values: values.0,
            time: SystemTime::now(),
        }
    }

    /// Hands the event to the current thread's dispatcher.
    fn replay(&self) {
        let values: Vec<Option<&dyn Value>> = self
            .values
            .iter()
            .map(|v| v.as_ref().map(Owned::as_value))
            .collect();
        // `value_set_all` wants exactly one entry per field of the callsite,
        // which `Captured::of` guarantees.
        let set = self.meta.fields().value_set_all(&values);
        EVENT_TIME.with(|t| t.set(Some(self.time)));
        Event::dispatch(self.meta, &set);
        EVENT_TIME.with(|t| t.set(None));
    }
}

struct Values(Vec<Option<Owned>>);

impl Values {
    fn put(&mut self, field: &Field, v: Owned) {
        if let Some(slot) = self.0.get_mut(field.index()) {
            *slot = Some(v);
        }
    }
}

impl Visit for Values {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Owned::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Owned::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Owned::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, Owned::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, Owned::U128(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Owned::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Owned::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.put(field, Owned::Str(s));
    }
}

enum Msg {
    Record(Captured),
    Flush(Sender<()>),
}

/// The global layer: captures each event and queues it, never blocking.
struct Deferred {
    tx: Sender<Msg>,
}

impl<S: Subscriber> Layer<S> for Deferred {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let limit = if event.metadata().target() == DECISION_TARGET {
            QUEUE - RESERVE
        } else {
            QUEUE
        };
        // A full queue drops the record before anything is copied.
        if self.tx.len() >= limit || self.tx.try_send(Msg::Record(Captured::of(event))).is_err() {
            count_dropped();
        }
    }
}

/// The writer thread: writes queued records through `sink`, and reports
/// dropped records once the queue has drained.
fn writer(rx: &Receiver<Msg>, sink: &Dispatch) {
    tracing::dispatcher::with_default(sink, || {
        let mut reported = 0;
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(Msg::Record(c)) => c.replay(),
                Ok(Msg::Flush(ack)) => {
                    report_dropped(&mut reported);
                    let _ = ack.send(());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if rx.is_empty() {
                report_dropped(&mut reported);
            }
        }
    });
}

/// Writes one record saying how many records were dropped since the last
/// one, if any were. It is written directly, never queued, so it is never
/// itself dropped.
fn report_dropped(reported: &mut u64) {
    let total = dropped();
    if total > *reported {
        let n = total - *reported;
        *reported = total;
        tracing::error!(
            message_id = ids::DROPPED,
            sigward_dropped = n,
            sigward_dropped_total = total,
            "{n} log records were dropped because the log queue was full: journald (or the \
             reader of stderr) did not keep up ({total} in total)"
        );
    }
}

/// Writes each event as one JSON object per line on stderr.
struct JsonLines;

fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 5,
        Level::DEBUG => 6,
        Level::TRACE => 7,
    }
}

struct Fields(serde_json::Map<String, serde_json::Value>);

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        let name = if field.name() == "message" {
            "MESSAGE".to_string()
        } else {
            field.name().to_ascii_uppercase()
        };
        self.0.insert(name, value);
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.to_string().into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.to_string().into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.put(field, s.into());
    }
}

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(serde_json::Map::new());
        let meta = event.metadata();
        fields
            .0
            .insert("PRIORITY".into(), priority(meta.level()).to_string().into());
        fields
            .0
            .insert("SYSLOG_IDENTIFIER".into(), "sigward".into());
        // When the event was made, not when the writer got to it.
        let time = EVENT_TIME.with(Cell::get).unwrap_or_else(SystemTime::now);
        fields.0.insert(
            "TIMESTAMP".into(),
            humantime::format_rfc3339_micros(time).to_string().into(),
        );
        fields.0.insert("TARGET".into(), meta.target().into());
        event.record(&mut fields);
        let mut line = serde_json::Value::Object(fields.0).to_string();
        line.push('\n');
        // One write per record keeps lines whole; a failed write to stderr
        // has nowhere else to be reported.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::{Arc, Mutex};

    /// One event as (field name, value as text) pairs, the target first.
    type Fields = Vec<(String, String)>;

    /// Collects every event's fields.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<Fields>>>);

    struct Text(Fields);

    impl Visit for Text {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().into(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().into(), value.into()));
        }
    }

    impl<S: Subscriber> Layer<S> for Collect {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let mut t = Text(vec![("target".into(), event.metadata().target().into())]);
            event.record(&mut t);
            if let Ok(mut v) = self.0.lock() {
                v.push(t.0);
            }
        }
    }

    #[test]
    fn a_captured_event_replays_with_the_same_fields() {
        let (tx, rx) = bounded::<Msg>(4);
        let front = Dispatch::new(Registry::default().with(Deferred { tx }));
        tracing::dispatcher::with_default(&front, || {
            tracing::warn!(
                target: DECISION_TARGET,
                message_id = "abc",
                sigward_pid = 42_i32,
                sigward_uid = Option::<u32>::None,
                sigward_ok = true,
                "denied {} of {}",
                "open",
                "/p/x.py"
            );
        });
        let collect = Collect::default();
        let sink = Dispatch::new(Registry::default().with(collect.clone()));
        let Ok(Msg::Record(c)) = rx.try_recv() else {
            panic!("the event was not queued");
        };
        tracing::dispatcher::with_default(&sink, || c.replay());
        let got = collect.0.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(
            got,
            vec![vec![
                ("target".to_string(), DECISION_TARGET.to_string()),
                ("message".to_string(), "denied open of /p/x.py".to_string()),
                ("message_id".to_string(), "abc".to_string()),
                ("sigward_pid".to_string(), "42".to_string()),
                ("sigward_ok".to_string(), "true".to_string()),
            ]]
        );
    }

    #[test]
    fn decision_records_leave_room_for_the_others_and_drops_are_counted() {
        let (tx, rx) = bounded::<Msg>(QUEUE);
        let front = Dispatch::new(Registry::default().with(Deferred { tx }));
        let before = dropped();
        tracing::dispatcher::with_default(&front, || {
            for _ in 0..QUEUE {
                tracing::warn!(target: DECISION_TARGET, "deny");
            }
            for _ in 0..RESERVE + 1 {
                tracing::warn!("reload");
            }
        });
        // Other tests may count drops concurrently: at least ours.
        assert!(dropped() - before >= (RESERVE + 1) as u64);
        let (mut decisions, mut others) = (0, 0);
        while let Ok(Msg::Record(c)) = rx.try_recv() {
            if c.meta.target() == DECISION_TARGET {
                decisions += 1;
            } else {
                others += 1;
            }
        }
        assert_eq!((decisions, others), (QUEUE - RESERVE, RESERVE));
    }
}
