//! PyYAML's `Scanner` (`yaml/scanner.py`): characters to tokens, simple
//! keys, indentation, and the scanning of directives, anchors, tags and
//! the three kinds of scalars.
//!
//! This file is longer than the project's 600 lines because it mirrors
//! `scanner.py`, one class, function for function and in the same order
//! (public methods, simple keys, indentation, fetchers, checkers,
//! scanners), so that it can be checked against upstream side by side.
//! Its parts call each other both ways (the fetchers call the scanners;
//! the scanners set `allow_simple_key` and read the indentation and the
//! flow level), so cutting the class across files would only spread one
//! state machine over several.

use std::collections::{BTreeMap, VecDeque};
use std::ops::{Deref, DerefMut};

use super::error::{Mark, ReaderError, ScanContext, ScanProblem, ScannerError};
use super::reader::{is_in, Reader};
use super::tokens::{DirectiveValue, Tok, Token};
use crate::pyobj::PyStr;
use crate::MAX_DEPTH;

const BREAKS: &str = "\r\n\u{85}\u{2028}\u{2029}";
const NUL_BREAKS: &str = "\0\r\n\u{85}\u{2028}\u{2029}";
const NUL_SPACE_BREAKS: &str = "\0 \r\n\u{85}\u{2028}\u{2029}";
const NUL_BLANK_BREAKS: &str = "\0 \t\r\n\u{85}\u{2028}\u{2029}";

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

#[derive(Clone, Copy, Debug)]
struct SimpleKey {
    token_number: usize,
    required: bool,
    index: usize,
    line: usize,
    column: usize,
    mark: Mark,
}

/// Reader + Scanner: PyYAML's loader mixes the reader's methods into the
/// scanner, and so does [`Deref`] here.
pub(super) struct Scanner {
    reader: Reader,
    done: bool,
    flow_level: usize,
    tokens: VecDeque<Token>,
    tokens_taken: usize,
    indent: isize,
    indents: Vec<isize>,
    allow_simple_key: bool,
    possible_simple_keys: BTreeMap<usize, SimpleKey>,
}

type R<T> = Result<T, ScannerError>;

/// What `scan_tag_handle`, `scan_tag_uri` and `scan_uri_escapes` read a
/// part of (PyYAML's `name` argument, `"directive"` or `"tag"`).
#[derive(Clone, Copy, Debug)]
enum Part {
    Directive,
    Tag,
}

impl Part {
    /// `"while scanning a %s" % name`.
    fn scanning(self, start: Mark) -> ScanContext {
        match self {
            Part::Directive => ScanContext::Directive(start),
            Part::Tag => ScanContext::Tag(start),
        }
    }

    /// `"while parsing a %s" % name`.
    fn parsing(self, start: Mark) -> ScanContext {
        match self {
            Part::Directive => ScanContext::DirectiveUri(start),
            Part::Tag => ScanContext::TagUri(start),
        }
    }
}

impl Deref for Scanner {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        &self.reader
    }
}

impl DerefMut for Scanner {
    fn deref_mut(&mut self) -> &mut Reader {
        &mut self.reader
    }
}

impl Scanner {
    pub(super) fn new(text: &str) -> Result<Scanner, ReaderError> {
        let mut s = Scanner {
            reader: Reader::new(text)?,
            done: false,
            flow_level: 0,
            tokens: VecDeque::new(),
            tokens_taken: 0,
            indent: -1,
            indents: Vec::new(),
            allow_simple_key: true,
            possible_simple_keys: BTreeMap::new(),
        };
        let mark = s.mark();
        s.tokens.push_back(Token {
            tok: Tok::StreamStart,
            start: mark,
            end: mark,
        });
        Ok(s)
    }

    // ---- Public ----

    fn check_more(&mut self) -> R<()> {
        while self.need_more_tokens()? {
            self.fetch_more_tokens()?;
        }
        Ok(())
    }

    pub(super) fn peek_token(&mut self) -> R<Option<&Token>> {
        self.check_more()?;
        Ok(self.tokens.front())
    }

    pub(super) fn get_token(&mut self) -> R<Option<Token>> {
        self.check_more()?;
        let t = self.tokens.pop_front();
        if t.is_some() {
            self.tokens_taken += 1;
        }
        Ok(t)
    }

    fn need_more_tokens(&mut self) -> R<bool> {
        if self.done {
            return Ok(false);
        }
        if self.tokens.is_empty() {
            return Ok(true);
        }
        self.stale_possible_simple_keys()?;
        Ok(self.next_possible_simple_key() == Some(self.tokens_taken))
    }

    fn push(&mut self, tok: Tok, start: Mark, end: Mark) {
        self.tokens.push_back(Token { tok, start, end });
    }

