//! Symbolic links in protected trees that point outside them (see
//! "Symbolic links" in docs/threat-model.md). The attack itself, in both
//! modes, is in the attack suite; these tests pin down the design: what
//! gets marked, what is only reported, and that nobody can use a link to
//! make the agent check someone else's files.

use std::os::unix::fs::{chown, symlink};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{chmod, field, is_msg, mkdirs, path_str, run, write_file, Fixture, Record};
use crate::harness::{reload, start};
use crate::openers::{cat, expect_allowed, expect_eperm};

const NOBODY: u32 = 65534;
const SYMLINK_ID: &str = sigward::ids::SYMLINK;

/// `ln -s TARGET LINK` as the unprivileged user.
fn link_as_nobody(target: &Path, link: &Path) {
    let fin = run(
        Command::new("ln")
            .arg("-s")
            .arg(target)
            .arg(link)
            .uid(NOBODY)
            .gid(NOBODY),
        Duration::from_secs(10),
    );
    assert!(fin.success(), "ln -s as nobody: {fin}");
}

fn is_link_record(link: &Path) -> impl Fn(&Record) -> bool + '_ {
    move |r: &Record| is_msg(r, SYMLINK_ID) && field(r, "SIGWARD_PATH") == path_str(link)
}

/// A fixture whose plugins/drop/ the unprivileged user may write, and a
/// directory of that user's outside every tree.
fn setup() -> (Fixture, std::path::PathBuf, std::path::PathBuf) {
    let fx = Fixture::new();
    chmod(&fx.root, 0o755);
    let drop = fx.path("drop");
    mkdirs(&drop);
    chmod(&drop, 0o777);
    let outside = fx.root.join("outside");
    mkdirs(&outside);
    chown(&outside, Some(NOBODY), Some(NOBODY)).unwrap();
    (fx, drop, outside)
}

#[test]
fn a_link_to_the_link_owners_own_file_makes_that_file_checked_by_any_name() {
    let (fx, drop, outside) = setup();
    let early = outside.join("early.py");
    write_file(&early, b"print('unsigned, linked before start')\n");
    chown(&early, Some(NOBODY), Some(NOBODY)).unwrap();
    link_as_nobody(&early, &drop.join("early.py"));
    let (agent, _socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    expect_eperm(
        cat(&drop.join("early.py")),
        "through a link made before start",
    );
    expect_eperm(cat(&early), "the target itself, by its own name");
    let r = agent.wait_record("link reported", is_link_record(&drop.join("early.py")));
    assert_eq!(
        r.get("SIGWARD_TARGET").map(String::as_str),
        Some(path_str(&early).as_str()),
        "{r:?}"
    );

    let late = outside.join("late.py");
    write_file(&late, b"print('unsigned, linked while running')\n");
    chown(&late, Some(NOBODY), Some(NOBODY)).unwrap();
    let link = drop.join("late.py");
    link_as_nobody(&late, &link);
    agent.wait_record("new link reported", is_link_record(&link));
    expect_eperm(cat(&link), "through a link made while the agent runs");

    // A directory of the user's, linked into the tree, is marked like one.
    let dir = outside.join("pkg");
    mkdirs(&dir);
    chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    let inner = dir.join("mod.py");
    write_file(&inner, b"print('unsigned, in a linked directory')\n");
    chown(&inner, Some(NOBODY), Some(NOBODY)).unwrap();
    let dlink = drop.join("pkg");
    link_as_nobody(&dir, &dlink);
    agent.wait_record("directory link reported", is_link_record(&dlink));
    expect_eperm(cat(&dlink.join("mod.py")), "a file in a linked directory");
}

#[test]
fn links_to_files_of_root_or_of_other_users_are_reported_and_not_marked() {
    let (fx, drop, _outside) = setup();
    // Root's file outside the trees: a link to it must not make the agent
    // check (and deny) it for everyone.
    let roots = fx.root.join("staging/roots.txt");
    write_file(&roots, b"root's unsigned file\n");
    let link = drop.join("roots.txt");
    let (agent, _socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    link_as_nobody(&roots, &link);
    let r = agent.wait_record("link to root's file reported", is_link_record(&link));
    assert!(
        r.get("MESSAGE")
            .is_some_and(|m| m.contains("not checked through the link")),
        "{r:?}"
    );
    expect_allowed(cat(&roots), "root's file by its own name: not checked");
    // A link made by root is root's business, whatever it points at.
    let by_root = fx.path("by-root.txt");
    symlink(&roots, &by_root).unwrap();
    agent.wait_record("root's link reported", is_link_record(&by_root));
    expect_allowed(cat(&roots), "still not checked");
}

/// A tree added by a reload is walked before the new policy is in force;
/// what the walk finds must be judged by the new policy, under which the
/// tree is protected: a FIFO planted there by an untrusted user is removed
/// in enforce mode, as in a tree protected from the start.
#[test]
fn a_fifo_in_a_tree_added_by_reload_is_removed() {
    let fx = Fixture::new();
    let extra = fx.root.join("extra");
    mkdirs(&extra);
    let fifo = extra.join("pipe.py");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", fifo.display()));
    std::os::unix::fs::lchown(&fifo, Some(NOBODY), Some(NOBODY)).unwrap();
    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    assert!(
        fifo.symlink_metadata().is_ok(),
        "outside every tree, the FIFO is left alone"
    );

    fx.write_policy(&fx.policy_text("enforce", &[(&fx.plugins, None), (&extra, None)]));
    reload(&fx, &socket);
    assert!(
        fifo.symlink_metadata().is_err(),
        "a FIFO of uid {NOBODY} in the tree the reload added is still there\n{}",
        agent.stderr_text()
    );
    let rec = agent.wait_record("the deny record for the FIFO", |r| {
        field(r, "SIGWARD_PATH") == path_str(&fifo) && field(r, "SIGWARD_DECISION") == "deny"
    });
    assert_eq!(field(&rec, "SIGWARD_ACCESS"), "create", "{rec:?}");
}
