//! `sigward scan` and `sigward verify`: the signature status of files,
//! computed by the agent's own verification path
//! ([`check::evaluate_in_watched`], through [`evaluate_open`]), either here
//! or by the running agent on its control socket ([`evaluate_paths`]).
//!
//! [`Scanner`] walks the trees; [`Entry`] is one file's status (`entry.rs`,
//! serialised for `--json` and the control socket); `evaluate.rs` turns one
//! open file into an entry and serves the `evaluate` request.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use sigward_policy::Reason;

use crate::check;
use crate::config::Engine;
use crate::hash::Unwatched;

mod entry;
mod evaluate;

pub use entry::{Entry, Evaluator, Status};
pub use evaluate::{
    batches, evaluate_open, evaluate_paths, EvaluateError, EvaluateReply, EvaluateRequest, View,
    EVALUATE_BUDGET, MAX_EVALUATE_PATH, MAX_EVALUATE_PATHS, MAX_EVALUATE_REPLY,
};

/// Directories deeper than this below a scanned root are not walked.
pub const MAX_DEPTH: usize = 64;

/// How many characters of a fingerprint the table shows.
const KEY_PREFIX: usize = 16;

/// Walks files and directories, collecting one entry per file (and
/// warnings for what could not be walked). Regular files are only listed by
/// the walk ([`Scanner::pending`]); [`Scanner::verify_offline`] or the
/// running agent evaluates them.
#[derive(Default)]
pub struct Scanner {
    /// What was found, in walk order.
    pub entries: Vec<Entry>,
    /// Directories that could not be read, or were too deep.
    pub warnings: Vec<String>,
    /// The indices in `entries` of the regular files still to evaluate.
    pub pending: Vec<usize>,
}

impl Scanner {
    /// An empty scanner.
    pub fn new() -> Self {
        Scanner::default()
    }

    /// Scans `path`: a file, or a directory walked recursively (symlinks
    /// are reported, never followed).
    pub fn scan(&mut self, path: &Path) {
        self.walk(path, 0);
    }

    /// The paths of the regular files still to evaluate, in walk order.
    pub fn pending_paths(&self) -> Vec<PathBuf> {
        self.pending
            .iter()
            .filter_map(|&i| self.entries.get(i).map(|e| e.path.clone()))
            .collect()
    }

    /// Evaluates every pending file here, with `engine`.
    pub fn verify_offline(&mut self, engine: &Engine) {
        let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
        for i in std::mem::take(&mut self.pending) {
            if let Some(slot) = self.entries.get_mut(i) {
                *slot = verify_path(engine, &slot.path, &mut buf);
            }
        }
    }

    fn walk(&mut self, path: &Path, depth: usize) {
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.entries
                    .push(Entry::plain(path, Status::Unreadable, format!("{e}")));
                return;
            }
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(path)
                .map(|t| format!("-> {}", t.display()))
                .unwrap_or_else(|e| format!("cannot read the link: {e}"));
            self.entries
                .push(Entry::plain(path, Status::Symlink, target));
            return;
        }
        if ft.is_dir() {
            if depth >= MAX_DEPTH {
                self.warnings.push(format!(
                    "{}: deeper than {MAX_DEPTH} levels below the scanned root; not scanned",
                    path.display()
                ));
                return;
            }
            let mut children: Vec<PathBuf> = match fs::read_dir(path) {
                Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
                Err(e) => {
                    self.warnings.push(format!(
                        "{}: cannot read the directory: {e}",
                        path.display()
                    ));
                    return;
                }
            };
            children.sort();
            for child in children {
                self.walk(&child, depth + 1);
            }
            return;
        }
        // Read freely, never verified themselves.
        if check::is_sig_file(path) || check::is_aisoc_manifest(path) {
            return;
        }
        if !ft.is_file() {
            // The agent refuses FIFOs, sockets and devices as unsigned;
            // opening one here could block or have side effects.
            self.entries.push(Entry::rejected(
                path,
                Reason::Unsigned,
                "not a regular file: only regular files can carry a signature",
            ));
            return;
        }
        self.pending.push(self.entries.len());
        self.entries
            .push(Entry::plain(path, Status::Unreadable, "not evaluated"));
    }
}

/// `sigward scan`'s offline evaluation of one regular file it found.
fn verify_path(engine: &Engine, path: &Path, buf: &mut [u8]) -> Entry {
    let fd: OwnedFd = match check::open_no_follow(path) {
        Ok(fd) => fd,
        Err(Errno::EPERM) => {
            return Entry::plain(
                path,
                Status::Denied,
                "open refused (EPERM): a running agent denies this file; run sigward scan as \
                 root without --offline to have the agent say why",
            )
        }
        Err(Errno::ELOOP) => return Entry::plain(path, Status::Symlink, "became a symbolic link"),
        Err(e) => return Entry::plain(path, Status::Unreadable, format!("cannot open: {e}")),
    };
    // Verified under the name the kernel reports, as the agent does.
    let name = crate::files::fd_path(fd.as_fd()).unwrap_or_else(|| path.to_path_buf());
    let never = evaluate_open(engine, fd.as_fd(), &name, View::Scan, buf, &mut Unwatched);
    never.unwrap_or_else(|i| Entry::plain(&name, Status::Unreadable, i.to_string()))
}

