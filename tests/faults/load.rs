//! Load: 8 processes open 10,000 distinct files (half signed, half
//! unsigned, in 100 directories) in a loop while the policy is reloaded every
//! second. Every open's result is checked (zero wrong verdicts), every open
//! is bounded (zero unanswered events), and the agent's RSS and descriptor
//! count are printed as the test runs and must stay flat.
//!
//! Half of the signed files are group-writable: the agent never hands those
//! to the kernel, so each of their opens reaches it (the userspace cache).
//! The others are root's and read-only, so the kernel answers them itself
//! after one verification, until the next reload takes those verdicts away.
//!
//! The duration is `SIGWARD_LOAD_SECS` (default 15 s in the test suite);
//! `tests/load.sh` runs this test alone for 60 s.
//!
//! The openers ([`Openers`]) are shared with the fault tests.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{allow_untrusted_writers, n, start, status_json};
use crate::harness::{chmod, mkdirs, path_str, sig_path, sigward, write_file, Fixture, Proc, MIB};
use crate::harness::{fd_count, settled_fd_count};
use crate::openers::python_cmd;

/// An open blocked this long means an event the agent did not answer.
pub(crate) const HANG: Duration = Duration::from_secs(20);

/// The opener: opens the files of a manifest (`S path` for a signed file,
/// `U path` for an unsigned one) in a shuffled loop, in-process, for a
/// duration or until a stop file exists. With `check`, a signed file must
/// open and an unsigned one must fail with EPERM; every other result is
/// reported as `WRONG`. A second thread prints
/// `TICK opens ok eperm other wrong blocked_ms max_ms` twice a second,
/// where `blocked_ms` is how long the open in progress has been waiting (0
/// when none is), so that a hung open is visible while it hangs. At the end:
/// `DONE opens ok eperm other wrong max_ms`.
const OPENER_PY: &str = r#"
import os, sys, time, random, threading, errno
manifest, secs, stop_file, check, seed = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4] == 'check', int(sys.argv[5])
entries = []
with open(manifest) as f:
    for line in f:
        kind, path = line.rstrip('\n').split(' ', 1)
        entries.append((path, kind == 'S'))
st = {'opens': 0, 'ok': 0, 'eperm': 0, 'other': 0, 'wrong': 0, 'since': 0.0, 'max': 0.0}
out = threading.Lock()
def say(text):
    with out:
        sys.stdout.write(text + '\n')
        sys.stdout.flush()
def line(tag):
    since = st['since']
    blocked = (time.monotonic() - since) if since else 0.0
    return '%s %d %d %d %d %d %d %d' % (tag, st['opens'], st['ok'], st['eperm'], st['other'],
        st['wrong'], int(blocked * 1000), int(st['max'] * 1000))
def ticker():
    while True:
        time.sleep(0.5)
        say(line('TICK'))
threading.Thread(target=ticker, daemon=True).start()
say('BEGIN %d' % os.getpid())
rng = random.Random(seed)
order = list(range(len(entries)))
deadline = time.monotonic() + secs
done = False
while not done:
    rng.shuffle(order)
    for n, i in enumerate(order):
        if time.monotonic() >= deadline or (stop_file and n % 64 == 0 and os.path.exists(stop_file)):
            done = True
            break
        path, signed = entries[i]
        t0 = time.monotonic()
        st['since'] = t0
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            os.close(fd)
            res = 0
        except OSError as e:
            res = e.errno
        took = time.monotonic() - t0
        st['since'] = 0.0
        if took > st['max']:
            st['max'] = took
        st['opens'] += 1
        if res == 0:
            st['ok'] += 1
        elif res == errno.EPERM:
            st['eperm'] += 1
        else:
            st['other'] += 1
        if check and res != (0 if signed else errno.EPERM):
            st['wrong'] += 1
            if st['wrong'] <= 20:
                say('WRONG %s expected %s got %s' % (path, 'allowed' if signed else 'EPERM',
                    'allowed' if res == 0 else errno.errorcode.get(res, res)))
say(line('DONE'))
"#;

