//! Process, agent and fixture plumbing shared by all end-to-end tests.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Default time limit for any helper process (loaders, CLI invocations).
pub const PROC_TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit for hashing-heavy CLI invocations (signing multi-GiB files).
pub const SLOW_PROC_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the agent may take to report `READY=1`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a new directory may take to show up among the agent's marks.
pub const MARK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an audit record may take to show up (journal or stderr).
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

pub const MSG_DENY: &str = sigward::ids::DENY;
pub const MSG_WOULD_DENY: &str = sigward::ids::WOULD_DENY;
pub const MSG_READY: &str = sigward::ids::READY;
pub const MSG_RELOAD_OK: &str = sigward::ids::RELOAD_OK;
pub const MSG_RELOAD_FAILED: &str = sigward::ids::RELOAD_FAILED;

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
pub const JOURNALD_BIN: &str = "/usr/lib/systemd/systemd-journald";

// fanotify event bits (linux/fanotify.h).
const FAN_OPEN_PERM: u64 = 0x0001_0000;
const FAN_ACCESS_PERM: u64 = 0x0002_0000;
const FAN_OPEN_EXEC_PERM: u64 = 0x0004_0000;

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;

/// Fails the test unless it runs as root: the agent needs CAP_SYS_ADMIN for
/// fanotify permission events, and silently skipping would hide that.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        panic!(
            "the sigward end-to-end tests must run as root (fanotify permission events need \
             CAP_SYS_ADMIN); effective uid is {euid}. Run `sudo -E cargo test --workspace`."
        );
    }
}

/// The sigward binary under test: `$SIGWARD_BIN`, or the `sigward` that
/// cargo built beside the running test binary (`target/<profile>/`, the
/// test being in its `deps/`).
pub fn sigward_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SIGWARD_BIN") {
            return bin.into_string().unwrap();
        }
        let exe = std::env::current_exe().unwrap();
        let mut dir = exe.parent().unwrap();
        if dir.ends_with("deps") {
            dir = dir.parent().unwrap();
        }
        let bin = dir.join("sigward");
        assert!(
            bin.is_file(),
            "{} not found: build it (cargo test builds it) or set SIGWARD_BIN",
            bin.display()
        );
        bin.into_os_string().into_string().unwrap()
    })
}

/// A `Command` for the sigward binary with the given arguments.
pub fn sigward_cmd<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(sigward_bin());
    cmd.args(args);
    cmd.env_remove("NOTIFY_SOCKET");
    // No agent a test starts by hand keeps a last good policy, unless it
    // asks for one with --state-dir: never /var/lib/sigward.
    cmd.env("STATE_DIRECTORY", "none");
    cmd
}

/// Runs the sigward CLI (not `run`) to completion with a time limit.
pub fn sigward<I, S>(args: I) -> Finished
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Proc::spawn(&mut sigward_cmd(args)).wait(SLOW_PROC_TIMEOUT)
}

// ---------------------------------------------------------------------------
// Child processes with time limits
// ---------------------------------------------------------------------------

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

fn pump<R: Read + Send + 'static>(mut from: R, into: Buf) -> JoinHandle<()> {
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

fn buf_text(b: &Buf) -> String {
    b.lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

fn kill_group(pgid: u32) {
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

// ---------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------

/// Calls `f` until it returns `Some` and returns that value; fails the test
/// if it has not after `timeout`. It polls every 10 ms at first, then at a
/// tenth of the time waited so far, but at least every 100 ms, so that
/// costly checks (journalctl, `sigward status`) are not run back to back
/// during long waits.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        let waited = start.elapsed();
        if waited > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep((waited / 10).clamp(Duration::from_millis(10), Duration::from_millis(100)));
    }
}

/// [`poll`] for a condition: waits until `cond` holds.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    poll(what, timeout, || cond().then_some(()));
}

// ---------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------

static AGENT_SEQ: AtomicUsize = AtomicUsize::new(0);

/// One fanotify mark of the agent, as listed in /proc/PID/fdinfo/FD.
#[derive(Debug, Clone)]
pub struct FanMark {
    pub fd: String,
    pub ino: u64,
    pub sdev: u64,
    pub mask: u64,
    pub ignored_mask: u64,
}

