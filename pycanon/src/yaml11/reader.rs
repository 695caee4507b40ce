//! PyYAML's `Reader` (`yaml/reader.py`) over a `str`: the characters of
//! the stream, the position in them (pointer, line and column) and the
//! look-ahead the scanner reads through. Rust has decoded the text already;
//! what is left of the reader is `check_printable` and the line counting of
//! `forward`, in which `\x85`, `\u2028` and `\u2029` break lines and a
//! BOM takes no column.

use super::error::{Mark, ReaderError};

/// Whether `c` is one of the characters of `set` (Python's `c in set`).
pub(super) fn is_in(c: char, set: &str) -> bool {
    set.contains(c)
}

/// `Reader.NON_PRINTABLE`.
fn is_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

/// The characters of the stream, a NUL appended, and the position in them
/// (only [`Reader::forward`] moves it).
pub(super) struct Reader {
    buf: Vec<char>,
    pub(super) pointer: usize,
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Reader {
    /// The characters of `text`, refused if one is not printable.
    pub(super) fn new(text: &str) -> Result<Reader, ReaderError> {
        let mut buf: Vec<char> = Vec::with_capacity(text.len() + 1);
        for (i, c) in text.chars().enumerate() {
            if !is_printable(c) {
                return Err(ReaderError {
                    character: c,
                    position: i,
                });
            }
            buf.push(c);
        }
        buf.push('\0');
        Ok(Reader {
            buf,
            pointer: 0,
            line: 0,
            column: 0,
        })
    }

    pub(super) fn peek(&self, i: usize) -> char {
        self.buf.get(self.pointer + i).copied().unwrap_or('\0')
    }

    pub(super) fn ch(&self) -> char {
        self.peek(0)
    }

    pub(super) fn prefix(&self, n: usize) -> String {
        let end = (self.pointer + n).min(self.buf.len());
        self.buf
            .get(self.pointer..end)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    pub(super) fn prefix_chars(&self, n: usize) -> Vec<u32> {
        let end = (self.pointer + n).min(self.buf.len());
        self.buf
            .get(self.pointer..end)
            .unwrap_or_default()
            .iter()
            .map(|&c| u32::from(c))
            .collect()
    }

    pub(super) fn forward(&mut self, n: usize) {
        for _ in 0..n {
            let Some(&ch) = self.buf.get(self.pointer) else {
                return;
            };
            self.pointer += 1;
            if is_in(ch, "\n\u{85}\u{2028}\u{2029}") || (ch == '\r' && self.ch() != '\n') {
                self.line += 1;
                self.column = 0;
            } else if ch != '\u{feff}' {
                self.column += 1;
            }
        }
    }

    pub(super) fn mark(&self) -> Mark {
        Mark {
            line: self.line,
            column: self.column,
        }
    }
}
