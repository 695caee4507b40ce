//! The control socket (`sigward reload`, `ping`), the pid file and
//! `sigward trust add|remove`.
//!
//! Every agent here gets its control socket and pid file inside its
//! fixture's temporary directory (never /run/sigward).

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{
    chmod, is_msg, mkdirs, path_str, rename, run, sig_path, sign_with, sigward, sigward_bin,
    sigward_cmd, toml_str, write_file, Agent, Finished, Fixture, Proc, MSG_RELOAD_OK, PROC_TIMEOUT,
};
use crate::openers::{expect_allowed, expect_eperm, python_open};

const NOBODY: u32 = 65534;

/// Paths of one agent's control socket and pid file.
struct Ctl {
    socket: PathBuf,
    pid_file: PathBuf,
}

impl Ctl {
    fn in_dir(dir: &Path) -> Ctl {
        Ctl {
            socket: dir.join("ctl.sock"),
            pid_file: dir.join("pid"),
        }
    }

    fn start(&self, fx: &Fixture) -> Agent {
        Agent::start_with_env_args(
            &fx.policy,
            &[("SIGWARD_LOG_TARGET", "stderr")],
            &[
                OsStr::new("--control-socket"),
                self.socket.as_os_str(),
                OsStr::new("--pid-file"),
                self.pid_file.as_os_str(),
            ],
        )
    }

    /// `sigward reload --control-socket S --pid-file P`.
    fn reload(&self) -> Finished {
        sigward([
            OsStr::new("reload"),
            OsStr::new("--control-socket"),
            self.socket.as_os_str(),
            OsStr::new("--pid-file"),
            self.pid_file.as_os_str(),
            OsStr::new("--timeout"),
            OsStr::new("30"),
        ])
    }
}

/// Sends one request line and returns the answer line, parsed.
fn request(socket: &Path, line: &[u8]) -> serde_json::Value {
    let mut s =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    // The agent may answer (and close) before reading everything of an
    // oversized request; a failed write is not the point.
    let _ = s.write_all(line);
    let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.contains(&b'\n') {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the answer to {shown:?}: {e}"),
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let first = answer.lines().next().unwrap_or_default();
    serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("answer {answer:?} to {shown:?} is not JSON: {e}"))
}

fn ping(socket: &Path) -> serde_json::Value {
    request(socket, b"ping\n")
}

fn generation(socket: &Path) -> u64 {
    let a = ping(socket);
    assert_eq!(a["ok"], true, "ping: {a}");
    a["generation"]
        .as_u64()
        .unwrap_or_else(|| panic!("ping answer without a generation: {a}"))
}

fn all_output(fin: &Finished) -> String {
    format!("{}{}", fin.stdout, fin.stderr)
}

#[test]
fn reload_over_the_socket_applies_a_valid_policy() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let ctl = Ctl::in_dir(&fx.root);
    let agent = ctl.start(&fx);
    expect_eperm(python_open(&bad), "unsigned file before the reload");
    assert_eq!(generation(&ctl.socket), 1);

    fx.set_mode("audit");
    let fin = ctl.reload();
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert_eq!(fin.stdout.trim(), "reloaded: generation 2", "{fin}");
    // The answer comes once the new policy is in force: no waiting.
    expect_allowed(python_open(&bad), "unsigned file after the reload to audit");
    assert_eq!(generation(&ctl.socket), 2);
    agent.wait_record("reload-ok generation 2", |r| {
        is_msg(r, MSG_RELOAD_OK) && r.get("SIGWARD_GENERATION").map(String::as_str) == Some("2")
    });

    // And back: the cache never serves the audit-mode verdict.
    fx.set_mode("enforce");
    let fin = ctl.reload();
    assert_eq!(fin.stdout.trim(), "reloaded: generation 3", "{fin}");
    expect_eperm(
        python_open(&bad),
        "unsigned file after the reload to enforce",
    );
}

