//! Loading the policy at start-up (or the last good one) and reloading it.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Engine, LoadError};
use crate::fan::Op;
use crate::metrics::{unix_now, TreeState};
use crate::state::StateDir;
use crate::{fan, ids, metrics, notify};

use super::guards::recheck_aliases;
use super::marks::drop_kernel_marks;
use super::marks::{mark_tree, refresh_filesystem_marks, report_views};
use super::{announce, Shared, StartError};

/// Loads the policy at start-up; when it cannot be loaded, the last good
/// policy from the state directory instead ([`crate::state`]), with the
/// reason the agent is then degraded. Without a last good policy the
/// error stands, and the agent does not start.
pub(super) fn load_at_start(
    path: &Path,
    state: Option<&StateDir>,
) -> Result<(Engine, Option<metrics::Degraded>), StartError> {
    let err = match Engine::load(path, 1) {
        Ok(engine) => return Ok((engine, None)),
        Err(e) => e,
    };
    let Some(state) = state else {
        return Err(err.into());
    };
    let saved = match state.last_good() {
        Ok(Some(saved)) => saved,
        Ok(None) => return Err(err.into()),
        Err(e) => {
            tracing::error!(
                message_id = ids::NOT_IN_FORCE,
                "the last good policy cannot be used either: {e}"
            );
            return Err(err.into());
        }
    };
    tracing::info!(
        "starting from the last good policy {} (generation {} when it was saved, {})",
        state.last_good_path().display(),
        saved.generation,
        metrics::rfc3339(saved.saved_at)
    );
    match Engine::from_inputs(&saved.inputs, 1) {
        Ok(mut engine) => {
            // Reloads read the policy the agent was started with, wherever
            // the saved one came from.
            engine.source = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            Ok((
                engine,
                Some(metrics::Degraded {
                    reason: err.to_string(),
                    file: err.file.clone(),
                    since: unix_now(),
                    last_good_saved_at: Some(saved.saved_at),
                }),
            ))
        }
        Err(e) => {
            tracing::error!(
                message_id = ids::NOT_IN_FORCE,
                "the last good policy {} cannot be loaded either: {e}",
                state.last_good_path().display()
            );
            Err(err.into())
        }
    }
}

/// Saves the policy in force as the last good one (see [`crate::state`]).
pub(super) fn save_last_good(shared: &Shared, engine: &Engine) {
    let Some(state) = &shared.state else { return };
    if let Err(e) = state.save(engine) {
        tracing::warn!(
            message_id = ids::POLICY_WARNING,
            "cannot save the policy as the last good one: {e}; if it cannot be loaded at the \
             next start, the agent will not start"
        );
    }
}

/// A reload was refused: the policy on disk is not the one in force. Said
/// at `err` priority with its own MESSAGE_ID, and kept in the status until
/// a reload or restart loads the policy on disk.
pub(super) fn not_in_force(shared: &Shared, old: &Engine, e: &LoadError) {
    let since = shared.metrics.degraded().map_or_else(unix_now, |d| d.since);
    let last_good_saved_at = shared.metrics.degraded().and_then(|d| d.last_good_saved_at);
    tracing::error!(
        message_id = ids::NOT_IN_FORCE,
        sigward_file = %e.file.display(),
        sigward_line = e.line,
        sigward_reason = %e,
        "the policy {} cannot be loaded: {e}; generation {} stays in force",
        old.source.display(),
        old.generation
    );
    shared.metrics.set_degraded(Some(metrics::Degraded {
        reason: e.to_string(),
        file: e.file.clone(),
        since,
        last_good_saved_at,
    }));
}

