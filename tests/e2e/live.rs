//! Answers on a live host: with an enforcing agent running, `sigward verify`
//! and `sigward scan` ask it over the control socket (`evaluate`) and show
//! the real reasons, as the offline commands do before the agent starts;
//! `--offline` and callers that are not root get the offline answer; the
//! `evaluate` request is bounded and never follows a client into a FIFO.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    chmod, keygen, path_str, run, sha256_hex, sign_with, sigward, sigward_bin, start, write_file,
    Agent, Finished, Fixture, PROC_TIMEOUT,
};

const NOBODY: u32 = 65534;

/// The fields every entry of `--json` carries.
const FIELDS: [&str; 12] = [
    "path",
    "status",
    "reason",
    "detail",
    "key",
    "format",
    "signer",
    "sha256",
    "tree",
    "mode",
    "evaluator",
    "generation",
];

struct Files {
    good: PathBuf,
    bad: PathBuf,
    tampered: PathBuf,
    untrusted: PathBuf,
    other_key: String,
}

impl Files {
    fn all(&self) -> [&Path; 4] {
        [&self.good, &self.bad, &self.tampered, &self.untrusted]
    }
}

fn files(fx: &Fixture) -> Files {
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let tampered = fx.write_signed("tampered.py", b"X = 'original'\n");
    write_file(&tampered, b"X = 'changed!'\n");
    let other_key = keygen(&fx.root.join("keys/other"));
    let untrusted = fx.path("untrusted.py");
    write_file(&untrusted, b"X = 'signed by an untrusted key'\n");
    sign_with(&fx.root.join("keys/other.key"), &untrusted);
    Files {
        good,
        bad,
        tampered,
        untrusted,
        other_key,
    }
}

fn cmd(agent: &Agent, words: &[&OsStr], paths: &[&Path]) -> Finished {
    let mut args: Vec<&OsStr> = words.to_vec();
    args.extend(paths.iter().map(|p| p.as_os_str()));
    agent.guard("sigward verify/scan", || sigward(args))
}

fn json_list(fin: &Finished) -> Vec<Value> {
    serde_json::from_str(fin.stdout.trim())
        .unwrap_or_else(|e| panic!("--json is not a JSON array: {e}\n{fin}"))
}

