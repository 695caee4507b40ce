//! The control socket itself: `ping` and malformed requests, peers that
//! are not root, a second agent on a live socket, and the socket and pid
//! file removed on SIGTERM.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use super::{generation, ping, request, Ctl};
use crate::harness::{
    chmod, is_msg, path_str, run, sigward_bin, sigward_cmd, Agent, Finished, Fixture, Proc,
    PROC_TIMEOUT,
};
use crate::openers::{expect_eperm, python_open};

const NOBODY: u32 = 65534;

#[test]
fn ping_and_malformed_requests() {
    let fx = Fixture::new();
    let ctl = Ctl::in_dir(&fx.root);
    let mut agent = ctl.start(&fx);

    let a = ping(&ctl.socket);
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["generation"], 1, "{a}");
    assert_eq!(a["pid"], i64::from(agent.pid()), "{a}");

    for (req, want) in [
        (&b"frobnicate\n"[..], "unknown request"),
        (b"reload now\n", "takes no arguments"),
        (b"\n", "empty request"),
        (b"\xff\xfe\n", "not UTF-8"),
    ] {
        let a = request(&ctl.socket, req);
        assert_eq!(a["ok"], false, "{req:?}: {a}");
        assert!(a.get("generation").is_none(), "{req:?}: {a}");
        let err = a["error"].as_str().unwrap_or_default();
        assert!(err.contains(want), "{req:?}: {a}");
    }
    let a = request(&ctl.socket, &vec![b'x'; 100_000]);
    assert_eq!(a["ok"], false, "{a}");
    assert!(
        a["error"]
            .as_str()
            .unwrap_or_default()
            .contains("too large"),
        "{a}"
    );

    // A client that connects and says nothing holds up only other control
    // clients, and only for the connection deadline.
    let silent = UnixStream::connect(&ctl.socket).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(generation(&ctl.socket), 1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a silent client held the control socket for {:?}",
        started.elapsed()
    );
    drop(silent);
    agent.assert_alive("after malformed control requests");
}

#[test]
fn non_root_peers_are_refused() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let ctl = Ctl::in_dir(&fx.root);
    let agent = ctl.start(&fx);
    let meta = fs::metadata(&ctl.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o777, 0o600, "control socket mode");
    assert_eq!(meta.uid(), 0);

    // A copy of the client that uid 65534 can run, in a directory it can
    // traverse.
    chmod(&fx.root, 0o711);
    let client = fx.root.join("sigward-client");
    fs::copy(sigward_bin(), &client).unwrap();
    chmod(&client, 0o755);
    // Policy relaxed on disk: a reload by the unprivileged peer would apply it.
    fx.set_mode("audit");
    let as_nobody = || {
        let mut cmd = Command::new(&client);
        cmd.args([
            OsStr::new("reload"),
            OsStr::new("--control-socket"),
            ctl.socket.as_os_str(),
            OsStr::new("--pid-file"),
            OsStr::new("none"),
        ])
        .uid(NOBODY)
        .gid(NOBODY)
        .env_remove("NOTIFY_SOCKET");
        run(&mut cmd, PROC_TIMEOUT)
    };

    // The socket's mode keeps it out.
    let fin = as_nobody();
    assert_eq!(fin.code(), Some(2), "{fin}");
    assert!(fin.stderr.contains("ermission denied"), "{fin}");

    // With the mode opened up, SO_PEERCRED still does.
    chmod(&ctl.socket, 0o666);
    let fin = as_nobody();
    assert_eq!(fin.code(), Some(2), "{fin}");
    assert!(fin.stderr.contains("root only"), "{fin}");
    assert!(fin.stderr.contains("65534"), "{fin}");

    assert_eq!(
        generation(&ctl.socket),
        1,
        "a non-root peer reloaded the policy"
    );
    expect_eperm(python_open(&bad), "unsigned file after the refused peer");
    agent.wait_record("control refusal record", |r| {
        is_msg(r, sigward::ids::CONTROL_REFUSED)
    });
}

#[test]
fn a_second_agent_does_not_take_a_live_socket() {
    let fx = Fixture::new();
    let ctl = Ctl::in_dir(&fx.root);
    let mut first = ctl.start(&fx);

    let second = |args: &[&OsStr]| -> Finished {
        let mut cmd = sigward_cmd([
            OsStr::new("run"),
            OsStr::new("--policy"),
            fx.policy.as_os_str(),
        ]);
        cmd.args(args).env("SIGWARD_LOG_TARGET", "stderr");
        Proc::spawn(&mut cmd).wait(PROC_TIMEOUT)
    };
    let fin = second(&[
        OsStr::new("--control-socket"),
        ctl.socket.as_os_str(),
        OsStr::new("--pid-file"),
        fx.root.join("pid2").as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("already running"), "{fin}");
    assert!(fin.stderr.contains(&path_str(&ctl.socket)), "{fin}");
    assert!(
        !fx.root.join("pid2").exists(),
        "the refused agent left its pid file"
    );

    // Same pid file, no socket: refused too.
    let fin = second(&[
        OsStr::new("--control-socket"),
        OsStr::new("none"),
        OsStr::new("--pid-file"),
        ctl.pid_file.as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(
        fin.stderr.contains(&format!("pid {}", first.pid())),
        "{fin}"
    );

    // The first agent keeps its socket and pid file.
    first.assert_alive("after a second agent tried its socket");
    assert_eq!(ping(&ctl.socket)["pid"], i64::from(first.pid()));
    assert_eq!(
        fs::read_to_string(&ctl.pid_file).unwrap().trim(),
        first.pid().to_string()
    );

    // An agent that died without cleaning up leaves a stale socket (and pid
    // file): the next agent replaces them.
    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(10));
    assert!(
        ctl.socket.exists(),
        "SIGKILL should leave the socket file behind"
    );
    let next = ctl.start(&fx);
    assert_eq!(ping(&ctl.socket)["pid"], i64::from(next.pid()));
    assert_eq!(
        fs::read_to_string(&ctl.pid_file).unwrap().trim(),
        next.pid().to_string()
    );
}

#[test]
fn socket_and_pid_file_are_removed_on_sigterm() {
    let fx = Fixture::new();
    // A missing directory is created, root-only.
    let run_dir = fx.root.join("run").join("sigward");
    let ctl = Ctl::in_dir(&run_dir);
    let mut agent = Agent::start_with_args(
        &fx.policy,
        &[
            OsStr::new("--control-socket"),
            ctl.socket.as_os_str(),
            OsStr::new("--pid-file"),
            ctl.pid_file.as_os_str(),
        ],
    );
    let dir_meta = fs::metadata(&run_dir).unwrap();
    assert_eq!(dir_meta.permissions().mode() & 0o777, 0o700);
    assert!(fs::metadata(&ctl.socket).unwrap().file_type().is_socket());
    assert_eq!(
        fs::read_to_string(&ctl.pid_file).unwrap(),
        format!("{}\n", agent.pid())
    );

    agent.signal(libc::SIGTERM);
    let st = agent.wait_exit(Duration::from_secs(30));
    assert!(st.success(), "agent exit status after SIGTERM: {st}");
    assert!(
        !ctl.socket.exists(),
        "control socket left behind after SIGTERM"
    );
    assert!(!ctl.pid_file.exists(), "pid file left behind after SIGTERM");
}
