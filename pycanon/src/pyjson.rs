//! `json.loads` as CPython 3.11 runs it (the C scanner, `strict=True`):
//! `NaN`, `Infinity` and `-Infinity` are accepted, integers are exact (up to
//! 4300 digits), other numbers become floats, duplicate keys keep the last
//! value, `\uXXXX` escapes may leave lone surrogates, and a leading BOM is
//! an error.

use crate::pynum::{py_int, PyInt, MAX_STR_DIGITS};
use crate::pyobj::{Heap, Id, Obj, PyStr};
use crate::{Limit, PyError, MAX_DEPTH};

/// What `json.loads` raises.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// `json.JSONDecodeError`: Python's message, `msg: line L column C
    /// (char N)`.
    #[error("{problem}: line {lineno} column {colno} (char {pos})")]
    Decode {
        /// What is wrong (the exception's `msg`).
        problem: JsonProblem,
        /// Where, in characters from the start of the text.
        pos: usize,
        /// The line of `pos`, from 1.
        lineno: usize,
        /// The column of `pos`, from 1.
        colno: usize,
    },
    /// The `ValueError` of `int()` on an integer literal longer than
    /// CPython converts.
    #[error("an integer literal has more than {MAX_STR_DIGITS} digits (Python's int() refuses it) at char {pos}")]
    IntegerTooLong {
        /// Where the literal starts, in characters.
        pos: usize,
    },
}

/// The `msg` of a `json.JSONDecodeError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonProblem {
    /// The text starts with a byte order mark.
    #[error("Unexpected UTF-8 BOM (decode using utf-8-sig)")]
    Bom,
    /// Something follows the document.
    #[error("Extra data")]
    ExtraData,
    /// No value starts here.
    #[error("Expecting value")]
    ExpectingValue,
    /// The string starting here has no closing quote.
    #[error("Unterminated string starting at")]
    UnterminatedString,
    /// A backslash followed by a character that is no escape.
    #[error("Invalid \\escape")]
    InvalidEscape,
    /// A `\u` not followed by four hexadecimal digits.
    #[error("Invalid \\uXXXX escape")]
    InvalidUnicodeEscape,
    /// A control character inside a string (`strict=True`).
    #[error("Invalid control character at")]
    InvalidControlCharacter,
    /// An object key that is not a string.
    #[error("Expecting property name enclosed in double quotes")]
    ExpectingPropertyName,
    /// A key not followed by `:`.
    #[error("Expecting ':' delimiter")]
    ExpectingColon,
    /// Items not separated by `,`.
    #[error("Expecting ',' delimiter")]
    ExpectingComma,
}

struct Parser<'h> {
    s: Vec<char>,
    heap: &'h mut Heap,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Parses `text` into `heap`, returning the top-level object.
pub(crate) fn loads(text: &str, heap: &mut Heap) -> Result<Id, PyError> {
    if text.starts_with('\u{feff}') {
        return Err(JsonError::Decode {
            problem: JsonProblem::Bom,
            pos: 0,
            lineno: 1,
            colno: 1,
        }
        .into());
    }
    let mut p = Parser {
        s: text.chars().collect(),
        heap,
    };
    let start = p.skip_ws(0);
    let (obj, end) = p.value(start, 0)?;
    let end = p.skip_ws(end);
    if end != p.s.len() {
        return Err(p.err(JsonProblem::ExtraData, end));
    }
    Ok(obj)
}

