//! Two lanes of verification workers, so that a slow or hostile file
//! delays only its own openers, and the watch that stops a verification
//! nobody needs any more.
//!
//! * The **small lane** verifies files of at most [`LARGE_FILE`] bytes. A
//!   verification there may read at most [`SMALL_LANE_BUDGET`] bytes in all
//!   (an AiSOC bundle's other members count): one that needs more is given
//!   up ([`Interrupt::OverBudget`]) and handed to the large lane. So a job
//!   in the small lane takes a bounded time, and a small file waits only
//!   for other small files.
//! * The **large lane** verifies larger files, with its own, bounded,
//!   threads ([`large_workers`]), at a lower priority ([`LARGE_LANE_NICE`]). Large files that their evidence alone
//!   refuses (no signature, or one that binds another size) never get that
//!   far: `check::evaluate` refuses them without reading them.
//!
//! Every verification is watched ([`LaneWatch`]) before each read of 1 MiB:
//! it stops at once when the agent is stopping, and, checked every
//! [`LIVENESS_EVERY`] (and in the large lane before the first read), when
//! every process waiting for its verdict has ended (the kernel drops the
//! permission event of a killed opener). An
//! interrupted verification reaches no verdict: nothing is cached, and the
//! events still waiting get the fail-closed answer of their mode.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::hash::{Interrupt, Watch};

/// Files larger than this are verified in the large lane.
pub const LARGE_FILE: u64 = 1024 * 1024;

/// Bytes a verification in the small lane may read before it moves to the
/// large lane.
pub const SMALL_LANE_BUDGET: u64 = 8 * 1024 * 1024;

/// How often a verification checks that someone still waits for it.
pub const LIVENESS_EVERY: Duration = Duration::from_millis(100);

/// A lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Files of at most [`LARGE_FILE`] bytes.
    Small,
    /// Larger files, and small ones whose verification reads more than
    /// [`SMALL_LANE_BUDGET`].
    Large,
}

impl Lane {
    /// The lane a file of `size` bytes starts in.
    pub fn for_size(size: u64) -> Lane {
        if size > LARGE_FILE {
            Lane::Large
        } else {
            Lane::Small
        }
    }

    /// How much a verification in this lane may read.
    pub fn budget(self) -> Option<u64> {
        match self {
            Lane::Small => Some(SMALL_LANE_BUDGET),
            Lane::Large => None,
        }
    }

    /// For thread names.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Small => "worker",
            Lane::Large => "large",
        }
    }
}

/// The nice value of the large lane's threads: on a busy machine the
/// event thread and the small lane, which answer in microseconds, run
/// first, and hashing large files takes what is left.
pub const LARGE_LANE_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`LARGE_LANE_NICE`] (a failure
/// changes nothing but the scheduling, and is ignored).
pub fn lower_priority() {
    let tid = nix::unistd::gettid().as_raw();
    let Ok(tid) = libc::id_t::try_from(tid) else {
        return;
    };
    // SAFETY: setpriority(2) with PRIO_PROCESS and a thread id sets that
    // thread's nice value (Linux keeps it per thread); no memory is passed.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, tid, LARGE_LANE_NICE);
    }
}

/// Threads of the large lane, for `small` threads in the small lane: half
/// as many, at least 2 and at most 8.
pub fn large_workers(small: usize) -> usize {
    (small / 2).clamp(2, 8)
}

/// The sending side of both lanes' queues (unbounded: sending never
/// blocks).
pub struct Lanes<T> {
    small: Sender<T>,
    large: Sender<T>,
}

impl<T> Lanes<T> {
    /// Both queues.
    pub fn new(small: Sender<T>, large: Sender<T>) -> Self {
        Lanes { small, large }
    }

    /// Queues `job` in `lane`; gives it back when that lane's workers are
    /// gone.
    pub fn send(&self, lane: Lane, job: T) -> Result<(), T> {
        let tx = match lane {
            Lane::Small => &self.small,
            Lane::Large => &self.large,
        };
        tx.send(job).map_err(|e| e.into_inner())
    }
}

