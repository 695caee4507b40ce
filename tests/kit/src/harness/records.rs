//! The agent's records (JSON lines on stderr, or journald's JSON), and
//! their fields.

use std::collections::BTreeMap;

/// A flattened audit record (journal entry or stderr JSON line).
pub type Record = BTreeMap<String, String>;

pub(crate) fn json_value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(items) => {
            // journalctl -o json renders non-UTF-8 fields as byte arrays.
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            if bytes.len() == items.len() {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                v.to_string()
            }
        }
        other => other.to_string(),
    }
}

/// `r[name]`, or `""` if the record lacks it.
pub fn field<'a>(r: &'a Record, name: &str) -> &'a str {
    r.get(name).map(String::as_str).unwrap_or("")
}

/// Does the record have `MESSAGE_ID` `id`?
pub fn is_msg(r: &Record, id: &str) -> bool {
    r.get("MESSAGE_ID").map(String::as_str) == Some(id)
}

/// Parses JSON-object lines; other lines are ignored.
pub fn parse_json_lines(text: &str) -> Vec<Record> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter_map(|v| match v {
            serde_json::Value::Object(m) => Some(
                m.iter()
                    .map(|(k, v)| (k.clone(), json_value_text(v)))
                    .collect::<Record>(),
            ),
            _ => None,
        })
        .collect()
}
