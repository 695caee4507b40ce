//! The offline commands: verify, check, keygen (no agent running).

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::{
    find_fingerprint, keygen, mkdirs, path_str, run, sig_path, sign_with, sigward, toml_str,
    with_suffix, write_file, Finished, Fixture, PROC_TIMEOUT,
};
use crate::openers::python_cmd;

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// The line of `verify` output about `path`.
fn line_for<'a>(fin: &'a Finished, path: &Path) -> &'a str {
    let prefix = format!("{}: ", path.display());
    fin.stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no output line for {}:\n{fin}", path.display()))
}

fn expect_ok_line(fin: &Finished, path: &Path, fingerprint: &str) {
    let line = line_for(fin, path);
    let want = format!("{}: ok (key {fingerprint})", path.display());
    assert_eq!(line.trim_end(), want, "verify line for a good file\n{fin}");
}

fn expect_reason_line(fin: &Finished, path: &Path, reason: &str) {
    let line = line_for(fin, path);
    let rest = &line[format!("{}: ", path.display()).len()..];
    let ok = rest == reason || rest.starts_with(&format!("{reason}:"));
    assert!(
        ok,
        "verify line for {} should be `PATH: {reason}: detail`, got {line:?}\n{fin}",
        path.display()
    );
}

#[test]
fn verify_reports_each_reason_and_exit_codes() {
    let fx = Fixture::new();
    let files = fx.root.join("files");
    mkdirs(&files);
    let ok = files.join("ok.py");
    write_file(&ok, b"X = 'ok'\n");
    fx.sign(&ok);
    let unsigned = files.join("unsigned.py");
    write_file(&unsigned, b"X = 'unsigned'\n");
    let tampered = files.join("tampered.py");
    write_file(&tampered, b"X = 'tampered'\n");
    fx.sign(&tampered);
    OpenOptions::new()
        .append(true)
        .open(&tampered)
        .unwrap()
        .write_all(b"X = 'evil'\n")
        .unwrap();
    let other_prefix = fx.root.join("keys").join("other");
    let other_fp = keygen(&other_prefix);
    let other_pub = with_suffix(&other_prefix, ".pub");
    let untrusted = files.join("untrusted.py");
    write_file(&untrusted, b"X = 'untrusted'\n");
    sign_with(&with_suffix(&other_prefix, ".key"), &untrusted);
    let malformed = files.join("malformed.py");
    write_file(&malformed, b"X = 'malformed'\n");
    write_file(&sig_path(&malformed), b"this is not a signature\n");

    // All at once against the policy: exit 1, one line per file.
    let fin = sigward(os(&[
        &"verify",
        &"--policy",
        &fx.policy,
        &ok,
        &unsigned,
        &tampered,
        &untrusted,
        &malformed,
    ]));
    assert_eq!(
        fin.code(),
        Some(1),
        "verify with failures must exit 1\n{fin}"
    );
    expect_ok_line(&fin, &ok, &fx.fingerprint);
    expect_reason_line(&fin, &unsigned, "unsigned");
    expect_reason_line(&fin, &tampered, "tampered");
    expect_reason_line(&fin, &untrusted, "untrusted");
    expect_reason_line(&fin, &malformed, "malformed");

    // Only good files: exit 0.
    let fin = sigward(os(&[&"verify", &"--policy", &fx.policy, &ok]));
    assert_eq!(
        fin.code(),
        Some(0),
        "verify of a good file must exit 0\n{fin}"
    );
    expect_ok_line(&fin, &ok, &fx.fingerprint);

    // --trust-key instead of a policy.
    let fin = sigward(os(&[&"verify", &"--trust-key", &other_pub, &untrusted]));
    assert_eq!(fin.code(), Some(0), "verify --trust-key OTHER\n{fin}");
    expect_ok_line(&fin, &untrusted, &other_fp);
    let fin = sigward(os(&[
        &"verify",
        &"--trust-key",
        &fx.pubkey,
        &untrusted,
        &ok,
    ]));
    assert_eq!(
        fin.code(),
        Some(1),
        "verify --trust-key TEST untrusted.py\n{fin}"
    );
    expect_reason_line(&fin, &untrusted, "untrusted");
    expect_ok_line(&fin, &ok, &fx.fingerprint);
    // Both keys trusted.
    let fin = sigward(os(&[
        &"verify",
        &"--trust-key",
        &fx.pubkey,
        &"--trust-key",
        &other_pub,
        &untrusted,
        &ok,
    ]));
    assert_eq!(fin.code(), Some(0), "verify with two --trust-key\n{fin}");

    // Usage / configuration errors: exit 2.
    let missing = fx.root.join("no-such-policy.toml");
    let fin = sigward(os(&[&"verify", &"--policy", &missing, &ok]));
    assert_eq!(
        fin.code(),
        Some(2),
        "verify with a missing policy file\n{fin}"
    );
    let fin = sigward(os(&[&"verify", &ok]));
    assert_eq!(
        fin.code(),
        Some(2),
        "verify without --policy or --trust-key\n{fin}"
    );
    let fin = sigward(os(&[
        &"verify",
        &"--trust-key",
        &fx.root.join("keys/none.pub"),
        &ok,
    ]));
    assert_eq!(fin.code(), Some(2), "verify with a missing key file\n{fin}");
}