/// Watches one verification: see the module documentation.
pub struct LaneWatch<'a, F: FnMut() -> bool> {
    stopping: &'a AtomicBool,
    budget: Option<u64>,
    read: u64,
    next_check: Instant,
    someone_waits: F,
}

impl<'a, F: FnMut() -> bool> LaneWatch<'a, F> {
    /// A watch for a verification in `lane`; `someone_waits` tells whether
    /// any process still waits for its verdict. In the large lane it is
    /// asked before the first read too: a job that waited in the queue may
    /// have lost its openers meanwhile. In the small lane, whose jobs take
    /// little time, only after [`LIVENESS_EVERY`].
    pub fn new(stopping: &'a AtomicBool, lane: Lane, someone_waits: F) -> Self {
        let now = Instant::now();
        LaneWatch {
            stopping,
            budget: lane.budget(),
            read: 0,
            next_check: match lane {
                Lane::Small => now + LIVENESS_EVERY,
                Lane::Large => now,
            },
            someone_waits,
        }
    }
}

impl<F: FnMut() -> bool> Watch for LaneWatch<'_, F> {
    fn before_read(&mut self, n: u64) -> Result<(), Interrupt> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(Interrupt::Stopping);
        }
        self.read = self.read.saturating_add(n);
        if self.budget.is_some_and(|b| self.read > b) {
            return Err(Interrupt::OverBudget);
        }
        let now = Instant::now();
        if now >= self.next_check {
            self.next_check = now + LIVENESS_EVERY;
            if !(self.someone_waits)() {
                return Err(Interrupt::Abandoned);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_above_one_mib_start_in_the_large_lane() {
        assert_eq!(Lane::for_size(0), Lane::Small);
        assert_eq!(Lane::for_size(LARGE_FILE), Lane::Small);
        assert_eq!(Lane::for_size(LARGE_FILE + 1), Lane::Large);
        assert_eq!(Lane::for_size(100 << 30), Lane::Large);
        assert_eq!(large_workers(1), 2);
        assert_eq!(large_workers(6), 3);
        assert_eq!(large_workers(256), 8);
    }

    #[test]
    fn the_small_lane_stops_at_its_budget() {
        let stop = AtomicBool::new(false);
        let mut w = LaneWatch::new(&stop, Lane::Small, || true);
        for _ in 0..SMALL_LANE_BUDGET / LARGE_FILE {
            assert_eq!(w.before_read(LARGE_FILE), Ok(()));
        }
        assert_eq!(w.before_read(1), Err(Interrupt::OverBudget));
        let mut large = LaneWatch::new(&stop, Lane::Large, || true);
        for _ in 0..100 {
            assert_eq!(large.before_read(SMALL_LANE_BUDGET), Ok(()));
        }
    }

    #[test]
    fn stopping_interrupts_at_once() {
        let stop = AtomicBool::new(false);
        let mut w = LaneWatch::new(&stop, Lane::Large, || true);
        assert_eq!(w.before_read(1), Ok(()));
        stop.store(true, Ordering::SeqCst);
        assert_eq!(w.before_read(1), Err(Interrupt::Stopping));
    }

    #[test]
    fn an_abandoned_verification_stops_at_the_next_check_only() {
        let stop = AtomicBool::new(false);
        let asked = std::cell::Cell::new(0);
        let nobody = || {
            asked.set(asked.get() + 1);
            false
        };
        // The large lane asks before its first read.
        let mut large = LaneWatch::new(&stop, Lane::Large, nobody);
        assert_eq!(large.before_read(1), Err(Interrupt::Abandoned));
        assert_eq!(asked.get(), 1);
        // The small lane not before the first interval ends: small files
        // never pay for the check.
        let mut small = LaneWatch::new(&stop, Lane::Small, nobody);
        assert_eq!(small.before_read(1), Ok(()));
        assert_eq!(asked.get(), 1);
        std::thread::sleep(LIVENESS_EVERY + Duration::from_millis(10));
        assert_eq!(small.before_read(1), Err(Interrupt::Abandoned));
        assert_eq!(asked.get(), 2);
    }
}
