//! The control socket's server side: the socket and pid file
//! ([`Endpoint`]), the thread that serves them ([`Server`]), and one
//! request's handling (`serve_one`, `dispatch`).

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use crate::ids;

use super::{
    is_sigward, Handler, Options, PingReply, Refusal, ReloadReply, Request, StatusReply,
    IO_TIMEOUT, MAX_EVALUATE_REQUEST, MAX_REQUEST, MAX_SOCKET_PATH, PID_FILE_LIMIT,
};

/// Why the control socket or the pid file cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The socket path does not fit a Unix socket address.
    #[error(
        "control socket {}: the path is longer than {MAX_SOCKET_PATH} bytes, which a Unix \
         socket address cannot hold",
        .0.display()
    )]
    PathTooLong(PathBuf),
    /// Something that is not a socket has the socket's name.
    #[error("control socket {} exists and is not a socket; refusing to replace it", .0.display())]
    NotASocket(PathBuf),
    /// Another agent answers on the socket.
    #[error(
        "control socket {}: another sigward agent is already running and listening there; \
         stop it first, or give this one another --control-socket",
        .0.display()
    )]
    SocketInUse(PathBuf),
    /// Another agent's pid is in the pid file.
    #[error(
        "pid file {}: another sigward agent (pid {pid}) is running; stop it first, or give this \
         one another --pid-file",
        path.display()
    )]
    PidFileInUse {
        /// The pid file.
        path: PathBuf,
        /// The running agent it names.
        pid: u32,
    },
    /// A system call on the socket, the pid file or their directory failed.
    #[error("{what} {}: {action}{source}", path.display())]
    Io {
        /// `control socket` or `pid file`.
        what: &'static str,
        /// The socket or pid file.
        path: PathBuf,
        /// What was being done, ending in `: ` (or empty).
        action: String,
        /// The error.
        source: io::Error,
    },
}

/// An [`EndpointError::Io`] for `what` at `path`.
fn io_error(
    what: &'static str,
    path: &Path,
    action: &str,
) -> impl FnOnce(io::Error) -> EndpointError {
    let path = path.to_path_buf();
    let action = action.to_owned();
    move |source| EndpointError::Io {
        what,
        path,
        action,
        source,
    }
}

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
    pub fn open(options: &Options) -> Result<Endpoint, EndpointError> {
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

fn check_socket_free(path: &Path) -> Result<(), EndpointError> {
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(EndpointError::PathTooLong(path.to_path_buf()));
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("control socket", path, "")(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(EndpointError::NotASocket(path.to_path_buf()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(EndpointError::SocketInUse(path.to_path_buf())),
        // Nobody listens: a stale socket of an agent that did not exit
        // cleanly. It is replaced by bind().
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Ok(()),
        Err(e) => Err(io_error("control socket", path, "cannot check it: ")(e)),
    }
}

fn check_pid_file_free(path: &Path) -> Result<(), EndpointError> {
    let Ok(text) = crate::files::bounded::read_text(path, PID_FILE_LIMIT) else {
        return Ok(());
    };
    match text.trim().parse::<u32>() {
        Ok(pid) if pid != std::process::id() && is_sigward(pid) => {
            Err(EndpointError::PidFileInUse {
                path: path.to_path_buf(),
                pid,
            })
        }
        _ => Ok(()),
    }
}

/// Creates a missing parent directory with mode 0700.
fn make_parent(path: &Path, what: &'static str) -> Result<(), EndpointError> {
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
        .map_err(io_error(
            what,
            path,
            &format!("cannot create {}: ", parent.display()),
        ))
}

fn bind(path: &Path) -> Result<(UnixListener, (u64, u64)), EndpointError> {
    const WHAT: &str = "control socket";
    make_parent(path, WHAT)?;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(WHAT, path, "cannot remove the stale socket: ")(e)),
    }
    // The socket is created 0600 from the start: no window in which another
    // user could connect. (Peers are also checked with SO_PEERCRED.)
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(io_error(WHAT, path, "cannot listen: "))?;
    let meta = fs::symlink_metadata(path).map_err(io_error(WHAT, path, ""))?;
    let id = (meta.dev(), meta.ino());
    if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
        let _ = fs::remove_file(path);
        return Err(io_error(WHAT, path, "chmod 0600: ")(e));
    }
    Ok((listener, id))
}