/// The table: one line per file, columns aligned.
pub fn table(entries: &[Entry]) -> String {
    let key_of = |e: &Entry| {
        e.key
            .as_deref()
            .map_or_else(|| "-".to_string(), |k| k.chars().take(KEY_PREFIX).collect())
    };
    let last = |e: &Entry| -> String {
        match e.status {
            Status::Verified => e.signer.clone().unwrap_or_else(|| "-".into()),
            Status::SelfSigned => match &e.signer {
                Some(s) => format!("{s} (allow_self_signed)"),
                None => "(allow_self_signed)".into(),
            },
            _ => e.detail.clone().unwrap_or_default(),
        }
    };
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.status.shown().to_string(),
                e.path.display().to_string(),
                key_of(e),
                e.format.clone().unwrap_or_else(|| "-".into()),
                last(e),
            ]
        })
        .collect();
    let header = [
        "STATUS".to_string(),
        "PATH".into(),
        "KEY".into(),
        "FORMAT".into(),
        "SIGNER/DETAIL".into(),
    ];
    let mut widths = [0usize; 4];
    for r in rows.iter().chain(std::iter::once(&header)) {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let [status, path, key, format, last] = r;
        let line = format!(
            "{status:<w0$}  {path:<w1$}  {key:<w2$}  {format:<w3$}  {last}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `12 files: 9 verified, 2 unsigned, 1 empty`
pub fn summary(entries: &[Entry]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        *counts.entry(e.status.word()).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    format!(
        "{} file{}{}{}",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        if parts.is_empty() { "" } else { ": " },
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn entry(path: &str, status: Status) -> Entry {
        Entry::plain(Path::new(path), status, "d")
    }

    #[test]
    fn words() {
        assert_eq!(Status::Empty.shown(), "empty (allowed)");
        assert_eq!(Status::Empty.word(), "empty");
        assert_eq!(Status::Symlink.shown(), "symlink (not checked)");
        assert_eq!(Status::Rejected(Reason::Tampered).shown(), "tampered");
        assert!(Status::Rejected(Reason::Expired).denied());
        assert!(Status::Denied.denied());
        assert!(!Status::SelfSigned.denied());
        assert!(!Status::Empty.denied());
        assert!(!Status::Symlink.denied());
    }

    #[test]
    fn table_is_aligned() {
        let mut v = entry("/p/a.py", Status::Verified);
        v.key = Some("ab".repeat(32));
        v.format = Some("native".into());
        v.signer = Some("vendor-a".into());
        let rows = [
            v,
            entry("/p/longer-name.py", Status::Rejected(Reason::Unsigned)),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("STATUS    PATH               KEY"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("verified  /p/a.py            abababababababab  native  vendor-a"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("unsigned  /p/longer-name.py  -"),
            "{t}"
        );
        assert!(lines[2].ends_with(" d"), "{t}");
        assert_eq!(summary(&rows), "2 files: 1 unsigned, 1 verified");
        assert_eq!(summary(&[]), "0 files");
    }

    #[test]
    fn json_fields() {
        let e = entry("/p/x", Status::Symlink);
        let v = serde_json::to_value(&e).unwrap();
        for k in [
            "path",
            "status",
            "reason",
            "detail",
            "key",
            "format",
            "signer",
            "sha256",
            "tree",
            "mode",
            "evaluator",
            "generation",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(v["status"], "symlink");
        assert_eq!(v["evaluator"], "offline");
        assert_eq!(v["key"], serde_json::Value::Null);
        let back: Entry = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn status_words_read_back() {
        for s in [
            Status::Verified,
            Status::SelfSigned,
            Status::Listed,
            Status::BundleData,
            Status::Rejected(Reason::Tampered),
            Status::Rejected(Reason::Writable),
            Status::Empty,
            Status::Symlink,
            Status::Manifest,
            Status::Denied,
            Status::Unreadable,
        ] {
            assert_eq!(Status::from_word(s.word()), Some(s));
        }
        assert_eq!(Status::from_word("ok"), None);
    }

    #[test]
    fn evaluate_requests_are_bounded() {
        let ok = EvaluateRequest::parse(r#"{"view":"scan","paths":["/a","/b c"]}"#).unwrap();
        assert_eq!(ok.view, View::Scan);
        assert_eq!(ok.paths.len(), 2);
        assert_eq!(EvaluateRequest::parse("{}").unwrap().view, View::Verify);
        let many: Vec<String> = (0..=MAX_EVALUATE_PATHS).map(|i| format!("/f{i}")).collect();
        let line = serde_json::json!({ "paths": many }).to_string();
        assert_eq!(
            EvaluateRequest::parse(&line),
            Err(EvaluateError::TooMany {
                count: MAX_EVALUATE_PATHS + 1
            })
        );
        for bad in [r#"{"paths":["rel"]}"#, r#"{"paths":["/a\u0000b"]}"#] {
            assert!(
                matches!(EvaluateRequest::parse(bad), Err(EvaluateError::BadPath(_))),
                "{bad}"
            );
        }
        for bad in [
            "",
            "3",
            r#"{"paths":"/a"}"#,
            r#"{"view":"x"}"#,
            r#"{"more":1}"#,
        ] {
            assert!(
                matches!(
                    EvaluateRequest::parse(bad),
                    Err(EvaluateError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn batches_respect_both_limits() {
        let paths: Vec<PathBuf> = (0..150).map(|i| PathBuf::from(format!("/p/{i}"))).collect();
        let b = batches(&paths, 64 * 1024);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            [
                MAX_EVALUATE_PATHS,
                MAX_EVALUATE_PATHS,
                150 - 2 * MAX_EVALUATE_PATHS
            ]
        );
        let long: Vec<PathBuf> = (0..10)
            .map(|i| PathBuf::from(format!("/{i}{}", "x".repeat(300))))
            .collect();
        let b = batches(&long, 1024);
        assert!(b.iter().all(|v| v.len() <= 3), "{b:?}");
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 10);
    }
}
