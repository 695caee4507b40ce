//! Directories that appear in a tree while the agent runs.
//!
//! A notification about a new directory names the directory it appeared
//! in by file handle. When that directory is removed before the watcher
//! reads the notification, the handle no longer opens (`ESTALE`); the new
//! directory went with it, so there is nothing to mark. The watcher used
//! to rescan every tree instead, which an attacker could repeat at will to
//! keep the watcher busy (and new directories unmarked) for seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    attacker_py, both_modes, chown_to_attacker, wait_for_line, Mode, Scene, ATTACKER_PYTHON,
};
use crate::harness::{chmod, is_msg, mkdirs, run, status_json, Agent, Proc, PROC_TIMEOUT};
use crate::openers::python;

both_modes!(stale_parents_of_new_directories_cause_no_rescan);

/// `MESSAGE_ID` of "cannot mark / cannot open new directory; rescanning".
const MSG_MARK_FAILED: &str = "a4248a8d2c6e4970bc843e6ed4ff1022";

/// How many directories the attacker makes and removes at once.
const CHURN: usize = 3000;

fn stale_parents_of_new_directories_cause_no_rescan(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let fin = run(
        &mut attacker_py(
            "import os, sys\n\
             base = sys.argv[1]\n\
             for i in range(int(sys.argv[2])):\n\
             \x20   d = os.path.join(base, 'd%d' % i)\n\
             \x20   os.mkdir(d)\n\
             \x20   os.mkdir(os.path.join(d, 'e'))\n\
             \x20   os.rmdir(os.path.join(d, 'e'))\n\
             \x20   os.rmdir(d)\n",
            &[s.dir.as_os_str(), CHURN.to_string().as_ref()],
        ),
        PROC_TIMEOUT,
    );
    assert!(fin.success(), "the attacker's churn failed:\n{fin}");
    // A directory made after the churn is marked once the watcher has
    // read everything before it.
    let sentinel = s.att("sentinel");
    mkdirs(&sentinel);
    agent.wait_marked(&[&sentinel]);
    let rescans = agent.count_records(|r| is_msg(r, MSG_MARK_FAILED));
    assert_eq!(
        rescans,
        0,
        "{CHURN} directories made and removed at once made the watcher rescan every tree \
         {rescans} times\n{}",
        s.status()
    );
}

both_modes!(
    directory_made_and_filled_then_opened_at_once,
    nested_directories_made_and_filled_then_opened_at_once,
    directory_moved_in_from_another_filesystem_then_opened_at_once,
    directories_made_and_filled_during_a_flood_of_mkdirs,
);

/// Victim opens per race.
const RACE_ATTEMPTS: usize = 2000;
/// Attempts per victim process.
const RACE_ROUND: usize = 250;

/// A scene whose tree is a filesystem of its own (a tmpfs mounted on
/// `plugins/`): the agent gives such a tree a filesystem mark, so an open
/// in a directory it has not marked yet raises an event too. Unmounted on
/// drop (after the agent, which the test drops first).
struct OwnFilesystem {
    // Dropped first: unmounted before the fixture's directory is removed.
    mount: PathBuf,
    scene: Scene,
}

impl OwnFilesystem {
    fn new(mode: Mode) -> OwnFilesystem {
        let scene = Scene::new(mode);
        let mount = scene.fx.plugins.clone();
        let fin = run(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=512m,mode=0755", "sigward-tree"])
                .arg(&mount),
            PROC_TIMEOUT,
        );
        assert!(fin.success(), "mounting a tmpfs on the tree:\n{fin}");
        mkdirs(&scene.dir);
        chmod(&scene.dir, 0o755);
        chown_to_attacker(&scene.dir);
        OwnFilesystem { mount, scene }
    }
}

impl Drop for OwnFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// The race, from root's side: starts the attacker (`ATTACKER_RACE`, as
/// uid 65534), which makes a directory in the tree per attempt, writes an
/// unsigned `x.py` in it and prints its path; root opens and reads each
/// path at once. Returns what root saw (`{"read", "refused", "missing",
/// "empty"}`).
fn race(s: &Scene, agent: &Agent, how: &str, outside: &Path) -> serde_json::Value {
    let mut seen = serde_json::json!({"read": 0, "refused": 0, "missing": 0, "empty": 0});
    // In rounds, each under the agent's watchdog.
    for round in 0..RACE_ATTEMPTS / RACE_ROUND {
        let fin = agent.guard(&format!("the {how} race, round {round}"), || {
            run(
                Command::new(python())
                    .arg("-I")
                    .arg("-c")
                    .arg(VICTIM_RACE)
                    .arg(ATTACKER_PYTHON)
                    .arg(ATTACKER_RACE)
                    .arg(how)
                    .arg(&s.dir)
                    .arg(outside)
                    .arg(RACE_ROUND.to_string())
                    .arg(format!("r{round}-")),
                PROC_TIMEOUT,
            )
        });
        assert!(fin.success(), "the {how} race failed:\n{fin}");
        let r: serde_json::Value = serde_json::from_str(fin.stdout.trim())
            .unwrap_or_else(|e| panic!("race output is not JSON ({e}):\n{fin}"));
        for k in ["read", "refused", "missing", "empty"] {
            seen[k] = (seen[k].as_u64().unwrap_or(0) + r[k].as_u64().unwrap_or(0)).into();
        }
    }
    seen
}

