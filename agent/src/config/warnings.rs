//! Checks of a loaded policy against the system: the settings of kernel
//! caching, and the warnings about trees and the metrics file.

use std::fs;
use std::path::Path;

use crate::kcache;
use sigward_policy::config::{self, Mode, UntrustedWriters};

use super::{LoadError, Tree};

/// A tree that refuses untrusted writers (the default) whose root someone
/// other than the trusted owners owns or may write: whatever they put
/// there is refused as `writable`, which is rarely what a policy that
/// protects such a tree means.
pub(super) fn untrusted_root_warning(t: &Tree, trusted: &[u32]) -> Option<String> {
    if t.untrusted_writers != UntrustedWriters::Refuse || t.mode == Mode::Off {
        return None;
    }
    let st = nix::sys::stat::stat(&t.root).ok()?;
    let who = if !trusted.contains(&st.st_uid) {
        format!("is owned by uid {}", st.st_uid)
    } else if st.st_mode & 0o022 != 0 {
        format!(
            "is writable by group or others (mode {:04o})",
            st.st_mode & 0o7777
        )
    } else {
        return None;
    };
    Some(format!(
        "{} {who}: files that users other than root and agent.kernel_cache_owners can change \
         are refused there as writable (protect.untrusted_writers = \"refuse\", the default); \
         set untrusted_writers = \"allow\" on the tree to verify them instead",
        t.root.display()
    ))
}

/// `agent.kernel_cache` and `agent.kernel_cache_owners`, with user names
/// resolved to uids (an unknown name is an error at its line: the operator
/// meant to trust someone; `offline`, a note: the user may exist only on
/// the host the policy is for). Kernel caching is off when
/// `fs.protected_hardlinks` is not 1, with a warning.
pub(super) fn kernel_cache_settings(
    agent: &config::AgentSettings,
    offline: bool,
    at: &dyn Fn(usize, usize, String) -> LoadError,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<kcache::Settings, LoadError> {
    let mut owners = Vec::new();
    for owner in &agent.kernel_cache_owners {
        match &owner.value {
            config::Owner::Uid(u) => owners.push(*u),
            config::Owner::Name(name) => {
                let err = |message: String| at(owner.file, owner.line, message);
                match nix::unistd::User::from_name(name) {
                    Ok(Some(user)) => owners.push(user.uid.as_raw()),
                    Ok(None) if offline => notes.push(format!(
                        "not checked here: agent.kernel_cache_owners names user {name:?}, \
                         unknown on this machine"
                    )),
                    Ok(None) => {
                        return Err(err(format!(
                            "agent.kernel_cache_owners: no user named {name:?} on this system"
                        )))
                    }
                    Err(e) => {
                        return Err(err(format!(
                            "agent.kernel_cache_owners: cannot look up user {name:?}: {e}"
                        )))
                    }
                }
            }
        }
    }
    let mut enabled = agent.kernel_cache && !owners.is_empty();
    if enabled && !offline && !kcache::hardlinks_protected() {
        warnings.push(
            "fs.protected_hardlinks is not 1: verified files are not kernel-cached (anyone could \
             link them under another name); every open reaches the agent"
                .into(),
        );
        enabled = false;
    }
    Ok(kcache::Settings {
        enabled,
        owners,
        limit: agent.cache_entries,
    })
}

/// Problems with `[agent] metrics_file` that do not stop the agent (the
/// directory may appear later, e.g. when node_exporter is installed; a
/// failed write is logged and never affects a verdict).
pub(super) fn metrics_file_warnings(path: &Path, trees: &[Tree], warnings: &mut Vec<String>) {
    let dir = path.parent().unwrap_or(Path::new("/"));
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => warnings.push(format!(
            "agent.metrics_file {}: {} is not a directory; metrics are not written",
            path.display(),
            dir.display()
        )),
        Err(e) => warnings.push(format!(
            "agent.metrics_file {}: directory {}: {e}; metrics are not written until it exists",
            path.display(),
            dir.display()
        )),
    }
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        warnings.push(format!(
            "agent.metrics_file {} is a directory; metrics are not written",
            path.display()
        ));
    }
    let resolved = fs::canonicalize(dir)
        .map(|d| d.join(path.file_name().unwrap_or_default()))
        .unwrap_or_else(|_| path.to_path_buf());
    if let Some(t) = trees.iter().find(|t| resolved.starts_with(&t.root)) {
        warnings.push(format!(
            "agent.metrics_file {} is inside the protected tree {}: it carries no signature, \
             so other programs that open it (node_exporter) are refused in enforce mode",
            path.display(),
            t.root.display()
        ));
    }
}
