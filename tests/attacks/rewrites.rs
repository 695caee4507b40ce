//! In-place rewrites of a signed plugin by the attacker, who owns it (the
//! deployment user of the plugin directory): each is followed by an open
//! that must be refused as `tampered`.
//!
//! The plugin is opened (and allowed) before every attack, so a verdict for
//! it is cached; it is the attacker's, so it never gets a kernel verdict
//! (checked), and only the agent's own checks stand between the rewrite and
//! the victim.

use crate::common::{
    assert_not_kernel_cached, attack, attacker_py, both_modes, victim_read, wait_for_line, Mode,
    Scene,
};
use crate::harness::{run, write_file, Agent, Proc, PROC_TIMEOUT};
use crate::openers::{expect_allowed, python_import, python_open, Outcome};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const SIGNED: &[u8] = b"VALUE = 'signed'\n";
/// Same size as [`SIGNED`].
const FORGED: &[u8] = b"VALUE = 'forged'\n";

both_modes!(
    append,
    same_size_rewrite_with_touch_r,
    truncate_then_rewrite,
    write_through_shared_writable_mmap,
    write_through_shared_writable_mmap_after_verification,
);

/// The attacker's signed `plugins/att/mod.py`, allowed once by the running
/// agent.
fn prepared(mode: Mode) -> (Scene, Agent, PathBuf) {
    let s = Scene::new(mode);
    let p = s.signed("mod.py", SIGNED);
    let agent = s.start();
    expect_allowed(python_open(&p), "the signed plugin before the attack");
    expect_allowed(
        python_import(&s.dir, "mod"),
        "import of the signed plugin before the attack",
    );
    assert_not_kernel_cached(&agent, &p);
    (s, agent, p)
}

fn expect_tampered(s: &Scene, agent: &Agent, p: &Path, what: &str) {
    s.expect_refused(agent, python_open(p), &[p], "tampered", what);
    s.expect_refused(
        agent,
        python_import(&s.dir, "mod"),
        &[p],
        "tampered",
        &format!("import after {what}"),
    );
}

fn append(mode: Mode) {
    let (s, agent, p) = prepared(mode);
    attack(r#"printf 'EVIL = 1\n' >> "$1""#, &[p.as_os_str()]);
    expect_tampered(&s, &agent, &p, "an append to the signed plugin");
}

/// Same size, same inode, and the mtime restored with `touch -r`: only the
/// ctime (which users cannot set) and the content tell.
fn same_size_rewrite_with_touch_r(mode: Mode) {
    let (s, agent, p) = prepared(mode);
    let before = fs::metadata(&p).unwrap();
    let reference = s.outside.join("mod.py.reference");
    attack(
        r#"cp -p "$1" "$2" && printf '%s' "$3" | dd of="$1" conv=notrunc status=none && touch -c -r "$2" "$1""#,
        &[
            p.as_os_str(),
            reference.as_os_str(),
            std::str::from_utf8(FORGED).unwrap().as_ref(),
        ],
    );
    let after = fs::metadata(&p).unwrap();
    assert_eq!(after.ino(), before.ino(), "the rewrite was not in place");
    assert_eq!(after.len(), before.len(), "the rewrite changed the size");
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec()),
        "touch -r did not restore the mtime"
    );
    expect_tampered(
        &s,
        &agent,
        &p,
        "a same-size rewrite with the mtime restored by touch -r",
    );
}

/// `truncate -s 0` (by path: no open at all), then a write into the file,
/// now empty, which is allowed to be opened.
fn truncate_then_rewrite(mode: Mode) {
    let (s, agent, p) = prepared(mode);
    attack(
        r#"truncate -s 0 "$1" && printf '%s' "$2" > "$1""#,
        &[p.as_os_str(), std::str::from_utf8(FORGED).unwrap().as_ref()],
    );
    expect_tampered(&s, &agent, &p, "truncating and rewriting the plugin");
}