/// Reloads the policy: SIGHUP and the control socket's `reload` both come
/// here. Returns the generation now in force, or the error and the
/// generation that stays in force. Reloads are serialised.
pub(super) fn reload(shared: &Arc<Shared>) -> Result<u64, (LoadError, u64)> {
    let _serial = shared.reloading.lock().unwrap_or_else(|p| p.into_inner());
    notify::notify(notify::State::Reloading);
    let old = shared.engine();
    let result = match Engine::load(&old.source, old.generation + 1) {
        Err(e) => {
            shared.metrics.reloaded(false);
            shared.metrics.reload_result(Some(e.to_string()));
            tracing::error!(
                message_id = ids::RELOAD_FAILED,
                sigward_file = %e.file.display(),
                sigward_line = e.line,
                sigward_generation = old.generation,
                "reload refused, generation {} stays in force: {e}",
                old.generation
            );
            not_in_force(shared, &old, &e);
            Err((e, old.generation))
        }
        Ok(new) => {
            for w in &new.warnings {
                tracing::warn!(
                    message_id = ids::POLICY_WARNING,
                    "policy {}: {w}",
                    new.source.display()
                );
            }
            let new = Arc::new(new);
            let old_roots: HashSet<&Path> = old.trees.iter().map(|t| t.root.as_path()).collect();
            let new_roots: HashSet<&Path> = new.trees.iter().map(|t| t.root.as_path()).collect();
            // New trees are marked before the switch.
            let mut marked = std::collections::HashMap::new();
            for t in new
                .trees
                .iter()
                .filter(|t| !old_roots.contains(t.root.as_path()))
            {
                marked.insert(t.root.as_path(), mark_tree(shared, &new, &t.root));
            }
            // (A tree bind-mounted onto itself since the last load gets
            // its filesystem mark now; one removed from the policy loses
            // it.)
            refresh_filesystem_marks(shared, &new, true);
            let tree_states = new
                .trees
                .iter()
                .map(|t| TreeState {
                    root: t.root.clone(),
                    mode: t.mode.as_str(),
                    untrusted_writers: t.untrusted_writers.as_str(),
                    filesystem_mark: shared.filesystem_marks.covers(&t.root),
                    directories: marked.get(t.root.as_path()).map_or_else(
                        || shared.metrics.tree_directories(&t.root).unwrap_or(0),
                        |&n| u64::try_from(n).unwrap_or(u64::MAX),
                    ),
                })
                .collect();
            // Every verdict the kernel caches rests on the old trust: drop
            // them all before the new generation answers anything.
            drop_kernel_marks(shared, &new);
            recheck_aliases(shared);
            *shared.engine.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
            shared
                .metrics
                .set_policy(crate::fleet::facts(&new, tree_states));
            shared.metrics.reloaded(true);
            shared.metrics.reload_result(None);
            shared.metrics.set_degraded(None);
            save_last_good(shared, &new);
            // A changed metrics file or interval applies at once.
            let _ = shared.metrics_wake.try_send(());
            shared.cache.reset(new.policy.agent.cache_entries);
            shared.kcache.open(new.generation, new.kernel_cache.clone());
            shared.auditor.set_settings(new.policy.audit.clone());
            if let Err(e) = shared
                .groups
                .set_kernel_audit(new.policy.audit.kernel_audit)
            {
                tracing::warn!(
                    message_id = ids::POLICY_WARNING,
                    "policy {}: {e}",
                    new.source.display()
                );
            }
            // Trees no longer protected are unmarked, except where they lie
            // inside (or contain) a tree that still is.
            let keep: HashSet<(u64, u64)> = new
                .trees
                .iter()
                .filter_map(|t| std::fs::metadata(&t.root).ok())
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    (m.dev(), m.ino())
                })
                .collect();
            for t in old
                .trees
                .iter()
                .filter(|t| !new_roots.contains(t.root.as_path()))
            {
                if new.tree_for(&t.root).is_some() {
                    continue;
                }
                if let Ok(root) = fan::open_dir(&t.root) {
                    shared.groups.walk(Op::Remove, root, &t.root, &keep);
                }
            }
            announce(&new);
            shared.metrics.set_absent_trees(new.absent.clone());
            shared.metrics.set_overlay_views(report_views(shared, &new));
            tracing::info!(
                message_id = ids::RELOAD_OK,
                sigward_generation = new.generation,
                sigward_mode = new.policy.mode.as_str(),
                "reloaded policy {}: generation {}, {} trees, {} trusted keys",
                new.source.display(),
                new.generation,
                new.trees.len(),
                new.trust.len()
            );
            Ok(new.generation)
        }
    };
    notify::notify(notify::State::Ready(format!(
        "enforcing policy generation {}",
        shared.engine().generation
    )));
    result
}