/// Writes `lines` (1-based line numbers matter) to DIR/policy.toml.
fn policy_in(root: &Path, name: &str, lines: &[String]) -> PathBuf {
    let dir = root.join(name);
    mkdirs(&dir);
    let p = dir.join("policy.toml");
    write_file(&p, (lines.join("\n") + "\n").as_bytes());
    p
}

fn check(policy: &Path) -> Finished {
    sigward(os(&[&"check", &"--policy", &policy]))
}

fn expect_check_error_at(fin: &Finished, line: usize, what: &str) {
    assert!(
        !fin.success(),
        "check must fail for {what}, but exited 0\n{fin}"
    );
    let want = format!("policy.toml:{line}:");
    assert!(
        fin.stderr.contains(&want),
        "check for {what}: stderr should contain `{want}`\n{fin}"
    );
}

#[test]
fn check_validates_policies_with_line_numbers() {
    let fx = Fixture::new();
    let key = toml_str(&path_str(&fx.pubkey));
    let dir = toml_str(&path_str(&fx.plugins));

    let fin = check(&fx.policy);
    assert_eq!(fin.code(), Some(0), "the fixture policy is valid\n{fin}");

    // Every mode and alias is accepted, globally and per directory.
    for mode in ["enforce", "audit", "off", "strict", "warn", "disabled"] {
        let p = policy_in(
            &fx.root,
            &format!("mode-{mode}"),
            &[
                format!("mode = \"{mode}\""),
                "[trust]".into(),
                format!("keys = [{key}]"),
                "[[protect]]".into(),
                format!("path = {dir}"),
                format!("mode = \"{mode}\""),
            ],
        );
        let fin = check(&p);
        assert_eq!(fin.code(), Some(0), "mode {mode} must be valid\n{fin}");
    }

    // keys_dir and a relative key path (resolved against the policy's dir).
    let rel_dir = fx.root.join("relative");
    mkdirs(&rel_dir.join("keys.d"));
    fs::copy(&fx.pubkey, rel_dir.join("keys.d/test.pub")).unwrap();
    fs::copy(&fx.pubkey, rel_dir.join("own.pem")).unwrap();
    mkdirs(&rel_dir.join("plugins"));
    let p = policy_in(
        &fx.root,
        "relative",
        &[
            "mode = \"enforce\"".into(),
            "[trust]".into(),
            "keys = [\"own.pem\"]".into(),
            "keys_dir = \"keys.d\"".into(),
            "[[protect]]".into(),
            "path = \"plugins\"".into(),
        ],
    );
    let fin = check(&p);
    assert_eq!(fin.code(), Some(0), "relative paths must resolve\n{fin}");

    // Unknown key inside a [[protect]] table, on line 9.
    let p = policy_in(
        &fx.root,
        "unknown-protect-key",
        &[
            "# sigward policy".into(),
            "mode = \"enforce\"".into(),
            String::new(),
            "[trust]".into(),
            format!("keys = [{key}]"),
            String::new(),
            "[[protect]]".into(),
            format!("path = {dir}"),
            "recursive = true".into(),
        ],
    );
    expect_check_error_at(&check(&p), 9, "an unknown key in [[protect]]");

    // Unknown top-level key on line 3.
    let p = policy_in(
        &fx.root,
        "unknown-top-key",
        &[
            "mode = \"enforce\"".into(),
            "# comment".into(),
            "colour = \"blue\"".into(),
            "[trust]".into(),
            format!("keys = [{key}]"),
            "[[protect]]".into(),
            format!("path = {dir}"),
        ],
    );
    expect_check_error_at(&check(&p), 3, "an unknown top-level key");

    // Missing protected directory: the error points at its `path =` line (8).
    let p = policy_in(
        &fx.root,
        "missing-dir",
        &[
            "mode = \"enforce\"".into(),
            "[trust]".into(),
            format!("keys = [{key}]"),
            "[[protect]]".into(),
            format!("path = {dir}"),
            String::new(),
            "[[protect]]".into(),
            format!(
                "path = {}",
                toml_str(&path_str(&fx.root.join("does-not-exist")))
            ),
        ],
    );
    expect_check_error_at(&check(&p), 8, "a missing protected directory");

    // Invalid mode value on line 1.
    let p = policy_in(
        &fx.root,
        "bad-mode",
        &[
            "mode = \"permissive\"".into(),
            "[trust]".into(),
            format!("keys = [{key}]"),
            "[[protect]]".into(),
            format!("path = {dir}"),
        ],
    );
    expect_check_error_at(&check(&p), 1, "an invalid mode");

    // Syntax error.
    let p = policy_in(
        &fx.root,
        "syntax",
        &[
            "mode = \"enforce\"".into(),
            "[trust".into(),
            format!("keys = [{key}]"),
        ],
    );
    expect_check_error_at(&check(&p), 2, "a TOML syntax error");

    // Missing policy file.
    let fin = check(&fx.root.join("nope.toml"));
    assert!(!fin.success(), "check of a missing file must fail\n{fin}");
}

