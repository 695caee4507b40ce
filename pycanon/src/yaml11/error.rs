//! Positions in the input and the messages that carry them, as PyYAML's
//! `yaml/error.py` (`Mark`, `MarkedYAMLError`) has them.

use std::fmt;

/// A position for messages (0-based inside, printed 1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    /// The line, counted from 0.
    pub line: usize,
    /// The column, counted from 0 (a BOM takes none).
    pub column: usize,
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line + 1, self.column + 1)
    }
}

/// `MarkedYAMLError.__str__` on one line: the context (with its own mark),
/// if any, then `": "`; the problem and where it was found follow.
struct ContextPrefix<'a, C>(&'a Option<C>);

impl<C: fmt::Display> fmt::Display for ContextPrefix<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(context) => write!(f, "{context}: "),
            None => Ok(()),
        }
    }
}

/// `yaml.reader.ReaderError`: the text holds a character YAML does not
/// allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unacceptable character #x{:04x}: special characters are not allowed (position {position})",
    u32::from(*.character)
)]
#[non_exhaustive]
pub struct ReaderError {
    /// The character refused.
    pub character: char,
    /// Its index in the text, in characters.
    pub position: usize,
}

/// `yaml.scanner.ScannerError`: the characters do not make YAML tokens.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem} ({problem_mark})", ContextPrefix(.context))]
#[non_exhaustive]
pub struct ScannerError {
    /// What was being scanned, and where it started.
    pub context: Option<ScanContext>,
    /// What was wrong.
    pub problem: ScanProblem,
    /// Where it was found.
    pub problem_mark: Mark,
}

impl ScannerError {
    /// The error for `problem` at `problem_mark`, while reading `context`.
    pub(crate) fn new(
        context: Option<ScanContext>,
        problem: ScanProblem,
        problem_mark: Mark,
    ) -> Self {
        ScannerError {
            context,
            problem,
            problem_mark,
        }
    }
}

/// What the scanner was reading when it failed (the `context` and
/// `context_mark` of PyYAML's `ScannerError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanContext {
    /// Looking for the start of the next token.
    #[error("while scanning for the next token")]
    NextToken,
    /// A simple (implicit) key starting at the mark.
    #[error("while scanning a simple key ({0})")]
    SimpleKey(Mark),
    /// A directive (`%YAML`, `%TAG`) starting at the mark.
    #[error("while scanning a directive ({0})")]
    Directive(Mark),
    /// The prefix (a URI) of a `%TAG` directive starting at the mark.
    #[error("while parsing a directive ({0})")]
    DirectiveUri(Mark),
    /// An anchor (`&name`) starting at the mark.
    #[error("while scanning an anchor ({0})")]
    Anchor(Mark),
    /// An alias (`*name`) starting at the mark.
    #[error("while scanning an alias ({0})")]
    Alias(Mark),
    /// A tag (`!handle!suffix`) starting at the mark.
    #[error("while scanning a tag ({0})")]
    Tag(Mark),
    /// The URI of a tag starting at the mark (its suffix, or all of a
    /// verbatim `!<...>` tag).
    #[error("while parsing a tag ({0})")]
    TagUri(Mark),
    /// A block scalar (`|`, `>`) starting at the mark.
    #[error("while scanning a block scalar ({0})")]
    BlockScalar(Mark),
    /// The escapes of a double-quoted scalar starting at the mark.
    #[error("while scanning a double-quoted scalar ({0})")]
    DoubleQuotedScalar(Mark),
    /// A quoted scalar starting at the mark.
    #[error("while scanning a quoted scalar ({0})")]
    QuotedScalar(Mark),
}

