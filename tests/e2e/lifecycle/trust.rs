//! Trust changes by reload: a key added by drop-in, content denied by hash,
//! thresholds and co-signatures, per-tree trust lists, validity windows,
//! self-signed trees.

use crate::harness::{expect_field, field, sha256_hex, write_file, Fixture};
use crate::openers::{cat, expect_allowed, expect_eperm, python_import};

use super::{
    expect_verify_ok, expect_verify_reason, fixture_key, list, new_conductor_key, new_key,
    policy_text, put_conductor_signed, put_signed, put_signed_twice_by, q, verify, write_dropin,
    Live,
};

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
