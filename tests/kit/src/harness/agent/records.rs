//! The agent's records: JSON lines on its stderr and, with journald, its
//! journal entries; waits for them.

use std::thread;
use std::time::{Duration, Instant};

use super::Agent;
use crate::harness::{journal_query, journald_live, parse_json_lines, Record, RECORD_TIMEOUT};

impl Agent {
    /// Records printed as JSON lines on the agent's stderr.
    pub fn stderr_records(&self) -> Vec<Record> {
        parse_json_lines(&self.stderr_text())
    }

    /// Journal records sent by this agent process (empty without journald):
    /// its pid, since it started (pids are reused).
    pub fn journal_records(&self) -> Vec<Record> {
        if !journald_live() {
            return Vec::new();
        }
        journal_query(&[
            format!("--since=@{}", self.started),
            "SYSLOG_IDENTIFIER=sigward".to_string(),
            format!("_PID={}", self.pid),
        ])
        .unwrap_or_default()
    }

    /// Records from both sinks.
    pub fn records(&self) -> Vec<Record> {
        let mut all = self.stderr_records();
        all.extend(self.journal_records());
        all
    }

    /// Waits until at least `count` records satisfy `pred` and returns the
    /// last of them.
    pub fn wait_records(&self, what: &str, count: usize, pred: impl Fn(&Record) -> bool) -> Record {
        let start = Instant::now();
        loop {
            let matching: Vec<Record> = self.records().into_iter().filter(&pred).collect();
            if matching.len() >= count {
                if let Some(last) = matching.into_iter().last() {
                    return last;
                }
            }
            if start.elapsed() >= RECORD_TIMEOUT {
                panic!(
                    "no{} audit record ({what}) from agent pid {} within {RECORD_TIMEOUT:?}; \
                     records seen:\n{}\n--- agent stderr ---\n{}",
                    if count > 1 {
                        format!(" {count}")
                    } else {
                        String::new()
                    },
                    self.pid,
                    self.records()
                        .iter()
                        .map(|r| format!("{r:?}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_record(&self, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
        self.wait_records(what, 1, pred)
    }

    /// Number of records currently matching `pred`.
    pub fn count_records(&self, pred: impl Fn(&Record) -> bool) -> usize {
        self.records().iter().filter(|r| pred(r)).count()
    }
}
