//! The trust lifecycle, end to end: revoking keys (inline, by drop-in, by
//! `revoked_dir` with key files and Conductor `revoked_keys.toml`), denying
//! content by hash, adding keys by drop-in, thresholds and co-signatures,
//! per-tree trust lists (named keys and groups), validity windows,
//! self-signed trees, refused drop-ins (and `sigward check` on them), and
//! many reloads under load (no wrong verdict, no leaked fds or marks).
//!
//! Every reload is a SIGHUP followed by a wait for the agent's reload record
//! (`MSG_RELOAD_OK` with the next generation, or `MSG_RELOAD_FAILED`), so
//! nothing is asserted before the new policy is known to be in force.
//! The agents log to stderr (`SIGWARD_LOG_TARGET=stderr`) so that records
//! can be read back quickly. `sigward verify` opens the files it checks, so
//! it runs while no agent enforces (before start or after stop), except on
//! files outside every protected tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    expect_field, field, find_fingerprint, is_msg, keygen, mkdirs, path_str, rename, run, sig_path,
    sign_with, sigward, toml_str, with_suffix, write_file, Agent, Finished, Fixture, Record,
    MSG_DENY, MSG_READY, MSG_RELOAD_FAILED, MSG_RELOAD_OK, PROC_TIMEOUT, RECORD_TIMEOUT,
};
use crate::openers::python_cmd;

mod dropins;
mod fleet;
mod revocation;
mod trust;
mod under_load;

// ---------------------------------------------------------------------------
// Keys, files and policies
// ---------------------------------------------------------------------------

/// A key pair made with `sigward keygen`.
pub(super) struct Key {
    pub(super) key: PathBuf,
    pub(super) public: PathBuf,
    pub(super) fp: String,
}

/// keys/NAME.key + keys/NAME.pub (SPKI PEM).
pub(super) fn new_key(fx: &Fixture, name: &str) -> Key {
    let prefix = fx.root.join("keys").join(name);
    let fp = keygen(&prefix);
    Key {
        key: with_suffix(&prefix, ".key"),
        public: with_suffix(&prefix, ".pub"),
        fp,
    }
}

/// keys/NAME.key + keys/NAME.public (Conductor's 64-hex public key).
pub(super) fn new_conductor_key(fx: &Fixture, name: &str) -> Key {
    let prefix = fx.root.join("keys").join(name);
    let fin = sigward([
        "keygen".as_ref(),
        "--format".as_ref(),
        "conductor".as_ref(),
        "--out".as_ref(),
        prefix.as_os_str(),
    ]);
    fin.assert_success();
    let fp = find_fingerprint(&fin.stdout)
        .unwrap_or_else(|| panic!("keygen printed no fingerprint:\n{fin}"));
    Key {
        key: with_suffix(&prefix, ".key"),
        public: with_suffix(&prefix, ".public"),
        fp,
    }
}

/// The fixture's own key (keys/test.*).
pub(super) fn fixture_key(fx: &Fixture) -> Key {
    Key {
        key: fx.key.clone(),
        public: fx.pubkey.clone(),
        fp: fx.fingerprint.clone(),
    }
}

pub(super) static SEQ: AtomicUsize = AtomicUsize::new(0);

pub(super) fn next_seq() -> usize {
    SEQ.fetch_add(1, Ordering::SeqCst)
}

/// A fresh private staging path named like `dest`.
pub(super) fn stage(fx: &Fixture, dest: &Path, contents: &[u8]) -> PathBuf {
    let name = dest
        .file_name()
        .unwrap_or_else(|| panic!("no file name in {}", dest.display()));
    let staged = fx
        .root
        .join("staging")
        .join(format!("lifecycle-{}", next_seq()))
        .join(name);
    write_file(&staged, contents);
    staged
}

/// Moves a staged file, and its `.sig` if any, to `dest`. A rename opens
/// nothing, so this works while an agent enforces.
pub(super) fn install(staged: &Path, dest: &Path) -> PathBuf {
    if let Some(parent) = dest.parent() {
        mkdirs(parent);
    }
    let sig = sig_path(staged);
    if sig.exists() {
        rename(&sig, &sig_path(dest));
    }
    rename(staged, dest);
    dest.to_path_buf()
}

/// `dest` with `contents`, signed (natively) by each key in turn: two keys
/// make a co-signed file.
pub(super) fn put_signed(fx: &Fixture, dest: &Path, contents: &[u8], keys: &[&Key]) -> PathBuf {
    let staged = stage(fx, dest, contents);
    for k in keys {
        sign_with(&k.key, &staged);
    }
    install(&staged, dest)
}

pub(super) fn put_unsigned(fx: &Fixture, dest: &Path, contents: &[u8]) -> PathBuf {
    let staged = stage(fx, dest, contents);
    install(&staged, dest)
}

