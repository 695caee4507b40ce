//! Races: a plugin opened over and over while the attacker rewrites it (in
//! place, or by renaming new files over it), and 64 processes opening the
//! same file at once.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{attacker_py, both_modes, victim_read, wait_for_line, Mode, Scene};
use crate::harness::{sig_path, Agent, Proc, PROC_TIMEOUT};
use crate::openers::{cat_outcome, expect_allowed, Outcome};

both_modes!(
    open_while_rewritten_in_place,
    open_while_replaced_by_rename,
    sixty_four_processes_at_once,
);

/// How long the attacker rewrites while the victim opens.
const RACE: Duration = Duration::from_secs(3);

const SIGNED: &[u8] = b"VALUE = 'signed'  # a plugin of a few dozen bytes\n";
/// Same size as [`SIGNED`].
const FORGED: &[u8] = b"VALUE = 'forged'  # a plugin of a few dozen bytes\n";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the victim saw in the race.
#[derive(Default, Debug)]
struct Tally {
    /// Opens that succeeded and read the signed content.
    signed: usize,
    /// Opens refused with EPERM.
    denied: usize,
    /// Opens that succeeded but read the forged content.
    forged: usize,
    /// Opens that succeeded but read something else (a torn write).
    torn: usize,
    /// Other errors.
    other: Vec<Outcome>,
}

/// Opens `p` and reads it whole, over and over, while `attacker` runs
/// (after it printed READY) and at most [`RACE`] plus a margin.
fn victim_loop(agent: &Agent, attacker: &mut Proc, p: &Path) -> Tally {
    wait_for_line(attacker, "READY");
    let mut t = Tally::default();
    let start = Instant::now();
    while !attacker.has_exited() && start.elapsed() < RACE + Duration::from_secs(5) {
        match victim_read(agent, p) {
            Ok(b) if b == SIGNED => t.signed += 1,
            Ok(b) if b == FORGED => t.forged += 1,
            Ok(_) => t.torn += 1,
            Err(Outcome::Errno(libc::EPERM)) => t.denied += 1,
            // The name is briefly missing in no case here (rename is
            // atomic), but keep whatever else happens for the report.
            Err(o) => t.other.push(o),
        }
    }
    t
}

/// Runs the attacker's python `script` (arguments: the plugin `p`,
/// [`SIGNED`] and [`FORGED`] in hex, and [`RACE`] in seconds) against
/// [`victim_loop`]; the attacker must succeed. Returns what the victim saw
/// and what the attacker reported (its stdout on one line).
fn race(agent: &Agent, p: &Path, script: &str) -> (Tally, String) {
    let mut attacker = Proc::spawn(&mut attacker_py(
        script,
        &[
            p.as_os_str(),
            hex(SIGNED).as_ref(),
            hex(FORGED).as_ref(),
            RACE.as_secs_f64().to_string().as_ref(),
        ],
    ));
    let t = victim_loop(agent, &mut attacker, p);
    let fin = attacker.wait(PROC_TIMEOUT);
    assert!(fin.success(), "the attacker failed:\n{fin}");
    (t, fin.stdout.trim().replace('\n', ", "))
}

fn judge(s: &Scene, agent: &Agent, p: &Path, t: &Tally, what: &str) {
    eprintln!("{what}: {t:?}");
    assert!(t.other.is_empty(), "{what}: unexpected errors: {t:?}");
    match s.mode {
        Mode::Enforce => {
            assert!(
                t.forged == 0 && t.torn == 0,
                "{what}: opens that the agent allowed read content that is not the signed \
                 content: {t:?}\nagent status:\n{}",
                s.status()
            );
        }
        Mode::Audit => {
            assert_eq!(t.denied, 0, "{what}: audit mode denied opens: {t:?}");
            s.expect_record(agent, &[p], "tampered", what);
        }
    }
    // Afterwards the plugin is intact again, and allowed.
    expect_allowed(
        match victim_read(agent, p) {
            Ok(b) if b == SIGNED => Outcome::Ok,
            Ok(b) => panic!("the plugin is not intact after the race: {b:?}"),
            Err(o) => o,
        },
        &format!("the intact plugin after {what}"),
    );
}

/// The attacker holds the plugin open for writing (opened while intact,
/// so allowed) and rewrites it in place, forged then signed, as fast as it
/// can; the victim must never get the forged bytes.
fn open_while_rewritten_in_place(mode: Mode) {
    let s = Scene::new(mode);
    let p = s.signed("mod.py", SIGNED);
    let agent = s.start();
    let (t, report) = race(
        &agent,
        &p,
        "import os, sys, time\n\
         path, good, bad = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])\n\
         fd = os.open(path, os.O_WRONLY)\n\
         print('READY', flush=True)\n\
         end = time.monotonic() + float(sys.argv[4])\n\
         n = 0\n\
         while time.monotonic() < end:\n\
         \x20   os.pwrite(fd, bad, 0)\n\
         \x20   os.pwrite(fd, good, 0)\n\
         \x20   n += 1\n\
         print('REWRITES', n, flush=True)\n",
    );
    judge(
        &s,
        &agent,
        &p,
        &t,
        &format!("opening a plugin rewritten in place ({report})"),
    );
}

