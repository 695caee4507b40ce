//! Tests of the policy file: parsing, merging drop-ins, printing, and every
//! error with the line it names. One file over 600 lines: the cases share
//! the helpers at its top, and each is a few lines.

use std::path::{Path, PathBuf};

use super::*;

fn p(text: &str) -> Result<Policy, PolicyError> {
    parse(text, Path::new("/etc/sigward"))
}

fn err_line(text: &str) -> (Option<usize>, String) {
    match p(text) {
        Ok(_) => (None, "parsed".into()),
        Err(e) => (e.line, e.message),
    }
}

#[test]
fn untrusted_writers_are_refused_unless_a_tree_allows_them() {
    let pol = match p(
        "[[protect]]\npath = \"/a\"\n[[protect]]\npath = \"/b\"\nuntrusted_writers = \"allow\"\n",
    ) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    assert_eq!(pol.protect[0].untrusted_writers, UntrustedWriters::Refuse);
    assert_eq!(pol.protect[1].untrusted_writers, UntrustedWriters::Allow);
    assert_eq!(
        pol.protect[1].origins.get("untrusted_writers"),
        Some(&(0, 5))
    );
    let (line, msg) = err_line("[[protect]]\npath = \"/a\"\nuntrusted_writers = \"yes\"\n");
    assert_eq!(line, Some(3), "{msg}");
    assert!(
        msg.contains("\"refuse\"") && msg.contains("\"allow\""),
        "{msg}"
    );
    let printed = to_toml(&pol, &[PathBuf::from("/etc/sigward/policy.toml")]);
    assert!(
        printed.contains("untrusted_writers = \"allow\""),
        "{printed}"
    );
    assert!(
        printed.contains("untrusted_writers = \"refuse\""),
        "{printed}"
    );
}

#[test]
fn bundle_data_has_a_default_and_a_later_file_replaces_it() {
    let pol = match p(
        "[[protect]]\npath = \"/a\"\n[[protect]]\npath = \"/b\"\nbundle_data = [\"rules/*.yaml\", \"README.md\"]\n[[protect]]\npath = \"/c\"\nbundle_data = []\n",
    ) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    let words = |i: usize| -> Vec<String> {
        pol.protect[i]
            .bundle_data
            .iter()
            .map(|d| d.as_str().to_string())
            .collect()
    };
    assert_eq!(words(0), crate::bundle_data::DEFAULT_PATTERNS.to_vec());
    assert_eq!(words(1), ["rules/*.yaml", "README.md"]);
    assert!(words(2).is_empty());
    assert_eq!(pol.protect[1].origins.get("bundle_data"), Some(&(0, 5)));
    let printed = to_toml(&pol, &[PathBuf::from("/etc/sigward/policy.toml")]);
    assert!(
        printed.contains("bundle_data = [\"rules/*.yaml\", \"README.md\"]"),
        "{printed}"
    );
    assert!(printed.contains("bundle_data = []"), "{printed}");
    let again = p(&printed).map(|q| {
        q.protect
            .iter()
            .map(|t| t.bundle_data.clone())
            .collect::<Vec<_>>()
    });
    let before: Vec<_> = pol.protect.iter().map(|t| t.bundle_data.clone()).collect();
    assert_eq!(again, Ok(before));
    for (text, want) in [
        ("bundle_data = [\"/etc/*.md\"]", "absolute"),
        ("bundle_data = [\"../*.md\"]", "`..`"),
        ("bundle_data = [\"*.[ch]\"]", "not supported"),
        ("bundle_data = [\"\"]", "empty"),
    ] {
        let (line, msg) = err_line(&format!("[[protect]]\npath = \"/a\"\n{text}\n"));
        assert_eq!(line, Some(3), "{msg}");
        assert!(
            msg.contains("protect.bundle_data") && msg.contains(want),
            "{msg}"
        );
    }
}

