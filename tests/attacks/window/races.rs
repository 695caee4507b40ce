//! The race for a new directory: the attacker makes (or moves in) a
//! directory and fills it, root opens the file at once; in a tree that is
//! a whole filesystem and in one that is a mount of its own, also during a
//! flood of `mkdir`s.

use super::{expect_no_bypass, race, Guarded, Layout};
use crate::common::{attacker_py, both_modes, wait_for_line, Mode};
use crate::harness::Proc;

both_modes!(
    directory_made_and_filled_then_opened_at_once,
    nested_directories_made_and_filled_then_opened_at_once,
    directory_moved_in_from_another_filesystem_then_opened_at_once,
    directories_made_and_filled_during_a_flood_of_mkdirs,
    directory_made_and_filled_then_opened_at_once_in_a_mount_of_its_own,
    nested_directories_made_and_filled_then_opened_at_once_in_a_mount_of_its_own,
    directory_moved_in_from_the_same_filesystem_then_opened_at_once,
    directories_made_and_filled_during_a_flood_of_mkdirs_in_a_mount_of_its_own,
);

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
