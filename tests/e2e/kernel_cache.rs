//! Kernel-cached verdicts (ignore marks) and the fast userspace cache.
//!
//! A verified file that only trusted owners can change gets an ignore mark:
//! later opens never reach the agent. These tests show that such verdicts
//! are only made where they are safe, that a modification, a new name or a
//! reload takes them away before anything else can be answered, and that
//! the userspace cache does the same for directories moved between trees.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{allow_untrusted_writers, n, reload, sig_path, start, status_json};
use crate::harness::{
    chmod, inode, keygen, mkdirs, path_str, rename, toml_str, wait_until, write_file, Fixture, Proc,
};
use crate::openers::{cat, expect_allowed, expect_eperm, python_import, python_open};

/// How long to wait for what the agent does asynchronously (its watcher
/// reacting to a rename or link, a verification starting).
const ASYNC: Duration = Duration::from_secs(5);

fn append(p: &Path, bytes: &[u8]) {
    fs::OpenOptions::new()
        .append(true)
        .open(p)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap_or_else(|e| panic!("append to {}: {e}", p.display()));
}

#[test]
fn a_verified_read_only_root_file_is_answered_by_the_kernel_until_it_is_modified() {
    let fx = Fixture::new();
    let good = fx.write_signed("mod.py", b"X = 'signed'\n");
    let (agent, socket) = start(&fx, &[]);

    assert!(!agent.has_kernel_verdict(&good));
    expect_allowed(python_open(&good), "first open: verified by the agent");
    assert!(
        agent.has_kernel_verdict(&good),
        "a verified root-owned read-only file gets an ignore mark: {:x?}",
        agent.fanotify_marks()
    );
    let before = n(&status_json(&socket), &["events"]);
    for i in 0..5 {
        expect_allowed(cat(&good), &format!("kernel-cached open {i}"));
    }
    expect_allowed(python_import(&fx.plugins, "mod"), "kernel-cached import");
    assert_eq!(
        n(&status_json(&socket), &["events"]),
        before,
        "kernel-cached opens must not reach the agent"
    );

    // Any write clears the mark in the kernel: the next open is checked.
    append(&good, b"EVIL = True\n");
    assert!(
        !agent.has_kernel_verdict(&good),
        "a write must clear the kernel verdict"
    );
    expect_eperm(cat(&good), "open after an append to a kernel-cached file");
    expect_eperm(
        python_import(&fx.plugins, "mod"),
        "import after an append to a kernel-cached file",
    );
    assert!(n(&status_json(&socket), &["events"]) > before);

    // The same for a rewrite that keeps the size and the mtime.
    let other = fx.write_signed("other.py", b"Y = 'signed'\n");
    expect_allowed(cat(&other), "other.py verified");
    assert!(agent.has_kernel_verdict(&other));
    // (touch -r reads and sets times by name: it opens nothing.)
    let reference = fx.root.join("staging/reference");
    let touch = |args: &[&Path]| {
        let fin = crate::harness::run(
            std::process::Command::new("touch").args(args),
            Duration::from_secs(10),
        );
        assert!(fin.success(), "{fin}");
    };
    touch(&[Path::new("-r"), &other, &reference]);
    write_file(&other, b"Y = 'forged'\n");
    touch(&[Path::new("-m"), Path::new("-r"), &reference, &other]);
    assert_eq!(
        fs::metadata(&other).unwrap().mtime(),
        fs::metadata(&reference).unwrap().mtime()
    );
    expect_eperm(cat(&other), "same-size rewrite with the mtime restored");
}

