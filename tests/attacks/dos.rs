//! Denial of service by the tree's writers: huge sparse files
//! (`truncate -s 100G`, no disk used) that the agent would have to read
//! whole.
//!
//! * A file with no signature at all, or with a native signature for
//!   another size, is refused without being read.
//! * Files whose signature gives no such shortcut (here 256 random bytes,
//!   which could be an RSA signature: only the content's SHA-256 can tell)
//!   must be hashed; while 64 of them are, a small signed file still opens
//!   at once, hashing stops when their openers are killed, and SIGTERM ends
//!   the agent within 2 s, the pending openers getting the fail-closed
//!   answer of the mode.
//! * Directories flooded with small files, each offered for verification
//!   ahead by one open: a small signed file still opens at once.
//! * A huge `*.py` planted in a signed AiSOC plugin directory is hashed
//!   with every member of the bundle: those verifications leave the lane
//!   of small files once they read more than it allows.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{attack, attacker_py, both_modes, victim_open, wait_for_line, Mode, Scene};
use crate::harness::{chmod, mkdirs, sig_path, sigward, write_file, Agent, Proc, PROC_TIMEOUT};
use crate::openers::{expect_allowed, python_open_detailed};

both_modes!(
    huge_unsigned_file_is_refused_unread,
    huge_file_with_a_native_signature_for_another_size_is_refused_unread,
    small_signed_file_opens_at_once_while_64_huge_files_are_hashed,
    huge_py_planted_in_a_signed_aisoc_plugin_delays_only_its_openers,
    directories_flooded_with_files_to_verify_ahead_delay_nobody,
);

/// 100 GiB: hashing it whole takes minutes.
const HUGE: &str = "100G";

/// How long the refusal of a huge file may take. The agent reads at most
/// 1 MiB of it (nothing, in fact); before, it read 100 GiB (minutes).
const REFUSED_WITHIN: Duration = Duration::from_secs(2);

/// Bounds on cold opens of a small signed file while 64 huge files are
/// being hashed (before, such an open waited behind the hashing: minutes).
/// Measured on 2 cores with the debug build: median 1.5 to 2.3 ms, worst
/// of 20 5 to 12 ms; with another engineer's build running beside (its
/// sessions take their share of the CPU whatever the agent's priorities),
/// median up to 72 ms, worst up to 257 ms. The median must stay within
/// the 100 ms the agent is held to, the worst within 1 s (10 times the
/// worst seen under load, rounded down); bench part 7 records the figures
/// of the release build.
const SMALL_OPEN_MEDIAN_WITHIN: Duration = Duration::from_millis(100);
const SMALL_OPEN_WORST_WITHIN: Duration = Duration::from_secs(1);

/// Held by the tests that load the machine with hashing while they time
/// a small file's opens: each measures the latency its own 100 GiB files
/// cause, and two of them at once (the test runner starts them side by
/// side) measured each other's floods as well: medians of 50 to 80 ms on
/// 2 cores instead of 1 to 5, close enough to the bound that a busy CI
/// host crossed it.
static HASHING_LOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until no other test loads the machine with hashing, and holds
/// [`HASHING_LOAD`] until the guard drops.
fn alone_with_the_hashing() -> std::sync::MutexGuard<'static, ()> {
    HASHING_LOAD.lock().unwrap_or_else(|p| p.into_inner())
}

/// SIGTERM must end the agent within 2 s whatever it is hashing (measured:
/// about 0.1 s).
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// The agent's CPU time (user + system) so far.
fn cpu_time(agent: &Agent) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{}/stat", agent.pid()))
        .unwrap_or_else(|e| panic!("reading the agent's stat: {e}"));
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 here.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// The CPU time of each of the agent's threads (for failure reports).
fn thread_cpu(agent: &Agent) -> String {
    let Ok(tasks) = fs::read_dir(format!("/proc/{}/task", agent.pid())) else {
        return String::new();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        let Ok(stat) = fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let comm = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(c, _)| c);
        let f: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if f.len() > 16 {
            out.push(format!(
                "{}: {} ticks, nice {}",
                comm.unwrap_or("?"),
                f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0),
                f[16]
            ));
        }
    }
    out.join("; ")
}

/// The attacker makes `plugins/att/NAME` a `HUGE` sparse file.
fn huge(s: &Scene, name: &str) -> PathBuf {
    let p = s.att(name);
    attack(
        r#"truncate -s "$2" "$1""#,
        &[p.as_os_str(), OsStr::new(HUGE)],
    );
    p
}

