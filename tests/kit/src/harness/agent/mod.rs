//! The agent under test: started as root with a timeout, SIGKILLed by PID
//! and reaped when its guard is dropped; its records, reloads and state.
//!
//! Besides this module: [`fanotify`] (the agent's fanotify marks and waits
//! on them) and [`records`] (its records, from stderr and the journal).

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use std::{fs, io, thread};

use super::{require_root, sigward_bin, PROC_TIMEOUT, READY_TIMEOUT};

mod fanotify;
mod records;

static AGENT_SEQ: AtomicUsize = AtomicUsize::new(0);

/// The running agent. Dropping it SIGKILLs it (by PID) and reaps it; if the
/// test is failing, its captured stderr is printed.
pub struct Agent {
    child: Child,
    pid: i32,
    status: Option<ExitStatus>,
    stderr_path: PathBuf,
    stdout_path: PathBuf,
    policy: PathBuf,
    /// When the agent was started, in seconds since the epoch (rounded
    /// down): journal queries by `_PID` start here, so that records of an
    /// earlier process that had the same pid are never taken for its own.
    started: u64,
    // Kept open for the agent's lifetime so that later notifications
    // (STOPPING=1, RELOADING=1, ...) have a receiver.
    notify: UnixDatagram,
}

impl Agent {
    /// Starts `sigward run --policy POLICY` and waits for `READY=1`.
    pub fn start(policy: &Path) -> Agent {
        Self::start_with_env(policy, &[])
    }

    /// Like [`Agent::start`], with extra environment variables.
    pub fn start_with_env(policy: &Path, env: &[(&str, &str)]) -> Agent {
        Self::start_with_env_args(policy, env, &[])
    }

    /// Like [`Agent::start`], with extra `sigward run` arguments.
    pub fn start_with_args(policy: &Path, args: &[&std::ffi::OsStr]) -> Agent {
        Self::start_with_env_args(policy, &[], args)
    }

