//! The envelope of one permission event: [`Pending`] owns it until it is
//! answered, exactly once (fail-closed on drop), and [`Job`] carries it to a
//! worker with what the event thread learned.

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sigward_policy::config::Mode;

use crate::check::Outcome;
use crate::config::Engine;
use crate::fan::PermEvent;
use crate::files::Stamp;
use crate::verdict::Why;
use crate::verdict::{failure_decision, Decision};

use super::Shared;

/// A permission event that must be answered exactly once.
pub(super) struct Pending {
    shared: Arc<Shared>,
    event: Option<PermEvent>,
    pub(super) fail_allow: bool,
    /// When the event was read.
    received: Instant,
}

impl Pending {
    pub(super) fn new(shared: Arc<Shared>, event: PermEvent, mode: Mode) -> Self {
        Pending {
            shared,
            event: Some(event),
            fail_allow: mode != Mode::Enforce,
            received: Instant::now(),
        }
    }

    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.event.as_ref().map(PermEvent::fd)
    }

    pub(super) fn pid(&self) -> i32 {
        self.event.as_ref().map_or(0, |e| e.pid())
    }

    pub(super) fn answer(mut self, allow: bool) {
        if let Some(ev) = self.event.take() {
            respond(&self.shared, &ev, allow);
        }
    }

    /// Allows on the event thread, without verification.
    pub(super) fn allow_fast(self, why: Why) {
        self.shared.metrics.verdict(Decision::Allow, why);
        self.answer(true);
    }

    /// Answers a worker's decision (counted, with its latency, before the
    /// answer, so that the opener never sees counts that lag behind it).
    pub(super) fn decide(self, decision: Decision, why: Why) {
        let m = &self.shared.metrics;
        m.verdict(decision, why);
        m.observe_latency(self.received.elapsed());
        self.answer(decision.allows());
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(ev) = self.event.take() {
            self.shared
                .metrics
                .verdict(failure_decision(self.fail_allow), Why::Error);
            respond(&self.shared, &ev, self.fail_allow);
        }
    }
}

pub(super) fn respond(shared: &Shared, ev: &PermEvent, allow: bool) {
    // A failed write (ENOENT: the kernel already released the event, the
    // group is shutting down) cannot be helped; the event thread must not
    // log here.
    shared.groups.respond(ev, allow);
}

/// Work for a verification thread.
pub(super) struct Job {
    pub(super) pending: Pending,
    pub(super) path: PathBuf,
    pub(super) stamp: Stamp,
    /// Link count at the event.
    pub(super) nlink: u64,
    /// Names epoch read before `path` ([`NO_EPOCH`] if names were moving).
    pub(super) epoch: u64,
    pub(super) exec: bool,
    pub(super) mode: Mode,
    pub(super) engine: Arc<Engine>,
    /// A verdict decided without verification, or taken from the cache.
    pub(super) known: Option<Arc<Outcome>>,
    pub(super) cached: bool,
    /// Whether the file's name cannot have changed since it was opened
    /// ([`name_settled`]).
    pub(super) name_settled: bool,
}
