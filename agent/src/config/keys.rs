//! Loading key files, key directories, revocation directories and
//! allowed-signers files into a trust store.

use std::path::{Path, PathBuf};

use sigward_policy::config::Located;
use sigward_policy::TrustStore;

use super::reader::{ReadFail, Reader};
use super::KEY_EXTENSIONS;

/// Reads the key material a policy names into trust stores, collecting
/// warnings, and (off-host) notes about what is not on this machine.
pub(super) struct KeyLoader<'r, 'a> {
    pub(super) reader: &'r Reader<'a>,
    pub(super) warnings: &'r mut Vec<String>,
    pub(super) notes: &'r mut Vec<String>,
}

impl KeyLoader<'_, '_> {
    /// The bytes of a key or allowed-signers file (`what` names it in
    /// messages); `None` off-host when it is not on this machine.
    fn read(&mut self, what: &str, path: &Path) -> Result<Option<Vec<u8>>, String> {
        self.read_or(what, path, "")
    }

    /// [`Self::read`], with `hint` after a strict-modes refusal.
    fn read_or(&mut self, what: &str, path: &Path, hint: &str) -> Result<Option<Vec<u8>>, String> {
        match self.reader.read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ReadFail::Absent(_)) => {
                self.notes.push(format!(
                    "not checked here: {what} {} is not on this machine",
                    path.display()
                ));
                Ok(None)
            }
            Err(ReadFail::Strict(m)) => Err(format!("{what} {}: {m}{hint}", path.display())),
            Err(ReadFail::Io(m)) => Err(format!("cannot read {what} {}: {m}", path.display())),
        }
    }

    pub(super) fn key_file(&mut self, trust: &mut TrustStore, path: &Path) -> Result<(), String> {
        let Some(bytes) = self.read("key file", path)? else {
            return Ok(());
        };
        let shown = path.display().to_string();
        let report = trust
            .add_file(&shown, &bytes)
            .map_err(|e| format!("key file {shown}: {e}"))?;
        self.warnings.extend(report.warnings);
        Ok(())
    }

    /// A file of a revocation directory: a key file, or a Conductor
    /// revocation list (one that lists nothing is a warning, as it revokes
    /// nothing in Conductor either).
    fn revocation_file(&mut self, trust: &mut TrustStore, path: &Path) -> Result<(), String> {
        let Some(bytes) = self.read("key file", path)? else {
            return Ok(());
        };
        let shown = path.display().to_string();
        let report = trust
            .add_revocation_file(&shown, &bytes)
            .map_err(|e| format!("key file {shown}: {e}"))?;
        self.warnings.extend(report.warnings);
        Ok(())
    }

    /// The entries of a directory the policy names (`what` = `keys_dir`,
    /// `revoked_dir`): it must exist (off-host: `None` when it does not).
    fn list_named_dir(&mut self, what: &str, dir: &Path) -> Result<Option<Vec<PathBuf>>, String> {
        match self.reader.list(dir) {
            Ok(Some(entries)) => Ok(Some(entries)),
            Ok(None) if self.reader.offline() => {
                self.notes.push(format!(
                    "not checked here: {what} {} is not on this machine",
                    dir.display()
                ));
                Ok(None)
            }
            Ok(None) => Err(format!(
                "cannot read {what} {}: No such file or directory (os error 2)",
                dir.display()
            )),
            Err(ReadFail::Strict(m)) => Err(format!("{what} {}: {m}", dir.display())),
            Err(ReadFail::Io(m) | ReadFail::Absent(m)) => {
                Err(format!("cannot read {what} {}: {m}", dir.display()))
            }
        }
    }

    /// Every file in the revocation directory: a key file whose keys are
    /// revoked, or a Conductor `revoked_keys.toml`.
    pub(super) fn revoked_dir(
        &mut self,
        trust: &mut TrustStore,
        dir: &Located<PathBuf>,
    ) -> Result<(), String> {
        let Some(entries) = self.list_named_dir("revoked_dir", &dir.value)? else {
            return Ok(());
        };
        let files: Vec<PathBuf> = entries
            .into_iter()
            .filter(|p| self.reader.is_file(p))
            .collect();
        for f in files {
            let mut scratch = TrustStore::new();
            self.revocation_file(&mut scratch, &f)?;
            let keys: Vec<_> = scratch.iter().map(|k| k.fingerprint).collect();
            let listed: Vec<_> = scratch.revoked().copied().collect();
            for fp in keys.into_iter().chain(listed) {
                trust.revoke(fp);
            }
        }
        Ok(())
    }

    pub(super) fn allowed_signers(
        &mut self,
        trust: &mut TrustStore,
        path: &Path,
    ) -> Result<(), String> {
        let Some(bytes) = self.read("allowed_signers file", path)? else {
            return Ok(());
        };
        let shown = path.display().to_string();
        let report = trust
            .add_allowed_signers(&shown, &bytes)
            .map_err(|e| format!("allowed_signers file {shown}: {e}"))?;
        if report.added == 0 {
            self.warnings
                .push(format!("allowed_signers file {shown} lists no keys"));
        }
        self.warnings.extend(report.warnings);
        Ok(())
    }

    /// AiSOC's trusted-keys directory, read as AiSOC reads it: every entry
    /// whose extension is `.pem` or `.pub` in any case; each file AiSOC
    /// cannot use (unreadable, empty, not an Ed25519 public key) is skipped
    /// with a warning naming it and why. Strict modes apply to every file
    /// (a file others can change is an error, as for any trust material).
    pub(super) fn aisoc_key_dir(
        &mut self,
        trust: &mut TrustStore,
        dir: &Located<PathBuf>,
    ) -> Result<(), String> {
        use std::os::unix::ffi::OsStrExt;
        let Some(entries) = self.list_named_dir("aisoc_keys_dir", &dir.value)? else {
            return Ok(());
        };
        let mut loaded = 0usize;
        for path in entries {
            let Some(name) = path.file_name() else {
                continue;
            };
            let Some(key_id) = sigward_policy::keyfile::aisoc_key_id(name.as_bytes()) else {
                continue;
            };
            let key_id = String::from_utf8_lossy(key_id).into_owned();
            let shown = path.display().to_string();
            let skip = |why: String| format!("aisoc_keys_dir: {shown} skipped: {why}");
            if !self.reader.offline() && !self.reader.is_file(&path) && path.is_dir() {
                self.warnings.push(skip("a directory".into()));
                continue;
            }
            let bytes = match self.reader.read(&path) {
                Ok(bytes) => bytes,
                Err(ReadFail::Strict(m)) => return Err(format!("aisoc_keys_dir {shown}: {m}")),
                Err(ReadFail::Absent(_)) => continue,
                Err(ReadFail::Io(m)) => {
                    self.warnings.push(skip(format!("cannot read: {m}")));
                    continue;
                }
            };
            match trust.add_aisoc_key(&shown, &key_id, &bytes) {
                Ok(report) => {
                    loaded += 1;
                    self.warnings.extend(report.warnings);
                }
                Err(why) => self.warnings.push(skip(why.to_string())),
            }
        }
        if loaded == 0 {
            self.warnings.push(format!(
                "aisoc_keys_dir {} holds no key AiSOC can use (*.pem or *.pub, each an Ed25519 \
                 public key)",
                dir.value.display()
            ));
        }
        Ok(())
    }

    /// A Notur panel's `.env` file: its `NOTUR_PUBLIC_KEY`. Strict modes
    /// apply as to any trust file; their error says what to do about a
    /// `.env` that belongs to the panel's web user.
    pub(super) fn notur_env(&mut self, trust: &mut TrustStore, path: &Path) -> Result<(), String> {
        let hint = "; a panel's .env usually belongs to its web user, who could then choose the \
                    key sigward trusts: make the file root's and readable by the panel's group \
                    (chown root:www-data, chmod 0640), or copy the key into the policy \
                    (trust.ed25519)";
        let Some(bytes) = self.read_or("notur_env", path, hint)? else {
            return Ok(());
        };
        let shown = path.display().to_string();
        let report = trust
            .add_notur_env(&shown, &bytes)
            .map_err(|e| format!("notur_env {shown}: {e}"))?;
        self.warnings.extend(report.warnings);
        Ok(())
    }

    pub(super) fn key_dir(
        &mut self,
        trust: &mut TrustStore,
        dir: &Located<PathBuf>,
    ) -> Result<(), String> {
        let Some(entries) = self.list_named_dir("keys_dir", &dir.value)? else {
            return Ok(());
        };
        let files: Vec<PathBuf> = entries
            .into_iter()
            .filter(|path| {
                path.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| KEY_EXTENSIONS.contains(&e))
            })
            .collect();
        for f in files {
            self.key_file(trust, &f)?;
        }
        Ok(())
    }
}