/// SHA-256 of the raw 32-byte Ed25519 key inside an SPKI PEM file.
fn raw_key_fingerprint(pub_pem: &Path) -> String {
    let snippet = "
import base64, hashlib, sys
text = open(sys.argv[1]).read()
assert '-----BEGIN PUBLIC KEY-----' in text, text
der = base64.b64decode(''.join(l for l in text.splitlines() if not l.startswith('-----')))
assert len(der) == 44 and der[:12] == bytes.fromhex('302a300506032b6570032100'), der.hex()
print(hashlib.sha256(der[12:]).hexdigest())
";
    let fin = run(
        &mut python_cmd(snippet, &[&path_str(pub_pem)]),
        PROC_TIMEOUT,
    );
    fin.assert_success();
    fin.stdout.trim().to_string()
}

#[test]
fn keygen_writes_private_key_0600_and_refuses_to_overwrite() {
    let fx = Fixture::new();
    let prefix = fx.root.join("k").join("fresh");
    mkdirs(prefix.parent().unwrap());
    let key = with_suffix(&prefix, ".key");
    let pubk = with_suffix(&prefix, ".pub");

    let fin = sigward(os(&[&"keygen", &"--out", &prefix]));
    fin.assert_success();
    let fp = find_fingerprint(&fin.stdout)
        .unwrap_or_else(|| panic!("keygen printed no fingerprint\n{fin}"));
    assert_eq!(
        fin.stdout.trim(),
        fp,
        "keygen's stdout should be just the fingerprint"
    );
    let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", key.display());
    let key_text = fs::read_to_string(&key).unwrap();
    assert!(
        key_text.contains("-----BEGIN PRIVATE KEY-----"),
        "the .key file is not PKCS#8 PEM:\n{key_text}"
    );
    assert_eq!(
        raw_key_fingerprint(&pubk),
        fp,
        "fingerprint is not SHA-256 of the raw public key"
    );
    let pub_text = fs::read(&pubk).unwrap();

    // Second run on the same prefix: refused, nothing changed.
    let fin = sigward(os(&[&"keygen", &"--out", &prefix]));
    assert!(!fin.success(), "keygen overwrote an existing key\n{fin}");
    assert_eq!(fs::read_to_string(&key).unwrap(), key_text, ".key changed");
    assert_eq!(fs::read(&pubk).unwrap(), pub_text, ".pub changed");

    // Only the .pub exists: still refused, and no .key appears.
    let prefix2 = fx.root.join("k").join("half");
    let pub2 = with_suffix(&prefix2, ".pub");
    write_file(&pub2, b"precious\n");
    let fin = sigward(os(&[&"keygen", &"--out", &prefix2]));
    assert!(!fin.success(), "keygen overwrote an existing .pub\n{fin}");
    assert_eq!(fs::read(&pub2).unwrap(), b"precious\n", ".pub changed");
    assert!(
        !with_suffix(&prefix2, ".key").exists(),
        "keygen refused but left a new .key behind"
    );
}

