//! Hostile names: newlines, invalid UTF-8, 4,000-byte paths, paths longer
//! than PATH_MAX, and a tree 64 levels deep, all created by the attacker
//! while the agent runs. Signed files keep being allowed; unsigned ones
//! are refused and recorded.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::common::{attack, attacker_py, both_modes, victim_open, Mode, Scene};
use crate::harness::{run, Agent, PROC_TIMEOUT};
use crate::openers::{cat, expect_allowed, python_open, Outcome};

both_modes!(
    newline_in_file_name,
    invalid_utf8_file_name,
    path_of_4000_bytes,
    path_longer_than_path_max,
    tree_64_levels_deep,
);

const SIGNED: &[u8] = b"GOOD = 1\n";

/// The attacker writes `evil` (unsigned) and copies `signed` (from the
/// stash) with its signature to `good`.
fn plant(signed: &Path, good: &Path, evil: &Path) {
    attack(
        r#"cp "$1" "$2" && cp "$1.sig" "$2.sig" && printf 'EVIL = 1\n' > "$3""#,
        &[signed.as_os_str(), good.as_os_str(), evil.as_os_str()],
    );
}

/// A newline in a name must neither confuse the agent nor split its
/// records (each is one JSON line here).
fn newline_in_file_name(mode: Mode) {
    let s = Scene::new(mode);
    let signed = s.stash_signed(OsStr::new("good\nname.py"), SIGNED);
    let agent = s.start();
    let good = s.att("good\nname.py");
    let evil = s.att("evil\n{\"SIGWARD_DECISION\":\"allow\"}.py");
    plant(&signed, &good, &evil);

    expect_allowed(
        victim_open(&agent, &good),
        "a signed file with a newline in its name",
    );
    s.expect_refused(
        &agent,
        victim_open(&agent, &evil),
        &[&evil],
        "unsigned",
        "an unsigned file with a newline in its name",
    );
    s.expect_refused(
        &agent,
        cat(&evil),
        &[&evil],
        "unsigned",
        "cat of an unsigned file with a newline in its name",
    );
}

/// Native signatures cannot carry a name that is not UTF-8, so such a
/// file is never allowed. The attacker tries two things: a plain unsigned
/// file, and a copy of a signed file (and its signature) under the name
/// that prints the same: `mod\xff.py` shows as `mod\u{fffd}.py`, the name
/// the signature was made for.
fn invalid_utf8_file_name(mode: Mode) {
    let s = Scene::new(mode);
    let lookalike = "mod\u{fffd}.py";
    let signed = s.stash_signed(OsStr::new(lookalike), SIGNED);
    let agent = s.start();
    let good = s.att(lookalike);
    let evil = s.dir.join(OsStr::from_bytes(b"evil\xff\xfe.py"));
    plant(&signed, &good, &evil);
    let copy = s.dir.join(OsStr::from_bytes(b"mod\xff.py"));
    attack(
        r#"cp "$1" "$2" && cp "$1.sig" "$2.sig""#,
        &[signed.as_os_str(), copy.as_os_str()],
    );

    expect_allowed(
        victim_open(&agent, &good),
        "the signed file named mod\u{fffd}.py",
    );
    s.expect_refused(
        &agent,
        victim_open(&agent, &evil),
        &[&evil],
        "unsigned",
        "an unsigned file named evil\\xff\\xfe.py",
    );
    s.expect_refused(
        &agent,
        cat(&evil),
        &[&evil],
        "unsigned",
        "cat of an unsigned file named evil\\xff\\xfe.py",
    );
    s.expect_refused(
        &agent,
        victim_open(&agent, &copy),
        &[&copy],
        "tampered",
        "a copy of signed mod\u{fffd}.py (and its .sig) named mod\\xff.py",
    );
}

/// Directories below `base` with names of up to 200 bytes, so that
/// `base/<dirs>/<file_name>` is exactly `total` bytes long.
fn long_dirs(base: &Path, total: usize, file_name: &str) -> Vec<PathBuf> {
    let mut rest = total - base.as_os_str().len() - 1 - file_name.len();
    let mut dirs = Vec::new();
    let mut p = base.to_path_buf();
    let mut i = 0;
    while rest > 0 {
        // Each step adds "/" and a name; never leave a single byte over.
        let step = if rest > 256 { 200 } else { rest };
        let name = format!("{i:03}{}", "x".repeat(step - 4));
        p.push(name);
        dirs.push(p.clone());
        rest -= step;
        i += 1;
    }
    assert_eq!(
        p.join(file_name).as_os_str().len(),
        total,
        "{}",
        p.display()
    );
    dirs
}