/// What an opener reported in its last `TICK` or `DONE` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub opens: u64,
    pub ok: u64,
    pub eperm: u64,
    pub other: u64,
    pub wrong: u64,
    /// How long the open in progress has waited (TICK only).
    pub blocked_ms: u64,
    /// The longest open so far.
    pub max_ms: u64,
}

impl Counts {
    fn parse(rest: &str) -> Option<Counts> {
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        match v.as_slice() {
            [opens, ok, eperm, other, wrong, blocked_ms, max_ms] => Some(Counts {
                opens: *opens,
                ok: *ok,
                eperm: *eperm,
                other: *other,
                wrong: *wrong,
                blocked_ms: *blocked_ms,
                max_ms: *max_ms,
            }),
            _ => None,
        }
    }

    fn add(&mut self, o: &Counts) {
        self.opens += o.opens;
        self.ok += o.ok;
        self.eperm += o.eperm;
        self.other += o.other;
        self.wrong += o.wrong;
        self.blocked_ms = self.blocked_ms.max(o.blocked_ms);
        self.max_ms = self.max_ms.max(o.max_ms);
    }
}

/// The last line of `out` starting with `tag `, parsed.
fn last_counts(out: &str, tag: &str) -> Option<Counts> {
    let prefix = format!("{tag} ");
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(Counts::parse)
}

/// Writes a manifest for [`Openers`]: `S path` / `U path` lines.
pub(crate) fn write_manifest(path: &Path, signed: &[PathBuf], unsigned: &[PathBuf]) {
    let mut text = String::new();
    for (kind, list) in [("S", signed), ("U", unsigned)] {
        for p in list {
            text.push_str(&format!("{kind} {}\n", path_str(p)));
        }
    }
    write_file(path, text.as_bytes());
}

/// Opener processes running [`OPENER_PY`] over one manifest.
pub(crate) struct Openers {
    procs: Vec<Proc>,
}