/// Map the plugin shared and writable, store the forged content, unmap.
/// (Opening it read-write is allowed: it is intact then.)
fn write_through_shared_writable_mmap(mode: Mode) {
    let (s, agent, p) = prepared(mode);
    let fin = run(
        &mut attacker_py(
            "import mmap, sys\n\
             with open(sys.argv[1], 'r+b') as f:\n\
             \x20   m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED)\n\
             \x20   m[:] = sys.argv[2].encode()\n\
             \x20   m.close()\n",
            &[p.as_os_str(), std::str::from_utf8(FORGED).unwrap().as_ref()],
        ),
        PROC_TIMEOUT,
    );
    assert!(fin.success(), "the attacker's mmap write failed:\n{fin}");
    expect_tampered(&s, &agent, &p, "a write through a shared writable mapping");
}

/// The realistic mmap attack: map the plugin and dirty its page while it is
/// still intact (the page fault updates mtime and ctime now), let the
/// victim open it (allowed: it is intact), then store the forged content
/// through the mapping, which is already writable: no fault, no timestamp
/// change. The next open must be refused, both while the attacker still
/// holds the mapping and after it unmapped and closed the file (the
/// timestamps stay unchanged then too).
fn write_through_shared_writable_mmap_after_verification(mode: Mode) {
    let (s, agent, p) = prepared(mode);
    let go = s.outside.join("go");
    let unmap = s.outside.join("unmap");
    let mut attacker = Proc::spawn(&mut attacker_py(
        "import mmap, os, sys, time\n\
         def wait(p):\n\
         \x20   while not os.path.exists(p):\n\
         \x20       time.sleep(0.005)\n\
         f = open(sys.argv[1], 'r+b')\n\
         m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED)\n\
         m[0:1] = m[0:1]\n\
         print('MAPPED', flush=True)\n\
         wait(sys.argv[3])\n\
         m[:] = sys.argv[2].encode()\n\
         print('WRITTEN', flush=True)\n\
         wait(sys.argv[4])\n\
         m.close()\n\
         f.close()\n\
         print('CLOSED', flush=True)\n\
         time.sleep(60)\n",
        &[
            p.as_os_str(),
            std::str::from_utf8(FORGED).unwrap().as_ref(),
            go.as_os_str(),
            unmap.as_os_str(),
        ],
    ));
    wait_for_line(&mut attacker, "MAPPED");
    // Intact, but mapped writable by another process: it could change
    // after any check without an event, so it is refused, naming the writer.
    let o = match victim_read(&agent, &p) {
        Ok(bytes) => {
            assert_eq!(bytes, SIGNED, "the plugin changed too early");
            Outcome::Ok
        }
        Err(o) => o,
    };
    let rec = s.expect_refused(
        &agent,
        o,
        &[&p],
        "tampered",
        "the intact plugin while the attacker holds it mapped writable",
    );
    assert!(
        rec.get("SIGWARD_DETAIL")
            .is_some_and(|d| d.contains("open for writing by pid")),
        "{rec:?}"
    );

    write_file(&go, b"");
    wait_for_line(&mut attacker, "WRITTEN");
    expect_store_refused(&s, &agent, &p, "while the mapping is still there");

    write_file(&unmap, b"");
    wait_for_line(&mut attacker, "CLOSED");
    expect_store_refused(&s, &agent, &p, "after the attacker unmapped and closed it");
    drop(attacker);
}

fn expect_store_refused(s: &Scene, agent: &Agent, p: &Path, when: &str) {
    let (o, read) = match victim_read(agent, p) {
        Ok(bytes) => (Outcome::Ok, String::from_utf8_lossy(&bytes).into_owned()),
        Err(o) => (o, String::new()),
    };
    eprintln!("agent status after the open {when}:\n{}", s.status());
    if s.mode == Mode::Audit {
        // The store landed: audit mode lets the victim read it.
        assert_eq!(read.as_bytes(), FORGED, "the attacker's store did not land");
    }
    s.expect_refused(
        agent,
        o,
        &[p],
        "tampered",
        &format!(
            "a store through a writable mapping made while the plugin was intact, {when} \
             (the victim read {read:?})"
        ),
    );
}
