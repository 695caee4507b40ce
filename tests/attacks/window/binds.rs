//! The bind that makes a tree a mount of its own: namespaces and working
//! directories from before it keep the filesystem mark away, removing it
//! takes the mark away at once; and files with names outside the tree.

use std::process::Command;

use super::{Guarded, Layout, MSG_NEW_DIRECTORY_WINDOW};
use crate::common::{attack, attacker_sh, both_modes, wait_for_line, Mode};
use crate::harness::{is_msg, mkdirs, run, status_json, Proc, PROC_TIMEOUT};
use crate::openers::Outcome;

both_modes!(
    a_namespace_made_before_the_bind_keeps_the_mark_away,
    a_working_directory_opened_before_the_bind_keeps_the_mark_away,
    removing_the_bind_takes_the_mark_away_at_once,
    a_second_name_outside_the_tree_unlinked_during_the_open_is_no_way_out,
    files_outside_opened_through_a_bind_elsewhere_open_whatever_their_links,
);

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
