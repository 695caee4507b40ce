//! What the filesystem mark of a tree covers: files outside the tree on
//! its filesystem open unchecked, a link from the tree to them is checked,
//! only files no one else can move are left to the kernel; and trees that
//! share their filesystem (or are shown elsewhere without their mount)
//! have no mark, and say so.

use std::process::Command;

use super::{expect_no_bypass, race, Guarded, Layout, MSG_NEW_DIRECTORY_WINDOW};
use crate::common::{attack, attacker_py, both_modes, victim_read, Mode, Scene};
use crate::harness::{chmod, is_msg, mkdirs, run, status_json, PROC_TIMEOUT};
use crate::openers::Outcome;

both_modes!(
    files_outside_a_tree_that_is_a_mount_of_its_own_open_unchecked,
    a_tree_sharing_its_filesystem_reports_its_window,
    a_tree_also_shown_without_its_mount_is_reported_until_bound_there_too,
    a_link_in_the_tree_to_the_attackers_file_beside_it_is_still_checked,
    only_files_that_only_trusted_owners_can_move_are_left_to_the_kernel,
);

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

/// `MESSAGE_ID` of a symbolic link in a tree pointing outside every tree.
const MSG_SYMLINK: &str = sigward::ids::SYMLINK;
