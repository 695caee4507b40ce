//! `allowed_signers` parsing, namespace patterns and validity times.

use super::*;

#[test]
fn allowed_signers_vector_parses() {
    let (keys, warnings) = parse_allowed_signers("as", ALLOWED).unwrap();
    assert!(warnings.is_empty());
    let entry = |i: usize| match &keys[i].origin {
        KeyOrigin::AllowedSigner(a) => a.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(keys[0].label.as_deref(), Some("alice@example.com"));
    assert_eq!(keys[0].block, 2);
    assert_eq!(entry(0).namespaces, Some(vec!["file".to_string()]));
    assert_eq!(keys[0].fingerprint, fingerprint_of(&key_of(ALICE_PUB)));
    assert_eq!(keys[1].label.as_deref(), Some("bob@example.com,bob"));
    assert_eq!(entry(1).principals, vec!["bob@example.com", "bob"]);
    assert_eq!(keys[1].material.kind(), "ssh-rsa");
    assert_eq!(keys[2].label.as_deref(), Some("carol@example.com"));
    assert_eq!(keys[2].material.kind(), "ssh-ecdsa");
    assert_eq!(entry(3).valid_before, Some(1_577_836_800)); // 2020-01-01
    assert_eq!(entry(4).valid_after, Some(4_070_952_000)); // 2099-01-01T12:00
    assert_eq!(
        entry(5).namespaces,
        Some(vec!["git".to_string(), "!file".to_string()])
    );
    assert!(entry(6).cert_authority);
    assert_eq!(entry(6).principals, vec!["*@example.com"]);
}

#[test]
fn patterns() {
    assert!(match_pattern("file", "file"));
    assert!(match_pattern("file", "f*"));
    assert!(match_pattern("file", "*"));
    assert!(match_pattern("file", "f?le"));
    assert!(match_pattern("", "*"));
    assert!(match_pattern("", ""));
    assert!(!match_pattern("file", ""));
    assert!(!match_pattern("file", "fil"));
    assert!(match_pattern("a@example.com", "*@example.com"));
    assert!(match_pattern("aaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*b"));
    assert!(!match_pattern(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "*a*a*a*a*a*a*a*a*b"
    ));
    let list = |s: &str| split_list(s);
    assert_eq!(match_pattern_list("file", &list("git,file")), 1);
    assert_eq!(match_pattern_list("file", &list("git,!file")), -1);
    assert_eq!(match_pattern_list("file", &list("*,!file")), -1);
    assert_eq!(match_pattern_list("file", &list("!git")), 0);
    assert_eq!(match_pattern_list("file", &list("")), 0);
    assert_eq!(match_pattern_list("file", &list("file,")), 1);
    assert_eq!(list("a,"), vec!["a"]);
    assert_eq!(list(",a"), vec!["", "a"]);
    let long = format!("file,{}", "x".repeat(1100));
    assert_eq!(match_pattern_list("file", &list(&long)), 0);
}

#[test]
fn times() {
    assert_eq!(parse_absolute_time("20200101"), Some(1_577_836_800));
    assert_eq!(parse_absolute_time("20200101Z"), Some(1_577_836_800));
    assert_eq!(parse_absolute_time("20200101utc"), Some(1_577_836_800));
    assert_eq!(parse_absolute_time("202001011230"), Some(1_577_881_800));
    assert_eq!(parse_absolute_time("20200101123045Z"), Some(1_577_881_845));
    assert_eq!(
        parse_absolute_time("20200231"),
        parse_absolute_time("20200302")
    );
    // A leap second, as timegm counts it: the next minute's first.
    assert_eq!(parse_absolute_time("20191231235960"), Some(1_577_836_800));
    assert_eq!(parse_absolute_time("99991231"), Some(253_402_214_400));
    for bad in [
        "",
        "Z",
        "2020010",
        "202001011",
        "20201301",
        "20200100",
        "20200101246000",
        "2020-1-01",
        "19000101",
        "19700101",
        "+2020101",
    ] {
        assert_eq!(parse_absolute_time(bad), None, "{bad}");
    }
    assert_eq!(format_time(1_577_881_845), "2020-01-01T12:30:45Z");
    assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
}

fn one(line: &str) -> Result<(Vec<TrustedKey>, Vec<String>), KeyFileError> {
    parse_allowed_signers("t", line.as_bytes())
}

#[test]
fn allowed_signers_syntax() {
    let key = ALICE_PUB.trim();
    let bare = key.rsplit_once(' ').map(|(k, _)| k).unwrap();
    let entry = |line: &str| -> AllowedSigner {
        match &one(line).unwrap().0[0].origin {
            KeyOrigin::AllowedSigner(a) => a.clone(),
            o => panic!("{o:?}"),
        }
    };
    // Comments, blank lines, CRLF, tabs, leading blanks.
    let text = format!("# c\n\n  \t\na@b\t{bare}\r\n   # x\n");
    assert_eq!(one(&text).unwrap().0.len(), 1);
    // Quoted principals with a space; options in any case; escaped quotes.
    let e = entry(&format!(
        "\"a b,c\" NAMESPACES=\"x,y\",Cert-Authority {bare}"
    ));
    assert_eq!(e.principals, vec!["a b", "c"]);
    assert_eq!(e.namespaces, Some(vec!["x".to_string(), "y".to_string()]));
    assert!(e.cert_authority);
    let e = entry(&format!("p namespaces=\"a\\\"b\" {bare}"));
    assert_eq!(e.namespaces, Some(vec!["a\"b".to_string()]));
    let e = entry(&format!("p namespaces=\"with space\" {bare} comment words"));
    assert_eq!(e.namespaces, Some(vec!["with space".to_string()]));
    let e = entry(&format!(
        "p valid-after=\"20200101\",valid-before=\"20300101Z\" {bare}"
    ));
    assert_eq!(
        (e.valid_after, e.valid_before),
        (Some(1_577_836_800), Some(1_893_456_000))
    );
    // The comment after the key is kept on the key.
    let (keys, _) = one(&format!("p {key}")).unwrap();
    let KeyMaterial::Ssh(pk) = &keys[0].material else {
        panic!()
    };
    assert_eq!(pk.comment(), "alice_ed25519");
    // Errors name the line.
    let bad = |line: &str, want: &str| match one(&format!("# first\n{line}")) {
        Err(KeyFileError::Line { line: 2, message }) => {
            assert!(message.contains(want), "{line:?}: {message}")
        }
        other => panic!("{line:?}: {other:?}"),
    };
    bad("principal-only", "invalid line");
    bad("p", "invalid line");
    bad("p ", "missing key");
    bad(&format!("p bogus-option {bare}"), "unknown key option");
    bad(&format!("p cert-authorityx {bare}"), "unknown key option");
    bad(&format!("p verify-required {bare}"), "unknown key option");
    bad(&format!("p namespaces=file {bare}"), "missing start quote");
    bad(
        &format!("p namespaces=\"a\",namespaces=\"b\" {bare}"),
        "multiple",
    );
    bad(&format!("p valid-before=\"2020\" {bare}"), "valid-before");
    bad(
        &format!("p valid-after=\"20300101\",valid-before=\"20200101\" {bare}"),
        "before",
    );
    bad(&format!("p cert-authority, {bare}"), "end-of-options");
    bad(&format!("p namespaces=\"a {bare}"), "unterminated");
    bad("\"unterminated ssh-ed25519 AAAA", "invalid line");
    bad("p ssh-ed25519 !!!!", "base64");
    bad("p ssh-ed25519 AAAA", "invalid");
    bad(
        "p ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIKuT8cgn49IxRuyiYEpzMIOecegXzXv49HZw7B8VeHhn",
        "",
    );
    bad(
        &format!("p {}", bare.replace("ssh-ed25519", "ssh-rsa")),
        "does not match",
    );
    // OpenSSH: only the quoted part is the principal list, ",bob" is
    // then read as options.
    bad(&format!("\"a\",b {bare}"), "unknown key option");
    bad("p\u{0}x ssh-ed25519 AAAA", "NUL");
    assert!(matches!(
        parse_allowed_signers("t", b"\xff\xfe"),
        Err(KeyFileError::Line { line: 1, .. })
    ));
    // Unsupported key types are skipped with a warning.
    let mut dss_blob = Vec::new();
    put_string(&mut dss_blob, b"ssh-dss");
    put_string(&mut dss_blob, &[1; 20]);
    let dss = format!(
        "p ssh-dss {}",
        base64::engine::general_purpose::STANDARD.encode(&dss_blob)
    );
    let (keys, warnings) = one(&format!("{dss}\np {key}")).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("ssh-dss"), "{warnings:?}");
    // Empty file: no keys, no error (an empty allowed_signers is valid).
    assert_eq!(one("").unwrap().0.len(), 0);
}