/// Opens `p` as python (which does not read it) and asserts the mode's
/// answer came within [`REFUSED_WITHIN`], and the record: `reason`, and no
/// `SIGWARD_SHA256` (the content was not read).
fn expect_refused_unread(s: &Scene, agent: &Agent, p: &Path, reason: &str, what: &str) {
    let cpu = cpu_time(agent);
    let t = Instant::now();
    let opened = python_open_detailed(p);
    let took = t.elapsed();
    eprintln!("{what}: answered in {took:?}");
    let rec = s.expect_refused(agent, opened.outcome, &[p], reason, what);
    assert!(
        took < REFUSED_WITHIN,
        "{what}: the open took {took:?} (at most {REFUSED_WITHIN:?}): the file was read"
    );
    assert_eq!(
        rec.get("SIGWARD_SHA256"),
        None,
        "{what}: a digest was computed, so the file was read: {rec:?}"
    );
    let spent = cpu_time(agent).saturating_sub(cpu);
    assert!(
        spent < Duration::from_millis(500),
        "{what}: the agent spent {spent:?} of CPU time on it"
    );
}

fn huge_unsigned_file_is_refused_unread(mode: Mode) {
    let s = Scene::new(mode);
    let small = s.signed("small.py", b"X = 'small'\n");
    let agent = s.start();
    let p = huge(&s, "huge.py");
    expect_refused_unread(&s, &agent, &p, "unsigned", "a 100 GiB unsigned file");
    // Again (a cached verdict, or refused unread again).
    expect_refused_unread(&s, &agent, &p, "unsigned", "the same file again");
    expect_allowed(
        victim_open(&agent, &small),
        "a small signed file afterwards",
    );
}

fn huge_file_with_a_native_signature_for_another_size_is_refused_unread(mode: Mode) {
    let s = Scene::new(mode);
    // The publisher's signed `big.bin`, which the attacker copies beside a
    // 100 GiB file of the same name: name, key and signature are genuine,
    // the size is not.
    let stash = s.stash_signed(OsStr::new("big.bin"), b"a small signed file\n");
    let agent = s.start();
    let p = huge(&s, "big.bin");
    attack(
        r#"cp "$1" "$2""#,
        &[sig_path(&stash).as_os_str(), sig_path(&p).as_os_str()],
    );
    expect_refused_unread(
        &s,
        &agent,
        &p,
        "tampered",
        "a 100 GiB file beside a native signature for 20 bytes",
    );
}

/// Opens every path at once, one thread each, and prints `OPENING` once
/// all threads are about to open, then `RES <ok|errno> <path>` for each
/// (the test kills it long before that, for huge files).
const OPEN_ALL_PY: &str = r#"
import os, sys, threading
paths = sys.argv[1:]
barrier = threading.Barrier(len(paths) + 1)
def go(p):
    barrier.wait()
    try:
        os.close(os.open(p, os.O_RDONLY | os.O_CLOEXEC))
        r = 'OK'
    except OSError as e:
        r = str(e.errno)
    print('RES %s %s' % (r, p), flush=True)
ts = [threading.Thread(target=go, args=(p,)) for p in paths]
for t in ts: t.start()
barrier.wait()
print('OPENING', flush=True)
for t in ts: t.join()
"#;

/// The attacker's process opening `paths` at once (see [`OPEN_ALL_PY`]),
/// once every thread is about to open.
fn open_all(paths: &[PathBuf]) -> Proc {
    let args: Vec<&OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
    let mut p = Proc::spawn(&mut attacker_py(OPEN_ALL_PY, &args));
    wait_for_line(&mut p, "OPENING");
    p
}

/// One cold open of `p` (its ctime changed first, so no verdict is cached
/// for it), timed.
fn cold_open(agent: &Agent, p: &Path, round: u32) -> Duration {
    let mode = if round.is_multiple_of(2) {
        0o664
    } else {
        0o644
    };
    chmod(p, mode);
    let t = Instant::now();
    expect_allowed(victim_open(agent, p), "the small signed file");
    t.elapsed()
}

