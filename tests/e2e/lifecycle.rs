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

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    expect_field, fd_count, field, find_fingerprint, inode, is_msg, keygen, mkdirs, path_str,
    rename, run, settled_fd_count, sha256_hex, sig_path, sign_with, sigward, toml_str, with_suffix,
    write_file, Agent, Finished, Fixture, Record, MSG_DENY, MSG_READY, MSG_RELOAD_FAILED,
    MSG_RELOAD_OK, PROC_TIMEOUT, RECORD_TIMEOUT,
};
use crate::openers::{cat, expect_allowed, expect_eperm, python_cmd, python_import};

// ---------------------------------------------------------------------------
// Keys, files and policies
// ---------------------------------------------------------------------------

/// A key pair made with `sigward keygen`.
struct Key {
    key: PathBuf,
    public: PathBuf,
    fp: String,
}

/// keys/NAME.key + keys/NAME.pub (SPKI PEM).
fn new_key(fx: &Fixture, name: &str) -> Key {
    let prefix = fx.root.join("keys").join(name);
    let fp = keygen(&prefix);
    Key {
        key: with_suffix(&prefix, ".key"),
        public: with_suffix(&prefix, ".pub"),
        fp,
    }
}

/// keys/NAME.key + keys/NAME.public (Conductor's 64-hex public key).
fn new_conductor_key(fx: &Fixture, name: &str) -> Key {
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
fn fixture_key(fx: &Fixture) -> Key {
    Key {
        key: fx.key.clone(),
        public: fx.pubkey.clone(),
        fp: fx.fingerprint.clone(),
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn next_seq() -> usize {
    SEQ.fetch_add(1, Ordering::SeqCst)
}

/// A fresh private staging path named like `dest`.
fn stage(fx: &Fixture, dest: &Path, contents: &[u8]) -> PathBuf {
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
fn install(staged: &Path, dest: &Path) -> PathBuf {
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
fn put_signed(fx: &Fixture, dest: &Path, contents: &[u8], keys: &[&Key]) -> PathBuf {
    let staged = stage(fx, dest, contents);
    for k in keys {
        sign_with(&k.key, &staged);
    }
    install(&staged, dest)
}

fn put_unsigned(fx: &Fixture, dest: &Path, contents: &[u8]) -> PathBuf {
    let staged = stage(fx, dest, contents);
    install(&staged, dest)
}

/// `sigward sign --format conductor` of the staged file.
fn sign_conductor(key: &Key, file: &Path) {
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
fn put_conductor_signed(
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
fn put_signed_twice_by(fx: &Fixture, dest: &Path, contents: &[u8], key: &Key) -> PathBuf {
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
fn q(p: &Path) -> String {
    toml_str(&path_str(p))
}

/// `["a", "b"]`
fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// An enforcing policy trusting the key files `keys`, with `trust_extra`
/// appended to `[trust]`, protecting each `(path, extra fields)` tree, and
/// `tail` at the end.
fn policy_text(keys: &[&Path], trust_extra: &str, trees: &[(&Path, &str)], tail: &str) -> String {
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
fn write_atomic(fx: &Fixture, dest: &Path, text: &str) {
    let tmp = fx.root.join(format!(".lifecycle-{}.tmp", next_seq()));
    write_file(&tmp, text.as_bytes());
    if let Some(parent) = dest.parent() {
        mkdirs(parent);
    }
    rename(&tmp, dest);
}

/// policy.d/NAME beside the fixture's policy.
fn dropin_path(fx: &Fixture, name: &str) -> PathBuf {
    fx.root.join("policy.d").join(name)
}

fn write_dropin(fx: &Fixture, name: &str, text: &str) -> PathBuf {
    let p = dropin_path(fx, name);
    write_atomic(fx, &p, text);
    p
}

/// 1-based line of the first line of `text` starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("test setup: no line starting with {prefix:?} in:\n{text}"))
}

// ---------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------

/// `python3 -c SCRIPT ARGS...` to completion.
fn run_python(script: &str, args: &[&Path]) -> Finished {
    let args: Vec<String> = args.iter().map(|a| path_str(a)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&mut python_cmd(script, &args), PROC_TIMEOUT)
}

fn sw(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Finished {
    sigward(args.iter().map(|a| a.as_ref().to_os_string()))
}

/// `sigward verify --policy POLICY FILE`: what follows `FILE: ` on its line,
/// and the exit status is checked against it (0 for ok, 1 otherwise).
fn verify(policy: &Path, file: &Path) -> String {
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
fn expect_verify_ok(policy: &Path, file: &Path, fp: &str) {
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
fn expect_verify_reason(policy: &Path, file: &Path, reason: &str) -> String {
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
struct Live {
    agent: Agent,
    generation: u64,
}

impl Live {
    fn start(fx: &Fixture) -> Live {
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

    fn reload_records(&self) -> Vec<Record> {
        self.agent
            .stderr_records()
            .into_iter()
            .filter(|r| is_msg(r, MSG_RELOAD_OK) || is_msg(r, MSG_RELOAD_FAILED))
            .collect()
    }

    /// SIGHUP, then the reload record it caused.
    fn hup(&mut self, what: &str) -> Record {
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
    fn reload_ok(&mut self, what: &str) {
        let r = self.hup(what);
        let want = self.generation + 1;
        assert!(
            is_msg(&r, MSG_RELOAD_OK) && field(&r, "SIGWARD_GENERATION") == want.to_string(),
            "reload ({what}) should succeed with generation {want}, got {r:#?}"
        );
        self.generation = want;
    }

    /// SIGHUP; the reload must be refused, the generation unchanged.
    fn reload_refused(&mut self, what: &str) -> Record {
        let r = self.hup(what);
        assert!(
            is_msg(&r, MSG_RELOAD_FAILED),
            "reload ({what}) should be refused, got {r:#?}"
        );
        r
    }

    /// Waits for a stderr record of the current generation about `path`
    /// with `decision`.
    fn decision(&self, path: &Path, decision: &str) -> Record {
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
    fn expect_deny_reason(&self, path: &Path, reason: &str) -> Record {
        let r = self.decision(path, "deny");
        expect_field(&r, "MESSAGE_ID", MSG_DENY);
        expect_field(&r, "SIGWARD_REASON", reason);
        r
    }

    /// SIGTERM; the agent must exit 0.
    fn stop(mut self) {
        self.agent.signal(libc::SIGTERM);
        let st = self.agent.wait_exit(Duration::from_secs(30));
        assert_eq!(st.code(), Some(0), "agent exit after SIGTERM: {st}");
    }
}

// ---------------------------------------------------------------------------
// 1. Revocation
// ---------------------------------------------------------------------------

#[test]
fn revoking_a_key_in_the_policy_denies_its_cached_plugin() {
    let fx = Fixture::new();
    let plugin = fx.write_signed("leaky.py", b"X = 'signed by a key about to leak'\n");
    let mut live = Live::start(&fx);
    expect_allowed(cat(&plugin), "signed plugin before revocation");
    expect_allowed(
        python_import(&fx.plugins, "leaky"),
        "import before revocation (cached verdict)",
    );

    let revoked = format!("revoked = {}\n", list(&[&fx.fingerprint]));
    fx.write_policy(&policy_text(
        &[&fx.pubkey],
        &revoked,
        &[(&fx.plugins, "")],
        "",
    ));
    live.reload_ok("revoked = [fp] in the main policy");
    expect_eperm(cat(&plugin), "plugin of a revoked key (cat)");
    expect_eperm(
        python_import(&fx.plugins, "leaky"),
        "plugin of a revoked key (import)",
    );
    let r = live.expect_deny_reason(&plugin, "revoked");
    expect_field(&r, "SIGWARD_KEY", &fx.fingerprint);
    live.stop();

    let detail = expect_verify_reason(&fx.policy, &plugin, "revoked");
    assert!(
        detail.contains(&fx.fingerprint),
        "verify detail should name the revoked key: {detail:?}"
    );
}

#[test]
fn revoking_a_key_in_a_drop_in_denies_and_cannot_be_undone_by_a_later_file() {
    let fx = Fixture::new();
    let plugin = fx.write_signed("leaky.py", b"X = 'signed by a key about to leak'\n");
    // No policy.d at start: the agent runs without drop-ins.
    assert!(!fx.root.join("policy.d").exists());
    let mut live = Live::start(&fx);
    expect_allowed(cat(&plugin), "signed plugin before revocation");
    expect_allowed(cat(&plugin), "signed plugin before revocation (cached)");

    // Files that are not *.toml are not drop-ins, whatever they hold.
    write_atomic(
        &fx,
        &dropin_path(&fx, "README"),
        "drop-ins are *.toml; this is not one [[[\n",
    );
    write_atomic(
        &fx,
        &dropin_path(&fx, "95-old.toml.disabled"),
        "mode = \"off\"\nthis is = not toml [[[\n",
    );
    // `*.toml` as the shell globs it: hidden files (editor and Ansible
    // temporary files such as .ansible_tmpXXXX90-revocations.toml) are not
    // drop-ins either.
    write_atomic(
        &fx,
        &dropin_path(&fx, ".ansible_tmp1a2b3c99-zz.toml"),
        "mode = \"off\"\nthis is = not toml [[[\n",
    );
    write_dropin(
        &fx,
        "90-revocations.toml",
        &format!(
            "# key leaked, see INC-1234\n[trust]\nrevoked = {}\n",
            list(&[&fx.fingerprint])
        ),
    );
    live.reload_ok("drop-in 90-revocations.toml");
    expect_eperm(cat(&plugin), "plugin of a key revoked by a drop-in");
    live.expect_deny_reason(&plugin, "revoked");

    // A later file cannot remove a revocation: lists only grow.
    write_dropin(&fx, "99-later.toml", "[trust]\nrevoked = []\n");
    live.reload_ok("a later drop-in with revoked = []");
    expect_eperm(cat(&plugin), "revocation after a later revoked = []");
    live.expect_deny_reason(&plugin, "revoked");

    // Removing the revocation file itself does lift it.
    fs::remove_file(dropin_path(&fx, "90-revocations.toml")).unwrap();
    live.reload_ok("90-revocations.toml removed");
    expect_allowed(cat(&plugin), "plugin once the revocation file is gone");
    live.stop();
    expect_verify_ok(&fx.policy, &plugin, &fx.fingerprint);

    write_dropin(
        &fx,
        "90-revocations.toml",
        &format!("[trust]\nrevoked = {}\n", list(&[&fx.fingerprint])),
    );
    expect_verify_reason(&fx.policy, &plugin, "revoked");
}

#[test]
fn revoked_dir_with_a_key_file_or_conductor_revoked_keys_denies() {
    let fx = Fixture::new();
    let vendor = fixture_key(&fx);
    let second = new_key(&fx, "second");
    let by_vendor = put_signed(&fx, &fx.path("vendor.py"), b"X = 'vendor'\n", &[&vendor]);
    let by_second = put_signed(&fx, &fx.path("second.py"), b"X = 'second'\n", &[&second]);
    fx.write_policy(&policy_text(
        &[&vendor.public, &second.public],
        "",
        &[(&fx.plugins, "")],
        "",
    ));
    let mut live = Live::start(&fx);
    expect_allowed(cat(&by_vendor), "vendor plugin before revocation");
    expect_allowed(cat(&by_second), "second plugin before revocation");

    // revoked_dir in a drop-in, relative to the drop-in's own directory
    // (policy.d/../revoked.d), holding the vendor's public key file.
    let revoked_dir = fx.root.join("revoked.d");
    mkdirs(&revoked_dir);
    fs::copy(&vendor.public, revoked_dir.join("vendor.pub")).unwrap();
    write_dropin(
        &fx,
        "90-revocations.toml",
        "[trust]\nrevoked_dir = \"../revoked.d\"\n",
    );
    live.reload_ok("revoked_dir with vendor.pub");
    expect_eperm(
        cat(&by_vendor),
        "plugin of a key whose .pub is in revoked_dir",
    );
    let r = live.expect_deny_reason(&by_vendor, "revoked");
    expect_field(&r, "SIGWARD_KEY", &vendor.fp);
    expect_allowed(cat(&by_second), "second plugin, not revoked");

    // A Conductor revoked_keys.toml in the same directory.
    write_file(
        &revoked_dir.join("revoked_keys.toml"),
        format!(
            "[[revoked]]\nfingerprint = \"{}\"\nreason = \"key compromised\"\nrevoked_at = \
             \"2026-06-04T00:00:00Z\"\n",
            second.fp
        )
        .as_bytes(),
    );
    live.reload_ok("revoked_keys.toml added to revoked_dir");
    expect_eperm(cat(&by_second), "plugin of a key in revoked_keys.toml");
    let r = live.expect_deny_reason(&by_second, "revoked");
    expect_field(&r, "SIGWARD_KEY", &second.fp);
    expect_eperm(cat(&by_vendor), "vendor plugin still revoked");
    live.stop();

    expect_verify_reason(&fx.policy, &by_vendor, "revoked");
    expect_verify_reason(&fx.policy, &by_second, "revoked");
}

// ---------------------------------------------------------------------------
// 2. Adding a key
// ---------------------------------------------------------------------------

#[test]
fn a_key_added_by_drop_in_allows_its_plugins_after_reload() {
    let fx = Fixture::new();
    let partner = new_key(&fx, "partner");
    let plugin = put_signed(
        &fx,
        &fx.path("partner_mod.py"),
        b"X = 'partner'\n",
        &[&partner],
    );
    let mut live = Live::start(&fx);
    expect_eperm(cat(&plugin), "plugin of a key not yet trusted");
    expect_eperm(
        python_import(&fx.plugins, "partner_mod"),
        "import of a plugin of a key not yet trusted",
    );
    let r = live.expect_deny_reason(&plugin, "untrusted");
    expect_field(&r, "SIGWARD_KEY", &partner.fp);

    // The key file is named relative to the drop-in (policy.d/../keys).
    write_dropin(
        &fx,
        "20-partner.toml",
        "[[trust.key]]\nname = \"partner\"\nfile = \"../keys/partner.pub\"\n",
    );
    live.reload_ok("drop-in adding [[trust.key]] partner");
    expect_allowed(cat(&plugin), "plugin of the newly trusted key");
    expect_allowed(
        python_import(&fx.plugins, "partner_mod"),
        "import of the newly trusted key's plugin",
    );
    live.stop();
    expect_verify_ok(&fx.policy, &plugin, &partner.fp);
}

// ---------------------------------------------------------------------------
// 3. deny_sha256
// ---------------------------------------------------------------------------

#[test]
fn deny_sha256_denies_validly_signed_content() {
    let fx = Fixture::new();
    let bad = fx.write_signed("bad_release.py", b"X = 'signed, later found vulnerable'\n");
    let good = fx.write_signed("good_release.py", b"X = 'signed and fine'\n");
    let sha = sha256_hex(&bad);
    let mut live = Live::start(&fx);
    expect_allowed(cat(&bad), "signed file before deny_sha256");

    write_dropin(
        &fx,
        "90-revocations.toml",
        &format!("[trust]\ndeny_sha256 = {}\n", list(&[&sha])),
    );
    live.reload_ok("deny_sha256 drop-in");
    expect_eperm(cat(&bad), "signed file whose hash is denied");
    expect_eperm(
        python_import(&fx.plugins, "bad_release"),
        "import of a file whose hash is denied",
    );
    let r = live.expect_deny_reason(&bad, "revoked");
    expect_field(&r, "SIGWARD_SHA256", &sha);
    expect_allowed(cat(&good), "other content by the same key");
    live.stop();

    let detail = expect_verify_reason(&fx.policy, &bad, "revoked");
    assert!(
        detail.contains(&sha),
        "verify detail should name the denied hash: {detail:?}"
    );
    expect_verify_ok(&fx.policy, &good, &fx.fingerprint);
}

// ---------------------------------------------------------------------------
// 4. Threshold
// ---------------------------------------------------------------------------

#[test]
fn threshold_two_needs_two_distinct_trusted_signers() {
    let fx = Fixture::new();
    let a = fixture_key(&fx);
    let b = new_key(&fx, "second");
    let outsider = new_key(&fx, "outsider");
    let one = put_signed(&fx, &fx.path("one.py"), b"X = 'one signer'\n", &[&a]);
    let both = put_signed(&fx, &fx.path("both.py"), b"X = 'two signers'\n", &[&a, &b]);
    let same = put_signed_twice_by(&fx, &fx.path("same.py"), b"X = 'one signer twice'\n", &a);
    let with_outsider = put_signed(
        &fx,
        &fx.path("outsider.py"),
        b"X = 'a trusted and an untrusted signer'\n",
        &[&a, &outsider],
    );
    fx.write_policy(&policy_text(
        &[&a.public, &b.public],
        "",
        &[(&fx.plugins, "threshold = 2\n")],
        "",
    ));

    let mut live = Live::start(&fx);
    expect_eperm(cat(&one), "one trusted signature of two required");
    expect_allowed(cat(&both), "co-signed by two trusted keys");
    expect_allowed(
        python_import(&fx.plugins, "both"),
        "import of a co-signed file",
    );
    expect_eperm(cat(&same), "two signatures by the same key");
    expect_eperm(cat(&with_outsider), "second signature by an untrusted key");
    for p in [&one, &same, &with_outsider] {
        let r = live.expect_deny_reason(p, "untrusted");
        let detail = field(&r, "SIGWARD_DETAIL");
        assert!(
            detail.contains("threshold 2 not met") && detail.contains("signed by 1 trusted key"),
            "detail for {} should say `threshold 2 not met: signed by 1 trusted key(s)`: {r:#?}",
            p.display()
        );
    }

    // threshold back to 1: one signature is enough again.
    fx.write_policy(&policy_text(
        &[&a.public, &b.public],
        "",
        &[(&fx.plugins, "")],
        "",
    ));
    live.reload_ok("threshold removed");
    expect_allowed(cat(&one), "one signature with the default threshold");
    expect_allowed(cat(&same), "same-key signatures with the default threshold");
    live.stop();

    fx.write_policy(&policy_text(
        &[&a.public, &b.public],
        "",
        &[(&fx.plugins, "threshold = 2\n")],
        "",
    ));
    for p in [&one, &same, &with_outsider] {
        let detail = expect_verify_reason(&fx.policy, p, "untrusted");
        assert!(
            detail.contains("threshold 2 not met") && detail.contains("signed by 1 trusted key"),
            "verify detail for {}: {detail:?}",
            p.display()
        );
    }
    let rest = verify(&fx.policy, &both);
    assert!(rest.starts_with("ok"), "co-signed file: {rest:?}");
}

// ---------------------------------------------------------------------------
// 5. Per-tree trust: named keys and groups
// ---------------------------------------------------------------------------

#[test]
fn per_tree_trust_lists_of_named_keys_and_groups() {
    let fx = Fixture::new();
    let vendor = fixture_key(&fx);
    let partner = new_key(&fx, "partner");
    let core = fx.plugins.join("core");
    let part = fx.plugins.join("partner");
    let any = fx.plugins.join("any");
    let core_v = put_signed(&fx, &core.join("core_v.py"), b"X = 'v'\n", &[&vendor]);
    let core_p = put_signed(&fx, &core.join("core_p.py"), b"X = 'p'\n", &[&partner]);
    let part_p = put_signed(&fx, &part.join("part_p.py"), b"X = 'p'\n", &[&partner]);
    let part_v = put_signed(&fx, &part.join("part_v.py"), b"X = 'v'\n", &[&vendor]);
    let any_v = put_signed(&fx, &any.join("any_v.py"), b"X = 'v'\n", &[&vendor]);
    let any_p = put_signed(&fx, &any.join("any_p.py"), b"X = 'p'\n", &[&partner]);
    // Co-signed, the untrusted-here signature first: the vendor's counts.
    let core_pv = put_signed(
        &fx,
        &core.join("core_pv.py"),
        b"X = 'p+v'\n",
        &[&partner, &vendor],
    );

    let named = format!(
        "\n[[trust.key]]\nname = \"vendor\"\nfile = {}\ngroups = [\"vendors\"]\n\n\
         [[trust.key]]\nname = \"partner\"\nfile = {}\ngroups = [\"partners\"]\n",
        q(&vendor.public),
        q(&partner.public)
    );
    let pol = |core_trust: &str, part_trust: &str| {
        policy_text(
            &[],
            &named,
            &[
                (&core, &format!("trust = {core_trust}\n")),
                (&part, &format!("trust = {part_trust}\n")),
                (&any, ""),
            ],
            "",
        )
    };
    fx.write_policy(&pol("[\"vendor\"]", "[\"partner\"]"));

    let mut live = Live::start(&fx);
    let check = |live: &Live, how: &str| {
        expect_allowed(cat(&core_v), &format!("vendor file in core ({how})"));
        expect_allowed(
            cat(&core_pv),
            &format!("partner+vendor co-signed file in core ({how})"),
        );
        expect_eperm(cat(&core_p), &format!("partner file in core ({how})"));
        expect_allowed(cat(&part_p), &format!("partner file in partner ({how})"));
        expect_eperm(cat(&part_v), &format!("vendor file in partner ({how})"));
        expect_allowed(cat(&any_v), &format!("vendor file, default trust ({how})"));
        expect_allowed(cat(&any_p), &format!("partner file, default trust ({how})"));
        let r = live.expect_deny_reason(&core_p, "untrusted");
        expect_field(&r, "SIGWARD_KEY", &partner.fp);
        let r = live.expect_deny_reason(&part_v, "untrusted");
        expect_field(&r, "SIGWARD_KEY", &vendor.fp);
    };
    check(&live, "named keys");
    expect_allowed(
        python_import(&part, "part_p"),
        "import of the partner's plugin in its tree",
    );
    expect_eperm(
        python_import(&core, "core_p"),
        "import of the partner's plugin in core",
    );

    fx.write_policy(&pol("[\"vendors\"]", "[\"partners\"]"));
    live.reload_ok("trust by groups");
    check(&live, "groups");

    // A key and a group together.
    fx.write_policy(&pol("[\"vendors\", \"partner\"]", "[\"partners\"]"));
    live.reload_ok("core trusts vendors and partner");
    expect_allowed(cat(&core_p), "partner file in core once core trusts it");
    expect_eperm(cat(&part_v), "vendor file in partner, still untrusted");
    live.stop();

    fx.write_policy(&pol("[\"vendor\"]", "[\"partner\"]"));
    expect_verify_ok(&fx.policy, &core_v, &vendor.fp);
    expect_verify_reason(&fx.policy, &core_p, "untrusted");
    expect_verify_ok(&fx.policy, &part_p, &partner.fp);
    expect_verify_reason(&fx.policy, &part_v, "untrusted");
    expect_verify_ok(&fx.policy, &any_p, &partner.fp);
}

// ---------------------------------------------------------------------------
// 6. Validity windows
// ---------------------------------------------------------------------------

#[test]
fn validity_windows_expire_signatures() {
    let fx = Fixture::new();
    let past = new_key(&fx, "past");
    let future = new_key(&fx, "future");
    let current = new_key(&fx, "current");
    let legacy = new_key(&fx, "legacy");
    // Also trusted unnamed through [trust] keys: its window still applies.
    let dual = new_key(&fx, "dual");
    let cond = new_conductor_key(&fx, "cond");
    let past_f = put_signed(&fx, &fx.path("past.py"), b"X = 'past'\n", &[&past]);
    let future_f = put_signed(&fx, &fx.path("future.py"), b"X = 'future'\n", &[&future]);
    let current_f = put_signed(&fx, &fx.path("current.py"), b"X = 'now'\n", &[&current]);
    // Co-signed during a rotation, in both orders: one signature inside
    // its key's window is enough.
    let rotated_f = put_signed(
        &fx,
        &fx.path("rotated.py"),
        b"X = 'old and new key'\n",
        &[&past, &current],
    );
    let rotated_rev_f = put_signed(
        &fx,
        &fx.path("rotated_rev.py"),
        b"X = 'new and old key'\n",
        &[&current, &past],
    );
    let legacy_f = put_signed(&fx, &fx.path("legacy.py"), b"X = 'legacy'\n", &[&legacy]);
    let dual_f = put_signed(&fx, &fx.path("dual.py"), b"X = 'dual'\n", &[&dual]);
    // Conductor's signed_at is not signed: a forged, in-window date must not
    // help; the verification time counts.
    let cond_f = put_conductor_signed(
        &fx,
        &fx.path("cond.wasm"),
        b"\0asm\x01\0\0\0 conductor plugin",
        &cond,
        |doc| doc["signed_at"] = serde_json::Value::from("2019-06-01T00:00:00Z"),
    );

    let named = |legacy_window: &str| {
        format!(
            "\n[[trust.key]]\nname = \"past\"\nfile = {}\nnot_after = 2020-01-01T00:00:00Z\n\n\
             [[trust.key]]\nname = \"future\"\nfile = {}\nnot_before = \"2099-01-01T00:00:00Z\"\n\n\
             [[trust.key]]\nname = \"current\"\nfile = {}\nnot_before = 2020-01-01T00:00:00Z\n\
             not_after = \"2099-12-31T23:59:59Z\"\n\n\
             [[trust.key]]\nname = \"legacy\"\nfile = {}\n{legacy_window}\n\n\
             [[trust.key]]\nname = \"cond\"\nfile = {}\nnot_after = 2020-01-01T00:00:00Z\n\n\
             [[trust.key]]\nname = \"dual\"\nfile = {}\nnot_after = 2020-01-01T00:00:00Z\n",
            q(&past.public),
            q(&future.public),
            q(&current.public),
            q(&legacy.public),
            q(&cond.public),
            q(&dual.public)
        )
    };
    fx.write_policy(&policy_text(
        &[&dual.public],
        &named(""),
        &[(&fx.plugins, "")],
        "",
    ));

    let mut live = Live::start(&fx);
    expect_eperm(cat(&past_f), "signed after the key's not_after");
    expect_eperm(cat(&future_f), "signed before the key's not_before");
    expect_allowed(cat(&current_f), "signed inside the key's window");
    expect_allowed(
        python_import(&fx.plugins, "current"),
        "import, signed inside the window",
    );
    expect_allowed(
        cat(&rotated_rev_f),
        "co-signed by a current and an expired key",
    );
    expect_allowed(cat(&rotated_f), "co-signed by an expired and a current key");
    expect_allowed(cat(&legacy_f), "key without a window");
    expect_eperm(cat(&cond_f), "Conductor signature, key past not_after");
    expect_eperm(
        cat(&dual_f),
        "key past not_after, also listed unnamed in [trust] keys",
    );
    for p in [&past_f, &future_f, &cond_f, &dual_f] {
        live.expect_deny_reason(p, "expired");
    }

    // Retiring a key: not_after before its signatures were made.
    fx.write_policy(&policy_text(
        &[&dual.public],
        &named("not_after = 2021-01-01T00:00:00Z"),
        &[(&fx.plugins, "")],
        "",
    ));
    live.reload_ok("legacy key retired with not_after");
    expect_eperm(cat(&legacy_f), "signed after the retired key's not_after");
    live.expect_deny_reason(&legacy_f, "expired");
    expect_allowed(cat(&current_f), "current key unaffected");
    live.stop();

    for p in [&past_f, &future_f, &legacy_f, &cond_f, &dual_f] {
        expect_verify_reason(&fx.policy, p, "expired");
    }
    expect_verify_ok(&fx.policy, &current_f, &current.fp);
    expect_verify_ok(&fx.policy, &rotated_rev_f, &current.fp);
    expect_verify_ok(&fx.policy, &rotated_f, &current.fp);
}

// ---------------------------------------------------------------------------
// 7. Self-signed trees
// ---------------------------------------------------------------------------

#[test]
fn allow_self_signed_accepts_valid_conductor_signatures_by_any_key() {
    let fx = Fixture::new();
    let stranger = new_conductor_key(&fx, "stranger");
    let native_stranger = new_key(&fx, "native-stranger");
    let selfsigned = put_conductor_signed(
        &fx,
        &fx.path("selfsigned.py"),
        b"X = 'self-signed conductor'\n",
        &stranger,
        |_| {},
    );
    let forged = put_conductor_signed(
        &fx,
        &fx.path("forged.py"),
        b"X = 'self-signed, then changed'\n",
        &stranger,
        |_| {},
    );
    // Changed after signing (by rename, before the agent runs).
    write_file(&fx.path("forged.py"), b"X = 'evil'\n");
    // A native signature names only a fingerprint: it carries no key, so it
    // can never be self-signed.
    let native = put_signed(
        &fx,
        &fx.path("native_stranger.py"),
        b"X = 'native, untrusted'\n",
        &[&native_stranger],
    );
    let pol = |on: bool| {
        policy_text(
            &[&fx.pubkey],
            "",
            &[(&fx.plugins, &format!("allow_self_signed = {on}\n"))],
            "",
        )
    };
    fx.write_policy(&pol(true));

    let mut live = Live::start(&fx);
    expect_allowed(cat(&selfsigned), "self-signed conductor file (cat)");
    expect_allowed(
        python_import(&fx.plugins, "selfsigned"),
        "self-signed conductor file (import)",
    );
    let r = live.decision(&selfsigned, "allow");
    expect_field(&r, "SIGWARD_REASON", "self-signed");
    expect_field(&r, "SIGWARD_KEY", &stranger.fp);
    expect_eperm(cat(&forged), "self-signed file changed after signing");
    live.expect_deny_reason(&forged, "tampered");
    expect_eperm(cat(&native), "native signature by an untrusted key");
    live.expect_deny_reason(&native, "untrusted");

    // Revoking the self-signer's key beats self-signing.
    fx.write_policy(&policy_text(
        &[&fx.pubkey],
        &format!("revoked = {}\n", list(&[&stranger.fp])),
        &[(&fx.plugins, "allow_self_signed = true\n")],
        "",
    ));
    live.reload_ok("self-signer revoked");
    expect_eperm(cat(&selfsigned), "self-signed file by a revoked key");
    live.expect_deny_reason(&selfsigned, "revoked");

    fx.write_policy(&pol(false));
    live.reload_ok("allow_self_signed = false");
    expect_eperm(cat(&selfsigned), "self-signed file, self-signing off");
    let r = live.expect_deny_reason(&selfsigned, "untrusted");
    expect_field(&r, "SIGWARD_KEY", &stranger.fp);
    live.stop();
    expect_verify_reason(&fx.policy, &selfsigned, "untrusted");
}

// ---------------------------------------------------------------------------
// 8. Broken drop-ins, and `sigward check` on drop-ins
// ---------------------------------------------------------------------------

#[test]
fn a_broken_drop_in_is_refused_naming_file_and_line_and_the_old_policy_stays() {
    let fx = Fixture::new();
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    write_dropin(&fx, "10-fleet.toml", "[audit]\nrate_limit_burst = 7\n");
    let mut live = Live::start(&fx);
    expect_allowed(cat(&good), "signed file before the broken drop-in");
    expect_eperm(cat(&bad), "unsigned file before the broken drop-in");
    let root = fs::canonicalize(&fx.root).unwrap();

    // Each would relax enforcement if it were (partly) applied.
    let broken = [
        (
            "unknown key",
            "# relaxes the host\nmode = \"off\"\nno_such_setting = true\n",
        ),
        (
            "syntax error",
            "# relaxes the host\nmode = \"off\"\n[trust\nkeys = []\n",
        ),
        (
            "missing key file",
            "# trusts a key that is not there\nmode = \"off\"\n[trust]\nkeys = [\"../keys/missing.pub\"]\n",
        ),
    ];
    let bad_line = [3usize, 3, 4];
    for ((what, text), line) in broken.iter().zip(bad_line) {
        let p = write_dropin(&fx, "20-host.toml", text);
        let r = live.reload_refused(&format!("drop-in with a {what}"));
        expect_field(
            &r,
            "SIGWARD_FILE",
            &path_str(&root.join("policy.d/20-host.toml")),
        );
        expect_field(&r, "SIGWARD_LINE", &line.to_string());
        live.agent
            .assert_alive(&format!("after a refused drop-in ({what})"));
        expect_eperm(cat(&bad), &format!("unsigned file after refused {what}"));
        expect_eperm(
            python_import(&fx.plugins, "bad"),
            &format!("import of the unsigned module after refused {what}"),
        );
        expect_allowed(cat(&good), &format!("signed file after refused {what}"));

        // sigward check names the drop-in and the line.
        let fin = sw(&[&"check", &"--policy", &fx.policy]);
        assert_eq!(
            fin.code(),
            Some(1),
            "check with a broken drop-in ({what})\n{fin}"
        );
        let want = format!("{}:{line}:", p.display());
        assert!(
            fin.stderr.contains(&want),
            "check should report `{want}` ({what})\n{fin}"
        );
    }
    assert_eq!(
        live.reload_records()
            .iter()
            .filter(|r| is_msg(r, MSG_RELOAD_OK))
            .count(),
        0,
        "a broken drop-in was reported as reloaded"
    );

    // Fixed: the reload goes through with the next generation.
    write_dropin(&fx, "20-host.toml", "[audit]\nrate_limit_burst = 9\n");
    live.reload_ok("drop-in fixed");
    expect_eperm(cat(&bad), "unsigned file after the fix");
    expect_allowed(cat(&good), "signed file after the fix");
    live.stop();
}

#[test]
fn check_validates_candidate_drop_ins_and_prints_the_merged_policy() {
    let fx = Fixture::new();
    let other = new_key(&fx, "other");
    let main_text = fs::read_to_string(&fx.policy).unwrap();
    let fleet_text = "# from config management\n[audit]\nrate_limit_burst = 7\n";
    let host_text = format!(
        "# this host only\n[trust]\nrevoked = {}\n\n[audit]\nrate_limit_burst = 9\n",
        list(&[&other.fp])
    );
    write_dropin(&fx, "10-fleet.toml", fleet_text);
    let host = write_dropin(&fx, "50-host.toml", &host_text);
    sw(&[&"check", &"--policy", &fx.policy]).assert_success();

    // --print: the effective policy, as TOML, annotated with its origins.
    let fin = sw(&[&"check", &"--policy", &fx.policy, &"--print"]);
    fin.assert_success();
    let burst_line = fin
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("rate_limit_burst"))
        .unwrap_or_else(|| panic!("--print shows no rate_limit_burst:\n{fin}"));
    let want = format!(
        "# from {}:{}",
        host.display(),
        line_of(&host_text, "rate_limit_burst")
    );
    assert!(
        burst_line.contains("= 9") && burst_line.contains(&want),
        "--print: rate_limit_burst should be 9 `{want}`, got {burst_line:?}\n{fin}"
    );
    let mode_line = fin
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("mode"))
        .unwrap_or_else(|| panic!("--print shows no mode:\n{fin}"));
    let want = format!(
        "# from {}:{}",
        fx.policy.display(),
        line_of(&main_text, "mode")
    );
    assert!(
        mode_line.contains("\"enforce\"") && mode_line.contains(&want),
        "--print: mode should be \"enforce\" `{want}`, got {mode_line:?}\n{fin}"
    );
    // It is TOML, with the merged values.
    let printed = fx.root.join("printed.toml");
    write_file(&printed, fin.stdout.as_bytes());
    let py = run_python(
        "import sys, tomllib\n\
         d = tomllib.load(open(sys.argv[1], 'rb'))\n\
         assert d['mode'] == 'enforce', d\n\
         assert d['audit']['rate_limit_burst'] == 9, d\n\
         assert sys.argv[2] in d['trust']['revoked'], d\n\
         assert len(d['protect']) == 1, d\n\
         print('OK')\n",
        &[&printed, Path::new(&other.fp)],
    );
    assert_eq!(
        py.stdout.trim(),
        "OK",
        "--print output is not the merged TOML:\n{py}\n{fin}"
    );

    // --drop-in: a broken candidate is reported under its own name.
    let cand_dir = fx.root.join("candidate");
    let broken = cand_dir.join("30-new.toml");
    write_file(&broken, b"[audit]\nrate_limit_brust = 3\n");
    let fin = sw(&[&"check", &"--policy", &fx.policy, &"--drop-in", &broken]);
    assert_eq!(
        fin.code(),
        Some(1),
        "check --drop-in broken candidate\n{fin}"
    );
    let want = format!("{}:2:", broken.display());
    assert!(fin.stderr.contains(&want), "expected `{want}`\n{fin}");
    // ... and so is an error that only shows when merged (a second key of
    // the same name).
    let dup = cand_dir.join("31-dup.toml");
    let dup_text = format!(
        "[[trust.key]]\nname = \"x\"\nfile = {}\n\n[[trust.key]]\nname = \"x\"\nfile = {}\n",
        q(&other.public),
        q(&fx.pubkey)
    );
    write_file(&dup, dup_text.as_bytes());
    let fin = sw(&[&"check", &"--policy", &fx.policy, &"--drop-in", &dup]);
    assert_eq!(
        fin.code(),
        Some(1),
        "check --drop-in with a duplicate key name\n{fin}"
    );
    assert!(
        fin.stderr.contains(&format!("{}:", dup.display())),
        "the duplicate name should be reported in {}\n{fin}",
        dup.display()
    );

    // A candidate replaces the drop-in of the same base name: a broken
    // 50-host.toml in policy.d does not matter when checking its fix.
    write_dropin(
        &fx,
        "50-host.toml",
        "[audit]\nrate_limit_burst = \"many\"\n",
    );
    let fin = sw(&[&"check", &"--policy", &fx.policy]);
    assert_eq!(
        fin.code(),
        Some(1),
        "check with a broken 50-host.toml\n{fin}"
    );
    let fixed = cand_dir.join("50-host.toml");
    write_file(&fixed, host_text.as_bytes());
    let fin = sw(&[&"check", &"--policy", &fx.policy, &"--drop-in", &fixed]);
    assert_eq!(
        fin.code(),
        Some(0),
        "check --drop-in of a fixed 50-host.toml (replacing the broken one)\n{fin}"
    );
    let fin = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--drop-in",
        &fixed,
        &"--print",
    ]);
    fin.assert_success();
    assert!(
        fin.stdout.contains(&format!("# from {}:", fixed.display())),
        "--print with --drop-in should attribute values to the candidate\n{fin}"
    );
    write_dropin(&fx, "50-host.toml", &host_text);

    // --base-dir: a candidate main policy with relative paths, checked as
    // if it were /etc/sigward/policy.toml (here: the fixture root).
    let main_cand = cand_dir.join("policy.toml");
    write_file(
        &main_cand,
        b"mode = \"enforce\"\n[trust]\nkeys = [\"keys/test.pub\"]\n[[protect]]\npath = \"plugins\"\n",
    );
    let fin = sw(&[&"check", &"--policy", &main_cand]);
    assert_eq!(
        fin.code(),
        Some(1),
        "relative paths resolve against the candidate's own directory without --base-dir\n{fin}"
    );
    let fin = sw(&[
        &"check",
        &"--policy",
        &main_cand,
        &"--base-dir",
        &fx.root,
        &"--print",
    ]);
    fin.assert_success();
    assert!(
        fin.stdout.contains(&format!("# from {}:", host.display())),
        "--base-dir must find policy.d under the base directory\n{fin}"
    );
    // The drop-ins under --base-dir are checked too.
    write_dropin(&fx, "60-bad.toml", "[audit]\nno_such = 1\n");
    let fin = sw(&[&"check", &"--policy", &main_cand, &"--base-dir", &fx.root]);
    assert_eq!(
        fin.code(),
        Some(1),
        "--base-dir with a broken drop-in\n{fin}"
    );
    assert!(
        fin.stderr
            .contains(&format!("{}:2:", dropin_path(&fx, "60-bad.toml").display())),
        "{fin}"
    );
}

/// Drop-ins merge after the main file in byte order of their names;
/// scalars: the last file wins; lists and named keys: appended; a
/// `[[protect]]` entry for a path already protected updates that entry.
#[test]
fn drop_ins_merge_in_byte_order_and_update_trees_by_path() {
    let fx = Fixture::new();
    let partner = new_key(&fx, "partner");
    let unsigned = fx.write_unsigned("unsigned.py", b"X = 'unsigned'\n");
    let by_partner = put_signed(&fx, &fx.path("by_partner.py"), b"X = 'p'\n", &[&partner]);
    let by_vendor = fx.write_signed("by_vendor.py", b"X = 'v'\n");
    let main_text = "# main policy: relative paths resolve against its directory\n\
                     mode = \"enforce\"\nformats = [\"native\"]\n\n\
                     [[trust.key]]\nname = \"vendor\"\nfile = \"keys/test.pub\"\n\n\
                     [[protect]]\npath = \"plugins\"\ntrust = [\"vendor\"]\n\n\
                     [audit]\nrate_limit_burst = 3\n";
    fx.write_policy(main_text);
    // Byte order: 10-a.toml < 2-z.toml < 20-b.toml.
    write_dropin(
        &fx,
        "10-a.toml",
        "mode = \"audit\"\n[audit]\nrate_limit_burst = 4\n\n\
         [[trust.key]]\nname = \"partner\"\nfile = \"../keys/partner.pub\"\n",
    );
    write_dropin(&fx, "2-z.toml", "[audit]\nrate_limit_burst = 5\n");
    write_dropin(
        &fx,
        "20-b.toml",
        "mode = \"enforce\"\nformats = [\"native\", \"conductor\"]\n\n\
         # the same tree, named relative to policy.d: only mode changes\n\
         [[protect]]\npath = \"../plugins\"\nmode = \"audit\"\n",
    );
    let fin = sw(&[&"check", &"--policy", &fx.policy, &"--print"]);
    fin.assert_success();
    let printed = fx.root.join("printed.toml");
    write_file(&printed, fin.stdout.as_bytes());
    let py = run_python(
        "import sys, tomllib\n\
         d = tomllib.load(open(sys.argv[1], 'rb'))\n\
         assert d['mode'] == 'enforce', d\n\
         assert d['formats'] == ['native', 'conductor'], d\n\
         assert d['audit']['rate_limit_burst'] == 5, d\n\
         assert sorted(k['name'] for k in d['trust']['key']) == ['partner', 'vendor'], d\n\
         assert len(d['protect']) == 1, d\n\
         p = d['protect'][0]\n\
         assert p['path'] == sys.argv[2], p\n\
         assert p['mode'] == 'audit', p\n\
         assert p['trust'] == ['vendor'], p\n\
         print('OK')\n",
        &[&printed, &fx.plugins],
    );
    assert_eq!(py.stdout.trim(), "OK", "merged policy:\n{py}\n{fin}");
    // Each value names the file and line it came from, also inside a tree
    // that several files set.
    let in_protect: Vec<&str> = fin
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("[[protect]]"))
        .take_while(|l| !l.starts_with("[agent]") && !l.starts_with("[audit]"))
        .collect();
    for (key, file, text, prefix) in [
        (
            "mode",
            dropin_path(&fx, "20-b.toml"),
            "",
            "mode = \"audit\"",
        ),
        ("trust", fx.policy.clone(), main_text, "trust = "),
    ] {
        let line = in_protect
            .iter()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("--print: no {key} in [[protect]]:\n{fin}"));
        let text = if text.is_empty() {
            fs::read_to_string(&file).unwrap()
        } else {
            text.to_string()
        };
        let want = format!("# from {}:{}", file.display(), line_of(&text, prefix));
        assert!(
            line.contains(&want),
            "--print: [[protect]] {key} should be annotated `{want}`, got {line:?}\n{fin}"
        );
    }

    // The agent applies the same merge: the tree is in audit mode and
    // still trusts only the vendor.
    let live = Live::start(&fx);
    expect_allowed(cat(&unsigned), "unsigned file, tree in audit mode");
    let r = live.decision(&unsigned, "would-deny");
    expect_field(&r, "SIGWARD_REASON", "unsigned");
    expect_allowed(cat(&by_partner), "partner file, tree in audit mode");
    let r = live.decision(&by_partner, "would-deny");
    expect_field(&r, "SIGWARD_REASON", "untrusted");
    expect_allowed(cat(&by_vendor), "vendor file");
    live.stop();
}

/// A `[[trust.key]]` name defined in the main file and again in a drop-in
/// is an error naming both places.
#[test]
fn a_key_name_defined_in_two_files_is_an_error_naming_both() {
    let fx = Fixture::new();
    new_key(&fx, "partner");
    fx.write_policy(
        "mode = \"enforce\"\n\n[[trust.key]]\nname = \"vendor\"\nfile = \"keys/test.pub\"\n\n\
         [[protect]]\npath = \"plugins\"\n",
    );
    sw(&[&"check", &"--policy", &fx.policy]).assert_success();
    // A key name defined twice, in two files: an error naming both.
    let dup = write_dropin(
        &fx,
        "30-dup.toml",
        "[[trust.key]]\nname = \"vendor\"\nfile = \"../keys/partner.pub\"\n",
    );
    let fin = sw(&[&"check", &"--policy", &fx.policy]);
    assert_eq!(fin.code(), Some(1), "a key name defined twice\n{fin}");
    // FILE:LINE of both definitions (the `name =` line or its table's).
    for (place, lines) in [(&dup, [1, 2]), (&fx.policy, [3, 4])] {
        assert!(
            lines
                .iter()
                .any(|l| fin.stderr.contains(&format!("{}:{l}", place.display()))),
            "the error should name {}:{} (or :{})\n{fin}",
            place.display(),
            lines[1],
            lines[0]
        );
    }
}

/// The layout docs/policy.md describes: a package-shipped main policy that
/// protects nothing, the fleet's trees and keys in 10-fleet.toml, a host
/// override in 50-host.toml, revocations in 90-revocations.toml.
#[test]
fn fleet_layout_of_the_policy_reference() {
    let fx = Fixture::new();
    let release = fixture_key(&fx);
    let acme = new_key(&fx, "acme");
    let partner_dir = fx.root.join("partner-plugins");
    let unsigned = fx.write_unsigned("unsigned.py", b"X = 'unsigned'\n");
    let rel = fx.write_signed("release.py", b"X = 'release'\n");
    let acme_in_core = put_signed(&fx, &fx.path("acme.py"), b"X = 'acme'\n", &[&acme]);
    let acme_f = put_signed(
        &fx,
        &partner_dir.join("acme_ext.py"),
        b"X = 'acme'\n",
        &[&acme],
    );
    let partner_unsigned = put_unsigned(&fx, &partner_dir.join("draft.py"), b"X = 'draft'\n");

    fx.write_policy("# shipped by the package: enforce, protect nothing\nmode = \"enforce\"\n");
    write_dropin(
        &fx,
        "10-fleet.toml",
        &format!(
            "[[trust.key]]\nname = \"release-2026\"\nfile = {}\ngroups = [\"release\"]\n\n\
             [[trust.key]]\nname = \"partner-acme\"\nfile = {}\ngroups = [\"partners\"]\n\n\
             [[protect]]\npath = {}\ntrust = [\"release\"]\n\n\
             [[protect]]\npath = {}\ntrust = [\"release\", \"partners\"]\n",
            q(&release.public),
            q(&acme.public),
            q(&fx.plugins),
            q(&partner_dir)
        ),
    );
    write_dropin(
        &fx,
        "50-host.toml",
        &format!(
            "# this host: audit the partner tree while it migrates\n\
             [[protect]]\npath = {}\nmode = \"audit\"\n",
            q(&partner_dir)
        ),
    );
    sw(&[&"check", &"--policy", &fx.policy]).assert_success();

    let mut live = Live::start(&fx);
    expect_eperm(cat(&unsigned), "unsigned file in the fleet tree");
    expect_allowed(cat(&rel), "release-signed file in the fleet tree");
    expect_eperm(
        cat(&acme_in_core),
        "partner-signed file in the release-only tree",
    );
    live.expect_deny_reason(&acme_in_core, "untrusted");
    expect_allowed(cat(&acme_f), "partner-signed file in the partner tree");
    expect_allowed(
        cat(&partner_unsigned),
        "unsigned file in the audited partner tree",
    );
    let r = live.decision(&partner_unsigned, "would-deny");
    expect_field(&r, "SIGWARD_REASON", "unsigned");

    // The migration is over, and the partner's key leaked.
    fs::remove_file(dropin_path(&fx, "50-host.toml")).unwrap();
    write_dropin(
        &fx,
        "90-revocations.toml",
        &format!("[trust]\nrevoked = {}\n", list(&[&acme.fp])),
    );
    sw(&[&"check", &"--policy", &fx.policy]).assert_success();
    live.reload_ok("50-host.toml removed, partner key revoked");
    expect_eperm(cat(&acme_f), "file of the revoked partner key");
    live.expect_deny_reason(&acme_f, "revoked");
    expect_eperm(
        cat(&partner_unsigned),
        "unsigned file, partner tree enforcing again",
    );
    expect_allowed(cat(&rel), "release-signed file");
    live.stop();
}

// ---------------------------------------------------------------------------
// 9. Many reloads under load: no wrong verdict, no leak
// ---------------------------------------------------------------------------

/// Every directory of the tree at `root`, `root` included.
fn tree_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let dir = out[i].clone();
        for e in fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.push(e.path());
            }
        }
        i += 1;
    }
    out
}

fn fanotify_fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    fs::read_link(e.path())
                        .map(|t| t.to_string_lossy().ends_with("[fanotify]"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

/// The agent's marks must be exactly one permission mark and one
/// notification mark on each directory of `dirs`, nothing else.
#[track_caller]
fn expect_marks_exactly(agent: &Agent, dirs: &[PathBuf], context: &str) {
    let marks = agent.fanotify_marks();
    let want: HashSet<u64> = dirs.iter().map(|d| inode(d)).collect();
    let perm: Vec<u64> = marks
        .iter()
        .filter(|m| m.is_permission_mark())
        .map(|m| m.ino)
        .collect();
    let notif: Vec<u64> = marks
        .iter()
        .filter(|m| m.is_notification_mark())
        .map(|m| m.ino)
        .collect();
    let describe = || {
        format!(
            "{context}: want one permission and one notification mark on each of {} dirs {:?} \
             (inodes {:x?}); marks: {:x?}",
            dirs.len(),
            dirs,
            want,
            marks
        )
    };
    assert_eq!(perm.len(), want.len(), "{}", describe());
    assert_eq!(
        perm.iter().copied().collect::<HashSet<u64>>(),
        want,
        "{}",
        describe()
    );
    assert_eq!(notif.len(), want.len(), "{}", describe());
    assert_eq!(
        notif.iter().copied().collect::<HashSet<u64>>(),
        want,
        "{}",
        describe()
    );
}

/// What the opener threads saw.
#[derive(Default)]
struct LoadReport {
    opens: AtomicUsize,
    wrong: Mutex<Vec<String>>,
    wrong_count: AtomicUsize,
    watchdog_fired: AtomicBool,
}

/// Runs `body` while 4 threads of this process continuously open `signed`
/// (must be allowed) and `unsigned` (must be denied with EPERM). A watchdog
/// SIGKILLs the agent if an open blocks for 15 s.
fn under_load<T>(
    agent_pid: i32,
    signed: &Path,
    unsigned: &Path,
    body: impl FnOnce() -> T,
) -> (T, LoadReport) {
    const THREADS: usize = 4;
    const BLOCKED: Duration = Duration::from_secs(15);
    let report = LoadReport::default();
    let stop = AtomicBool::new(false);
    let epoch = Instant::now();
    let now_ms = || u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
    let in_flight: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();

    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let out = thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        for slot in &in_flight {
            let (report, stop) = (&report, &stop);
            s.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for (path, want_ok) in [(signed, true), (unsigned, false)] {
                        slot.store(now_ms(), Ordering::SeqCst);
                        let got = fs::File::open(path);
                        slot.store(0, Ordering::SeqCst);
                        report.opens.fetch_add(1, Ordering::SeqCst);
                        let right = match &got {
                            Ok(_) => want_ok,
                            Err(e) => !want_ok && e.raw_os_error() == Some(libc::EPERM),
                        };
                        if !right {
                            report.wrong_count.fetch_add(1, Ordering::SeqCst);
                            let mut w = report.wrong.lock().unwrap();
                            if w.len() < 20 {
                                w.push(format!(
                                    "open #{n} of {}: {:?} (expected {})",
                                    path.display(),
                                    got.map(|_| "allowed"),
                                    if want_ok { "allowed" } else { "EPERM" }
                                ));
                            }
                        }
                    }
                    n += 1;
                }
            });
        }
        {
            let (report, stop, in_flight) = (&report, &stop, &in_flight);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let now = now_ms();
                    let stuck = in_flight.iter().any(|t| {
                        let since = t.load(Ordering::SeqCst);
                        since != 0 && now.saturating_sub(since) > BLOCKED.as_millis() as u64
                    });
                    if stuck && !report.watchdog_fired.swap(true, Ordering::SeqCst) {
                        // SAFETY: plain kill of the agent this test started (by pid);
                        // the test thread still owns it, so it is not reaped.
                        unsafe {
                            libc::kill(agent_pid, libc::SIGKILL);
                        }
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            });
        }
        // Let the openers get going before the body starts.
        thread::sleep(Duration::from_millis(50));
        body()
    });
    assert!(
        !report.watchdog_fired.load(Ordering::SeqCst),
        "an open blocked for more than {BLOCKED:?}: the agent did not answer, so it was SIGKILLed"
    );
    (out, report)
}

#[track_caller]
fn expect_no_wrong_verdicts(report: &LoadReport, what: &str) {
    let wrong = report.wrong_count.load(Ordering::SeqCst);
    let opens = report.opens.load(Ordering::SeqCst);
    assert_eq!(
        wrong,
        0,
        "{what}: {wrong} wrong verdicts out of {opens} opens; first ones:\n{}",
        report.wrong.lock().unwrap().join("\n")
    );
    assert!(
        opens >= 200,
        "{what}: only {opens} opens happened under load"
    );
    eprintln!("{what}: {opens} opens, no wrong verdict");
}

#[test]
fn a_hundred_reloads_under_load_give_no_wrong_verdict_and_leak_nothing() {
    let fx = Fixture::new();
    mkdirs(&fx.plugins.join("d1/d2"));
    let s = fx.write_signed("d1/s.py", b"X = 'signed'\n");
    let u = fx.write_unsigned("d1/d2/u.py", b"X = 'unsigned'\n");
    let pol = |burst: u32| {
        policy_text(
            &[&fx.pubkey],
            "",
            &[(&fx.plugins, "")],
            &format!("[audit]\nrate_limit_burst = {burst}\n"),
        )
    };
    fx.write_policy(&pol(5));
    let dirs = tree_dirs(&fx.plugins);
    assert_eq!(dirs.len(), 3);

    let mut live = Live::start(&fx);
    let pid = live.agent.pid();
    expect_allowed(cat(&s), "S before the reloads");
    expect_eperm(cat(&u), "U before the reloads");
    let fds_before = fd_count(pid);
    let fan_fds = fanotify_fd_count(pid);
    expect_marks_exactly(&live.agent, &dirs, "before the reloads");

    let started = Instant::now();
    let ((), report) = under_load(pid, &s, &u, || {
        for i in 0..100u32 {
            fx.write_policy(&pol(5 + i % 2));
            live.reload_ok(&format!("reload {} of 100", i + 1));
        }
    });
    eprintln!("100 reloads under load took {:?}", started.elapsed());
    live.agent.assert_alive("after 100 reloads under load");
    expect_no_wrong_verdicts(&report, "100 reloads");
    expect_allowed(cat(&s), "S after the reloads");
    expect_eperm(cat(&u), "U after the reloads");

    let fds_after = settled_fd_count(pid, fds_before);
    assert!(
        fds_after <= fds_before + 4,
        "the agent's open fds grew from {fds_before} to {fds_after} over 100 reloads"
    );
    assert_eq!(
        fanotify_fd_count(pid),
        fan_fds,
        "fanotify groups after 100 reloads"
    );
    expect_marks_exactly(&live.agent, &dirs, "after 100 reloads");

    // Reloading an unchanged policy: a new generation each time, same marks.
    for i in 0..3 {
        live.reload_ok(&format!("unchanged policy, reload {}", i + 1));
        expect_marks_exactly(&live.agent, &dirs, "after reloading an unchanged policy");
    }
    assert!(settled_fd_count(pid, fds_before) <= fds_before + 4);
    live.stop();
}

#[test]
fn reloads_adding_and_removing_a_tree_mark_and_unmark_it() {
    let fx = Fixture::new();
    let s = fx.write_signed("s.py", b"X = 'signed'\n");
    let u = fx.write_unsigned("u.py", b"X = 'unsigned'\n");
    let extra = fx.root.join("extra");
    mkdirs(&extra.join("a/b"));
    let x = put_unsigned(
        &fx,
        &extra.join("a/x.py"),
        b"X = 'unsigned, sometimes protected'\n",
    );
    let base = policy_text(&[&fx.pubkey], "", &[(&fx.plugins, "")], "");
    let plus = policy_text(&[&fx.pubkey], "", &[(&fx.plugins, ""), (&extra, "")], "");
    fx.write_policy(&base);
    let base_dirs = tree_dirs(&fx.plugins);
    let mut all_dirs = base_dirs.clone();
    all_dirs.extend(tree_dirs(&extra));
    assert_eq!(all_dirs.len(), base_dirs.len() + 3);

    let mut live = Live::start(&fx);
    let pid = live.agent.pid();
    expect_allowed(cat(&x), "file in a tree not yet protected");
    let fds_before = fd_count(pid);
    let fan_fds = fanotify_fd_count(pid);
    expect_marks_exactly(&live.agent, &base_dirs, "before adding the tree");

    let ((), report) = under_load(pid, &s, &u, || {
        for cycle in 1..=10 {
            fx.write_policy(&plus);
            live.reload_ok(&format!("cycle {cycle}: tree added"));
            // Marked before the switch, so before the reload record.
            expect_marks_exactly(
                &live.agent,
                &all_dirs,
                &format!("cycle {cycle}: after adding extra/"),
            );
            expect_eperm(cat(&x), &format!("cycle {cycle}: file in the added tree"));

            fx.write_policy(&base);
            live.reload_ok(&format!("cycle {cycle}: tree removed"));
            expect_marks_exactly(
                &live.agent,
                &base_dirs,
                &format!("cycle {cycle}: after removing extra/"),
            );
            expect_allowed(cat(&x), &format!("cycle {cycle}: file in the removed tree"));
        }
    });
    live.agent
        .assert_alive("after adding and removing a tree 10 times");
    expect_no_wrong_verdicts(&report, "tree added and removed 10 times");
    let fds_after = settled_fd_count(pid, fds_before);
    assert!(
        fds_after <= fds_before + 4,
        "the agent's open fds grew from {fds_before} to {fds_after} over 20 reloads"
    );
    assert_eq!(
        fanotify_fd_count(pid),
        fan_fds,
        "fanotify groups after 20 reloads"
    );
    live.stop();
}

/// Config management validates a temporary copy with another name: `--as`
/// places it where it will be installed, replacing the current version, so
/// a file that defines a named key can be re-validated after the first
/// deploy.
#[test]
fn check_drop_in_as_its_final_name_replaces_the_installed_version() {
    let fx = Fixture::new();
    let vendor = new_key(&fx, "vendor-as");
    let text = format!(
        "[[trust.key]]\nname = \"vendor\"\nfile = {:?}\n",
        vendor.public.display().to_string()
    );
    write_dropin(&fx, "10-fleet.toml", &text);
    let candidate = fx.root.join("ansible-tmp-source");
    write_file(&candidate, format!("{text}\n# a new revision\n").as_bytes());

    // Without --as the copy is merged beside the installed version: the
    // key name is defined twice.
    let beside = sw(&[&"check", &"--policy", &fx.policy, &"--drop-in", &candidate]);
    assert_eq!(beside.code(), Some(1), "{beside}");
    assert!(beside.stderr.contains("already defined"), "{beside}");

    // With --as it takes the installed file's place.
    let replacing = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--drop-in",
        &candidate,
        &"--as",
        &"10-fleet.toml",
    ]);
    replacing.assert_success();

    // A broken candidate under its final name is refused with its own path.
    write_file(&candidate, b"[[trust.key]]\nname = \"vendor\"\n");
    let broken = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--drop-in",
        &candidate,
        &"--as",
        &"10-fleet.toml",
    ]);
    assert_eq!(broken.code(), Some(1), "{broken}");
    assert!(
        broken
            .stderr
            .contains(&format!("{}:1:", candidate.display())),
        "{broken}"
    );
}
