//! The signals the agent handles itself, on its main thread.

use nix::sys::signal::{SigSet, Signal};

/// The signals the agent handles itself, on the main thread, with
/// `sigwait`: SIGHUP reloads, SIGTERM and SIGINT stop, SIGUSR1 writes the
/// status to the log, and SIGUSR2, SIGALRM and SIGPIPE are ignored. A
/// burst of any of them (several configuration-management handlers at
/// once) coalesces into one pending signal and never kills the agent.
pub(super) const HANDLED_SIGNALS: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGPIPE,
];

/// Blocks the signals the agent handles itself (`HANDLED_SIGNALS`) in the calling thread, and so in every thread
/// it starts afterwards, and returns the set for `sigwait`. `main` calls it
/// before anything else starts a thread: a thread started earlier would
/// take such a signal with its default action, which ends the process.
pub fn block_signals() -> nix::Result<SigSet> {
    let mut set = SigSet::empty();
    for s in HANDLED_SIGNALS {
        set.add(s);
    }
    set.thread_block()?;
    Ok(set)
}
