//! Directories that appear in a tree while the agent runs.
//!
//! A notification about a new directory names the directory it appeared
//! in by file handle. When that directory is removed before the watcher
//! reads the notification, the handle no longer opens (`ESTALE`); the new
//! directory went with it, so there is nothing to mark. The watcher used
//! to rescan every tree instead, which an attacker could repeat at will to
//! keep the watcher busy (and new directories unmarked) for seconds.

use crate::common::{attacker_py, both_modes, Mode, Scene};
use crate::harness::{is_msg, mkdirs, run, PROC_TIMEOUT};

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
