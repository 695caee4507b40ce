//! The control socket (`sigward reload`, `ping`), the pid file and
//! `sigward trust add|remove`.
//!
//! Every agent here gets its control socket and pid file inside its
//! fixture's temporary directory (never /run/sigward).
//!
//! By topic: [`reload`] (`sigward reload` over the socket, and its SIGHUP
//! fallback through the pid file), [`socket`] (requests, peers, a second
//! agent, cleanup) and [`trust`] (`sigward trust add|list|remove`, and key
//! files that are FIFOs).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{sigward, Agent, Finished, Fixture};

mod reload;
mod socket;
mod trust;

/// Paths of one agent's control socket and pid file.
struct Ctl {
    socket: PathBuf,
    pid_file: PathBuf,
}

impl Ctl {
    fn in_dir(dir: &Path) -> Ctl {
        Ctl {
            socket: dir.join("ctl.sock"),
            pid_file: dir.join("pid"),
        }
    }

    fn start(&self, fx: &Fixture) -> Agent {
        Agent::start_with_env_args(
            &fx.policy,
            &[("SIGWARD_LOG_TARGET", "stderr")],
            &[
                OsStr::new("--control-socket"),
                self.socket.as_os_str(),
                OsStr::new("--pid-file"),
                self.pid_file.as_os_str(),
            ],
        )
    }

    /// `sigward reload --control-socket S --pid-file P`.
    fn reload(&self) -> Finished {
        sigward([
            OsStr::new("reload"),
            OsStr::new("--control-socket"),
            self.socket.as_os_str(),
            OsStr::new("--pid-file"),
            self.pid_file.as_os_str(),
            OsStr::new("--timeout"),
            OsStr::new("30"),
        ])
    }
}

/// Sends one request line and returns the answer line, parsed.
fn request(socket: &Path, line: &[u8]) -> serde_json::Value {
    let mut s =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    // The agent may answer (and close) before reading everything of an
    // oversized request; a failed write is not the point.
    let _ = s.write_all(line);
    let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.contains(&b'\n') {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the answer to {shown:?}: {e}"),
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let first = answer.lines().next().unwrap_or_default();
    serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("answer {answer:?} to {shown:?} is not JSON: {e}"))
}

fn ping(socket: &Path) -> serde_json::Value {
    request(socket, b"ping\n")
}

fn generation(socket: &Path) -> u64 {
    let a = ping(socket);
    assert_eq!(a["ok"], true, "ping: {a}");
    a["generation"]
        .as_u64()
        .unwrap_or_else(|| panic!("ping answer without a generation: {a}"))
}

fn all_output(fin: &Finished) -> String {
    format!("{}{}", fin.stdout, fin.stderr)
}