impl FanMark {
    pub fn is_permission_mark(&self) -> bool {
        self.mask & (FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM) != 0
    }

    /// A kernel verdict: an ignore mark on a verified file, with no events
    /// of its own.
    pub fn is_ignore_mark(&self) -> bool {
        self.mask == 0 && self.ignored_mask & (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM) != 0
    }

    /// A mark of the notification group on a directory.
    pub fn is_notification_mark(&self) -> bool {
        !self.is_permission_mark() && !self.is_ignore_mark()
    }
}

/// A flattened audit record (journal entry or stderr JSON line).
pub type Record = BTreeMap<String, String>;

fn json_value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(items) => {
            // journalctl -o json renders non-UTF-8 fields as byte arrays.
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            if bytes.len() == items.len() {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                v.to_string()
            }
        }
        other => other.to_string(),
    }
}

/// `r[name]`, or `""` if the record lacks it.
pub fn field<'a>(r: &'a Record, name: &str) -> &'a str {
    r.get(name).map(String::as_str).unwrap_or("")
}

/// Does the record have `MESSAGE_ID` `id`?
pub fn is_msg(r: &Record, id: &str) -> bool {
    r.get("MESSAGE_ID").map(String::as_str) == Some(id)
}

/// Parses JSON-object lines; other lines are ignored.
pub fn parse_json_lines(text: &str) -> Vec<Record> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter_map(|v| match v {
            serde_json::Value::Object(m) => Some(
                m.iter()
                    .map(|(k, v)| (k.clone(), json_value_text(v)))
                    .collect::<Record>(),
            ),
            _ => None,
        })
        .collect()
}

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

    /// All fanotify marks of the agent, from /proc/PID/fdinfo.
    pub fn fanotify_marks(&self) -> Vec<FanMark> {
        let mut marks = Vec::new();
        let fd_dir = format!("/proc/{}/fd", self.pid);
        let Ok(entries) = fs::read_dir(&fd_dir) else {
            return marks;
        };
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            if !target.as_os_str().as_bytes().ends_with(b"[fanotify]") {
                continue;
            }
            let fd = entry.file_name().to_string_lossy().into_owned();
            let Ok(info) = fs::read_to_string(format!("/proc/{}/fdinfo/{fd}", self.pid)) else {
                continue;
            };
            for line in info.lines() {
                let Some(rest) = line.strip_prefix("fanotify ") else {
                    continue;
                };
                let mut mark = FanMark {
                    fd: fd.clone(),
                    ino: 0,
                    sdev: 0,
                    mask: 0,
                    ignored_mask: 0,
                };
                let mut has_ino = false;
                for tok in rest.split_whitespace() {
                    let Some((k, v)) = tok.split_once(':') else {
                        continue;
                    };
                    let val = u64::from_str_radix(v, 16).ok();
                    match (k, val) {
                        ("ino", Some(x)) => {
                            mark.ino = x;
                            has_ino = true;
                        }
                        ("sdev", Some(x)) => mark.sdev = x,
                        ("mask", Some(x)) => mark.mask = x,
                        ("ignored_mask", Some(x)) => mark.ignored_mask = x,
                        _ => {}
                    }
                }
                if has_ino {
                    marks.push(mark);
                }
            }
        }
        marks
    }

    /// Inodes carrying any fanotify inode mark of the agent.
    pub fn fanotify_marked_inodes(&self) -> HashSet<u64> {
        self.fanotify_marks().iter().map(|m| m.ino).collect()
    }

    /// Inodes carrying a fanotify mark with a permission event in its mask.
    pub fn fanotify_perm_marked_inodes(&self) -> HashSet<u64> {
        self.fanotify_marks()
            .iter()
            .filter(|m| m.is_permission_mark())
            .map(|m| m.ino)
            .collect()
    }

    /// Inodes with a kernel verdict (an ignore mark) of the agent, sorted.
    pub fn kernel_verdicts(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .fanotify_marks()
            .into_iter()
            .filter(|m| m.is_ignore_mark())
            .map(|m| m.ino)
            .collect();
        v.sort_unstable();
        v
    }

    /// Whether `p`'s inode (following symlinks) carries a kernel verdict
    /// (an ignore mark) of the agent.
    pub fn has_kernel_verdict(&self, p: &Path) -> bool {
        self.kernel_verdicts().contains(&inode(p))
    }

    /// Waits (up to [`MARK_TIMEOUT`]) until every directory in `dirs` has a
    /// permission mark of the agent; fails the test otherwise.
    pub fn wait_marked(&self, dirs: &[&Path]) {
        let wanted: Vec<(String, u64)> = dirs
            .iter()
            .map(|d| {
                let md =
                    fs::symlink_metadata(d).unwrap_or_else(|e| panic!("stat {}: {e}", d.display()));
                (d.display().to_string(), md.ino())
            })
            .collect();
        self.wait_marked_inodes(&wanted);
    }

    /// Like [`Agent::wait_marked`] for directories given by inode (for
    /// those that cannot be named by a path), each with a description for
    /// the failure message.
    pub fn wait_marked_inodes(&self, wanted: &[(String, u64)]) {
        let start = Instant::now();
        loop {
            let marked = self.fanotify_perm_marked_inodes();
            let missing: Vec<&(String, u64)> =
                wanted.iter().filter(|(_, i)| !marked.contains(i)).collect();
            if missing.is_empty() {
                return;
            }
            if start.elapsed() >= MARK_TIMEOUT {
                let marks: Vec<String> = self
                    .fanotify_marks()
                    .iter()
                    .map(|m| {
                        format!(
                            "fd {} ino:{:x} sdev:{:x} mask:{:x} ignored:{:x}",
                            m.fd, m.ino, m.sdev, m.mask, m.ignored_mask
                        )
                    })
                    .collect();
                panic!(
                    "after {MARK_TIMEOUT:?} these directories still carry no fanotify permission \
                     mark of agent pid {}: {:?}\nagent marks:\n{}\n--- agent stderr ---\n{}",
                    self.pid,
                    missing
                        .iter()
                        .map(|(p, i)| format!("{p} (ino {i:x})"))
                        .collect::<Vec<_>>(),
                    marks.join("\n"),
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Records printed as JSON lines on the agent's stderr.
    pub fn stderr_records(&self) -> Vec<Record> {
        parse_json_lines(&self.stderr_text())
    }

    /// Journal records sent by this agent process (empty without journald):
    /// its pid, since it started (pids are reused).
    pub fn journal_records(&self) -> Vec<Record> {
        if !journald_live() {
            return Vec::new();
        }
        journal_query(&[
            format!("--since=@{}", self.started),
            "SYSLOG_IDENTIFIER=sigward".to_string(),
            format!("_PID={}", self.pid),
        ])
        .unwrap_or_default()
    }

    /// Records from both sinks.
    pub fn records(&self) -> Vec<Record> {
        let mut all = self.stderr_records();
        all.extend(self.journal_records());
        all
    }

    /// Waits until at least `count` records satisfy `pred` and returns the
    /// last of them.
    pub fn wait_records(&self, what: &str, count: usize, pred: impl Fn(&Record) -> bool) -> Record {
        let start = Instant::now();
        loop {
            let matching: Vec<Record> = self.records().into_iter().filter(&pred).collect();
            if matching.len() >= count {
                if let Some(last) = matching.into_iter().last() {
                    return last;
                }
            }
            if start.elapsed() >= RECORD_TIMEOUT {
                panic!(
                    "no{} audit record ({what}) from agent pid {} within {RECORD_TIMEOUT:?}; \
                     records seen:\n{}\n--- agent stderr ---\n{}",
                    if count > 1 {
                        format!(" {count}")
                    } else {
                        String::new()
                    },
                    self.pid,
                    self.records()
                        .iter()
                        .map(|r| format!("{r:?}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_record(&self, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
        self.wait_records(what, 1, pred)
    }

    /// Number of records currently matching `pred`.
    pub fn count_records(&self, pred: impl Fn(&Record) -> bool) -> usize {
        self.records().iter().filter(|r| pred(r)).count()
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

// ---------------------------------------------------------------------------
// journald
// ---------------------------------------------------------------------------

/// Is something listening on the journal's native socket?
pub fn journald_live() -> bool {
    UnixDatagram::unbound()
        .and_then(|s| s.connect(JOURNAL_SOCKET))
        .is_ok()
}

/// Makes sure journald is running (starting it once per test binary if the
/// socket is missing or stale), so the journald sink is always exercised.
pub fn ensure_journald() {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let res = STARTED.get_or_init(|| {
        if journald_live() {
            return Ok(());
        }
        if !Path::new(JOURNALD_BIN).exists() {
            return Err(format!(
                "{JOURNAL_SOCKET} is not served and {JOURNALD_BIN} does not exist \
                 (install systemd)"
            ));
        }
        // Detached: own session, no pipes; it outlives the tests.
        let mut cmd = Command::new(JOURNALD_BIN);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        if let Err(e) = spawned {
            return Err(format!("cannot start {JOURNALD_BIN}: {e}"));
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if journald_live() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "started {JOURNALD_BIN} but {JOURNAL_SOCKET} did not accept connections within 10 s"
        ))
    });
    if let Err(e) = res {
        panic!("journald is required for this test: {e}");
    }
}

/// `journalctl -o json --no-pager FILTER...`
pub fn journal_query(filters: &[String]) -> Result<Vec<Record>, String> {
    let mut cmd = Command::new("journalctl");
    cmd.args(["-o", "json", "--no-pager"]).args(filters);
    let fin = Proc::spawn(&mut cmd).finish(PROC_TIMEOUT)?;
    if !fin.success() && fin.stdout.trim().is_empty() {
        return Err(fin.to_string());
    }
    Ok(parse_json_lines(&fin.stdout))
}

/// Polls the journal (up to [`RECORD_TIMEOUT`]) for a record matching the
/// filters and `pred`.
pub fn wait_journal_record(
    what: &str,
    filters: &[String],
    pred: impl Fn(&Record) -> bool,
) -> Record {
    let start = Instant::now();
    let mut last_err = String::new();
    loop {
        match journal_query(filters) {
            Ok(recs) => {
                if let Some(r) = recs.into_iter().find(|r| pred(r)) {
                    return r;
                }
            }
            Err(e) => last_err = e,
        }
        if start.elapsed() >= RECORD_TIMEOUT {
            let seen = journal_query(filters).unwrap_or_default();
            panic!(
                "no journal record ({what}) for `journalctl {}` within {RECORD_TIMEOUT:?}; \
                 matching the filters: {seen:#?}\nlast journalctl error: {last_err}",
                filters.join(" ")
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Checks `record[field] == want`, with a readable failure.
pub fn expect_field(record: &Record, field: &str, want: &str) {
    match record.get(field) {
        Some(v) if v == want => {}
        Some(v) => panic!("record field {field} is {v:?}, expected {want:?}\nrecord: {record:#?}"),
        None => panic!("record lacks field {field} (expected {want:?})\nrecord: {record:#?}"),
    }
}

/// Checks that `record[field]` exists and is not empty.
pub fn expect_field_present(record: &Record, field: &str) {
    match record.get(field) {
        Some(v) if !v.is_empty() => {}
        _ => panic!("record lacks a non-empty field {field}\nrecord: {record:#?}"),
    }
}

// ---------------------------------------------------------------------------
// Fixture: a temporary tree with a key pair and a policy
// ---------------------------------------------------------------------------

/// Quotes a string as a TOML basic string.
/// `text` (a policy) with `untrusted_writers = "allow"` added to every
/// `[[protect]]` table, right after its `path`.
pub fn allow_untrusted_writers(text: &str) -> String {
    let mut out = String::new();
    let mut in_protect = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        let t = line.trim();
        if t.starts_with('[') {
            in_protect = t == "[[protect]]";
        } else if in_protect && t.starts_with("path") {
            out.push_str("untrusted_writers = \"allow\"\n");
        }
    }
    out
}

pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn path_str(p: &Path) -> String {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
        .to_string()
}

/// Appends `suffix` to the file name (`x.py` -> `x.py.sig`).
pub fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn sig_path(p: &Path) -> PathBuf {
    with_suffix(p, ".sig")
}

/// The inode number of `p` (following symlinks).
pub fn inode(p: &Path) -> u64 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .ino()
}

/// Extracts the first 64-hex-digit token of `text`.
pub fn find_fingerprint(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .find(|t| t.len() == 64)
        .map(|t| t.to_ascii_lowercase())
}

pub fn sha256_hex(path: &Path) -> String {
    let fin = run(Command::new("sha256sum").arg(path), PROC_TIMEOUT);
    fin.assert_success();
    fin.stdout
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("sha256sum printed nothing: {fin}"))
        .to_string()
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

pub fn mkdirs(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir -p {}: {e}", path.display()));
}

pub fn write_file(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        mkdirs(parent);
    }
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(contents)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn rename(from: &Path, to: &Path) {
    fs::rename(from, to)
        .unwrap_or_else(|e| panic!("rename {} -> {}: {e}", from.display(), to.display()));
}

/// `truncate(2)` by path: no open, hence no fanotify permission event.
pub fn truncate_path(path: &Path, len: u64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .unwrap_or_else(|e| panic!("path with NUL: {e}"));
    let len = libc::off_t::try_from(len).unwrap_or_else(|e| panic!("length: {e}"));
    // SAFETY: c is a valid NUL-terminated string.
    let rc = unsafe { libc::truncate(c.as_ptr(), len) };
    if rc != 0 {
        panic!(
            "truncate({}, {len}): {}",
            path.display(),
            io::Error::last_os_error()
        );
    }
}

/// A fresh temporary tree:
/// ```text
/// /tmp/sigward-e2e-XXXX/
///   plugins/        the protected directory
///   keys/test.key   signing key (trusted by the policy)
///   keys/test.pub
///   policy.toml
///   staging/        where files are prepared and signed before moving in
/// ```
pub struct Fixture {
    pub root: PathBuf,
    pub plugins: PathBuf,
    pub key: PathBuf,
    pub pubkey: PathBuf,
    pub fingerprint: String,
    pub policy: PathBuf,
    seq: AtomicUsize,
    _tmp: TempDir,
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

impl Fixture {
    /// Enforcing fixture.
    pub fn new() -> Fixture {
        Self::with_mode("enforce")
    }

    pub fn with_mode(mode: &str) -> Fixture {
        require_root();
        let tmp = tempfile::Builder::new()
            .prefix("sigward-e2e-")
            // TMPDIR decides the filesystem the trees live on (the suites
            // run on ext4 and on tmpfs, see .ci/run).
            .tempdir_in(std::env::temp_dir())
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = tmp.path().to_path_buf();
        let plugins = root.join("plugins");
        mkdirs(&plugins);
        mkdirs(&root.join("keys"));
        mkdirs(&root.join("staging"));
        let prefix = root.join("keys").join("test");
        let fingerprint = keygen(&prefix);
        let fx = Fixture {
            key: with_suffix(&prefix, ".key"),
            pubkey: with_suffix(&prefix, ".pub"),
            policy: root.join("policy.toml"),
            fingerprint,
            plugins,
            root,
            seq: AtomicUsize::new(0),
            _tmp: tmp,
        };
        fx.set_mode(mode);
        fx
    }

    /// A policy trusting the fixture key and protecting `protect`.
    pub fn policy_text(&self, mode: &str, protect: &[(&Path, Option<&str>)]) -> String {
        let mut t = format!(
            "# written by the sigward e2e tests\nmode = {}\n\n[trust]\nkeys = [{}]\n",
            toml_str(mode),
            toml_str(&path_str(&self.pubkey))
        );
        for (p, m) in protect {
            t.push_str(&format!(
                "\n[[protect]]\npath = {}\n",
                toml_str(&path_str(p))
            ));
            if let Some(m) = m {
                t.push_str(&format!("mode = {}\n", toml_str(m)));
            }
        }
        t
    }

    /// Rewrites the policy so that every tree verifies files that users
    /// other than the trusted owners can write (`untrusted_writers =
    /// "allow"`), for tests whose files are group-writable or someone
    /// else's on purpose.
    pub fn allow_untrusted_writers(&self) {
        let text = fs::read_to_string(&self.policy)
            .unwrap_or_else(|e| panic!("{}: {e}", self.policy.display()));
        self.write_policy(&allow_untrusted_writers(&text));
    }

    pub fn write_policy(&self, text: &str) {
        // Replace atomically so a concurrently reloading agent never reads a
        // half-written file.
        let tmp = self.root.join(".policy.toml.new");
        write_file(&tmp, text.as_bytes());
        rename(&tmp, &self.policy);
    }

    /// Writes the standard policy (plugins/ protected) with `mode`.
    pub fn set_mode(&self, mode: &str) {
        self.write_policy(&self.policy_text(mode, &[(&self.plugins, None)]));
    }

    /// `plugins/REL`
    pub fn path(&self, rel: &str) -> PathBuf {
        self.plugins.join(rel)
    }

    /// A new private staging path with the same base name as `rel`.
    fn stage(&self, rel: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let dir = self.root.join("staging").join(n.to_string());
        mkdirs(&dir);
        let name = Path::new(rel)
            .file_name()
            .unwrap_or_else(|| panic!("no file name in {rel}"));
        dir.join(name)
    }

    /// Moves a staged file (and its .sig, if any) to plugins/REL. Renames
    /// open nothing, so this works with or without a running agent.
    fn install(&self, staged: &Path, rel: &str) -> PathBuf {
        let dest = self.path(rel);
        if let Some(parent) = dest.parent() {
            mkdirs(parent);
        }
        let staged_sig = sig_path(staged);
        if staged_sig.exists() {
            rename(&staged_sig, &sig_path(&dest));
        }
        rename(staged, &dest);
        dest
    }

    /// plugins/REL with `contents`, signed by the fixture key.
    pub fn write_signed(&self, rel: &str, contents: &[u8]) -> PathBuf {
        self.write_signed_mode(rel, contents, 0o644)
    }

    pub fn write_signed_mode(&self, rel: &str, contents: &[u8], mode: u32) -> PathBuf {
        let staged = self.stage(rel);
        write_file(&staged, contents);
        chmod(&staged, mode);
        self.sign(&staged);
        self.install(&staged, rel)
    }

    /// plugins/REL as a sparse file of `len` bytes, signed.
    pub fn write_signed_sparse(&self, rel: &str, len: u64) -> PathBuf {
        let staged = self.stage(rel);
        let f = fs::File::create(&staged)
            .unwrap_or_else(|e| panic!("create {}: {e}", staged.display()));
        f.set_len(len)
            .unwrap_or_else(|e| panic!("set_len {}: {e}", staged.display()));
        drop(f);
        self.sign(&staged);
        self.install(&staged, rel)
    }

    /// plugins/REL with `contents` and no signature.
    pub fn write_unsigned(&self, rel: &str, contents: &[u8]) -> PathBuf {
        self.write_unsigned_mode(rel, contents, 0o644)
    }

    pub fn write_unsigned_mode(&self, rel: &str, contents: &[u8], mode: u32) -> PathBuf {
        let staged = self.stage(rel);
        write_file(&staged, contents);
        chmod(&staged, mode);
        self.install(&staged, rel)
    }

    /// `sigward sign --key <fixture key> PATH`. Only for files outside the
    /// protected tree or while no agent runs (signing reads the file).
    pub fn sign(&self, path: &Path) {
        sign_with(&self.key, path);
    }

    pub fn start_agent(&self) -> Agent {
        Agent::start(&self.policy)
    }

    pub fn start_agent_with_env(&self, env: &[(&str, &str)]) -> Agent {
        Agent::start_with_env(&self.policy, env)
    }
}

/// `sigward keygen --out PREFIX`; returns the printed fingerprint.
pub fn keygen(prefix: &Path) -> String {
    let fin = sigward([
        std::ffi::OsStr::new("keygen"),
        std::ffi::OsStr::new("--out"),
        prefix.as_os_str(),
    ]);
    if !fin.success() {
        panic!("sigward keygen failed:\n{fin}");
    }
    find_fingerprint(&fin.stdout)
        .unwrap_or_else(|| panic!("sigward keygen printed no 64-hex fingerprint:\n{fin}"))
}

/// `sigward sign --key KEY PATH`, asserting success and that PATH.sig exists.
pub fn sign_with(key: &Path, path: &Path) {
    let fin = sigward([
        std::ffi::OsStr::new("sign"),
        std::ffi::OsStr::new("--key"),
        key.as_os_str(),
        path.as_os_str(),
    ]);
    if !fin.success() {
        panic!("sigward sign failed:\n{fin}");
    }
    let sig = sig_path(path);
    if !sig.exists() {
        panic!(
            "sigward sign succeeded but {} is missing:\n{fin}",
            sig.display()
        );
    }
}

// ------------------------------------------------- control socket and /proc

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
