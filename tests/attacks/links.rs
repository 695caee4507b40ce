//! Files brought into the tree by a hard link or a rename, and signed files
//! put under another name (signatures bind the base name).

use crate::common::{
    assert_not_kernel_cached, attack, attacker_py, both_modes, victim_open, wait_for_line, Mode,
    Scene,
};
use crate::harness::{run, sig_path, status_json, Proc, PROC_TIMEOUT};
use crate::openers::{expect_allowed, python, python_import, python_open};

both_modes!(
    hard_link_of_an_unsigned_file,
    unsigned_file_moved_in_by_rename,
    signed_file_replaced_by_rename_of_another_signed_file,
    signed_file_hard_linked_under_another_name,
    name_swapped_with_its_signature_during_the_open,
);

/// `ln outside/evil.py plugins/att/plugin.py`: the file is the attacker's,
/// so `fs.protected_hardlinks` does not stop it.
fn hard_link_of_an_unsigned_file(mode: Mode) {
    let s = Scene::new(mode);
    let evil = s.outside_file("evil.py", b"EVIL = True\n");
    let agent = s.start();

    let linked = s.att("plugin.py");
    attack(r#"ln "$1" "$2""#, &[evil.as_os_str(), linked.as_os_str()]);

    s.expect_refused(
        &agent,
        python_open(&linked),
        &[&linked],
        "unsigned",
        "an unsigned file hard-linked into the tree",
    );
    s.expect_refused(
        &agent,
        python_import(&s.dir, "plugin"),
        &[&linked],
        "unsigned",
        "import of an unsigned file hard-linked into the tree",
    );
}

/// Written outside the tree while the agent runs, then `mv`ed in: a rename
/// opens nothing, so the file is first seen when the victim opens it.
fn unsigned_file_moved_in_by_rename(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();

    let staged = s.outside.join("evil.py");
    let moved = s.att("plugin.py");
    attack(
        r#"printf 'EVIL = True\n' > "$1" && mv "$1" "$2""#,
        &[staged.as_os_str(), moved.as_os_str()],
    );

    s.expect_refused(
        &agent,
        python_open(&moved),
        &[&moved],
        "unsigned",
        "an unsigned file moved into the tree",
    );
    s.expect_refused(
        &agent,
        python_import(&s.dir, "plugin"),
        &[&moved],
        "unsigned",
        "import of an unsigned file moved into the tree",
    );
}

/// `mv debug.py auth.py; mv debug.py.sig auth.py.sig`: content and
/// signature match, only the name binding refuses it. Both files were
/// allowed first, so verdicts for them are cached.
fn signed_file_replaced_by_rename_of_another_signed_file(mode: Mode) {
    let s = Scene::new(mode);
    let auth = s.signed("auth.py", b"ROLE = 'auth'\n");
    let debug = s.signed("debug.py", b"ROLE = 'debug'\n");
    let agent = s.start();

    expect_allowed(victim_open(&agent, &auth), "signed auth.py");
    expect_allowed(victim_open(&agent, &debug), "signed debug.py");
    assert_not_kernel_cached(&agent, &auth);
    assert_not_kernel_cached(&agent, &debug);

    attack(
        r#"mv "$1" "$2" && mv "$1.sig" "$2.sig""#,
        &[debug.as_os_str(), auth.as_os_str()],
    );

    s.expect_refused(
        &agent,
        python_open(&auth),
        &[&auth],
        "tampered",
        "debug.py and its .sig renamed over auth.py(.sig)",
    );
    s.expect_refused(
        &agent,
        python_import(&s.dir, "auth"),
        &[&auth],
        "tampered",
        "import auth after debug.py(.sig) was renamed over it",
    );
}

/// `ln tool.py auth.py; cp tool.py.sig auth.py.sig`: a second name for a
/// signed (and already allowed) file, with a copy of its signature.
fn signed_file_hard_linked_under_another_name(mode: Mode) {
    let s = Scene::new(mode);
    let tool = s.signed("tool.py", b"ROLE = 'tool'\n");
    let agent = s.start();

    expect_allowed(victim_open(&agent, &tool), "signed tool.py");
    assert_not_kernel_cached(&agent, &tool);

    let auth = s.att("auth.py");
    // (Linked, not copied: reading a signature file its owner just made
    // is not exempt, see `name_swapped_with_its_signature_during_the_open`.)
    attack(
        r#"ln "$1" "$2" && ln "$1.sig" "$2.sig""#,
        &[tool.as_os_str(), auth.as_os_str()],
    );
    assert!(sig_path(&auth).exists());

    s.expect_refused(
        &agent,
        python_open(&auth),
        &[&auth],
        "tampered",
        "a hard link of signed tool.py named auth.py, with a copy of tool.py.sig",
    );
    // The original name keeps working.
    expect_allowed(
        victim_open(&agent, &tool),
        "tool.py itself, now with two links",
    );
}

/// How many times the victim opens the file whose name is being swapped.
const SWAP_ATTEMPTS: usize = 2000;

/// The attacker swaps the names of its unsigned `evil.py` and a file
/// `evil.py.sig` (`renameat2(RENAME_EXCHANGE)`) in a tight loop while root
/// opens `evil.py`. When the swap lands between root's open and the moment
/// the agent names the file, the file root opened is called `evil.py.sig`.
/// Reads of signature files are exempt, but not for a file its owner could
/// have renamed: root never reads the unsigned code.
fn name_swapped_with_its_signature_during_the_open(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let evil = s.att("evil.py");
    let sig = s.att("evil.py.sig");
    attack(
        r#"printf 'EVIL = 1\n' > "$1" && printf 'not a signature\n' > "$2""#,
        &[evil.as_os_str(), sig.as_os_str()],
    );
    let mut swapper = Proc::spawn(&mut attacker_py(
        "import ctypes, sys, time\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         a, b = sys.argv[1].encode(), sys.argv[2].encode()\n\
         print('SWAPPING', flush=True)\n\
         end = time.time() + 100\n\
         while time.time() < end:\n\
         \x20   libc.renameat2(-100, a, -100, b, 2)\n",
        &[evil.as_os_str(), sig.as_os_str()],
    ));
    wait_for_line(&mut swapper, "SWAPPING");
    let fin = agent.guard("the victim's opens of the swapped file", || {
        run(
            std::process::Command::new(python())
                .arg("-I")
                .arg("-c")
                .arg(
                    "import json, sys\n\
                     c = {'evil': 0, 'other': 0, 'refused': 0}\n\
                     for _ in range(int(sys.argv[2])):\n\
                     \x20   try:\n\
                     \x20       data = open(sys.argv[1], 'rb').read()\n\
                     \x20       c['evil' if data.startswith(b'EVIL') else 'other'] += 1\n\
                     \x20   except PermissionError:\n\
                     \x20       c['refused'] += 1\n\
                     print(json.dumps(c))\n",
                )
                .arg(&evil)
                .arg(SWAP_ATTEMPTS.to_string()),
            PROC_TIMEOUT,
        )
    });
    drop(swapper);
    assert!(fin.success(), "{fin}");
    let seen: serde_json::Value = serde_json::from_str(fin.stdout.trim()).unwrap();
    eprintln!("opens of the swapped file: {seen}");
    let evil_reads = seen["evil"].as_u64().unwrap();
    match mode {
        Mode::Enforce => assert_eq!(
            evil_reads, 0,
            "root read the unsigned code {evil_reads} times in {SWAP_ATTEMPTS}: {seen}"
        ),
        Mode::Audit => {
            let v = status_json(&s.control_socket());
            let would = v["verdicts"]["would-deny"].as_u64().unwrap_or(0);
            assert!(
                would >= evil_reads,
                "{evil_reads} reads of the unsigned code but {would} would-deny verdicts: {seen}"
            );
        }
    }
}
