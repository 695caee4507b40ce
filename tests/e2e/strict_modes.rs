//! Strict modes for trust material: `check`, `run` and reload refuse a
//! policy whose files, or the directories above them, someone other than
//! root can change, and name the file and the reason.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{
    path_str, sigward, sigward_cmd, start, status_json, toml_str, Agent, Finished, Fixture, Proc,
    PROC_TIMEOUT,
};

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn check(policy: &Path) -> Finished {
    sigward([
        OsStr::new("check"),
        OsStr::new("--policy"),
        policy.as_os_str(),
    ])
}

fn run_once(policy: &Path, env: &[(&str, &str)]) -> Finished {
    let mut cmd = sigward_cmd([
        OsStr::new("run"),
        OsStr::new("--policy"),
        policy.as_os_str(),
        OsStr::new("--control-socket"),
        OsStr::new("none"),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
    ]);
    cmd.env("SIGWARD_LOG_TARGET", "stderr");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::spawn(&mut cmd).wait(PROC_TIMEOUT)
}

#[track_caller]
fn refused(fin: &Finished, file: &Path, reason: &str, what: &str) {
    assert!(!fin.success(), "{what} was accepted:\n{fin}");
    let text = format!("{}{}", fin.stdout, fin.stderr);
    assert!(
        text.contains(&path_str(file)) && text.contains(reason),
        "{what}: the refusal does not name {} and say {reason:?}:\n{fin}",
        file.display()
    );
}

#[test]
fn a_world_writable_drop_in_directory_is_refused() {
    let fx = Fixture::new();
    let dir = fx.root.join("policy.d");
    fs::create_dir_all(&dir).unwrap();
    chmod(&dir, 0o777);
    let fin = check(&fx.policy);
    refused(
        &fin,
        &dir,
        "writable by group and others (mode 0777)",
        "policy.d at 0777",
    );
    let fin = run_once(&fx.policy, &[]);
    refused(&fin, &dir, "mode 0777", "run with policy.d at 0777");
}

#[test]
fn a_drop_in_owned_by_nobody_turning_enforcement_off_is_refused() {
    let fx = Fixture::new();
    let dir = fx.root.join("policy.d");
    fs::create_dir_all(&dir).unwrap();
    let d = dir.join("50-off.toml");
    fs::write(&d, b"mode = \"off\"\n").unwrap();
    chmod(&d, 0o666);
    nix::unistd::chown(&d, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let fin = check(&fx.policy);
    refused(&fin, &d, "owned by uid 65534", "a drop-in of nobody's");
    // Root's, but writable by others: refused for that.
    nix::unistd::chown(&d, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
    let fin = check(&fx.policy);
    refused(
        &fin,
        &d,
        "writable by group and others (mode 0666)",
        "a drop-in at 0666",
    );
}

#[test]
fn a_world_writable_key_file_is_refused_at_the_line_naming_it() {
    let fx = Fixture::new();
    chmod(&fx.pubkey, 0o646);
    let fin = check(&fx.policy);
    refused(
        &fin,
        &fx.pubkey,
        "writable by others (mode 0646)",
        "a key file at 0646",
    );
    let text = format!("{}{}", fin.stdout, fin.stderr);
    assert!(
        text.contains(&format!("{}:", path_str(&fx.policy))),
        "the error does not name the policy line that loads the key:\n{fin}"
    );
}

#[test]
fn a_key_directory_above_the_files_writable_by_others_is_refused() {
    let fx = Fixture::new();
    let keys = fx.root.join("kd");
    fs::create_dir_all(&keys).unwrap();
    fs::copy(&fx.pubkey, keys.join("a.pub")).unwrap();
    chmod(&keys, 0o757);
    let policy = fx.root.join("kd-policy.toml");
    fs::write(
        &policy,
        format!(
            "[trust]\nkeys_dir = {}\n[[protect]]\npath = {}\n",
            toml_str(&path_str(&keys)),
            toml_str(&path_str(&fx.plugins))
        ),
    )
    .unwrap();
    refused(
        &check(&policy),
        &keys,
        "writable by others (mode 0757)",
        "keys_dir at 0757",
    );
}

/// A running agent refuses the reload and keeps its policy.
#[test]
fn a_reload_refuses_a_drop_in_others_can_write() {
    let fx = Fixture::new();
    let (_agent, socket) = start(&fx, &[]);
    let dir = fx.root.join("policy.d");
    fs::create_dir_all(&dir).unwrap();
    let d = dir.join("50-off.toml");
    fs::write(&d, b"mode = \"off\"\n").unwrap();
    chmod(&d, 0o666);
    let fin = crate::harness::try_reload(&fx, &socket);
    refused(&fin, &d, "mode 0666", "a reload with a drop-in at 0666");
    assert_eq!(status_json(&socket)["mode"].as_str(), Some("enforce"));
}

/// The escape hatch is documented and never silent.
#[test]
fn the_escape_hatch_is_not_silent() {
    let fx = Fixture::new();
    chmod(&fx.pubkey, 0o666);
    let mut cmd = sigward_cmd([
        OsStr::new("check"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
    ]);
    cmd.env("SIGWARD_INSECURE_MODES", "1");
    let fin = Proc::spawn(&mut cmd).wait(PROC_TIMEOUT);
    assert!(fin.success(), "{fin}");
    assert!(
        format!("{}{}", fin.stdout, fin.stderr).contains("strict modes are off"),
        "{fin}"
    );
    let _ = Agent::start_with_env(&fx.policy, &[("SIGWARD_INSECURE_MODES", "1")]);
}
