//! The state every thread of the agent shares ([`Shared`]), and what the
//! control socket may ask of it ([`ControlHandler`]).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crossbeam_channel::Sender;
use nix::sys::eventfd::EventFd;

use crate::audit::Auditor;
use crate::cache::VerdictCache;
use crate::config::Engine;
use crate::control::{self, ReloadOutcome};
use crate::fan::Groups;
use crate::files::Stamp;
use crate::fsmarks::FilesystemMarks;
use crate::kcache::KernelCache;
use crate::metrics::Metrics;
use crate::names;
use crate::scan::{EvaluateReply, EvaluateRequest};
use crate::state::StateDir;
use crate::via::Vias;

use super::ahead::Ahead;
use super::pending::Pending;
use super::reload::reload;
use super::telemetry::status;

/// State shared by every thread.
pub(super) struct Shared {
    pub(super) groups: Groups,
    pub(super) engine: RwLock<Arc<Engine>>,
    pub(super) cache: VerdictCache,
    pub(super) auditor: Auditor,
    pub(super) self_pid: i32,
    /// Set when a stop was requested: the event thread hands its queued
    /// events to the workers, then stops dispatching.
    pub(super) stopping: AtomicBool,
    /// Set once every worker has finished: the event thread may exit.
    pub(super) workers_done: AtomicBool,
    pub(super) wake: EventFd,
    /// Held for the whole of a reload: SIGHUP and the control socket may ask
    /// at the same time, and reloads must not interleave.
    pub(super) reloading: Mutex<()>,
    /// Counters and state for `sigward status` and the metrics file.
    pub(super) metrics: Metrics,
    /// How often the event loop wakes up at least, to beat its heartbeat
    /// (milliseconds, at most 1000).
    pub(super) beat_ms: u16,
    /// systemd's watchdog interval, when it is enabled.
    pub(super) watchdog: Option<Duration>,
    /// Set as soon as a stop is requested: the watchdog stops confirming
    /// liveness and the metrics thread writes its last file.
    pub(super) shutting_down: AtomicBool,
    /// Wakes the metrics thread (after a reload, and to stop it).
    pub(super) metrics_wake: Sender<()>,
    /// Ignore marks on verified files.
    pub(super) kcache: KernelCache,
    /// Bumped by the watcher after each directory rename it reads (see
    /// [`names_epoch`]).
    pub(super) names_epoch: AtomicU64,
    /// Set by the watcher while it holds notification events it has read
    /// but not yet applied.
    pub(super) watch_busy: AtomicBool,
    /// Files being verified now, with the events waiting for the same
    /// verdict.
    pub(super) inflight: Mutex<HashMap<InflightKey, Vec<Waiter>>>,
    /// Symbolic links out of the trees already handled (link, target).
    pub(super) symlinks: Mutex<HashSet<(PathBuf, PathBuf)>>,
    /// When the event thread last found the permission queue empty (Unix
    /// time in nanoseconds): every event it reads later was queued after
    /// it (see [`name_settled`]).
    pub(super) queue_empty_at: AtomicU64,
    /// The filesystem marks that close the window for new directories.
    pub(super) filesystem_marks: FilesystemMarks,
    /// Where the last good policy is kept (`--state-dir`).
    pub(super) state: Option<StateDir>,
    /// Set once this agent's marks are all in place and the inherited
    /// group's marks are removed: that group is closed when drained.
    pub(super) inherited_retired: AtomicBool,
    /// What the mounts that opens went through show.
    pub(super) vias: Vias,
    /// Files and directories outside every tree that [`guard_symlink`]
    /// marked for a link in a tree: their opens are checked, never taken
    /// for opens outside the trees.
    pub(super) link_targets: Mutex<HashSet<PathBuf>>,
    /// The agent's own mount namespace, in which files are named.
    pub(super) own_ns: names::OwnNamespace,
    /// Files in the trees that an untrusted user's link gives another name:
    /// (device, inode) → the link. Refused under every name while the link
    /// resolves to them (checked again on every reload).
    pub(super) aliases: Mutex<HashMap<(u64, u64), PathBuf>>,
    /// Directories offered for verification ahead of their opens.
    pub(super) ahead: Ahead,
}

/// One version of one file under one name and policy generation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct InflightKey {
    pub(super) stamp: Stamp,
    pub(super) generation: u64,
    pub(super) path: PathBuf,
}

/// An event waiting for a verification another worker is running.
pub(super) struct Waiter {
    pub(super) pending: Pending,
    pub(super) exec: bool,
}

impl Shared {
    /// The policy generation in force.
    pub(super) fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What the control socket may ask of the agent.
pub(super) struct ControlHandler(pub(super) Arc<Shared>);

impl control::Handler for ControlHandler {
    fn generation(&self) -> u64 {
        self.0.engine().generation
    }

    fn reload(&self) -> ReloadOutcome {
        match reload(&self.0) {
            Ok(generation) => {
                let engine = self.0.engine();
                let now = crate::metrics::unix_now();
                let keys = crate::fleet::keys(&engine.trust, now, crate::fleet::horizon(&engine));
                let mut warnings = engine.warnings.clone();
                warnings.extend(crate::fleet::expiry_warnings(&keys, now));
                ReloadOutcome::Applied {
                    generation,
                    warnings,
                }
            }
            Err((e, generation)) => ReloadOutcome::Refused {
                error: e.to_string(),
                generation,
            },
        }
    }

    fn status(&self) -> crate::status::Status {
        status(&self.0)
    }

    /// Runs on the control thread: its opens of the files carry the agent's
    /// pid, which the event thread answers at once (`Why::OwnOpen`), so it
    /// never waits on its own permission events, and no worker or event is
    /// held up by it.
    fn evaluate(&self, request: &EvaluateRequest) -> EvaluateReply {
        crate::scan::evaluate_paths(&self.0.engine(), request)
    }
}
