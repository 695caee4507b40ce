//! The texts of [`PyError`]: each is, character for character, the
//! `String` the loaders and `json.dumps` returned before their errors
//! became enums (the detail of a refused AiSOC verdict).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const LIMIT: usize = 1 << 20;

/// `json_loads` or `safe_load`, then `without_keys` and `dump_into`, as
/// the AiSOC verifier runs them; the error's text.
fn refusal(text: &str, json: bool, limit: usize) -> String {
    let run = || -> Result<(), PyError> {
        let doc = if json {
            json_loads(text)?
        } else {
            safe_load(text)?.expect("a document")
        };
        let doc = doc.without_keys(&["signature", "trust"])?;
        doc.dump_into(&mut String::new(), limit)
    };
    match run() {
        Ok(()) => panic!("{text:?} loads and dumps"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn texts_of_small_documents() {
    // (JSON rather than YAML, text, output limit, message)
    let cases = [
        (false, "a: &x [*x]", LIMIT, "Circular reference detected"),
        (true, "{\"a\": 01}", LIMIT, "Expecting ',' delimiter: line 1 column 8 (char 7)"),
        (true, "{\"a\": 1,}", LIMIT, "Expecting property name enclosed in double quotes: line 1 column 9 (char 8)"),
        (true, "{\"a\": .5}", LIMIT, "Expecting value: line 1 column 7 (char 6)"),
        (true, "{\"a\": 1} x", LIMIT, "Extra data: line 1 column 10 (char 9)"),
        (true, "{\"a\": \"\t\"}", LIMIT, "Invalid control character at: line 1 column 8 (char 7)"),
        (true, "{\"a\": \"\\x41\"}", LIMIT, "Invalid \\escape: line 1 column 8 (char 7)"),
        (true, "{\"a\": \"\\uZZZZ\"}", LIMIT, "Invalid \\uXXXX escape: line 1 column 9 (char 8)"),
        (false, "a: !!timestamp x", LIMIT, "'NoneType' object has no attribute 'groupdict' (not a timestamp) (line 1, column 4)"),
        (false, "a: !!binary aGVsbG8=", LIMIT, "Object of type bytes is not JSON serializable"),
        (false, "a: 2024-01-01", LIMIT, "Object of type datetime is not JSON serializable"),
        (false, "a: !!set {x, y}", LIMIT, "Object of type set is not JSON serializable"),
        (true, "\u{feff}{\"a\": 1}", LIMIT, "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
        (true, "{\"a\": \"x", LIMIT, "Unterminated string starting at: line 1 column 7 (char 6)"),
        (false, "a: !!timestamp {=: 2001-01-01}", LIMIT, "a timestamp must be a scalar (line 1, column 4)"),
        (false, "a: !!float x", LIMIT, "could not convert string to float: \"x\" (line 1, column 4)"),
        (false, "a: !foo bar", LIMIT, "could not determine a constructor for the tag \"!foo\" (line 1, column 4)"),
        (false, "a: 2024-02-30", LIMIT, "day is out of range for month (line 1, column 4)"),
        (false, "%TAG ! a\n%TAG ! b\n---\nx: 1", LIMIT, "duplicate tag handle \"!\" (line 2, column 1)"),
        (false, "a: !!map x", LIMIT, "expected a mapping node, but found scalar (line 1, column 4)"),
        (false, "a: !!map [1]", LIMIT, "expected a mapping node, but found sequence (line 1, column 4)"),
        (false, "a: !!str {x: 1}", LIMIT, "expected a scalar node, but found mapping (line 1, column 4)"),
        (false, "a: !!null [1]", LIMIT, "expected a scalar node, but found sequence (line 1, column 4)"),
        (false, "a: !!seq {a: 1}", LIMIT, "expected a sequence node, but found mapping (line 1, column 4)"),
        (false, "a: !!seq x", LIMIT, "expected a sequence node, but found scalar (line 1, column 4)"),
        (false, "a: 1\n---\nb: 2", LIMIT, "expected a single document in the stream, but found another document"),
        (false, "%YAML 1.1\na: 1", LIMIT, "expected '<document start>', but found \"<scalar>\" (line 2, column 1)"),
        (false, "%TAG !a! b", LIMIT, "expected '<document start>', but found \"<stream end>\" (line 1, column 11)"),
        (false, "a: !!binary é", LIMIT, "failed to convert base64 data into ascii (line 1, column 4)"),
        (false, "trust: !!binary aGVsbG8\nb: 1", LIMIT, "failed to decode base64 data: Incorrect padding (line 1, column 8)"),
        (false, "a: !!binary abcde", LIMIT, "failed to decode base64 data: number of data characters (5) cannot be 1 more than a multiple of 4 (line 1, column 4)"),
        (false, "%YAML 1.1\n%YAML 1.1\n---\na: 1", LIMIT, "found duplicate YAML directive (line 2, column 1)"),
        (false, "a: &a x\nb: &a y", LIMIT, "found duplicate anchor \"a\""),
        (false, "%YAML 2.0\n---\na: 1", LIMIT, "found incompatible YAML document (version 1.* is required) (line 1, column 1)"),
        (false, "a: *a", LIMIT, "found undefined alias \"a\" (line 1, column 4)"),
        (false, "a: 2024-01-01T25:00:00", LIMIT, "hour must be in 0..23 (line 1, column 4)"),
        (false, "a: !!int 1é", LIMIT, "invalid character U+00E9 in a number (line 1, column 4)"),
        (false, "a: 0x_", LIMIT, "invalid literal for int() with base 16: \"\" (line 1, column 4)"),
        (false, "a: !!int x", LIMIT, "invalid literal for int() with base 10: \"x\" (line 1, column 4)"),
        (false, "{2024-01-01: x}", LIMIT, "keys must be str, int, float, bool or None, not datetime"),
        (false, "a: ? b", LIMIT, "mapping keys are not allowed here (line 1, column 4)"),
        (false, "a: b: c", LIMIT, "mapping values are not allowed here (line 1, column 5)"),
        (false, "a: !!str &a {=: *a}", LIMIT, "maximum recursion depth exceeded in construct_scalar"),
        (false, "a: !!timestamp 2001-01-01 23:60:00", LIMIT, "minute must be in 0..59 (line 1, column 4)"),
        (false, "a: 2024-13-01", LIMIT, "month must be in 1..12 (line 1, column 4)"),
        (false, "{null: 1, a: 2}", LIMIT, "'<' not supported between instances of 'NoneType' and another key"),
        (false, "{a: 1, 2: b}", LIMIT, "'<' not supported between instances of 'int' and 'str' (mixed key types)"),
        (false, "a: !!timestamp 2001-01-01T00:00:00+24:00", LIMIT, "offset must be a timedelta strictly between -timedelta(hours=24) and timedelta(hours=24) (line 1, column 4)"),
        (false, "a: !!timestamp 2001-01-01 23:59:60", LIMIT, "second must be in 0..59 (line 1, column 4)"),
        (false, "a: -", LIMIT, "sequence entries are not allowed here (line 1, column 4)"),
        (false, "a: !!float ''", LIMIT, "string index out of range (empty float) (line 1, column 4)"),
        (false, "a: !!int", LIMIT, "string index out of range (empty int) (line 1, column 4)"),
        (false, "a: !!map {a: 1}", 7, "the canonical form would exceed 7 bytes"),
        (false, "a: \u{7}", LIMIT, "unacceptable character #x0007: special characters are not allowed (position 3)"),
        (false, "a: \u{fffe}", LIMIT, "unacceptable character #xfffe: special characters are not allowed (position 3)"),
        (false, "a: {<<: 1}", LIMIT, "while constructing a mapping (line 1, column 4): expected a mapping or list of mappings for merging, but found scalar"),
        (false, "{[1]: a}", LIMIT, "while constructing a mapping (line 1, column 1): found unhashable key"),
        (false, "a: !!omap [x: 1, {y: 2, z: 3}]", LIMIT, "while constructing an ordered map (line 1, column 4): expected a single mapping item, but found 2 items"),
        (false, "x: &s {=: v}\ny: !!str *s\nz: *s", LIMIT, "while parsing a block mapping (line 1, column 1): expected <block end>, but found \"<alias>\" (line 2, column 10)"),
        (false, "a: ]", LIMIT, "while parsing a block node (line 1, column 4): expected the node content, but found \"]\" (line 1, column 4)"),
        (false, "{a\nb: c}", LIMIT, "while parsing a flow mapping (line 1, column 1): expected ',' or '}', but got \":\" (line 2, column 2)"),
        (false, "a: [,]", LIMIT, "while parsing a flow node (line 1, column 5): expected the node content, but found \",\" (line 1, column 5)"),
        (false, "a: [1, 2", LIMIT, "while parsing a flow sequence (line 1, column 4): expected ',' or ']', but got \"<stream end>\" (line 1, column 9)"),
        (false, "a: !a!b c", LIMIT, "while parsing a node (line 1, column 4): found undefined tag handle \"!a!\" (line 1, column 4)"),
        (false, "a: !<a", LIMIT, "while parsing a tag (line 1, column 4): expected '>', but found '\\0' (line 1, column 7)"),
        (false, "a: |0\n  x\n", LIMIT, "while scanning a block scalar (line 1, column 4): expected indentation indicator in the range 1-9, but found 0 (line 1, column 5)"),
        (false, "%\n---\na: 1", LIMIT, "while scanning a directive (line 1, column 1): expected alphabetic or numeric character, but found '\\n' (line 1, column 2)"),
        (false, "%TAG ! %ff%ff\n---\na: 1", LIMIT, "while scanning a directive (line 1, column 1): invalid utf-8 sequence of 1 bytes from index 0 (line 1, column 8)"),
        (false, "a: \"\\q\"", LIMIT, "while scanning a double-quoted scalar (line 1, column 4): found unknown escape character 'q' (line 1, column 6)"),
        (false, "a: 'unterminated", LIMIT, "while scanning a quoted scalar (line 1, column 4): found unexpected end of stream (line 1, column 17)"),
        (false, "a: 1\nb", LIMIT, "while scanning a simple key (line 2, column 1): could not find expected ':' (line 2, column 2)"),
        (false, "a: !a%zz b", LIMIT, "while scanning a tag (line 1, column 4): expected URI escape sequence of 2 hexadecimal numbers, but found 'z' (line 1, column 7)"),
        (false, "a: !a%c3 b", LIMIT, "while scanning a tag (line 1, column 4): incomplete utf-8 byte sequence from index 0 (line 1, column 6)"),
        (false, "a: !a%c3%28 b", LIMIT, "while scanning a tag (line 1, column 4): invalid utf-8 sequence of 1 bytes from index 0 (line 1, column 6)"),
        (false, "a: *", LIMIT, "while scanning an alias (line 1, column 4): expected alphabetic or numeric character, but found '\\0' (line 1, column 5)"),
        (false, "&", LIMIT, "while scanning an anchor (line 1, column 1): expected alphabetic or numeric character, but found '\\0' (line 1, column 2)"),
        (false, "a: @x", LIMIT, "while scanning for the next token: found character '@' that cannot start any token (line 1, column 4)"),
        (false, "a: !!bool x", LIMIT, "\"x\" is not a YAML 1.1 boolean (line 1, column 4)"),
        (false, "a: !!timestamp 0000-01-01", LIMIT, "year 0 is out of range (line 1, column 4)"),
        (false, "a: ! \"yes\\n\"", LIMIT, "\"yes\\n\" is not a YAML 1.1 boolean (line 1, column 4)"),
        (false, "%YAML 1x", LIMIT, "while scanning a directive (line 1, column 1): expected a digit or '.', but found 'x' (line 1, column 8)"),
        (false, "%YAML 1.1x", LIMIT, "while scanning a directive (line 1, column 1): expected a digit or ' ', but found 'x' (line 1, column 10)"),
        (false, "%YAML x", LIMIT, "while scanning a directive (line 1, column 1): expected a digit, but found 'x' (line 1, column 7)"),
        (false, "%YAML 1.1 x", LIMIT, "while scanning a directive (line 1, column 1): expected a comment or a line break, but found 'x' (line 1, column 11)"),
        (false, "%TAG x", LIMIT, "while scanning a directive (line 1, column 1): expected '!', but found 'x' (line 1, column 6)"),
        (false, "%TAG !a b", LIMIT, "while scanning a directive (line 1, column 1): expected '!', but found ' ' (line 1, column 8)"),
        (false, "%TAG ! %zz", LIMIT, "while scanning a directive (line 1, column 1): expected URI escape sequence of 2 hexadecimal numbers, but found 'z' (line 1, column 9)"),
        (false, "a: |x", LIMIT, "while scanning a block scalar (line 1, column 4): expected chomping or indentation indicators, but found 'x' (line 1, column 5)"),
        (false, "a: |1 x", LIMIT, "while scanning a block scalar (line 1, column 4): expected a comment or a line break, but found 'x' (line 1, column 7)"),
        (false, "a: \"\\x4\"", LIMIT, "while scanning a double-quoted scalar (line 1, column 4): expected escape sequence of 2 hexadecimal numbers, but found '\"' (line 1, column 7)"),
        (false, "a: \"\\U00110000\"", LIMIT, "while scanning a double-quoted scalar (line 1, column 4): chr() arg not in range(0x110000): 0x110000 (line 1, column 7)"),
        (false, "a: \"a\n---\nb\"", LIMIT, "while scanning a quoted scalar (line 1, column 4): found unexpected document separator (line 2, column 1)"),
        (false, "a: !!omap x", LIMIT, "while constructing an ordered map (line 1, column 4): expected a sequence"),
        (false, "a: !!omap [x]", LIMIT, "while constructing an ordered map (line 1, column 4): expected a mapping of length 1, but found scalar"),
        (false, "a: {<<: [x]}", LIMIT, "while constructing a mapping (line 1, column 4): expected a mapping for merging, but found scalar"),
        (false, "a: !!int 0b2", LIMIT, "invalid literal for int() with base 2: \"2\" (line 1, column 4)"),
        (false, "a: !<a>x", LIMIT, "while scanning a tag (line 1, column 4): expected ' ', but found 'x' (line 1, column 8)"),
        (false, "a: !<>", LIMIT, "while parsing a tag (line 1, column 4): expected URI, but found '>' (line 1, column 6)"),
        (false, "%TAG ! \n---\na: 1", LIMIT, "while parsing a directive (line 1, column 1): expected URI, but found '\\n' (line 1, column 8)"),
        (false, "a:\n  - b\n  c: d", LIMIT, "while parsing a block collection (line 2, column 3): expected <block end>, but found \"?\" (line 3, column 3)"),
    ];
    for (json, text, limit, want) in cases {
        assert_eq!(refusal(text, json, limit), want, "{text:?}");
    }
}

#[test]
fn texts_of_the_bounds() {
    let y = |text: &str| refusal(text, false, LIMIT);
    let j = |text: &str| refusal(text, true, LIMIT);
    assert_eq!(
        y(&format!("[{}]", "a,".repeat(100_001))),
        "the manifest has more than 100000 nodes"
    );
    assert_eq!(
        j(&format!("[{}1]", "1,".repeat(200_016))),
        "the manifest builds more than 200016 objects"
    );
    assert_eq!(
        j(&"[".repeat(129)),
        "the manifest nests deeper than 128 levels"
    );
    assert_eq!(
        y(&"[".repeat(129)),
        "the manifest nests deeper than 128 levels (line 1, column 129)"
    );
    let block: String = (0..129).map(|i| format!("{}- \n", " ".repeat(i))).collect();
    assert_eq!(
        y(&block),
        "the manifest nests deeper than 128 levels (line 129, column 129)"
    );
    let mut deep = String::from("a0: &a0 [1]\n");
    for i in 1..=512 {
        deep.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
    }
    assert_eq!(y(&deep), "the manifest nests deeper than 512 levels");
    let mut merged = String::from("a0: &a0 {x: 1, y: 2}\n");
    for i in 1..30 {
        merged.push_str(&format!(
            "a{i}: &a{i} {{<<: [*a{}, *a{}], z{i}: 1}}\n",
            i - 1,
            i - 1
        ));
    }
    assert_eq!(y(&merged), "merge keys copy more than 1048576 entries");
    let mut chain = String::from("a0: &a0 {x: 1}\n");
    for i in 1..=513 {
        chain.push_str(&format!("a{i}: &a{i} {{<<: *a{}}}\n", i - 1));
    }
    chain.push_str("<<: *a513\n");
    assert_eq!(
        y(&chain),
        "maximum recursion depth exceeded in flatten_mapping"
    );
    let nan: String = (0..63).map(|i| format!("{i}: x, ")).collect();
    assert_eq!(
        y(&format!("{{{nan}.nan: x}}")),
        "a mapping with 64 or more numeric keys including NaN cannot be ordered reliably"
    );
    assert_eq!(
        j(&format!("{{\"a\": {}}}", "1".repeat(4301))),
        "an integer literal has more than 4300 digits (Python's int() refuses it) at char 6"
    );
    assert_eq!(
        y(&format!("a: {}", "1".repeat(4301))),
        "exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits (line 1, column 4)"
    );
    assert_eq!(
        y(&format!("a: 0x{}", "f".repeat(3600))),
        "an integer exceeds the limit (4300 digits) for integer string conversion"
    );
    assert_eq!(
        y(&format!("a: !!float {}1.5", "1:".repeat(180))),
        "OverflowError: int too large to convert to float (line 1, column 4)"
    );
}

#[test]
fn texts_no_input_reaches() {
    let mark = Mark { line: 0, column: 0 };
    let cases: [(PyError, &str); 11] = [
        (
            InternalError::DanglingObject.into(),
            "internal: dangling object reference",
        ),
        (
            InternalError::DanglingNode.into(),
            "internal: dangling node",
        ),
        (
            InternalError::StateStackUnderflow.into(),
            "internal: parser state stack underflow",
        ),
        (
            InternalError::AliasTokenExpected.into(),
            "internal: alias token expected",
        ),
        (
            InternalError::ScalarTokenExpected.into(),
            "internal: scalar token expected",
        ),
        (
            InternalError::UnexpectedEvent {
                event: "StreamEnd".into(),
            }
            .into(),
            "internal: unexpected event StreamEnd",
        ),
        (
            InternalError::EndOfTokens.into(),
            "unexpected end of the token stream",
        ),
        (
            InternalError::EndOfEvents.into(),
            "unexpected end of the event stream",
        ),
        (TypeError::UnhashableKey.into(), "found unhashable key"),
        (
            ConstructorError::RecursiveNode { mark }.into(),
            "found unconstructable recursive node (line 1, column 1)",
        ),
        (
            ScannerError::new(None, ScanProblem::NoProgress, mark).into(),
            "internal: quoted scalar scan made no progress (line 1, column 1)",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}