/// `sigward sign --format conductor` of the staged file.
pub(super) fn sign_conductor(key: &Key, file: &Path) {
    let fin = sigward([
        "sign".as_ref(),
        "--format".as_ref(),
        "conductor".as_ref(),
        "--name".as_ref(),
        "Lifecycle Tester".as_ref(),
        "--email".as_ref(),
        "tester@example.invalid".as_ref(),
        "--key".as_ref(),
        key.key.as_os_str(),
        file.as_os_str(),
    ]);
    fin.assert_success();
}

/// `dest` with `contents` and a Conductor signature by `key`; `edit` may
/// change the signature document before it is installed.
pub(super) fn put_conductor_signed(
    fx: &Fixture,
    dest: &Path,
    contents: &[u8],
    key: &Key,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let staged = stage(fx, dest, contents);
    sign_conductor(key, &staged);
    let sig = sig_path(&staged);
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&sig).unwrap()).unwrap();
    edit(&mut doc);
    write_file(&sig, doc.to_string().as_bytes());
    install(&staged, dest)
}

/// `dest` with a native `.sig` holding two valid signatures by the same
/// key (different `signed_at`): one signer, two entries.
pub(super) fn put_signed_twice_by(
    fx: &Fixture,
    dest: &Path,
    contents: &[u8],
    key: &Key,
) -> PathBuf {
    let staged = stage(fx, dest, contents);
    let sig = sig_path(&staged);
    let entries = |doc: &serde_json::Value| -> Vec<serde_json::Value> {
        doc["signatures"].as_array().cloned().unwrap_or_default()
    };
    sign_with(&key.key, &staged);
    let first: serde_json::Value = serde_json::from_slice(&fs::read(&sig).unwrap()).unwrap();
    // signed_at has one-second resolution: make the second entry differ.
    thread::sleep(Duration::from_millis(1100));
    sign_with(&key.key, &staged);
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&sig).unwrap()).unwrap();
    let (a, b) = (entries(&first), entries(&doc));
    assert!(
        a.len() == 1 && b.len() == 1 && a[0]["signed_at"] != b[0]["signed_at"],
        "test setup: expected two single-entry documents with different signed_at, got {a:?} \
         and {b:?}"
    );
    doc["signatures"] = serde_json::Value::Array(vec![a[0].clone(), b[0].clone()]);
    write_file(&sig, serde_json::to_string_pretty(&doc).unwrap().as_bytes());
    install(&staged, dest)
}

/// A path as a TOML string.
pub(super) fn q(p: &Path) -> String {
    toml_str(&path_str(p))
}

/// `["a", "b"]`
pub(super) fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// An enforcing policy trusting the key files `keys`, with `trust_extra`
/// appended to `[trust]`, protecting each `(path, extra fields)` tree, and
/// `tail` at the end.
pub(super) fn policy_text(
    keys: &[&Path],
    trust_extra: &str,
    trees: &[(&Path, &str)],
    tail: &str,
) -> String {
    let keys: Vec<String> = keys.iter().map(|k| q(k)).collect();
    let mut t = format!(
        "# written by the sigward lifecycle tests\nmode = \"enforce\"\n\n[trust]\nkeys = [{}]\n{}\n",
        keys.join(", "),
        trust_extra
    );
    for (path, extra) in trees {
        t.push_str(&format!("[[protect]]\npath = {}\n{}\n", q(path), extra));
    }
    t.push_str(tail);
    t
}

/// Writes `text` to `dest` by renaming a complete file over it, so that a
/// reloading agent never reads half of it.
pub(super) fn write_atomic(fx: &Fixture, dest: &Path, text: &str) {
    let tmp = fx.root.join(format!(".lifecycle-{}.tmp", next_seq()));
    write_file(&tmp, text.as_bytes());
    if let Some(parent) = dest.parent() {
        mkdirs(parent);
    }
    rename(&tmp, dest);
}

/// policy.d/NAME beside the fixture's policy.
pub(super) fn dropin_path(fx: &Fixture, name: &str) -> PathBuf {
    fx.root.join("policy.d").join(name)
}

pub(super) fn write_dropin(fx: &Fixture, name: &str, text: &str) -> PathBuf {
    let p = dropin_path(fx, name);
    write_atomic(fx, &p, text);
    p
}

/// 1-based line of the first line of `text` starting with `prefix`.
pub(super) fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("test setup: no line starting with {prefix:?} in:\n{text}"))
}

// ---------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------

/// `python3 -c SCRIPT ARGS...` to completion.
pub(super) fn run_python(script: &str, args: &[&Path]) -> Finished {
    let args: Vec<String> = args.iter().map(|a| path_str(a)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&mut python_cmd(script, &args), PROC_TIMEOUT)
}

