//! The control socket's clients: `sigward reload` and `sigward status`.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{ReloadArgs, StatusArgs};
use crate::exit::Exit;
use crate::ids;

use super::{AnyReply, StatusReply, IO_TIMEOUT, MAX_REPLY, MAX_STATUS_REPLY, PID_FILE_LIMIT};
use crate::status::Health;

/// Whether `pid` is a running process named `sigward`.
pub(super) fn is_sigward(pid: u32) -> bool {
    pid != 0
        && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "sigward")
}

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
                return Exit::Unreachable.into();
            }
        }
    }
    let Some(pid_file) = &args.pid_file.0 else {
        eprintln!("sigward reload: no agent could be reached: {socket_note}, and no pid file");
        return Exit::Unreachable.into();
    };
    let text = match crate::files::bounded::read_text(pid_file, PID_FILE_LIMIT) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            eprintln!(
                "sigward reload: no agent is running: {socket_note}, and no pid file at {}",
                pid_file.display()
            );
            return Exit::Unreachable.into();
        }
        Err(e) => {
            eprintln!(
                "sigward reload: {socket_note}; cannot read pid file {}: {e}",
                pid_file.display()
            );
            return Exit::Unreachable.into();
        }
    };
    let pid = match text.trim().parse::<u32>() {
        Ok(p) if p > 1 && i32::try_from(p).is_ok() => p,
        _ => {
            eprintln!(
                "sigward reload: pid file {} does not hold a process id",
                pid_file.display()
            );
            return Exit::Unreachable.into();
        }
    };
    if !is_sigward(pid) {
        eprintln!(
            "sigward reload: {socket_note}, and pid {pid} (from {}) is not a running sigward \
             (stale pid file?)",
            pid_file.display()
        );
        return Exit::Unreachable.into();
    }
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or_default());
    if let Err(e) = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGHUP) {
        eprintln!("sigward reload: cannot signal pid {pid}: {e}");
        return Exit::Unreachable.into();
    }
    println!(
        "sent SIGHUP to sigward (pid {pid}, from {}); {socket_note}, so the result is only in \
         the journal: journalctl -t sigward MESSAGE_ID={} + MESSAGE_ID={}",
        pid_file.display(),
        ids::RELOAD_OK,
        ids::RELOAD_FAILED
    );
    Exit::Ok.into()
}

fn reload_over_socket(mut stream: UnixStream, socket: &Path, timeout: Duration) -> ExitCode {
    let shown = socket.display();
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .and_then(|()| stream.write_all(b"reload\n"));
    if let Err(e) = sent {
        eprintln!("sigward reload: cannot send the request to {shown}: {e}");
        return Exit::Unreachable.into();
    }
    let line = match read_answer(&mut stream, MAX_REPLY) {
        Ok(line) => line,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            eprintln!(
                "sigward reload: no answer from {shown} within {} s; the reload may still \
                 complete: see journalctl -t sigward",
                timeout.as_secs()
            );
            return Exit::Unreachable.into();
        }
        Err(e) => {
            eprintln!("sigward reload: cannot read the answer from {shown}: {e}");
            return Exit::Unreachable.into();
        }
    };
    let Ok(reply) = serde_json::from_str::<AnyReply>(&line) else {
        eprintln!("sigward reload: unexpected answer from {shown}: {line:?}");
        return Exit::Unreachable.into();
    };
    let AnyReply {
        ok,
        generation,
        error,
    } = reply;
    let error = error.as_deref().unwrap_or("(no error message)");
    match (ok, generation) {
        (Some(true), Some(g)) => {
            println!("reloaded: generation {g}");
            Exit::Ok.into()
        }
        (Some(false), Some(g)) => {
            eprintln!("sigward reload: refused: {error}");
            eprintln!("generation {g} stays in force");
            Exit::Failed.into()
        }
        (Some(false), None) => {
            eprintln!("sigward reload: the agent at {shown} refused the request: {error}");
            Exit::Unreachable.into()
        }
        _ => {
            eprintln!("sigward reload: unexpected answer from {shown}: {line:?}");
            Exit::Unreachable.into()
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
            return Exit::Unreachable.into();
        }
    };
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.write_all(b"status\n"));
    if let Err(e) = sent {
        eprintln!("sigward status: cannot send the request to {shown}: {e}");
        return Exit::Unreachable.into();
    }
    let line = match read_answer(&mut stream, MAX_STATUS_REPLY) {
        Ok(line) => line,
        Err(e) => {
            eprintln!("sigward status: no answer from {shown}: {e}");
            return Exit::Unreachable.into();
        }
    };
    let answer = match serde_json::from_str::<serde_json::Value>(&line) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            eprintln!("sigward status: unexpected answer from {shown}: {line:?}");
            return Exit::Unreachable.into();
        }
    };
    if answer.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
        let error = answer
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("(no error message)");
        eprintln!("sigward status: the agent at {shown} refused the request: {error}");
        return Exit::Unreachable.into();
    }
    let status = match serde_json::from_value::<StatusReply>(answer) {
        Ok(reply) => reply.status,
        Err(e) => {
            eprintln!(
                "sigward status: the agent at {shown} answered a status this sigward {} cannot \
                 read ({e}); is the running agent another version? Restart it after an upgrade",
                env!("CARGO_PKG_VERSION")
            );
            return Exit::Unreachable.into();
        }
    };
    if args.json {
        // The answer as the agent sent it, `ok` included.
        println!("{line}");
    } else if args.prometheus {
        print!("{}", crate::status::prometheus(&status));
    } else {
        print!("{}", crate::status::human(&status));
    }
    match status.state {
        Health::Degraded => Exit::Degraded.into(),
        Health::Ok => Exit::Ok.into(),
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
