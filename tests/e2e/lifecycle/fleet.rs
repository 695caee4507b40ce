//! Running sigward on a fleet: `sigward check` in the forms configuration
//! management uses (every error in file order, `--as`, `--without`,
//! `--offline`, `--key`, `--json`), the fleet identity (policy digest, keys
//! with their validity, expiry warnings) in `check`, `trust list` and the
//! status, the truthful mode (`mixed`, each tree's mode, the off warning
//! naming exactly the unchecked trees), and contents trusted by their
//! SHA-256 (`allow_sha256`, `sigward trust add-hash`).

use std::path::Path;

use crate::harness::{
    field, is_msg, start, status, status_json, try_reload, write_file, Fixture, MIB,
};
use crate::openers::{cat, expect_allowed, expect_eperm};

use super::{line_of, new_key, policy_text, q, sw, write_atomic, write_dropin};

fn json(fin: &crate::harness::Finished) -> serde_json::Value {
    serde_json::from_str(&fin.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{fin}"))
}

/// The lines of stderr that are errors (`FILE:LINE: ...` or `FILE: ...`),
/// not warnings or notes.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.contains(": warning: ") && !l.contains(": note: "))
        .collect()
}

#[test]
fn check_reports_every_error_first_line_first() {
    let fx = Fixture::new();
    // [agent] is read after [trust] but comes first in the file: its error
    // is reported first.
    let main = format!(
        "mode = \"enforce\"\n[agent]\nworkers = 0\n[trust]\nkeys = [{}]\nrevoked = [\"zz\"]\n\
         [[protect]]\npath = {}\n",
        q(&fx.pubkey),
        q(&fx.plugins)
    );
    fx.write_policy(&main);
    let dropin = write_dropin(&fx, "10-bad.toml", "[audit]\n\nrate_limit_burst = -1\n");
    let fin = sw(&[&"check", &"--policy", &fx.policy]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let errors = error_lines(&fin.stderr);
    let policy = fx.policy.display();
    assert_eq!(errors.len(), 3, "{fin}");
    assert!(
        errors[0].starts_with(&format!("{policy}:3: agent.workers")),
        "{fin}"
    );
    assert!(
        errors[1].starts_with(&format!("{policy}:6: trust.revoked")),
        "{fin}"
    );
    assert!(
        errors[2].starts_with(&format!("{}:3: audit.rate_limit_burst", dropin.display())),
        "{fin}"
    );

    // Errors of what the files name: every one, in line order.
    fs_remove(&dropin);
    let main = format!(
        "mode = \"enforce\"\n[trust]\nkeys = [{}, {}]\n[[trust.key]]\nname = \"gone\"\nfile = {}\n\
         [[protect]]\npath = {}\n[[protect]]\npath = {}\n",
        q(&fx.root.join("keys/missing-1.pub")),
        q(&fx.pubkey),
        q(&fx.root.join("keys/missing-2.pub")),
        q(&fx.root.join("no-such-tree")),
        q(&fx.plugins),
    );
    fx.write_policy(&main);
    let fin = sw(&[&"check", &"--policy", &fx.policy]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let errors = error_lines(&fin.stderr);
    let lines: Vec<&str> = errors
        .iter()
        .map(|l| l.split(':').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(lines, ["3", "6", "8"], "{fin}");
    assert!(errors[0].contains("missing-1.pub"), "{fin}");
    assert!(errors[1].contains("missing-2.pub"), "{fin}");
    assert!(errors[2].contains("no-such-tree"), "{fin}");
}

fn fs_remove(p: &Path) {
    std::fs::remove_file(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

#[test]
fn check_validates_key_files_before_they_are_installed() {
    let fx = Fixture::new();
    let ok = sw(&[&"check", &"--key", &fx.pubkey, &"--as", &"vendor.pub"]);
    ok.assert_success();
    assert!(
        ok.stdout
            .contains(&format!("vendor.pub: ok: ed25519 {}", fx.fingerprint)),
        "{ok}"
    );
    let v = json(&sw(&[&"check", &"--key", &fx.pubkey, &"--json"]));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["keys"][0]["fingerprint"], fx.fingerprint.as_str(), "{v}");
    assert_eq!(v["keys"][0]["kind"], "ed25519", "{v}");

    // A private key pushed as vendor.pub is refused, under the name it
    // would have.
    let private = sw(&[&"check", &"--key", &fx.key, &"--as", &"vendor.pub"]);
    assert_eq!(private.code(), Some(1), "{private}");
    assert!(
        private.stderr.starts_with("vendor.pub: ") && private.stderr.contains("private key"),
        "{private}"
    );
    let junk = fx.root.join("junk.pub");
    write_file(&junk, b"not a key\n");
    let fin = sw(&[&"check", &"--key", &junk, &"--json"]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert_eq!(json(&fin)["ok"], false, "{fin}");
    // A FIFO is refused at once, not waited on.
    let fifo = fx.root.join("fifo.pub");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let fin = sw(&[&"check", &"--key", &fifo]);
    assert_eq!(fin.code(), Some(1), "{fin}");
}

#[test]
fn check_without_refuses_the_removal_of_a_drop_in_others_depend_on() {
    let fx = Fixture::new();
    let vendor = new_key(&fx, "vendor");
    write_dropin(
        &fx,
        "10-keys.toml",
        &format!(
            "[[trust.key]]\nname = \"vendor\"\nfile = {}\n",
            q(&vendor.public)
        ),
    );
    let tree = fx.root.join("tree2");
    crate::harness::mkdirs(&tree);
    let trees = "# the vendor tree\n[[protect]]\npath = PATH\ntrust = [\"vendor\"]\n"
        .replace("PATH", &q(&tree));
    let dependent = write_dropin(&fx, "20-trees.toml", &trees);
    write_dropin(&fx, "30-other.toml", "[audit]\nlog_allowed = false\n");
    sw(&[&"check", &"--policy", &fx.policy]).assert_success();

    let fin = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--without",
        &"10-keys.toml",
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let want = format!("{}:{}:", dependent.display(), line_of(&trees, "trust ="));
    assert!(fin.stderr.contains(&want), "expected {want}\n{fin}");
    assert!(fin.stderr.contains("\"vendor\""), "{fin}");

    let fin = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--without",
        &"30-other.toml",
    ]);
    fin.assert_success();
    assert!(fin.stderr.contains("note: validated without"), "{fin}");
    // Both together: the tree goes with its key.
    let fin = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--without",
        &"10-keys.toml",
        &"--without",
        &"20-trees.toml",
    ]);
    fin.assert_success();
}

#[test]
fn check_offline_validates_a_policy_for_another_host() {
    let fx = Fixture::new();
    // A site policy kept in a repository: trees and key files that exist
    // only on the hosts, a user that exists only there.
    let site = fx.root.join("site");
    let text = "mode = \"enforce\"\n[trust]\nkeys_dir = \"/etc/sigward/nowhere.d\"\n\
                [[trust.key]]\nname = \"release\"\nfile = \"keys/release.pub\"\n\
                [[protect]]\npath = \"/srv/nowhere/plugins\"\ntrust = [\"release\"]\n\
                [agent]\nkernel_cache_owners = [0, \"no-such-user-here\"]\n";
    write_file(&site.join("policy.toml"), text.as_bytes());
    let policy = site.join("policy.toml");
    let fin = sw(&[&"check", &"--policy", &policy]);
    assert_eq!(fin.code(), Some(1), "on-host check must refuse: {fin}");

    let fin = sw(&[&"check", &"--offline", &"--policy", &policy]);
    fin.assert_success();
    for note in [
        "nowhere.d",
        "release.pub",
        "/srv/nowhere/plugins",
        "no-such-user-here",
    ] {
        assert!(
            fin.stderr
                .lines()
                .any(|l| l.contains("note: not checked here") && l.contains(note)),
            "no note about {note}:\n{fin}"
        );
    }
    assert!(fin.stdout.contains("(off-host)"), "{fin}");

    // Syntax, values and references are still checked.
    let broken = text.replace("trust = [\"release\"]", "trust = [\"relaese\"]");
    write_file(&policy, broken.as_bytes());
    let fin = sw(&[&"check", &"--offline", &"--policy", &policy]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("relaese"), "{fin}");
    // A key file that is there is validated.
    write_file(&policy, text.as_bytes());
    write_file(&site.join("keys/release.pub"), b"garbage\n");
    let fin = sw(&[&"check", &"--offline", &"--policy", &policy]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("release.pub"), "{fin}");
}

#[test]
fn keys_that_expire_are_warned_about_and_listed_with_their_validity() {
    let fx = Fixture::new();
    let old = new_key(&fx, "old");
    let soon = new_key(&fx, "soon");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rfc = |t: u64| sigward_policy::verify::format_rfc3339(t);
    let extra = format!(
        "\n[[trust.key]]\nname = \"old\"\nfile = {}\nnot_after = {}\n\
         \n[[trust.key]]\nname = \"soon\"\nfile = {}\nnot_after = {}\n",
        q(&old.public),
        rfc(now - 86_400),
        q(&soon.public),
        rfc(now + 7 * 86_400),
    );
    fx.write_policy(&policy_text(
        &[&fx.pubkey],
        "",
        &[(&fx.plugins, "")],
        &extra,
    ));
    let fin = sw(&[&"check", &"--policy", &fx.policy]);
    fin.assert_success();
    assert!(
        fin.stderr.contains("warning: trusted key \"old\"") && fin.stderr.contains("expired at"),
        "{fin}"
    );
    assert!(
        fin.stderr.contains("warning: trusted key \"soon\"")
            && (fin.stderr.contains("(in 6 days)") || fin.stderr.contains("(in 7 days)")),
        "{fin}"
    );
    let v = json(&sw(&[&"check", &"--policy", &fx.policy, &"--json"]));
    let validity = |name: &str| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .map(|k| k["validity"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no key {name} in {v}"))
    };
    assert_eq!(validity("old"), "expired");
    assert_eq!(validity("soon"), "expires-soon");
    let list = json(&sw(&[
        &"trust",
        &"list",
        &"--policy",
        &fx.policy,
        &"--json",
    ]));
    assert_eq!(list["keys"].as_array().unwrap().len(), 3, "{list}");
    let text = sw(&[&"trust", &"list", &"--policy", &fx.policy]);
    assert!(
        text.stdout.contains("VALIDITY") && text.stdout.contains("expires-soon"),
        "{text}"
    );

    // The agent says so at start and on every reload: a record per key,
    // and the warnings in `sigward reload`'s answer.
    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    let r = agent.wait_record("the expiry record of soon", |r| {
        is_msg(r, sigward::ids::KEY_EXPIRY) && field(r, "SIGWARD_KEY_NAME") == "soon"
    });
    assert_eq!(field(&r, "SIGWARD_KEY_VALIDITY"), "expires-soon", "{r:?}");
    assert_eq!(field(&r, "SIGWARD_KEY"), soon.fp, "{r:?}");
    let fin = try_reload(&fx, &socket);
    assert!(fin.success(), "{fin}");
    assert!(
        fin.stderr
            .contains("sigward reload: warning: trusted key \"old\""),
        "{fin}"
    );
    let v = status_json(&socket);
    let keys = v["policy"]["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["name"] == "old" && k["validity"] == "expired"),
        "{v}"
    );
    drop(agent);

    // A horizon of 0 days warns only about expired keys.
    fx.write_policy(&policy_text(
        &[&fx.pubkey],
        "expiry_warning_days = 0\n",
        &[(&fx.plugins, "")],
        &extra,
    ));
    let fin = sw(&[&"check", &"--policy", &fx.policy]);
    fin.assert_success();
    assert!(
        fin.stderr.contains("\"old\"") && !fin.stderr.contains("\"soon\""),
        "{fin}"
    );
}

#[test]
fn the_status_shows_the_digest_the_keys_and_each_trees_mode() {
    let fx = Fixture::new();
    let off_tree = fx.root.join("tree2");
    crate::harness::mkdirs(&off_tree);
    fx.write_policy(&policy_text(
        &[&fx.pubkey],
        "",
        &[(&fx.plugins, ""), (&off_tree, "")],
        "",
    ));
    // A drop-in turns one tree off: the summary must not say enforce.
    write_dropin(
        &fx,
        "50-off.toml",
        &format!("[[protect]]\npath = {}\nmode = \"off\"\n", q(&off_tree)),
    );
    let checked = json(&sw(&[&"check", &"--policy", &fx.policy, &"--json"]));
    assert_eq!(checked["mode"], "mixed", "{checked}");
    let unsigned_on = fx.write_unsigned("unsigned.py", b"X = 1\n");
    let unsigned_off = off_tree.join("unsigned.py");
    write_file(&unsigned_off, b"X = 2\n");

    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    expect_eperm(cat(&unsigned_on), "unsigned in the enforcing tree");
    expect_allowed(cat(&unsigned_off), "unsigned in the tree that is off");
    let v = status_json(&socket);
    let st = &v;
    assert_eq!(st["mode"], "mixed", "{v}");
    assert_eq!(st["policy"]["mode"], "enforce", "{v}");
    assert_eq!(st["policy"]["digest"], checked["digest"], "{v}");
    let trees = st["trees"].as_array().unwrap();
    let mode_of = |p: &Path| {
        trees
            .iter()
            .find(|t| t["path"] == p.to_str().unwrap())
            .map(|t| t["mode"].as_str().unwrap().to_string())
    };
    assert_eq!(mode_of(&fx.plugins).as_deref(), Some("enforce"));
    assert_eq!(mode_of(&off_tree).as_deref(), Some("off"));
    assert_eq!(
        st["policy"]["keys"][0]["fingerprint"],
        fx.fingerprint.as_str(),
        "{v}"
    );
    assert_eq!(st["policy"]["keys"][0]["validity"], "valid", "{v}");

    let prom = status(&socket, Some("--prometheus"));
    for want in [
        "sigward_mode{mode=\"mixed\"} 1".to_string(),
        "sigward_mode{mode=\"enforce\"} 0".to_string(),
        format!(
            "sigward_tree_mode{{tree=\"{}\",mode=\"off\"}} 1",
            off_tree.display()
        ),
        format!(
            "sigward_policy_info{{digest={},global_mode=\"enforce\"}} 1",
            checked["digest"]
        ),
        format!("sigward_key_info{{fingerprint=\"{}\"", fx.fingerprint),
    ] {
        assert!(prom.stdout.contains(&want), "missing {want}:\n{prom}");
    }
    let human = status(&socket, None);
    assert!(
        human.stdout.contains(checked["digest"].as_str().unwrap()),
        "{human}"
    );

    // The off warning names that tree, and only it.
    let off = agent.wait_record("the off warning", |r| is_msg(r, sigward::ids::MODE_OFF));
    assert_eq!(
        field(&off, "SIGWARD_TREES"),
        off_tree.to_str().unwrap(),
        "{off:?}"
    );
    assert!(
        field(&off, "MESSAGE").contains("1 of 2 protected trees"),
        "{off:?}"
    );
    drop(agent);

    // A global mode = "off" whose only tree enforces: no off warning, and
    // the summary says enforce.
    std::fs::remove_file(fx.root.join("policy.d/50-off.toml")).unwrap();
    fx.write_policy(
        &policy_text(
            &[&fx.pubkey],
            "",
            &[(&fx.plugins, "mode = \"enforce\"\n")],
            "",
        )
        .replace("mode = \"enforce\"\n\n[trust]", "mode = \"off\"\n\n[trust]"),
    );
    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    expect_eperm(
        cat(&unsigned_on),
        "unsigned in the enforcing tree of an off policy",
    );
    let v = status_json(&socket);
    assert_eq!(v["mode"], "enforce", "{v}");
    assert_eq!(v["policy"]["mode"], "off", "{v}");
    assert_eq!(
        agent.count_records(|r| is_msg(r, sigward::ids::MODE_OFF)),
        0,
        "{}",
        agent.stderr_text()
    );
}

#[test]
fn the_digest_is_the_same_however_the_files_divide_the_policy() {
    let fx = Fixture::new();
    let other = new_key(&fx, "other");
    let whole = policy_text(&[&fx.pubkey, &other.public], "", &[(&fx.plugins, "")], "");
    fx.write_policy(&whole);
    let a = json(&sw(&[&"check", &"--policy", &fx.policy, &"--json"]));
    fx.write_policy(&policy_text(&[&fx.pubkey], "", &[(&fx.plugins, "")], ""));
    write_dropin(
        &fx,
        "10-other.toml",
        &format!("# the other key\n[trust]\nkeys = [{}]\n", q(&other.public)),
    );
    let b = json(&sw(&[&"check", &"--policy", &fx.policy, &"--json"]));
    assert_eq!(a["digest"], b["digest"]);
    // The same names with another key's material: another digest.
    let third = new_key(&fx, "third");
    std::fs::copy(&third.public, &other.public).unwrap();
    let c = json(&sw(&[&"check", &"--policy", &fx.policy, &"--json"]));
    assert_ne!(a["digest"], c["digest"]);
}

#[test]
fn contents_trusted_by_their_digest_open_without_a_signature() {
    let fx = Fixture::new();
    let vendor = fx.write_unsigned("vendor.so", b"\x7fELF not really, but unsigned\n");
    let other = fx.write_unsigned("other.so", b"another unsigned file\n");
    // A large one: refused without reading unless digests are trusted.
    let big_staged = fx.root.join("big.bin");
    let mut big_content = vec![b'x'; (2 * MIB) as usize];
    big_content[0] = b'B';
    write_file(&big_staged, &big_content);
    let denied_staged = fx.root.join("denied.so");
    write_file(&denied_staged, b"allowed and denied\n");

    // trust add-hash writes a validated drop-in (before the agent runs:
    // hashing reads the files).
    let fin = sw(&[
        &"trust",
        &"add-hash",
        &"--policy",
        &fx.policy,
        &vendor,
        &big_staged,
    ]);
    fin.assert_success();
    let dropin = fx.root.join("policy.d/90-allow-sha256.toml");
    let text = std::fs::read_to_string(&dropin).unwrap();
    assert!(text.contains(vendor.to_str().unwrap()), "{text}");
    let big = fx.path("big.bin");
    std::fs::rename(&big_staged, &big).unwrap();
    // deny_sha256 wins over allow_sha256; add-hash refuses a denied digest.
    let denied_digest = crate::harness::sha256_hex(&denied_staged);
    let denied_line = format!("deny_sha256 = [\"{denied_digest}\"]\n");
    fx.write_policy(&policy_text(
        &[&fx.pubkey],
        &denied_line,
        &[(&fx.plugins, "")],
        "",
    ));
    let fin = sw(&[
        &"trust",
        &"add-hash",
        &"--policy",
        &fx.policy,
        &denied_staged,
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(fin.stderr.contains("deny list"), "{fin}");
    let denied = fx.path("denied.so");
    write_atomic(
        &fx,
        &fx.root.join("policy.d/95-also.toml"),
        &format!("[trust]\nallow_sha256 = [\"{denied_digest}\"]\n"),
    );
    std::fs::rename(&denied_staged, &denied).unwrap();

    let (agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    expect_allowed(cat(&vendor), "a content on the allow list");
    expect_allowed(cat(&big), "a large content on the allow list");
    expect_eperm(cat(&other), "an unsigned content not on the list");
    expect_eperm(cat(&denied), "a content on both lists");
    let r = agent.wait_record("the deny of the denied content", |r| {
        field(r, "SIGWARD_PATH") == denied.to_str().unwrap()
    });
    assert_eq!(field(&r, "SIGWARD_REASON"), "revoked", "{r:?}");
    let v = status_json(&socket);
    assert_eq!(v["reasons"]["allow"]["allow-sha256"], 2, "{}", v["reasons"]);

    // Per tree: a digest trusted in another tree does not open here.
    let elsewhere = fx.root.join("tree2");
    crate::harness::mkdirs(&elsewhere);
    let per_tree = fx.root.join("policy.d/90-allow-sha256.toml");
    std::fs::remove_file(&per_tree).unwrap();
    fx.write_policy(&policy_text(
        &[&fx.pubkey],
        "",
        &[(&fx.plugins, ""), (&elsewhere, "")],
        "",
    ));
    drop(agent);
    let fin = sw(&[
        &"trust",
        &"add-hash",
        &"--policy",
        &fx.policy,
        &"--tree",
        &elsewhere,
        &"--sha256",
        &crate::harness::sha256_hex(&other),
    ]);
    fin.assert_success();
    // --tree must name a protected tree.
    let fin = sw(&[
        &"trust",
        &"add-hash",
        &"--policy",
        &fx.policy,
        &"--tree",
        &fx.root,
        &"--sha256",
        &"ab".repeat(32),
    ]);
    assert_eq!(fin.code(), Some(1), "{fin}");
    let copy = elsewhere.join("other.so");
    std::fs::copy(&other, &copy).unwrap();
    let (_agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    expect_allowed(cat(&copy), "the digest is trusted in this tree");
    expect_eperm(cat(&other), "and not in the other one");
    let fin = try_reload(&fx, &socket);
    assert!(fin.success(), "{fin}");
}
