//! The control socket of the running agent. Its clients are `sigward
//! reload` and `sigward status` ([`crate::cmd::client`]).
//!
//! Protocol: a Unix stream socket (default `/run/sigward/control.sock`, mode 0600 in
//! a root-only directory). One request per connection: the client writes one
//! line, the agent answers one line of JSON and closes the connection. The
//! first word of the request line selects the command, so commands can grow
//! arguments later:
//!
//! | request  | answer |
//! | -------- | ------ |
//! | `reload` | `{"ok":true,"generation":N}`, or `{"ok":false,"error":"FILE:LINE: message","generation":N}` where N is the generation still in force |
//! | `ping`   | `{"ok":true,"generation":N,"pid":PID}` |
//! | `status` | `{"ok":true,...}`: counters and state, a [`StatusReply`] (see [`crate::status::Status`]) |
//! | `evaluate {"view":"verify"\|"scan","paths":[...]}` | `{"files":[...],"generation":N,"ok":true,"policy":"...","trees":[...]}`: an [`EvaluateReply`] |
//!
//! `evaluate` is how `sigward verify` and `sigward scan` ask a running agent
//! for its verdicts (an enforcing agent denies their own opens): the agent
//! opens each path itself (its own opens are answered at once by its event
//! thread, whichever of its threads makes them), without following a final
//! symbolic link and without opening a FIFO or device for reading, and
//! verifies it with the generation in force through the one verification
//! path ([`crate::scan::evaluate_paths`]). At most
//! [`crate::scan::MAX_EVALUATE_PATHS`] absolute paths per request, in a line
//! of at most [`MAX_EVALUATE_REQUEST`] bytes; the answer holds the files in
//! the order asked, and may hold fewer when [`crate::scan::EVALUATE_BUDGET`]
//! or [`crate::scan::MAX_EVALUATE_REPLY`] runs out (the client asks again
//! for the rest). No paths at all: only the generation, policy and trees.
//!
//! Any other request, a request from a peer that is not uid 0 (checked with
//! `SO_PEERCRED`), an oversized request and a malformed one get
//! `{"ok":false,"error":"..."}` without a `generation`.
//!
//! The socket is served by its own thread. It never touches permission
//! events: a slow or silent client can only delay other control clients
//! (each connection has a deadline of [`IO_TIMEOUT`], and an `evaluate`
//! request [`crate::scan::EVALUATE_BUDGET`] more), never an open.
//!
//! This module holds the protocol ([`Request`], and the answers
//! [`PingReply`], [`ReloadReply`], [`StatusReply`], [`Refusal`]); `server`
//! serves it for the agent.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scan::{EvaluateError, EvaluateReply, EvaluateRequest};
use crate::status::Status;

mod server;

pub use server::{Endpoint, EndpointError, Server};

/// How long one connection may take to send its request (and to accept the
/// answer).
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request line accepted, newline included.
pub const MAX_REQUEST: usize = 1024;
/// The longest `evaluate` request line accepted, newline included.
pub const MAX_EVALUATE_REQUEST: usize = 64 * 1024;
/// The longest answer `sigward reload` reads.
pub(crate) const MAX_REPLY: usize = 64 * 1024;
/// A pid file holds one number; anything longer is not ours.
pub(crate) const PID_FILE_LIMIT: u64 = 4096;
/// The longest answer `sigward status` reads (trees and recent denials
/// carry paths).
pub(crate) const MAX_STATUS_REPLY: usize = 4 * 1024 * 1024;
/// Longest path a Unix socket address can hold (sun_path less its NUL).
pub(crate) const MAX_SOCKET_PATH: usize = 107;

/// Where the agent listens and writes its pid (`None`: not at all).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The control socket.
    pub socket: Option<PathBuf>,
    /// The pid file.
    pub pid_file: Option<PathBuf>,
}

/// The result of a reload, as the control socket reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new policy is in force.
    Applied {
        /// Its generation.
        generation: u64,
        /// Its warnings (those `sigward check` prints, trusted keys that
        /// expire included).
        warnings: Vec<String>,
    },
    /// The new policy was refused.
    Refused {
        /// `FILE:LINE: message`.
        error: String,
        /// The generation still in force.
        generation: u64,
    },
}

/// What the agent does for control clients.
pub trait Handler: Send + Sync + 'static {
    /// The generation of the policy in force.
    fn generation(&self) -> u64;
    /// Reloads the policy exactly as SIGHUP does, and reports the result.
    fn reload(&self) -> ReloadOutcome;
    /// Counters and state.
    fn status(&self) -> Status;
    /// Evaluates files with the policy in force (see
    /// [`crate::scan::evaluate_paths`]).
    fn evaluate(&self, request: &EvaluateRequest) -> EvaluateReply;
}

