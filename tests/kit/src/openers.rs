//! Real loaders pointed at the protected tree: python imports and opens,
//! cat, ctypes.CDLL and execve. Each runs with a time limit and reports
//! whether the kernel let it through or the errno it got.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use crate::harness::{path_str, run, Finished, Proc, PROC_TIMEOUT};

pub const EPERM: i32 = libc::EPERM;
pub const EACCES: i32 = libc::EACCES;

/// What a loader got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The open/import/load/exec worked.
    Ok,
    /// It failed with this errno.
    Errno(i32),
}

#[track_caller]
pub fn expect_allowed(o: Outcome, what: &str) {
    if o != Outcome::Ok {
        panic!("expected {what} to be ALLOWED, got {o:?}");
    }
}

#[track_caller]
pub fn expect_eperm(o: Outcome, what: &str) {
    if o != Outcome::Errno(EPERM) {
        panic!("expected {what} to be DENIED with EPERM (errno 1), got {o:?}");
    }
}

/// A denied execve shows EPERM or EACCES depending on the path it took.
#[track_caller]
pub fn expect_exec_denied(o: Outcome, what: &str) {
    if o != Outcome::Errno(EPERM) && o != Outcome::Errno(EACCES) {
        panic!("expected exec of {what} to be DENIED with EPERM or EACCES, got {o:?}");
    }
}

/// The real python interpreter (resolving pyenv-style shims once, which
/// keeps every later start fast).
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let fin = run(
            Command::new("python3").args(["-c", "import sys; print(sys.executable)"]),
            PROC_TIMEOUT,
        );
        let exe = fin.stdout.trim();
        if !fin.success() || exe.is_empty() {
            panic!("python3 is required for these tests:\n{fin}");
        }
        PathBuf::from(exe)
    })
}

/// `python3 -B -c SNIPPET ARGS...` with bytecode writing disabled.
pub fn python_cmd(snippet: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg("-B")
        .arg("-c")
        .arg(snippet)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONSTARTUP")
        .env_remove("PYTHONHOME");
    cmd
}

/// Shared tail of the python snippets: maps an OSError to `ERRNO n`.
/// dlopen errors carry no errno, only dlerror() text.
const PY_ERRNO: &str = r#"
def errno_of(e):
    n = getattr(e, "errno", None)
    if n is None:
        s = str(e)
        if "Operation not permitted" in s:
            n = 1
        elif "Permission denied" in s:
            n = 13
        else:
            n = -1
    return n
"#;

fn parse_python(fin: &Finished) -> Outcome {
    for line in fin.stdout.lines().rev() {
        let line = line.trim();
        if line == "OK" {
            return Outcome::Ok;
        }
        if let Some(n) = line.strip_prefix("ERRNO ") {
            if let Ok(n) = n.trim().parse::<i32>() {
                if n < 0 {
                    panic!("python got an OSError without a recognisable errno:\n{fin}");
                }
                return Outcome::Errno(n);
            }
        }
    }
    panic!("unexpected python result (neither OK nor ERRNO n):\n{fin}");
}

/// Inserts `dir` in sys.path and imports `module`.
pub fn python_import(dir: &Path, module: &str) -> Outcome {
    let snippet = format!(
        "{PY_ERRNO}
import sys, importlib
sys.path.insert(0, sys.argv[1])
try:
    importlib.import_module(sys.argv[2])
    print('OK')
except OSError as e:
    print('ERRNO %d' % errno_of(e))
"
    );
    let fin = run(
        &mut python_cmd(&snippet, &[&path_str(dir), module]),
        PROC_TIMEOUT,
    );
    parse_python(&fin)
}

/// Who opened a file: enough to check the audit record's pid and exe.
#[derive(Debug, Clone)]
pub struct Opened {
    pub outcome: Outcome,
    pub pid: u32,
    pub exe: String,
}

const PY_OPEN: &str = "
import os, sys
print('BEGIN %d %s' % (os.getpid(), os.readlink('/proc/self/exe')), flush=True)
try:
    with open(sys.argv[1], 'rb') as f:
        f.read(1)
    print('OK')
