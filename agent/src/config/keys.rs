//! Loading key files, key directories, revocation directories and
//! allowed-signers files into a trust store.

use std::path::{Path, PathBuf};

use sigward_policy::config::Located;
use sigward_policy::TrustStore;

use super::reader::{ReadFail, Reader};
use super::KEY_EXTENSIONS;

pub(super) fn load_key_file(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let bytes = reader.read(path).map_err(|e| match e {
        ReadFail::Strict(m) => format!("key file {}: {m}", path.display()),
        ReadFail::Io(m) => format!("cannot read key file {}: {m}", path.display()),
    })?;
    let shown = path.display().to_string();
    let report = trust
        .add_file(&shown, &bytes)
        .map_err(|e| format!("key file {shown}: {e}"))?;
    warnings.extend(report.warnings);
    Ok(())
}

/// The entries of a directory the policy names (`what` = `keys_dir`,
/// `revoked_dir`): it must exist.
pub(super) fn list_named_dir(
    reader: &Reader<'_>,
    what: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    match reader.list(dir) {
        Ok(Some(entries)) => Ok(entries),
        Ok(None) => Err(format!(
            "cannot read {what} {}: No such file or directory (os error 2)",
            dir.display()
        )),
        Err(ReadFail::Strict(m)) => Err(format!("{what} {}: {m}", dir.display())),
        Err(ReadFail::Io(m)) => Err(format!("cannot read {what} {}: {m}", dir.display())),
    }
}

/// Every file in the revocation directory: a key file whose keys are
/// revoked, or a Conductor `revoked_keys.toml`.
pub(super) fn load_revoked_dir(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    dir: &Located<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let files: Vec<PathBuf> = list_named_dir(reader, "revoked_dir", &dir.value)?
        .into_iter()
        .filter(|p| reader.is_file(p))
        .collect();
    for f in files {
        let mut scratch = TrustStore::new();
        load_key_file(reader, &mut scratch, &f, warnings)?;
        let keys: Vec<_> = scratch.iter().map(|k| k.fingerprint).collect();
        let listed: Vec<_> = scratch.revoked().copied().collect();
        for fp in keys.into_iter().chain(listed) {
            trust.revoke(fp);
        }
    }
    Ok(())
}

pub(super) fn load_allowed_signers(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let bytes = reader.read(path).map_err(|e| match e {
        ReadFail::Strict(m) => format!("allowed_signers file {}: {m}", path.display()),
        ReadFail::Io(m) => format!("cannot read allowed_signers file {}: {m}", path.display()),
    })?;
    let shown = path.display().to_string();
    let report = trust
        .add_allowed_signers(&shown, &bytes)
        .map_err(|e| format!("allowed_signers file {shown}: {e}"))?;
    if report.added == 0 {
        warnings.push(format!("allowed_signers file {shown} lists no keys"));
    }
    warnings.extend(report.warnings);
    Ok(())
}

pub(super) fn load_key_dir(
    reader: &Reader<'_>,
    trust: &mut TrustStore,
    dir: &Located<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let files: Vec<PathBuf> = list_named_dir(reader, "keys_dir", &dir.value)?
        .into_iter()
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| KEY_EXTENSIONS.contains(&e))
        })
        .collect();
    for f in files {
        load_key_file(reader, trust, &f, warnings)?;
    }
    Ok(())
}
