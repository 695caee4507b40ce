//! systemd notifications (`READY=1`, `RELOADING=1`, `STOPPING=1`,
//! `WATCHDOG=1`), sent from a thread of their own.
//!
//! `sd_notify` writes a datagram to `$NOTIFY_SOCKET` and blocks while the
//! receiver's queue is full. The agent's main thread handles signals and
//! reloads, so it must never wait on that: messages are queued here without
//! blocking (a full queue drops the oldest kind of news, which is always
//! superseded by a later state anyway) and a notifier thread sends them.

use std::sync::OnceLock;

use crossbeam_channel::{bounded, Sender};

/// A state to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// `READY=1` with a `STATUS=` line.
    Ready(String),
    /// `RELOADING=1` followed by `MONOTONIC_USEC=`.
    Reloading,
    /// `STOPPING=1`.
    Stopping,
    /// `WATCHDOG=1`: the agent is alive and its event loop makes progress.
    Watchdog,
}

static QUEUE: OnceLock<Option<Sender<State>>> = OnceLock::new();

fn queue() -> Option<&'static Sender<State>> {
    QUEUE
        .get_or_init(|| {
            std::env::var_os("NOTIFY_SOCKET")?;
            let (tx, rx) = bounded::<State>(64);
            std::thread::Builder::new()
                .name("sigward-notify".into())
                .spawn(move || {
                    while let Ok(state) = rx.recv() {
                        send(&state);
                    }
                })
                .ok()?;
            Some(tx)
        })
        .as_ref()
}

fn send(state: &State) {
    use sd_notify::NotifyState as N;
    let _ = match state {
        State::Ready(status) => sd_notify::notify(&[N::Ready, N::Status(status)]),
        State::Reloading => match N::monotonic_usec_now() {
            Ok(ts) => sd_notify::notify(&[N::Reloading, ts]),
            Err(_) => sd_notify::notify(&[N::Reloading]),
        },
        State::Stopping => sd_notify::notify(&[N::Stopping]),
        State::Watchdog => sd_notify::notify(&[N::Watchdog]),
    };
}

/// Whether to confirm liveness to systemd's watchdog: only while the event
/// loop's heartbeat is younger than the watchdog interval, and never once
/// the agent is stopping. An event loop wedged (in a write, a lock, the
/// kernel) stops beating; the watchdog then stops hearing from the agent
/// and systemd restarts it.
pub fn alive(
    heartbeat_age: std::time::Duration,
    interval: std::time::Duration,
    stopping: bool,
) -> bool {
    !stopping && heartbeat_age < interval
}

/// The names under which the permission group is kept in systemd's file
/// descriptor store. Each agent stores its group under the name the group
/// it inherited did not have, and only then removes the inherited one, so
/// that systemd holds a group at every moment.
const GROUP_NAMES: [&str; 2] = ["sigward-perm-a", "sigward-perm-b"];

/// The permission group the agent that ran before stored in systemd's file
/// descriptor store (`FDSTORE=1`), and its name; other descriptors passed
/// are closed.
pub fn inherited_group() -> Option<(std::os::fd::OwnedFd, &'static str)> {
    use std::os::fd::FromRawFd;
    let fds = sd_notify::listen_fds_with_names().ok()?;
    let mut found = None;
    for (fd, name) in fds {
        // SAFETY: systemd passed this descriptor to this process
        // (LISTEN_PID is ours), and nothing else here refers to it.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        if let Some(n) = GROUP_NAMES.iter().find(|n| **n == name) {
            found = Some((owned, *n));
        }
    }
    found
}

/// Stores `group` in systemd's file descriptor store under the name the
/// inherited group did not have, then removes the inherited one. Sent at
/// once (not queued): the agent waits for it once, after `READY=1`.
pub fn store_group(
    group: std::os::fd::BorrowedFd<'_>,
    inherited: Option<&str>,
) -> std::io::Result<()> {
    use sd_notify::NotifyState as N;
    let name = if inherited == Some(GROUP_NAMES[0]) {
        GROUP_NAMES[1]
    } else {
        GROUP_NAMES[0]
    };
    sd_notify::notify_with_fds(&[N::FdStore, N::FdName(name)], &[group])?;
    if let Some(old) = inherited {
        sd_notify::notify(&[N::FdStoreRemove, N::FdName(old)])?;
    }
    Ok(())
}

/// Queues a notification; never blocks. Does nothing outside systemd
/// (no `$NOTIFY_SOCKET`).
pub fn notify(state: State) {
    if let Some(tx) = queue() {
        let _ = tx.try_send(state);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::alive;

    #[test]
    fn liveness_needs_a_fresh_heartbeat() {
        let interval = Duration::from_secs(2);
        assert!(alive(Duration::ZERO, interval, false));
        assert!(alive(Duration::from_millis(1999), interval, false));
        // A loop that has not beaten for a whole interval is wedged.
        assert!(!alive(Duration::from_secs(2), interval, false));
        assert!(!alive(Duration::from_secs(3600), interval, false));
        // Never once the agent is stopping, however fresh.
        assert!(!alive(Duration::ZERO, interval, true));
    }
}