    /// Starts `sigward run --policy POLICY ARGS...` with extra environment
    /// variables. Unless ARGS set them, `--control-socket` and `--pid-file`
    /// point into the policy's (temporary) directory, so that agents never
    /// touch /run/sigward and never compete for one socket.
    pub fn start_with_env_args(
        policy: &Path,
        env: &[(&str, &str)],
        args: &[&std::ffi::OsStr],
    ) -> Agent {
        require_root();
        let dir = policy
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let n = AGENT_SEQ.fetch_add(1, Ordering::SeqCst);
        let sock_path = dir.join(format!("notify-{n}.sock"));
        let stderr_path = dir.join(format!("agent-{n}.stderr"));
        let stdout_path = dir.join(format!("agent-{n}.stdout"));
        let _ = fs::remove_file(&sock_path);
        let notify = UnixDatagram::bind(&sock_path)
            .unwrap_or_else(|e| panic!("cannot bind notify socket {}: {e}", sock_path.display()));
        notify
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap_or_else(|e| panic!("set_read_timeout: {e}"));
        let err_file = fs::File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", stderr_path.display()));
        let out_file = fs::File::create(&stdout_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", stdout_path.display()));

        let mut cmd = Command::new(sigward_bin());
        cmd.arg("run").arg("--policy").arg(policy).args(args);
        if !args.iter().any(|a| *a == "--control-socket") {
            cmd.arg("--control-socket")
                .arg(dir.join(format!("control-{n}.sock")));
        }
        if !args.iter().any(|a| *a == "--pid-file") {
            cmd.arg("--pid-file")
                .arg(dir.join(format!("agent-{n}.pid")));
        }
        // The policy's directory keeps the last good policy of its agents
        // (never /var/lib/sigward).
        if !args.iter().any(|a| *a == "--state-dir") {
            cmd.arg("--state-dir").arg(dir.join("state"));
        }
        cmd.env("NOTIFY_SOCKET", &sock_path)
            .env_remove("SIGWARD_LOG_TARGET")
            .stdin(Stdio::null())
            .stdout(out_file)
            .stderr(err_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: prctl is async-signal-safe. If this test process dies
        // (e.g. killed by a harness timeout), the agent is SIGKILLed too, so
        // no orphaned agent keeps answering (or not answering) events.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {} run: {e}", sigward_bin()));
        let pid = i32::try_from(child.id()).unwrap_or_else(|e| panic!("pid: {e}"));
        let mut agent = Agent {
            child,
            pid,
            started,
            status: None,
            stderr_path,
            stdout_path,
            policy: policy.to_path_buf(),
            notify,
        };
        agent.wait_ready();
        agent
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        loop {
            match self.notify.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if msg.lines().any(|l| l.trim() == "READY=1") {
                        return;
                    }
                    seen.push(msg);
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("notify socket recv: {e}"),
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
                panic!(
                    "sigward run --policy {} exited ({st}) before sending READY=1 \
                     (notifications seen: {seen:?})\n--- policy ---\n{}\n--- agent stderr ---\n{}",
                    self.policy.display(),
                    fs::read_to_string(&self.policy).unwrap_or_default(),
                    self.stderr_text()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "sigward run did not send READY=1 within {READY_TIMEOUT:?} \
                     (notifications seen: {seen:?})\n--- agent stderr ---\n{}",
                    self.stderr_text()
                );
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Discards the notifications the agent sent since `READY=1` (each
    /// reload sends `RELOADING=1`, `MONOTONIC_USEC=` and `READY=1`). Nothing
    /// reads them, and the kernel queues at most `net.unix.max_dgram_qlen`
    /// (default 10) datagrams on the socket: once it is full, the agent's
    /// next sd_notify blocks, and with it its reloads and its shutdown.
    pub fn drain_notify(&self) {
        let mut buf = [0u8; 4096];
        if self.notify.set_nonblocking(true).is_ok() {
            while self.notify.recv(&mut buf).is_ok() {}
            let _ = self.notify.set_nonblocking(false);
        }
    }

    /// Collects the notifications the agent sends during `window` (each
    /// datagram as its text: `READY=1\nSTATUS=...\n`, `WATCHDOG=1\n`, ...).
    /// Reading them also keeps the socket's queue from filling up.
    pub fn notifications(&self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.notify.recv(&mut buf) {
                Ok(n) => seen.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("notify socket recv: {e}"),
            }
        }
        seen
    }

    /// Sends `sig` to the agent (draining its notifications first, see
    /// [`Agent::drain_notify`]).
    pub fn signal(&self, sig: i32) {
        self.drain_notify();
        // SAFETY: plain syscall on our own child's pid (not yet reaped).
        let rc = unsafe { libc::kill(self.pid, sig) };
        if rc != 0 {
            panic!(
                "kill({}, {sig}) failed: {}",
                self.pid,
                io::Error::last_os_error()
            );
        }
    }

    /// Waits for the agent to exit; fails the test on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.status {
                return st;
            }
            match self.child.try_wait() {
                Ok(Some(st)) => self.status = Some(st),
                Ok(None) => {}
                Err(e) => panic!("waitpid({}): {e}", self.pid),
            }
            if self.status.is_none() {
                if Instant::now() >= deadline {
                    panic!(
                        "agent (pid {}) did not exit within {timeout:?}; its threads \
                         (tid comm state wchan):\n{}\n--- agent stderr ---\n{}",
                        self.pid,
                        self.thread_states().join("\n"),
                        self.stderr_text()
                    );
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Runs `f` (which may open files in the protected tree from this very
    /// test process) under a watchdog: if it has not returned after
    /// [`PROC_TIMEOUT`], the agent is SIGKILLed, which makes the kernel
    /// release every open waiting for its answer, and the test fails.
    pub fn guard<T>(&self, what: &str, f: impl FnOnce() -> T) -> T {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let pid = self.pid;
        let watchdog = {
            let fired = fired.clone();
            thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(PROC_TIMEOUT) {
                    fired.store(true, Ordering::SeqCst);
                    // SAFETY: the agent cannot have been reaped: its owner
                    // (the test thread) is still inside `f`.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            })
        };
        let out = f();
        let _ = done_tx.send(());
        let _ = watchdog.join();
        if fired.load(Ordering::SeqCst) {
            panic!(
                "{what} blocked for more than {PROC_TIMEOUT:?}: the agent (pid {}) did not \
                 answer the permission event, so it was SIGKILLed\n--- agent stderr ---\n{}",
                self.pid,
                self.stderr_text()
            );
        }
        out
    }

    /// Creates (or truncates) `path` with `contents` from this process,
    /// under [`Agent::guard`]. A new file is empty when opened, so creating
    /// it in a protected directory must be allowed.
    pub fn create_file(&self, path: &Path, contents: &[u8]) {
        self.guard(&format!("creating {}", path.display()), || {
            fs::write(path, contents)
        })
        .unwrap_or_else(|e| {
            panic!(
                "creating {} while the agent runs failed: {e} (new files are empty when \
                 opened and must be allowed)",
                path.display()
            )
        });
    }

    /// One line per thread of the agent: `tid comm state wchan`. A thread
    /// sleeping in `fanotify_handle_event` is blocked on a permission event.
    pub fn thread_states(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(tasks) = fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return out;
        };
        for t in tasks.flatten() {
            let p = t.path();
            let read = |f: &str| {
                fs::read_to_string(p.join(f))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            let stat = read("stat");
            // The state follows the parenthesised comm.
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?")
                .to_string();
            out.push(format!(
                "{} {} {} {}",
                t.file_name().to_string_lossy(),
                read("comm"),
                state,
                read("wchan")
            ));
        }
        out.sort();
        out
    }

    /// Fails the test if the agent has exited (or crashed).
    pub fn assert_alive(&mut self, context: &str) {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
            }
        }
        if let Some(st) = self.status {
            panic!(
                "agent (pid {}) is no longer running ({st}) {context}\n--- agent stderr ---\n{}",
                self.pid,
                self.stderr_text()
            );
        }
        // SAFETY: signal 0 only checks for existence.
        let rc = unsafe { libc::kill(self.pid, 0) };
        assert_eq!(rc, 0, "kill({}, 0) failed {context}", self.pid);
    }

    pub fn stderr_text(&self) -> String {
        fs::read(&self.stderr_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.stderr_path.display()))
    }

    pub fn stdout_text(&self) -> String {
        fs::read(&self.stdout_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.status.is_none() {
            // SAFETY: the child has not been reaped, so the pid is still ours.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
        if thread::panicking() {
            let journal: Vec<String> = self
                .journal_records()
                .iter()
                .map(|r| {
                    r.iter()
                        .filter(|(k, _)| !k.starts_with('_'))
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            if !journal.is_empty() {
                eprintln!(
                    "===== journal records of sigward agent pid {} =====\n{}",
                    self.pid,
                    journal.join("\n")
                );
            }
            eprintln!(
                "===== sigward agent pid {} (policy {}) =====\n--- policy ---\n{}\n--- stdout \
                 ---\n{}\n--- stderr ---\n{}\n===== end of agent output =====",
                self.pid,
                self.policy.display(),
                fs::read_to_string(&self.policy).unwrap_or_default(),
                self.stdout_text(),
                self.stderr_text()
            );
        }
    }
}