/// The attacker writes a new file (forged, then signed content) beside the
/// plugin and renames it over the plugin, in a loop; the signature stays.
/// Every inode the victim can open has fixed content, so this races the
/// agent's verdict cache (inode numbers are reused quickly) rather than
/// the content.
fn open_while_replaced_by_rename(mode: Mode) {
    let s = Scene::new(mode);
    let p = s.signed("mod.py", SIGNED);
    let agent = s.start();
    let (t, report) = race(
        &agent,
        &p,
        "import os, sys, time\n\
         path, good, bad = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])\n\
         tmp = os.path.join(os.path.dirname(path), '.swap')\n\
         print('READY', flush=True)\n\
         end = time.monotonic() + float(sys.argv[4])\n\
         n = 0\n\
         while time.monotonic() < end:\n\
         \x20   for content in (bad, good):\n\
         \x20       fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)\n\
         \x20       os.write(fd, content)\n\
         \x20       os.close(fd)\n\
         \x20       os.rename(tmp, path)\n\
         \x20   n += 1\n\
         print('SWAPS', n, flush=True)\n",
    );
    assert!(sig_path(&p).exists());
    judge(
        &s,
        &agent,
        &p,
        &t,
        &format!("opening a plugin replaced by rename ({report})"),
    );
}

/// Processes blocked in a read of a pipe (the start gate).
fn blocked_in_pipe_read(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.contains("pipe"))
}

/// 64 `cat`s of an unsigned plugin and 64 of a signed one, all released at
/// the same moment by a start gate (a FIFO each of them reads one byte
/// from).
fn sixty_four_processes_at_once(mode: Mode) {
    const N: usize = 64;
    let s = Scene::new(mode);
    let good = s.signed("good.py", SIGNED);
    let evil = s.fx.write_unsigned("att/evil.py", FORGED);
    crate::common::chown_to_attacker(&evil);
    let mut agent = s.start();

    let gate = s.fx.root.join("gate");
    let fin = crate::harness::run(Command::new("mkfifo").arg(&gate), PROC_TIMEOUT);
    assert!(fin.success(), "mkfifo:\n{fin}");
    // Read-write: opening never blocks, and the FIFO always has a writer,
    // so that no reader blocks in open().
    let mut keeper = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&gate)
        .unwrap();
    let spawn = |file: &Path| {
        Proc::spawn_quiet(
            Command::new("/bin/sh")
                .arg("-c")
                .arg(r#"read x < "$0"; exec cat "$1""#)
                .arg(&gate)
                .arg(file),
        )
    };
    let evils: Vec<Proc> = (0..N).map(|_| spawn(&evil)).collect();
    let goods: Vec<Proc> = (0..N).map(|_| spawn(&good)).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !evils
        .iter()
        .chain(goods.iter())
        .all(|p| blocked_in_pipe_read(p.pid()))
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(5));
    }
    let blocked = evils
        .iter()
        .chain(goods.iter())
        .filter(|p| blocked_in_pipe_read(p.pid()))
        .count();
    eprintln!("{blocked} of {} openers waiting at the gate", 2 * N);
    // One byte each: all of them go at once.
    keeper.write_all(&[b'\n'; 2 * N]).unwrap();

    let mut evil_outcomes = Vec::new();
    for p in evils {
        evil_outcomes.push(cat_outcome(&p.wait(PROC_TIMEOUT)));
    }
    let mut good_outcomes = Vec::new();
    for p in goods {
        good_outcomes.push(cat_outcome(&p.wait(PROC_TIMEOUT)));
    }
    drop(keeper);

    assert!(
        good_outcomes.iter().all(|o| *o == Outcome::Ok),
        "{N} concurrent opens of the signed plugin: {good_outcomes:?}"
    );
    let want = match mode {
        Mode::Enforce => Outcome::Errno(libc::EPERM),
        Mode::Audit => Outcome::Ok,
    };
    assert!(
        evil_outcomes.iter().all(|o| *o == want),
        "{N} concurrent opens of the unsigned plugin must all be {want:?}: {evil_outcomes:?}"
    );
    s.expect_record(
        &agent,
        &[&evil],
        "unsigned",
        "64 concurrent opens of an unsigned plugin",
    );
    agent.assert_alive("after 128 concurrent opens");
}
