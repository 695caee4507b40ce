//! `sigward trust add|list|remove` (and a reload that applies them), and
//! every command that reads key files refusing a FIFO.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Ctl;
use crate::harness::{
    mkdirs, path_str, rename, sig_path, sign_with, sigward, toml_str, write_file, Finished, Fixture,
};
use crate::openers::{expect_allowed, expect_eperm, python_open};

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