impl Parser<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while self.at(i).is_some_and(is_ws) {
            i += 1;
        }
        i
    }

    /// Python's message: `msg: line L column C (char N)`.
    fn err(&self, msg: JsonProblem, pos: usize) -> PyError {
        let before = self.s.get(..pos).unwrap_or(&self.s);
        let line = 1 + before.iter().filter(|&&c| c == '\n').count();
        let col = pos - before.iter().rposition(|&c| c == '\n').map_or(0, |p| p + 1) + 1;
        JsonError::Decode {
            problem: msg,
            pos,
            lineno: line,
            colno: col,
        }
        .into()
    }

    fn starts_with(&self, i: usize, lit: &str) -> bool {
        lit.chars()
            .enumerate()
            .all(|(k, c)| self.at(i + k) == Some(c))
    }

    fn value(&mut self, i: usize, depth: usize) -> Result<(Id, usize), PyError> {
        match self.at(i) {
            Some('"') => {
                let (s, end) = self.string(i + 1)?;
                Ok((self.heap.alloc(Obj::Str(s))?, end))
            }
            Some('{') => self.object(i + 1, depth + 1),
            Some('[') => self.array(i + 1, depth + 1),
            Some('n') if self.starts_with(i, "null") => Ok((self.heap.alloc(Obj::None)?, i + 4)),
            Some('t') if self.starts_with(i, "true") => {
                Ok((self.heap.alloc(Obj::Bool(true))?, i + 4))
            }
            Some('f') if self.starts_with(i, "false") => {
                Ok((self.heap.alloc(Obj::Bool(false))?, i + 5))
            }
            Some('N') if self.starts_with(i, "NaN") => {
                Ok((self.heap.alloc(Obj::Float(f64::NAN))?, i + 3))
            }
            Some('I') if self.starts_with(i, "Infinity") => {
                Ok((self.heap.alloc(Obj::Float(f64::INFINITY))?, i + 8))
            }
            Some('-') if self.starts_with(i, "-Infinity") => {
                Ok((self.heap.alloc(Obj::Float(f64::NEG_INFINITY))?, i + 9))
            }
            _ => self.number(i),
        }
    }

    fn number(&mut self, start: usize) -> Result<(Id, usize), PyError> {
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        let mut i = start;
        if self.at(i) == Some('-') {
            i += 1;
        }
        match self.at(i) {
            Some('1'..='9') => {
                i += 1;
                while digit(self.at(i)) {
                    i += 1;
                }
            }
            Some('0') => i += 1,
            _ => return Err(self.err(JsonProblem::ExpectingValue, start)),
        }
        let mut is_float = false;
        if self.at(i) == Some('.') && digit(self.at(i + 1)) {
            is_float = true;
            i += 2;
            while digit(self.at(i)) {
                i += 1;
            }
        }
        if matches!(self.at(i), Some('e' | 'E')) {
            let mut j = i + 1;
            if matches!(self.at(j), Some('+' | '-')) {
                j += 1;
            }
            let digits_start = j;
            while digit(self.at(j)) {
                j += 1;
            }
            if j > digits_start {
                is_float = true;
                i = j;
            }
        }
        let text: String = self.s.get(start..i).unwrap_or_default().iter().collect();
        let obj = if is_float {
            let f: f64 = text
                .parse()
                .map_err(|_| self.err(JsonProblem::ExpectingValue, start))?;
            Obj::Float(f)
        } else {
            let cps: Vec<u32> = text.chars().map(u32::from).collect();
            match py_int(&cps, 10) {
                Ok(v) => Obj::Int(v),
                Err(_) => return Err(JsonError::IntegerTooLong { pos: start }.into()),
            }
        };
        debug_assert!(!matches!(obj, Obj::Int(PyInt::Huge)));
        Ok((self.heap.alloc(obj)?, i))
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let mut v = 0u32;
        for k in 0..4 {
            v = (v << 4) | self.at(i + k)?.to_digit(16)?;
        }
        Some(v)
    }

    /// The body of a string starting after its opening quote.
    fn string(&self, start: usize) -> Result<(PyStr, usize), PyError> {
        let mut out = Vec::new();
        let mut i = start;
        loop {
            let Some(c) = self.at(i) else {
                return Err(self.err(JsonProblem::UnterminatedString, start - 1));
            };
            match c {
                '"' => return Ok((PyStr(out), i + 1)),
                '\\' => {
                    let Some(e) = self.at(i + 1) else {
                        return Err(self.err(JsonProblem::UnterminatedString, start - 1));
                    };
                    let simple = match e {
                        '"' => Some('"'),
                        '\\' => Some('\\'),
                        '/' => Some('/'),
                        'b' => Some('\u{8}'),
                        'f' => Some('\u{c}'),
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        _ => None,
                    };
                    if let Some(ch) = simple {
                        out.push(u32::from(ch));
                        i += 2;
                        continue;
                    }
                    if e != 'u' {
                        return Err(self.err(JsonProblem::InvalidEscape, i));
                    }
                    let Some(mut cp) = self.hex4(i + 2) else {
                        return Err(self.err(JsonProblem::InvalidUnicodeEscape, i + 1));
                    };
                    i += 6;
                    if (0xd800..=0xdbff).contains(&cp)
                        && self.at(i) == Some('\\')
                        && self.at(i + 1) == Some('u')
                    {
                        let Some(lo) = self.hex4(i + 2) else {
                            return Err(self.err(JsonProblem::InvalidUnicodeEscape, i + 1));
                        };
                        if (0xdc00..=0xdfff).contains(&lo) {
                            cp = 0x10000 + (((cp - 0xd800) << 10) | (lo - 0xdc00));
                            i += 6;
                        }
                    }
                    out.push(cp);
                }
                c if u32::from(c) < 0x20 => {
                    return Err(self.err(JsonProblem::InvalidControlCharacter, i))
                }
                c => {
                    out.push(u32::from(c));
                    i += 1;
                }
            }
        }
    }

    fn object(&mut self, start: usize, depth: usize) -> Result<(Id, usize), PyError> {
        if depth > MAX_DEPTH {
            return Err(Limit::TooDeep { levels: MAX_DEPTH }.into());
        }
        let dict = self.heap.alloc(Obj::Dict(Box::default()))?;
        let mut i = self.skip_ws(start);
        if self.at(i) == Some('}') {
            return Ok((dict, i + 1));
        }
        loop {
            if self.at(i) != Some('"') {
                return Err(self.err(JsonProblem::ExpectingPropertyName, i));
            }
            let (key, end) = self.string(i + 1)?;
            i = self.skip_ws(end);
            if self.at(i) != Some(':') {
                return Err(self.err(JsonProblem::ExpectingColon, i));
            }
            i = self.skip_ws(i + 1);
            let (value, end) = self.value(i, depth)?;
            let key = self.heap.alloc(Obj::Str(key))?;
            self.heap.dict_set(dict, key, value)?;
            i = self.skip_ws(end);
            match self.at(i) {
                Some('}') => return Ok((dict, i + 1)),
                Some(',') => i = self.skip_ws(i + 1),
                _ => return Err(self.err(JsonProblem::ExpectingComma, i)),
            }
        }
    }

    fn array(&mut self, start: usize, depth: usize) -> Result<(Id, usize), PyError> {
        if depth > MAX_DEPTH {
            return Err(Limit::TooDeep { levels: MAX_DEPTH }.into());
        }
        let list = self.heap.alloc(Obj::List(Vec::new()))?;
        let mut i = self.skip_ws(start);
        if self.at(i) == Some(']') {
            return Ok((list, i + 1));
        }
        loop {
            let (value, end) = self.value(i, depth)?;
            self.heap.push(list, value)?;
            i = self.skip_ws(end);
            match self.at(i) {
                Some(']') => return Ok((list, i + 1)),
                Some(',') => i = self.skip_ws(i + 1),
                _ => return Err(self.err(JsonProblem::ExpectingComma, i)),
            }
        }
    }
}
