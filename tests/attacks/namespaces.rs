//! Names from other mount namespaces.
//!
//! Anyone can have mounts of their own (`unshare -Urm`) and bind-mount a
//! file of theirs under any name there. The agent names every file through
//! its own mounts, so a name chosen in another namespace neither decides a
//! verdict nor leaves a cached one behind for the victim; and a view of a
//! tree in another namespace (a container's bind mount, an overlay whose
//! lower layer is the tree) is checked against the same tree, under the
//! file's real name.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    assert_not_kernel_cached, attack, both_modes, victim_open, wait_for_line, Mode, Scene,
};
use crate::harness::{
    allow_untrusted_writers, chmod, field, is_msg, mkdirs, run, sig_path, status, status_json,
    Agent, Finished, Proc, PROC_TIMEOUT,
};
use crate::openers::{exec_path, expect_allowed, python, python_import, Outcome};

both_modes!(
    unsigned_file_bind_mounted_onto_a_signature_name,
    copy_of_a_signed_file_bind_mounted_onto_its_signed_name,
    attacker_directory_bind_mounted_over_a_mode_off_tree,
    tree_seen_through_a_bind_mount_in_another_namespace,
    tree_seen_as_the_lower_layer_of_an_overlay,
    hard_linked_file_opened_through_a_view_in_another_namespace,
    writable_overlay_over_a_tree_is_reported,
);

/// The attacker's script, run in a user and mount namespace of its own
/// (`unshare -Urm`, which any user may do on Debian). It prints `opened`
/// or `refused` for its own open of the forged name (`$OPEN`).
fn in_attacker_namespace(mounts: &str, open: &str, args: &[&OsStr]) -> Finished {
    let script = format!(
        "unshare -Urm sh -euc '{mounts}\n\
         if {open} >/dev/null 2>&1; then echo opened; else echo refused; fi' sh \"$@\""
    );
    crate::common::outside_mount_windows(|| attack(&script, args))
}

/// In enforce mode the attacker's own open of the forged name is refused
/// too: the agent judged the file under its real name.
#[track_caller]
fn expect_own_open(s: &Scene, fin: &Finished, what: &str) {
    let want = match s.mode {
        Mode::Enforce => "refused",
        Mode::Audit => "opened",
    };
    assert_eq!(
        fin.stdout.trim(),
        want,
        "the attacker's own open of {what} in its namespace:\n{fin}"
    );
}

/// `plugins/att/evil.py` (unsigned) bind-mounted onto `plugins/att/x.sig`
/// in the attacker's namespace and read there. Signature files may be
/// read; the agent must not take the file for one, nor remember it as one
/// when root then imports `evil.py`.
fn unsigned_file_bind_mounted_onto_a_signature_name(mode: Mode) {
    let s = Scene::new(mode);
    let agent = s.start();
    let evil = s.att("evil.py");
    let shown = s.att("x.sig");
    attack(
        r#"printf 'EVIL = 1\n' > "$1" && : > "$2""#,
        &[evil.as_os_str(), shown.as_os_str()],
    );

    let fin = in_attacker_namespace(
        r#"mount --bind "$1" "$2""#,
        r#"cat "$2""#,
        &[evil.as_os_str(), shown.as_os_str()],
    );

    s.expect_refused(
        &agent,
        victim_open(&agent, &evil),
        &[&evil],
        "unsigned",
        "root's open of evil.py after the attacker read it as a .sig",
    );
    s.expect_refused(
        &agent,
        python_import(&s.dir, "evil"),
        &[&evil],
        "unsigned",
        "root's import of evil after the attacker read it as a .sig",
    );
    assert_not_kernel_cached(&agent, &evil);
    // Last, so that a failure shows the victim's outcome first.
    expect_own_open(&s, &fin, "evil.py shown as x.sig");
}

/// The attacker copies a signed `debug.py` (with its signature) into its
/// directory, and its content also to `auth.py`, which has no signature.
/// In its namespace it bind-mounts `auth.py` onto `debug.py` and reads it:
/// the agent must judge that open as `auth.py`, and root's import of
/// `auth` must not inherit `debug.py`'s verdict.
fn copy_of_a_signed_file_bind_mounted_onto_its_signed_name(mode: Mode) {
    let s = Scene::new(mode);
    let signed = s.stash_signed(OsStr::new("debug.py"), b"DEBUG = True\n");
    let agent = s.start();
    let debug = s.att("debug.py");
    let auth = s.att("auth.py");
    attack(
        r#"cp "$1" "$2" && cp "$1.sig" "$2.sig" && cp "$1" "$3""#,
        &[signed.as_os_str(), debug.as_os_str(), auth.as_os_str()],
    );
    expect_allowed(victim_open(&agent, &debug), "the signed debug.py itself");

    let fin = in_attacker_namespace(
        r#"mount --bind "$1" "$2""#,
        r#"cat "$2""#,
        &[auth.as_os_str(), debug.as_os_str()],
    );

    s.expect_refused(
        &agent,
        python_import(&s.dir, "auth"),
        &[&auth],
        "unsigned",
        "root's import of auth (a copy of debug.py without a signature of its own)",
    );
    s.expect_refused(
        &agent,
        victim_open(&agent, &auth),
        &[&auth],
        "unsigned",
        "root's open of auth.py",
    );
    expect_allowed(
        victim_open(&agent, &debug),
        "the signed debug.py after the attack",
    );
    assert_not_kernel_cached(&agent, &auth);
    // Last, so that a failure shows the victim's outcome first.
    expect_own_open(&s, &fin, "auth.py shown as debug.py");
}

