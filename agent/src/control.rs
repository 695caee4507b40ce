//! The control socket of the running agent, and its clients (`sigward
//! reload`, `sigward status`).
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
//! | `status` | `{"ok":true,...}`: counters and state, see [`crate::metrics::Metrics::status`] |
//!
//! Any other request, a request from a peer that is not uid 0 (checked with
//! `SO_PEERCRED`), an oversized request and a malformed one get
//! `{"ok":false,"error":"..."}` without a `generation`.
//!
//! The socket is served by its own thread. It never touches permission
//! events: a slow or silent client can only delay other control clients
//! (each connection has a deadline of [`IO_TIMEOUT`]), never an open.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use serde_json::json;

use crate::cli::{ReloadArgs, StatusArgs};
use crate::ids;

/// How long one connection may take to send its request (and to accept the
/// answer).
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request line accepted, newline included.
pub const MAX_REQUEST: usize = 1024;
/// The longest answer `sigward reload` reads.
const MAX_REPLY: usize = 64 * 1024;
/// A pid file holds one number; anything longer is not ours.
const PID_FILE_LIMIT: u64 = 4096;
/// The longest answer `sigward status` reads (trees and recent denials
/// carry paths).
const MAX_STATUS_REPLY: usize = 4 * 1024 * 1024;
/// Longest path a Unix socket address can hold (sun_path less its NUL).
const MAX_SOCKET_PATH: usize = 107;

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
    /// Counters and state, as one JSON object (without `ok`).
    fn status(&self) -> serde_json::Value;
}

// ---------------------------------------------------------------- server

/// The socket and pid file of a running agent. Both are removed when this
/// is dropped, if they are still the ones this agent created.
pub struct Endpoint {
    listener: Option<UnixListener>,
    socket: Option<(PathBuf, (u64, u64))>,
    pid_file: Option<(PathBuf, (u64, u64))>,
}

impl Endpoint {
    /// Claims the control socket and writes the pid file. Refuses when
    /// another agent answers on the socket or owns the pid file. Call this
    /// before any thread starts: it changes the umask for a moment.
    pub fn open(options: &Options) -> Result<Endpoint, String> {
        let mut endpoint = Endpoint {
            listener: None,
            socket: None,
            pid_file: None,
        };
        if let Some(path) = &options.socket {
            check_socket_free(path)?;
        }
        if let Some(path) = &options.pid_file {
            check_pid_file_free(path)?;
        }
        if let Some(path) = &options.socket {
            let (listener, id) = bind(path)?;
            endpoint.listener = Some(listener);
            endpoint.socket = Some((path.clone(), id));
        }
        if let Some(path) = &options.pid_file {
            let id = write_pid_file(path)?;
            endpoint.pid_file = Some((path.clone(), id));
        }
        Ok(endpoint)
    }

    /// The socket path, when there is one.
    pub fn socket_path(&self) -> Option<&Path> {
        self.socket.as_ref().map(|(p, _)| p.as_path())
    }

    /// Starts serving the socket on its own thread (nothing to do without a
    /// socket).
    pub fn serve(&mut self, handler: Arc<dyn Handler>) -> io::Result<Option<Server>> {
        let Some(listener) = self.listener.take() else {
            return Ok(None);
        };
        listener.set_nonblocking(true)?;
        let stop = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(io::Error::from)?;
        let stop = Arc::new(stop);
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("sigward-control".into())
                .spawn(move || serve_loop(&listener, &stop, handler.as_ref()))?
        };
        Ok(Some(Server {
            stop,
            thread: Some(thread),
        }))
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.listener = None;
        // Only our own files (another agent may have replaced them), and
        // recognised by stat alone: this may run while marks are still in
        // place and nothing answers the agent's own opens any more.
        for (path, id) in [self.socket.take(), self.pid_file.take()]
            .into_iter()
            .flatten()
        {
            if fs::symlink_metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == id) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// The thread serving the control socket. Stopped (and joined) by
/// [`Server::shutdown`] or on drop.
pub struct Server {
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Stops accepting, lets a request being served finish, and joins the
    /// thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn check_socket_free(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(format!(
            "control socket {shown}: the path is longer than {MAX_SOCKET_PATH} bytes, which a \
             Unix socket address cannot hold"
        ));
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("control socket {shown}: {e}")),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "control socket {shown} exists and is not a socket; refusing to replace it"
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(format!(
            "control socket {shown}: another sigward agent is already running and listening \
             there; stop it first, or give this one another --control-socket"
        )),
        // Nobody listens: a stale socket of an agent that did not exit
        // cleanly. It is replaced by bind().
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Ok(()),
        Err(e) => Err(format!("control socket {shown}: cannot check it: {e}")),
    }
}

