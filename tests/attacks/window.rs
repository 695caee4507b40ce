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
    attack, attacker_py, attacker_sh, both_modes, chown_to_attacker, victim_read, wait_for_line,
    Mode, Scene, ATTACKER_PYTHON,
};
use crate::harness::{chmod, is_msg, mkdirs, run, status_json, Agent, Proc, PROC_TIMEOUT};
use crate::openers::python;
use crate::openers::Outcome;

both_modes!(stale_parents_of_new_directories_cause_no_rescan);

/// `MESSAGE_ID` of "cannot mark / cannot open new directory; rescanning".
const MSG_MARK_FAILED: &str = sigward::ids::MARK_FAILED;

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
    directory_made_and_filled_then_opened_at_once_in_a_mount_of_its_own,
    nested_directories_made_and_filled_then_opened_at_once_in_a_mount_of_its_own,
    directory_moved_in_from_the_same_filesystem_then_opened_at_once,
    directories_made_and_filled_during_a_flood_of_mkdirs_in_a_mount_of_its_own,
    files_outside_a_tree_that_is_a_mount_of_its_own_open_unchecked,
    a_tree_sharing_its_filesystem_reports_its_window,
    a_tree_also_shown_without_its_mount_is_reported_until_bound_there_too,
    a_link_in_the_tree_to_the_attackers_file_beside_it_is_still_checked,
    only_files_that_only_trusted_owners_can_move_are_left_to_the_kernel,
    a_namespace_made_before_the_bind_keeps_the_mark_away,
    a_working_directory_opened_before_the_bind_keeps_the_mark_away,
    removing_the_bind_takes_the_mark_away_at_once,
    a_second_name_outside_the_tree_unlinked_during_the_open_is_no_way_out,
    files_outside_opened_through_a_bind_elsewhere_open_whatever_their_links,
);

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

fn made_and_filled(mode: Mode, layout: Layout) {
    let g = Guarded::new(mode, layout);
    let agent = g.start();
    let seen = race(&g.scene, &agent, "mkdir", &g.outside);
    expect_no_bypass(&g.scene, &seen, "mkdir, write, open");
}

fn nested(mode: Mode, layout: Layout) {
    let g = Guarded::new(mode, layout);
    let agent = g.start();
    let seen = race(&g.scene, &agent, "nested", &g.outside);
    expect_no_bypass(&g.scene, &seen, "mkdir -p d/a/b, write, open");
}

/// A directory moved in from outside the tree is copied: `rename` crosses
/// neither filesystems nor mounts, so its files are created in the tree.
fn moved_in(mode: Mode, layout: Layout) {
    let g = Guarded::new(mode, layout);
    let agent = g.start();
    let seen = race(&g.scene, &agent, "moved", &g.outside);
    expect_no_bypass(&g.scene, &seen, "mv d (holding x.py) into the tree, open");
}

/// 100,000 `mkdir`s in the tree keep the agent's watcher busy for seconds
/// while the mkdir race runs.
fn during_a_flood(mode: Mode, layout: Layout) {
    let g = Guarded::new(mode, layout);
    let agent = g.start();
    let flood_dir = g.scene.att("flood");
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
    let seen = race(&g.scene, &agent, "mkdir", &g.outside);
    let _ = flood.finish(std::time::Duration::from_secs(60));
    expect_no_bypass(&g.scene, &seen, "mkdir, write, open during 100,000 mkdirs");
}

fn directory_made_and_filled_then_opened_at_once(mode: Mode) {
    made_and_filled(mode, Layout::Whole);
}

fn nested_directories_made_and_filled_then_opened_at_once(mode: Mode) {
    nested(mode, Layout::Whole);
}

fn directory_moved_in_from_another_filesystem_then_opened_at_once(mode: Mode) {
    moved_in(mode, Layout::Whole);
}

fn directories_made_and_filled_during_a_flood_of_mkdirs(mode: Mode) {
    during_a_flood(mode, Layout::Whole);
}

fn directory_made_and_filled_then_opened_at_once_in_a_mount_of_its_own(mode: Mode) {
    made_and_filled(mode, Layout::OwnMount);
}

fn nested_directories_made_and_filled_then_opened_at_once_in_a_mount_of_its_own(mode: Mode) {
    nested(mode, Layout::OwnMount);
}

