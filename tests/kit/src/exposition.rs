//! A checker of the Prometheus text exposition format (version 0.0.4), as
//! the agent writes it (`sigward status --prometheus`, the metrics file):
//! used by the agent's unit tests and the end-to-end suite.

use std::collections::{HashMap, HashSet};

/// Checks the Prometheus text exposition format: `# HELP` and `# TYPE`
/// before a family's samples, sample lines `name{labels} value` with
/// well-formed labels, counters named `*_total`, histogram buckets
/// cumulative and ending with `le="+Inf"` equal to `_count`. Returns the
/// samples, `name{labels}` → value.
pub fn check(text: &str) -> HashMap<String, f64> {
    assert!(
        text.ends_with('\n'),
        "exposition does not end with a newline"
    );
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = HashSet::new();
    let mut samples = HashMap::new();
    let mut buckets: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(helped.insert(name.to_string()), "second HELP: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "unknown type: {line}"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {line}");
            }
            assert!(types.insert(name.into(), kind.into()).is_none(), "{line}");
            continue;
        }
        assert!(!line.starts_with('#'), "stray comment: {line}");
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let name = &line[..name_end];
        assert!(
            name.starts_with("sigward_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(mut l) = rest.strip_prefix('{') {
            loop {
                let eq = l
                    .find("=\"")
                    .unwrap_or_else(|| panic!("bad labels: {line:?}"));
                let key = &l[..eq];
                assert!(
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad label name in {line:?}"
                );
                l = &l[eq + 2..];
                let mut value = String::new();
                let mut chars = l.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        Some((i, '"')) => break i,
                        Some((_, c)) => value.push(c),
                        None => panic!("unterminated label in {line:?}"),
                    }
                };
                labels.push((key.to_string(), value));
                l = &l[end + 1..];
                if let Some(more) = l.strip_prefix(',') {
                    l = more;
                } else if let Some(done) = l.strip_prefix('}') {
                    rest = done;
                    break;
                } else {
                    panic!("bad labels: {line:?}");
                }
            }
        }
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        if name.ends_with("_bucket") {
            let le = labels
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("bucket without le: {line}"));
            buckets
                .entry(family.to_string())
                .or_default()
                .push((le, value));
        }
        let key = if labels.is_empty() {
            name.to_string()
        } else {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!("{name}{{{}}}", l.join(","))
        };
        assert!(
            samples.insert(key, value).is_none(),
            "duplicate sample {line}"
        );
    }
    for (family, bs) in &buckets {
        assert!(
            bs.windows(2).all(|w| w[0].1 <= w[1].1),
            "{family} buckets are not cumulative: {bs:?}"
        );
        let (last_le, last) = bs.last().unwrap();
        assert_eq!(last_le, "+Inf", "{family}: the last bucket is not +Inf");
        assert_eq!(
            samples.get(&format!("{family}_count")),
            Some(last),
            "{family}: +Inf bucket differs from _count"
        );
        let les: Vec<f64> = bs[..bs.len() - 1]
            .iter()
            .map(|(le, _)| le.parse().unwrap())
            .collect();
        assert!(
            les.windows(2).all(|w| w[0] < w[1]),
            "{family}: le not increasing"
        );
    }
    samples
}
