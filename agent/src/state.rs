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

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LastGood {
    /// [`FORMAT`].
    pub format: u32,
    /// When it was saved (Unix seconds).
    pub saved_at: u64,
    /// The generation it had.
    pub generation: u64,
    /// What its load read.
    pub inputs: Inputs,
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
    /// The saved policy cannot be read back.
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

    /// Saves `engine`'s policy as the last good one: written to a
    /// temporary file (mode 0600) and renamed over the old one, so that a
    /// crash leaves the old one or the new one, never half of either.
    pub fn save(&self, engine: &Engine) -> Result<(), StateError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(&self.dir))?;
        let saved = LastGood {
            format: FORMAT,
            saved_at: crate::metrics::unix_now(),
            generation: engine.generation,
            inputs: engine.inputs.clone(),
        };
        let path = self.last_good_path();
        let text = serde_json::to_vec(&saved).map_err(|e| StateError::Format {
            path: path.clone(),
            message: format!("cannot be written: {e}"),
        })?;
        let tmp = self
            .dir
            .join(format!(".{LAST_GOOD}.{}", std::process::id()));
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io(&path))
    }

    /// The last good policy, if one was saved. It is trust material like
    /// the policy itself: strict modes apply to it.
    pub fn last_good(&self) -> Result<Option<LastGood>, StateError> {
        let path = self.last_good_path();
        let bytes = match crate::bounded::read(&path, MAX_SAVED) {
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
        let saved: LastGood = serde_json::from_slice(&bytes).map_err(|e| StateError::Format {
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
        Ok(Some(saved))
    }
}
