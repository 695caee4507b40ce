//! The `evaluate` client: `sigward verify` and `sigward scan` ask the
//! running agent for its verdicts over the control socket, since an
//! enforcing agent denies their own opens of the files it refuses.

use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::{read_answer, ClientError};
use crate::control::{AnyReply, IO_TIMEOUT, MAX_EVALUATE_REQUEST};
use crate::scan::{batches, Entry, EvaluateReply, EvaluateRequest, Status, View};

/// How long the client waits for one answer: the agent serves one control
/// client at a time, each `evaluate` for at most
/// [`crate::scan::EVALUATE_BUDGET`].
pub const EVALUATE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running agent that answered `evaluate`.
pub struct Agent {
    socket: PathBuf,
    /// The generation in force when it first answered.
    pub generation: u64,
    /// Its policy file.
    pub policy: PathBuf,
    /// Its protected trees.
    pub trees: Vec<PathBuf>,
}

/// Who evaluates: the running agent, when it answers and the caller is
/// root, unless `offline`. When the agent cannot be used (and `offline`
/// was not asked for), says so once on stderr, naming `command`.
pub fn find(command: &str, socket: &Path, offline: bool) -> Option<Agent> {
    if offline {
        return None;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "sigward {command}: not root, and the running agent serves root only: evaluating \
             offline (files an enforcing agent denies show as unreadable: EPERM or denied)"
        );
        return None;
    }
    match Agent::connect(socket) {
        Ok(agent) => Some(agent),
        Err(e) => {
            eprintln!("sigward {command}: {e}: evaluating offline");
            None
        }
    }
}

/// `agent`, unless the caller named a `policy` other than the one it
/// enforces: then the command evaluates offline with that policy, and
/// says so once on stderr, naming `command`.
pub fn enforcing(command: &str, agent: Option<Agent>, policy: Option<&Path>) -> Option<Agent> {
    agent.filter(|a| match policy {
        Some(p) if !a.enforces(p) => {
            eprintln!(
                "sigward {command}: the running agent enforces {}, not {}: evaluating offline \
                 with {}",
                a.policy.display(),
                p.display(),
                p.display()
            );
            false
        }
        _ => true,
    })
}

impl Agent {
    /// Asks the agent at `socket` for its generation, policy and trees.
    pub fn connect(socket: &Path) -> Result<Agent, ClientError> {
        let reply = ask(socket, &EvaluateRequest::default())?;
        Ok(Agent {
            socket: socket.to_path_buf(),
            generation: reply.generation,
            policy: PathBuf::from(reply.policy),
            trees: reply.trees.into_iter().map(PathBuf::from).collect(),
        })
    }

    /// The line that says who answered.
    pub fn header(&self) -> String {
        format!(
            "evaluated by the running agent (generation {}, policy {})",
            self.generation,
            self.policy.display()
        )
    }

    /// Whether `policy`, given on the command line, is the agent's policy.
    pub fn enforces(&self, policy: &Path) -> bool {
        std::fs::canonicalize(policy).is_ok_and(|p| p == self.policy)
    }

    /// The agent's entries for `paths` (absolute), in their order. Paths
    /// the protocol cannot carry (not UTF-8) get an `unreadable` entry.
    pub fn evaluate(&self, view: View, paths: &[PathBuf]) -> Result<Vec<Entry>, ClientError> {
        let mut out: Vec<Option<Entry>> = vec![None; paths.len()];
        let mut todo: Vec<(usize, PathBuf)> = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            if std::str::from_utf8(p.as_os_str().as_bytes()).is_err() {
                out[i] = Some(Entry::plain(
                    p,
                    Status::Unreadable,
                    "the path is not UTF-8, which the control socket cannot carry; evaluate it \
                     with --offline",
                ));
            } else {
                todo.push((i, p.clone()));
            }
        }
        while !todo.is_empty() {
            let names: Vec<PathBuf> = todo.iter().map(|(_, p)| p.clone()).collect();
            let mut batch = batches(&names, MAX_EVALUATE_REQUEST - 64)
                .into_iter()
                .next()
                .unwrap_or_default();
            batch.truncate(todo.len());
            let asked = batch.len();
            let reply = ask(&self.socket, &EvaluateRequest { view, paths: batch })?;
            // The agent answers at least one file per request (fewer than
            // asked when its budget runs out): ask again for the rest.
            let got = reply.files.len().min(asked);
            if got == 0 {
                return Err(ClientError::Unexpected {
                    socket: self.socket.clone(),
                    line: "an answer to evaluate without any file".into(),
                });
            }
            for ((i, _), entry) in todo.drain(..got).zip(reply.files) {
                out[i] = Some(entry);
            }
        }
        Ok(out
            .into_iter()
            .zip(paths)
            .map(|(e, p)| e.unwrap_or_else(|| Entry::plain(p, Status::Unreadable, "not evaluated")))
            .collect())
    }
}

/// One `evaluate` request and its answer.
fn ask(socket: &Path, request: &EvaluateRequest) -> Result<EvaluateReply, ClientError> {
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(source) => {
            return Err(ClientError::NoAnswer {
                socket: socket.to_path_buf(),
                source,
            })
        }
    };
    let mut line = String::from("evaluate ");
    line.push_str(&serde_json::to_string(request).unwrap_or_default());
    line.push('\n');
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(EVALUATE_TIMEOUT)))
        .and_then(|()| stream.write_all(line.as_bytes()));
    sent.map_err(|source| ClientError::Send {
        socket: socket.to_path_buf(),
        source,
    })?;
    let answer = read_answer(&mut stream, crate::scan::MAX_EVALUATE_REPLY).map_err(|source| {
        let source = if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            std::io::Error::new(
                ErrorKind::TimedOut,
                format!("no answer within {} s", EVALUATE_TIMEOUT.as_secs()),
            )
        } else {
            source
        };
        ClientError::Receive {
            socket: socket.to_path_buf(),
            source,
        }
    })?;
    match serde_json::from_str::<EvaluateReply>(&answer) {
        Ok(reply) if reply.ok => Ok(reply),
        _ => match serde_json::from_str::<AnyReply>(&answer) {
            Ok(AnyReply {
                ok: Some(false),
                error: Some(error),
                ..
            }) => Err(ClientError::Refused {
                socket: socket.to_path_buf(),
                error,
            }),
            _ => Err(ClientError::Unexpected {
                socket: socket.to_path_buf(),
                line: answer.chars().take(200).collect(),
            }),
        },
    }
}