/// Whether `pid` is a running process named `sigward`.
pub(crate) fn is_sigward(pid: u32) -> bool {
    pid != 0
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim_end() == "sigward")
}

/// The requests the agent serves: the first word of the request line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Is the agent there, and which generation is in force?
    Ping,
    /// Reload the policy, as SIGHUP does, and say how it went.
    Reload,
    /// Counters and state.
    Status,
    /// Evaluate files with the policy in force.
    Evaluate(EvaluateRequest),
}

/// Why a request line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// Nothing but white space.
    #[error("empty request; known requests: ping, reload, status, evaluate")]
    Empty,
    /// A known request with words after it.
    #[error("{0} takes no arguments")]
    Arguments(&'static str),
    /// An unknown first word (at most 64 characters of it).
    #[error("unknown request {0:?}; known requests: ping, reload, status, evaluate")]
    Unknown(String),
    /// An `evaluate` request that cannot be served.
    #[error(transparent)]
    Evaluate(#[from] EvaluateError),
}

impl Request {
    /// The word that names the request on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Reload => "reload",
            Request::Status => "status",
            Request::Evaluate(_) => "evaluate",
        }
    }

    /// Parses one request line (without its newline).
    pub fn parse(line: &str) -> Result<Request, RequestError> {
        let mut words = line.split_whitespace();
        let command = words.next().ok_or(RequestError::Empty)?;
        if command == "evaluate" {
            let rest = line
                .trim_start()
                .get("evaluate".len()..)
                .unwrap_or_default();
            let rest = if rest.trim().is_empty() { "{}" } else { rest };
            return Ok(Request::Evaluate(EvaluateRequest::parse(rest)?));
        }
        let request = match command {
            "ping" => Request::Ping,
            "reload" => Request::Reload,
            "status" => Request::Status,
            other => return Err(RequestError::Unknown(truncate(other, 64).to_owned())),
        };
        match words.next() {
            Some(_) => Err(RequestError::Arguments(request.word())),
            None => Ok(request),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

// The answers' fields are declared in alphabetical order: that is the order
// in which they have always been written on the wire.

/// The answer to `ping`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReply {
    /// The generation in force.
    pub generation: u64,
    /// Always true.
    pub ok: bool,
    /// The agent's pid.
    pub pid: u32,
}

/// The answer to `reload`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReply {
    /// `FILE:LINE: message` when the new policy was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The generation in force now: the new one, or the one that stays.
    pub generation: u64,
    /// Whether the new policy is in force.
    pub ok: bool,
    /// The new policy's warnings, when it was applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl From<ReloadOutcome> for ReloadReply {
    fn from(outcome: ReloadOutcome) -> ReloadReply {
        match outcome {
            ReloadOutcome::Applied {
                generation,
                warnings,
            } => ReloadReply {
                error: None,
                generation,
                ok: true,
                warnings,
            },
            ReloadOutcome::Refused { error, generation } => ReloadReply {
                error: Some(error),
                generation,
                ok: false,
                warnings: Vec::new(),
            },
        }
    }
}

/// The answer to `status`: the [`Status`]'s members and `ok`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    /// Always true.
    pub ok: bool,
    /// Counters and state.
    #[serde(flatten)]
    pub status: Status,
}

/// The answer to a request that was not served (no `generation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// What was wrong.
    pub error: String,
    /// Always false.
    pub ok: bool,
}

impl Refusal {
    /// A refusal saying `error`.
    pub fn new(error: impl Into<String>) -> Refusal {
        Refusal {
            error: error.into(),
            ok: false,
        }
    }
}