impl Openers {
    /// Starts `count` openers over `manifest` for `secs` seconds (or until
    /// `stop_file` exists), checking verdicts when `check`, and waits until
    /// each has printed `BEGIN`.
    pub(crate) fn start(
        count: usize,
        manifest: &Path,
        secs: f64,
        stop_file: Option<&Path>,
        check: bool,
    ) -> Openers {
        let manifest = path_str(manifest);
        let secs = secs.to_string();
        let stop = stop_file.map(path_str).unwrap_or_default();
        let procs: Vec<Proc> = (0..count)
            .map(|i| {
                let seed = (i + 1).to_string();
                Proc::spawn(&mut python_cmd(
                    OPENER_PY,
                    &[
                        &manifest,
                        &secs,
                        &stop,
                        if check { "check" } else { "count" },
                        &seed,
                    ],
                ))
            })
            .collect();
        let openers = Openers { procs };
        let start = Instant::now();
        while !openers
            .procs
            .iter()
            .all(|p| p.stdout_so_far().contains("BEGIN"))
        {
            if start.elapsed() > HANG {
                panic!(
                    "openers did not start within {HANG:?}:\n{}",
                    openers.describe()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        openers
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }

    /// The latest TICK of every opener (default counts before the first).
    pub(crate) fn ticks(&self) -> Vec<Counts> {
        self.procs
            .iter()
            .map(|p| last_counts(&p.stdout_so_far(), "TICK").unwrap_or_default())
            .collect()
    }

    /// The sum of the latest TICKs (`blocked_ms` and `max_ms`: the largest).
    pub(crate) fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.ticks() {
            t.add(&c);
        }
        t
    }

    /// An opener that exited early (a crash: the loop never ends early by
    /// itself before its deadline or stop file).
    pub(crate) fn exited_early(&mut self) -> Option<String> {
        for p in &mut self.procs {
            if p.has_exited() && !p.stdout_so_far().contains("DONE") {
                return Some(format!(
                    "opener pid {} exited without DONE:\nstdout: {}\nstderr: {}",
                    p.pid(),
                    p.stdout_so_far(),
                    p.stderr_so_far()
                ));
            }
        }
        None
    }

    pub(crate) fn all_exited(&mut self) -> bool {
        self.procs.iter_mut().all(Proc::has_exited)
    }

    /// Every opener's output so far.
    pub(crate) fn describe(&self) -> String {
        self.procs
            .iter()
            .map(|p| {
                let out = p.stdout_so_far();
                let tail: Vec<&str> = out.lines().rev().take(3).collect();
                format!(
                    "opener pid {}: last lines {:?}; WRONG lines: {:?}; stderr: {}",
                    p.pid(),
                    tail,
                    out.lines()
                        .filter(|l| l.starts_with("WRONG"))
                        .collect::<Vec<_>>(),
                    p.stderr_so_far()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (up to `timeout` for all of them) for every opener to exit 0
    /// with a `DONE` line, and returns the sum of those lines. Fails the
    /// test if one does not finish in time (it is then killed): an opener
    /// stuck in `open` means an event nobody answered.
    pub(crate) fn finish(self, timeout: Duration) -> Counts {
        let deadline = Instant::now() + timeout;
        let mut total = Counts::default();
        for mut p in self.procs {
            let left = deadline.saturating_duration_since(Instant::now());
            let fin = p
                .finish(left.max(Duration::from_millis(100)))
                .unwrap_or_else(|e| panic!("an opener did not finish: {e}"));
            let done = last_counts(&fin.stdout, "DONE")
                .unwrap_or_else(|| panic!("opener printed no DONE line:\n{fin}"));
            assert!(fin.success(), "opener failed:\n{fin}");
            let wrong: Vec<&str> = fin
                .stdout
                .lines()
                .filter(|l| l.starts_with("WRONG"))
                .collect();
            if !wrong.is_empty() {
                eprintln!("opener pid {}:\n{}", fin.pid, wrong.join("\n"));
            }
            total.add(&done);
        }
        total
    }
}

/// Resident set size of `pid`, in KiB (`VmRSS`).
pub(crate) fn rss_kib(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status:\n{status}"))
}

/// The sum of the agent's verdict counters.
pub(crate) fn verdicts_total(v: &Value) -> u64 {
    ["allow", "deny", "would-deny"]
        .iter()
        .map(|d| n(v, &["verdicts", d]))
        .sum()
}

/// Waits until the agent has answered every event it read (`events` equals
/// the sum of the verdicts and nothing is queued for the workers), and
/// returns that status.
pub(crate) fn wait_all_answered(socket: &Path, what: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = status_json(socket);
        let (events, verdicts, depth) = (
            n(&v, &["events"]),
            verdicts_total(&v),
            n(&v, &["queue", "depth"]),
        );
        if events == verdicts && depth == 0 {
            return v;
        }
        if start.elapsed() > HANG {
            panic!(
                "{what}: the agent read {events} permission events but gave {verdicts} verdicts \
                 (queue depth {depth}) {HANG:?} after the load stopped: events went \
                 unanswered\n{v:#}"
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// A tree of `dirs` directories with `per_dir` files each under `root`:
/// half signed (by the fixture key), half unsigned; of the signed ones,
/// every other one group-writable. The signed files are signed in a staging
/// directory on /dev/shm (signing fsyncs each signature, which is slow on a
/// disk), then written in with their signatures. Returns (signed, unsigned).
pub(crate) fn make_tree(
    fx: &Fixture,
    root: &Path,
    dirs: usize,
    per_dir: usize,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let shm = Path::new("/dev/shm");
    let staging = tempfile::Builder::new()
        .prefix("sigward-e2e-load-")
        .tempdir_in(if shm.is_dir() { shm } else { &fx.root })
        .unwrap_or_else(|e| panic!("staging tempdir: {e}"));
    let mut files = Vec::new();
    for d in 0..dirs {
        let rel_dir = PathBuf::from(format!("d{d:03}"));
        mkdirs(&root.join(&rel_dir));
        for i in 0..per_dir {
            let signed = i % 2 == 0;
            let rel = rel_dir.join(format!(
                "{}{i:03}.py",
                if signed { "signed_" } else { "unsigned_" }
            ));
            let contents = format!("X = 'load d{d} f{i}'\n");
            if signed {
                let staged = staging.path().join(&rel);
                if i == 0 {
                    mkdirs(&staging.path().join(&rel_dir));
                }
                fs::write(&staged, &contents)
                    .unwrap_or_else(|e| panic!("write {}: {e}", staged.display()));
            }
            files.push((rel, contents, signed));
        }
    }
    let staged: Vec<PathBuf> = files
        .iter()
        .filter(|(_, _, signed)| *signed)
        .map(|(rel, _, _)| staging.path().join(rel))
        .collect();
    for chunk in staged.chunks(1000) {
        let mut args = vec![OsStr::new("sign"), OsStr::new("--key"), fx.key.as_os_str()];
        args.extend(chunk.iter().map(|p| p.as_os_str()));
        sigward(args).assert_success();
    }
    let (mut signed, mut unsigned) = (Vec::new(), Vec::new());
    for (rel, contents, is_signed) in files {
        let to = root.join(&rel);
        // Files are created 0644 (root's umask 022); every other signed
        // one is made group-writable.
        write_file(&to, contents.as_bytes());
        if is_signed {
            let sig = sig_path(&staging.path().join(&rel));
            let bytes = fs::read(&sig).unwrap_or_else(|e| panic!("read {}: {e}", sig.display()));
            write_file(&sig_path(&to), &bytes);
            if signed.len() % 2 == 0 {
                chmod(&to, 0o664);
            }
            signed.push(to);
        } else {
            unsigned.push(to);
        }
    }
    (signed, unsigned)
}

fn load_secs() -> u64 {
    match std::env::var("SIGWARD_LOAD_SECS") {
        Ok(s) => s
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("SIGWARD_LOAD_SECS={s:?} is not a positive number")),
        Err(_) => 15,
    }
}

#[test]
fn eight_openers_on_ten_thousand_files_with_reloads_every_second() {
    const OPENERS: usize = 8;
    const DIRS: usize = 100;
    const PER_DIR: usize = 100;
    let secs = load_secs();
    let fx = Fixture::new();
    let setup = Instant::now();
    let (signed, unsigned) = make_tree(&fx, &fx.plugins, DIRS, PER_DIR);
    assert_eq!(signed.len() + unsigned.len(), DIRS * PER_DIR);
    let manifest = fx.root.join("manifest.txt");
    write_manifest(&manifest, &signed, &unsigned);
    // One audit record per path: 5,000 denied paths stay a few MB of log.
    fx.write_policy(&format!(
        "{}\n[audit]\nrate_limit_burst = 1\nrate_limit_interval = 3600\n",
        allow_untrusted_writers(&fx.policy_text("enforce", &[(&fx.plugins, None)]))
    ));
    eprintln!(
        "load: {} signed and {} unsigned files in {DIRS} directories made in {:?}; running \
         {OPENERS} openers for {secs} s with a reload every second",
        signed.len(),
        unsigned.len(),
        setup.elapsed()
    );

    let (mut agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    let pid = agent.pid();
    let fds_before = fd_count(pid);
    let rss_before = rss_kib(pid);
    let generation_before = n(&status_json(&socket), &["policy", "generation"]);

    let every = Duration::from_secs(secs)
        .div_f64(6.0)
        .min(Duration::from_secs(10));
    let mut openers = Openers::start(OPENERS, &manifest, secs as f64, None, true);
    let started = Instant::now();
    let mut next_sample = started + every;
    let mut next_reload = started + Duration::from_secs(1);
    let mut reloads = 0u64;
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    let mut max_fds = fds_before;
    eprintln!("load: agent pid {pid}: before the load RSS {rss_before} KiB, {fds_before} fds");
    while !openers.all_exited() {
        if let Some(crash) = openers.exited_early() {
            panic!("{crash}");
        }
        let total = openers.total();
        if total.blocked_ms > HANG.as_millis() as u64 {
            let states = agent.thread_states().join("\n");
            agent.signal(libc::SIGKILL);
            panic!(
                "an open has been waiting {} ms for the agent's answer (agent threads:\n{states})\
                 \n{}",
                total.blocked_ms,
                openers.describe()
            );
        }
        let now = Instant::now();
        if now >= next_reload && now < started + Duration::from_secs(secs) {
            let fin = sigward([
                OsStr::new("reload"),
                OsStr::new("--control-socket"),
                socket.as_os_str(),
                OsStr::new("--timeout"),
                OsStr::new("30"),
            ]);
            assert!(fin.success(), "reload {} failed:\n{fin}", reloads + 1);
            reloads += 1;
            next_reload += Duration::from_secs(1);
        }
        let fds = fd_count(pid);
        max_fds = max_fds.max(fds);
        if Instant::now() >= next_sample {
            let rss = rss_kib(pid);
            let t = started.elapsed();
            eprintln!(
                "load: t={:>5.1}s  RSS {rss:>7} KiB  fds {fds:>4}  opens {:>8}  wrong {}  \
                 reloads {reloads}  longest open {} ms",
                t.as_secs_f64(),
                total.opens,
                total.wrong,
                total.max_ms
            );
            samples.push((t, rss, fds));
            next_sample += every;
        }
        agent.assert_alive("under load");
        thread::sleep(Duration::from_millis(20));
    }
    let total = openers.finish(HANG);
    eprintln!(
        "load: {} opens in {:?} ({} allowed, {} EPERM, {} other), {} wrong; {reloads} reloads; \
         longest open {} ms",
        total.opens,
        started.elapsed(),
        total.ok,
        total.eperm,
        total.other,
        total.wrong,
        total.max_ms
    );
    assert_eq!(total.wrong, 0, "wrong verdicts under load (see above)");
    assert_eq!(total.other, 0, "opens failed with another errno");
    assert!(
        total.opens >= 100 * OPENERS as u64 && reloads > 0,
        "only {} opens and {reloads} reloads in {secs} s: not a load",
        total.opens
    );

    // Zero unanswered events: every event read got exactly one verdict.
    let v = wait_all_answered(&socket, "after the load");
    assert_eq!(
        n(&v, &["policy", "generation"]),
        generation_before + reloads,
        "generation after {reloads} reloads: {v:#}"
    );
    assert_eq!(n(&v, &["reloads", "ok"]), reloads, "{v:#}");
    eprintln!(
        "load: agent counted {} events, {} verdicts ({} allow, {} deny), {} kernel marks placed, \
         {} audit records dropped",
        n(&v, &["events"]),
        verdicts_total(&v),
        n(&v, &["verdicts", "allow"]),
        n(&v, &["verdicts", "deny"]),
        n(&v, &["kernel_cache", "placed"]),
        n(&v, &["audit", "dropped"])
    );

    // Flat: descriptors back to where they were, memory bounded.
    let fds_after = settled_fd_count(pid, fds_before);
    let rss_after = rss_kib(pid);
    eprintln!(
        "load: after the load RSS {rss_after} KiB, {fds_after} fds (before: {rss_before} KiB, \
         {fds_before} fds; at most {max_fds} fds during the load)"
    );
    assert!(
        fds_after <= fds_before + 4,
        "the agent's descriptors grew from {fds_before} to {fds_after} over the load"
    );
    assert!(
        max_fds <= fds_before + 64,
        "the agent held {max_fds} descriptors during the load (baseline {fds_before})"
    );
    // Memory after warm-up (the first sample: every cache is full by then)
    // may not keep growing.
    let warm = samples
        .first()
        .map_or(rss_before, |&(_, rss, _)| rss)
        .max(rss_before);
    let grown = rss_after.saturating_sub(warm);
    assert!(
        grown < 32 * MIB / 1024,
        "the agent's RSS grew by {grown} KiB after warm-up ({warm} -> {rss_after} KiB); \
         samples (t, RSS KiB, fds): {samples:?}"
    );
    agent.assert_alive("after the load");
}