fn by_path(list: &[Value]) -> HashMap<String, Value> {
    list.iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

#[test]
fn verify_and_scan_ask_the_enforcing_agent() {
    let fx = Fixture::new();
    let f = files(&fx);
    let policy = fx.policy.as_os_str();

    // Before the agent starts: the offline answer, the reference.
    let offline = sigward(
        [OsStr::new("verify"), OsStr::new("--policy"), policy]
            .into_iter()
            .chain(f.all().iter().map(|p| p.as_os_str())),
    );
    assert_eq!(offline.code(), Some(1), "{offline}");

    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    let sock = socket.as_os_str();
    let verify = |extra: &[&OsStr]| {
        let mut w = vec![OsStr::new("verify"), OsStr::new("--control-socket"), sock];
        w.extend_from_slice(extra);
        cmd(&agent, &w, &f.all())
    };

    // The agent's answer is the offline one, word for word.
    let fin = verify(&[]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert_eq!(fin.stdout, offline.stdout, "{fin}");
    assert!(
        fin.stderr
            .contains("evaluated by the running agent (generation 1, policy"),
        "{fin}"
    );
    let line_of = |fin: &Finished, p: &Path| {
        let prefix = format!("{}: ", p.display());
        fin.stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {}:\n{fin}", p.display()))
            .to_string()
    };
    assert!(
        line_of(&fin, &f.good).ends_with(&format!(": ok (key {})", fx.fingerprint)),
        "{fin}"
    );
    assert!(line_of(&fin, &f.bad).contains(": unsigned: "), "{fin}");
    let t = line_of(&fin, &f.tampered);
    assert!(t.contains(": tampered: "), "{t}");
    let u = line_of(&fin, &f.untrusted);
    assert!(
        u.contains(": untrusted: ") && u.contains(&f.other_key[..16]),
        "{u}"
    );

    // With the policy named: the agent's own, so still the agent. Only the
    // good file: exit 0.
    let fin = verify(&[OsStr::new("--policy"), policy]);
    assert!(
        fin.stderr.contains("evaluated by the running agent"),
        "{fin}"
    );
    let fin = cmd(
        &agent,
        &[OsStr::new("verify"), OsStr::new("--control-socket"), sock],
        &[&f.good],
    );
    assert_eq!(fin.code(), Some(0), "{fin}");

    // --json.
    let fin = verify(&[OsStr::new("--json")]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let list = json_list(&fin);
    assert_eq!(list.len(), 4, "{fin}");
    let m = by_path(&list);
    for e in &list {
        for k in FIELDS {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
        assert_eq!(e["evaluator"], "agent", "{e}");
        assert_eq!(e["generation"], 1, "{e}");
        assert_eq!(e["mode"], "enforce", "{e}");
        assert_eq!(
            e["tree"],
            path_str(&fs::canonicalize(&fx.plugins).unwrap()),
            "{e}"
        );
    }
    let g = &m[&path_str(&f.good)];
    assert_eq!(g["status"], "verified", "{g}");
    assert_eq!(g["key"], fx.fingerprint.as_str(), "{g}");
    assert_eq!(g["format"], "native", "{g}");
    assert_eq!(g["sha256"], sha256_hex(&f.good).as_str(), "{g}");
    let b = &m[&path_str(&f.bad)];
    assert_eq!(
        (&b["status"], &b["reason"]),
        (&"unsigned".into(), &"unsigned".into())
    );
    assert_eq!(m[&path_str(&f.tampered)]["status"], "tampered");
    let u = &m[&path_str(&f.untrusted)];
    assert_eq!(u["status"], "untrusted", "{u}");
    assert_eq!(u["key"], f.other_key.as_str(), "{u}");

    // scan: the table and --json list the reasons.
    let scan = |extra: &[&OsStr]| {
        let mut w = vec![OsStr::new("scan"), OsStr::new("--control-socket"), sock];
        w.extend_from_slice(extra);
        cmd(&agent, &w, &[])
    };
    let fin = scan(&[]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(
        fin.stderr.contains("evaluated by the running agent"),
        "{fin}"
    );
    for (p, word) in [
        (&f.good, "verified "),
        (&f.bad, "unsigned "),
        (&f.tampered, "tampered "),
        (&f.untrusted, "untrusted "),
    ] {
        let line = fin
            .stdout
            .lines()
            .find(|l| l.contains(&path_str(p)))
            .unwrap_or_else(|| panic!("{} not listed:\n{fin}", p.display()));
        assert!(line.starts_with(word), "{line}\n{fin}");
    }
    assert!(!fin.stdout.contains("denied"), "{fin}");
    let fin = scan(&[OsStr::new("--json")]);
    let m = by_path(&json_list(&fin));
    assert_eq!(m.len(), 4, "{fin}");
    for (p, word) in [
        (&f.good, "verified"),
        (&f.bad, "unsigned"),
        (&f.tampered, "tampered"),
        (&f.untrusted, "untrusted"),
    ] {
        let e = &m[&path_str(p)];
        assert_eq!(e["status"], word, "{e}");
        assert_eq!(e["evaluator"], "agent", "{e}");
        for k in FIELDS {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
    }

    // --offline under enforcement: the agent denies the command's opens.
    let fin = verify(&[OsStr::new("--offline"), OsStr::new("--policy"), policy]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(
        line_of(&fin, &f.bad).contains(": unreadable: EPERM"),
        "{fin}"
    );
    assert!(line_of(&fin, &f.good).contains(": ok (key "), "{fin}");
    assert!(
        !fin.stderr.contains("evaluated by the running agent"),
        "{fin}"
    );
    let fin = scan(&[
        OsStr::new("--offline"),
        OsStr::new("--json"),
        OsStr::new("--policy"),
        policy,
    ]);
    let m = by_path(&json_list(&fin));
    assert_eq!(m[&path_str(&f.bad)]["status"], "denied", "{fin}");
    assert_eq!(m[&path_str(&f.bad)]["evaluator"], "offline", "{fin}");
    assert_eq!(m[&path_str(&f.good)]["status"], "verified", "{fin}");

    // No agent on the socket given: offline, said once.
    let fin = cmd(
        &agent,
        &[
            OsStr::new("verify"),
            OsStr::new("--control-socket"),
            fx.root.join("none.sock").as_os_str(),
            OsStr::new("--policy"),
            policy,
        ],
        &[&f.bad],
    );
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert_eq!(fin.stderr.matches("evaluating offline").count(), 1, "{fin}");
    assert!(fin.stdout.contains("unreadable: EPERM"), "{fin}");
}

#[test]
fn callers_that_are_not_root_get_the_offline_answer() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 1\n");
    let bad = fx.write_unsigned("bad.py", b"X = 2\n");
    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    // A copy of the client that uid 65534 can run, in a directory it can
    // traverse; the socket opened up so that only SO_PEERCRED keeps it out.
    chmod(&fx.root, 0o711);
    let client = fx.root.join("sigward-client");
    fs::copy(sigward_bin(), &client).unwrap();
    chmod(&client, 0o755);
    chmod(&socket, 0o666);
    let as_nobody = |args: &[&OsStr]| {
        let mut c = Command::new(&client);
        c.args(args)
            .uid(NOBODY)
            .gid(NOBODY)
            .env_remove("NOTIFY_SOCKET");
        agent.guard("sigward verify as nobody", || run(&mut c, PROC_TIMEOUT))
    };
    let fin = as_nobody(&[
        OsStr::new("verify"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--trust-key"),
        fx.pubkey.as_os_str(),
        good.as_os_str(),
        bad.as_os_str(),
    ]);
    assert!(
        !fin.stderr.contains("evaluated by the running agent"),
        "{fin}"
    );
    let fin = as_nobody(&[
        OsStr::new("verify"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--json"),
        OsStr::new("--policy"),
        fx.policy.as_os_str(),
        good.as_os_str(),
        bad.as_os_str(),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("not root"), "{fin}");
    assert!(
        !fin.stderr.contains("evaluated by the running agent"),
        "{fin}"
    );
    let m = by_path(&json_list(&fin));
    let b = &m[&path_str(&bad)];
    assert_eq!(b["evaluator"], "offline", "{b}");
    assert_eq!(b["status"], "denied", "{b}");

    // And the agent itself serves no evaluate to a peer that is not root.
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})\n\
         s.sendall(b'evaluate {{\"paths\":[{:?}]}}\\n')\nprint(s.makefile().readline())",
        path_str(&socket),
        path_str(&bad)
    );
    let mut c = Command::new("python3");
    c.args(["-c", &script]).uid(NOBODY).gid(NOBODY);
    let fin = run(&mut c, PROC_TIMEOUT);
    assert!(fin.stdout.contains("\"ok\":false"), "{fin}");
    assert!(fin.stdout.contains("root only"), "{fin}");
    assert!(!fin.stdout.contains("unsigned"), "{fin}");
}

/// Sends one raw request line and returns the parsed answer.
fn request(socket: &Path, line: &[u8]) -> Value {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(line);
    let mut answer = Vec::new();
    let mut chunk = [0u8; 65536];
    while !answer.contains(&b'\n') {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    serde_json::from_str(text.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("answer {text:?} is not JSON: {e}"))
}

#[test]
fn evaluate_requests_are_bounded_and_never_open_a_fifo() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 1\n");
    let fifo = fx.path("pipe.py");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let (mut agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    let eval = |paths: &[String]| {
        let line = format!("evaluate {}\n", serde_json::json!({ "paths": paths }));
        agent.guard("an evaluate request", || request(&socket, line.as_bytes()))
    };

    // Too many paths: refused as a whole.
    let many: Vec<String> = (0..65).map(|i| format!("/tmp/f{i}")).collect();
    let a = eval(&many);
    assert_eq!(a["ok"], false, "{a}");
    assert!(a["error"].as_str().unwrap().contains("at most 64"), "{a}");
    // Relative paths and oversized lines: refused.
    let a = eval(&["good.py".to_string()]);
    assert_eq!(a["ok"], false, "{a}");
    let mut huge = b"evaluate {\"paths\":[\"/".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 200_000));
    let a = agent.guard("an oversized evaluate", || request(&socket, &huge));
    assert_eq!(a["ok"], false, "{a}");
    assert!(a["error"].as_str().unwrap().contains("too large"), "{a}");

    // A FIFO (nobody writes to it), a device, a directory, a missing file
    // and a good file: answered at once, the FIFO never opened for reading.
    let started = Instant::now();
    let paths = [
        path_str(&fifo),
        "/dev/zero".to_string(),
        path_str(&fx.plugins),
        path_str(&fx.path("missing.py")),
        path_str(&good),
    ];
    let a = eval(&paths);
    assert!(started.elapsed() < Duration::from_secs(10), "{a}");
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["generation"], 1, "{a}");
    let files = a["files"].as_array().unwrap();
    assert_eq!(files.len(), paths.len(), "{a}");
    for f in &files[..3] {
        assert_eq!(f["status"], "unsigned", "{a}");
        assert_eq!(
            f["detail"], "not a regular file: only regular files can carry a signature",
            "{a}"
        );
    }
    assert_eq!(files[3]["status"], "unreadable", "{a}");
    assert_eq!(files[4]["status"], "verified", "{a}");
    assert_eq!(files[4]["evaluator"], "agent", "{a}");

    // The command line: a FIFO given to verify and a tree holding it
    // scanned; neither hangs.
    let fin = agent.guard("sigward verify FIFO", || {
        sigward([
            OsStr::new("verify"),
            OsStr::new("--control-socket"),
            socket.as_os_str(),
            fifo.as_os_str(),
        ])
    });
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(
        fin.stdout.contains(": unsigned: not a regular file"),
        "{fin}"
    );
    let fin = agent.guard("sigward scan with a FIFO", || {
        sigward([
            OsStr::new("scan"),
            OsStr::new("--control-socket"),
            socket.as_os_str(),
        ])
    });
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stdout.contains("verified"), "{fin}");

    // More files than one request holds: the client sends several.
    let many: Vec<PathBuf> = (0..150)
        .map(|i| fx.write_unsigned(&format!("many/{i}.py"), b"X = 0\n"))
        .collect();
    let fin = agent.guard("sigward verify of 150 files", || {
        sigward(
            [
                OsStr::new("verify"),
                OsStr::new("--json"),
                OsStr::new("--control-socket"),
                socket.as_os_str(),
            ]
            .into_iter()
            .chain(many.iter().map(|p| p.as_os_str())),
        )
    });
    let list = json_list(&fin);
    assert_eq!(list.len(), 150, "{fin}");
    assert!(list
        .iter()
        .all(|e| e["status"] == "unsigned" && e["evaluator"] == "agent"));
    agent.assert_alive("after evaluate requests");
}

#[test]
fn signing_in_place_under_an_enforcing_agent_says_what_to_do() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    let fin = agent.guard("sigward sign in place", || {
        sigward([
            OsStr::new("sign"),
            OsStr::new("--key"),
            fx.key.as_os_str(),
            bad.as_os_str(),
        ])
    });
    // Enforcement holds for sign too: refused, and nothing written.
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(
        fin.stderr
            .contains("a running agent denies reading this file"),
        "{fin}"
    );
    assert!(
        fin.stderr
            .contains("sign a copy outside the protected trees"),
        "{fin}"
    );
    assert!(
        !fs::exists(crate::harness::sig_path(&bad)).unwrap(),
        "{fin}"
    );
    // The workflow: sign a copy elsewhere, install the signature, then ask.
    // (The installed file cannot be copied either: the agent denies that
    // read too. Sign the reviewed source.)
    let copy = fx.root.join("staging/bad.py");
    write_file(&copy, b"X = 'unsigned'\n");
    fx.sign(&copy);
    fs::copy(
        crate::harness::sig_path(&copy),
        crate::harness::sig_path(&bad),
    )
    .unwrap();
    let fin = agent.guard("sigward verify after signing", || {
        sigward([
            OsStr::new("verify"),
            OsStr::new("--control-socket"),
            socket.as_os_str(),
            bad.as_os_str(),
        ])
    });
    assert_eq!(fin.code(), Some(0), "{fin}");
    assert!(fin.stdout.contains(": ok (key "), "{fin}");
}