/// Any answer, as a client reads it before knowing which it is: every
/// field optional.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AnyReply {
    /// Whether the request was served (and, for `reload`, applied).
    pub ok: Option<bool>,
    /// The generation in force, when the request was served.
    pub generation: Option<u64>,
    /// What went wrong.
    pub error: Option<String>,
    /// Warnings of a policy that was applied.
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::server::{dispatch, read_request};
    use super::*;
    use serde_json::json;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    struct Fake;

    impl Handler for Fake {
        fn generation(&self) -> u64 {
            7
        }
        fn reload(&self) -> ReloadOutcome {
            ReloadOutcome::Refused {
                error: "p.toml:3: bad".into(),
                generation: 7,
            }
        }
        fn status(&self) -> Status {
            crate::status::tests::sample()
        }
        fn evaluate(&self, request: &EvaluateRequest) -> EvaluateReply {
            EvaluateReply {
                files: Vec::new(),
                generation: 7,
                ok: true,
                policy: "/p.toml".into(),
                trees: request.paths.clone(),
            }
        }
    }

    #[test]
    fn dispatch_on_the_first_word() {
        let ping = dispatch("ping", 1, &Fake);
        assert_eq!(ping["ok"], true);
        assert_eq!(ping["generation"], 7);
        assert_eq!(ping["pid"], std::process::id());
        let reload = dispatch("reload", 1, &Fake);
        assert_eq!(
            reload,
            json!({"ok": false, "error": "p.toml:3: bad", "generation": 7})
        );
        let status = dispatch("status", 1, &Fake);
        assert_eq!(status["ok"], true);
        assert_eq!(status["events"], 4);
        let back: StatusReply = serde_json::from_value(status).unwrap();
        assert_eq!(back.status, Fake.status());
        let evaluate = dispatch(r#"evaluate {"paths":["/t"]}"#, 1, &Fake);
        assert_eq!(
            evaluate,
            json!({"files": [], "generation": 7, "ok": true, "policy": "/p.toml", "trees": ["/t"]})
        );
        for bad in [
            "",
            "   ",
            "status now",
            "reload now",
            "RELOAD",
            "STATUS",
            "evaluate [",
            r#"evaluate {"paths":["relative"]}"#,
        ] {
            let a = dispatch(bad, 1, &Fake);
            assert_eq!(a["ok"], false, "{bad:?}");
            assert!(a.get("generation").is_none(), "{bad:?}");
        }
    }

    #[test]
    fn requests_are_bounded() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"ping\r\n").unwrap();
        assert_eq!(read_request(&mut b).unwrap().as_deref(), Some("ping"));

        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(&vec![b'x'; MAX_REQUEST + 10]).unwrap();
        assert!(read_request(&mut b).unwrap_err().contains("too large"));

        let (a, mut b) = UnixStream::pair().unwrap();
        drop(a);
        assert_eq!(read_request(&mut b).unwrap(), None);

        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"reload").unwrap();
        drop(a);
        assert_eq!(read_request(&mut b).unwrap().as_deref(), Some("reload"));
    }

    #[test]
    fn optional_paths() {
        use std::str::FromStr;
        assert_eq!(crate::cli::OptionalPath::from_str("none").unwrap().0, None);
        assert_eq!(
            crate::cli::OptionalPath::from_str("/x").unwrap().0,
            Some(PathBuf::from("/x"))
        );
        assert!(crate::cli::OptionalPath::from_str("").is_err());
    }

    /// The answers are written exactly as before they had types: fields in
    /// alphabetical order, `error` only when there is one.
    #[test]
    fn answers_on_the_wire() {
        let ping = PingReply {
            generation: 3,
            ok: true,
            pid: 42,
        };
        assert_eq!(
            serde_json::to_string(&ping).unwrap(),
            r#"{"generation":3,"ok":true,"pid":42}"#
        );
        let applied = ReloadReply::from(ReloadOutcome::Applied {
            generation: 4,
            warnings: Vec::new(),
        });
        assert_eq!(
            serde_json::to_string(&applied).unwrap(),
            r#"{"generation":4,"ok":true}"#
        );
        let warned = ReloadReply::from(ReloadOutcome::Applied {
            generation: 5,
            warnings: vec!["key x expires".into()],
        });
        assert_eq!(
            serde_json::to_string(&warned).unwrap(),
            r#"{"generation":5,"ok":true,"warnings":["key x expires"]}"#
        );
        let refused = ReloadReply::from(ReloadOutcome::Refused {
            error: "p.toml:3: bad".into(),
            generation: 4,
        });
        assert_eq!(
            serde_json::to_string(&refused).unwrap(),
            r#"{"error":"p.toml:3: bad","generation":4,"ok":false}"#
        );
        assert_eq!(
            serde_json::to_string(&Refusal::new("no")).unwrap(),
            r#"{"error":"no","ok":false}"#
        );
        let any: AnyReply = serde_json::from_str(r#"{"ok":false,"error":"x"}"#).unwrap();
        assert_eq!(
            (any.ok, any.generation, any.error.as_deref()),
            (Some(false), None, Some("x"))
        );
    }

    #[test]
    fn requests_parse_by_their_first_word() {
        assert_eq!(Request::parse(" ping "), Ok(Request::Ping));
        assert_eq!(Request::parse("reload"), Ok(Request::Reload));
        assert_eq!(Request::parse("status"), Ok(Request::Status));
        assert_eq!(
            Request::parse("evaluate"),
            Ok(Request::Evaluate(EvaluateRequest::default()))
        );
        assert!(Request::parse("evaluate {\"paths\":[]} x").is_err());
        assert_eq!(Request::parse("  "), Err(RequestError::Empty));
        assert_eq!(
            Request::parse("status now").unwrap_err().to_string(),
            "status takes no arguments"
        );
        let long = "x".repeat(100);
        assert_eq!(
            Request::parse(&long).unwrap_err(),
            RequestError::Unknown("x".repeat(64))
        );
    }
}