    fn fetch_more_tokens(&mut self) -> R<()> {
        self.scan_to_next_token();
        self.stale_possible_simple_keys()?;
        self.unwind_indent(self.column as isize);
        let ch = self.ch();
        if ch == '\0' {
            return self.fetch_stream_end();
        }
        if ch == '%' && self.check_directive() {
            return self.fetch_directive();
        }
        if ch == '-' && self.check_document_start() {
            return self.fetch_document_indicator(Tok::DocumentStart);
        }
        if ch == '.' && self.check_document_end() {
            return self.fetch_document_indicator(Tok::DocumentEnd);
        }
        match ch {
            '[' => return self.fetch_flow_collection_start(Tok::FlowSequenceStart),
            '{' => return self.fetch_flow_collection_start(Tok::FlowMappingStart),
            ']' => return self.fetch_flow_collection_end(Tok::FlowSequenceEnd),
            '}' => return self.fetch_flow_collection_end(Tok::FlowMappingEnd),
            ',' => return self.fetch_flow_entry(),
            _ => {}
        }
        if ch == '-' && self.check_block_entry() {
            return self.fetch_block_entry();
        }
        if ch == '?' && self.check_key() {
            return self.fetch_key();
        }
        if ch == ':' && self.check_value() {
            return self.fetch_value();
        }
        match ch {
            '*' => return self.fetch_alias(),
            '&' => return self.fetch_anchor(),
            '!' => return self.fetch_tag(),
            '|' if self.flow_level == 0 => return self.fetch_block_scalar(false),
            '>' if self.flow_level == 0 => return self.fetch_block_scalar(true),
            '\'' => return self.fetch_flow_scalar(false),
            '"' => return self.fetch_flow_scalar(true),
            _ => {}
        }
        if self.check_plain() {
            return self.fetch_plain();
        }
        Err(ScannerError::new(
            Some(ScanContext::NextToken),
            ScanProblem::CannotStartToken { found: ch },
            self.mark(),
        ))
    }

    // ---- Simple keys ----

    fn next_possible_simple_key(&self) -> Option<usize> {
        self.possible_simple_keys
            .values()
            .map(|k| k.token_number)
            .min()
    }

    fn stale_possible_simple_keys(&mut self) -> R<()> {
        let levels: Vec<usize> = self.possible_simple_keys.keys().copied().collect();
        for level in levels {
            let Some(key) = self.possible_simple_keys.get(&level).copied() else {
                continue;
            };
            if key.line != self.line || self.pointer.saturating_sub(key.index) > 1024 {
                if key.required {
                    return Err(ScannerError::new(
                        Some(ScanContext::SimpleKey(key.mark)),
                        ScanProblem::MissingColon,
                        self.mark(),
                    ));
                }
                self.possible_simple_keys.remove(&level);
            }
        }
        Ok(())
    }

    fn save_possible_simple_key(&mut self) -> R<()> {
        let required = self.flow_level == 0 && self.indent == self.column as isize;
        if self.allow_simple_key {
            self.remove_possible_simple_key()?;
            let token_number = self.tokens_taken + self.tokens.len();
            let key = SimpleKey {
                token_number,
                required,
                index: self.pointer,
                line: self.line,
                column: self.column,
                mark: self.mark(),
            };
            self.possible_simple_keys.insert(self.flow_level, key);
        }
        Ok(())
    }

    fn remove_possible_simple_key(&mut self) -> R<()> {
        if let Some(key) = self.possible_simple_keys.get(&self.flow_level) {
            if key.required {
                return Err(ScannerError::new(
                    Some(ScanContext::SimpleKey(key.mark)),
                    ScanProblem::MissingColon,
                    self.mark(),
                ));
            }
            self.possible_simple_keys.remove(&self.flow_level);
        }
        Ok(())
    }

    // ---- Indentation ----

    fn unwind_indent(&mut self, column: isize) {
        if self.flow_level > 0 {
            return;
        }
        while self.indent > column {
            let mark = self.mark();
            self.indent = self.indents.pop().unwrap_or(-1);
            self.push(Tok::BlockEnd, mark, mark);
        }
    }

    fn add_indent(&mut self, column: isize) -> R<bool> {
        if self.indent < column {
            if self.indents.len() >= MAX_DEPTH {
                return Err(ScannerError::new(
                    None,
                    ScanProblem::TooDeep { levels: MAX_DEPTH },
                    self.mark(),
                ));
            }
            self.indents.push(self.indent);
            self.indent = column;
            return Ok(true);
        }
        Ok(false)
    }

    // ---- Fetchers ----

    fn fetch_stream_end(&mut self) -> R<()> {
        self.unwind_indent(-1);
        self.remove_possible_simple_key()?;
        self.allow_simple_key = false;
        self.possible_simple_keys.clear();
        let mark = self.mark();
        self.push(Tok::StreamEnd, mark, mark);
        self.done = true;
        Ok(())
    }

    fn fetch_directive(&mut self) -> R<()> {
        self.unwind_indent(-1);
        self.remove_possible_simple_key()?;
        self.allow_simple_key = false;
        let t = self.scan_directive()?;
        self.tokens.push_back(t);
        Ok(())
    }

    fn fetch_document_indicator(&mut self, tok: Tok) -> R<()> {
        self.unwind_indent(-1);
        self.remove_possible_simple_key()?;
        self.allow_simple_key = false;
        let start = self.mark();
        self.forward(3);
        let end = self.mark();
        self.push(tok, start, end);
        Ok(())
    }

