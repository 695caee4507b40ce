//! The bundled example (README's first command) behaves as documented: the
//! agent starts on `examples/policy.toml` and enforces it, and `verify`
//! agrees. Runs on a copy, so nothing is written into the checkout and the
//! policy's relative paths are shown to work from any location.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{run, sigward, Agent, PROC_TIMEOUT};
use crate::openers::{cat, exec_path, expect_allowed, expect_eperm, python_import};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn bundled_example_policy_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    run(
        Command::new("cp").arg("-a").arg(examples()).arg(tmp.path()),
        PROC_TIMEOUT,
    )
    .assert_success();
    let ex = tmp.path().join("examples");
    let plugins = ex.join("plugins");
    let policy = ex.join("policy.toml");

    // The CLI's view, before the agent runs.
    let fin = sigward([
        "verify".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
        plugins.join("hello.py").as_os_str(),
        plugins.join("tools/greet.sh").as_os_str(),
        plugins.join("unsigned.py").as_os_str(),
        plugins.join("tampered.py").as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(1), "verify exit status\n{}", fin.stdout);
    let lines: Vec<&str> = fin.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", fin.stdout);
    assert!(lines[0].contains("hello.py: ok (key "), "{}", lines[0]);
    assert!(lines[1].contains("greet.sh: ok (key "), "{}", lines[1]);
    assert!(lines[2].contains("unsigned.py: unsigned: "), "{}", lines[2]);
    assert!(lines[3].contains("tampered.py: tampered: "), "{}", lines[3]);

    // The kernel path's view.
    let _agent = Agent::start(&policy);
    expect_allowed(python_import(&plugins, "hello"), "import of signed hello");
    expect_allowed(cat(&plugins.join("hello.py")), "cat of signed hello.py");
    expect_allowed(
        exec_path(&plugins.join("tools/greet.sh")),
        "signed greet.sh",
    );
    expect_eperm(python_import(&plugins, "unsigned"), "import of unsigned");
    expect_eperm(cat(&plugins.join("tampered.py")), "cat of tampered.py");
}
