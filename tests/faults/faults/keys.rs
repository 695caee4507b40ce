//! Unreadable key files at start-up are refused, naming the file and line.

use std::ffi::OsStr;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::Path;
use std::time::{Duration, Instant};
use std::{fs, io};

use crate::harness::{mkdirs, path_str, sigward_cmd, toml_str, Fixture, Proc};

use super::disk::EioDisk;
use super::journald::journald_lock;

// ---------------------------------------------------------------------------
// Unreadable key files at start-up
// ---------------------------------------------------------------------------

/// A policy trusting the fixture key and `bad`; returns the line naming
/// `bad`.
pub(super) fn policy_with_key(fx: &Fixture, bad: &Path) -> usize {
    let text = format!(
        "mode = \"enforce\"\n\n[trust]\nkeys = [\n  {},\n  {},\n]\n\n[[protect]]\npath = {}\n",
        toml_str(&path_str(&fx.pubkey)),
        toml_str(&path_str(bad)),
        toml_str(&path_str(&fx.plugins))
    );
    fx.write_policy(&text);
    text.lines()
        .position(|l| l.contains(&path_str(bad)))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// How long refusing a policy may take (it takes milliseconds).
pub(super) const REFUSE_TIMEOUT: Duration = Duration::from_secs(10);

/// `sigward check` and `sigward run` on the fixture's policy: both must
/// refuse within [`REFUSE_TIMEOUT`], exit 1, and print `POLICY:LINE:` with
/// the key file's name and `why` on stderr (`run` with its default log
/// target, journald). Returns what went wrong, if anything.
pub(super) fn expect_key_refused(
    fx: &Fixture,
    bad: &Path,
    line: usize,
    why: &str,
) -> Option<String> {
    let prefix = format!("{}:{line}:", fx.policy.display());
    let check = Proc::spawn(&mut sigward_cmd([
        OsStr::new("check"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
    ]));
    let run = Proc::spawn(
        sigward_cmd([
            OsStr::new("run"),
            OsStr::new("--policy"),
            fx.policy.as_os_str(),
            OsStr::new("--control-socket"),
            fx.root.join("refused.sock").as_os_str(),
            OsStr::new("--pid-file"),
            fx.root.join("refused.pid").as_os_str(),
        ])
        .env_remove("SIGWARD_LOG_TARGET"),
    );
    let deadline = Instant::now() + REFUSE_TIMEOUT;
    let mut problems = Vec::new();
    for (what, mut proc) in [("sigward check", check), ("sigward run", run)] {
        let left = deadline.saturating_duration_since(Instant::now());
        match proc.finish(left.max(Duration::from_millis(100))) {
            Err(e) => problems.push(format!(
                "{what} did not refuse within {REFUSE_TIMEOUT:?} (it blocked reading the key \
                 file): {e}"
            )),
            Ok(fin) => {
                let line_ok = fin
                    .stderr
                    .lines()
                    .any(|l| l.contains(&prefix) && l.contains(&path_str(bad)) && l.contains(why));
                if fin.code() != Some(1) || !line_ok {
                    problems.push(format!(
                        "{what} should exit 1 with `{prefix} ... {} ... {why}` on stderr:\n{fin}",
                        bad.display()
                    ));
                } else {
                    eprintln!("{what}: {}", fin.stderr.trim());
                }
            }
        }
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

#[test]
fn unreadable_key_file_at_startup_is_refused_naming_the_file_and_line() {
    let _serial = journald_lock();
    let fx = Fixture::new();
    let dir_key = fx.root.join("keys/a-directory.pub");
    mkdirs(&dir_key);
    let dangling = fx.root.join("keys/dangling.pub");
    symlink(fx.root.join("keys/nowhere.pub"), &dangling).unwrap_or_else(|e| panic!("symlink: {e}"));
    let disk = EioDisk::new(&fx.root);

    let mut problems = Vec::new();
    for (bad, why) in [
        (dir_key.clone(), "not a regular file"),
        (dangling.clone(), "No such file or directory"),
        (disk.file(), "Input/output error"),
    ] {
        let line = policy_with_key(&fx, &bad);
        if let Some(p) = expect_key_refused(&fx, &bad, line, why) {
            problems.push(p);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn key_file_that_is_a_fifo_is_refused_without_blocking() {
    let _serial = journald_lock();
    let fx = Fixture::new();
    let fifo = fx.root.join("keys/fifo.pub");
    let c = std::ffi::CString::new(path_str(&fifo)).unwrap();
    // SAFETY: valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let line = policy_with_key(&fx, &fifo);
    if let Some(p) = expect_key_refused(&fx, &fifo, line, "not a regular file") {
        panic!("{p}");
    }
}
