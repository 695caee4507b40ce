//! The control socket, and what /proc says of a process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use std::{fs, thread};

use super::agent::Agent;
use super::fixture::Fixture;
use super::process::Finished;
use super::sigward;

/// `sigward reload` of an agent from [`start`]; it must succeed.
pub fn reload(fx: &Fixture, socket: &Path) {
    let fin = try_reload(fx, socket);
    assert!(fin.success(), "sigward reload failed:\n{fin}");
}

/// `sigward reload` of an agent from [`start`], whatever its answer.
pub fn try_reload(fx: &Fixture, socket: &Path) -> Finished {
    sigward([
        "reload".as_ref(),
        "--control-socket".as_ref(),
        socket.as_os_str(),
        "--pid-file".as_ref(),
        fx.root.join("agent.pid").as_os_str(),
        "--timeout".as_ref(),
        "30".as_ref(),
    ])
}

/// An agent with its control socket in the fixture's directory.
pub fn start(fx: &Fixture, env: &[(&str, &str)]) -> (Agent, PathBuf) {
    let socket = fx.root.join("ctl.sock");
    let agent = Agent::start_with_env_args(
        &fx.policy,
        env,
        &[
            std::ffi::OsStr::new("--control-socket"),
            socket.as_os_str(),
            std::ffi::OsStr::new("--pid-file"),
            fx.root.join("agent.pid").as_os_str(),
        ],
    );
    (agent, socket)
}

pub fn status(socket: &Path, format: Option<&str>) -> Finished {
    let mut args = vec![
        std::ffi::OsStr::new("status"),
        std::ffi::OsStr::new("--control-socket"),
        socket.as_os_str(),
    ];
    if let Some(f) = format {
        args.push(std::ffi::OsStr::new(f));
    }
    sigward(args)
}

pub fn status_json(socket: &Path) -> serde_json::Value {
    let fin = status(socket, Some("--json"));
    // 1: shown, but degraded (the state is in the JSON).
    assert!(matches!(fin.code(), Some(0 | 1)), "{fin}");
    assert_eq!(fin.stdout.lines().count(), 1, "one JSON line: {fin}");
    let v: serde_json::Value = serde_json::from_str(fin.stdout.trim())
        .unwrap_or_else(|e| panic!("sigward status --json is not JSON: {e}\n{fin}"));
    assert_eq!(v["ok"], true, "{v}");
    v
}

pub fn n(v: &serde_json::Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("no number at {path:?} in {v:#}"))
}

/// Number of open descriptors of a process.
pub fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (a little) for the agent's fd count to come back to `baseline`
/// plus a small constant, and returns it.
pub fn settled_fd_count(pid: i32, baseline: usize) -> usize {
    const SLACK: usize = 4;
    let start = Instant::now();
    loop {
        let n = fd_count(pid);
        if n <= baseline + SLACK || start.elapsed() > Duration::from_secs(5) {
            return n;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
