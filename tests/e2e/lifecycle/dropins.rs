//! Refused drop-ins (naming file and line, the old policy staying), `sigward
//! check` on candidate drop-ins, merge order, and the fleet layout of the
//! policy reference.

use std::fs;
use std::path::Path;

use crate::harness::{expect_field, is_msg, path_str, write_file, Fixture, MSG_RELOAD_OK};
use crate::openers::{cat, expect_allowed, expect_eperm, python_import};

use super::{
    dropin_path, fixture_key, line_of, list, new_key, put_signed, put_unsigned, q, run_python, sw,
    write_dropin, Live,
};

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
