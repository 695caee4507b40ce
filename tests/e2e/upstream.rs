//! Where sigward and the released tools of the signing systems disagree:
//! Conductor revocation lists that list nothing, AiSOC's trusted-keys
//! directory as AiSOC reads it (keys from the real `aisoc keygen`), a Notur
//! panel's `.env`, and the laxer cases sigward accepts but reports
//! (`sigward check`, `sigward verify`, the agent's records).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{
    mkdirs, path_str, run, sigward, toml_str, write_file, Finished, Fixture, PROC_TIMEOUT,
};
use crate::openers::{cat, expect_allowed};

fn sw(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Finished {
    sigward(args.iter().map(|a| a.as_ref().to_os_string()))
}

fn check(policy: &Path) -> Finished {
    sw(&[&"check", &"--policy", &policy])
}

fn policy(fx: &Fixture, name: &str, text: &str) -> PathBuf {
    let p = fx.root.join(name);
    write_file(&p, text.as_bytes());
    p
}

fn out(fin: &Finished) -> String {
    format!("{}{}", fin.stdout, fin.stderr)
}

fn sh(cmd: &mut Command) -> Finished {
    let fin = run(cmd, PROC_TIMEOUT);
    assert!(fin.success(), "{cmd:?}\n{fin}");
    fin
}

/// Rewrites one string member of a JSON signature file with Python.
fn upper_json_member(sig: &Path, member: &str) {
    sh(Command::new("python3").args([
        "-c",
        "import json,sys\nd=json.load(open(sys.argv[1]))\nd[sys.argv[2]]=d[sys.argv[2]].upper()\n\
         open(sys.argv[1],'w').write(json.dumps(d,indent=2))",
        &path_str(sig),
        member,
    ]));
}

/// A Conductor `revoked_keys.toml` that lists nothing revokes nothing in
/// Conductor (`revoked` defaults to empty): `check` accepts it, in
/// `revoked_dir` (an empty file, comments only, `revoked = []`) and named
/// in `keys`, and warns that it revokes nothing.
#[test]
fn check_accepts_conductor_revocation_lists_that_list_nothing() {
    let fx = Fixture::new();
    let key = toml_str(&path_str(&fx.pubkey));
    let dir = fx.root.join("revoked.d");
    mkdirs(&dir);
    write_file(&dir.join("empty.toml"), b"");
    write_file(&dir.join("comments.toml"), b"# no key revoked yet\n");
    write_file(&dir.join("revoked_keys.toml"), b"revoked = []\n");
    let listed = fx.root.join("revoked_keys.toml");
    write_file(&listed, b"revoked = []\n");
    let p = policy(
        &fx,
        "p.toml",
        &format!(
            "[trust]\nkeys = [{key}, {}]\nrevoked_dir = {}\n[[protect]]\npath = {}\n",
            toml_str(&path_str(&listed)),
            toml_str(&path_str(&dir)),
            toml_str(&path_str(&fx.plugins))
        ),
    );
    let fin = check(&p);
    assert_eq!(fin.code(), Some(0), "{fin}");
    for f in [
        dir.join("empty.toml"),
        dir.join("comments.toml"),
        dir.join("revoked_keys.toml"),
        listed,
    ] {
        let want = format!(
            "{}: revokes nothing (an empty Conductor revocation list)",
            f.display()
        );
        assert!(out(&fin).contains(&want), "no `{want}`:\n{fin}");
    }
    // The fixture's own key still verifies.
    let good = fx.write_signed("good.py", b"X = 1\n");
    let v = sw(&[&"verify", &"--offline", &"--policy", &p, &good]);
    assert!(v.success(), "{v}");
    // A broken revocation list is still an error.
    write_file(&dir.join("bad.toml"), b"revoked = [{ reason = \"x\" }]\n");
    assert_eq!(check(&p).code(), Some(1));
}

/// `aisoc_keys_dir` loads what AiSOC loads (`*.pem`, `*.pub` in any case,
/// each an Ed25519 public key, named after the file) and skips, with a
/// warning naming the file and why, what AiSOC cannot use; `keys_dir`
/// keeps its own rules.
#[test]
fn aisoc_keys_dir_loads_what_aisoc_loads() {
    let fx = Fixture::new();
    let gen = fx.root.join("aisoc-gen");
    mkdirs(&gen);
    sh(Command::new("aisoc")
        .args(["keygen", "--output-dir"])
        .arg(&gen)
        .env("TERM", "dumb"));
    let public = fs::read(gen.join("signing.pub")).unwrap();
    let dir = fx.root.join("aisoc-keys");
    mkdirs(&dir);
    write_file(&dir.join("MYORG.PEM"), &public);
    write_file(&dir.join("empty.pem"), b"");
    write_file(
        &dir.join("leaked.pem"),
        &fs::read(gen.join("signing.key")).unwrap(),
    );
    write_file(&dir.join("README"), b"keys go here\n");
    sh(Command::new("openssl").args([
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &path_str(&fx.root.join("ec.key")),
    ]));
    sh(Command::new("openssl").args([
        "ec",
        "-in",
        &path_str(&fx.root.join("ec.key")),
        "-pubout",
        "-out",
        &path_str(&dir.join("ec.pub")),
    ]));
    // Conductor's .public is not AiSOC's: ignored, without a word.
    write_file(&dir.join("other.public"), &[b'a'; 64]);
    let p = policy(
        &fx,
        "p.toml",
        &format!(
            "[trust]\naisoc_keys_dir = {}\n[[protect]]\npath = {}\n",
            toml_str(&path_str(&dir)),
            toml_str(&path_str(&fx.plugins))
        ),
    );
    let fin = check(&p);
    assert_eq!(fin.code(), Some(0), "{fin}");
    let text = out(&fin);
    for (file, why) in [
        ("empty.pem", "empty"),
        ("leaked.pem", "a private key (PRIVATE KEY)"),
        ("ec.pub", "not an Ed25519 key (EC)"),
    ] {
        let want = format!(
            "aisoc_keys_dir: {} skipped: {why}",
            dir.join(file).display()
        );
        assert!(text.contains(&want), "no `{want}`:\n{fin}");
    }
    assert!(
        !text.contains("other.public") && !text.contains("README"),
        "{fin}"
    );
    let list = sw(&[&"trust", &"list", &"--policy", &p]);
    assert!(list.success(), "{list}");
    assert!(list.stdout.contains("MYORG"), "{list}");
    assert_eq!(list.stdout.matches("aisoc-keys/").count(), 1, "{list}");
    // keys_dir is unchanged: it ignores MYORG.PEM and refuses the private key.
    let k = policy(
        &fx,
        "k.toml",
        &format!(
            "[trust]\nkeys_dir = {}\n[[protect]]\npath = {}\n",
            toml_str(&path_str(&dir)),
            toml_str(&path_str(&fx.plugins))
        ),
    );
    assert_eq!(check(&k).code(), Some(1));
}

/// `notur_env` reads `NOTUR_PUBLIC_KEY` from a panel's `.env` as the
/// panel does; strict modes apply, and their error says what to do about
/// a `.env` owned by the panel's web user.
#[test]
fn notur_env_trusts_the_panel_key() {
    let fx = Fixture::new();
    let k = fx.root.join("notur");
    let keygen = sw(&[&"keygen", &"--format", &"hex", &"--out", &k]);
    assert!(keygen.success(), "{keygen}");
    let public = fs::read_to_string(fx.root.join("notur.pub")).unwrap();
    let panel = fx.root.join("panel");
    mkdirs(&panel);
    let env = panel.join(".env");
    write_file(
        &env,
        format!(
            "APP_NAME=Pterodactyl\nAPP_KEY=base64:Zm9vYmFy=\n# Notur\nNOTUR_PUBLIC_KEY=\"{}\"\nDB_PASSWORD='p#ss'\n",
            public.trim()
        )
        .as_bytes(),
    );
    let archive = fx.path("vendor-ext-1.0.0.notur");
    write_file(&archive, &b"\x1f\x8b pretend archive\n".repeat(20));
    let sign = sw(&[
        &"sign",
        &"--format",
        &"notur",
        &"--key",
        &fx.root.join("notur.key"),
        &archive,
    ]);
    assert!(sign.success(), "{sign}");
    let p = policy(
        &fx,
        "p.toml",
        &format!(
            "formats = [\"notur\"]\n[trust]\nnotur_env = {}\n[[protect]]\npath = {}\n",
            toml_str(&path_str(&env)),
            toml_str(&path_str(&fx.plugins))
        ),
    );
    assert_eq!(check(&p).code(), Some(0), "{}", check(&p));
    let v = sw(&[&"verify", &"--offline", &"--policy", &p, &archive]);
    assert!(v.success() && v.stdout.contains(": ok (key "), "{v}");
    // The panel's web user owns it: refused, with what to do.
    std::os::unix::fs::chown(&env, Some(33), Some(33)).unwrap();
    let fin = check(&p);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(
        fin.stderr.contains("owned by uid 33") && fin.stderr.contains("chown root:www-data"),
        "{fin}"
    );
    std::os::unix::fs::chown(&env, Some(0), Some(33)).unwrap();
    // No usable key: refused.
    write_file(&env, b"NOTUR_PUBLIC_KEY=a1b2c3d4e5f6...\n");
    let fin = check(&p);
    assert_eq!(fin.code(), Some(1), "{fin}");
    assert!(
        fin.stderr
            .contains("NOTUR_PUBLIC_KEY is not 64 hex characters"),
        "{fin}"
    );
}

/// Upper-case hex that Conductor and Cloacina compare as text: sigward
/// verifies the file and says that the released tool refuses it, in
/// `verify`, and in a record of the agent's allow even without
/// `log_allowed`; a `trusted_keys.toml` entry Conductor refuses is a
/// warning of `check`.
#[test]
fn laxer_cases_are_reported() {
    let fx = Fixture::new();
    let wasm = fx.path("plugin.wasm");
    write_file(&wasm, b"\0asm\x01\0\0\0 pretend module");
    let sign = sw(&[
        &"sign",
        &"--format",
        &"conductor",
        &"--key",
        &fx.key,
        &"--name",
        &"Dev",
        &"--email",
        &"dev@example.com",
        &wasm,
    ]);
    assert!(sign.success(), "{sign}");
    upper_json_member(&fx.path("plugin.wasm.sig"), "plugin_hash");
    let lib = fx.path("libworkflow.so");
    write_file(&lib, b"\x7fELF pretend library");
    let sign = sw(&[&"sign", &"--format", &"cloacina", &"--key", &fx.key, &lib]);
    assert!(sign.success(), "{sign}");
    upper_json_member(&fx.path("libworkflow.so.sig"), "key_fingerprint");

    let v = sw(&[
        &"verify",
        &"--offline",
        &"--policy",
        &fx.policy,
        &wasm,
        &lib,
    ]);
    assert!(v.success(), "{v}");
    for (f, member, tool, what) in [
        (&wasm, "plugin_hash", "Conductor", "plugin"),
        (&lib, "key_fingerprint", "Cloacina", "package"),
    ] {
        let want = format!(
            "{}: ok (key {}; warning: upper-case hex in {member}: {tool} compares it as text and \
             will refuse this {what})",
            f.display(),
            fx.fingerprint
        );
        assert!(v.stdout.lines().any(|l| l == want), "no `{want}`:\n{v}");
    }
    let json = sw(&[
        &"verify",
        &"--json",
        &"--offline",
        &"--policy",
        &fx.policy,
        &wasm,
    ]);
    assert!(
        json.stdout
            .contains("\"warnings\":[\"upper-case hex in plugin_hash"),
        "{json}"
    );

    // The agent allows it and records why the host may refuse it.
    let agent = fx.start_agent();
    expect_allowed(cat(&wasm), "conductor plugin with upper-case plugin_hash");
    let shown = wasm.display().to_string();
    let r = agent.wait_record("allow with a host warning", |r| {
        r.get("SIGWARD_PATH") == Some(&shown)
            && r.get("SIGWARD_DECISION").map(String::as_str) == Some("allow")
    });
    assert_eq!(
        r.get("SIGWARD_HOST_WARNING").map(String::as_str),
        Some("upper-case hex in plugin_hash: Conductor compares it as text and will refuse this plugin"),
        "{r:?}"
    );
    drop(agent);

    // trusted_keys.toml as `conductor-sign trust add` writes it, and with
    // what Conductor refuses.
    let hex = sw(&[&"keygen", &"--format", &"hex", &"--out", &fx.root.join("c")]);
    assert!(hex.success(), "{hex}");
    let public = fs::read_to_string(fx.root.join("c.pub")).unwrap();
    let toml = fx.root.join("trusted_keys.toml");
    write_file(
        &toml,
        format!(
            "[[keys]]\nname = \"Official Plugin\"\nemail = \"\"\npublic_key = \"{}\"\nadded_at = \"2025-11-19T08:50:03+00:00\"\n\n[[keys]]\npublic_key = \"{}\"\n",
            public.trim().to_uppercase(),
            public.trim()
        )
        .as_bytes(),
    );
    let p = policy(
        &fx,
        "t.toml",
        &format!(
            "[trust]\nkeys = [{}]\n[[protect]]\npath = {}\n",
            toml_str(&path_str(&toml)),
            toml_str(&path_str(&fx.plugins))
        ),
    );
    let fin = check(&p);
    assert_eq!(fin.code(), Some(0), "{fin}");
    let text = out(&fin);
    let shown = toml.display();
    for want in [
        format!("{shown}: line 1: [[keys]] entry 1: upper-case hex in public_key: Conductor compares it as text and will not trust this key"),
        format!("{shown}: line 7: [[keys]] entry 2: no `name`, `email`, `added_at`: Conductor requires name, email and added_at in every entry and will refuse this file"),
    ] {
        assert!(text.contains(&want), "no `{want}`:\n{fin}");
    }
}