#[test]
fn reloads_drop_every_kernel_verdict_before_the_new_policy_answers() {
    let fx = Fixture::new();
    let a = fx.write_signed("a.py", b"A = 1\n");
    let b = fx.write_signed("sub/b.py", b"B = 2\n");
    let (agent, socket) = start(&fx, &[]);
    expect_allowed(cat(&a), "a.py");
    expect_allowed(cat(&b), "sub/b.py");
    assert_eq!(
        agent.kernel_verdicts(),
        {
            let mut v = vec![inode(&a), inode(&b)];
            v.sort_unstable();
            v
        },
        "both verified files are kernel-cached"
    );
    assert_eq!(
        agent.kernel_read_marks(),
        {
            let mut v = vec![inode(&sig_path(&a)), inode(&sig_path(&b))];
            v.sort_unstable();
            v
        },
        "their signature files got marks for reads only, before the agent read them"
    );

    // The same policy again: the marks go anyway (the trust store was
    // read again).
    reload(&fx, &socket);
    assert_eq!(agent.kernel_verdicts(), Vec::<u64>::new(), "after reload");
    let v = status_json(&socket);
    assert_eq!(n(&v, &["kernel_cache", "dropped"]), 4, "{v:#}");
    assert_eq!(agent.kernel_read_marks(), Vec::<u64>::new(), "after reload");
    assert_eq!(n(&v, &["kernel_cache", "marks"]), 0, "{v:#}");
    expect_allowed(cat(&a), "a.py under generation 2");
    assert_eq!(agent.kernel_verdicts(), vec![inode(&a)]);

    // Revoke the key: nothing it signed may pass, kernel-cached or not.
    // `revoked` belongs in [trust]: put it right after the keys line.
    let text = fx.policy_text("enforce", &[(&fx.plugins, None)]).replacen(
        "\n\n[[protect]]",
        &format!("\nrevoked = [{}]\n\n[[protect]]", toml_str(&fx.fingerprint)),
        1,
    );
    assert!(text.contains("revoked = "), "{text}");
    fx.write_policy(&text);
    reload(&fx, &socket);
    assert_eq!(agent.kernel_verdicts(), Vec::<u64>::new());
    expect_eperm(cat(&a), "a.py after its key was revoked");
    expect_eperm(cat(&b), "sub/b.py after its key was revoked");
}

#[test]
fn files_others_could_change_get_no_kernel_verdict() {
    let fx = Fixture::new();
    // Their files are verified, not refused as writable.
    fx.allow_untrusted_writers();
    // Group-writable file.
    let rw = fx.write_signed("rw.py", b"RW = 1\n");
    chmod(&rw, 0o664);
    // A directory others may write: they could rename the file away.
    let open_dir = fx.path("open");
    mkdirs(&open_dir);
    chmod(&open_dir, 0o777);
    let in_open = fx.write_signed("open/x.py", b"X = 1\n");
    // A writable directory further up: it could be moved to another tree.
    let deep = fx.write_signed("movable/inner/y.py", b"Y = 1\n");
    chmod(&fx.path("movable"), 0o777);
    // Not root's.
    let theirs = fx.write_signed("theirs.py", b"T = 1\n");
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    // Two names.
    let linked = fx.write_signed("linked.py", b"L = 1\n");
    fs::hard_link(&linked, fx.root.join("staging/linked-elsewhere.py")).unwrap();
    // Safe, for contrast.
    let safe = fx.write_signed("safe.py", b"S = 1\n");

    let (agent, _socket) = start(&fx, &[]);
    for p in [&rw, &in_open, &deep, &theirs, &linked, &safe] {
        expect_allowed(cat(p), &format!("{} is signed", p.display()));
    }
    for p in [&rw, &in_open, &deep, &theirs, &linked] {
        assert!(
            !agent.has_kernel_verdict(p),
            "{} must not be kernel-cached: {:x?}",
            p.display(),
            agent.fanotify_marks()
        );
    }
    assert!(agent.has_kernel_verdict(&safe));
    drop(agent);

    // kernel_cache = false: nothing is kernel-cached.
    let text = format!(
        "{}\n[agent]\nkernel_cache = false\n",
        fx.policy_text("enforce", &[(&fx.plugins, None)])
    );
    fx.write_policy(&text);
    let (agent, _socket) = start(&fx, &[]);
    expect_allowed(cat(&safe), "safe.py with kernel_cache = false");
    assert_eq!(agent.kernel_verdicts(), Vec::<u64>::new());
}

