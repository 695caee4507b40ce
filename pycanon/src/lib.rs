//! Python's own readings of YAML and JSON, and its canonical JSON, for
//! verifying AiSOC plugin signatures byte for byte.
//!
//! AiSOC signs `json.dumps({"files": ..., "manifest": m}, sort_keys=True,
//! separators=(",", ":"), ensure_ascii=True)` where `m` is what PyYAML's
//! `yaml.safe_load` (or CPython's `json.loads`) made of the manifest. A
//! signature verifies only if these bytes are reproduced exactly, including
//! YAML 1.1's typing (`on` is true, `0o17` is a string, `1_000` is an
//! integer), Python's float `repr`, big integers, merge keys, duplicate
//! keys (the last wins) and lone surrogates. No maintained Rust crate reads
//! YAML as PyYAML does, so this crate is a port of the Python code, written
//! by hand, each module saying which Python source it follows:
//!
//! * `yaml11`: PyYAML's reader, scanner and parser;
//! * `construct`: PyYAML's `SafeConstructor` (and its resolver);
//! * `pyjson`: CPython's `json.loads`;
//! * `pynum`: Python's `int` and `float` (parsing and `repr`);
//! * `pyobj`: the objects, and `json.dumps`.
//!
//! Every loop consumes input or is bounded by it, nesting is bounded by
//! [`MAX_DEPTH`], and nothing recurses on the input.

#![deny(missing_docs)]

mod construct;
mod pyjson;
mod pynum;
mod pyobj;
mod yaml11;

use pyobj::{Heap, Id, Obj, PyStr};

/// Deepest nesting of a document.
pub const MAX_DEPTH: usize = 128;

/// A document read by [`safe_load`] or [`json_loads`]: Python objects.
pub struct Document {
    heap: Heap,
    root: Id,
}

/// `yaml.safe_load(text)`: `None` for an empty document.
pub fn safe_load(text: &str) -> Result<Option<Document>, String> {
    let mut heap = Heap::default();
    let root = construct::safe_load(text, &mut heap)?;
    Ok(root.map(|root| Document { heap, root }))
}

/// `json.loads(text)`.
pub fn json_loads(text: &str) -> Result<Document, String> {
    let mut heap = Heap::default();
    let root = pyjson::loads(text, &mut heap)?;
    Ok(Document { heap, root })
}

impl Document {
    /// Whether the document is a mapping (a Python `dict`).
    pub fn is_dict(&self) -> bool {
        matches!(self.heap.get(self.root), Some(Obj::Dict(_)))
    }

    /// The mapping without `keys` (`{k: v for k, v in d.items() if k not in
    /// keys}`); `Err` if the document is not a mapping.
    pub fn without_keys(mut self, keys: &[&str]) -> Result<Document, String> {
        self.root = self.heap.dict_without(self.root, keys)?;
        Ok(self)
    }

    /// Appends `json.dumps(doc, sort_keys=True, separators=(",", ":"),
    /// ensure_ascii=True)` to `out`, refusing to let `out` grow beyond
    /// `limit` bytes. `Err` where Python raises (a key that is not a
    /// string, NaN) or the limit is reached.
    pub fn dump_into(&self, out: &mut String, limit: usize) -> Result<(), String> {
        self.heap.dump(self.root, out, limit)
    }
}

/// Appends `s` as `json.dumps` writes a string with `ensure_ascii=True`.
pub fn json_string_into(s: &str, out: &mut String) {
    pyobj::escape_into(&PyStr::from_str(s), out);
}
