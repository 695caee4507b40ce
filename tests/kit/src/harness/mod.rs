//! Process, agent and fixture plumbing shared by all end-to-end tests.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

mod agent;
mod fixture;
mod journald;
mod marks;
mod process;
mod procfs;
mod records;
mod wait;

pub use agent::Agent;
pub use fixture::{
    allow_untrusted_writers, chmod, find_fingerprint, inode, keygen, mkdirs, path_str, rename,
    sha256_hex, sig_path, sign_with, toml_str, truncate_path, with_suffix, write_file, Fixture,
};
pub use journald::{
    ensure_journald, expect_field, expect_field_present, journal_query, journald_live,
    wait_journal_record,
};
pub use marks::FanMark;
pub use process::{run, Finished, Proc};
pub use procfs::{fd_count, n, reload, settled_fd_count, start, status, status_json, try_reload};
pub use records::{field, is_msg, parse_json_lines, Record};
pub use wait::{poll, wait_until};

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