fn directory_moved_in_from_the_same_filesystem_then_opened_at_once(mode: Mode) {
    moved_in(mode, Layout::OwnMount);
}

fn directories_made_and_filled_during_a_flood_of_mkdirs_in_a_mount_of_its_own(mode: Mode) {
    during_a_flood(mode, Layout::OwnMount);
}

/// The filesystem mark of a tree that is a mount of its own raises events
/// for the rest of its filesystem too: those files are not the agent's
/// business and open as without it, in every mode; and the mount the
/// design rests on stops the attacker moving a file across it.
fn files_outside_a_tree_that_is_a_mount_of_its_own_open_unchecked(mode: Mode) {
    let g = Guarded::new(mode, Layout::OwnMount);
    let agent = g.start();
    let script = g.outside.join("tool.py");
    std::fs::write(&script, b"VALUE = 41 + 1\n").expect("writing tool.py");
    let prog = g.outside.join("true");
    std::fs::copy("/bin/true", &prog).expect("copying /bin/true");
    chmod(&prog, 0o755);
    for _ in 0..2 {
        assert_eq!(
            victim_read(&agent, &script).map(|b| b.len()),
            Ok(15),
            "reading an unsigned file outside the tree"
        );
        assert_eq!(
            crate::openers::python_import(&g.outside, "tool"),
            Outcome::Ok,
            "importing an unsigned module outside the tree"
        );
        assert_eq!(
            crate::openers::exec_path(&prog),
            Outcome::Ok,
            "running an unsigned program outside the tree"
        );
    }
    let v = status_json(&g.scene.control_socket());
    assert!(
        v["reasons"]["allow"]["outside-trees"].as_u64().unwrap_or(0) >= 2,
        "opens outside the tree were not counted as such: {v}"
    );
    for d in ["deny", "would-deny"] {
        let refused: u64 = v["reasons"][d]
            .as_object()
            .map(|o| o.values().filter_map(serde_json::Value::as_u64).sum())
            .unwrap_or(0);
        assert_eq!(refused, 0, "something outside the tree was refused: {v}");
    }
    // The attacker cannot move its file into the tree, nor link it there.
    let evil = g.outside.join("evil.py");
    let fin = run(
        &mut attacker_py(
            "import errno, os, sys\n\
             src, dst = sys.argv[1], sys.argv[2]\n\
             open(src, 'w').write('EVIL = 1\\n')\n\
             for f in (os.rename, os.link):\n\
             \x20   try:\n\
             \x20       f(src, dst)\n\
             \x20   except OSError as e:\n\
             \x20       print(errno.errorcode[e.errno])\n\
             \x20   else:\n\
             \x20       print('MOVED')\n",
            &[evil.as_os_str(), g.scene.att("evil.py").as_os_str()],
        ),
        PROC_TIMEOUT,
    );
    assert!(fin.success(), "{fin}");
    assert_eq!(fin.stdout.trim(), "EXDEV\nEXDEV", "{fin}");
}

/// A tree on a filesystem it shares, and not a mount of its own, has no
/// filesystem mark: the agent says so, with the remedy, in status and in
/// a record of its own.
fn a_tree_sharing_its_filesystem_reports_its_window(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let v = status_json(&s.control_socket());
    assert_eq!(
        v["trees"][0]["filesystem_mark"].as_bool(),
        Some(false),
        "{v}"
    );
    let r = agent.wait_record("the window of a shared filesystem", |r| {
        is_msg(r, MSG_NEW_DIRECTORY_WINDOW)
    });
    let text = r.get("MESSAGE").cloned().unwrap_or_default();
    assert!(
        text.contains("bind-mount the tree onto itself"),
        "the record does not say what closes the window: {text}"
    );
}

