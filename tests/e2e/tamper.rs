//! Modifying or renaming a signed file after signing must get it denied,
//! including after a verdict for it was cached; `.sig` files are readable
//! but never executable.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::harness::{chmod, rename, run, sig_path, Fixture, PROC_TIMEOUT};
use crate::openers::{
    cat, exec_path, expect_allowed, expect_eperm, expect_exec_denied, python_import, python_open,
};

#[test]
fn appending_after_signing_is_denied() {
    let fx = Fixture::new();
    let before = fx.write_signed("before.py", b"X = 1\n");
    let live = fx.write_signed("live.py", b"X = 1\n");
    let via_old_fd = fx.write_signed("oldfd.py", b"X = 1\n");
    {
        let mut f = OpenOptions::new().append(true).open(&before).unwrap();
        f.write_all(b"X = 2\n").unwrap();
    }
    // A writer that opened the file before the agent started: its writes
    // cause no permission event at all.
    let mut old_writer = OpenOptions::new().append(true).open(&via_old_fd).unwrap();

    let agent = fx.start_agent();

    expect_eperm(
        python_open(&before),
        "file appended to before the agent started",
    );

    // Allowed first, so a verdict may be cached...
    expect_allowed(python_open(&live), "signed live.py before tampering");
    expect_allowed(
        python_import(&fx.plugins, "live"),
        "import live before tampering",
    );
    // ...then appended to through a fresh open (the signed file may be opened
    // for writing while it is still intact).
    agent.guard("appending to live.py", || {
        let mut f = OpenOptions::new()
            .append(true)
            .open(&live)
            .unwrap_or_else(|e| panic!("opening intact signed live.py for append: {e}"));
        f.write_all(b"X = 'evil'\n").unwrap();
    });
    expect_eperm(python_open(&live), "live.py after append");
    expect_eperm(
        python_import(&fx.plugins, "live"),
        "import live after append",
    );
    expect_eperm(cat(&live), "cat live.py after append");

    // Intact, but open for writing by this process since before the agent
    // started: it could change after any check, so it is refused.
    expect_eperm(
        python_open(&via_old_fd),
        "signed oldfd.py while another process holds it open for writing",
    );
    old_writer.write_all(b"X = 'evil'\n").unwrap();
    old_writer.flush().unwrap();
    expect_eperm(
        python_open(&via_old_fd),
        "oldfd.py after append through a descriptor opened before the agent started",
    );
    drop(old_writer);
    expect_eperm(python_open(&via_old_fd), "oldfd.py after the writer closed");
}

#[test]
fn same_size_rewrite_with_restored_mtime_is_denied() {
    let fx = Fixture::new();
    let target = fx.write_signed("same.py", b"VALUE = 'aaaa'\n");
    let reference = fx.root.join("same.py.reference");
    run(
        Command::new("cp").arg("-p").arg(&target).arg(&reference),
        PROC_TIMEOUT,
    )
    .assert_success();
    let orig = fs::metadata(&target).unwrap();

    let agent = fx.start_agent();

    // Allowed once, so a verdict for this inode/mtime/size may be cached.
    expect_allowed(python_open(&target), "signed same.py before rewrite");
    expect_allowed(
        python_import(&fx.plugins, "same"),
        "import same before rewrite",
    );

    agent.guard("rewriting same.py in place", || {
        let mut f = OpenOptions::new()
            .write(true)
            .open(&target)
            .unwrap_or_else(|e| panic!("opening intact signed same.py for writing: {e}"));
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"VALUE = 'bbbb'\n").unwrap();
    });
    // Restore the mtime from the reference copy; -c: touch must not open.
    run(
        Command::new("touch")
            .arg("-c")
            .arg("-r")
            .arg(&reference)
            .arg(&target),
        PROC_TIMEOUT,
    )
    .assert_success();
    let now = fs::metadata(&target).unwrap();
    assert_eq!(now.len(), orig.len(), "rewrite changed the size");
    assert_eq!(
        (now.mtime(), now.mtime_nsec()),
        (orig.mtime(), orig.mtime_nsec()),
        "mtime was not restored"
    );
    assert_eq!(now.ino(), orig.ino(), "rewrite was not in place");

    expect_eperm(
        python_open(&target),
        "same-size in-place rewrite with mtime restored",
    );
    expect_eperm(
        python_import(&fx.plugins, "same"),
        "import after same-size rewrite",
    );
}

