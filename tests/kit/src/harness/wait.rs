//! Waiting for a condition, never a fixed sleep.

use std::thread;
use std::time::{Duration, Instant};

/// Calls `f` until it returns `Some` and returns that value; fails the test
/// if it has not after `timeout`. It polls every 10 ms at first, then at a
/// tenth of the time waited so far, but at least every 100 ms, so that
/// costly checks (journalctl, `sigward status`) are not run back to back
/// during long waits.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        let waited = start.elapsed();
        if waited > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep((waited / 10).clamp(Duration::from_millis(10), Duration::from_millis(100)));
    }
}

/// [`poll`] for a condition: waits until `cond` holds.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    poll(what, timeout, || cond().then_some(()));
}
