//! Directories created in, or moved into, the protected tree after the agent
//! started are protected too.
//!
//! Between a mkdir (or rename) and the agent marking the new directory there
//! is an unavoidable window, so the tests first wait until the new
//! directories' inodes are listed among the agent's fanotify permission
//! marks (/proc/PID/fdinfo) and only then assert denials.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::harness::{mkdirs, run, write_file, Fixture, PROC_TIMEOUT};
use crate::openers::{cat, expect_allowed, expect_eperm, python_import, python_open};

#[test]
fn new_subdirectory_is_protected() {
    let fx = Fixture::new();
    fx.write_signed("existing.py", b"X = 0\n");
    let agent = fx.start_agent();
    // Sanity check of the fdinfo-based synchronisation: the protected root
    // itself carries a mark once the agent is ready.
    let root_ino = fs::metadata(&fx.plugins).unwrap().ino();
    assert!(
        agent.fanotify_marked_inodes().contains(&root_ino),
        "agent pid {} reported READY=1 but {} (ino {root_ino:x}) has no fanotify mark: {:?}",
        agent.pid(),
        fx.plugins.display(),
        agent.fanotify_marks()
    );

    let sub = fx.path("newsub");
    fs::create_dir(&sub).unwrap();
    agent.wait_marked(&[&sub]);

    // Creating a new file is an open of an empty file: allowed.
    let bad = sub.join("bad.py");
    agent.create_file(&bad, b"X = 'unsigned'\n");
    expect_eperm(python_open(&bad), "unsigned file in a new subdirectory");
    expect_eperm(cat(&bad), "cat of unsigned file in a new subdirectory");
    expect_eperm(python_import(&sub, "bad"), "import from a new subdirectory");

    let empty = sub.join("empty.py");
    agent.create_file(&empty, b"");
    expect_allowed(
        python_open(&empty),
        "zero-length file in a new subdirectory",
    );
    expect_allowed(
        python_import(&sub, "empty"),
        "import of a zero-length module",
    );

    let good = fx.write_signed("newsub/good.py", b"X = 'signed'\n");
    expect_allowed(python_open(&good), "signed file in a new subdirectory");
    expect_allowed(python_import(&sub, "good"), "import of a signed module");

    // mkdir -p of several levels at once.
    let deep = sub.join("x").join("y").join("z");
    fs::create_dir_all(&deep).unwrap();
    let x = sub.join("x");
    let y = x.join("y");
    agent.wait_marked(&[&x, &y, &deep]);
    for dir in [&x, &y, &deep] {
        let f = dir.join("rogue.py");
        agent.create_file(&f, b"X = 1\n");
        expect_eperm(
            python_open(&f),
            &format!("unsigned file in new nested dir {}", dir.display()),
        );
    }
}

#[test]
fn file_written_right_after_mkdir_is_denied_once_marked() {
    let fx = Fixture::new();
    let agent = fx.start_agent();

    for i in 0..3 {
        let sub = fx.path(&format!("race{i}"));
        fs::create_dir(&sub).unwrap();
        // Written before the agent has (necessarily) marked the directory.
        let early = sub.join("early.py");
        agent.create_file(&early, b"X = 'written right after mkdir'\n");
        agent.wait_marked(&[&sub]);
        expect_eperm(
            python_open(&early),
            &format!("{} (created right after mkdir)", early.display()),
        );
        expect_eperm(
            python_import(&sub, "early"),
            &format!("import early from {}", sub.display()),
        );
    }
}

#[test]
fn tree_moved_in_is_protected() {
    let fx = Fixture::new();
    // Built in the same temp dir, outside plugins/, so `mv` is a rename.
    let outside = fx.root.join("outside");
    let a = outside.join("a");
    let c = a.join("b").join("c");
    mkdirs(&c);
    write_file(&a.join("one.py"), b"X = 1\n");
    write_file(&a.join("b").join("two.py"), b"X = 2\n");
    write_file(&c.join("three.py"), b"X = 3\n");
    write_file(&c.join("empty.py"), b"");
    // A signed file inside the tree (signed where it is: outside the tree).
    let ok_outside = c.join("ok.py");
    write_file(&ok_outside, b"X = 'ok'\n");
    fx.sign(&ok_outside);

    let agent = fx.start_agent();

    run(Command::new("mv").arg(&a).arg(fx.path("a")), PROC_TIMEOUT).assert_success();
    let a = fx.path("a");
    let b = a.join("b");
    let c = b.join("c");
    agent.wait_marked(&[&a, &b, &c]);

    expect_eperm(python_open(&a.join("one.py")), "a/one.py moved in");
    expect_eperm(python_open(&b.join("two.py")), "a/b/two.py moved in");
    expect_eperm(python_open(&c.join("three.py")), "a/b/c/three.py moved in");
    expect_eperm(cat(&c.join("three.py")), "cat a/b/c/three.py moved in");
    expect_eperm(
        python_import(&c, "three"),
        "import three from moved-in tree",
    );
    expect_allowed(
        python_open(&c.join("empty.py")),
        "zero-length file moved in",
    );
    expect_allowed(python_open(&c.join("ok.py")), "signed file moved in");
    expect_allowed(python_import(&c, "ok"), "import of signed module moved in");

    // A new directory inside the moved-in tree is watched as well.
    let d = c.join("d");
    fs::create_dir(&d).unwrap();
    agent.wait_marked(&[&d]);
    let four = d.join("four.py");
    agent.create_file(&four, b"X = 4\n");
    expect_eperm(
        python_open(&four),
        "unsigned file in a dir made inside the moved tree",
    );
}