/// A second tree, `offtree/`, is protected with `mode = "off"`. The
/// attacker bind-mounts its own directory over it in its namespace and
/// runs its unsigned program from there; root then runs the same program
/// from the attacker's directory, which is enforced.
fn attacker_directory_bind_mounted_over_a_mode_off_tree(mode: Mode) {
    let s = Scene::new(mode);
    let off = s.fx.root.join("offtree");
    mkdirs(&off);
    chmod(&off, 0o755);
    s.fx.write_policy(&allow_untrusted_writers(&s.fx.policy_text(
        mode.as_str(),
        &[(&s.fx.plugins, None), (&off, Some("off"))],
    )));
    let agent = s.start();
    let tool = s.att("tool");
    attack(
        r#"cp /usr/bin/true "$1" && chmod 755 "$1""#,
        &[tool.as_os_str()],
    );

    let fin = in_attacker_namespace(
        r#"mount --bind "$1" "$2""#,
        r#""$2/tool""#,
        &[s.dir.as_os_str(), off.as_os_str()],
    );

    s.expect_exec_refused(
        &agent,
        agent.guard("running the attacker's program", || exec_path(&tool)),
        &[&tool],
        "unsigned",
        "root running the attacker's unsigned program after it ran it in a mode-off view",
    );
    assert_not_kernel_cached(&agent, &tool);
    // Last, so that a failure shows the victim's outcome first.
    expect_own_open(&s, &fin, "its program run from the mode-off tree");
}

/// Runs `python3` in a mount namespace of root's own (a container's view),
/// after `mounts`; it opens each of `files` and prints `ok` or the errno.
fn victim_in_namespace(agent: &Agent, mounts: &str, files: &[PathBuf]) -> Vec<Outcome> {
    let snippet = "import sys\n\
                   for p in sys.argv[1:]:\n    \
                       try:\n        \
                           open(p, 'rb').read()\n        \
                           print('ok')\n    \
                       except OSError as e:\n        \
                           print(e.errno)\n";
    let script = format!("{mounts}\nexec \"$PYTHON\" -I -c \"$SNIPPET\" \"$@\"");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-euc"])
        .arg(&script)
        .arg("sh")
        .args(files)
        .env("PYTHON", python())
        .env("SNIPPET", snippet);
    let fin = agent.guard("opening files in a namespace of root's own", || {
        crate::common::outside_mount_windows(|| run(&mut cmd, PROC_TIMEOUT))
    });
    assert!(
        fin.success(),
        "the victim's namespace script failed:\n{fin}"
    );
    let out: Vec<Outcome> = fin
        .stdout
        .lines()
        .map(|l| match l.trim() {
            "ok" => Outcome::Ok,
            n => Outcome::Errno(n.parse().unwrap_or_else(|_| panic!("{fin}"))),
        })
        .collect();
    assert_eq!(out.len(), files.len(), "{fin}");
    out
}

/// Root in a mount namespace of its own, with the tree bind-mounted at
/// another path (as a container runtime does): the signed plugin is
/// allowed, and the attacker's unsigned one is refused and recorded under
/// its real name.
fn tree_seen_through_a_bind_mount_in_another_namespace(mode: Mode) {
    let s = Scene::new(mode);
    let view = s.fx.root.join("view");
    mkdirs(&view);
    let mount = format!(
        "mount --bind '{}' '{}'",
        s.fx.plugins.display(),
        view.display()
    );
    checked_through_a_view(&s, &mount, &view, "the bind-mounted view");
}

/// Root in a mount namespace of its own mounts an overlay whose lower
/// layer is the tree (as container runtimes do). Files of the lower layer
/// opened through the merged view are checked against the tree: the signed
/// one is allowed (its signature is found beside its real name), the
/// unsigned one is refused under its real name.
fn tree_seen_as_the_lower_layer_of_an_overlay(mode: Mode) {
    let s = Scene::new(mode);
    let (mount, merged, _) = overlay_over_the_tree(&s);
    checked_through_a_view(&s, &mount, &merged, "the overlay");
}

