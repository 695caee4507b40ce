//! One open file to one [`Entry`], through the one verification path
//! ([`check::evaluate_in_watched`]), for `sigward scan`, `sigward verify`
//! and the running agent's `evaluate` control request
//! ([`evaluate_paths`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sigward_policy::formats::aisoc;
use sigward_policy::{Reason, Verdict};

use super::entry::{Entry, Evaluator, Status};
use crate::check;
use crate::config::Engine;
use crate::hash::{Interrupt, Watch};

/// Which command's view of a file is asked for: they differ in two cases
/// only, both as the offline commands have always shown them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// `sigward verify`: every file verified, an AiSOC manifest reported
    /// as covered by its `plugin.sig`.
    #[default]
    Verify,
    /// `sigward scan`: an empty file is shown as the agent treats it
    /// (allowed unless others can write it).
    Scan,
}

/// The entry for the open file `fd`, named `name` (the name the kernel
/// reports for it), as `view` shows it. `watch` is consulted before every
/// read of the content.
pub fn evaluate_open(
    engine: &Engine,
    fd: BorrowedFd<'_>,
    name: &Path,
    view: View,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<Entry, Interrupt> {
    let mut entry = entry_of(engine, fd, name, view, buf, watch)?;
    entry.tree = engine.tree_for(name).map(|t| t.root.clone());
    entry.mode = Some(engine.mode_for(name).as_str().to_string());
    Ok(entry)
}

fn entry_of(
    engine: &Engine,
    fd: BorrowedFd<'_>,
    name: &Path,
    view: View,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<Entry, Interrupt> {
    if view == View::Verify && check::is_aisoc_manifest(name) {
        return Ok(Entry::plain(
            name,
            Status::Manifest,
            format!(
                "AiSOC manifest: read freely, covered by {}",
                aisoc::SIG_NAME
            ),
        ));
    }
    if view == View::Scan {
        match nix::sys::stat::fstat(fd) {
            Ok(st) if crate::files::is_regular(&st) && st.st_size == 0 => {
                // Refused like any other file others can change, where the
                // tree refuses them (the agent does the same).
                if let Some(refused) = check::writable_refusal(engine, fd, name) {
                    let detail = match refused.verdict {
                        Verdict::Rejected { detail, .. } => detail,
                        Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
                    };
                    return Ok(Entry::rejected(name, Reason::Writable, detail));
                }
                return Ok(Entry::plain(
                    name,
                    Status::Empty,
                    "empty: allowed, and checked again once written",
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Ok(Entry::plain(
                    name,
                    Status::Unreadable,
                    format!("cannot stat: {e}"),
                ))
            }
        }
    }
    let outcome = check::evaluate_in_watched(engine, fd, name, false, buf, watch)?;
    let verdict = &outcome.verdict;
    let (status, reason, detail) = match verdict {
        Verdict::Verified { .. } if outcome.bundle_data => (
            Status::BundleData,
            Some("bundle-data".to_string()),
            crate::verdict::BUNDLE_DATA_DETAIL.to_string(),
        ),
        Verdict::Verified {
            self_signed: true, ..
        } => (
            Status::SelfSigned,
            Some("self-signed".to_string()),
            "valid signature by a key that is not trusted (allow_self_signed)".to_string(),
        ),
        Verdict::Verified { warnings, .. } => (
            Status::Verified,
            None,
            crate::verdict::verified_detail(warnings),
        ),
        Verdict::Listed { sha256 } => (
            Status::Listed,
            Some("allow-sha256".to_string()),
            format!(
                "content sha256 {} on the allow list (allow_sha256)",
                hex::encode(sha256)
            ),
        ),
        Verdict::Rejected { reason, detail, .. } => (
            Status::Rejected(*reason),
            Some(reason.as_str().to_string()),
            detail.clone(),
        ),
    };
    Ok(Entry {
        reason,
        key: verdict.key().map(|k| k.to_string()),
        format: verdict.format().map(|f| f.name().to_string()),
        signer: check::signer(engine, verdict),
        sha256: outcome.sha256.map(hex::encode),
        warnings: verdict.warnings().to_vec(),
        ..Entry::plain(name, status, detail)
    })
}

/// The most paths one `evaluate` request may name.
pub const MAX_EVALUATE_PATHS: usize = 64;
/// The longest path an `evaluate` request may name (Linux's `PATH_MAX`).
pub const MAX_EVALUATE_PATH: usize = 4096;
/// How long the agent spends on one `evaluate` request at most: the files
/// not reached by then are left out of the answer (the client asks again
/// for them), and a file being read when it runs out is reported
/// `unreadable`.
pub const EVALUATE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
/// The longest answer to an `evaluate` request: entries that would make it
/// longer are left out (the client asks again for them).
pub const MAX_EVALUATE_REPLY: usize = 1024 * 1024;
/// The longest detail or signer text in an answer to `evaluate`.
const MAX_TEXT: usize = 2048;

/// What an `evaluate` request asks: the paths to evaluate (absolute), and
/// which command's view of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// `verify` (default) or `scan`.
    #[serde(default)]
    pub view: View,
    /// Absolute paths, at most [`MAX_EVALUATE_PATHS`]. None at all asks
    /// only for the generation, policy and trees.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// Why an `evaluate` request is refused as a whole.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvaluateError {
    /// Not the JSON object the protocol describes.
    #[error("evaluate: the request is not {{\"view\":\"verify\"|\"scan\",\"paths\":[...]}}: {0}")]
    Malformed(String),
    /// Too many paths.
    #[error("evaluate: {count} paths; at most {MAX_EVALUATE_PATHS} per request")]
    TooMany {
        /// How many were asked for.
        count: usize,
    },
    /// A path that is not absolute, too long, or holds a NUL byte.
    #[error(
        "evaluate: path {0:?} is not an absolute path of at most {MAX_EVALUATE_PATH} bytes \
         without NUL"
    )]
    BadPath(String),
}

impl EvaluateRequest {
    /// Parses and validates the JSON after the word `evaluate`.
    pub fn parse(json: &str) -> Result<EvaluateRequest, EvaluateError> {
        let request: EvaluateRequest =
            serde_json::from_str(json).map_err(|e| EvaluateError::Malformed(e.to_string()))?;
        if request.paths.len() > MAX_EVALUATE_PATHS {
            return Err(EvaluateError::TooMany {
                count: request.paths.len(),
            });
        }
        if let Some(bad) = request.paths.iter().find(|p| {
            !p.starts_with('/') || p.len() > MAX_EVALUATE_PATH || p.as_bytes().contains(&0)
        }) {
            let shown: String = bad.chars().take(128).collect();
            return Err(EvaluateError::BadPath(shown));
        }
        Ok(request)
    }
}

/// The agent's answer to `evaluate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluateReply {
    /// The entries, in the order of the request's paths. Fewer than asked
    /// for when the time or size budget ran out: ask again for the rest.
    pub files: Vec<Entry>,
    /// The generation in force, with which every file was evaluated.
    pub generation: u64,
    /// Always true.
    pub ok: bool,
    /// The policy file of that generation.
    pub policy: String,
    /// The protected trees' roots.
    pub trees: Vec<String>,
}