/// A tree that is a mount of its own, but whose directory another mount
/// of the filesystem also shows without that mount (where files can be
/// moved in), gets no filesystem mark and is reported; once it is
/// bind-mounted there too, a reload gives it the mark, and the race is
/// lost again.
fn a_tree_also_shown_without_its_mount_is_reported_until_bound_there_too(mode: Mode) {
    let g = Guarded::new(mode, Layout::OwnMount);
    let inner = g.outside.with_file_name("plugins");
    // Undo the bind of `shared-fs/plugins` onto itself: the filesystem's
    // mount now shows the tree's directory as a plain directory.
    let fin = run(Command::new("umount").arg(&inner), PROC_TIMEOUT);
    assert!(fin.success(), "{fin}");
    let agent = g.scene.start();
    let status = || status_json(&g.scene.control_socket());
    assert_eq!(
        status()["trees"][0]["filesystem_mark"].as_bool(),
        Some(false)
    );
    let r = agent.wait_record("a tree shown elsewhere without its mount", |r| {
        is_msg(r, MSG_NEW_DIRECTORY_WINDOW)
    });
    let text = r.get("MESSAGE").cloned().unwrap_or_default();
    assert!(
        text.contains(&inner.display().to_string()),
        "the record does not say where the tree is shown without its mount: {text}"
    );
    let fin = run(
        Command::new("mount").arg("--bind").arg(&inner).arg(&inner),
        PROC_TIMEOUT,
    );
    assert!(fin.success(), "{fin}");
    crate::harness::reload(&g.scene.fx, &g.scene.control_socket());
    assert_eq!(
        status()["trees"][0]["filesystem_mark"].as_bool(),
        Some(true),
        "a reload did not give the tree bound onto itself its filesystem mark"
    );
    let seen = race(&g.scene, &agent, "mkdir", &g.outside);
    expect_no_bypass(&g.scene, &seen, "mkdir, write, open after the reload");
}

/// A symbolic link the attacker puts in the tree, to its own unsigned file
/// outside it on the same filesystem: the file is guarded for the link,
/// and opening it through the link is refused, not taken for an open
/// outside the trees.
fn a_link_in_the_tree_to_the_attackers_file_beside_it_is_still_checked(mode: Mode) {
    let g = Guarded::new(mode, Layout::OwnMount);
    let agent = g.start();
    let evil = g.outside.join("evil.py");
    let link = g.scene.att("evil.py");
    attack(
        "printf 'EVIL = 1\\n' > \"$1\" && ln -s \"$1\" \"$2\"",
        &[evil.as_os_str(), link.as_os_str()],
    );
    agent.wait_record("the link guarded", |r| {
        is_msg(r, MSG_SYMLINK)
            && r.get("MESSAGE")
                .is_some_and(|m| m.contains("is now checked"))
    });
    let outcome = match victim_read(&agent, &link) {
        Ok(_) => Outcome::Ok,
        Err(o) => o,
    };
    g.scene.expect_refused(
        &agent,
        outcome,
        &[&evil, &link],
        "unsigned",
        "opening the link",
    );
}

/// A file outside the trees is left to the kernel only when no one but
/// the trusted owners can move it (a mount made before the tree's own
/// could carry its kernel verdict into the tree): root's file in root's
/// directories is; the attacker's is not, and raises an event every time.
fn only_files_that_only_trusted_owners_can_move_are_left_to_the_kernel(mode: Mode) {
    let g = Guarded::new(mode, Layout::OwnMount);
    let agent = g.start();
    let roots = g.outside.with_file_name("roots");
    mkdirs(&roots);
    chmod(&roots, 0o755);
    let theirs = roots.join("lib.txt");
    std::fs::write(&theirs, b"root's\n").expect("writing root's file");
    let attackers = g.outside.join("mine.txt");
    attack("printf 'mine\\n' > \"$1\"", &[attackers.as_os_str()]);
    for p in [&theirs, &attackers] {
        assert!(victim_read(&agent, p).is_ok(), "{}", p.display());
    }
    let v = status_json(&g.scene.control_socket());
    assert!(
        v["reasons"]["allow"]["outside-trees"].as_u64().unwrap_or(0) >= 2,
        "both opens should have raised an event: {v}"
    );
    assert!(
        agent.has_kernel_verdict(&theirs),
        "root's file outside the trees was not left to the kernel"
    );
    assert!(
        !agent.has_kernel_verdict(&attackers),
        "the attacker's file outside the trees was left to the kernel"
    );
}