/// Signs root's `good.py`, starts the agent, has the attacker write an unsigned
/// `evil.py`, and opens both (and the signature) as root through `view`,
/// a view of the tree that `mount` makes in a mount namespace of root's
/// own.
fn checked_through_a_view(s: &Scene, mount: &str, view: &Path, what: &str) {
    let good = s.fx.write_signed("good.py", b"GOOD = 1\n");
    let agent = s.start();
    let evil = s.att("evil.py");
    attack(r#"printf 'EVIL = 1\n' > "$1""#, &[evil.as_os_str()]);

    let seen = |p: &Path| view.join(p.strip_prefix(&s.fx.plugins).unwrap());
    let got = victim_in_namespace(
        &agent,
        mount,
        &[seen(&good), seen(&sig_path(&good)), seen(&evil)],
    );
    expect_allowed(got[0], &format!("the signed plugin through {what}"));
    expect_allowed(got[1], &format!("its signature through {what}"));
    s.expect_refused(
        &agent,
        got[2],
        &[&evil],
        "unsigned",
        &format!("the unsigned plugin through {what}"),
    );
}

/// A file with two links, opened through a bind-mounted view of the tree
/// in another namespace: its handle cannot tell which of its names was
/// opened, and the opener's path is no name of it in the agent's
/// namespace. Refused (fail-closed), recorded by device and inode with the
/// name it was opened under, even though one of its names is signed.
fn hard_linked_file_opened_through_a_view_in_another_namespace(mode: Mode) {
    let s = Scene::new(mode);
    let signed = s.stash_signed(OsStr::new("debug.py"), b"DEBUG = True\n");
    let view = s.fx.root.join("view");
    mkdirs(&view);
    let agent = s.start();
    let debug = s.att("debug.py");
    let auth = s.att("auth.py");
    attack(
        r#"cp "$1" "$2" && cp "$1.sig" "$2.sig" && ln "$2" "$3""#,
        &[signed.as_os_str(), debug.as_os_str(), auth.as_os_str()],
    );

    let seen = view.join(auth.strip_prefix(&s.fx.plugins).unwrap());
    let got = victim_in_namespace(
        &agent,
        &format!(
            "mount --bind '{}' '{}'",
            s.fx.plugins.display(),
            view.display()
        ),
        std::slice::from_ref(&seen),
    );
    s.expect_refused_outcome(
        got[0],
        "auth.py (a second link of debug.py) through the view",
    );
    let shown = seen.display().to_string();
    s.expect_record_where(
        &agent,
        "(unresolved: opened as …/view/att/auth.py …)",
        |p| p.starts_with("(unresolved: opened as ") && p.contains(&shown),
        "unsigned",
        "a file with two links opened through another namespace's view",
    );
    // In the agent's namespace each name is judged as itself.
    expect_allowed(victim_open(&agent, &debug), "debug.py by its own name");
    s.expect_refused(
        &agent,
        victim_open(&agent, &auth),
        &[&auth],
        "unsigned",
        "auth.py by its own name",
    );
}

/// `MESSAGE_ID` of the report of an overlay over a protected tree.
const MSG_OVERLAY_VIEW: &str = sigward::ids::OVERLAY_VIEW;

/// A writable overlay whose lower layer is the tree, in a mount namespace
/// of root's own (a container's), exists when the agent starts: files
/// created through it would land in its upper layer, which is not
/// protected, so the agent reports the overlay, naming the tree, the mount
/// point and the upper layer.
fn writable_overlay_over_a_tree_is_reported(mode: Mode) {
    let s = Scene::new(mode);
    let (mount, merged, upper) = overlay_over_the_tree(&s);
    let holder = crate::common::outside_mount_windows(|| {
        let mut holder = Proc::spawn(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-euc"])
                .arg(format!("{mount}\necho MOUNTED\nexec sleep 120")),
        );
        wait_for_line(&mut holder, "MOUNTED");
        holder
    });
    let agent = s.start();
    let rec = agent.wait_record("the report of the overlay over the tree", |r| {
        is_msg(r, MSG_OVERLAY_VIEW)
    });
    assert_eq!(
        field(&rec, "SIGWARD_PATH"),
        s.fx.plugins.to_str().unwrap(),
        "{rec:?}"
    );
    assert_eq!(
        field(&rec, "SIGWARD_MOUNT"),
        merged.to_str().unwrap(),
        "{rec:?}"
    );
    assert_eq!(
        field(&rec, "SIGWARD_UPPER"),
        upper.to_str().unwrap(),
        "{rec:?}"
    );
    // And `sigward status` says so until a reload finds it gone.
    let v = status_json(&s.control_socket());
    assert_eq!(
        v["overlay_views"][0]["mount_point"],
        merged.to_str().unwrap(),
        "{v}"
    );
    let human = status(&s.control_socket(), None);
    assert!(
        human
            .stdout
            .contains("files created through them are NOT checked"),
        "{human}"
    );
    drop(holder);
}

/// Directories for an overlay whose lower layer is the scene's tree, and
/// the command that mounts it: (command, merged directory, upper layer).
fn overlay_over_the_tree(s: &Scene) -> (String, PathBuf, PathBuf) {
    let ov = s.fx.root.join("overlay");
    for d in ["upper", "work", "merged"] {
        mkdirs(&ov.join(d));
    }
    let (upper, merged) = (ov.join("upper"), ov.join("merged"));
    let mount = format!(
        "mount -t overlay overlay -o lowerdir='{}',upperdir='{}',workdir='{}' '{}'",
        s.fx.plugins.display(),
        upper.display(),
        ov.join("work").display(),
        merged.display()
    );
    (mount, merged, upper)
}