/// A watch that interrupts a verification once `deadline` has passed.
struct Deadline(Instant);

impl Watch for Deadline {
    fn before_read(&mut self, _n: u64) -> Result<(), Interrupt> {
        if Instant::now() >= self.0 {
            Err(Interrupt::Deadline)
        } else {
            Ok(())
        }
    }
}

/// The running agent's answer to `evaluate`: each path opened by the agent
/// itself (without following a final symbolic link, and a FIFO, device or
/// socket never opened for reading), verified with `engine`, within
/// [`EVALUATE_BUDGET`] and [`MAX_EVALUATE_REPLY`].
pub fn evaluate_paths(engine: &Engine, request: &EvaluateRequest) -> EvaluateReply {
    let deadline = Instant::now() + EVALUATE_BUDGET;
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    let mut files = Vec::new();
    let mut size = 0usize;
    for path in &request.paths {
        if Instant::now() >= deadline {
            break;
        }
        let path = Path::new(path);
        let mut entry = match open_regular(path) {
            Ok(fd) => {
                let name = crate::files::fd_path(fd.as_fd()).unwrap_or_else(|| path.to_owned());
                let watch = &mut Deadline(deadline);
                match evaluate_open(engine, fd.as_fd(), &name, request.view, &mut buf, watch) {
                    Ok(entry) => entry,
                    Err(i) => Entry::plain(
                        &name,
                        Status::Unreadable,
                        format!("not evaluated: {i}; evaluate it with --offline"),
                    ),
                }
            }
            Err(entry) => *entry,
        };
        entry.evaluator = Evaluator::Agent;
        entry.generation = Some(engine.generation);
        for text in [&mut entry.detail, &mut entry.signer].into_iter().flatten() {
            if let Some((i, _)) = text.char_indices().nth(MAX_TEXT) {
                text.truncate(i);
                text.push('…');
            }
        }
        size += serde_json::to_string(&entry).map_or(usize::MAX, |s| s.len() + 1);
        if size > MAX_EVALUATE_REPLY - 64 * 1024 && !files.is_empty() {
            break;
        }
        files.push(entry);
    }
    EvaluateReply {
        files,
        generation: engine.generation,
        ok: true,
        policy: engine.source.to_string_lossy().into_owned(),
        trees: engine
            .trees
            .iter()
            .map(|t| t.root.to_string_lossy().into_owned())
            .collect(),
    }
}

