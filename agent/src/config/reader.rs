//! Where a load reads the policy's files from (the disk under strict
//! modes, or the saved inputs of an earlier load), and the checks on the
//! protected directories it names.

use std::fs;
use std::path::{Path, PathBuf};

use sigward_policy::config::Located;

use super::Inputs;

/// Key and policy files larger than this are refused: they are text files of
/// a few KiB, and reading an unbounded file would let a mistake exhaust memory.
const MAX_CONFIG_FILE: u64 = crate::files::bounded::CONFIG_LIMIT;

/// Why a file of the policy could not be read.
pub(super) enum ReadFail {
    /// Strict modes refuse it ([`crate::strict`]).
    Strict(String),
    /// It could not be read (or is not among the saved inputs).
    Io(String),
    /// Off-host validation: it does not exist on this machine (the
    /// message says so).
    Absent(String),
}

/// Where a load reads the policy's files from.
pub(super) enum Reader<'a> {
    /// The filesystem, under strict modes (not `offline`); what is read is
    /// recorded.
    Disk {
        /// What was read.
        read: std::cell::RefCell<Inputs>,
        /// Off-host validation: no strict modes, and a file that is not
        /// there is [`ReadFail::Absent`].
        offline: bool,
    },
    /// What an earlier load read.
    Saved(&'a Inputs),
}

impl Reader<'_> {
    pub(super) fn read(&self, path: &Path) -> Result<Vec<u8>, ReadFail> {
        match self {
            Reader::Disk { read, offline } => {
                // (A file that is not there is reported as such, below.)
                match fs::metadata(path) {
                    Ok(_) if !offline => strict(path).map_err(ReadFail::Strict)?,
                    Err(e) if *offline && e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(ReadFail::Absent(e.to_string()))
                    }
                    _ => {}
                }
                let bytes = read_bounded(path).map_err(|e| ReadFail::Io(e.to_string()))?;
                read.borrow_mut()
                    .files
                    .insert(path.to_path_buf(), bytes.clone());
                Ok(bytes)
            }
            Reader::Saved(inputs) => inputs
                .files
                .get(path)
                .cloned()
                .ok_or_else(|| ReadFail::Io("not among the saved policy's files".into())),
        }
    }

    /// The entries of directory `dir` (`None`: it does not exist).
    pub(super) fn list(&self, dir: &Path) -> Result<Option<Vec<PathBuf>>, ReadFail> {
        match self {
            Reader::Disk { read, offline } => {
                match fs::metadata(dir) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    _ => {}
                }
                if !offline {
                    strict(dir).map_err(ReadFail::Strict)?;
                }
                let entries = fs::read_dir(dir).map_err(|e| ReadFail::Io(e.to_string()))?;
                let mut paths = Vec::new();
                for e in entries {
                    paths.push(e.map_err(|e| ReadFail::Io(e.to_string()))?.path());
                }
                paths.sort();
                read.borrow_mut()
                    .dirs
                    .insert(dir.to_path_buf(), paths.clone());
                Ok(Some(paths))
            }
            Reader::Saved(inputs) => Ok(inputs.dirs.get(dir).cloned()),
        }
    }

    /// Whether this is an off-host validation.
    pub(super) fn offline(&self) -> bool {
        matches!(self, Reader::Disk { offline: true, .. })
    }

    /// Whether `path` is a regular file (on disk, or among the saved files).
    pub(super) fn is_file(&self, path: &Path) -> bool {
        match self {
            Reader::Disk { .. } => path.is_file(),
            Reader::Saved(inputs) => inputs.files.contains_key(path),
        }
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, crate::files::bounded::ReadError> {
    crate::files::bounded::read(path, MAX_CONFIG_FILE)
}

/// [`crate::strict::check`], as the text of an error about `path`.
fn strict(path: &Path) -> Result<(), String> {
    crate::strict::check(path).map_err(|e| e.to_string())
}

pub(super) fn resolve_dir(path: &Located<PathBuf>) -> Result<PathBuf, String> {
    let canonical = fs::canonicalize(&path.value).map_err(|e| {
        format!(
            "protected directory {} cannot be used: {e}",
            path.value.display()
        )
    })?;
    let meta = fs::metadata(&canonical)
        .map_err(|e| format!("protected directory {}: {e}", path.value.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "protected path {} is not a directory",
            path.value.display()
        ));
    }
    if canonical == Path::new("/") {
        return Err(format!(
            "protected directory {} resolves to /, which is not supported",
            path.value.display()
        ));
    }
    Ok(canonical)
}
