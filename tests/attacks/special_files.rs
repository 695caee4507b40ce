//! Special files where a plugin or its signature should be: an executable
//! `.sig`, signatures that are a FIFO, a device node, a symlink to
//! /dev/zero or a 1 GiB file, and a plugin that is a FIFO. None of them may
//! block the agent.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{attack, both_modes, victim_open_nonblock, Mode, Scene};
use crate::harness::{run, Agent, PROC_TIMEOUT};
use crate::openers::{exec_path, python_open, Outcome};

both_modes!(
    executing_a_sig_file,
    signature_is_a_fifo,
    signature_is_a_device_node,
    signature_is_a_symlink_to_dev_zero,
    signature_is_a_1gib_file,
    plugin_is_a_fifo,
);

/// An answer to a file with a hostile signature must come at once: the
/// agent must neither block on it nor read a GiB.
const PROMPT: Duration = Duration::from_secs(5);

fn timed(what: &str, f: impl FnOnce() -> Outcome) -> Outcome {
    let start = Instant::now();
    let o = f();
    assert!(
        start.elapsed() < PROMPT,
        "{what} took {:?} (more than {PROMPT:?}): the agent blocked on or read the signature",
        start.elapsed()
    );
    o
}

/// An executable `#!/bin/sh` script named `tool.sh.sig`: signature files
/// may be read, never executed.
fn executing_a_sig_file(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let script = s.att("tool.sh.sig");
    attack(
        r#"printf '#!/bin/sh\nexit 0\n' > "$1" && chmod 755 "$1""#,
        &[script.as_os_str()],
    );
    s.expect_exec_refused(
        &agent,
        exec_path(&script),
        &[&script],
        "invalid",
        "an executable script named tool.sh.sig",
    );
}

/// `plugins/att/mod.py` (forged) beside a `mod.py.sig` that `setup` makes.
fn hostile_signature(mode: Mode, what: &str, setup: impl FnOnce(&Path)) {
    let s = Scene::new(mode);
    let agent = s.start();
    let plugin = s.att("mod.py");
    attack(r#"printf 'EVIL = True\n' > "$1""#, &[plugin.as_os_str()]);
    let sig = s.att("mod.py.sig");
    setup(&sig);
    refuse_promptly(&s, &agent, &plugin, what);
    // Again, now that a verdict may be cached.
    refuse_promptly(&s, &agent, &plugin, &format!("{what}, second open"));
}

fn refuse_promptly(s: &Scene, agent: &Agent, plugin: &Path, what: &str) {
    let o = timed(what, || python_open(plugin));
    s.expect_refused(agent, o, &[plugin], "malformed", what);
}

fn signature_is_a_fifo(mode: Mode) {
    hostile_signature(mode, "a plugin whose .sig is a FIFO", |sig| {
        attack(r#"mkfifo "$1""#, &[sig.as_os_str()]);
    });
}

/// Only root can create a device node; it may come from an archive that
/// a root deployment tool unpacked for the attacker.
fn signature_is_a_device_node(mode: Mode) {
    hostile_signature(
        mode,
        "a plugin whose .sig is a character device (1:5, like /dev/zero)",
        |sig| {
            let fin = run(
                Command::new("mknod").arg(sig).args(["c", "1", "5"]),
                PROC_TIMEOUT,
            );
            assert!(fin.success(), "mknod:\n{fin}");
            crate::common::chown_to_attacker(sig);
        },
    );
}

fn signature_is_a_symlink_to_dev_zero(mode: Mode) {
    hostile_signature(
        mode,
        "a plugin whose .sig is a symlink to /dev/zero",
        |sig| {
            attack(r#"ln -s /dev/zero "$1""#, &[sig.as_os_str()]);
        },
    );
}

fn signature_is_a_1gib_file(mode: Mode) {
    hostile_signature(mode, "a plugin whose .sig is 1 GiB", |sig| {
        attack(r#"truncate -s 1G "$1""#, &[sig.as_os_str()]);
    });
}

/// `mkfifo plugins/att/evil.py`: whatever the attacker writes into it is
/// what a loader reading `evil.py` gets. The victim opens it non-blocking.
fn plugin_is_a_fifo(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let fifo = s.att("evil.py");
    attack(r#"mkfifo "$1""#, &[fifo.as_os_str()]);
    // The kernel raises no permission event for opening a FIFO, so the
    // agent acts on its creation (asynchronously): in enforce mode it
    // removes it, in audit mode it records that it would.
    let rec = s.expect_record(
        &agent,
        &[&fifo],
        "unsigned",
        "a FIFO planted as plugins/att/evil.py",
    );
    let o = timed("opening a FIFO planted as a plugin", || {
        victim_open_nonblock(&agent, &fifo)
    });
    eprintln!("agent status after the open:\n{}", s.status());
    match s.mode {
        Mode::Enforce => {
            assert!(
                rec.get("SIGWARD_DETAIL")
                    .is_some_and(|d| d.ends_with("removed")),
                "{rec:?}"
            );
            assert!(
                matches!(o, Outcome::Errno(libc::ENOENT)),
                "the FIFO was removed: opening it must fail with ENOENT, got {o:?}"
            );
        }
        Mode::Audit => assert!(matches!(o, Outcome::Ok), "audit mode leaves it: {o:?}"),
    }
}
