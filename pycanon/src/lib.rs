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
//!
//! Where Python raises, these functions return a [`PyError`]: one variant
//! per kind of exception (PyYAML's `ReaderError`, `ScannerError`,
//! `ParserError`, `ComposerError` and `ConstructorError` with their marks,
//! `json.JSONDecodeError`, the `ValueError`, `TypeError` and
//! `RecursionError` of `int()`, `float()` and `json.dumps`), plus the
//! bounds of this port ([`Limit`]). Its `Display` is the message the
//! refusal of a manifest shows.

#![deny(missing_docs)]

mod construct;
mod pyjson;
mod pynum;
mod pyobj;
mod yaml11;

use pyobj::{Heap, Id, Obj, PyStr};

pub use construct::{ComposerError, ConstructorError, ScalarError};
pub use pyjson::{JsonError, JsonProblem};
pub use pynum::NumberError;
pub use pyobj::TypeError;
pub use yaml11::{
    Mark, ParseContext, ParseProblem, ParserError, ReaderError, ScanContext, ScanProblem,
    ScannerError,
};

/// Deepest nesting of a document.
pub const MAX_DEPTH: usize = 128;

/// Why a manifest cannot be loaded or written out: the exception Python
/// raises there, or a bound of this port.
///
/// The larger errors are boxed, which keeps a `PyError` at four words: the
/// recursive helpers (`flatten_mapping`, `construct_scalar`, `json.dumps`)
/// return it at each of up to 512 levels, and their stack frames (large in
/// unoptimised builds) grow with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PyError {
    /// `yaml.reader.ReaderError`: a character YAML does not allow.
    #[error(transparent)]
    Reader(#[from] ReaderError),
    /// `yaml.scanner.ScannerError`: characters that make no token.
    #[error(transparent)]
    Scanner(Box<ScannerError>),
    /// `yaml.parser.ParserError`: tokens that make no document.
    #[error(transparent)]
    Parser(Box<ParserError>),
    /// `yaml.composer.ComposerError`: anchors, aliases, documents.
    #[error(transparent)]
    Composer(Box<ComposerError>),
    /// `yaml.constructor.ConstructorError`, and what constructing a value
    /// raises.
    #[error(transparent)]
    Constructor(Box<ConstructorError>),
    /// What `json.loads` raises.
    #[error(transparent)]
    Json(Box<JsonError>),
    /// The `ValueError` of `str(int)` when `json.dumps` writes an integer
    /// past 4300 digits.
    #[error(transparent)]
    Number(Box<NumberError>),
    /// The `TypeError` of `hash()` or `json.dumps`.
    #[error(transparent)]
    Type(#[from] TypeError),
    /// The `ValueError` of `json.dumps` (`check_circular=True`) for an
    /// object that contains itself (YAML aliases can build one).
    #[error("Circular reference detected")]
    CircularReference,
    /// The `RecursionError` Python raises in one of PyYAML's recursive
    /// helpers (bounded here where Python would exhaust its stack).
    #[error("maximum recursion depth exceeded in {function}")]
    Recursion {
        /// The PyYAML function (`construct_scalar`, `flatten_mapping`).
        function: &'static str,
    },
    /// A bound of this port, where Python would only use more memory.
    #[error(transparent)]
    Limit(#[from] Limit),
    /// A broken invariant of this port (a bug, not the input's fault).
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// `From` for the variants that hold their error in a `Box` (keeping
/// [`PyError`], and the stack frames of the recursive helpers that return
/// it, small).
macro_rules! from_boxed {
    ($($variant:ident($error:ty)),* $(,)?) => {
        $(
            impl From<$error> for PyError {
                fn from(e: $error) -> Self {
                    PyError::$variant(Box::new(e))
                }
            }
        )*
    };
}

from_boxed!(
    Scanner(ScannerError),
    Parser(ParserError),
    Composer(ComposerError),
    Constructor(ConstructorError),
    Json(JsonError),
    Number(NumberError),
);

/// The bounds that keep the work on any manifest small.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Limit {
    /// Collections nest deeper than `levels` (the parser, the composer,
    /// `json.loads` and `json.dumps`; the scanner's own check is
    /// [`ScanProblem::TooDeep`], with its mark).
    #[error("the manifest nests deeper than {levels} levels")]
    TooDeep {
        /// The bound.
        levels: usize,
    },
    /// The YAML document has more than `limit` nodes.
    #[error("the manifest has more than {limit} nodes")]
    TooManyNodes {
        /// The bound.
        limit: usize,
    },
    /// Loading builds more than `limit` Python objects.
    #[error("the manifest builds more than {limit} objects")]
    TooManyObjects {
        /// The bound.
        limit: usize,
    },
    /// Merge keys (`<<`) copy or move more than `limit` entries.
    #[error("merge keys copy more than {limit} entries")]
    TooManyMergedEntries {
        /// The bound.
        limit: usize,
    },
    /// The canonical JSON would be longer than `limit` bytes.
    #[error("the canonical form would exceed {limit} bytes")]
    OutputTooLong {
        /// The bound, in bytes of the output.
        limit: usize,
    },
    /// Sorting 64 or more numeric keys that include NaN: CPython's order
    /// then depends on its merge sort, which this port does not copy.
    #[error("a mapping with 64 or more numeric keys including NaN cannot be ordered reliably")]
    UnorderableNanKeys,
}

/// A broken invariant of this port: none of these can happen on any input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InternalError {
    /// An object index outside the heap, or of the wrong type.
    #[error("internal: dangling object reference")]
    DanglingObject,
    /// A node index outside the composed nodes.
    #[error("internal: dangling node")]
    DanglingNode,
    /// The parser popped more states than it pushed.
    #[error("internal: parser state stack underflow")]
    StateStackUnderflow,
    /// The parser checked for an alias token and got another.
    #[error("internal: alias token expected")]
    AliasTokenExpected,
    /// The parser checked for a scalar token and got another.
    #[error("internal: scalar token expected")]
    ScalarTokenExpected,
    /// The composer met an event no node starts with.
    #[error("internal: unexpected event {event}")]
    UnexpectedEvent {
        /// The event, as its `Debug` shows it (the type is internal).
        event: String,
    },
    /// The scanner ran out of tokens before the end of the stream.
    #[error("unexpected end of the token stream")]
    EndOfTokens,
    /// The parser ran out of events before the end of the stream.
    #[error("unexpected end of the event stream")]
    EndOfEvents,
}

/// A document read by [`safe_load`] or [`json_loads`]: Python objects.
pub struct Document {
    heap: Heap,
    root: Id,
}

/// `yaml.safe_load(text)`: `None` for an empty document.
pub fn safe_load(text: &str) -> Result<Option<Document>, PyError> {
    let mut heap = Heap::default();
    let root = construct::safe_load(text, &mut heap)?;
    Ok(root.map(|root| Document { heap, root }))
}

/// `json.loads(text)`.
pub fn json_loads(text: &str) -> Result<Document, PyError> {
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
    pub fn without_keys(mut self, keys: &[&str]) -> Result<Document, PyError> {
        self.root = self.heap.dict_without(self.root, keys)?;
        Ok(self)
    }

    /// Appends `json.dumps(doc, sort_keys=True, separators=(",", ":"),
    /// ensure_ascii=True)` to `out`, refusing to let `out` grow beyond
    /// `limit` bytes. `Err` where Python raises (a key that is not a
    /// string, NaN) or the limit is reached.
    pub fn dump_into(&self, out: &mut String, limit: usize) -> Result<(), PyError> {
        self.heap.dump(self.root, out, limit)
    }
}

/// Appends `s` as `json.dumps` writes a string with `ensure_ascii=True`.
pub fn json_string_into(s: &str, out: &mut String) {
    pyobj::escape_into(&PyStr::from_str(s), out);
}

/// A file name as Python holds it: `os.fsdecode` of its bytes in a UTF-8
/// locale (what `os.walk`, `os.listdir` and `pathlib` return), the
/// `surrogateescape` error handler mapping every byte that is not part of
/// valid UTF-8 (0x80 to 0xFF) to the lone surrogate U+DC80 to U+DCFF.
///
/// Its ordering is Python's `str` ordering (by code point), so that a
/// sorted collection of names is in `sort_keys=True` order; no two byte
/// strings give the same name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FsName(PyStr);

impl FsName {
    /// `os.fsdecode(bytes)` with the file system encoding UTF-8 and its
    /// error handler `surrogateescape`. Python's UTF-8 decoder and Rust's
    /// agree on which bytes are valid (no surrogates, no overlong forms,
    /// nothing past U+10FFFF), and each invalid byte is escaped on its own,
    /// so the result is Python's whatever the grouping of invalid bytes.
    pub fn decode(bytes: &[u8]) -> FsName {
        let mut cps = Vec::with_capacity(bytes.len());
        for chunk in bytes.utf8_chunks() {
            cps.extend(chunk.valid().chars().map(u32::from));
            cps.extend(chunk.invalid().iter().map(|&b| 0xdc00 | u32::from(b)));
        }
        FsName(PyStr(cps))
    }

    /// Appends the name as `json.dumps` writes it with `ensure_ascii=True`:
    /// an escaped byte becomes `\udcXX`.
    pub fn json_into(&self, out: &mut String) {
        pyobj::escape_into(&self.0, out);
    }
}

#[cfg(test)]
mod error_texts;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod fs_names {
    use super::FsName;

    fn json(bytes: &[u8]) -> String {
        let mut out = String::new();
        FsName::decode(bytes).json_into(&mut out);
        out
    }

    // Expected values: `json.dumps(os.fsdecode(b))` in CPython 3.11.
    #[test]
    fn undecodable_bytes_become_lone_surrogates() {
        assert_eq!(json(b"plain.py"), r#""plain.py""#);
        assert_eq!(json(b"caf\xc3\xa9.py"), r#""caf\u00e9.py""#);
        assert_eq!(json(b"a\xffb.py"), r#""a\udcffb.py""#);
        assert_eq!(json(b"\x80"), r#""\udc80""#);
        // A truncated sequence, then ASCII: each byte on its own.
        assert_eq!(json(b"\xe2\x82A"), r#""\udce2\udc82A""#);
        // UTF-8 of a surrogate and an overlong form are not UTF-8.
        assert_eq!(json(b"\xed\xa0\x80"), r#""\udced\udca0\udc80""#);
        assert_eq!(json(b"\xc0\xaf"), r#""\udcc0\udcaf""#);
        // Past U+10FFFF.
        assert_eq!(json(b"\xf4\x90\x80\x80"), r#""\udcf4\udc90\udc80\udc80""#);
        // Astral characters are written as surrogate pairs.
        assert_eq!(json("\u{1f600}".as_bytes()), r#""\ud83d\ude00""#);
    }

    #[test]
    fn names_sort_by_code_point_as_python_does() {
        // sorted([os.fsdecode(b"\xff"), "\ue000", "z", "\U0001f600"])
        let mut v = [
            FsName::decode("\u{1f600}".as_bytes()),
            FsName::decode("\u{e000}".as_bytes()),
            FsName::decode(b"\xff"),
            FsName::decode(b"z"),
        ];
        v.sort();
        let got: Vec<String> = v
            .iter()
            .map(|n| {
                let mut s = String::new();
                n.json_into(&mut s);
                s
            })
            .collect();
        assert_eq!(
            got,
            [r#""z""#, r#""\udcff""#, r#""\ue000""#, r#""\ud83d\ude00""#]
        );
    }
}
