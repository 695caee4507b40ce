//! Revoking keys: inline, by drop-in, by `revoked_dir` with key files and
//! Conductor `revoked_keys.toml`.

use std::fs;

use crate::harness::{expect_field, mkdirs, write_file, Fixture};
use crate::openers::{cat, expect_allowed, expect_eperm, python_import};

use super::{
    dropin_path, expect_verify_ok, expect_verify_reason, fixture_key, list, new_key, policy_text,
    put_signed, write_atomic, write_dropin, Live,
};

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
