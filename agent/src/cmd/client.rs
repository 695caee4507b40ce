//! The control socket's clients: `sigward reload` and `sigward status`.

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::CmdError;
use crate::cli::{ReloadArgs, StatusArgs};
use crate::exit::Exit;
use crate::ids;

use crate::control::{
    is_sigward, AnyReply, StatusReply, IO_TIMEOUT, MAX_REPLY, MAX_STATUS_REPLY, PID_FILE_LIMIT,
};
use crate::status::Health;

/// Why `sigward reload` or `sigward status` reached no agent, or got no
/// usable answer (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The socket exists but cannot be connected to.
    #[error("cannot connect to {}: {source}{}", socket.display(), connect_hint(source))]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `status`: nothing answers on the socket.
    #[error("no agent answers on {}: {source}{}", socket.display(), status_hint(source))]
    NoAnswer {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `reload`: no socket answers and no pid file is given.
    #[error("no agent could be reached: {socket_note}, and no pid file")]
    NoPidFile {
        /// Why the socket was not used.
        socket_note: String,
    },
    /// `reload`: no socket answers and the pid file does not exist.
    #[error("no agent is running: {socket_note}, and no pid file at {}", pid_file.display())]
    NotRunning {
        /// Why the socket was not used.
        socket_note: String,
        /// The pid file.
        pid_file: PathBuf,
    },
    /// `reload`: the pid file cannot be read.
    #[error("{socket_note}; cannot read pid file {}: {source}", pid_file.display())]
    PidFile {
        /// Why the socket was not used.
        socket_note: String,
        /// The pid file.
        pid_file: PathBuf,
        /// Why.
        #[source]
        source: crate::files::bounded::ReadError,
    },
    /// `reload`: the pid file holds no process id.
    #[error("pid file {} does not hold a process id", pid_file.display())]
    BadPidFile {
        /// The pid file.
        pid_file: PathBuf,
    },
    /// `reload`: the pid file names a process that is not sigward.
    #[error(
        "{socket_note}, and pid {pid} (from {}) is not a running sigward (stale pid file?)",
        pid_file.display()
    )]
    NotSigward {
        /// Why the socket was not used.
        socket_note: String,
        /// The pid.
        pid: u32,
        /// The pid file.
        pid_file: PathBuf,
    },
    /// `reload`: SIGHUP cannot be sent.
    #[error("cannot signal pid {pid}: {source}")]
    Signal {
        /// The pid.
        pid: u32,
        /// Why.
        #[source]
        source: nix::errno::Errno,
    },
    /// The request cannot be sent.
    #[error("cannot send the request to {}: {source}", socket.display())]
    Send {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `reload`: no answer in time (the reload may still complete).
    #[error(
        "no answer from {} within {seconds} s; the reload may still complete: see journalctl \
         -t sigward",
        socket.display()
    )]
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// The timeout.
        seconds: u64,
    },
    /// The answer cannot be read.
    #[error("no answer from {}: {source}", socket.display())]
    Receive {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The answer is not what the protocol says.
    #[error("unexpected answer from {}: {line:?}", socket.display())]
    Unexpected {
        /// The socket.
        socket: PathBuf,
        /// The answer.
        line: String,
    },
    /// The agent refused the request itself (not a reload it refused).
    #[error("the agent at {} refused the request: {error}", socket.display())]
    Refused {
        /// The socket.
        socket: PathBuf,
        /// What it said.
        error: String,
    },
    /// `status`: the answer is a status of another version.
    #[error(
        "the agent at {} answered a status this sigward {} cannot read ({source}); is the \
         running agent another version? Restart it after an upgrade",
        socket.display(),
        env!("CARGO_PKG_VERSION")
    )]
    Version {
        /// The socket.
        socket: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: serde_json::Error,
    },
}

fn connect_hint(e: &io::Error) -> &'static str {
    if e.kind() == ErrorKind::PermissionDenied {
        " (sigward reload needs root)"
    } else {
        ""
    }
}

fn status_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::PermissionDenied => " (sigward status needs root)",
        ErrorKind::NotFound => " (is the agent running?)",
        _ if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            " (nothing listens there: the agent is not running)"
        }
        _ => "",
    }
}