#[test]
fn a_kernel_cached_file_under_a_new_name_is_checked_again() {
    let fx = Fixture::new();
    let tool = fx.write_signed("tool.py", b"ROLE = 'tool'\n");
    let auth = fx.write_signed("auth.py", b"ROLE = 'auth'\n");
    let debug = fx.write_signed("debug.py", b"ROLE = 'debug'\n");
    let (agent, _socket) = start(&fx, &[]);
    for p in [&tool, &auth, &debug] {
        expect_allowed(cat(p), &format!("{}", p.display()));
        assert!(agent.has_kernel_verdict(p));
    }

    // Renamed to a name with no signature.
    let renamed = fx.path("renamed.py");
    let ino = inode(&tool);
    rename(&tool, &renamed);
    wait_until(
        "the renamed file's kernel verdict is dropped",
        ASYNC,
        || !agent.kernel_verdicts().contains(&ino),
    );
    expect_eperm(
        cat(&renamed),
        "kernel-cached file renamed to an unsigned name",
    );

    // Renamed over another signed file, signature and all: content and
    // signature match, only the name binding refuses it.
    let ino = inode(&debug);
    rename(&debug, &auth);
    wait_until("the moved file's kernel verdict is dropped", ASYNC, || {
        !agent.kernel_verdicts().contains(&ino)
    });
    expect_eperm(cat(&auth), "debug.py renamed over auth.py");

    // A second name by hard link.
    let other = fx.write_signed("other.py", b"ROLE = 'other'\n");
    expect_allowed(cat(&other), "other.py");
    let ino = inode(&other);
    assert!(agent.kernel_verdicts().contains(&ino));
    let link = fx.path("link.py");
    fs::hard_link(&other, &link).unwrap();
    wait_until("the linked file's kernel verdict is dropped", ASYNC, || {
        !agent.kernel_verdicts().contains(&ino)
    });
    expect_eperm(cat(&link), "hard link of a kernel-cached file");
}

/// A policy with two trees: `a/` trusts the fixture key by name, `b/`
/// only another key.
fn two_trees(fx: &Fixture, a: &Path, b: &Path) -> String {
    let other = fx.root.join("keys/other");
    keygen(&other);
    format!(
        "mode = \"enforce\"\n\n\
         [[trust.key]]\nname = \"test\"\nfile = {}\n\n\
         [[trust.key]]\nname = \"other\"\nfile = {}\n\n\
         [[protect]]\npath = {}\ntrust = [\"test\"]\n\n\
         [[protect]]\npath = {}\ntrust = [\"other\"]\n",
        toml_str(&path_str(&fx.pubkey)),
        toml_str(&path_str(&other.with_extension("pub"))),
        toml_str(&path_str(a)),
        toml_str(&path_str(b)),
    )
}

#[test]
fn a_directory_moved_to_a_tree_with_other_trust_is_checked_under_it() {
    let fx = Fixture::new();
    let a = fx.root.join("a");
    let b = fx.root.join("b");
    mkdirs(&b);
    // Group-writable files: the userspace cache's fast path answers them.
    let mut files: Vec<PathBuf> = Vec::new();
    for i in 0..3 {
        let p = a.join(format!("sub{i}/x.py"));
        mkdirs(p.parent().unwrap());
        write_file(&p, format!("X = {i}\n").as_bytes());
        fx.sign(&p);
        chmod(&p, 0o664);
        files.push(p);
    }
    fx.write_policy(&allow_untrusted_writers(&two_trees(&fx, &a, &b)));
    let (agent, socket) = start(&fx, &[]);
    for p in &files {
        expect_allowed(cat(p), &format!("{} in a/", p.display()));
        expect_allowed(cat(p), &format!("{} in a/ again (cached)", p.display()));
        assert!(!agent.has_kernel_verdict(p));
    }
    let hits = n(&status_json(&socket), &["cache", "hits"]);
    assert!(hits >= 3, "the second opens were cache hits");

    for (i, p) in files.iter().enumerate() {
        let moved = b.join(format!("sub{i}"));
        rename(p.parent().unwrap(), &moved);
        // At once, without waiting for the watcher.
        expect_eperm(
            cat(&moved.join("x.py")),
            &format!("sub{i}/x.py moved from a/ to b/, which does not trust its key"),
        );
    }
}