fn check_pid_file_free(path: &Path) -> Result<(), String> {
    let Ok(text) = crate::files::bounded::read_text(path, PID_FILE_LIMIT) else {
        return Ok(());
    };
    match text.trim().parse::<u32>() {
        Ok(pid) if pid != std::process::id() && is_sigward(pid) => Err(format!(
            "pid file {}: another sigward agent (pid {pid}) is running; stop it first, or give \
             this one another --pid-file",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// Creates a missing parent directory with mode 0700.
fn make_parent(path: &Path, what: &str) -> Result<(), String> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| {
            format!(
                "{what} {}: cannot create {}: {e}",
                path.display(),
                parent.display()
            )
        })
}

fn bind(path: &Path) -> Result<(UnixListener, (u64, u64)), String> {
    let shown = path.display();
    make_parent(path, "control socket")?;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "control socket {shown}: cannot remove the stale socket: {e}"
            ))
        }
    }
    // The socket is created 0600 from the start: no window in which another
    // user could connect. (Peers are also checked with SO_PEERCRED.)
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| format!("control socket {shown}: cannot listen: {e}"))?;
    let meta = fs::symlink_metadata(path).map_err(|e| format!("control socket {shown}: {e}"))?;
    let id = (meta.dev(), meta.ino());
    if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
        let _ = fs::remove_file(path);
        return Err(format!("control socket {shown}: chmod 0600: {e}"));
    }
    Ok((listener, id))
}

/// Writes the pid file atomically; returns its (device, inode).
fn write_pid_file(path: &Path) -> Result<(u64, u64), String> {
    let shown = path.display();
    make_parent(path, "pid file")?;
    crate::files::AtomicWrite::new(0o644)
        .write(path, format!("{}\n", std::process::id()).as_bytes())
        .map_err(|e| format!("pid file {shown}: cannot write it: {e}"))
}

fn serve_loop(listener: &UnixListener, stop: &EventFd, handler: &dyn Handler) {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        let stopping = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if stopping {
            return;
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => serve_one(stream, handler),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!(
                        message_id = ids::CONTROL_REFUSED,
                        "control socket: accept failed: {e}"
                    );
                    // Do not spin on a persistent error (EMFILE, ...).
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
    }
}

/// Serves one connection: one request, one answer. Errors on the
/// connection only end it.
fn serve_one(mut stream: UnixStream, handler: &dyn Handler) {
    // Accepted sockets do not inherit O_NONBLOCK on Linux, but be explicit.
    if stream.set_nonblocking(false).is_err() || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return;
    }
    let creds = match getsockopt(&stream, PeerCredentials) {
        Ok(c) => c,
        Err(e) => {
            reply(
                &mut stream,
                &refusal(&format!("cannot identify the peer: {e}")),
            );
            return;
        }
    };
    if creds.uid() != 0 {
        tracing::warn!(
            message_id = ids::CONTROL_REFUSED,
            "control socket: refused a connection from uid {} (pid {}): root only",
            creds.uid(),
            creds.pid()
        );
        reply(
            &mut stream,
            &refusal(&format!(
                "permission denied: the control socket serves root only (peer uid {})",
                creds.uid()
            )),
        );
        return;
    }
    let line = match read_request(&mut stream) {
        Ok(Some(line)) => line,
        Ok(None) => return, // connected and closed without a request
        Err(e) => {
            reply(&mut stream, &refusal(&e));
            return;
        }
    };
    let answer = dispatch(&line, creds.pid(), handler);
    reply(&mut stream, &answer);
}

/// Reads one request line (without its newline), within [`IO_TIMEOUT`] and
/// [`MAX_REQUEST`]. `None`: the peer closed without sending anything.
fn read_request(stream: &mut UnixStream) -> Result<Option<String>, String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(pos);
            break;
        }
        if buf.len() >= MAX_REQUEST {
            return Err(format!(
                "request too large (the limit is {MAX_REQUEST} bytes)"
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no complete request line within {IO_TIMEOUT:?}"));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("cannot read the request: {e}"))?;
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => break, // a last line without its newline
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("no complete request line within {IO_TIMEOUT:?}"));
            }
            Err(e) => return Err(format!("cannot read the request: {e}")),
        }
    }
    if buf.len() > MAX_REQUEST {
        return Err(format!(
            "request too large (the limit is {MAX_REQUEST} bytes)"
        ));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| "the request is not UTF-8".to_string())
}