    fn fetch_flow_collection_start(&mut self, tok: Tok) -> R<()> {
        self.save_possible_simple_key()?;
        if self.flow_level >= MAX_DEPTH {
            return Err(ScannerError::new(
                None,
                ScanProblem::TooDeep { levels: MAX_DEPTH },
                self.mark(),
            ));
        }
        self.flow_level += 1;
        self.allow_simple_key = true;
        let start = self.mark();
        self.forward(1);
        let end = self.mark();
        self.push(tok, start, end);
        Ok(())
    }

    fn fetch_flow_collection_end(&mut self, tok: Tok) -> R<()> {
        self.remove_possible_simple_key()?;
        // Python lets flow_level go negative on a stray ']' or '}'; the
        // parser then rejects the token. Saturating keeps the same outcome.
        self.flow_level = self.flow_level.saturating_sub(1);
        self.allow_simple_key = false;
        let start = self.mark();
        self.forward(1);
        let end = self.mark();
        self.push(tok, start, end);
        Ok(())
    }

    fn fetch_flow_entry(&mut self) -> R<()> {
        self.allow_simple_key = true;
        self.remove_possible_simple_key()?;
        let start = self.mark();
        self.forward(1);
        let end = self.mark();
        self.push(Tok::FlowEntry, start, end);
        Ok(())
    }

    fn fetch_block_entry(&mut self) -> R<()> {
        if self.flow_level == 0 {
            if !self.allow_simple_key {
                return Err(ScannerError::new(
                    None,
                    ScanProblem::SequenceEntryNotAllowed,
                    self.mark(),
                ));
            }
            if self.add_indent(self.column as isize)? {
                let mark = self.mark();
                self.push(Tok::BlockSequenceStart, mark, mark);
            }
        }
        self.allow_simple_key = true;
        self.remove_possible_simple_key()?;
        let start = self.mark();
        self.forward(1);
        let end = self.mark();
        self.push(Tok::BlockEntry, start, end);
        Ok(())
    }

    fn fetch_key(&mut self) -> R<()> {
        if self.flow_level == 0 {
            if !self.allow_simple_key {
                return Err(ScannerError::new(
                    None,
                    ScanProblem::MappingKeyNotAllowed,
                    self.mark(),
                ));
            }
            if self.add_indent(self.column as isize)? {
                let mark = self.mark();
                self.push(Tok::BlockMappingStart, mark, mark);
            }
        }
        self.allow_simple_key = self.flow_level == 0;
        self.remove_possible_simple_key()?;
        let start = self.mark();
        self.forward(1);
        let end = self.mark();
        self.push(Tok::Key, start, end);
        Ok(())
    }

    fn fetch_value(&mut self) -> R<()> {
        if let Some(key) = self.possible_simple_keys.remove(&self.flow_level) {
            let at = key
                .token_number
                .saturating_sub(self.tokens_taken)
                .min(self.tokens.len());
            self.tokens.insert(
                at,
                Token {
                    tok: Tok::Key,
                    start: key.mark,
                    end: key.mark,
                },
            );
            if self.flow_level == 0 && self.add_indent(key.column as isize)? {
                self.tokens.insert(
                    at,
                    Token {
                        tok: Tok::BlockMappingStart,
                        start: key.mark,
                        end: key.mark,
                    },
                );
            }
            self.allow_simple_key = false;
        } else {
            if self.flow_level == 0 {
                if !self.allow_simple_key {
                    return Err(ScannerError::new(
                        None,
                        ScanProblem::MappingValueNotAllowed,
                        self.mark(),
                    ));
                }
                if self.add_indent(self.column as isize)? {
                    let mark = self.mark();
                    self.push(Tok::BlockMappingStart, mark, mark);
                }
            }
            self.allow_simple_key = self.flow_level == 0;
            self.remove_possible_simple_key()?;
        }
        let start = self.mark();
        self.forward(1);
        let end = self.mark();
        self.push(Tok::Value, start, end);
        Ok(())
    }

    fn fetch_alias(&mut self) -> R<()> {
        self.save_possible_simple_key()?;
        self.allow_simple_key = false;
        let t = self.scan_anchor(true)?;
        self.tokens.push_back(t);
        Ok(())
    }

    fn fetch_anchor(&mut self) -> R<()> {
        self.save_possible_simple_key()?;
        self.allow_simple_key = false;
        let t = self.scan_anchor(false)?;
        self.tokens.push_back(t);
        Ok(())
    }

    fn fetch_tag(&mut self) -> R<()> {
        self.save_possible_simple_key()?;
        self.allow_simple_key = false;
        let t = self.scan_tag()?;
        self.tokens.push_back(t);
        Ok(())
    }

    fn fetch_block_scalar(&mut self, folded: bool) -> R<()> {
        self.allow_simple_key = true;
        self.remove_possible_simple_key()?;
        let t = self.scan_block_scalar(folded)?;
        self.tokens.push_back(t);
        Ok(())
    }

    fn fetch_flow_scalar(&mut self, double: bool) -> R<()> {
        self.save_possible_simple_key()?;
        self.allow_simple_key = false;
        let t = self.scan_flow_scalar(double)?;
        self.tokens.push_back(t);
        Ok(())
    }