/// What the scanner found wrong (the `problem` of PyYAML's
/// `ScannerError`); `found` is the character met instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanProblem {
    /// No token starts with this character.
    #[error("found character {found:?} that cannot start any token")]
    CannotStartToken {
        /// The character.
        found: char,
    },
    /// A required simple key has no `:` on its line (or within 1024
    /// characters).
    #[error("could not find expected ':'")]
    MissingColon,
    /// The indentation or the flow collections nest deeper than `levels`
    /// (a bound of this port).
    #[error("the manifest nests deeper than {levels} levels")]
    TooDeep {
        /// The bound.
        levels: usize,
    },
    /// A `-` entry where a block sequence cannot start.
    #[error("sequence entries are not allowed here")]
    SequenceEntryNotAllowed,
    /// A `?` key where a block mapping cannot start.
    #[error("mapping keys are not allowed here")]
    MappingKeyNotAllowed,
    /// A `:` value where a block mapping cannot start.
    #[error("mapping values are not allowed here")]
    MappingValueNotAllowed,
    /// A directive, anchor or alias name must be alphanumeric.
    #[error("expected alphabetic or numeric character, but found {found:?}")]
    ExpectedAlphanumeric {
        /// The character met instead.
        found: char,
    },
    /// The `%YAML` version needs a `.` after the major number.
    #[error("expected a digit or '.', but found {found:?}")]
    ExpectedDigitOrDot {
        /// The character met instead.
        found: char,
    },
    /// The `%YAML` version must end after the minor number.
    #[error("expected a digit or ' ', but found {found:?}")]
    ExpectedDigitOrSpace {
        /// The character met instead.
        found: char,
    },
    /// A `%YAML` version number must start with a digit.
    #[error("expected a digit, but found {found:?}")]
    ExpectedDigit {
        /// The character met instead.
        found: char,
    },
    /// A space (or the end of the token) was required.
    #[error("expected ' ', but found {found:?}")]
    ExpectedSpace {
        /// The character met instead.
        found: char,
    },
    /// Only a comment may follow a directive or a block scalar header.
    #[error("expected a comment or a line break, but found {found:?}")]
    ExpectedCommentOrLineBreak {
        /// The character met instead.
        found: char,
    },
    /// A verbatim tag `!<...>` was not closed.
    #[error("expected '>', but found {found:?}")]
    ExpectedClosingAngle {
        /// The character met instead.
        found: char,
    },
    /// A block scalar's indentation indicator is 0.
    #[error("expected indentation indicator in the range 1-9, but found 0")]
    ZeroIndentation,
    /// A block scalar's header holds something else than its indicators.
    #[error("expected chomping or indentation indicators, but found {found:?}")]
    ExpectedBlockIndicators {
        /// The character met instead.
        found: char,
    },
    /// Internal: the scan of a quoted scalar stopped moving (a bug, not
    /// the input's fault).
    #[error("internal: quoted scalar scan made no progress")]
    NoProgress,
    /// A `\x`, `\u` or `\U` escape has too few hexadecimal digits.
    #[error("expected escape sequence of {length} hexadecimal numbers, but found {found:?}")]
    ExpectedHexEscape {
        /// The digits the escape needs (2, 4 or 8).
        length: usize,
        /// The character met instead.
        found: char,
    },
    /// A `\U` escape beyond the last code point: the `ValueError` of
    /// Python's `chr()`, which PyYAML lets through.
    #[error("chr() arg not in range(0x110000): {code:#x}")]
    CodePointOutOfRange {
        /// The escape's value.
        code: u64,
    },
    /// A backslash followed by a character that is no escape.
    #[error("found unknown escape character {found:?}")]
    UnknownEscape {
        /// The character after the backslash.
        found: char,
    },
    /// The text ends inside a quoted scalar.
    #[error("found unexpected end of stream")]
    UnexpectedEnd,
    /// A `---` or `...` line inside a quoted scalar.
    #[error("found unexpected document separator")]
    UnexpectedDocumentSeparator,
    /// A tag handle must start with `!`.
    #[error("expected '!', but found {found:?}")]
    ExpectedBang {
        /// The character met instead.
        found: char,
    },
    /// A `%` in a URI is not followed by two hexadecimal digits.
    #[error("expected URI escape sequence of 2 hexadecimal numbers, but found {found:?}")]
    ExpectedUriEscape {
        /// The character met instead.
        found: char,
    },
    /// The `%` escapes of a URI do not decode as UTF-8.
    #[error("{0}")]
    InvalidUtf8(std::str::Utf8Error),
    /// A tag or `%TAG` prefix has no URI characters.
    #[error("expected URI, but found {found:?}")]
    ExpectedUri {
        /// The character met instead.
        found: char,
    },
}