except OSError as e:
    print('ERRNO %d' % errno_of(e))
";

/// A python process that prints `BEGIN PID EXE`, then opens `path` for
/// reading and prints `OK` or `ERRNO n`.
pub fn python_open_cmd(path: &Path) -> Command {
    python_cmd(&format!("{PY_ERRNO}{PY_OPEN}"), &[&path_str(path)])
}

/// Opens `path` for reading with python's `open()`.
pub fn python_open(path: &Path) -> Outcome {
    python_open_detailed(path).outcome
}

pub fn python_open_detailed(path: &Path) -> Opened {
    let fin = run(&mut python_open_cmd(path), PROC_TIMEOUT);
    let outcome = parse_python(&fin);
    let begin = fin
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("BEGIN "))
        .unwrap_or_else(|| panic!("python opener printed no BEGIN line:\n{fin}"));
    let (pid, exe) = begin
        .split_once(' ')
        .unwrap_or_else(|| panic!("bad BEGIN line {begin:?}"));
    Opened {
        outcome,
        pid: pid
            .parse()
            .unwrap_or_else(|e| panic!("bad pid in {begin:?}: {e}")),
        exe: exe.to_string(),
    }
}

/// `cat PATH > /dev/null`: Ok on exit 0, EPERM/EACCES from its message.
pub fn cat(path: &Path) -> Outcome {
    let fin = Proc::spawn_quiet(Command::new("cat").arg(path)).wait(PROC_TIMEOUT);
    cat_outcome(&fin)
}

pub fn cat_outcome(fin: &Finished) -> Outcome {
    if fin.success() {
        Outcome::Ok
    } else if fin.stderr.contains("Operation not permitted") {
        Outcome::Errno(EPERM)
    } else if fin.stderr.contains("Permission denied") {
        Outcome::Errno(EACCES)
    } else {
        panic!("cat failed for another reason:\n{fin}");
    }
}

/// `ctypes.CDLL(path).sigward_answer()` must return 42 when loaded.
pub fn ctypes_cdll(path: &Path) -> Outcome {
    let snippet = format!(
        "{PY_ERRNO}
import sys, ctypes
try:
    lib = ctypes.CDLL(sys.argv[1])
except OSError as e:
    print('ERRNO %d' % errno_of(e))
    print(e, file=sys.stderr)
else:
    r = lib.sigward_answer()
    print('OK' if r == 42 else 'BADRESULT %d' % r)
"
    );
    let fin = run(&mut python_cmd(&snippet, &[&path_str(path)]), PROC_TIMEOUT);
    parse_python(&fin)
}

/// Executes `path` directly (no shell). A spawn error yields its errno; a
/// started program must exit 0.
pub fn exec_path(path: &Path) -> Outcome {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match Proc::try_spawn(&mut Command::new(path), true) {
            Ok(p) => {
                let fin = p.wait(PROC_TIMEOUT);
                if fin.success() {
                    return Outcome::Ok;
                }
                panic!("{} ran but did not exit 0:\n{fin}", path.display());
            }
            // ETXTBSY: another test thread forked while a writable fd of a
            // freshly written executable was open; harmless, retry.
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 20 => {
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Outcome::Errno(e.raw_os_error().unwrap_or_else(|| {
                    panic!("exec {} failed without an errno: {e}", path.display())
                }))
            }
        }
    }
}

/// Builds C source with gcc (`-shared -fPIC` when `shared`).
pub fn gcc(source: &str, out: &Path, shared: bool) {
    let src = out.with_extension("c");
    crate::harness::write_file(&src, source.as_bytes());
    let mut cmd = Command::new("gcc");
    if shared {
        cmd.args(["-shared", "-fPIC"]);
    }
    cmd.arg("-O1").arg("-o").arg(out).arg(&src);
    let fin = run(&mut cmd, Duration::from_secs(60));
    if !fin.success() {
        panic!("gcc failed (gcc is required for these tests):\n{fin}");
    }
}
