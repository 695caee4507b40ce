//! The agent's state directory (`/var/lib/sigward`, systemd's
//! `StateDirectory=`): the last good policy.
//!
//! Every policy the agent loads successfully, at start-up or on reload, is
//! saved there with everything it read ([`Inputs`]: the policy file, its
//! drop-ins, key and revocation files), root-only. When the configured
//! policy cannot be loaded at the next start (a private key pushed as
//! `vendor.pub`, a drop-in removed that another needs), the agent enforces
//! the saved one instead of leaving every tree open, and says so (see
//! `Degraded` in the agent). Without a saved policy (the first start) it
//! refuses to start, as before.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::{Engine, Inputs};

/// The file, in the state directory.
pub const LAST_GOOD: &str = "last-good-policy.json";

/// Its format version.
const FORMAT: u32 = 1;

/// The largest saved policy read back (a policy with many keys is a few
/// hundred KiB).
const MAX_SAVED: u64 = 64 * 1024 * 1024;

/// A saved policy.
#[derive(Clone, Debug)]
pub struct LastGood {
    /// When it was saved (Unix seconds).
    pub saved_at: u64,
    /// The generation it had.
    pub generation: u64,
    /// What its load read.
    pub inputs: Inputs,
}

/// [`LastGood`] as written: paths (any bytes, not only UTF-8) and contents
/// in hex.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    format: u32,
    saved_at: u64,
    generation: u64,
    policy: String,
    base: String,
    files: Vec<(String, String)>,
    dirs: Vec<(String, Vec<String>)>,
}

fn path_hex(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    hex::encode(p.as_os_str().as_bytes())
}

fn hex_path(h: &str) -> Result<PathBuf, hex::FromHexError> {
    use std::os::unix::ffi::OsStringExt;
    hex::decode(h).map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
}

impl Saved {
    fn of(saved_at: u64, generation: u64, inputs: &Inputs) -> Saved {
        Saved {
            format: FORMAT,
            saved_at,
            generation,
            policy: path_hex(&inputs.policy),
            base: path_hex(&inputs.base),
            files: inputs
                .files
                .iter()
                .map(|(p, b)| (path_hex(p), hex::encode(b)))
                .collect(),
            dirs: inputs
                .dirs
                .iter()
                .map(|(d, e)| (path_hex(d), e.iter().map(|p| path_hex(p)).collect()))
                .collect(),
        }
    }

    fn last_good(self) -> Result<LastGood, hex::FromHexError> {
        let mut inputs = Inputs {
            policy: hex_path(&self.policy)?,
            base: hex_path(&self.base)?,
            ..Inputs::default()
        };
        for (p, b) in self.files {
            inputs.files.insert(hex_path(&p)?, hex::decode(b)?);
        }
        for (d, entries) in self.dirs {
            let entries = entries
                .iter()
                .map(|e| hex_path(e))
                .collect::<Result<Vec<_>, _>>()?;
            inputs.dirs.insert(hex_path(&d)?, entries);
        }
        Ok(LastGood {
            saved_at: self.saved_at,
            generation: self.generation,
            inputs,
        })
    }
}

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The saved policy cannot be written or read back.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The state directory at `dir` (created when first written).
    pub fn new(dir: &Path) -> StateDir {
        StateDir {
            dir: dir.to_path_buf(),
        }
    }

    /// Where the last good policy is kept.
    pub fn last_good_path(&self) -> PathBuf {
        self.dir.join(LAST_GOOD)
    }

    /// Saves `engine`'s policy as the last good one: written to a new
    /// temporary file (mode 0600), renamed over the old one (so that a crash
    /// leaves the old one or the new one, never half of either), and read
    /// back. The directory is created (mode 0700) if missing, and must pass
    /// strict modes like the policy.
    pub fn save(&self, engine: &Engine) -> Result<(), StateError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        match std::fs::symlink_metadata(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
                std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io(&self.dir))?;
            }
            Err(e) => return Err(io(&self.dir)(e)),
            Ok(_) => {}
        }
        crate::strict::check(&self.dir).map_err(|e| StateError::Format {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        let path = self.last_good_path();
        let saved = Saved::of(
            crate::metrics::unix_now(),
            engine.generation,
            &engine.inputs,
        );
        let text = serde_json::to_vec(&saved).map_err(|e| StateError::Format {
            path: path.clone(),
            message: format!("cannot be written: {e}"),
        })?;
        if text.len() as u64 > MAX_SAVED {
            return Err(StateError::Format {
                path,
                message: format!(
                    "the policy and its files take {} bytes saved, more than the {MAX_SAVED} \
                     that are read back",
                    text.len()
                ),
            });
        }
        crate::files::AtomicWrite::new(0o600)
            .write(&path, &text)
            .map_err(io(&path))?;
        match self.last_good() {
            Ok(Some(back)) if back.inputs == engine.inputs => Ok(()),
            Ok(_) => Err(StateError::Format {
                path,
                message: "does not read back as what was saved".into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The last good policy, if one was saved. It is trust material like
    /// the policy itself: strict modes apply to it.
    pub fn last_good(&self) -> Result<Option<LastGood>, StateError> {
        let path = self.last_good_path();
        let bytes = match crate::files::bounded::read(&path, MAX_SAVED) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                return Err(StateError::Format {
                    path,
                    message: e.to_string(),
                })
            }
        };
        crate::strict::check(&path).map_err(|e| StateError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| StateError::Format {
            path: path.clone(),
            message: format!("not a saved policy: {e}"),
        })?;
        if saved.format != FORMAT {
            return Err(StateError::Format {
                path,
                message: format!(
                    "saved in format {}, this agent reads {FORMAT}",
                    saved.format
                ),
            });
        }
        saved.last_good().map(Some).map_err(|e| StateError::Format {
            path,
            message: format!("not a saved policy: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn any_path_and_content_survive_a_save() {
        use std::os::unix::ffi::OsStrExt;
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/etc/sigward/keys/\xff.pub"));
        let mut inputs = Inputs {
            policy: PathBuf::from("/etc/sigward/policy.toml"),
            base: PathBuf::from("/etc/sigward"),
            ..Inputs::default()
        };
        inputs.files.insert(odd.clone(), vec![0, 1, 255]);
        inputs
            .dirs
            .insert(PathBuf::from("/etc/sigward/keys"), vec![odd.clone()]);
        let text = serde_json::to_vec(&Saved::of(5, 7, &inputs)).unwrap();
        let back: Saved = serde_json::from_slice(&text).unwrap();
        let back = back.last_good().unwrap();
        assert_eq!(back.inputs, inputs);
        assert_eq!((back.saved_at, back.generation), (5, 7));
    }
}