/// The attacker's own user and mount namespace, made before the tree was
/// bound onto itself, does not get the bind (its propagation is private):
/// there it could rename files into and out of the tree. The agent finds
/// it and gives the filesystem no mark (and says why) until it is gone.
fn a_namespace_made_before_the_bind_keeps_the_mark_away(mode: Mode) {
    let mut holder = None;
    let g = Guarded::build(mode, Layout::OwnMount, |_| {
        let mut p = Proc::spawn(&mut attacker_sh(
            "exec unshare -Urm sh -c 'echo READY; exec sleep 300'",
            &[],
        ));
        wait_for_line(&mut p, "READY");
        holder = Some(p);
    });
    let agent = g.scene.start();
    let status = || status_json(&g.scene.control_socket());
    assert_eq!(
        status()["trees"][0]["filesystem_mark"].as_bool(),
        Some(false)
    );
    let r = agent.wait_record("the namespace made before the bind", |r| {
        is_msg(r, MSG_NEW_DIRECTORY_WINDOW)
    });
    let text = r.get("MESSAGE").cloned().unwrap_or_default();
    assert!(text.contains("mount namespace of pid"), "{text}");
    if let Some(p) = holder.take() {
        gone(p);
    }
    crate::harness::reload(&g.scene.fx, &g.scene.control_socket());
    assert_eq!(
        status()["trees"][0]["filesystem_mark"].as_bool(),
        Some(true),
        "the namespace is gone, but a reload did not give the tree its mark"
    );
}

/// A working directory in the tree, entered before the bind existed, is
/// on the larger mount: `renameat` relative to it crosses the tree's
/// boundary. The agent finds it too.
fn a_working_directory_opened_before_the_bind_keeps_the_mark_away(mode: Mode) {
    let mut holder = None;
    let g = Guarded::build(mode, Layout::OwnMount, |inner| {
        let att = inner.join("att");
        let mut p = Proc::spawn(&mut attacker_sh(
            "cd \"$1\" && echo READY && exec sleep 300",
            &[att.as_os_str()],
        ));
        wait_for_line(&mut p, "READY");
        holder = Some(p);
    });
    let agent = g.scene.start();
    assert_eq!(
        status_json(&g.scene.control_socket())["trees"][0]["filesystem_mark"].as_bool(),
        Some(false)
    );
    let r = agent.wait_record("the working directory made before the bind", |r| {
        is_msg(r, MSG_NEW_DIRECTORY_WINDOW)
    });
    let text = r.get("MESSAGE").cloned().unwrap_or_default();
    assert!(text.contains("working directory"), "{text}");
    if let Some(p) = holder.take() {
        gone(p);
    }
}

/// Kills `p` and waits until its mount namespace is gone with it.
fn gone(p: Proc) {
    let ns = format!("/proc/{}/ns/mnt", p.pid());
    drop(p);
    crate::harness::wait_until(
        "the process to exit",
        std::time::Duration::from_secs(10),
        || std::fs::metadata(&ns).is_err(),
    );
}

/// Unmounting the tree's bind while the agent runs takes the filesystem
/// mark away within moments (files could be renamed out of the tree
/// again), with a record; binding it again gives it back, without a
/// reload.
fn removing_the_bind_takes_the_mark_away_at_once(mode: Mode) {
    let g = Guarded::new(mode, Layout::OwnMount);
    let agent = g.start();
    let marked = || {
        status_json(&g.scene.control_socket())["trees"][0]["filesystem_mark"].as_bool()
            == Some(true)
    };
    let inner = g.outside.with_file_name("plugins");
    let fin = run(Command::new("umount").arg(&inner), PROC_TIMEOUT);
    assert!(fin.success(), "{fin}");
    crate::harness::wait_until("the mark to go", std::time::Duration::from_secs(10), || {
        !marked()
    });
    agent.wait_record("the window reported after the umount", |r| {
        is_msg(r, MSG_NEW_DIRECTORY_WINDOW)
    });
    let fin = run(
        Command::new("mount").arg("--bind").arg(&inner).arg(&inner),
        PROC_TIMEOUT,
    );
    assert!(fin.success(), "{fin}");
    crate::harness::wait_until(
        "the mark to come back",
        std::time::Duration::from_secs(10),
        marked,
    );
}