/// `sigward reload`: over the control socket, else SIGHUP to the pid in
/// the pid file. A reload the agent refused is an answer (exit 1).
pub fn reload(args: &ReloadArgs) -> Result<Exit, CmdError> {
    let timeout = Duration::from_secs(args.timeout);
    let mut socket_note = String::from("no control socket given");
    if let Some(socket) = &args.control_socket.0 {
        match UnixStream::connect(socket) {
            Ok(stream) => return Ok(reload_over_socket(stream, socket, timeout)?),
            Err(e)
                if e.kind() == ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ECONNREFUSED) =>
            {
                socket_note = if e.kind() == ErrorKind::NotFound {
                    format!("no control socket at {}", socket.display())
                } else {
                    format!("nothing listens on {}", socket.display())
                };
            }
            Err(source) => {
                return Err(ClientError::Connect {
                    socket: socket.clone(),
                    source,
                }
                .into())
            }
        }
    }
    let Some(pid_file) = &args.pid_file.0 else {
        return Err(ClientError::NoPidFile { socket_note }.into());
    };
    let text = match crate::files::bounded::read_text(pid_file, PID_FILE_LIMIT) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            return Err(ClientError::NotRunning {
                socket_note,
                pid_file: pid_file.clone(),
            }
            .into())
        }
        Err(source) => {
            return Err(ClientError::PidFile {
                socket_note,
                pid_file: pid_file.clone(),
                source,
            }
            .into())
        }
    };
    let pid = match text.trim().parse::<u32>() {
        Ok(p) if p > 1 && i32::try_from(p).is_ok() => p,
        _ => {
            return Err(ClientError::BadPidFile {
                pid_file: pid_file.clone(),
            }
            .into())
        }
    };
    if !is_sigward(pid) {
        return Err(ClientError::NotSigward {
            socket_note,
            pid,
            pid_file: pid_file.clone(),
        }
        .into());
    }
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or_default());
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGHUP)
        .map_err(|source| ClientError::Signal { pid, source })?;
    println!(
        "sent SIGHUP to sigward (pid {pid}, from {}); {socket_note}, so the result is only in \
         the journal: journalctl -t sigward MESSAGE_ID={} + MESSAGE_ID={}",
        pid_file.display(),
        ids::RELOAD_OK,
        ids::RELOAD_FAILED
    );
    Ok(Exit::Ok)
}

fn reload_over_socket(
    mut stream: UnixStream,
    socket: &Path,
    timeout: Duration,
) -> Result<Exit, ClientError> {
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .and_then(|()| stream.write_all(b"reload\n"));
    sent.map_err(|source| ClientError::Send {
        socket: socket.to_path_buf(),
        source,
    })?;
    let line = read_answer(&mut stream, MAX_REPLY).map_err(|source| {
        if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            ClientError::Timeout {
                socket: socket.to_path_buf(),
                seconds: timeout.as_secs(),
            }
        } else {
            ClientError::Receive {
                socket: socket.to_path_buf(),
                source,
            }
        }
    })?;
    let unexpected = |line: String| ClientError::Unexpected {
        socket: socket.to_path_buf(),
        line,
    };
    let Ok(reply) = serde_json::from_str::<AnyReply>(&line) else {
        return Err(unexpected(line));
    };
    let AnyReply {
        ok,
        generation,
        error,
        warnings,
    } = reply;
    let error = error.unwrap_or_else(|| "(no error message)".into());
    match (ok, generation) {
        (Some(true), Some(g)) => {
            for w in &warnings {
                eprintln!("sigward reload: warning: {w}");
            }
            println!("reloaded: generation {g}");
            Ok(Exit::Ok)
        }
        (Some(false), Some(g)) => {
            eprintln!("sigward reload: refused: {error}");
            eprintln!("generation {g} stays in force");
            Ok(Exit::Failed)
        }
        (Some(false), None) => Err(ClientError::Refused {
            socket: socket.to_path_buf(),
            error,
        }),
        _ => Err(unexpected(line)),
    }
}

/// `sigward status`: exit 0 when the agent enforces the policy on disk, 1
/// when it is degraded.
pub fn status(args: &StatusArgs) -> Result<Exit, CmdError> {
    Ok(status_over_socket(args)?)
}

fn status_over_socket(args: &StatusArgs) -> Result<Exit, ClientError> {
    let socket = args.control_socket.clone();
    let mut stream = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(source) => return Err(ClientError::NoAnswer { socket, source }),
    };
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.write_all(b"status\n"));
    if let Err(source) = sent {
        return Err(ClientError::Send { socket, source });
    }
    let line = match read_answer(&mut stream, MAX_STATUS_REPLY) {
        Ok(line) => line,
        Err(source) => return Err(ClientError::Receive { socket, source }),
    };
    let answer = match serde_json::from_str::<serde_json::Value>(&line) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => return Err(ClientError::Unexpected { socket, line }),
    };
    if answer.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
        let error = answer
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("(no error message)")
            .to_string();
        return Err(ClientError::Refused { socket, error });
    }
    let status = match serde_json::from_value::<StatusReply>(answer) {
        Ok(reply) => reply.status,
        Err(source) => return Err(ClientError::Version { socket, source }),
    };
    if args.json {
        // The answer as the agent sent it, `ok` included.
        println!("{line}");
    } else if args.prometheus {
        print!("{}", crate::status::prometheus(&status));
    } else {
        print!("{}", crate::status::human(&status));
    }
    Ok(match status.state {
        Health::Degraded => Exit::Degraded,
        Health::Ok => Exit::Ok,
    })
}

/// Reads one answer line (at most `max` bytes). A connection reset after a
/// complete line does not lose it.
pub(super) fn read_answer(stream: &mut UnixStream, max: usize) -> io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(pos);
            break;
        }
        if buf.len() > max {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
