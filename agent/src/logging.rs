//! Where the agent's records go: journald when its socket answers, else one
//! JSON object per line on stderr with the same field names (MESSAGE,
//! MESSAGE_ID, PRIORITY, SIGWARD_*), so that both can be parsed by the same
//! tools. `SIGWARD_LOG_TARGET=stderr` forces stderr; `SIGWARD_LOG` sets the
//! level filter (default `info`).

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The systemd journal.
    Journald,
    /// JSON lines on stderr.
    Stderr,
}

/// Installs the global subscriber and says where it writes.
pub fn init() -> Target {
    let filter = EnvFilter::try_from_env("SIGWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let forced_stderr = std::env::var("SIGWARD_LOG_TARGET").is_ok_and(|v| v == "stderr");
    if !forced_stderr {
        if let Ok(layer) = tracing_journald::layer() {
            let layer = layer
                .with_field_prefix(None)
                .with_syslog_identifier("sigward".into());
            if tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init()
                .is_ok()
            {
                return Target::Journald;
            }
            return Target::Stderr;
        }
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(JsonLines)
        .try_init();
    Target::Stderr
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
        fields.0.insert(
            "TIMESTAMP".into(),
            humantime::format_rfc3339_micros(std::time::SystemTime::now())
                .to_string()
                .into(),
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