    fn fetch_plain(&mut self) -> R<()> {
        self.save_possible_simple_key()?;
        self.allow_simple_key = false;
        let t = self.scan_plain()?;
        self.tokens.push_back(t);
        Ok(())
    }

    // ---- Checkers ----

    fn check_directive(&self) -> bool {
        self.column == 0
    }

    fn check_document_start(&self) -> bool {
        self.column == 0 && self.prefix(3) == "---" && is_in(self.peek(3), NUL_BLANK_BREAKS)
    }

    fn check_document_end(&self) -> bool {
        self.column == 0 && self.prefix(3) == "..." && is_in(self.peek(3), NUL_BLANK_BREAKS)
    }

    fn check_block_entry(&self) -> bool {
        is_in(self.peek(1), NUL_BLANK_BREAKS)
    }

    fn check_key(&self) -> bool {
        self.flow_level > 0 || is_in(self.peek(1), NUL_BLANK_BREAKS)
    }

    fn check_value(&self) -> bool {
        self.flow_level > 0 || is_in(self.peek(1), NUL_BLANK_BREAKS)
    }

    fn check_plain(&self) -> bool {
        let ch = self.ch();
        !is_in(ch, "\0 \t\r\n\u{85}\u{2028}\u{2029}-?:,[]{}#&*!|>'\"%@`")
            || (!is_in(self.peek(1), NUL_BLANK_BREAKS)
                && (ch == '-' || (self.flow_level == 0 && is_in(ch, "?:"))))
    }

    // ---- Scanners ----

    fn scan_to_next_token(&mut self) {
        if self.pointer == 0 && self.ch() == '\u{feff}' {
            self.forward(1);
        }
        loop {
            while self.ch() == ' ' {
                self.forward(1);
            }
            if self.ch() == '#' {
                while !is_in(self.ch(), NUL_BREAKS) {
                    self.forward(1);
                }
            }
            if self.scan_line_break().is_some() {
                if self.flow_level == 0 {
                    self.allow_simple_key = true;
                }
            } else {
                return;
            }
        }
    }

    fn scan_directive(&mut self) -> R<Token> {
        let start = self.mark();
        self.forward(1);
        let name = self.scan_directive_name(start)?;
        let mut value = None;
        let end;
        if name == "YAML" {
            value = Some(self.scan_yaml_directive_value(start)?);
            end = self.mark();
        } else if name == "TAG" {
            value = Some(self.scan_tag_directive_value(start)?);
            end = self.mark();
        } else {
            end = self.mark();
            while !is_in(self.ch(), NUL_BREAKS) {
                self.forward(1);
            }
        }
        self.scan_directive_ignored_line(start)?;
        Ok(Token {
            tok: Tok::Directive { name, value },
            start,
            end,
        })
    }

    fn directive_err(&self, start: Mark, problem: ScanProblem) -> ScannerError {
        ScannerError::new(Some(ScanContext::Directive(start)), problem, self.mark())
    }

    fn scan_directive_name(&mut self, start: Mark) -> R<String> {
        let mut length = 0;
        while is_word(self.peek(length)) {
            length += 1;
        }
        if length == 0 {
            return Err(self.directive_err(
                start,
                ScanProblem::ExpectedAlphanumeric {
                    found: self.peek(length),
                },
            ));
        }
        let value = self.prefix(length);
        self.forward(length);
        if !is_in(self.ch(), NUL_SPACE_BREAKS) {
            return Err(self.directive_err(
                start,
                ScanProblem::ExpectedAlphanumeric { found: self.ch() },
            ));
        }
        Ok(value)
    }

    fn scan_yaml_directive_value(&mut self, start: Mark) -> R<DirectiveValue> {
        while self.ch() == ' ' {
            self.forward(1);
        }
        let major = self.scan_yaml_directive_number(start)?;
        if self.ch() != '.' {
            return Err(
                self.directive_err(start, ScanProblem::ExpectedDigitOrDot { found: self.ch() })
            );
        }
        self.forward(1);
        let minor = self.scan_yaml_directive_number(start)?;
        if !is_in(self.ch(), NUL_SPACE_BREAKS) {
            return Err(self.directive_err(
                start,
                ScanProblem::ExpectedDigitOrSpace { found: self.ch() },
            ));
        }
        Ok(DirectiveValue::Yaml(major, minor))
    }

    fn scan_yaml_directive_number(&mut self, start: Mark) -> R<u64> {
        if !self.ch().is_ascii_digit() {
            return Err(self.directive_err(start, ScanProblem::ExpectedDigit { found: self.ch() }));
        }
        let mut length = 0;
        while self.peek(length).is_ascii_digit() {
            length += 1;
        }
        let text = self.prefix(length);
        self.forward(length);
        // Only "== 1" matters to the parser; saturate absurd lengths.
        Ok(text.parse().unwrap_or(u64::MAX))
    }