#[test]
fn reload_over_the_socket_refuses_a_broken_policy() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let ctl = Ctl::in_dir(&fx.root);
    let mut agent = ctl.start(&fx);

    // Would relax enforcement if it were (partly) applied.
    fx.write_policy(&format!(
        "mode = \"audit\"\nno_such_setting = true\n[trust]\nkeys = [{}]\n[[protect]]\npath = {}\n",
        toml_str(&path_str(&fx.pubkey)),
        toml_str(&path_str(&fx.plugins))
    ));
    let fin = ctl.reload();
    assert_eq!(fin.code(), Some(1), "{fin}");
    let out = all_output(&fin);
    let file_line = format!("{}:2:", path_str(&fx.policy));
    assert!(out.contains(&file_line), "expected {file_line} in\n{fin}");
    assert!(out.contains("no_such_setting"), "{fin}");
    assert!(out.contains("generation 1 stays in force"), "{fin}");
    assert!(!fin.stdout.contains("reloaded"), "{fin}");

    agent.assert_alive("after a refused reload over the socket");
    expect_eperm(python_open(&bad), "unsigned file after the refused reload");
    expect_allowed(python_open(&good), "signed file after the refused reload");
    assert_eq!(generation(&ctl.socket), 1);

    // The raw answer carries the error and the generation in force.
    let a = request(&ctl.socket, b"reload\n");
    assert_eq!(a["ok"], false, "{a}");
    assert_eq!(a["generation"], 1, "{a}");
    let err = a["error"].as_str().unwrap_or_default();
    assert!(err.starts_with(&file_line), "{a}");
}

#[test]
fn reload_falls_back_to_sighup_through_the_pid_file() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let ctl = Ctl::in_dir(&fx.root);
    let agent = Agent::start_with_env_args(
        &fx.policy,
        &[("SIGWARD_LOG_TARGET", "stderr")],
        &[
            OsStr::new("--control-socket"),
            OsStr::new("none"),
            OsStr::new("--pid-file"),
            ctl.pid_file.as_os_str(),
        ],
    );
    assert!(!ctl.socket.exists(), "--control-socket none made a socket");
    let pid_text = fs::read_to_string(&ctl.pid_file).unwrap();
    assert_eq!(pid_text, format!("{}\n", agent.pid()));
    expect_eperm(python_open(&bad), "unsigned file before the reload");

    fx.set_mode("audit");
    let fin = ctl.reload();
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains("SIGHUP"), "{fin}");
    assert!(fin.stdout.contains(&agent.pid().to_string()), "{fin}");
    assert!(fin.stdout.contains("journal"), "{fin}");
    agent.wait_record("reload-ok after SIGHUP from sigward reload", |r| {
        is_msg(r, MSG_RELOAD_OK)
    });
    expect_allowed(python_open(&bad), "unsigned file after the reload to audit");

    // Neither socket nor pid file: no agent.
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        fx.root.join("nothing.sock").as_os_str(),
        OsStr::new("--pid-file"),
        fx.root.join("nothing.pid").as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(2), "{fin}");
    assert!(fin.stderr.contains("no agent"), "{fin}");

    // A pid file naming a process that is not sigward: never signalled.
    let stale = fx.root.join("stale.pid");
    write_file(&stale, format!("{}\n", std::process::id()).as_bytes());
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        OsStr::new("none"),
        OsStr::new("--pid-file"),
        stale.as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(2), "{fin}");
    assert!(fin.stderr.contains("not a running sigward"), "{fin}");
}

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

// ------------------------------------------------------------ trust add|remove

/// A fixture whose policy also loads `keys.d/`.
fn with_keys_dir(fx: &Fixture) -> PathBuf {
    let dir = fx.root.join("keys.d");
    mkdirs(&dir);
    fx.write_policy(&format!(
        "mode = \"enforce\"\n[trust]\nkeys = [{}]\nkeys_dir = \"keys.d\"\n[[protect]]\npath = {}\n",
        toml_str(&path_str(&fx.pubkey)),
        toml_str(&path_str(&fx.plugins))
    ));
    dir
}