/// Answers one request line.
fn dispatch(line: &str, peer_pid: i32, handler: &dyn Handler) -> serde_json::Value {
    let mut words = line.split_whitespace();
    let Some(command) = words.next() else {
        return refusal("empty request; known requests: ping, reload, status");
    };
    let extra = words.next().is_some();
    match command {
        "ping" | "reload" | "status" if extra => refusal(&format!("{command} takes no arguments")),
        "status" => {
            let mut answer = handler.status();
            match answer.as_object_mut() {
                Some(fields) => {
                    fields.insert("ok".into(), json!(true));
                    answer
                }
                None => refusal("the status could not be built"),
            }
        }
        "ping" => json!({
            "ok": true,
            "generation": handler.generation(),
            "pid": std::process::id(),
        }),
        "reload" => {
            tracing::info!(
                message_id = ids::CONTROL_RELOAD,
                "reload requested over the control socket by pid {peer_pid}"
            );
            match handler.reload() {
                ReloadOutcome::Applied { generation } => {
                    json!({ "ok": true, "generation": generation })
                }
                ReloadOutcome::Refused { error, generation } => {
                    json!({ "ok": false, "error": error, "generation": generation })
                }
            }
        }
        other => refusal(&format!(
            "unknown request {:?}; known requests: ping, reload, status",
            truncate(other, 64)
        )),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

fn refusal(error: &str) -> serde_json::Value {
    json!({ "ok": false, "error": error })
}

/// Writes the answer and closes the connection gracefully.
fn reply(stream: &mut UnixStream, answer: &serde_json::Value) {
    let mut line = answer.to_string();
    line.push('\n');
    // A client that went away or stopped reading is its own problem.
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Closing a Unix socket with unread input resets the connection, and
    // the client may then see ECONNRESET instead of the answer (e.g. after
    // an oversized or refused request). Discard what is left, briefly.
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 256 * 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// Reads one answer line (at most `max` bytes). A connection reset after a
/// complete line does not lose it.
fn read_answer(stream: &mut UnixStream, max: usize) -> io::Result<String> {
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

// ---------------------------------------------------------------- client

/// Whether `pid` is a running process named `sigward`.
fn is_sigward(pid: u32) -> bool {
    pid != 0
        && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "sigward")
}

/// Exit status: no agent could be reached (or usage error).
const UNREACHABLE: u8 = 2;
/// `sigward status`: the agent answers, but is degraded (the policy on disk
/// is not the policy in force). 0, 1, 2 as Nagios's OK, WARNING, CRITICAL.
const DEGRADED: u8 = 1;

/// `sigward reload`.
pub fn reload_command(args: &ReloadArgs) -> ExitCode {
    let timeout = Duration::from_secs(args.timeout);
    let mut socket_note = String::from("no control socket given");
    if let Some(socket) = &args.control_socket.0 {
        match UnixStream::connect(socket) {
            Ok(stream) => return reload_over_socket(stream, socket, timeout),
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
            Err(e) => {
                let hint = if e.kind() == ErrorKind::PermissionDenied {
                    " (sigward reload needs root)"
                } else {
                    ""
                };
                eprintln!(
                    "sigward reload: cannot connect to {}: {e}{hint}",
                    socket.display()
                );
                return ExitCode::from(UNREACHABLE);
            }
        }
    }
    let Some(pid_file) = &args.pid_file.0 else {
        eprintln!("sigward reload: no agent could be reached: {socket_note}, and no pid file");
        return ExitCode::from(UNREACHABLE);
    };
    let text = match crate::files::bounded::read_text(pid_file, PID_FILE_LIMIT) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            eprintln!(
                "sigward reload: no agent is running: {socket_note}, and no pid file at {}",
                pid_file.display()
            );
            return ExitCode::from(UNREACHABLE);
        }
        Err(e) => {
            eprintln!(
                "sigward reload: {socket_note}; cannot read pid file {}: {e}",
                pid_file.display()
            );
            return ExitCode::from(UNREACHABLE);
        }
    };
    let pid = match text.trim().parse::<u32>() {
        Ok(p) if p > 1 && i32::try_from(p).is_ok() => p,
        _ => {
            eprintln!(
                "sigward reload: pid file {} does not hold a process id",
                pid_file.display()
            );
            return ExitCode::from(UNREACHABLE);
        }
    };
    if !is_sigward(pid) {
        eprintln!(
            "sigward reload: {socket_note}, and pid {pid} (from {}) is not a running sigward \
             (stale pid file?)",
            pid_file.display()
        );
        return ExitCode::from(UNREACHABLE);
    }
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or_default());
    if let Err(e) = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGHUP) {
        eprintln!("sigward reload: cannot signal pid {pid}: {e}");
        return ExitCode::from(UNREACHABLE);
    }
    println!(
        "sent SIGHUP to sigward (pid {pid}, from {}); {socket_note}, so the result is only in \
         the journal: journalctl -t sigward MESSAGE_ID={} + MESSAGE_ID={}",
        pid_file.display(),
        ids::RELOAD_OK,
        ids::RELOAD_FAILED
    );
    ExitCode::SUCCESS
}