fn small_signed_file_opens_at_once_while_64_huge_files_are_hashed(mode: Mode) {
    let _alone = alone_with_the_hashing();
    let s = Scene::new(mode);
    let small = s.signed("small.py", b"X = 'small'\n");
    let agent = s.start();
    // 64 huge files, each beside 256 random bytes: a possible RSA
    // signature, which only the content's SHA-256 can refute.
    let files: Vec<PathBuf> = (0..64).map(|i| s.att(&format!("h{i:02}.bin"))).collect();
    attack(
        r#"for p in "$@"; do truncate -s 100G "$p" && head -c 256 /dev/urandom > "$p.sig" || exit 1; done"#,
        &files.iter().map(|p| p.as_os_str()).collect::<Vec<_>>(),
    );

    // 1. A small signed file opens at once while they are hashed.
    let cpu0 = cpu_time(&agent);
    let mut openers = open_all(&files);
    thread::sleep(Duration::from_millis(300));
    expect_small_opens_fast(&s, &agent, &small, "64 huge files are hashed");
    let busy = cpu_time(&agent).saturating_sub(cpu0);
    assert!(
        !openers.has_exited(),
        "the huge files were answered already: {}",
        openers.stdout_so_far()
    );
    assert!(
        busy > Duration::from_millis(200),
        "the agent was not hashing the huge files (CPU {busy:?}): the test proves nothing"
    );

    // 2. Killed openers: nobody waits, the hashing stops.
    drop(openers);
    thread::sleep(Duration::from_millis(500));
    let cpu1 = cpu_time(&agent);
    thread::sleep(Duration::from_secs(2));
    let after = cpu_time(&agent).saturating_sub(cpu1);
    eprintln!("agent CPU in the 2 s after the openers were killed: {after:?}");
    assert!(
        after < Duration::from_millis(200),
        "the agent spent {after:?} of CPU in the 2 s after every opener was killed: it went \
         on hashing files nobody waits for"
    );
    expect_allowed(
        victim_open(&agent, &small),
        "the small signed file afterwards",
    );

    // 3. SIGTERM while 8 opens of huge files are pending: the agent exits
    //    within 2 s, and the openers get the fail-closed answer of the mode.
    let mut pending: Vec<Proc> = files[..8]
        .iter()
        .map(|f| {
            let mut p = Proc::spawn(&mut attacker_py(
                "import os,sys\nprint('BEGIN', flush=True)\n\
                 try:\n    os.close(os.open(sys.argv[1], os.O_RDONLY))\n    print('OK')\n\
                 except OSError as e:\n    print('ERRNO', e.errno)\n",
                &[f.as_os_str()],
            ));
            wait_for_line(&mut p, "BEGIN");
            p
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    assert!(
        pending.iter_mut().all(|p| !p.has_exited()),
        "an open of a huge file was answered before SIGTERM"
    );
    let mut agent = agent;
    let t = Instant::now();
    agent.signal(libc::SIGTERM);
    let status = agent.wait_exit(PROC_TIMEOUT);
    let took = t.elapsed();
    eprintln!("SIGTERM with 8 huge files being hashed: exited in {took:?}");
    assert_eq!(status.code(), Some(0), "{}", agent.stderr_text());
    assert!(
        took < STOP_WITHIN,
        "the agent took {took:?} to stop (at most {STOP_WITHIN:?})"
    );
    let want = match mode {
        Mode::Enforce => format!("ERRNO {}", libc::EPERM),
        Mode::Audit => "OK".to_string(),
    };
    for p in pending.drain(..) {
        let fin = p.wait(PROC_TIMEOUT);
        let last = fin.stdout.lines().last().unwrap_or("").trim().to_string();
        assert_eq!(last, want, "a pending opener at SIGTERM:\n{fin}");
    }
}

/// Times 20 cold opens of `small` and asserts the bounds of
/// [`small_signed_file_opens_at_once_while_64_huge_files_are_hashed`].
fn expect_small_opens_fast(s: &Scene, agent: &Agent, small: &Path, what: &str) {
    let mut times: Vec<Duration> = (0..20)
        .map(|round| {
            let t = cold_open(agent, small, round);
            thread::sleep(Duration::from_millis(20));
            t
        })
        .collect();
    times.sort();
    let (median, worst) = (times[times.len() / 2], times[times.len() - 1]);
    eprintln!("cold opens of a small signed file while {what}: median {median:?}, max {worst:?}");
    assert!(
        median < SMALL_OPEN_MEDIAN_WITHIN && worst < SMALL_OPEN_WORST_WITHIN,
        "cold opens of a small signed file while {what} took {times:?} (median at most \
         {SMALL_OPEN_MEDIAN_WITHIN:?}, worst at most {SMALL_OPEN_WORST_WITHIN:?}); agent \
         threads: {}; agent status: {}",
        thread_cpu(agent),
        s.status()
    );
}

fn huge_py_planted_in_a_signed_aisoc_plugin_delays_only_its_openers(mode: Mode) {
    let _alone = alone_with_the_hashing();
    let s = Scene::new(mode);
    let small = s.signed("small.py", b"X = 'small'\n");
    // A signed AiSOC plugin in the attacker's directory (its deployment
    // user's), signed by the publisher: plugin.sig over the manifest and
    // every *.py.
    let plug = s.att("plug");
    mkdirs(&plug);
    write_file(&plug.join("plugin.yaml"), b"name: plug\nversion: 1.0.0\n");
    let members: Vec<PathBuf> = (0..8)
        .map(|i| {
            let p = plug.join(format!("m{i}.py"));
            write_file(&p, format!("M = {i}\n").as_bytes());
            p
        })
        .collect();
    let fin = sigward([
        OsStr::new("sign"),
        OsStr::new("--key"),
        s.fx.key.as_os_str(),
        OsStr::new("--bundle"),
        plug.as_os_str(),
    ]);
    assert!(fin.success(), "signing the plugin: {fin}");
    crate::common::chown_to_attacker(&plug);
    for entry in fs::read_dir(&plug).unwrap() {
        crate::common::chown_to_attacker(&entry.unwrap().path());
    }
    let agent = s.start();
    expect_allowed(
        victim_open(&agent, &members[0]),
        "a member of the signed plugin",
    );

    // The attacker plants a 100 GiB zz.py: every verification of a member
    // now hashes it (the bundle covers every *.py). The members' verdicts,
    // made before (at their first opens, or ahead of them once a member
    // was verified: agent.verify_ahead), rest on their own content; the
    // attacker changes their ctime so that they are verified again.
    let zz = plug.join("zz.py");
    let mut args = vec![zz.as_os_str()];
    args.extend(members.iter().map(|m| m.as_os_str()));
    attack(
        r#"truncate -s 100G "$1" && shift && chmod 0644 "$@""#,
        &args,
    );
    let openers = open_all(&members[1..]);
    thread::sleep(Duration::from_millis(500));
    expect_small_opens_fast(
        &s,
        &agent,
        &small,
        "7 members of a plugin holding a 100 GiB *.py are verified",
    );

    // SIGTERM: the agent exits within 2 s, the members' openers get the
    // fail-closed answer of the mode.
    let mut openers = openers;
    assert!(!openers.has_exited(), "{}", openers.stdout_so_far());
    let mut agent = agent;
    let t = Instant::now();
    agent.signal(libc::SIGTERM);
    let status = agent.wait_exit(PROC_TIMEOUT);
    let took = t.elapsed();
    eprintln!("SIGTERM while a plugin holding a 100 GiB *.py was verified: exited in {took:?}");
    assert_eq!(status.code(), Some(0), "{}", agent.stderr_text());
    assert!(
        took < STOP_WITHIN,
        "the agent took {took:?} to stop (at most {STOP_WITHIN:?})"
    );
    let fin = openers.wait(PROC_TIMEOUT);
    let want = match mode {
        Mode::Enforce => libc::EPERM.to_string(),
        Mode::Audit => "OK".to_string(),
    };
    let results: Vec<&str> = fin
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RES "))
        .collect();
    assert_eq!(results.len(), 7, "one result per member:\n{fin}");
    for r in results {
        assert!(
            r.starts_with(&format!("{want} ")),
            "a member's open at SIGTERM: {r}\n{fin}"
        );
    }
}

fn directories_flooded_with_files_to_verify_ahead_delay_nobody(mode: Mode) {
    let _alone = alone_with_the_hashing();
    let s = Scene::new(mode);
    let small = s.signed("small.py", b"X = 'small'\n");
    // 8 directories of 2,000 small files each, made before the agent
    // starts; one open in each (refused or, in audit mode, allowed after
    // its verification) offers the rest of the directory for verification
    // ahead: up to 8 x 1,024 files.
    let dirs: Vec<PathBuf> = (0..8).map(|i| s.att(&format!("flood{i}"))).collect();
    let args: Vec<&OsStr> = dirs.iter().map(|d| d.as_os_str()).collect();
    attack(
        r#"for d in "$@"; do mkdir "$d" && cd "$d" && for i in $(seq 1000 2999); do echo "X = $i" > "f$i.py"; done && cd / || exit 1; done"#,
        &args,
    );
    let agent = s.start();
    let fin = crate::harness::run(
        &mut attacker_py(
            "import sys\nfor d in sys.argv[1:]:\n    try:\n        open(d + '/f1000.py').close()\n    except OSError:\n        pass\n",
            &args,
        ),
        PROC_TIMEOUT,
    );
    assert!(fin.success(), "{fin}");
    crate::harness::wait_until("verification ahead under way", PROC_TIMEOUT, || {
        ahead_count(&s) > 0
    });
    expect_small_opens_fast(
        &s,
        &agent,
        &small,
        "directories of 2,000 files each are verified ahead",
    );
}

/// `verifications.ahead` of the scene's agent.
fn ahead_count(s: &Scene) -> u64 {
    let fin = crate::harness::status(&s.control_socket(), Some("--json"));
    serde_json::from_str::<serde_json::Value>(fin.stdout.trim())
        .ok()
        .and_then(|v| v["verifications"]["ahead"].as_u64())
        .unwrap_or(0)
}