fn trust(args: &[&OsStr]) -> Finished {
    let mut all = vec![OsStr::new("trust")];
    all.extend_from_slice(args);
    sigward(all)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A new key pair under `fx.root/newkeys/NAME`; returns (prefix, fingerprint).
fn new_key(fx: &Fixture, name: &str, format: &str) -> (PathBuf, String) {
    let dir = fx.root.join("newkeys");
    mkdirs(&dir);
    let prefix = dir.join(name);
    let fin = sigward([
        OsStr::new("keygen"),
        OsStr::new("--out"),
        prefix.as_os_str(),
        OsStr::new("--format"),
        OsStr::new(format),
    ]);
    fin.assert_success();
    let fp = crate::harness::find_fingerprint(&fin.stdout).unwrap();
    (prefix, fp)
}

fn pub_of(prefix: &Path) -> PathBuf {
    crate::harness::with_suffix(prefix, ".pub")
}

#[test]
fn trust_add_list_and_remove() {
    let fx = Fixture::new();
    let dir = with_keys_dir(&fx);
    let policy = fx.policy.as_os_str();
    let (a, fp_a) = new_key(&fx, "a", "pem");
    let (b, fp_b) = new_key(&fx, "b", "hex");
    let hex_b = fs::read_to_string(pub_of(&b)).unwrap().trim().to_string();

    // From a file (the policy's keys_dir).
    let fin = trust(&[
        OsStr::new("add"),
        OsStr::new("--policy"),
        policy,
        OsStr::new("--name"),
        OsStr::new("vendor-a"),
        pub_of(&a).as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains(&fp_a), "{fin}");
    assert!(fin.stderr.contains("sigward reload"), "{fin}");
    assert_eq!(
        fs::read(dir.join("vendor-a.pub")).unwrap(),
        fs::read(pub_of(&a)).unwrap()
    );
    let mode = fs::metadata(dir.join("vendor-a.pub")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o644);

    // A literal hex key, into an explicit directory.
    let fin = trust(&[
        OsStr::new("add"),
        OsStr::new("--dir"),
        dir.as_os_str(),
        OsStr::new("--name"),
        OsStr::new("vendor-b"),
        OsStr::new(&hex_b.to_ascii_uppercase()),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains(&fp_b), "{fin}");
    assert_eq!(
        fs::read_to_string(dir.join("vendor-b.pub")).unwrap(),
        format!("{hex_b}\n")
    );
    assert_eq!(listing(&dir), ["vendor-a.pub", "vendor-b.pub"]);

    // Both listed, by the policy and by the directory alone.
    let fin = trust(&[OsStr::new("list"), OsStr::new("--policy"), policy]);
    fin.assert_success();
    for fp in [&fp_a, &fp_b, &fx.fingerprint] {
        assert!(fin.stdout.contains(fp.as_str()), "{fp} not listed:\n{fin}");
    }
    let fin = trust(&[OsStr::new("list"), OsStr::new("--dir"), dir.as_os_str()]);
    fin.assert_success();
    assert!(
        fin.stdout.contains(&fp_a) && fin.stdout.contains(&fp_b),
        "{fin}"
    );
    assert!(!fin.stdout.contains(&fx.fingerprint), "{fin}");
    // `sigward check` agrees the policy still loads.
    sigward([OsStr::new("check"), OsStr::new("--policy"), policy]).assert_success();

    // Never overwritten without --force.
    let fin = trust(&[
        OsStr::new("add"),
        OsStr::new("--policy"),
        policy,
        OsStr::new("--name"),
        OsStr::new("vendor-a"),
        pub_of(&b).as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("already exists"), "{fin}");
    assert_eq!(
        fs::read(dir.join("vendor-a.pub")).unwrap(),
        fs::read(pub_of(&a)).unwrap(),
        "an existing key was overwritten"
    );
    // Nor under another extension.
    write_file(&dir.join("vendor-c.pem"), &fs::read(pub_of(&a)).unwrap());
    let fin = trust(&[
        OsStr::new("add"),
        OsStr::new("--policy"),
        policy,
        OsStr::new("--name"),
        OsStr::new("vendor-c"),
        pub_of(&b).as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("vendor-c.pem"), "{fin}");
    // --force replaces it (and the other extension goes).
    let fin = trust(&[
        OsStr::new("add"),
        OsStr::new("--policy"),
        policy,
        OsStr::new("--force"),
        OsStr::new("--name"),
        OsStr::new("vendor-c"),
        pub_of(&b).as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert_eq!(
        listing(&dir),
        ["vendor-a.pub", "vendor-b.pub", "vendor-c.pub"]
    );
    assert_eq!(
        fs::read(dir.join("vendor-c.pub")).unwrap(),
        fs::read(pub_of(&b)).unwrap()
    );

    // Bad names, bad keys: nothing written.
    for name in ["../evil", ".hidden", "a/b", "sp ace", "", "x*", "é"] {
        let fin = trust(&[
            OsStr::new("add"),
            OsStr::new("--policy"),
            policy,
            OsStr::new("--name"),
            OsStr::new(name),
            pub_of(&a).as_os_str(),
        ]);
        assert_eq!(fin.code(), Some(2), "name {name:?}: {fin}");
        assert!(fin.stderr.contains("name"), "name {name:?}: {fin}");
    }
    let junk = fx.root.join("junk.pub");
    write_file(&junk, b"this is not a key\n");
    let private = crate::harness::with_suffix(&a, ".key");
    for (key, what) in [
        (junk.as_os_str(), "junk file"),
        (private.as_os_str(), "private key"),
        (OsStr::new("abcd"), "short hex"),
        (OsStr::new(&"zz".repeat(32)), "64 non-hex characters"),
    ] {
        let fin = trust(&[
            OsStr::new("add"),
            OsStr::new("--policy"),
            policy,
            OsStr::new("--name"),
            OsStr::new("new"),
            key,
        ]);
        assert_eq!(fin.code(), Some(1), "{what}: {fin}");
    }
    assert_eq!(
        listing(&dir),
        ["vendor-a.pub", "vendor-b.pub", "vendor-c.pub"]
    );

    // Remove by name.
    let fin = trust(&[
        OsStr::new("remove"),
        OsStr::new("--policy"),
        policy,
        OsStr::new("vendor-a"),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains(&fp_a), "{fin}");
    assert!(fin.stderr.contains("sigward reload"), "{fin}");
    assert_eq!(listing(&dir), ["vendor-b.pub", "vendor-c.pub"]);

    // vendor-b and vendor-c hold the same key: its prefix is ambiguous.
    let prefix = &fp_b[..12];
    let fin = trust(&[
        OsStr::new("remove"),
        OsStr::new("--policy"),
        policy,
        OsStr::new(prefix),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("ambiguous"), "{fin}");
    assert!(
        fin.stderr.contains("vendor-b.pub") && fin.stderr.contains("vendor-c.pub"),
        "{fin}"
    );
    assert_eq!(listing(&dir), ["vendor-b.pub", "vendor-c.pub"]);

    // Too short a prefix, an unknown name, an unknown fingerprint.
    for which in [&fp_b[..7], "nobody", "00000000"] {
        let fin = trust(&[
            OsStr::new("remove"),
            OsStr::new("--dir"),
            dir.as_os_str(),
            OsStr::new(which),
        ]);
        assert_eq!(fin.code(), Some(1), "{which}: {fin}");
    }

    // By name, then by an unambiguous prefix (upper case works too).
    trust(&[
        OsStr::new("remove"),
        OsStr::new("--dir"),
        dir.as_os_str(),
        OsStr::new("vendor-c"),
    ])
    .assert_success();
    let fin = trust(&[
        OsStr::new("remove"),
        OsStr::new("--policy"),
        policy,
        OsStr::new(&fp_b[..8].to_ascii_uppercase()),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains("vendor-b.pub"), "{fin}");
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));

    // Without --dir, the policy must name a keys_dir.
    fx.set_mode("enforce");
    let fin = trust(&[
        OsStr::new("add"),
        OsStr::new("--policy"),
        policy,
        OsStr::new("--name"),
        OsStr::new("x"),
        pub_of(&a).as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("keys_dir"), "{fin}");
}

#[test]
fn trust_add_then_reload_trusts_the_new_key() {
    let fx = Fixture::new();
    with_keys_dir(&fx);
    let (k, fp) = new_key(&fx, "vendor", "pem");
    // Signed by the new key before anything runs, then moved in.
    let staged = fx.root.join("staging").join("vendor.py");
    write_file(&staged, b"X = 'vendor'\n");
    sign_with(&crate::harness::with_suffix(&k, ".key"), &staged);
    let plugin = fx.path("vendor.py");
    rename(&sig_path(&staged), &sig_path(&plugin));
    rename(&staged, &plugin);

    let ctl = Ctl::in_dir(&fx.root);
    let _agent = ctl.start(&fx);
    expect_eperm(python_open(&plugin), "file signed by a key not yet trusted");

    trust(&[
        OsStr::new("add"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
        OsStr::new("--name"),
        OsStr::new("vendor"),
        pub_of(&k).as_os_str(),
    ])
    .assert_success();
    // Installed but not yet reloaded: still untrusted.
    expect_eperm(
        python_open(&plugin),
        "file signed by a key installed but not reloaded",
    );
    let fin = ctl.reload();
    assert_eq!(fin.stdout.trim(), "reloaded: generation 2", "{fin}");
    expect_allowed(python_open(&plugin), "file signed by the newly trusted key");

    trust(&[
        OsStr::new("remove"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
        OsStr::new(&fp[..16]),
    ])
    .assert_success();
    let fin = ctl.reload();
    assert_eq!(fin.stdout.trim(), "reloaded: generation 3", "{fin}");
    expect_eperm(
        python_open(&plugin),
        "file signed by a key no longer trusted",
    );
}

/// A FIFO where a key file is expected (named `*.pub`) is refused at once
/// by every command that reads key files, never waited on: `trust list
/// --dir`, `trust add`, `sign --key`, `verify --trust-key` and `check`.
#[test]
fn every_command_that_reads_key_files_refuses_a_fifo_at_once() {
    let fx = Fixture::new();
    let dir = fx.root.join("fifo-keys");
    mkdirs(&dir);
    fs::copy(&fx.pubkey, dir.join("good.pub")).unwrap();
    let fifo = dir.join("evil.pub");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let file = fx.root.join("plugins").join("x.py");
    fs::write(&file, b"x = 1\n").unwrap();
    let cases: Vec<(&str, Vec<&OsStr>)> = vec![
        (
            "trust list --dir",
            vec![
                OsStr::new("trust"),
                OsStr::new("list"),
                OsStr::new("--dir"),
                dir.as_os_str(),
            ],
        ),
        (
            "trust add",
            vec![
                OsStr::new("trust"),
                OsStr::new("add"),
                OsStr::new("--dir"),
                dir.as_os_str(),
                OsStr::new("--name"),
                OsStr::new("other"),
                fifo.as_os_str(),
            ],
        ),
        (
            "sign --key",
            vec![
                OsStr::new("sign"),
                OsStr::new("--key"),
                fifo.as_os_str(),
                file.as_os_str(),
            ],
        ),
        (
            "verify --trust-key",
            vec![
                OsStr::new("verify"),
                OsStr::new("--trust-key"),
                fifo.as_os_str(),
                file.as_os_str(),
            ],
        ),
    ];
    for (what, args) in cases {
        let started = std::time::Instant::now();
        let fin = sigward(args);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{what} took {:?} on a FIFO key file",
            started.elapsed()
        );
        let text = format!("{}{}", fin.stdout, fin.stderr);
        assert!(
            text.contains("not a regular file"),
            "{what} does not say the FIFO is not a regular file:\n{fin}"
        );
    }
    // `check` with the directory as keys_dir.
    let policy = fx.root.join("fifo-policy.toml");
    fs::write(
        &policy,
        format!(
            "[trust]\nkeys_dir = {}\n[[protect]]\npath = {}\n",
            toml_str(&path_str(&dir)),
            toml_str(&path_str(&fx.plugins))
        ),
    )
    .unwrap();
    let fin = sigward([
        OsStr::new("check"),
        OsStr::new("--policy"),
        policy.as_os_str(),
    ]);
    assert!(!fin.success(), "check accepted a FIFO key file:\n{fin}");
    assert!(fin.stderr.contains("not a regular file"), "{fin}");
}