/// Opens `path` for reading only if it is a regular file, without
/// following a final symbolic link: the path is opened `O_PATH` first and
/// the same inode reopened through the descriptor (as
/// [`crate::files::bounded`] does), so a FIFO or a device is never opened
/// for reading. Anything else is the entry to report.
fn open_regular(path: &Path) -> Result<OwnedFd, Box<Entry>> {
    let probe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            Box::new(Entry::plain(
                path,
                Status::Unreadable,
                format!("cannot open: {e}"),
            ))
        })?;
    let meta = probe.metadata().map_err(|e| {
        Box::new(Entry::plain(
            path,
            Status::Unreadable,
            format!("cannot stat: {e}"),
        ))
    })?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| format!("-> {}", t.display()))
            .unwrap_or_else(|e| format!("cannot read the link: {e}"));
        return Err(Box::new(Entry::plain(path, Status::Symlink, target)));
    }
    if !ft.is_file() {
        // As the agent refuses such a file, and in the words of the
        // verification path, without opening it for reading.
        return Err(Box::new(Entry::rejected(
            path,
            Reason::Unsigned,
            "not a regular file: only regular files can carry a signature",
        )));
    }
    crate::files::reopen_for_reading(probe.as_fd()).map_err(|e| {
        Box::new(Entry::plain(
            path,
            Status::Unreadable,
            format!("cannot open: {e}"),
        ))
    })
}

/// Paths to ask the agent about, in requests of at most
/// [`MAX_EVALUATE_PATHS`] paths and `max_line` bytes each.
pub fn batches(paths: &[PathBuf], max_line: usize) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut len = 64usize;
    for p in paths {
        let s = p.to_string_lossy().into_owned();
        let cost = serde_json::to_string(&s).map_or(s.len() * 6, |j| j.len()) + 1;
        if !current.is_empty() && (current.len() >= MAX_EVALUATE_PATHS || len + cost > max_line) {
            out.push(std::mem::take(&mut current));
            len = 64;
        }
        len += cost;
        current.push(s);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