/// A 4,000-byte path (PATH_MAX is 4,096, so it can still be named): the
/// agent must still answer, denying the unsigned file and allowing the
/// signed one.
fn path_of_4000_bytes(mode: Mode) {
    let s = Scene::new(mode);
    let signed = s.stash_signed(OsStr::new("good.py"), SIGNED);
    let agent = s.start();
    let dirs = long_dirs(&s.dir, 4000, "good.py");
    let deepest = dirs.last().unwrap();
    attack(r#"mkdir -p "$1""#, &[deepest.as_os_str()]);
    let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    agent.wait_marked(&refs);

    let good = deepest.join("good.py");
    let evil = deepest.join("evil.py");
    assert_eq!(good.as_os_str().len(), 4000);
    assert_eq!(evil.as_os_str().len(), 4000);
    plant(&signed, &good, &evil);

    expect_allowed(
        victim_open(&agent, &good),
        "a signed file at a 4,000-byte path",
    );
    expect_allowed(
        python_open(&good),
        "python open of a signed file at a 4,000-byte path",
    );
    s.expect_refused(
        &agent,
        victim_open(&agent, &evil),
        &[&evil],
        "unsigned",
        "an unsigned file at a 4,000-byte path",
    );
    s.expect_refused(
        &agent,
        python_open(&evil),
        &[&evil],
        "unsigned",
        "python open of an unsigned file at a 4,000-byte path",
    );
}

fn cstring(name: &OsStr) -> CString {
    CString::new(name.as_bytes()).unwrap_or_else(|e| panic!("NUL in a name: {e}"))
}

/// `openat(dir, name, flags)`.
fn openat(dir: &OwnedFd, name: &OsStr, flags: i32) -> Result<OwnedFd, i32> {
    let c = cstring(name);
    // SAFETY: `dir` is an open descriptor and `c` a NUL-terminated string.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(-1));
    }
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `base/names[0]/names[1]/...` step by step.
fn open_steps(base: &Path, names: &[OsString]) -> OwnedFd {
    let mut dir = OwnedFd::from(
        std::fs::File::open(base).unwrap_or_else(|e| panic!("open {}: {e}", base.display())),
    );
    for n in names {
        dir = openat(&dir, n, libc::O_RDONLY | libc::O_DIRECTORY)
            .unwrap_or_else(|e| panic!("openat {n:?}: errno {e}"));
    }
    dir
}

/// Waits until every directory `base/names[..=i]` carries a permission
/// mark of the agent (they cannot be named by path, so
/// [`Agent::wait_marked`] cannot be used).
fn wait_marked_steps(agent: &Agent, base: &Path, names: &[OsString]) {
    let wanted: Vec<(String, u64)> = (1..=names.len())
        .map(|i| {
            let fd = open_steps(base, &names[..i]);
            // SAFETY: an all-zero stat is a valid value to overwrite.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `fd` is open and `st` is writable.
            let rc = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
            assert_eq!(rc, 0, "fstat");
            (
                format!("level {i} of {} under {}", names.len(), base.display()),
                st.st_ino,
            )
        })
        .collect();
    agent.wait_marked_inodes(&wanted);
}

/// A path of about 5,000 bytes: no path syscall can name it, so both the
/// attacker and the victim get there with relative steps (`cd`, `openat`).
/// The agent cannot read such a path back from `/proc/self/fd` either, but
/// it must still refuse the unsigned file and record it.
fn path_longer_than_path_max(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let names: Vec<OsString> = (0..25)
        .map(|i| OsString::from(format!("{i:02}{}", "y".repeat(198))))
        .collect();
    let full_len = s.dir.as_os_str().len() + names.len() * 201 + "/evil.py".len();
    assert!(full_len > 5000, "{full_len}");
    let mut args: Vec<&OsStr> = vec![s.dir.as_os_str()];
    args.extend(names.iter().map(OsString::as_os_str));
    // dash's `cd` builds the whole path, so python takes the steps.
    let fin = run(
        &mut attacker_py(
            "import os, sys\n\
             os.chdir(sys.argv[1])\n\
             for n in sys.argv[2:]:\n\
             \x20   os.mkdir(n)\n\
             \x20   os.chdir(n)\n\
             with open('evil.py', 'w') as f:\n\
             \x20   f.write('EVIL = 1\\n')\n",
            &args,
        ),
        PROC_TIMEOUT,
    );
    assert!(
        fin.success(),
        "the attacker could not build the deep path:\n{fin}"
    );
    wait_marked_steps(&agent, &s.dir, &names);

    let o = agent.guard("opening a file deeper than PATH_MAX", || {
        let dir = open_steps(&s.dir, &names);
        match openat(&dir, OsStr::new("evil.py"), libc::O_RDONLY) {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Errno(e),
        }
    });
    let what = format!("an unsigned file at a {full_len}-byte path");
    eprintln!("agent status after the open:\n{}", s.status());
    s.expect_refused_outcome(o, &what);
    s.expect_record_where(
        &agent,
        "the file's path, or the agent's note that it cannot be read",
        |p| p.ends_with("evil.py") || p.starts_with("(path not readable"),
        "unsigned",
        &what,
    );
}

/// `mkdir -p` of 64 levels while the agent runs: every level is marked
/// (asynchronously), and the files at the bottom are checked.
fn tree_64_levels_deep(mode: Mode) {
    let s = Scene::new(mode);
    let signed = s.stash_signed(OsStr::new("good.py"), SIGNED);
    let agent = s.start();
    let mut dirs = Vec::new();
    let mut p = s.dir.clone();
    for i in 0..64 {
        p.push(format!("l{i:02}"));
        dirs.push(p.clone());
    }
    attack(r#"mkdir -p "$1""#, &[p.as_os_str()]);
    let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    agent.wait_marked(&refs);

    let good = p.join("good.py");
    let evil = p.join("evil.py");
    plant(&signed, &good, &evil);

    expect_allowed(victim_open(&agent, &good), "a signed file 64 levels deep");
    expect_allowed(
        python_open(&good),
        "python open of a signed file 64 levels deep",
    );
    s.expect_refused(
        &agent,
        victim_open(&agent, &evil),
        &[&evil],
        "unsigned",
        "an unsigned file 64 levels deep",
    );
    s.expect_refused(
        &agent,
        python_open(&evil),
        &[&evil],
        "unsigned",
        "python open of an unsigned file 64 levels deep",
    );
}
