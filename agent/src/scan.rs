//! `sigward scan`: the signature status of every file the agent checks,
//! computed by the agent's own verification path
//! ([`check::evaluate_in`]).

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde_json::{json, Value};
use sigward_policy::{Reason, Verdict};

use crate::check;
use crate::config::Engine;

/// Directories deeper than this below a scanned root are not walked.
pub const MAX_DEPTH: usize = 64;

/// How many characters of a fingerprint the table shows.
const KEY_PREFIX: usize = 16;

/// What the agent makes of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A valid signature by a trusted key.
    Verified,
    /// A valid signature by an untrusted key, accepted by
    /// `allow_self_signed`.
    SelfSigned,
    /// Trusted without a signature by its content's SHA-256
    /// (`allow_sha256`).
    Listed,
    /// Refused by verification.
    Rejected(Reason),
    /// An empty file: allowed, checked again once written.
    Empty,
    /// A symbolic link: never followed.
    Symlink,
    /// The open was refused with EPERM (a running agent denies the file).
    Denied,
    /// The file could not be opened for another reason.
    Unreadable,
}

impl Status {
    /// The word in `--json`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::SelfSigned => "self-signed",
            Status::Listed => "allow-sha256",
            Status::Rejected(r) => r.as_str(),
            Status::Empty => "empty",
            Status::Symlink => "symlink",
            Status::Denied => "denied",
            Status::Unreadable => "unreadable",
        }
    }

    /// The STATUS column of the table.
    pub fn shown(self) -> &'static str {
        match self {
            Status::Empty => "empty (allowed)",
            Status::Symlink => "symlink (not checked)",
            other => other.word(),
        }
    }

    /// Whether the agent would deny the file (or whether it could not be
    /// shown that it would not).
    pub fn denied(self) -> bool {
        matches!(
            self,
            Status::Rejected(_) | Status::Denied | Status::Unreadable
        )
    }
}

/// One scanned file.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The file, as the kernel names it.
    pub path: PathBuf,
    /// Its status.
    pub status: Status,
    /// The verification reason word (or `self-signed`).
    pub reason: Option<&'static str>,
    /// One readable sentence.
    pub detail: Option<String>,
    /// The signer's fingerprint, when known.
    pub key: Option<String>,
    /// The signature format, when one matched.
    pub format: Option<&'static str>,
    /// Who signed, when known.
    pub signer: Option<String>,
    /// SHA-256 of the content, when computed.
    pub sha256: Option<String>,
}

impl Entry {
    fn plain(path: &Path, status: Status, detail: impl Into<String>) -> Entry {
        Entry {
            path: path.to_path_buf(),
            status,
            reason: None,
            detail: Some(detail.into()),
            key: None,
            format: None,
            signer: None,
            sha256: None,
        }
    }

    /// The `--json` object.
    pub fn to_json(&self) -> Value {
        json!({
            "path": self.path.display().to_string(),
            "status": self.status.word(),
            "reason": self.reason,
            "detail": self.detail,
            "key": self.key,
            "format": self.format,
            "signer": self.signer,
            "sha256": self.sha256,
        })
    }
}

/// Scans files and directories, collecting one entry per file (and
/// warnings for what could not be walked).
pub struct Scanner<'a> {
    engine: &'a Engine,
    buf: Vec<u8>,
    /// What was found, in walk order.
    pub entries: Vec<Entry>,
    /// Directories that could not be read, or were too deep.
    pub warnings: Vec<String>,
}

impl<'a> Scanner<'a> {
    /// A scanner verifying as `engine` says.
    pub fn new(engine: &'a Engine) -> Self {
        Scanner {
            engine,
            buf: vec![0u8; crate::hash::BUFFER_SIZE],
            entries: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Scans `path`: a file, or a directory walked recursively (symlinks
    /// are reported, never followed).
    pub fn scan(&mut self, path: &Path) {
        self.walk(path, 0);
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
            self.entries.push(Entry {
                reason: Some(Reason::Unsigned.as_str()),
                ..Entry::plain(
                    path,
                    Status::Rejected(Reason::Unsigned),
                    "not a regular file: only regular files can carry a signature",
                )
            });
            return;
        }
        let entry = self.verify(path);
        self.entries.push(entry);
    }

    fn verify(&mut self, path: &Path) -> Entry {
        let fd: OwnedFd = match check::open_no_follow(path) {
            Ok(fd) => fd,
            Err(Errno::EPERM) => {
                return Entry::plain(
                    path,
                    Status::Denied,
                    "open refused (EPERM): a running agent denies this file; see \
                     journalctl -t sigward SIGWARD_DECISION=deny for why",
                )
            }
            Err(Errno::ELOOP) => {
                return Entry::plain(path, Status::Symlink, "became a symbolic link")
            }
            Err(e) => return Entry::plain(path, Status::Unreadable, format!("cannot open: {e}")),
        };
        // Verified under the name the kernel reports, as the agent does.
        let name = crate::files::fd_path(fd.as_fd()).unwrap_or_else(|| path.to_path_buf());
        match nix::sys::stat::fstat(fd.as_fd()) {
            Ok(st) if crate::files::is_regular(&st) && st.st_size == 0 => {
                // Refused like any other file others can change, where the
                // tree refuses them (the agent does the same).
                if let Some(refused) = check::writable_refusal(self.engine, fd.as_fd(), &name) {
                    let detail = match refused.verdict {
                        Verdict::Rejected { detail, .. } => detail,
                        Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
                    };
                    return Entry::plain(&name, Status::Rejected(Reason::Writable), detail);
                }
                return Entry::plain(
                    &name,
                    Status::Empty,
                    "empty: allowed, and checked again once written",
                );
            }
            Ok(_) => {}
            Err(e) => return Entry::plain(&name, Status::Unreadable, format!("cannot stat: {e}")),
        }
        let outcome = check::evaluate_in(self.engine, fd.as_fd(), &name, &mut self.buf);
        let verdict = &outcome.verdict;
        let (status, reason, detail) = match verdict {
            Verdict::Verified {
                self_signed: true, ..
            } => (
                Status::SelfSigned,
                Some("self-signed"),
                "valid signature by a key that is not trusted (allow_self_signed)".to_string(),
            ),
            Verdict::Verified { .. } => (Status::Verified, None, "signature verified".into()),
            Verdict::Listed { sha256 } => (
                Status::Listed,
                Some("allow-sha256"),
                format!(
                    "content sha256 {} is on the policy's allow list (allow_sha256)",
                    hex::encode(sha256)
                ),
            ),
            Verdict::Rejected { reason, detail, .. } => (
                Status::Rejected(*reason),
                Some(reason.as_str()),
                detail.clone(),
            ),
        };
        Entry {
            path: name,
            status,
            reason,
            detail: Some(detail),
            key: verdict.key().map(|k| k.to_string()),
            format: verdict.format().map(|f| f.name()),
            signer: check::signer(self.engine, verdict),
            sha256: outcome.sha256.map(hex::encode),
        }
    }
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
                e.format.unwrap_or("-").to_string(),
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
        v.format = Some("native");
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
        let v = e.to_json();
        for k in [
            "path", "status", "reason", "detail", "key", "format", "signer", "sha256",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(v["status"], "symlink");
        assert_eq!(v["key"], Value::Null);
    }
}