/// `yaml.parser.ParserError`: the tokens do not make a YAML document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem} ({problem_mark})", ContextPrefix(.context))]
#[non_exhaustive]
pub struct ParserError {
    /// What was being parsed, and where it started.
    pub context: Option<ParseContext>,
    /// What was wrong.
    pub problem: ParseProblem,
    /// Where it was found.
    pub problem_mark: Mark,
}

impl ParserError {
    /// The error for `problem` at `problem_mark`, while parsing `context`.
    pub(crate) fn new(
        context: Option<ParseContext>,
        problem: ParseProblem,
        problem_mark: Mark,
    ) -> Self {
        ParserError {
            context,
            problem,
            problem_mark,
        }
    }
}

/// What the parser was reading when it failed (the `context` and
/// `context_mark` of PyYAML's `ParserError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseContext {
    /// A node (its anchor and tag) starting at the mark.
    #[error("while parsing a node ({0})")]
    Node(Mark),
    /// A block node starting at the mark.
    #[error("while parsing a block node ({0})")]
    BlockNode(Mark),
    /// A flow node starting at the mark.
    #[error("while parsing a flow node ({0})")]
    FlowNode(Mark),
    /// A block sequence starting at the mark.
    #[error("while parsing a block collection ({0})")]
    BlockCollection(Mark),
    /// A block mapping starting at the mark.
    #[error("while parsing a block mapping ({0})")]
    BlockMapping(Mark),
    /// A flow sequence (`[...]`) starting at the mark.
    #[error("while parsing a flow sequence ({0})")]
    FlowSequence(Mark),
    /// A flow mapping (`{...}`) starting at the mark.
    #[error("while parsing a flow mapping ({0})")]
    FlowMapping(Mark),
}

/// What the parser found wrong (the `problem` of PyYAML's `ParserError`);
/// `found` is the token met instead, as PyYAML names it (`"<block end>"`,
/// `","`, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseProblem {
    /// Directives not followed by `---`.
    #[error("expected '<document start>', but found {found:?}")]
    ExpectedDocumentStart {
        /// The token met instead.
        found: &'static str,
    },
    /// A second `%YAML` directive.
    #[error("found duplicate YAML directive")]
    DuplicateYamlDirective,
    /// A `%YAML` directive whose major version is not 1.
    #[error("found incompatible YAML document (version 1.* is required)")]
    IncompatibleVersion,
    /// A `%TAG` directive for a handle already defined.
    #[error("duplicate tag handle {handle:?}")]
    DuplicateTagHandle {
        /// The handle.
        handle: String,
    },
    /// A tag whose handle no `%TAG` directive defines.
    #[error("found undefined tag handle {handle:?}")]
    UndefinedTagHandle {
        /// The handle.
        handle: String,
    },
    /// A node with neither content nor anchor or tag.
    #[error("expected the node content, but found {found:?}")]
    ExpectedNodeContent {
        /// The token met instead.
        found: &'static str,
    },
    /// A block collection not ended by its indentation.
    #[error("expected <block end>, but found {found:?}")]
    ExpectedBlockEnd {
        /// The token met instead.
        found: &'static str,
    },
    /// Flow sequence entries must be separated by `,`.
    #[error("expected ',' or ']', but got {found:?}")]
    ExpectedSequenceSeparator {
        /// The token met instead.
        found: &'static str,
    },
    /// Flow mapping entries must be separated by `,`.
    #[error("expected ',' or '}}', but got {found:?}")]
    ExpectedMappingSeparator {
        /// The token met instead.
        found: &'static str,
    },
}