    fn scan_tag_directive_value(&mut self, start: Mark) -> R<DirectiveValue> {
        while self.ch() == ' ' {
            self.forward(1);
        }
        let handle = self.scan_tag_handle(Part::Directive, start)?;
        if self.ch() != ' ' {
            return Err(self.directive_err(start, ScanProblem::ExpectedSpace { found: self.ch() }));
        }
        while self.ch() == ' ' {
            self.forward(1);
        }
        let prefix = self.scan_tag_uri(Part::Directive, start)?;
        if !is_in(self.ch(), NUL_SPACE_BREAKS) {
            return Err(self.directive_err(start, ScanProblem::ExpectedSpace { found: self.ch() }));
        }
        Ok(DirectiveValue::Tag(handle, prefix))
    }

    fn scan_directive_ignored_line(&mut self, start: Mark) -> R<()> {
        while self.ch() == ' ' {
            self.forward(1);
        }
        if self.ch() == '#' {
            while !is_in(self.ch(), NUL_BREAKS) {
                self.forward(1);
            }
        }
        if !is_in(self.ch(), NUL_BREAKS) {
            return Err(self.directive_err(
                start,
                ScanProblem::ExpectedCommentOrLineBreak { found: self.ch() },
            ));
        }
        self.scan_line_break();
        Ok(())
    }

    fn scan_anchor(&mut self, alias: bool) -> R<Token> {
        let start = self.mark();
        let context = if alias {
            ScanContext::Alias(start)
        } else {
            ScanContext::Anchor(start)
        };
        self.forward(1);
        let mut length = 0;
        while is_word(self.peek(length)) {
            length += 1;
        }
        let err = |s: &Self, c: char| {
            ScannerError::new(
                Some(context),
                ScanProblem::ExpectedAlphanumeric { found: c },
                s.mark(),
            )
        };
        if length == 0 {
            return Err(err(self, self.peek(length)));
        }
        let value = self.prefix(length);
        self.forward(length);
        if !is_in(self.ch(), "\0 \t\r\n\u{85}\u{2028}\u{2029}?:,]}%@`") {
            return Err(err(self, self.ch()));
        }
        let end = self.mark();
        Ok(Token {
            tok: if alias {
                Tok::Alias(value)
            } else {
                Tok::Anchor(value)
            },
            start,
            end,
        })
    }

    fn scan_tag(&mut self) -> R<Token> {
        let start = self.mark();
        let mut ch = self.peek(1);
        let handle;
        let suffix;
        if ch == '<' {
            handle = None;
            self.forward(2);
            suffix = self.scan_tag_uri(Part::Tag, start)?;
            if self.ch() != '>' {
                return Err(ScannerError::new(
                    Some(ScanContext::TagUri(start)),
                    ScanProblem::ExpectedClosingAngle { found: self.ch() },
                    self.mark(),
                ));
            }
            self.forward(1);
        } else if is_in(ch, NUL_BLANK_BREAKS) {
            handle = None;
            suffix = "!".to_string();
            self.forward(1);
        } else {
            let mut length = 1;
            let mut use_handle = false;
            while !is_in(ch, NUL_SPACE_BREAKS) {
                if ch == '!' {
                    use_handle = true;
                    break;
                }
                length += 1;
                ch = self.peek(length);
            }
            if use_handle {
                handle = Some(self.scan_tag_handle(Part::Tag, start)?);
            } else {
                handle = Some("!".to_string());
                self.forward(1);
            }
            suffix = self.scan_tag_uri(Part::Tag, start)?;
        }
        if !is_in(self.ch(), NUL_SPACE_BREAKS) {
            return Err(ScannerError::new(
                Some(ScanContext::Tag(start)),
                ScanProblem::ExpectedSpace { found: self.ch() },
                self.mark(),
            ));
        }
        let end = self.mark();
        Ok(Token {
            tok: Tok::Tag(handle, suffix),
            start,
            end,
        })
    }

    fn scan_block_scalar(&mut self, folded: bool) -> R<Token> {
        let mut chunks: Vec<u32> = Vec::new();
        let start = self.mark();
        self.forward(1);
        let (chomping, increment) = self.scan_block_scalar_indicators(start)?;
        self.scan_block_scalar_ignored_line(start)?;
        let mut min_indent = self.indent + 1;
        if min_indent < 1 {
            min_indent = 1;
        }
        let indent: isize;
        let mut breaks: Vec<char>;
        let mut end;
        match increment {
            None => {
                let (b, max_indent, e) = self.scan_block_scalar_indentation();
                breaks = b;
                end = e;
                indent = min_indent.max(max_indent as isize);
            }
            Some(inc) => {
                indent = min_indent + inc as isize - 1;
                let (b, e) = self.scan_block_scalar_breaks(indent);
                breaks = b;
                end = e;
            }
        }
        let mut line_break: Option<char> = None;
        while self.column as isize == indent && self.ch() != '\0' {
            chunks.extend(breaks.iter().map(|&c| u32::from(c)));
            let leading_non_space = !is_in(self.ch(), " \t");
            let mut length = 0;
            while !is_in(self.peek(length), NUL_BREAKS) {
                length += 1;
            }
            chunks.extend(self.prefix_chars(length));
            self.forward(length);
            line_break = self.scan_line_break();
            let (b, e) = self.scan_block_scalar_breaks(indent);
            breaks = b;
            end = e;
            if self.column as isize == indent && self.ch() != '\0' {
                if folded
                    && line_break == Some('\n')
                    && leading_non_space
                    && !is_in(self.ch(), " \t")
                {
                    if breaks.is_empty() {
                        chunks.push(u32::from(' '));
                    }
                } else if let Some(lb) = line_break {
                    chunks.push(u32::from(lb));
                }
            } else {
                break;
            }
        }
        if chomping != Some(false) {
            if let Some(lb) = line_break {
                chunks.push(u32::from(lb));
            }
        }
        if chomping == Some(true) {
            chunks.extend(breaks.iter().map(|&c| u32::from(c)));
        }
        Ok(Token {
            tok: Tok::Scalar {
                value: PyStr(chunks),
                plain: false,
                style: Some(if folded { '>' } else { '|' }),
            },
            start,
            end,
        })
    }