/// Writes the pid file atomically; returns its (device, inode).
fn write_pid_file(path: &Path) -> Result<(u64, u64), EndpointError> {
    make_parent(path, "pid file")?;
    crate::files::AtomicWrite::new(0o644)
        .write(path, format!("{}\n", std::process::id()).as_bytes())
        .map_err(io_error("pid file", path, "cannot write it: "))
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

/// The longest request line accepted for what `buf` starts with:
/// [`MAX_EVALUATE_REQUEST`] for `evaluate`, else [`MAX_REQUEST`].
fn limit_for(buf: &[u8]) -> usize {
    if buf.trim_ascii_start().starts_with(b"evaluate") {
        MAX_EVALUATE_REQUEST
    } else {
        MAX_REQUEST
    }
}

/// Reads one request line (without its newline), within [`IO_TIMEOUT`] and
/// [`MAX_REQUEST`] ([`MAX_EVALUATE_REQUEST`] for `evaluate`). `None`: the
/// peer closed without sending anything.
pub(super) fn read_request(stream: &mut UnixStream) -> Result<Option<String>, String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(pos);
            break;
        }
        let limit = limit_for(&buf);
        if buf.len() >= limit {
            return Err(format!("request too large (the limit is {limit} bytes)"));
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
    let limit = limit_for(&buf);
    if buf.len() > limit {
        return Err(format!("request too large (the limit is {limit} bytes)"));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| "the request is not UTF-8".to_string())
}

/// Answers one request line, as one JSON value.
pub(super) fn dispatch(line: &str, peer_pid: i32, handler: &dyn Handler) -> serde_json::Value {
    let request = match Request::parse(line) {
        Ok(r) => r,
        Err(e) => return refusal(&e.to_string()),
    };
    let answer = match request {
        Request::Status => serde_json::to_value(StatusReply {
            ok: true,
            status: handler.status(),
        }),
        Request::Ping => serde_json::to_value(PingReply {
            generation: handler.generation(),
            ok: true,
            pid: std::process::id(),
        }),
        Request::Reload => {
            tracing::info!(
                message_id = ids::CONTROL_RELOAD,
                "reload requested over the control socket by pid {peer_pid}"
            );
            serde_json::to_value(ReloadReply::from(handler.reload()))
        }
        Request::Evaluate(request) => serde_json::to_value(handler.evaluate(&request)),
    };
    answer.unwrap_or_else(|e| refusal(&format!("the answer could not be built: {e}")))
}

fn refusal(error: &str) -> serde_json::Value {
    serde_json::to_value(Refusal::new(error))
        .unwrap_or_else(|_| serde_json::Value::String(error.to_owned()))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn endpoint_errors_name_the_file_and_the_remedy() {
        let long = PathBuf::from(format!("/run/{}", "x".repeat(MAX_SOCKET_PATH)));
        assert_eq!(
            check_socket_free(&long).unwrap_err().to_string(),
            format!(
                "control socket {}: the path is longer than {MAX_SOCKET_PATH} bytes, which a \
                 Unix socket address cannot hold",
                long.display()
            )
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("control.sock");
        fs::write(&file, b"").unwrap();
        assert_eq!(
            check_socket_free(&file).unwrap_err().to_string(),
            format!(
                "control socket {} exists and is not a socket; refusing to replace it",
                file.display()
            )
        );
        let e = io_error("pid file", &file, "cannot write it: ")(io::Error::from_raw_os_error(
            libc::EROFS,
        ));
        assert_eq!(
            e.to_string(),
            format!(
                "pid file {}: cannot write it: Read-only file system (os error 30)",
                file.display()
            )
        );
        let (listener, _) = bind(&dir.path().join("live.sock")).unwrap();
        let e = check_socket_free(&dir.path().join("live.sock")).unwrap_err();
        assert!(matches!(e, EndpointError::SocketInUse(_)), "{e}");
        drop(listener);
    }
}
