//! Child processes with time limits: each in its own process group, killed
//! with the group when its time is up.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::{fmt, io, thread};

/// The result of a finished helper process.
pub struct Finished {
    pub what: String,
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with a full description unless the process exited 0.
    pub fn assert_success(&self) -> &Self {
        if !self.success() {
            panic!("expected success, got:\n{self}");
        }
        self
    }
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {}) -> {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.pid, self.status, self.stdout, self.stderr
        )
    }
}

type Buf = Arc<Mutex<Vec<u8>>>;

pub(crate) fn pump<R: Read + Send + 'static>(mut from: R, into: Buf) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match from.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if let Ok(mut b) = into.lock() {
                        b.extend_from_slice(&chunk[..n]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    })
}

pub(crate) fn buf_text(b: &Buf) -> String {
    b.lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

pub(crate) fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        if pgid > 0 {
            // SAFETY: plain syscall; a negative pid addresses the process group.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// A helper process running in its own process group, with its output
/// captured. It is SIGKILLed (with its whole group) if it is dropped before
/// it has been waited for, and waiting always has a time limit.
pub struct Proc {
    child: Child,
    what: String,
    stdout: Buf,
    stderr: Buf,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns with stdout and stderr captured; panics if spawning fails.
    pub fn spawn(cmd: &mut Command) -> Proc {
        Self::try_spawn(cmd, true).unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"))
    }

    /// Spawns with stdout discarded (for loaders that stream GiBs).
    pub fn spawn_quiet(cmd: &mut Command) -> Proc {
        Self::try_spawn(cmd, false).unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"))
    }

    /// Spawns; the error of a failed spawn (e.g. a denied execve) is returned.
    pub fn try_spawn(cmd: &mut Command, capture_stdout: bool) -> io::Result<Proc> {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(if capture_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn()?;
        let stdout: Buf = Arc::default();
        let stderr: Buf = Arc::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(pump::<ChildStdout>(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(pump::<ChildStderr>(err, stderr.clone()));
        }
        Ok(Proc {
            child,
            what,
            stdout,
            stderr,
            readers,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout_so_far(&self) -> String {
        buf_text(&self.stdout)
    }

    pub fn stderr_so_far(&self) -> String {
        buf_text(&self.stderr)
    }

    /// Non-blocking: has it exited?
    pub fn has_exited(&mut self) -> bool {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
            }
        }
        self.status.is_some()
    }

    /// Waits up to `timeout`; on timeout the process group is SIGKILLed and
    /// an error describing the process (with its output so far) is returned.
    pub fn finish(&mut self, timeout: Duration) -> Result<Finished, String> {
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_millis(1);
        let timed_out = loop {
            if self.has_exited() {
                break false;
            }
            if Instant::now() >= deadline {
                kill_group(self.child.id());
                if let Ok(st) = self.child.wait() {
                    self.status = Some(st);
                }
                break true;
            }
            thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(20));
        };
        // Collect the output; do not hang on a straggler holding the pipes.
        let drain_deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < drain_deadline {
            thread::sleep(Duration::from_millis(2));
        }
        if self.readers.iter().any(|r| !r.is_finished()) {
            kill_group(self.child.id());
        }
        for r in std::mem::take(&mut self.readers) {
            if r.is_finished() {
                let _ = r.join();
            }
        }
        let fin = Finished {
            what: self.what.clone(),
            pid: self.child.id(),
            status: self.status.unwrap_or_else(|| {
                // Unreachable in practice: either try_wait or wait succeeded.
                std::os::unix::process::ExitStatusExt::from_raw(-1)
            }),
            stdout: buf_text(&self.stdout),
            stderr: buf_text(&self.stderr),
        };
        if timed_out {
            Err(format!(
                "TIMEOUT after {timeout:?} (killed): {fin}\n(a process blocked this long in \
                 open/exec usually means the agent did not answer a permission event)"
            ))
        } else {
            Ok(fin)
        }
    }

    /// Like [`Proc::finish`] but fails the test on timeout.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        match self.finish(timeout) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            kill_group(self.child.id());
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to completion (stdout/stderr captured), failing on timeout.
pub fn run(cmd: &mut Command, timeout: Duration) -> Finished {
    Proc::spawn(cmd).wait(timeout)
}
