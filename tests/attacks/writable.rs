//! Content that changes after the check: files a user other than the
//! trusted owners can write.
//!
//! * In a tree with the default `untrusted_writers = "refuse"`, whatever
//!   the attacker can change (its own files, signed copies included, and
//!   root's files in a directory it can write) is refused as `writable`,
//!   without being read.
//! * In a tree that allows untrusted writers (the rest of the suite's
//!   premise), an empty file cannot be filled under an opener (it is
//!   refused while another process holds it open for writing, and an open
//!   for writing is refused while another process has it open), and a
//!   signed library cannot be rewritten in place while a process has it
//!   loaded.

use std::ffi::OsStr;
use std::process::Command;

use crate::common::{attack, attacker_py, both_modes, victim_open, wait_for_line, Mode, Scene};
use crate::harness::{chmod, run, sig_path, status_json, write_file, Proc, Record, PROC_TIMEOUT};
use crate::openers::{gcc, python};

both_modes!(
    default_tree_refuses_files_the_attacker_can_change_without_reading_them,
    empty_file_filled_when_someone_opens_it,
    signed_library_rewritten_in_place_after_it_was_loaded,
);

/// How many times the victim opens the empty file while the attacker
/// waits to fill it.
const RACE_ATTEMPTS: usize = 2000;
/// Opens per victim process.
const RACE_ROUND: usize = 250;

/// Rewrites the scene's policy without `untrusted_writers = "allow"`: the
/// default, which refuses what users other than the trusted owners can
/// change.
fn refuse_untrusted_writers(s: &Scene) {
    s.fx.write_policy(&s.fx.policy_text(s.mode.as_str(), &[(&s.fx.plugins, None)]));
}

#[track_caller]
fn expect_unread(rec: &Record, what: &str) {
    assert!(
        !rec.contains_key("SIGWARD_SHA256"),
        "{what}: the file was read (its SHA-256 is in the record), though it is refused \
         without reading: {rec:?}"
    );
}

/// The attacker's directory in a tree that does not allow untrusted
/// writers: a signed copy of its own, an empty file of its own, and a file
/// of root's in the attacker's directory (the attacker could rename it, or
/// another file over it) are all refused as `writable`, unread.
fn default_tree_refuses_files_the_attacker_can_change_without_reading_them(mode: Mode) {
    let s = Scene::new(mode);
    refuse_untrusted_writers(&s);
    let signed = s.stash_signed(OsStr::new("copy.py"), b"COPY = 1\n");
    let roots = s.att("roots.py");
    write_file(&roots, b"ROOTS = 1\n");
    s.fx.sign(&roots);
    // Put there before the agent starts: in enforce mode it refuses the
    // attacker's own opens for writing too (its files are refused whatever
    // they hold).
    let copy = s.att("copy.py");
    let empty = s.att("empty.py");
    attack(
        r#"cp "$1" "$2" && cp "$1.sig" "$2.sig" && : > "$3""#,
        &[signed.as_os_str(), copy.as_os_str(), empty.as_os_str()],
    );
    let agent = s.start();
    // The attacker cannot even create a file there while the agent runs.
    let fresh = s.att("fresh.py");
    let fin = run(
        &mut crate::common::attacker_sh(
            r#"if printf 'X = 1\n' > "$1" 2>/dev/null; then echo written; else echo refused; fi"#,
            &[fresh.as_os_str()],
        ),
        PROC_TIMEOUT,
    );
    let want = match mode {
        Mode::Enforce => "refused",
        Mode::Audit => "written",
    };
    assert_eq!(fin.stdout.trim(), want, "{fin}");

    for (p, what) in [
        (&copy, "the attacker's signed copy"),
        (&empty, "the attacker's empty file"),
        (&roots, "root's signed file in the attacker's directory"),
    ] {
        let rec = s.expect_refused(&agent, victim_open(&agent, p), &[p], "writable", what);
        expect_unread(&rec, what);
        let detail = rec.get("SIGWARD_DETAIL").cloned().unwrap_or_default();
        assert!(
            detail.contains("untrusted_writers"),
            "{what}: the record does not say how to allow such files: {rec:?}"
        );
    }
    // Root's own signed files elsewhere in the tree are unaffected.
    let good = s.fx.write_signed("good.py", b"GOOD = 1\n");
    crate::openers::expect_allowed(victim_open(&agent, &good), "root's signed file");
}

