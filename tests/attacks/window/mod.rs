//! Directories that appear in a tree while the agent runs.
//!
//! A notification about a new directory names the directory it appeared
//! in by file handle. When that directory is removed before the watcher
//! reads the notification, the handle no longer opens (`ESTALE`); the new
//! directory went with it, so there is nothing to mark. The watcher used
//! to rescan every tree instead, which an attacker could repeat at will to
//! keep the watcher busy (and new directories unmarked) for seconds.
//!
//! By topic: [`churn`] (directories made and removed at once), [`races`]
//! (a directory made, filled and opened at once, in a tree that is a
//! whole filesystem or a mount of its own), [`mounts`] (what the
//! filesystem mark covers, and trees that cannot have one) and [`binds`]
//! (what keeps or takes the mark away, names outside the tree). This
//! module holds the guarded scene and the race they share.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{chown_to_attacker, Mode, Scene, ATTACKER_PYTHON};
use crate::harness::{chmod, mkdirs, run, status_json, Agent, PROC_TIMEOUT};
use crate::openers::python;

mod binds;
mod churn;
mod mounts;
mod races;

/// Victim opens per race.
const RACE_ATTEMPTS: usize = 2000;
/// Attempts per victim process.
const RACE_ROUND: usize = 250;

/// How the scene's tree lies on its filesystem.
#[derive(Clone, Copy)]
enum Layout {
    /// A tmpfs mounted on `plugins/`: the tree is a whole filesystem.
    Whole,
    /// A tmpfs at `shared-fs/` holding `plugins/` and `outside/`, with
    /// `shared-fs/plugins` bind-mounted onto itself and onto the fixture's
    /// `plugins/`: the tree is a mount of its own on a filesystem with
    /// other files, as an operator makes it with one line in fstab.
    OwnMount,
}

/// A scene whose tree the agent guards with a filesystem mark, so an open
/// in a directory it has not marked yet raises an event too. Unmounted on
/// drop (after the agent, which the test drops first).
struct Guarded {
    // Unmounted (in reverse) before the fixture's directory is removed.
    mounts: Vec<PathBuf>,
    /// The attacker's directory on the tree's filesystem, outside the
    /// tree (for `Layout::Whole`, on another filesystem).
    outside: PathBuf,
    scene: Scene,
}

impl Guarded {
    fn new(mode: Mode, layout: Layout) -> Guarded {
        Guarded::build(mode, layout, |_| {})
    }

    /// Like [`Guarded::new`]; for `Layout::OwnMount`, `before_bind` runs
    /// with the tree's directory on the shared filesystem after the tmpfs is
    /// mounted and before the bind mounts are made.
    fn build(mode: Mode, layout: Layout, before_bind: impl FnOnce(&Path)) -> Guarded {
        crate::common::outside_mount_windows(|| Guarded::build_now(mode, layout, before_bind))
    }

    fn build_now(mode: Mode, layout: Layout, before_bind: impl FnOnce(&Path)) -> Guarded {
        let scene = Scene::new(mode);
        let mut mounts = Vec::new();
        let mut mount = |args: &[&std::ffi::OsStr], at: &Path| {
            let fin = run(Command::new("mount").args(args).arg(at), PROC_TIMEOUT);
            assert!(fin.success(), "mount {args:?} {}:\n{fin}", at.display());
            mounts.push(at.to_path_buf());
        };
        let tmpfs =
            ["-t", "tmpfs", "-o", "size=512m,mode=0755", "sigward-tree"].map(std::ffi::OsStr::new);
        let outside = match layout {
            Layout::Whole => {
                mount(&tmpfs, &scene.fx.plugins);
                scene.outside.clone()
            }
            Layout::OwnMount => {
                let fs = scene.fx.root.join("shared-fs");
                mkdirs(&fs);
                mount(&tmpfs, &fs);
                let (inner, outside) = (fs.join("plugins"), fs.join("outside"));
                for d in [&inner, &outside] {
                    mkdirs(d);
                    chmod(d, 0o755);
                }
                chown_to_attacker(&outside);
                let att = inner.join("att");
                mkdirs(&att);
                chown_to_attacker(&att);
                before_bind(&inner);
                mount(&[std::ffi::OsStr::new("--bind"), inner.as_os_str()], &inner);
                mount(
                    &[std::ffi::OsStr::new("--bind"), inner.as_os_str()],
                    &scene.fx.plugins,
                );
                outside
            }
        };
        mkdirs(&scene.dir);
        chmod(&scene.dir, 0o755);
        chown_to_attacker(&scene.dir);
        Guarded {
            mounts,
            outside,
            scene,
        }
    }

    /// Starts the agent and checks that the tree has its filesystem mark.
    fn start(&self) -> Agent {
        let agent = self.scene.start();
        let v = status_json(&self.scene.control_socket());
        assert_eq!(
            v["trees"][0]["filesystem_mark"].as_bool(),
            Some(true),
            "the tree has no filesystem mark: {v}"
        );
        agent
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
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

/// `MESSAGE_ID` of "a directory made or moved into the tree is unchecked
/// until marked".
const MSG_NEW_DIRECTORY_WINDOW: &str = sigward::ids::NEW_DIRECTORY_WINDOW;

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
