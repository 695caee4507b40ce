//! A journald for the tests: the running one, or one started by hand.

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use std::{io, thread};

use super::process::Proc;
use super::records::parse_json_lines;
use super::records::Record;
use super::{JOURNALD_BIN, JOURNAL_SOCKET, PROC_TIMEOUT, RECORD_TIMEOUT};

/// Is something listening on the journal's native socket?
pub fn journald_live() -> bool {
    UnixDatagram::unbound()
        .and_then(|s| s.connect(JOURNAL_SOCKET))
        .is_ok()
}

/// Makes sure journald is running (starting it once per test binary if the
/// socket is missing or stale), so the journald sink is always exercised.
pub fn ensure_journald() {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let res = STARTED.get_or_init(|| {
        if journald_live() {
            return Ok(());
        }
        if !Path::new(JOURNALD_BIN).exists() {
            return Err(format!(
                "{JOURNAL_SOCKET} is not served and {JOURNALD_BIN} does not exist \
                 (install systemd)"
            ));
        }
        // Detached: own session, no pipes; it outlives the tests.
        let mut cmd = Command::new(JOURNALD_BIN);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        if let Err(e) = spawned {
            return Err(format!("cannot start {JOURNALD_BIN}: {e}"));
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if journald_live() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "started {JOURNALD_BIN} but {JOURNAL_SOCKET} did not accept connections within 10 s"
        ))
    });
    if let Err(e) = res {
        panic!("journald is required for this test: {e}");
    }
}

/// `journalctl -o json --no-pager FILTER...`
pub fn journal_query(filters: &[String]) -> Result<Vec<Record>, String> {
    let mut cmd = Command::new("journalctl");
    cmd.args(["-o", "json", "--no-pager"]).args(filters);
    let fin = Proc::spawn(&mut cmd).finish(PROC_TIMEOUT)?;
    if !fin.success() && fin.stdout.trim().is_empty() {
        return Err(fin.to_string());
    }
    Ok(parse_json_lines(&fin.stdout))
}

/// Polls the journal (up to [`RECORD_TIMEOUT`]) for a record matching the
/// filters and `pred`.
pub fn wait_journal_record(
    what: &str,
    filters: &[String],
    pred: impl Fn(&Record) -> bool,
) -> Record {
    let start = Instant::now();
    let mut last_err = String::new();
    loop {
        match journal_query(filters) {
            Ok(recs) => {
                if let Some(r) = recs.into_iter().find(|r| pred(r)) {
                    return r;
                }
            }
            Err(e) => last_err = e,
        }
        if start.elapsed() >= RECORD_TIMEOUT {
            let seen = journal_query(filters).unwrap_or_default();
            panic!(
                "no journal record ({what}) for `journalctl {}` within {RECORD_TIMEOUT:?}; \
                 matching the filters: {seen:#?}\nlast journalctl error: {last_err}",
                filters.join(" ")
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Checks `record[field] == want`, with a readable failure.
pub fn expect_field(record: &Record, field: &str, want: &str) {
    match record.get(field) {
        Some(v) if v == want => {}
        Some(v) => panic!("record field {field} is {v:?}, expected {want:?}\nrecord: {record:#?}"),
        None => panic!("record lacks field {field} (expected {want:?})\nrecord: {record:#?}"),
    }
}

/// Checks that `record[field]` exists and is not empty.
pub fn expect_field_present(record: &Record, field: &str) {
    match record.get(field) {
        Some(v) if !v.is_empty() => {}
        _ => panic!("record lacks a non-empty field {field}\nrecord: {record:#?}"),
    }
}
