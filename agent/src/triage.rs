//! Triage of one permission event on the event thread, with no system
//! calls: from what can be found out about the event ([`Facts`]) to what to
//! do with it ([`Triage`]): answer at once, exempt it, or hand it to a
//! worker with what is already known.
//!
//! The facts are asked for lazily and in a fixed order, cheapest first, so
//! that the common case (a cached verdict) costs one `fstat` and a cache
//! probe: no path, no `/proc`, no allocation. The event thread
//! (`agent/events.rs`) implements [`Facts`] over the event's descriptor,
//! the policy in force and the caches, and carries out the answer; unit
//! tests implement it over plain values, which reaches every decision
//! without root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigward_policy::config::Mode;
use sigward_policy::Reason;

use crate::cache::{Hit, NO_EPOCH};
use crate::check::{self, Outcome};
use crate::names::Unresolved;
use crate::verdict::{failure_decision, Decision, Why};
use crate::via::Via;

/// Why a file named like a signature or an AiSOC manifest is not read
/// freely.
pub const NAME_EXEMPTION_REFUSED: &str = "named like a signature file or an AiSOC manifest, which \
     may be read freely only when nobody but the trusted owners can write it, or when it was not \
     renamed in the 2 s before this open: its owner could have swapped its name with a plugin's \
     while the plugin was being opened";

/// What `fstat` says of the event's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// A directory.
    pub dir: bool,
    /// A regular file.
    pub regular: bool,
    /// Its size.
    pub size: u64,
    /// Its device and inode (the name of a file that has none).
    pub dev: u64,
    /// Its inode.
    pub ino: u64,
}

impl FileFacts {
    fn empty_regular(&self) -> bool {
        self.regular && self.size == 0
    }
}

/// What the event thread can find out about one event. Each method is
/// called at most once or twice per event, and only when the triage needs
/// its answer.
pub trait Facts {
    /// Whether the opener is the agent itself (its own signature reads).
    fn own_open(&self) -> bool;
    /// Whether the event's metadata is of a version the agent reads.
    fn version_ok(&self) -> bool;
    /// The policy's global mode.
    fn policy_mode(&self) -> Mode;
    /// The strictest mode of any tree (for a file without a name).
    fn strictest_mode(&self) -> Mode;
    /// Whether every tree allows untrusted writers.
    fn untrusted_writers_allowed_everywhere(&self) -> bool;
    /// Whether an open for execution.
    fn exec(&self) -> bool;
    /// The file, by its descriptor (`None`: `fstat` failed).
    fn file(&mut self) -> Option<FileFacts>;
    /// Whether only root and the trusted owners can change the file (and
    /// its directory chain).
    fn only_trusted_can_write(&mut self) -> bool;
    /// A verdict of the fast cache (by inode, no path).
    fn fast_hit(&mut self) -> Option<Why>;
    /// The names epoch, `None` while a rename may be unaccounted for.
    fn names_epoch(&mut self) -> Option<u64>;
    /// The file's name in the agent's own mount namespace, and through
    /// which mount the opener reached it.
    fn name(&mut self) -> (Result<PathBuf, Unresolved>, Via);
    /// Whether `path` lies in a protected tree.
    fn in_tree(&self, path: &Path) -> bool;
    /// Whether a filesystem mark raised this event for a file that was not
    /// opened in a tree (and is no link target of one).
    fn raised_outside(&mut self, path: &Path, via: Via) -> bool;
    /// The mode of the tree holding `path`.
    fn mode_for(&self, path: &Path) -> Mode;
    /// Whether the file's name has settled (ctime well before the queue
    /// was last empty).
    fn name_settled(&mut self) -> bool;
    /// The userspace verdict cache, by path.
    fn lookup(&mut self, path: &Path, epoch: u64) -> Option<Hit>;
}

/// Whether the verdict cache was asked, and what it said (for the
/// counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Not asked.
    None,
    /// A verdict was found.
    Hit,
    /// Nothing was found.
    Miss,
}

/// What to do after an allow on the event thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    /// Nothing.
    Nothing,
    /// Cache "mode off" for the file at this path.
    RememberModeOff {
        /// The path.
        path: PathBuf,
        /// The names epoch it was read in.
        epoch: u64,
    },
    /// The file lies outside every tree: leave its later opens to the
    /// kernel.
    LeaveToKernel(PathBuf),
}

/// What the workers get to do.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The file's name, or how it is shown when it has none.
    pub path: PathBuf,
    /// The mode the answer follows.
    pub mode: Mode,
    /// The names epoch the path was read in.
    pub epoch: u64,
    /// An outcome known already (a refusal, or the cache's).
    pub known: Option<Arc<Outcome>>,
    /// Whether `known` came from the cache.
    pub cached: bool,
    /// Whether the file's name has settled.
    pub name_settled: bool,
    /// What the cache said.
    pub lookup: Lookup,
}

/// What to do with one event.
#[derive(Clone, Debug)]
pub enum Triage {
    /// Answer at once, before any envelope is made.
    Respond {
        /// The decision.
        decision: Decision,
        /// Its reason.
        why: Why,
    },
    /// Give up: the envelope answers as the policy's mode fails.
    FailClosed,
    /// Allow at once, without a verification.
    Allow {
        /// Why.
        why: Why,
        /// What the cache said.
        lookup: Lookup,
        /// What to do next.
        then: Then,
    },
    /// Hand it to a worker.
    Verify(Plan),
}