    fn block_scalar_err(&self, start: Mark, problem: ScanProblem) -> ScannerError {
        ScannerError::new(Some(ScanContext::BlockScalar(start)), problem, self.mark())
    }

    fn scan_block_scalar_indicators(&mut self, start: Mark) -> R<(Option<bool>, Option<u32>)> {
        let mut chomping = None;
        let mut increment = None;
        let mut ch = self.ch();
        if ch == '+' || ch == '-' {
            chomping = Some(ch == '+');
            self.forward(1);
            ch = self.ch();
            if let Some(d) = ch.to_digit(10) {
                if d == 0 {
                    return Err(self.block_scalar_err(start, ScanProblem::ZeroIndentation));
                }
                increment = Some(d);
                self.forward(1);
            }
        } else if let Some(d) = ch.to_digit(10) {
            if d == 0 {
                return Err(self.block_scalar_err(start, ScanProblem::ZeroIndentation));
            }
            increment = Some(d);
            self.forward(1);
            ch = self.ch();
            if ch == '+' || ch == '-' {
                chomping = Some(ch == '+');
                self.forward(1);
            }
        }
        if !is_in(self.ch(), NUL_SPACE_BREAKS) {
            return Err(self.block_scalar_err(
                start,
                ScanProblem::ExpectedBlockIndicators { found: self.ch() },
            ));
        }
        Ok((chomping, increment))
    }

    fn scan_block_scalar_ignored_line(&mut self, start: Mark) -> R<()> {
        while self.ch() == ' ' {
            self.forward(1);
        }
        if self.ch() == '#' {
            while !is_in(self.ch(), NUL_BREAKS) {
                self.forward(1);
            }
        }
        if !is_in(self.ch(), NUL_BREAKS) {
            return Err(self.block_scalar_err(
                start,
                ScanProblem::ExpectedCommentOrLineBreak { found: self.ch() },
            ));
        }
        self.scan_line_break();
        Ok(())
    }

    fn scan_block_scalar_indentation(&mut self) -> (Vec<char>, usize, Mark) {
        let mut chunks = Vec::new();
        let mut max_indent = 0;
        let mut end = self.mark();
        while is_in(self.ch(), " \r\n\u{85}\u{2028}\u{2029}") {
            if self.ch() != ' ' {
                if let Some(b) = self.scan_line_break() {
                    chunks.push(b);
                }
                end = self.mark();
            } else {
                self.forward(1);
                if self.column > max_indent {
                    max_indent = self.column;
                }
            }
        }
        (chunks, max_indent, end)
    }

    fn scan_block_scalar_breaks(&mut self, indent: isize) -> (Vec<char>, Mark) {
        let mut chunks = Vec::new();
        let mut end = self.mark();
        while (self.column as isize) < indent && self.ch() == ' ' {
            self.forward(1);
        }
        while is_in(self.ch(), BREAKS) {
            if let Some(b) = self.scan_line_break() {
                chunks.push(b);
            }
            end = self.mark();
            while (self.column as isize) < indent && self.ch() == ' ' {
                self.forward(1);
            }
        }
        (chunks, end)
    }

    fn scan_flow_scalar(&mut self, double: bool) -> R<Token> {
        let mut chunks: Vec<u32> = Vec::new();
        let start = self.mark();
        let quote = self.ch();
        self.forward(1);
        self.scan_flow_scalar_non_spaces(double, start, &mut chunks)?;
        while self.ch() != quote {
            let before = self.pointer;
            self.scan_flow_scalar_spaces(start, &mut chunks)?;
            self.scan_flow_scalar_non_spaces(double, start, &mut chunks)?;
            if self.pointer == before {
                return Err(ScannerError::new(
                    None,
                    ScanProblem::NoProgress,
                    self.mark(),
                ));
            }
        }
        self.forward(1);
        let end = self.mark();
        Ok(Token {
            tok: Tok::Scalar {
                value: PyStr(chunks),
                plain: false,
                style: Some(if double { '"' } else { '\'' }),
            },
            start,
            end,
        })
    }

    fn quoted_err(&self, start: Mark, problem: ScanProblem) -> ScannerError {
        ScannerError::new(
            Some(ScanContext::DoubleQuotedScalar(start)),
            problem,
            self.mark(),
        )
    }