#[test]
fn full_example() {
    let text = r#"
mode = "strict"
[trust]
keys = ["keys/a.pub", "/abs/b.pem"]
keys_dir = "keys.d"
[[protect]]
path = "/srv/app/plugins"
[[protect]]
path = "../srv/other/./x"
mode = "warn"
[agent]
workers = 3
cache_entries = 10
[audit]
log_allowed = true
kernel_audit = true
rate_limit_burst = 2
rate_limit_interval = 30
"#;
    let pol = p(text);
    let pol = match pol {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    assert_eq!(pol.mode, Mode::Enforce);
    assert_eq!(
        pol.trust.keys[0].value,
        PathBuf::from("/etc/sigward/keys/a.pub")
    );
    assert_eq!(pol.trust.keys[0].line, 4);
    assert_eq!(pol.trust.keys[1].value, PathBuf::from("/abs/b.pem"));
    assert_eq!(
        pol.trust.keys_dir.as_ref().map(|d| d.value.clone()),
        Some(PathBuf::from("/etc/sigward/keys.d"))
    );
    assert_eq!(pol.protect.len(), 2);
    assert_eq!(pol.protect[0].path.line, 7);
    assert_eq!(pol.protect[0].mode, None);
    assert_eq!(pol.protect[1].path.value, PathBuf::from("/etc/srv/other/x"));
    assert_eq!(pol.protect[1].mode, Some(Mode::Audit));
    assert_eq!(pol.agent.workers, Some(3));
    assert_eq!(pol.agent.cache_entries, 10);
    assert!(pol.audit.log_allowed);
    assert!(pol.audit.kernel_audit);
    assert_eq!(pol.audit.rate_limit_burst, 2);
    assert_eq!(pol.audit.rate_limit_interval_secs, 30);
}

#[test]
fn defaults() {
    let pol = p("").ok();
    let pol = pol.as_ref();
    assert_eq!(pol.map(|p| p.mode), Some(Mode::Enforce));
    assert_eq!(
        pol.map(|p| p.agent.cache_entries),
        Some(DEFAULT_CACHE_ENTRIES)
    );
    assert_eq!(pol.map(|p| p.audit.log_allowed), Some(false));
    assert_eq!(pol.map(|p| p.audit.kernel_audit), Some(false));
    assert_eq!(pol.map(|p| p.protect.len()), Some(0));
}

#[test]
fn mode_aliases() {
    for (w, m) in [
        ("enforce", Mode::Enforce),
        ("strict", Mode::Enforce),
        ("audit", Mode::Audit),
        ("warn", Mode::Audit),
        ("off", Mode::Off),
        ("disabled", Mode::Off),
    ] {
        assert_eq!(p(&format!("mode = \"{w}\"")).map(|p| p.mode), Ok(m));
    }
}

#[test]
fn unknown_top_level_key_has_line() {
    let (line, msg) = err_line("mode = \"enforce\"\n\nmoed = 1\n");
    assert_eq!(line, Some(3));
    assert!(msg.contains("moed"), "{msg}");
}

#[test]
fn unknown_key_in_protect_has_line() {
    let (line, msg) =
        err_line("[[protect]]\npath = \"/x\"\n[[protect]]\npath = \"/y\"\npaht = \"/z\"\n");
    assert_eq!(line, Some(5));
    assert!(msg.contains("paht"), "{msg}");
}

#[test]
fn unknown_key_in_trust_has_line() {
    let (line, msg) = err_line("[trust]\nkeyz = [\"a\"]\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("keyz"), "{msg}");
}

#[test]
fn bad_mode_has_line() {
    let (line, msg) = err_line("\nmode = \"enforcing\"\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("enforcing"), "{msg}");
    let (line, _) = err_line("[[protect]]\npath = \"/x\"\nmode = \"nope\"\n");
    assert_eq!(line, Some(3));
}

#[test]
fn wrong_types_have_lines() {
    assert_eq!(err_line("mode = 1\n").0, Some(1));
    assert_eq!(err_line("[trust]\nkeys = \"a.pub\"\n").0, Some(2));
    assert_eq!(err_line("[agent]\nworkers = \"4\"\n").0, Some(2));
}

#[test]
fn syntax_error_has_line() {
    assert_eq!(err_line("mode = \"enforce\"\n[trust\n").0, Some(2));
}

#[test]
fn missing_path_in_protect() {
    let (line, msg) = err_line("[[protect]]\nmode = \"audit\"\n");
    assert!(line.is_some());
    assert!(msg.contains("path"), "{msg}");
}

#[test]
fn root_and_duplicates_refused() {
    let (line, msg) = err_line("[[protect]]\npath = \"/\"\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("not supported"));
    let (line, msg) = err_line("[[protect]]\npath = \"/a\"\n[[protect]]\npath = \"/a/\"\n");
    assert_eq!(line, Some(4));
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn formats_and_ssh_settings() {
    let text = r#"formats = ["native", "ssh", "native"]
[trust]
allowed_signers = ["signers"]
ssh_namespace = "file"
minisign_legacy = true
[[protect]]
path = "/a"
formats = ["rsa-openssl"]
[[protect]]
path = "/b"
"#;
    let pol = match p(text) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    assert_eq!(pol.formats, vec![Format::Native, Format::Ssh]);
    assert_eq!(pol.protect[0].formats, Some(vec![Format::RsaOpenssl]));
    assert_eq!(pol.protect[1].formats, None);
    assert_eq!(
        pol.trust.allowed_signers[0].value,
        PathBuf::from("/etc/sigward/signers")
    );
    assert_eq!(pol.trust.ssh_namespace.as_deref(), Some("file"));
    assert!(pol.trust.minisign_legacy);
    assert_eq!(p("").map(|p| p.formats.len()), Ok(Format::ALL.len()));
}

#[test]
fn inline_ed25519_keys() {
    let key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[1; 32])
            .verifying_key()
            .as_bytes(),
    );
    let pol = p(&format!("[trust]\ned25519 = [\n  \"{key}\",\n]\n"));
    assert_eq!(pol.map(|p| p.trust.ed25519[0].line), Ok(3));
    let (line, msg) = err_line("[trust]\ned25519 = [\"abcd\"]\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("64 hex"), "{msg}");
}

#[test]
fn bad_formats_have_lines() {
    let (line, msg) =
        err_line("[[protect]]\npath = \"/a\"\nformats = [\n  \"native\",\n  \"pgp\",\n]\n");
    assert_eq!(line, Some(5));
    assert!(msg.contains("pgp") && msg.contains("rsa-openssl"), "{msg}");
    assert_eq!(err_line("formats = []\n").0, Some(1));
    assert_eq!(err_line("[trust]\nssh_namespace = \"a b\"\n").0, Some(2));
}

#[test]
fn ranges_checked() {
    assert_eq!(err_line("[agent]\n\nworkers = 0\n").0, Some(3));
    assert_eq!(err_line("[agent]\ncache_entries = -1\n").0, Some(2));
    assert_eq!(err_line("[audit]\nrate_limit_interval = 0\n").0, Some(2));
    assert_eq!(err_line("[trust]\nkeys = [\"\"]\n").0, Some(2));
}

fn frag(text: &str, file: usize) -> Fragment {
    match parse_fragment(text, Path::new(&format!("/etc/sigward/f{file}")), file) {
        Ok(f) => f,
        Err(e) => unreachable!("{e}"),
    }
}

const KEY_A: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

#[test]
fn drop_ins_override_scalars_and_append_lists() {
    let main = frag(
        "mode = \"audit\"\n[trust]\nkeys = [\"a.pub\"]\nrevoked = [\"00000000000000000000000000000000000000000000000000000000000000aa\"]\n[[protect]]\npath = \"/srv/p\"\nmode = \"audit\"\n[audit]\nrate_limit_burst = 3\n",
        0,
    );
    let d1 = frag(
        "mode = \"enforce\"\n[trust]\nkeys = [\"b.pub\"]\nrevoked = [\"00000000000000000000000000000000000000000000000000000000000000bb\"]\n[[protect]]\npath = \"/srv/p\"\nthreshold = 2\n[[protect]]\npath = \"/srv/q\"\n",
        1,
    );
    let pol = match merge(&[main, d1]) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    assert_eq!(pol.mode, Mode::Enforce);
    assert_eq!(pol.origins.get("mode"), Some(&(1, 1)));
    let keys: Vec<_> = pol
        .trust
        .keys
        .iter()
        .map(|k| (k.value.clone(), k.file))
        .collect();
    assert_eq!(
        keys,
        vec![
            (PathBuf::from("/etc/sigward/f0/a.pub"), 0),
            (PathBuf::from("/etc/sigward/f1/b.pub"), 1)
        ]
    );
    assert_eq!(pol.trust.revoked.len(), 2, "revocations only accumulate");
    assert_eq!(pol.protect.len(), 2);
    // The drop-in adjusted the tree: its threshold replaced, its mode kept.
    assert_eq!(pol.protect[0].threshold, 2);
    assert_eq!(pol.protect[0].mode, Some(Mode::Audit));
    assert_eq!(pol.audit.rate_limit_burst, 3);
    assert_eq!(pol.origins.get("audit.rate_limit_burst"), Some(&(0, 9)));
}

#[test]
fn named_keys_groups_and_windows() {
    let text = format!(
        "[[trust.key]]\nname = \"vendor-a\"\ned25519 = \"{KEY_A}\"\ngroups = [\"vendors\"]\nnot_before = 2026-01-01T00:00:00Z\nnot_after = \"2027-01-01T01:00:00+01:00\"\n[[trust.key]]\nname = \"partner\"\nfile = \"partner.pub\"\n[[protect]]\npath = \"/a\"\ntrust = [\"vendors\", \"partner\"]\nallow_self_signed = true\n"
    );
    let pol = match p(&text) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    let a = &pol.trust.named[0];
    assert_eq!(a.name.value, "vendor-a");
    assert_eq!(a.groups, vec!["vendors".to_string()]);
    assert_eq!(a.not_before, Some(1_767_225_600));
    assert_eq!(a.not_after, Some(1_798_761_600));
    assert!(
        matches!(&pol.trust.named[1].source, KeySource::File(f) if f.value == Path::new("/etc/sigward/partner.pub"))
    );
    assert_eq!(pol.protect[0].trust.as_ref().map(|t| t.len()), Some(2));
    assert!(pol.protect[0].allow_self_signed);
    assert_eq!(pol.protect[0].threshold, 1);
}

#[test]
fn named_key_errors() {
    let dup = frag(
        &format!("[[trust.key]]\nname = \"k\"\ned25519 = \"{KEY_A}\"\n"),
        0,
    );
    let again = frag(
        &format!("\n[[trust.key]]\nname = \"k\"\ned25519 = \"{KEY_A}\"\n"),
        1,
    );
    let e = merge(&[dup, again]).err();
    assert_eq!(e.as_ref().map(|e| (e.file, e.line)), Some((1, Some(3))));
    assert_eq!(err_line("[[trust.key]]\nname = \"k\"\n").0, Some(1));
    assert_eq!(
        err_line(&format!(
            "[[trust.key]]\nname = \"k\"\nfile = \"x\"\ned25519 = \"{KEY_A}\"\n"
        ))
        .0,
        Some(1)
    );
    assert_eq!(
        err_line("[[trust.key]]\nname = \"a b\"\nfile = \"x\"\n").0,
        Some(2)
    );
    assert_eq!(
        err_line("[[trust.key]]\nname = \"k\"\nfile = \"x\"\nnot_after = 2020-01-01T00:00:00\n").0,
        Some(4),
        "a time without offset is refused"
    );
    assert_eq!(
        err_line("[[trust.key]]\nname = \"k\"\nfile = \"x\"\nnot_before = 2021-01-01T00:00:00Z\nnot_after = 2020-01-01T00:00:00Z\n").0,
        Some(5)
    );
    let (line, msg) = err_line("[[protect]]\npath = \"/a\"\ntrust = [\n  \"nobody\",\n]\n");
    assert_eq!(line, Some(4));
    assert!(msg.contains("nobody"), "{msg}");
    assert_eq!(
        err_line("[[protect]]\npath = \"/a\"\nthreshold = 0\n").0,
        Some(3)
    );
    assert_eq!(
        err_line("[[trust.key]]\nname = \"k\"\nfile = \"x\"\ngroups = [\"k\"]\n").0,
        Some(2)
    );
}

#[test]
fn revocation_and_deny_entries_are_checked() {
    assert_eq!(err_line("[trust]\nrevoked = [\"abc\"]\n").0, Some(2));
    assert_eq!(err_line("[trust]\ndeny_sha256 = [\"xyz\"]\n").0, Some(2));
    let pol = p("[trust]\ndeny_sha256 = [\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"]\nrevoked_dir = \"revoked.d\"\n");
    assert_eq!(pol.as_ref().map(|p| p.trust.deny_sha256.len()), Ok(1));
    assert_eq!(
        pol.ok().map(|p| p
            .trust
            .revoked_dirs
            .into_iter()
            .map(|d| d.value)
            .collect::<Vec<_>>()),
        Some(vec![PathBuf::from("/etc/sigward/revoked.d")])
    );
    // Every file's revoked_dir applies (revocations only accumulate).
    let a = frag("[trust]\nrevoked_dir = \"a\"\n", 0);
    let b = frag("[trust]\nrevoked_dir = [\"b\", \"c\"]\n", 1);
    assert_eq!(merge(&[a, b]).map(|p| p.trust.revoked_dirs.len()), Ok(3));
}

#[test]
fn effective_policy_prints_with_origins_and_parses_back() {
    let main = frag(&format!("mode = \"audit\"\n[[trust.key]]\nname = \"k\"\ned25519 = \"{KEY_A}\"\n[[protect]]\npath = \"/srv/p\"\ntrust = [\"k\"]\n"), 0);
    let d = frag("mode = \"enforce\"\n", 1);
    let pol = match merge(&[main, d]) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    let text = to_toml(
        &pol,
        &[
            PathBuf::from("/etc/sigward/policy.toml"),
            PathBuf::from("/etc/sigward/policy.d/10.toml"),
        ],
    );
    assert!(
        text.contains("mode = \"enforce\"  # from /etc/sigward/policy.d/10.toml:1"),
        "{text}"
    );
    assert!(text.contains("# from /etc/sigward/policy.toml:3"), "{text}");
    let back = parse(&text, Path::new("/"));
    assert_eq!(back.as_ref().map(|b| b.mode), Ok(Mode::Enforce), "{text}");
    assert_eq!(
        back.map(|b| b.protect[0].trust.clone().map(|t| t.len())),
        Ok(Some(1))
    );
}

#[test]
fn metrics_file_and_interval() {
    let pol = match p("[agent]\nmetrics_file = \"metrics/sigward.prom\"\nmetrics_interval = 60\n") {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    assert_eq!(
        pol.agent.metrics_file,
        Some(PathBuf::from("/etc/sigward/metrics/sigward.prom")),
        "relative paths resolve against the file's directory"
    );
    assert_eq!(pol.agent.metrics_interval_secs, 60);
    assert_eq!(pol.origins.get("agent.metrics_file"), Some(&(0, 2)));
    assert_eq!(pol.origins.get("agent.metrics_interval"), Some(&(0, 3)));
    let defaults = p("").ok();
    assert_eq!(
        defaults.as_ref().map(|p| p.agent.metrics_file.clone()),
        Some(None)
    );
    assert_eq!(
        defaults.map(|p| p.agent.metrics_interval_secs),
        Some(DEFAULT_METRICS_INTERVAL)
    );
    assert_eq!(err_line("[agent]\nmetrics_interval = 0\n").0, Some(2));
    assert_eq!(err_line("[agent]\n\nmetrics_interval = 3601\n").0, Some(3));
    assert_eq!(err_line("[agent]\nmetrics_file = \"\"\n").0, Some(2));
    assert_eq!(err_line("[agent]\nmetrics_file = 1\n").0, Some(2));
    assert!(p("[agent]\nmetrics_interval = 3600\n").is_ok());

    // Last file wins, and the origin says which.
    let main = frag(
        "[agent]\nmetrics_file = \"/var/lib/a.prom\"\nmetrics_interval = 5\n",
        0,
    );
    let d = frag("\n[agent]\nmetrics_file = \"b.prom\"\n", 1);
    let pol = match merge(&[main, d]) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    assert_eq!(
        pol.agent.metrics_file,
        Some(PathBuf::from("/etc/sigward/f1/b.prom"))
    );
    assert_eq!(pol.origins.get("agent.metrics_file"), Some(&(1, 3)));
    assert_eq!(pol.agent.metrics_interval_secs, 5);

    // Printed with its origin, and read back.
    let text = to_toml(
        &pol,
        &[
            PathBuf::from("/etc/sigward/policy.toml"),
            PathBuf::from("/etc/sigward/policy.d/10.toml"),
        ],
    );
    assert!(
        text.contains(
            "metrics_file = \"/etc/sigward/f1/b.prom\"  # from /etc/sigward/policy.d/10.toml:3"
        ),
        "{text}"
    );
    assert!(
        text.contains("metrics_interval = 5  # from /etc/sigward/policy.toml:3"),
        "{text}"
    );
    let back = parse(&text, Path::new("/"));
    assert_eq!(
        back.map(|b| (b.agent.metrics_file, b.agent.metrics_interval_secs)),
        Ok((Some(PathBuf::from("/etc/sigward/f1/b.prom")), 5))
    );
    let text = to_toml(&p("").unwrap_or_else(|e| unreachable!("{e}")), &[]);
    assert!(!text.contains("metrics_file"), "{text}");
    assert!(text.contains("metrics_interval = 15  # default"), "{text}");
}

/// The owners' values, and where each was written.
fn owners(a: &AgentSettings) -> (Vec<Owner>, Vec<(usize, usize)>) {
    a.kernel_cache_owners
        .iter()
        .map(|o| (o.value.clone(), (o.file, o.line)))
        .unzip()
}

#[test]
fn kernel_cache_defaults_and_parse() {
    let defaults = p("").unwrap_or_else(|e| unreachable!("{e}"));
    assert!(defaults.agent.kernel_cache);
    assert_eq!(
        owners(&defaults.agent),
        (vec![Owner::Uid(0)], vec![(0, 0)]),
        "the default is root, written nowhere"
    );
    assert_eq!(defaults.origins.get("agent.kernel_cache"), None);
    assert_eq!(defaults.origins.get("agent.kernel_cache_owners"), None);
    assert_eq!(AgentSettings::default(), defaults.agent);

    let pol = p(
        "[agent]\nkernel_cache = false\nkernel_cache_owners = [\n  0,\n  \"deploy\",\n  4294967294, \"svc-app.1\",\n]\n",
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(!pol.agent.kernel_cache);
    assert_eq!(
        owners(&pol.agent),
        (
            vec![
                Owner::Uid(0),
                Owner::Name("deploy".into()),
                Owner::Uid(4_294_967_294),
                Owner::Name("svc-app.1".into()),
            ],
            vec![(0, 4), (0, 5), (0, 6), (0, 6)]
        )
    );
    assert_eq!(pol.origins.get("agent.kernel_cache"), Some(&(0, 2)));
    assert_eq!(pol.origins.get("agent.kernel_cache_owners"), Some(&(0, 3)));

    // An empty list is allowed: nothing is kernel-cached.
    let none = p("[agent]\nkernel_cache_owners = []\n").unwrap_or_else(|e| unreachable!("{e}"));
    assert!(none.agent.kernel_cache_owners.is_empty());
    assert_eq!(none.origins.get("agent.kernel_cache_owners"), Some(&(0, 2)));
    // Root is not implied: a list without 0 replaces the default.
    let deploy =
        p("[agent]\nkernel_cache_owners = [\"deploy\"]\n").unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(owners(&deploy.agent).0, vec![Owner::Name("deploy".into())]);
}

#[test]
fn kernel_cache_errors_have_lines() {
    let (line, msg) = err_line("[agent]\n\nkernel_cache = \"yes\"\n");
    assert_eq!(line, Some(3), "{msg}");
    let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n  0,\n  -1,\n]\n");
    assert_eq!(line, Some(4), "{msg}");
    assert!(msg.contains("-1") && msg.contains("4294967294"), "{msg}");
    let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n  4294967295,\n]\n");
    assert_eq!(line, Some(3), "{msg}");
    assert!(
        msg.contains("4294967295") && msg.contains("(uid_t)-1"),
        "{msg}"
    );
    let (line, msg) = err_line("[agent]\nkernel_cache_owners = [0,\n  \"1000\"]\n");
    assert_eq!(line, Some(3), "{msg}");
    assert!(
        msg.contains("all digits") && msg.contains("without quotes"),
        "{msg}"
    );
    let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\"\"]\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("empty"), "{msg}");
    let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n\"a/b\"]\n");
    assert_eq!(line, Some(3));
    assert!(msg.contains('/'), "{msg}");
    let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\"a\\u0000b\"]\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("NUL"), "{msg}");
    let long = "x".repeat(MAX_USER_NAME + 1);
    let (line, msg) = err_line(&format!("[agent]\n\nkernel_cache_owners = [\"{long}\"]\n"));
    assert_eq!(line, Some(3));
    assert!(msg.contains("32 bytes"), "{msg}");
    assert!(p(&format!(
        "[agent]\nkernel_cache_owners = [\"{}\"]\n",
        "x".repeat(MAX_USER_NAME)
    ))
    .is_ok());
    // Neither a uid nor a name.
    let (line, msg) = err_line("[agent]\nkernel_cache_owners = [\n  0,\n  true,\n]\n");
    assert_eq!(line, Some(4), "{msg}");
    assert!(msg.contains("uid") && msg.contains("user name"), "{msg}");
    assert_eq!(err_line("[agent]\nkernel_cache_owners = 0\n").0, Some(2));
    assert_eq!(err_line("[agent]\nkernel_cache_owner = [0]\n").0, Some(2));
}

#[test]
fn kernel_cache_drop_ins_replace_and_print() {
    let main = frag(
        "[agent]\nkernel_cache = false\nkernel_cache_owners = [0, \"deploy\"]\n",
        0,
    );
    let d1 = frag("\n[agent]\nkernel_cache_owners = [\n  \"app\",\n]\n", 1);
    let pol = merge(&[main.clone(), d1]).unwrap_or_else(|e| unreachable!("{e}"));
    assert!(!pol.agent.kernel_cache, "kept from the main file");
    assert_eq!(pol.origins.get("agent.kernel_cache"), Some(&(0, 2)));
    assert_eq!(
        owners(&pol.agent),
        (vec![Owner::Name("app".into())], vec![(1, 4)]),
        "the later list replaces the earlier one as a whole"
    );
    assert_eq!(pol.origins.get("agent.kernel_cache_owners"), Some(&(1, 3)));

    let d2 = frag(
        "[agent]\nkernel_cache = true\nkernel_cache_owners = []\n",
        2,
    );
    let pol = merge(&[main, d2]).unwrap_or_else(|e| unreachable!("{e}"));
    assert!(pol.agent.kernel_cache);
    assert!(pol.agent.kernel_cache_owners.is_empty());

    let files = [
        PathBuf::from("/etc/sigward/policy.toml"),
        PathBuf::from("/etc/sigward/policy.d/10.toml"),
        PathBuf::from("/etc/sigward/policy.d/20.toml"),
    ];
    let text = to_toml(&pol, &files);
    assert!(
        text.contains("kernel_cache = true  # from /etc/sigward/policy.d/20.toml:2"),
        "{text}"
    );
    assert!(
        text.contains("kernel_cache_owners = []  # from /etc/sigward/policy.d/20.toml:3"),
        "{text}"
    );

    let main = frag(
        "[agent]\nkernel_cache = false\nkernel_cache_owners = [0, \"deploy\", 1000]\n",
        0,
    );
    let pol = merge(&[main]).unwrap_or_else(|e| unreachable!("{e}"));
    let text = to_toml(&pol, &files);
    assert!(
        text.contains("kernel_cache = false  # from /etc/sigward/policy.toml:2"),
        "{text}"
    );
    assert!(
        text.contains(
            "kernel_cache_owners = [0, \"deploy\", 1000]  # from /etc/sigward/policy.toml:3"
        ),
        "{text}"
    );
    let back = parse(&text, Path::new("/")).unwrap_or_else(|e| unreachable!("{e}"));
    // The same owners; only where they were written differs.
    assert_eq!(owners(&back.agent).0, owners(&pol.agent).0);
    assert_eq!(back.agent, {
        let mut a = pol.agent.clone();
        a.kernel_cache_owners = back.agent.kernel_cache_owners.clone();
        a
    });

    let text = to_toml(&p("").unwrap_or_else(|e| unreachable!("{e}")), &[]);
    assert!(text.contains("kernel_cache = true  # default"), "{text}");
    assert!(
        text.contains("kernel_cache_owners = [0]  # default"),
        "{text}"
    );
}

#[test]
fn owner_display_is_toml() {
    assert_eq!(Owner::Uid(0).to_string(), "0");
    assert_eq!(Owner::Uid(4_294_967_294).to_string(), "4294967294");
    assert_eq!(Owner::Name("deploy".into()).to_string(), "\"deploy\"");
    // Whatever quoting TOML picks, it reads back as the same name.
    let weird = Owner::Name("we\"ird\\".into());
    let back: Result<toml::Table, _> = format!("x = {weird}").parse();
    assert_eq!(
        back.ok().and_then(|t| t.get("x").cloned()),
        Some(toml::Value::String("we\"ird\\".into()))
    );
}

#[test]
fn error_display() {
    let e = PolicyError {
        file: 0,
        line: Some(4),
        message: "bad".into(),
        previous: None,
    };
    assert_eq!(e.to_string(), "line 4: bad");
}

#[test]
fn kernel_audit_merges_prints_and_parses_back() {
    let defaults = p("").unwrap_or_else(|e| unreachable!("{e}"));
    assert!(!defaults.audit.kernel_audit);
    let text = to_toml(&defaults, &[]);
    assert!(text.contains("kernel_audit = false  # default"), "{text}");
    assert_eq!(err_line("[audit]\nkernel_audit = \"yes\"\n").0, Some(2));

    // Last file wins, and the origin says which.
    let main = frag("[audit]\nkernel_audit = false\n", 0);
    let d = frag("\n[audit]\nkernel_audit = true\n", 1);
    let pol = merge(&[main, d]).unwrap_or_else(|e| unreachable!("{e}"));
    assert!(pol.audit.kernel_audit);
    assert_eq!(pol.origins.get("audit.kernel_audit"), Some(&(1, 3)));
    let text = to_toml(
        &pol,
        &[
            PathBuf::from("/etc/sigward/policy.toml"),
            PathBuf::from("/etc/sigward/policy.d/10.toml"),
        ],
    );
    assert!(
        text.contains("kernel_audit = true  # from /etc/sigward/policy.d/10.toml:3"),
        "{text}"
    );
    let back = parse(&text, Path::new("/"));
    assert_eq!(back.map(|b| b.audit.kernel_audit), Ok(true));
}

#[test]
fn aisoc_keys_dir_and_notur_env() {
    let pol = p("[trust]\naisoc_keys_dir = \"aisoc-keys\"\nnotur_env = \"/var/www/panel/.env\"\n\n[[trust.key]]\nname = \"notur\"\nnotur_env = \"../panel.env\"\n")
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        pol.trust.aisoc_keys_dir.as_ref().map(|d| d.value.clone()),
        Some(PathBuf::from("/etc/sigward/aisoc-keys"))
    );
    assert_eq!(pol.origins.get("trust.aisoc_keys_dir"), Some(&(0, 2)));
    assert_eq!(
        pol.trust
            .notur_env
            .iter()
            .map(|e| e.value.clone())
            .collect::<Vec<_>>(),
        [PathBuf::from("/var/www/panel/.env")]
    );
    assert!(
        matches!(&pol.trust.named[0].source, KeySource::NoturEnv(f) if f.value == Path::new("/etc/panel.env"))
    );
    let printed = to_toml(&pol, &[PathBuf::from("/etc/sigward/policy.toml")]);
    for want in [
        "aisoc_keys_dir = \"/etc/sigward/aisoc-keys\"",
        "\"/var/www/panel/.env\",",
        "notur_env = \"/etc/panel.env\"",
    ] {
        assert!(printed.contains(want), "{want}\n{printed}");
    }
    // A list of .env files, appended across files; the directory: last wins.
    let a = frag(
        "[trust]\nnotur_env = [\"/a/.env\", \"/b/.env\"]\naisoc_keys_dir = \"/x\"\n",
        0,
    );
    let b = frag(
        "[trust]\nnotur_env = \"/c/.env\"\naisoc_keys_dir = \"/y\"\n",
        1,
    );
    let merged = merge(&[a, b]).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(merged.trust.notur_env.len(), 3);
    assert_eq!(
        merged.trust.aisoc_keys_dir.map(|d| d.value),
        Some(PathBuf::from("/y"))
    );
    // A named key has one source.
    let (line, msg) =
        err_line("[[trust.key]]\nname = \"n\"\nfile = \"k.pub\"\nnotur_env = \"/p/.env\"\n");
    assert_eq!(line, Some(1), "{msg}");
    assert!(
        msg.contains("notur_env = \\\"PATH\\\"") || msg.contains("notur_env = \"PATH\""),
        "{msg}"
    );
    let (line, msg) = err_line("[trust]\naisoc_keys_dir = 5\n");
    assert_eq!(line, Some(2), "{msg}");
}