#[test]
fn kernel_cache_owner_names_resolve_and_an_unknown_one_is_an_error_at_its_line() {
    let fx = Fixture::new();
    let key = toml_str(&path_str(&fx.pubkey));
    let dir = toml_str(&path_str(&fx.plugins));
    let with_owners = |name: &str, owners: &[&str]| {
        let mut lines = vec![
            "[trust]".to_string(),
            format!("keys = [{key}]"),
            "[[protect]]".into(),
            format!("path = {dir}"),
            "[agent]".into(),
            "kernel_cache_owners = [".into(),
        ];
        lines.extend(owners.iter().map(|o| format!("  {o},")));
        lines.push("]".into());
        policy_in(&fx.root, name, &lines)
    };

    let fin = check(&with_owners("known", &["0", "\"root\"", "\"nobody\""]));
    assert_eq!(fin.code(), Some(0), "existing user names resolve\n{fin}");

    // Line 9: the third entry.
    let fin = check(&with_owners(
        "unknown",
        &["0", "\"root\"", "\"sigward-no-such-user\""],
    ));
    expect_check_error_at(&fin, 9, "an unknown user name in kernel_cache_owners");
    assert!(
        fin.stderr.contains("sigward-no-such-user") && fin.stderr.contains("no user named"),
        "the error names the user\n{fin}"
    );
}

/// A tree whose root another user owns, or anyone may write, under the
/// default `untrusted_writers = "refuse"`: `check` still accepts the policy
/// (exit 0) but warns that such files will be refused as writable, and
/// names the setting that verifies them instead; with `"allow"` it is
/// quiet.
#[test]
fn check_warns_when_a_refusing_tree_belongs_to_someone_else() {
    let fx = Fixture::new();
    let key = toml_str(&path_str(&fx.pubkey));
    let theirs = fx.root.join("theirs");
    mkdirs(&theirs);
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let open = fx.root.join("open");
    mkdirs(&open);
    crate::harness::chmod(&open, 0o777);
    for (dir, who) in [(&theirs, "is owned by uid 65534"), (&open, "mode 0777")] {
        let lines = |extra: &str| {
            vec![
                "[trust]".to_string(),
                format!("keys = [{key}]"),
                "[[protect]]".into(),
                format!("path = {}", toml_str(&path_str(dir))),
                extra.to_string(),
            ]
        };
        let name = dir.file_name().unwrap().to_str().unwrap();
        let fin = check(&policy_in(&fx.root, &format!("{name}-refuse"), &lines("")));
        assert_eq!(fin.code(), Some(0), "{fin}");
        let out = format!("{}{}", fin.stdout, fin.stderr);
        assert!(
            out.contains(who) && out.contains("untrusted_writers = \"allow\""),
            "no warning for {} ({who}):\n{fin}",
            dir.display()
        );
        let fin = check(&policy_in(
            &fx.root,
            &format!("{name}-allow"),
            &lines("untrusted_writers = \"allow\""),
        ));
        assert_eq!(fin.code(), Some(0), "{fin}");
        assert!(
            !format!("{}{}", fin.stdout, fin.stderr).contains("untrusted_writers"),
            "a warning although the tree allows untrusted writers:\n{fin}"
        );
    }
}