#[test]
fn renaming_a_signed_file_over_another_is_denied() {
    let fx = Fixture::new();
    // a/: only debug.py is moved; auth.py.sig stays as it is.
    let a_auth = fx.write_signed("a/auth.py", b"ROLE = 'auth'\n");
    let a_debug = fx.write_signed("a/debug.py", b"ROLE = 'debug'\n");
    // b/: debug.py and debug.py.sig are both moved over auth.py(.sig), so
    // content and signature match: only the name binding catches it.
    let b_auth = fx.write_signed("b/auth.py", b"ROLE = 'auth'\n");
    let b_debug = fx.write_signed("b/debug.py", b"ROLE = 'debug'\n");
    // c/: a signed file and its .sig renamed to a fresh name.
    let c_tool = fx.write_signed("c/tool.py", b"ROLE = 'tool'\n");

    let _agent = fx.start_agent();

    // Open everything once first, so allow verdicts may be cached.
    for p in [&a_auth, &a_debug, &b_auth, &b_debug, &c_tool] {
        expect_allowed(python_open(p), &format!("{} before rename", p.display()));
    }

    rename(&a_debug, &a_auth);
    expect_eperm(
        python_open(&a_auth),
        "a/debug.py renamed over a/auth.py (auth.py.sig kept)",
    );
    expect_eperm(
        python_import(&fx.path("a"), "auth"),
        "import auth after debug.py was renamed over it",
    );

    rename(&b_debug, &b_auth);
    rename(&sig_path(&b_debug), &sig_path(&b_auth));
    expect_eperm(
        python_open(&b_auth),
        "b/debug.py and its .sig renamed over b/auth.py(.sig)",
    );
    expect_eperm(
        python_import(&fx.path("b"), "auth"),
        "import auth after debug.py(.sig) was renamed over it",
    );

    let c_new = fx.path("c/renamed.py");
    rename(&c_tool, &c_new);
    rename(&sig_path(&c_tool), &sig_path(&c_new));
    expect_eperm(
        python_open(&c_new),
        "signed tool.py renamed (with its .sig) to renamed.py",
    );
}

#[test]
fn sig_files_are_readable_but_never_executable() {
    let fx = Fixture::new();
    let signed = fx.write_signed("x.py", b"X = 1\n");
    let x_sig = sig_path(&signed);
    let script = b"#!/bin/sh\nexit 0\n";
    // An unsigned script named *.sig.
    let evil = fx.write_unsigned_mode("evil.sh.sig", script, 0o755);
    // A script named *.sig that is itself signed (tool.sig + tool.sig.sig).
    let signed_sig = fx.write_signed_mode("tool.sig", script, 0o755);
    chmod(&x_sig, 0o755);

    let _agent = fx.start_agent();

    expect_allowed(python_open(&x_sig), "reading x.py.sig");
    expect_allowed(cat(&x_sig), "cat x.py.sig");
    expect_allowed(python_open(&signed), "the signed x.py itself");
    expect_allowed(python_open(&evil), "reading evil.sh.sig");

    expect_exec_denied(
        exec_path(&evil),
        "an executable #!/bin/sh script named evil.sh.sig",
    );
    expect_exec_denied(
        exec_path(&signed_sig),
        "a signed #!/bin/sh script named tool.sig",
    );
    expect_exec_denied(exec_path(&x_sig), "x.py.sig with the x bit set");
}