/// The victim (root) opens the attacker's empty `er.py` and reads it,
/// `RACE_ATTEMPTS` times, while the attacker tries to fill it under each
/// open: it watches the file with inotify and, on every open, writes
/// `EVIL = 1` through a descriptor it holds open for writing, or opens one
/// to do so, then empties the file again. In enforce mode no read may ever
/// see content; in audit mode the agent records what it would refuse.
fn empty_file_filled_when_someone_opens_it(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let er = s.att("er.py");
    attack(r#": > "$1""#, &[er.as_os_str()]);
    let mut attacker = Proc::spawn(&mut attacker_py(FILLER, &[er.as_os_str()]));
    wait_for_line(&mut attacker, "READY");

    // In rounds, each under the agent's watchdog.
    let mut v = serde_json::json!({"empty": 0, "filled": 0, "refused": 0, "other": 0});
    for _ in 0..RACE_ATTEMPTS / RACE_ROUND {
        let round = agent.guard("the victim's opens of the empty file", || {
            let mut cmd = Command::new(python());
            cmd.arg("-I")
                .arg("-c")
                .arg(VICTIM_LOOP)
                .arg(&er)
                .arg(RACE_ROUND.to_string());
            run(&mut cmd, PROC_TIMEOUT)
        });
        assert!(round.success(), "the victim's loop failed:\n{round}");
        let r: serde_json::Value = serde_json::from_str(round.stdout.trim())
            .unwrap_or_else(|e| panic!("victim output is not JSON ({e}):\n{round}"));
        for k in ["empty", "filled", "refused", "other"] {
            v[k] = (v[k].as_u64().unwrap_or(0) + r[k].as_u64().unwrap_or(0)).into();
        }
    }
    let _ = attacker.finish(std::time::Duration::ZERO);
    eprintln!("victim's opens: {v}");
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let filled = n("filled");
    let fills = attacker_fills(&attacker);
    match mode {
        Mode::Enforce => {
            assert_eq!(
                filled,
                0,
                "{filled} of {RACE_ATTEMPTS} reads of the empty file saw the attacker's content \
                 ({v}; the attacker filled it {fills} times)\n{}",
                s.status()
            );
            assert_eq!(n("empty") + n("refused"), RACE_ATTEMPTS as u64, "{v}");
        }
        Mode::Audit => {
            // Audit mode allows, so the attacker may win; the agent says
            // what it would have refused.
            let st = status_json(&s.control_socket());
            let would = st["verdicts"]["would-deny"].as_u64().unwrap_or(0);
            assert!(
                filled == 0 || would > 0,
                "{filled} reads saw the attacker's content and no open was recorded as \
                 would-deny: {v}"
            );
        }
    }
    assert!(
        fills > 0 || n("refused") > 0,
        "the attacker never tried: {v}, attacker output {:?}",
        attacker.stdout_so_far()
    );
}

/// How many times the attacker got to write (it prints `FILLED` each time).
fn attacker_fills(attacker: &Proc) -> usize {
    attacker
        .stdout_so_far()
        .lines()
        .filter(|l| l.trim() == "FILLED")
        .count()
}

/// The attacker: inotify on the file; on each open by someone else, fill
/// it (through a held descriptor when it has one, else a new one), then
/// empty it again. Alternates holding a descriptor and not.
const FILLER: &str = r#"
import ctypes, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
path = sys.argv[1]
fd_in = libc.inotify_init1(os.O_NONBLOCK)
IN_OPEN = 0x20
libc.inotify_add_watch(fd_in, path.encode(), IN_OPEN)
held = None
round = 0
print("READY", flush=True)
deadline = time.time() + 110
while time.time() < deadline:
    if held is None and round % 2 == 0:
        try:
            held = os.open(path, os.O_WRONLY)
        except OSError:
            held = None
    try:
        buf = os.read(fd_in, 4096)
    except BlockingIOError:
        time.sleep(0.0002)
        continue
    round += 1
    try:
        w = held if held is not None else os.open(path, os.O_WRONLY)
        os.pwrite(w, b"EVIL = 1\n", 0)
        print("FILLED", flush=True)
        time.sleep(0.001)
        os.ftruncate(w, 0)
        if w is not held:
            os.close(w)
    except OSError:
        pass
    if held is not None and round % 3 == 0:
        os.close(held)
        held = None
"#;

/// The victim: opens and reads the file N times; counts what it saw.
const VICTIM_LOOP: &str = r#"
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
c = {"empty": 0, "filled": 0, "refused": 0, "other": 0}
for _ in range(n):
    try:
        with open(path, "rb") as f:
            data = f.read()
        c["filled" if data else "empty"] += 1
    except PermissionError:
        c["refused"] += 1
    except OSError:
        c["other"] += 1
print(json.dumps(c))
"#;

/// A library of the attacker's, signed by the publisher (the attacker
/// deploys it), loaded by root's service with `ctypes`. The attacker then
/// rewrites it in place while it is loaded: that open for writing is
/// refused (enforce) or recorded (audit), and the service keeps calling the
/// code that was checked.
fn signed_library_rewritten_in_place_after_it_was_loaded(mode: Mode) {
    let s = Scene::new(mode);
    let build = s.fx.root.join("build");
    std::fs::create_dir_all(&build).unwrap();
    let good_so = build.join("good.so");
    let evil_so = build.join("evil.so");
    gcc("int f(void) { return 1111; }\n", &good_so, true);
    gcc("int f(void) { return 6666; }\n", &evil_so, true);
    chmod(&evil_so, 0o644);
    chmod(&build, 0o755);
    let lib = s.signed("lib.so", &std::fs::read(&good_so).unwrap());
    let agent = s.start();

    let go = s.outside.join("go");
    let mut service = agent.guard("the service loading the library", || {
        Proc::spawn(
            Command::new(python())
                .arg("-I")
                .arg("-c")
                .arg(SERVICE)
                .arg(&lib)
                .arg(&go),
        )
    });
    wait_for_line(&mut service, "1111");

    let fin = run(
        &mut crate::common::attacker_sh(
            r#"if cp "$1" "$2" 2>/dev/null; then echo rewritten; else echo refused; fi"#,
            &[evil_so.as_os_str(), lib.as_os_str()],
        ),
        PROC_TIMEOUT,
    );
    let rec = s.expect_record_where(
        &agent,
        "lib.so",
        |p| p.ends_with("/lib.so"),
        "tampered",
        "an open for writing of a library a process has loaded",
    );
    let detail = rec.get("SIGWARD_DETAIL").cloned().unwrap_or_default();
    assert!(
        detail.contains("in use by pid"),
        "the record does not name the process using it: {rec:?}"
    );
    match mode {
        Mode::Enforce => {
            assert_eq!(fin.stdout.trim(), "refused", "{fin}");
            write_file(&go, b"");
            wait_for_line(&mut service, "1111 again");
            assert_eq!(
                std::fs::read(&lib).unwrap(),
                std::fs::read(&good_so).unwrap(),
                "the library changed"
            );
        }
        Mode::Audit => assert_eq!(fin.stdout.trim(), "rewritten", "{fin}"),
    }
    let _ = service.finish(std::time::Duration::ZERO);
    assert!(sig_path(&lib).exists());
}

/// Root's service: loads the library, prints f(), waits for a file to
/// appear, prints f() again.
const SERVICE: &str = r#"
import ctypes, os, sys, time
lib = ctypes.CDLL(sys.argv[1])
print(lib.f(), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
print(lib.f(), "again", flush=True)
time.sleep(60)
"#;