fn allow(why: Why, lookup: Lookup) -> Triage {
    Triage::Allow {
        why,
        lookup,
        then: Then::Nothing,
    }
}

/// Triages one event.
pub fn triage(facts: &mut impl Facts) -> Triage {
    if facts.own_open() {
        return Triage::Respond {
            decision: Decision::Allow,
            why: Why::OwnOpen,
        };
    }
    if !facts.version_ok() {
        return Triage::Respond {
            decision: failure_decision(facts.policy_mode() != Mode::Enforce),
            why: Why::Error,
        };
    }
    let Some(file) = facts.file() else {
        return Triage::FailClosed;
    };
    if file.dir {
        return allow(Why::Directory, Lookup::None);
    }
    // Nothing to run in an empty file that only trusted owners can fill;
    // deployment tools create files empty before writing them. Never
    // cached: checked again on every later open. An empty file others can
    // write goes to a worker.
    if file.empty_regular() && facts.only_trusted_can_write() {
        return allow(Why::Empty, Lookup::None);
    }
    if let Some(why) = facts.fast_hit() {
        return allow(why, Lookup::Hit);
    }
    // Read before the path, so that an entry made from this path is never
    // newer than the names it saw.
    let epoch = facts.names_epoch().unwrap_or(NO_EPOCH);
    let (resolved, via) = facts.name();
    let resolved = match (resolved, via) {
        (Ok(now), Via::Tree) if !facts.in_tree(&now) => Err(Unresolved::LeftTree { now }),
        // Opened through a mount that shows no tree: not the agent's
        // business, whatever the file is called.
        (Err(_), Via::Disjoint) => return allow(Why::OutsideTrees, Lookup::Miss),
        (r, _) => r,
    };
    match resolved {
        Ok(path) => named(facts, file, path, via, epoch),
        Err(why) => unnamed(facts, file, &why),
    }
}

/// A file without a name: its tree, mode and signature cannot be found.
/// Refused in the strictest mode of the policy, shown by device and inode,
/// never cached.
fn unnamed(facts: &mut impl Facts, file: FileFacts, why: &Unresolved) -> Triage {
    let mode = facts.strictest_mode();
    if mode == Mode::Off {
        return allow(Why::ModeOff, Lookup::Miss);
    }
    // An empty file needs no name: it is allowed while nobody else writes
    // or reads it, unless a tree refuses untrusted writers (its tree cannot
    // be told).
    let empty_ok = file.empty_regular() && facts.untrusted_writers_allowed_everywhere();
    let known = (!empty_ok).then(|| {
        Arc::new(Outcome::refused(
            Reason::Unsigned,
            format!("the file's name cannot be resolved: {why}"),
            PathBuf::new(),
        ))
    });
    Triage::Verify(Plan {
        path: why.shown(file.dev, file.ino),
        mode,
        epoch: NO_EPOCH,
        known,
        cached: false,
        name_settled: false,
        lookup: Lookup::Miss,
    })
}

fn named(facts: &mut impl Facts, file: FileFacts, path: PathBuf, via: Via, epoch: u64) -> Triage {
    if facts.raised_outside(&path, via) {
        // Raised by the filesystem mark of a tree that is a mount of its
        // own, for a file that was not opened in a tree.
        return Triage::Allow {
            why: Why::OutsideTrees,
            lookup: Lookup::Miss,
            then: Then::LeaveToKernel(path),
        };
    }
    let mode = facts.mode_for(&path);
    if mode == Mode::Off {
        return Triage::Allow {
            why: Why::ModeOff,
            lookup: Lookup::None,
            then: Then::RememberModeOff { path, epoch },
        };
    }
    let exec = facts.exec();
    let sig_path = check::sig_path_for(&path);
    let known = if !file.regular {
        Some(Outcome::refused(
            Reason::Unsigned,
            "not a regular file: only regular files can carry a signature",
            sig_path,
        ))
    } else if check::is_sig_file(&path) && (file.size != 0 || exec) {
        // (An empty one others can write goes to a worker like any other
        // empty file: creating a signature file opens it empty.)
        if !exec && (facts.only_trusted_can_write() || facts.name_settled()) {
            // Loaders and operators read signature files. An exemption,
            // not a verdict: never cached, decided again on every open.
            return allow(Why::SignatureRead, Lookup::None);
        }
        Some(Outcome::refused(
            Reason::Invalid,
            if exec {
                "signature files are never executed"
            } else {
                NAME_EXEMPTION_REFUSED
            },
            sig_path,
        ))
    } else {
        None
    };
    let (known, cached, lookup) = match known {
        Some(k) => (Some(Arc::new(k)), false, Lookup::None),
        None => match facts.lookup(&path, epoch) {
            Some(Hit::Allow(why)) => return allow(why, Lookup::Hit),
            Some(Hit::Outcome(hit)) => (Some(hit), true, Lookup::Hit),
            None => (None, false, Lookup::Miss),
        },
    };
    Triage::Verify(Plan {
        path,
        mode,
        epoch,
        known,
        cached,
        name_settled: facts.name_settled(),
        lookup,
    })
}

#[cfg(test)]
mod tests;
