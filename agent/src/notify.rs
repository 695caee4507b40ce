//! systemd notifications (`READY=1`, `RELOADING=1`, `STOPPING=1`, ...),
//! sent from a thread of their own.
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
    };
}

/// Queues a notification; never blocks. Does nothing outside systemd
/// (no `$NOTIFY_SOCKET`).
pub fn notify(state: State) {
    if let Some(tx) = queue() {
        let _ = tx.try_send(state);
    }
}