#[test]
fn many_processes_opening_one_file_at_once_share_one_verification() {
    let fx = Fixture::new();
    // Large enough that the openers arrive while it is being hashed;
    // group-writable, so that every open reaches the agent.
    let big = fx.write_signed_sparse("big.bin", 512 << 20);
    chmod(&big, 0o664);
    fx.allow_untrusted_writers();
    let (agent, socket) = start(&fx, &[]);
    let openers: Vec<Proc> = (0..16)
        .map(|_| Proc::spawn_quiet(std::process::Command::new("cat").arg(&big).arg("/dev/null")))
        .collect();
    for mut p in openers {
        let fin = p
            .finish(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("cat of the big file: {e}"));
        assert_eq!(fin.code(), Some(0), "{fin}");
    }
    let v = status_json(&socket);
    assert_eq!(
        n(&v, &["verifications", "run"]),
        1,
        "the file was hashed once: {v:#}"
    );
    assert!(
        n(&v, &["verifications", "coalesced"]) + n(&v, &["cache", "hits"]) >= 15,
        "every other open waited for that verification or hit its verdict: {v:#}"
    );
    drop(agent);
}

#[test]
fn cached_verdicts_are_answered_while_a_large_file_is_being_verified() {
    let fx = Fixture::new();
    let big = fx.write_signed_sparse("big.bin", 1 << 30);
    chmod(&big, 0o664);
    let small = fx.write_signed("small.py", b"S = 1\n");
    chmod(&small, 0o664);
    fx.allow_untrusted_writers();
    let (agent, socket) = start(&fx, &[]);
    expect_allowed(cat(&small), "small file verified");
    let mut big_open =
        Proc::spawn_quiet(std::process::Command::new("cat").arg(&big).arg("/dev/null"));
    // Wait until the big file's verification has started.
    wait_until("the big file is being verified", ASYNC, || {
        n(&status_json(&socket), &["verifications", "run"]) >= 2
    });
    let mut answered_while_pending = 0;
    for _ in 0..20 {
        expect_allowed(cat(&small), "cached small file while the big one verifies");
        if !big_open.has_exited() {
            answered_while_pending += 1;
        }
    }
    let fin = big_open.finish(Duration::from_secs(120)).unwrap();
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(
        answered_while_pending > 0,
        "cached opens were answered while the large file was still being verified"
    );
    drop(agent);
}

#[test]
fn kernel_verdicts_are_bounded_and_each_one_is_dropped_on_reload() {
    let fx = Fixture::new();
    let files: Vec<PathBuf> = (0..6)
        .map(|i| fx.write_signed(&format!("f{i}.py"), format!("F = {i}\n").as_bytes()))
        .collect();
    let text = format!(
        "{}\n[agent]\ncache_entries = 2\nverify_ahead = 0\n",
        fx.policy_text("enforce", &[(&fx.plugins, None)])
    );
    fx.write_policy(&text);
    let (agent, socket) = start(&fx, &[]);
    for p in &files {
        expect_allowed(cat(p), &format!("{}", p.display()));
        let held = agent.kernel_verdicts();
        assert!(held.len() <= 2, "at most cache_entries marks: {held:x?}");
        assert!(
            held.contains(&inode(p)),
            "the newest verdict is kernel-cached"
        );
    }
    let v = status_json(&socket);
    // Each file and its signature (reads only, placed before it was read).
    assert_eq!(n(&v, &["kernel_cache", "placed"]), 12, "{v:#}");
    assert_eq!(n(&v, &["kernel_cache", "marks"]), 2, "{v:#}");
    reload(&fx, &socket);
    assert_eq!(agent.kernel_verdicts(), Vec::<u64>::new(), "after reload");
    assert_eq!(agent.kernel_read_marks(), Vec::<u64>::new(), "after reload");
    for p in &files {
        expect_allowed(cat(p), &format!("{} after reload", p.display()));
    }
}