pub(super) fn sw(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Finished {
    sigward(args.iter().map(|a| a.as_ref().to_os_string()))
}

/// `sigward verify --policy POLICY FILE`: what follows `FILE: ` on its line,
/// and the exit status is checked against it (0 for ok, 1 otherwise).
pub(super) fn verify(policy: &Path, file: &Path) -> String {
    let fin = sw(&[&"verify", &"--policy", &policy, &file]);
    let prefix = format!("{}: ", file.display());
    let rest = fin
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no verify line for {}:\n{fin}", file.display()))
        .to_string();
    let want = if rest.starts_with("ok") { 0 } else { 1 };
    assert_eq!(
        fin.code(),
        Some(want),
        "verify exit status for {rest:?}\n{fin}"
    );
    rest
}

#[track_caller]
pub(super) fn expect_verify_ok(policy: &Path, file: &Path, fp: &str) {
    let rest = verify(policy, file);
    assert_eq!(
        rest.trim_end(),
        format!("ok (key {fp})"),
        "sigward verify {}",
        file.display()
    );
}

/// Expects `PATH: REASON: detail`; returns the detail.
#[track_caller]
pub(super) fn expect_verify_reason(policy: &Path, file: &Path, reason: &str) -> String {
    let rest = verify(policy, file);
    match rest.strip_prefix(&format!("{reason}: ")) {
        Some(detail) => detail.to_string(),
        None => panic!(
            "sigward verify {} should say `{reason}: ...`, said {rest:?}",
            file.display()
        ),
    }
}

// ---------------------------------------------------------------------------
// A running agent and its reloads
// ---------------------------------------------------------------------------

/// An agent and the policy generation it enforces.
pub(super) struct Live {
    pub(super) agent: Agent,
    pub(super) generation: u64,
}

impl Live {
    pub(super) fn start(fx: &Fixture) -> Live {
        let agent = fx.start_agent_with_env(&[("SIGWARD_LOG_TARGET", "stderr")]);
        // The ready record is written before READY=1 is sent.
        let ready = agent
            .stderr_records()
            .into_iter()
            .find(|r| is_msg(r, MSG_READY))
            .unwrap_or_else(|| panic!("no ready record on stderr:\n{}", agent.stderr_text()));
        let generation = field(&ready, "SIGWARD_GENERATION")
            .parse()
            .unwrap_or_else(|e| panic!("ready record without a generation ({e}): {ready:?}"));
        Live { agent, generation }
    }

    pub(super) fn reload_records(&self) -> Vec<Record> {
        self.agent
            .stderr_records()
            .into_iter()
            .filter(|r| is_msg(r, MSG_RELOAD_OK) || is_msg(r, MSG_RELOAD_FAILED))
            .collect()
    }

    /// SIGHUP, then the reload record it caused.
    pub(super) fn hup(&mut self, what: &str) -> Record {
        let before = self.reload_records().len();
        self.agent.signal(libc::SIGHUP);
        let start = Instant::now();
        loop {
            if let Some(r) = self.reload_records().into_iter().nth(before) {
                return r;
            }
            self.agent
                .assert_alive(&format!("while waiting for the reload record ({what})"));
            if start.elapsed() >= RECORD_TIMEOUT {
                panic!("no reload record within {RECORD_TIMEOUT:?} after SIGHUP ({what})");
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGHUP; the reload must succeed with the next generation.
    pub(super) fn reload_ok(&mut self, what: &str) {
        let r = self.hup(what);
        let want = self.generation + 1;
        assert!(
            is_msg(&r, MSG_RELOAD_OK) && field(&r, "SIGWARD_GENERATION") == want.to_string(),
            "reload ({what}) should succeed with generation {want}, got {r:#?}"
        );
        self.generation = want;
    }

    /// SIGHUP; the reload must be refused, the generation unchanged.
    pub(super) fn reload_refused(&mut self, what: &str) -> Record {
        let r = self.hup(what);
        assert!(
            is_msg(&r, MSG_RELOAD_FAILED),
            "reload ({what}) should be refused, got {r:#?}"
        );
        r
    }

    /// Waits for a stderr record of the current generation about `path`
    /// with `decision`.
    pub(super) fn decision(&self, path: &Path, decision: &str) -> Record {
        let p = path_str(path);
        let generation = self.generation.to_string();
        let start = Instant::now();
        loop {
            let found = self.agent.stderr_records().into_iter().find(|r| {
                field(r, "SIGWARD_PATH") == p
                    && field(r, "SIGWARD_DECISION") == decision
                    && field(r, "SIGWARD_GENERATION") == generation
            });
            if let Some(r) = found {
                return r;
            }
            if start.elapsed() >= RECORD_TIMEOUT {
                panic!(
                    "no `{decision}` record for {p} in generation {generation} within \
                     {RECORD_TIMEOUT:?}"
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The deny record of `path` in this generation must give `reason`.
    pub(super) fn expect_deny_reason(&self, path: &Path, reason: &str) -> Record {
        let r = self.decision(path, "deny");
        expect_field(&r, "MESSAGE_ID", MSG_DENY);
        expect_field(&r, "SIGWARD_REASON", reason);
        r
    }

    /// SIGTERM; the agent must exit 0.
    pub(super) fn stop(mut self) {
        self.agent.signal(libc::SIGTERM);
        let st = self.agent.wait_exit(Duration::from_secs(30));
        assert_eq!(st.code(), Some(0), "agent exit after SIGTERM: {st}");
    }
}
