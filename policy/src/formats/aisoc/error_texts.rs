//! The texts of [`BundleError`] and [`SignatureError`]: each is, character
//! for character, the `String` the functions returned before their errors
//! became enums (the detail of a refused verdict, and what `sigward sign
//! --bundle` prints).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn no_files() -> BTreeMap<Vec<u8>, [u8; 32]> {
    BTreeMap::new()
}

#[test]
fn signature_texts() {
    assert_eq!(
        SignatureError::Length { len: 5 }.to_string(),
        "expected 64 raw bytes or their 128 hex characters, found 5 bytes"
    );
    assert_eq!(
        parse_signature(b"00 11").unwrap_err().to_string(),
        "expected 64 raw bytes or their 128 hex characters, found 5 bytes"
    );
}

#[test]
fn bundle_texts() {
    let literal = [
        (
            BundleError::ManifestTooLarge {
                manifest_name: "plugin.yaml".into(),
                len: MAX_MANIFEST_BYTES + 1,
            },
            "plugin.yaml is 1048577 bytes, more than the 1048576 read",
        ),
        (
            BundleError::EmptyYaml,
            "invalid plugin.yaml: YAML root must be a mapping (the document is empty)",
        ),
        (
            BundleError::UnknownManifestName {
                manifest_name: "manifest.toml".into(),
            },
            "\"manifest.toml\" is not an AiSOC manifest name",
        ),
        (
            BundleError::NotMapping {
                manifest_name: "aisoc-plugin.json".into(),
            },
            "aisoc-plugin.json: the manifest is not a mapping",
        ),
    ];
    for (e, want) in literal {
        assert_eq!(e.to_string(), want);
    }
    let err = |name: &str, text: &[u8]| canonical(name, text, &no_files()).unwrap_err().to_string();
    assert_eq!(
        err("plugin.yaml", &vec![b'#'; MAX_MANIFEST_BYTES + 1]),
        "plugin.yaml is 1048577 bytes, more than the 1048576 read"
    );
    assert_eq!(
        err("plugin.yaml", b""),
        "invalid plugin.yaml: YAML root must be a mapping (the document is empty)"
    );
    assert_eq!(
        err("manifest.toml", b"a: 1"),
        "\"manifest.toml\" is not an AiSOC manifest name"
    );
    assert_eq!(
        err("plugin.yaml", b"- 1\n"),
        "plugin.yaml: the manifest is not a mapping"
    );
    // Errors of other crates, formatted as the old code formatted them.
    let utf8 = String::from_utf8(b"a: \xff".to_vec())
        .unwrap_err()
        .utf8_error();
    assert_eq!(
        err("aisoc-plugin.json", b"a: \xff"),
        format!("aisoc-plugin.json is not UTF-8 text: {utf8}")
    );
    let yaml = sigward_pycanon::safe_load("a: [").err().unwrap();
    assert_eq!(
        err("plugin.yaml", b"a: ["),
        format!("invalid plugin.yaml: {yaml}")
    );
    let json = sigward_pycanon::json_loads("{").err().unwrap();
    assert_eq!(
        err("aisoc-plugin.json", b"{"),
        format!("invalid aisoc-plugin.json: {json}")
    );
    let list = sigward_pycanon::json_loads("[1]").unwrap();
    let strip = list.without_keys(&["signature"]).err().unwrap();
    assert_eq!(
        BundleError::UnsignedKeys(strip.clone()).to_string(),
        strip.to_string()
    );
    let dated = sigward_pycanon::safe_load("a: 2001-12-14\n")
        .unwrap()
        .unwrap();
    let dump = dated.dump_into(&mut String::new(), usize::MAX).unwrap_err();
    assert_eq!(
        err("plugin.yaml", b"a: 2001-12-14\n"),
        format!("plugin.yaml: the manifest has no canonical JSON form: {dump}")
    );
    // Signing reports the same texts.
    let key = SigningKey::from_bytes(&[3; 32]);
    assert_eq!(
        sign_bundle(&key, "manifest.toml", b"a: 1", &no_files())
            .unwrap_err()
            .to_string(),
        "\"manifest.toml\" is not an AiSOC manifest name"
    );
}
