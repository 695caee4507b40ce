//! Symbolic links in the tree. An open through a symlink raises permission
//! events only for marks on the *target's* inode and directory, never the
//! link's, so a link to a file (or directory) outside every protected tree
//! leads to a file nobody checks, and a link to a signed file gives it a
//! name its signature was not made for. Opening through such a link must be
//! refused all the same.
//!
//! The agent learns of a new link asynchronously (`FAN_CREATE` in the
//! notification group), as of a new directory; there is nothing to observe
//! from outside when it has, so these tests give it [`SETTLE`].

use std::path::Path;
use std::thread;

use crate::common::{attack, both_modes, Mode, Scene, SETTLE};
use crate::harness::Agent;
use crate::openers::{cat, expect_allowed, python_import, python_open};

both_modes!(
    symlink_to_an_unsigned_file_outside,
    symlink_to_an_unsigned_file_outside_present_at_start,
    symlink_to_a_directory_outside,
    symlink_chain_retargeted_outside_the_tree,
    symlink_gives_a_signed_file_another_name,
);

fn ln_s(target: &Path, link: &Path) {
    attack(
        r#"ln -sfn "$1" "$2""#,
        &[target.as_os_str(), link.as_os_str()],
    );
}

/// Opens `link` (python `open`, `cat`, and an import of `module` from
/// `plugins/att`) and expects each to be refused, with a record naming the
/// link or the file it leads to.
fn expect_link_refused(
    s: &Scene,
    agent: &Agent,
    link: &Path,
    target: &Path,
    module: Option<&str>,
    reason: &str,
    what: &str,
) {
    let paths = [link, target];
    let o = python_open(link);
    eprintln!(
        "agent status after opening {}:\n{}",
        link.display(),
        s.status()
    );
    s.expect_refused(agent, o, &paths, reason, what);
    s.expect_refused(agent, cat(link), &paths, reason, &format!("cat of {what}"));
    if let Some(m) = module {
        s.expect_refused(
            agent,
            python_import(&s.dir, m),
            &paths,
            reason,
            &format!("import through {what}"),
        );
    }
}

/// `ln -s /outside/evil.py plugins/att/plugin.py` while the agent runs.
fn symlink_to_an_unsigned_file_outside(mode: Mode) {
    let s = Scene::new(mode);
    let target = s.outside_file("evil.py", b"EVIL = True\n");
    let agent = s.start();
    let link = s.att("plugin.py");
    ln_s(&target, &link);
    thread::sleep(SETTLE);
    expect_link_refused(
        &s,
        &agent,
        &link,
        &target,
        Some("plugin"),
        "unsigned",
        "a symlink in the tree to an unsigned file outside it",
    );
}

/// The same link, made before the agent starts (found by the start-up
/// walk, not by a notification).
fn symlink_to_an_unsigned_file_outside_present_at_start(mode: Mode) {
    let s = Scene::new(mode);
    let target = s.outside_file("evil.py", b"EVIL = True\n");
    let link = s.att("plugin.py");
    ln_s(&target, &link);
    let agent = s.start();
    expect_link_refused(
        &s,
        &agent,
        &link,
        &target,
        Some("plugin"),
        "unsigned",
        "a symlink (present at start-up) to an unsigned file outside the tree",
    );
}

/// `plugins/att/lib -> /outside/lib`: a whole unmarked directory inside
/// the tree's namespace.
fn symlink_to_a_directory_outside(mode: Mode) {
    let s = Scene::new(mode);
    let target = s.outside_file("evil.py", b"EVIL = True\n");
    let agent = s.start();
    let lib = s.att("lib");
    ln_s(&s.outside, &lib);
    thread::sleep(SETTLE);
    expect_link_refused(
        &s,
        &agent,
        &lib.join("evil.py"),
        &target,
        None,
        "unsigned",
        "plugins/att/lib/evil.py, through a symlink to a directory outside the tree",
    );
}

/// `plugins/att/plugin.py -> /outside/hop.py -> /outside/one.py`, then the
/// attacker re-points the hop outside the tree at another unsigned file.
/// Resolving the link once is not enough.
fn symlink_chain_retargeted_outside_the_tree(mode: Mode) {
    let s = Scene::new(mode);
    let one = s.outside_file("one.py", b"EVIL = 1\n");
    let two = s.outside_file("two.py", b"EVIL = 2\n");
    let hop = s.outside.join("hop.py");
    let link = s.att("plugin.py");
    ln_s(&one, &hop);
    ln_s(&hop, &link);
    let agent = s.start();
    expect_link_refused(
        &s,
        &agent,
        &link,
        &one,
        None,
        "unsigned",
        "a symlink chain from the tree to an unsigned file outside",
    );
    ln_s(&two, &hop);
    thread::sleep(SETTLE);
    expect_link_refused(
        &s,
        &agent,
        &link,
        &two,
        None,
        "unsigned",
        "the same chain after its outside hop was re-pointed at another unsigned file",
    );
}

/// `plugins/att/auth.py -> ../sys/debug.py`: a signed, kernel-cached root
/// file, under a name its signature was not made for. Renaming or
/// hard-linking it so is refused (name binding); a symlink must be too, and
/// the file's kernel verdict must not answer for it.
fn symlink_gives_a_signed_file_another_name(mode: Mode) {
    let s = Scene::new(mode);
    let debug = s.fx.write_signed("sys/debug.py", b"ROLE = 'debug'\n");
    let agent = s.start();
    expect_allowed(cat(&debug), "root's signed sys/debug.py");
    assert!(
        agent.has_kernel_verdict(&debug),
        "premise: root's read-only signed file in a root directory is kernel-cached: {:x?}",
        agent.fanotify_marks()
    );

    let link = s.att("auth.py");
    ln_s(Path::new("../sys/debug.py"), &link);
    thread::sleep(SETTLE);
    expect_link_refused(
        &s,
        &agent,
        &link,
        &debug,
        Some("auth"),
        "tampered",
        "plugins/att/auth.py, a symlink to the signed sys/debug.py",
    );
    // Nothing is asserted about sys/debug.py under its own name while the
    // link exists: the kernel raises the very same event for both opens.
}