/// Enforce: root never read the attacker's unsigned content. Audit: every
/// read was recorded as a would-deny.
#[track_caller]
fn expect_no_bypass(s: &Scene, seen: &serde_json::Value, what: &str) {
    eprintln!("{what}: {seen}");
    let n = |k: &str| seen[k].as_u64().unwrap_or(0);
    let total = n("read") + n("refused") + n("missing") + n("empty");
    assert_eq!(total, RACE_ATTEMPTS as u64, "{what}: {seen}");
    let v = status_json(&s.control_socket());
    let decided = |d: &str| v["reasons"][d]["unsigned"].as_u64().unwrap_or(0);
    match s.mode {
        Mode::Enforce => {
            assert_eq!(
                n("read"),
                0,
                "{what}: root read unsigned content {} times in {RACE_ATTEMPTS} ({seen})",
                n("read")
            );
            assert!(decided("deny") >= n("refused"), "{what}: {v}");
        }
        Mode::Audit => assert!(
            decided("would-deny") >= n("read"),
            "{what}: {} reads but {} would-deny records: some opens were not seen ({seen})",
            n("read"),
            decided("would-deny")
        ),
    }
}

fn directory_made_and_filled_then_opened_at_once(mode: Mode) {
    let own = OwnFilesystem::new(mode);
    let agent = own.scene.start();
    let seen = race(&own.scene, &agent, "mkdir", &own.scene.outside);
    expect_no_bypass(&own.scene, &seen, "mkdir, write, open");
}

fn nested_directories_made_and_filled_then_opened_at_once(mode: Mode) {
    let own = OwnFilesystem::new(mode);
    let agent = own.scene.start();
    let seen = race(&own.scene, &agent, "nested", &own.scene.outside);
    expect_no_bypass(&own.scene, &seen, "mkdir -p d/a/b, write, open");
}

/// On a tree that is a whole filesystem, a directory moved in from
/// outside is copied (`rename` does not cross filesystems): its files are
/// created in the tree.
fn directory_moved_in_from_another_filesystem_then_opened_at_once(mode: Mode) {
    let own = OwnFilesystem::new(mode);
    let agent = own.scene.start();
    let seen = race(&own.scene, &agent, "moved", &own.scene.outside);
    expect_no_bypass(&own.scene, &seen, "mv d (holding x.py) into the tree, open");
}

/// 100,000 `mkdir`s in the tree keep the agent's watcher busy for seconds
/// while the mkdir race runs.
fn directories_made_and_filled_during_a_flood_of_mkdirs(mode: Mode) {
    let own = OwnFilesystem::new(mode);
    let agent = own.scene.start();
    let flood_dir = own.scene.att("flood");
    let mut flood = Proc::spawn(&mut attacker_py(
        "import os, sys\n\
         base = sys.argv[1]\n\
         os.mkdir(base)\n\
         print('FLOODING', flush=True)\n\
         for i in range(100000):\n\
         \x20   os.mkdir(os.path.join(base, str(i)))\n\
         print('DONE', flush=True)\n",
        &[flood_dir.as_os_str()],
    ));
    wait_for_line(&mut flood, "FLOODING");
    let seen = race(&own.scene, &agent, "mkdir", &own.scene.outside);
    let _ = flood.finish(std::time::Duration::from_secs(60));
    expect_no_bypass(
        &own.scene,
        &seen,
        "mkdir, write, open during 100,000 mkdirs",
    );
}

/// Root's side of a race: runs the attacker with `setpriv` and opens what
/// it prints.
const VICTIM_RACE: &str = r#"
import json, subprocess, sys
py, attacker, how, base, outside, n, prefix = sys.argv[1:8]
p = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      py, "-I", "-c", attacker, how, base, outside, n, prefix],
                     stdout=subprocess.PIPE, text=True, cwd="/")
c = {"read": 0, "refused": 0, "missing": 0, "empty": 0}
for line in p.stdout:
    path = line.rstrip("\n")
    try:
        with open(path, "rb") as f:
            c["read" if f.read() else "empty"] += 1
    except PermissionError:
        c["refused"] += 1
    except FileNotFoundError:
        c["missing"] += 1
p.wait()
print(json.dumps(c))
"#;

/// The attacker's side: per attempt, a new directory in the tree holding
/// an unsigned x.py, then its path on stdout.
const ATTACKER_RACE: &str = r#"
import os, shutil, sys
how, base, outside, n, pre = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
for i in range(n):
    if how == "mkdir":
        d = os.path.join(base, pre + "m%d" % i)
        os.mkdir(d)
    elif how == "nested":
        d = os.path.join(base, pre + "n%d" % i, "a", "b")
        os.makedirs(d)
    else:
        src = os.path.join(outside, pre + "v%d" % i)
        os.mkdir(src)
        with open(os.path.join(src, "x.py"), "w") as f:
            f.write("EVIL = %d\n" % i)
        d = os.path.join(base, pre + "v%d" % i)
        shutil.move(src, d)
    p = os.path.join(d, "x.py")
    if how != "moved":
        with open(p, "w") as f:
            f.write("EVIL = %d\n" % i)
    print(p, flush=True)
"#;