fn reload_over_socket(mut stream: UnixStream, socket: &Path, timeout: Duration) -> ExitCode {
    let shown = socket.display();
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .and_then(|()| stream.write_all(b"reload\n"));
    if let Err(e) = sent {
        eprintln!("sigward reload: cannot send the request to {shown}: {e}");
        return ExitCode::from(UNREACHABLE);
    }
    let line = match read_answer(&mut stream, MAX_REPLY) {
        Ok(line) => line,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            eprintln!(
                "sigward reload: no answer from {shown} within {} s; the reload may still \
                 complete: see journalctl -t sigward",
                timeout.as_secs()
            );
            return ExitCode::from(UNREACHABLE);
        }
        Err(e) => {
            eprintln!("sigward reload: cannot read the answer from {shown}: {e}");
            return ExitCode::from(UNREACHABLE);
        }
    };
    let Ok(serde_json::Value::Object(reply)) = serde_json::from_str::<serde_json::Value>(&line)
    else {
        eprintln!("sigward reload: unexpected answer from {shown}: {line:?}");
        return ExitCode::from(UNREACHABLE);
    };
    let ok = reply.get("ok").and_then(serde_json::Value::as_bool);
    let generation = reply.get("generation").and_then(serde_json::Value::as_u64);
    let error = reply
        .get("error")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("(no error message)");
    match (ok, generation) {
        (Some(true), Some(g)) => {
            println!("reloaded: generation {g}");
            ExitCode::SUCCESS
        }
        (Some(false), Some(g)) => {
            eprintln!("sigward reload: refused: {error}");
            eprintln!("generation {g} stays in force");
            ExitCode::FAILURE
        }
        (Some(false), None) => {
            eprintln!("sigward reload: the agent at {shown} refused the request: {error}");
            ExitCode::from(UNREACHABLE)
        }
        _ => {
            eprintln!("sigward reload: unexpected answer from {shown}: {line:?}");
            ExitCode::from(UNREACHABLE)
        }
    }
}

/// `sigward status`.
pub fn status_command(args: &StatusArgs) -> ExitCode {
    let socket = &args.control_socket;
    let shown = socket.display();
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            let hint = match e.kind() {
                ErrorKind::PermissionDenied => " (sigward status needs root)",
                ErrorKind::NotFound => " (is the agent running?)",
                _ if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    " (nothing listens there: the agent is not running)"
                }
                _ => "",
            };
            eprintln!("sigward status: no agent answers on {shown}: {e}{hint}");
            return ExitCode::from(UNREACHABLE);
        }
    };
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.write_all(b"status\n"));
    if let Err(e) = sent {
        eprintln!("sigward status: cannot send the request to {shown}: {e}");
        return ExitCode::from(UNREACHABLE);
    }
    let line = match read_answer(&mut stream, MAX_STATUS_REPLY) {
        Ok(line) => line,
        Err(e) => {
            eprintln!("sigward status: no answer from {shown}: {e}");
            return ExitCode::from(UNREACHABLE);
        }
    };
    let answer = match serde_json::from_str::<serde_json::Value>(&line) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            eprintln!("sigward status: unexpected answer from {shown}: {line:?}");
            return ExitCode::from(UNREACHABLE);
        }
    };
    if answer.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
        let error = answer
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("(no error message)");
        eprintln!("sigward status: the agent at {shown} refused the request: {error}");
        return ExitCode::from(UNREACHABLE);
    }
    if args.json {
        println!("{answer}");
    } else if args.prometheus {
        print!("{}", crate::metrics::prometheus(&answer));
    } else {
        print!("{}", crate::metrics::human(&answer));
    }
    if answer.get("state").and_then(serde_json::Value::as_str) == Some("degraded") {
        ExitCode::from(DEGRADED)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

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
        fn status(&self) -> serde_json::Value {
            json!({ "events": 3 })
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
        assert_eq!(status, json!({"ok": true, "events": 3}));
        for bad in ["", "   ", "status now", "reload now", "RELOAD", "STATUS"] {
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
}