    fn scan_flow_scalar_non_spaces(
        &mut self,
        double: bool,
        start: Mark,
        chunks: &mut Vec<u32>,
    ) -> R<()> {
        loop {
            let mut length = 0;
            while !is_in(self.peek(length), "'\"\\\0 \t\r\n\u{85}\u{2028}\u{2029}") {
                length += 1;
            }
            if length > 0 {
                chunks.extend(self.prefix_chars(length));
                self.forward(length);
            }
            let ch = self.ch();
            if !double && ch == '\'' && self.peek(1) == '\'' {
                chunks.push(u32::from('\''));
                self.forward(2);
            } else if (double && ch == '\'') || (!double && (ch == '"' || ch == '\\')) {
                chunks.push(u32::from(ch));
                self.forward(1);
            } else if double && ch == '\\' {
                self.forward(1);
                let ch = self.ch();
                let replacement = match ch {
                    '0' => Some('\0'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    't' | '\t' => Some('\t'),
                    'n' => Some('\n'),
                    'v' => Some('\u{b}'),
                    'f' => Some('\u{c}'),
                    'r' => Some('\r'),
                    'e' => Some('\u{1b}'),
                    ' ' => Some(' '),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '/' => Some('/'),
                    'N' => Some('\u{85}'),
                    '_' => Some('\u{a0}'),
                    'L' => Some('\u{2028}'),
                    'P' => Some('\u{2029}'),
                    _ => None,
                };
                let code_len = match ch {
                    'x' => Some(2),
                    'u' => Some(4),
                    'U' => Some(8),
                    _ => None,
                };
                if let Some(r) = replacement {
                    chunks.push(u32::from(r));
                    self.forward(1);
                } else if let Some(length) = code_len {
                    self.forward(1);
                    let mut code: u64 = 0;
                    for k in 0..length {
                        let Some(d) = self.peek(k).to_digit(16) else {
                            return Err(self.quoted_err(
                                start,
                                ScanProblem::ExpectedHexEscape {
                                    length,
                                    found: self.peek(k),
                                },
                            ));
                        };
                        code = code * 16 + u64::from(d);
                    }
                    if code > 0x10ffff {
                        // chr() raises ValueError: not a YAMLError, but an error.
                        return Err(
                            self.quoted_err(start, ScanProblem::CodePointOutOfRange { code })
                        );
                    }
                    chunks.push(code as u32);
                    self.forward(length);
                } else if is_in(ch, BREAKS) {
                    self.scan_line_break();
                    self.scan_flow_scalar_breaks(start, chunks)?;
                } else {
                    return Err(self.quoted_err(start, ScanProblem::UnknownEscape { found: ch }));
                }
            } else {
                return Ok(());
            }
        }
    }

    fn scan_flow_scalar_spaces(&mut self, start: Mark, chunks: &mut Vec<u32>) -> R<()> {
        let mut length = 0;
        while is_in(self.peek(length), " \t") {
            length += 1;
        }
        let whitespaces = self.prefix_chars(length);
        self.forward(length);
        let ch = self.ch();
        if ch == '\0' {
            return Err(ScannerError::new(
                Some(ScanContext::QuotedScalar(start)),
                ScanProblem::UnexpectedEnd,
                self.mark(),
            ));
        } else if is_in(ch, BREAKS) {
            let line_break = self.scan_line_break();
            let mut breaks = Vec::new();
            self.scan_flow_scalar_breaks(start, &mut breaks)?;
            if line_break != Some('\n') {
                if let Some(lb) = line_break {
                    chunks.push(u32::from(lb));
                }
            } else if breaks.is_empty() {
                chunks.push(u32::from(' '));
            }
            chunks.extend(breaks);
        } else {
            chunks.extend(whitespaces);
        }
        Ok(())
    }

    fn scan_flow_scalar_breaks(&mut self, start: Mark, chunks: &mut Vec<u32>) -> R<()> {
        loop {
            let prefix = self.prefix(3);
            if (prefix == "---" || prefix == "...") && is_in(self.peek(3), NUL_BLANK_BREAKS) {
                return Err(ScannerError::new(
                    Some(ScanContext::QuotedScalar(start)),
                    ScanProblem::UnexpectedDocumentSeparator,
                    self.mark(),
                ));
            }
            while is_in(self.ch(), " \t") {
                self.forward(1);
            }
            if is_in(self.ch(), BREAKS) {
                if let Some(b) = self.scan_line_break() {
                    chunks.push(u32::from(b));
                }
            } else {
                return Ok(());
            }
        }
    }

    fn scan_plain(&mut self) -> R<Token> {
        let mut chunks: Vec<u32> = Vec::new();
        let start = self.mark();
        let mut end = start;
        let indent = self.indent + 1;
        let mut spaces: Vec<u32> = Vec::new();
        loop {
            let mut length = 0;
            if self.ch() == '#' {
                break;
            }
            loop {
                let ch = self.peek(length);
                let stop_after_colon = if self.flow_level > 0 {
                    "\0 \t\r\n\u{85}\u{2028}\u{2029},[]{}"
                } else {
                    NUL_BLANK_BREAKS
                };
                if is_in(ch, NUL_BLANK_BREAKS)
                    || (ch == ':' && is_in(self.peek(length + 1), stop_after_colon))
                    || (self.flow_level > 0 && is_in(ch, ",?[]{}"))
                {
                    break;
                }
                length += 1;
            }
            if length == 0 {
                break;
            }
            self.allow_simple_key = false;
            chunks.append(&mut spaces);
            chunks.extend(self.prefix_chars(length));
            self.forward(length);
            end = self.mark();
            match self.scan_plain_spaces() {
                None => break,
                Some(s) => {
                    spaces = s;
                    if spaces.is_empty()
                        || self.ch() == '#'
                        || (self.flow_level == 0 && (self.column as isize) < indent)
                    {
                        break;
                    }
                }
            }
        }
        Ok(Token {
            tok: Tok::Scalar {
                value: PyStr(chunks),
                plain: true,
                style: None,
            },
            start,
            end,
        })
    }

    /// `None` where Python returns `None` (a document separator follows).
    fn scan_plain_spaces(&mut self) -> Option<Vec<u32>> {
        let mut chunks = Vec::new();
        let mut length = 0;
        while self.peek(length) == ' ' {
            length += 1;
        }
        let whitespaces = self.prefix_chars(length);
        self.forward(length);
        let ch = self.ch();
        if is_in(ch, BREAKS) {
            let line_break = self.scan_line_break();
            self.allow_simple_key = true;
            let sep = |s: &Self| {
                let p = s.prefix(3);
                (p == "---" || p == "...") && is_in(s.peek(3), NUL_BLANK_BREAKS)
            };
            if sep(self) {
                return None;
            }
            let mut breaks = Vec::new();
            while is_in(self.ch(), " \r\n\u{85}\u{2028}\u{2029}") {
                if self.ch() == ' ' {
                    self.forward(1);
                } else {
                    if let Some(b) = self.scan_line_break() {
                        breaks.push(u32::from(b));
                    }
                    if sep(self) {
                        return None;
                    }
                }
            }
            if line_break != Some('\n') {
                if let Some(lb) = line_break {
                    chunks.push(u32::from(lb));
                }
            } else if breaks.is_empty() {
                chunks.push(u32::from(' '));
            }
            chunks.extend(breaks);
        } else if !whitespaces.is_empty() {
            chunks.extend(whitespaces);
        }
        Some(chunks)
    }

    fn scan_tag_handle(&mut self, name: Part, start: Mark) -> R<String> {
        let err = |s: &Self, c: char| {
            ScannerError::new(
                Some(name.scanning(start)),
                ScanProblem::ExpectedBang { found: c },
                s.mark(),
            )
        };
        if self.ch() != '!' {
            return Err(err(self, self.ch()));
        }
        let mut length = 1;
        let mut ch = self.peek(length);
        if ch != ' ' {
            while is_word(ch) {
                length += 1;
                ch = self.peek(length);
            }
            if ch != '!' {
                self.forward(length);
                return Err(err(self, ch));
            }
            length += 1;
        }
        let value = self.prefix(length);
        self.forward(length);
        Ok(value)
    }

    fn scan_tag_uri(&mut self, name: Part, start: Mark) -> R<String> {
        let mut chunks = String::new();
        let mut length = 0;
        let mut ch = self.peek(length);
        while ch.is_ascii_alphanumeric() || is_in(ch, "-;/?:@&=+$,_.!~*'()[]%") {
            if ch == '%' {
                chunks.push_str(&self.prefix(length));
                self.forward(length);
                length = 0;
                chunks.push_str(&self.scan_uri_escapes(name, start)?);
            } else {
                length += 1;
            }
            ch = self.peek(length);
        }
        if length > 0 {
            chunks.push_str(&self.prefix(length));
            self.forward(length);
        }
        if chunks.is_empty() {
            return Err(ScannerError::new(
                Some(name.parsing(start)),
                ScanProblem::ExpectedUri { found: ch },
                self.mark(),
            ));
        }
        Ok(chunks)
    }

    fn scan_uri_escapes(&mut self, name: Part, start: Mark) -> R<String> {
        let mut codes = Vec::new();
        let mark = self.mark();
        while self.ch() == '%' {
            self.forward(1);
            let mut v = 0u8;
            for k in 0..2 {
                let Some(d) = self.peek(k).to_digit(16) else {
                    return Err(ScannerError::new(
                        Some(name.scanning(start)),
                        ScanProblem::ExpectedUriEscape {
                            found: self.peek(k),
                        },
                        self.mark(),
                    ));
                };
                v = v * 16 + d as u8;
            }
            codes.push(v);
            self.forward(2);
        }
        String::from_utf8(codes).map_err(|e| {
            ScannerError::new(
                Some(name.scanning(start)),
                ScanProblem::InvalidUtf8(e.utf8_error()),
                mark,
            )
        })
    }

    fn scan_line_break(&mut self) -> Option<char> {
        let ch = self.ch();
        if is_in(ch, "\r\n\u{85}") {
            if self.prefix(2) == "\r\n" {
                self.forward(2);
            } else {
                self.forward(1);
            }
            Some('\n')
        } else if is_in(ch, "\u{2028}\u{2029}") {
            self.forward(1);
            Some(ch)
        } else {
            None
        }
    }
}
