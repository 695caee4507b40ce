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
        match self.reader.read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ReadFail::Absent(_)) => {
                self.notes.push(format!(
                    "not checked here: {what} {} is not on this machine",
                    path.display()
                ));
                Ok(None)
            }
            Err(ReadFail::Strict(m)) => Err(format!("{what} {}: {m}", path.display())),
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
