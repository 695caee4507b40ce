//! A line-by-line port of PyYAML 6.0's pure-Python reader, scanner and
//! parser (`yaml/reader.py`, `yaml/scanner.py`, `yaml/parser.py`), which
//! `yaml.safe_load` uses. YAML 1.1 as PyYAML reads it, quirks included:
//! tabs cannot start tokens, `\x85`, `\u2028` and `\u2029` are line breaks,
//! a simple key spans one line of at most 1024 characters, `\uXXXX` escapes
//! may produce lone surrogates, anchors may not be redefined.
//!
//! Every loop consumes input or is bounded by the input length, nesting is
//! bounded by [`MAX_DEPTH`](crate::MAX_DEPTH), and no function recurses on
//! the input.
//!
//! One submodule per upstream file, in the order PyYAML's loader runs
//! them; each uses only those listed before it:
//!
//! * `error`: [`Mark`] and the message format (`yaml/error.py`);
//! * `reader`: the characters and the position in them (`yaml/reader.py`);
//! * `tokens`: what the scanner produces (`yaml/tokens.py`);
//! * `scanner`: characters to tokens (`yaml/scanner.py`);
//! * `events`: what the parser produces (`yaml/events.py`);
//! * `parser`: tokens to events (`yaml/parser.py`).
//!
//! The composer and the resolver, which make nodes of the events, are in
//! `crate::construct`.

mod error;
mod events;
mod parser;
mod reader;
mod scanner;
mod tokens;

pub use error::{
    Mark, ParseContext, ParseProblem, ParserError, ReaderError, ScanContext, ScanProblem,
    ScannerError,
};
pub(crate) use events::Event;
pub(crate) use parser::Parser;