/// A file in the tree with a second name outside it, linked before the
/// tree was bound onto itself. Root opens it in the tree; the attacker
/// unlinks the tree's name before the agent looks (the agent is stopped
/// for that moment), so that the file's only name is outside every tree.
/// It was opened through the tree's mount, so it is checked all the same.
fn a_second_name_outside_the_tree_unlinked_during_the_open_is_no_way_out(mode: Mode) {
    let mut names = None;
    let g = Guarded::build(mode, Layout::OwnMount, |inner| {
        let in_tree = inner.join("att").join("e.py");
        let outside = inner.with_file_name("outside").join("e.py");
        attack(
            "printf 'EVIL = 1\\n' > \"$1\" && ln \"$1\" \"$2\"",
            &[in_tree.as_os_str(), outside.as_os_str()],
        );
        names = Some(outside);
    });
    let outside = names.expect("the links were made");
    let agent = g.start();
    let victim_path = g.scene.att("e.py");
    let stop = |sig: &str| {
        let fin = run(
            Command::new("kill").arg(sig).arg(agent.pid().to_string()),
            PROC_TIMEOUT,
        );
        assert!(fin.success(), "{fin}");
    };
    stop("-STOP");
    let mut victim = Proc::spawn(Command::new("cat").arg(&victim_path));
    // The victim waits in openat() for the stopped agent (its other opens,
    // of its libraries, are on filesystems the agent does not mark).
    let syscall = format!("/proc/{}/syscall", victim.pid());
    crate::harness::wait_until(
        "the victim to wait in openat()",
        std::time::Duration::from_secs(20),
        || std::fs::read_to_string(&syscall).is_ok_and(|s| s.starts_with(OPENAT)),
    );
    let unlinked = run(
        &mut attacker_sh("rm -f \"$1\"", &[victim_path.as_os_str()]),
        PROC_TIMEOUT,
    );
    stop("-CONT");
    assert!(unlinked.success(), "{unlinked}");
    let fin = victim
        .finish(std::time::Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the victim did not finish: {e}"));
    let outcome = if fin.success() {
        Outcome::Ok
    } else {
        assert!(fin.stderr.contains("Operation not permitted"), "{fin}");
        Outcome::Errno(libc::EPERM)
    };
    let what = "opening a file whose name in the tree went away during the open";
    g.scene.expect_refused_outcome(outcome, what);
    let shown = format!(
        "(opened in a protected tree, now named {}:",
        outside.display()
    );
    g.scene
        .expect_record_where(&agent, &shown, |p| p.starts_with(&shown), "unsigned", what);
}

/// A file outside the trees with two links, opened from another mount
/// namespace through a bind mount of its directory elsewhere: the agent
/// cannot tell which name was opened, but the mount shows no tree, so it
/// opens as without the agent.
fn files_outside_opened_through_a_bind_elsewhere_open_whatever_their_links(mode: Mode) {
    let g = Guarded::new(mode, Layout::OwnMount);
    let agent = g.start();
    let a = g.outside.join("a.txt");
    std::fs::write(&a, b"shared\n").expect("writing a.txt");
    std::fs::hard_link(&a, g.outside.join("b.txt")).expect("linking b.txt");
    let alt = g.scene.fx.root.join("alt");
    mkdirs(&alt);
    let fin = agent.guard("reading through a bind elsewhere", || {
        crate::common::outside_mount_windows(|| {
            run(
                Command::new("unshare")
                    .args(["-m", "--propagation", "private", "sh", "-c"])
                    .arg("mount --bind \"$1\" \"$2\" && cat \"$2/a.txt\"")
                    .arg("sh")
                    .arg(&g.outside)
                    .arg(&alt),
                PROC_TIMEOUT,
            )
        })
    });
    assert!(fin.success(), "{fin}");
    assert_eq!(fin.stdout, "shared\n");
    let v = status_json(&g.scene.control_socket());
    for d in ["deny", "would-deny"] {
        let refused: u64 = v["reasons"][d]
            .as_object()
            .map(|o| o.values().filter_map(serde_json::Value::as_u64).sum())
            .unwrap_or(0);
        assert_eq!(refused, 0, "the file outside the tree was refused: {v}");
    }
}

/// `openat`'s number, as `/proc/PID/syscall` starts while a process waits
/// in it.
const OPENAT: &str = if cfg!(target_arch = "aarch64") {
    "56 "
} else {
    "257 "
};

/// `MESSAGE_ID` of a symbolic link in a tree pointing outside every tree.
const MSG_SYMLINK: &str = sigward::ids::SYMLINK;

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
