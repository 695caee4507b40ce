//! Directories made and removed at once: their parents are stale by the
//! time the watcher reads about them, and that makes it rescan nothing.

use crate::common::{attacker_py, both_modes, Mode, Scene};
use crate::harness::{is_msg, mkdirs, run, PROC_TIMEOUT};

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
