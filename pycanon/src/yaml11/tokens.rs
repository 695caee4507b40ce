//! The tokens of PyYAML's scanner (`yaml/tokens.py`), with the names the
//! parser's error messages give them, and their kinds, which the parser's
//! `check_token` tests.

use super::error::Mark;
use crate::pyobj::PyStr;

/// What a token is, with its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    StreamStart,
    StreamEnd,
    Directive {
        name: String,
        value: Option<DirectiveValue>,
    },
    DocumentStart,
    DocumentEnd,
    BlockSequenceStart,
    BlockMappingStart,
    BlockEnd,
    FlowSequenceStart,
    FlowMappingStart,
    FlowSequenceEnd,
    FlowMappingEnd,
    BlockEntry,
    FlowEntry,
    Key,
    Value,
    Alias(String),
    Anchor(String),
    /// (handle, suffix)
    Tag(Option<String>, String),
    Scalar {
        value: PyStr,
        plain: bool,
        style: Option<char>,
    },
}

/// The value of a `%YAML` or `%TAG` directive.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DirectiveValue {
    Yaml(u64, u64),
    Tag(String, String),
}

/// A token and where it starts and ends.
#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) start: Mark,
    pub(super) end: Mark,
}

impl Token {
    /// `Token.id`, as error messages name the token.
    pub(super) fn id(&self) -> &'static str {
        match self.tok {
            Tok::StreamStart => "<stream start>",
            Tok::StreamEnd => "<stream end>",
            Tok::Directive { .. } => "<directive>",
            Tok::DocumentStart => "<document start>",
            Tok::DocumentEnd => "<document end>",
            Tok::BlockSequenceStart => "<block sequence start>",
            Tok::BlockMappingStart => "<block mapping start>",
            Tok::BlockEnd => "<block end>",
            Tok::FlowSequenceStart => "[",
            Tok::FlowMappingStart => "{",
            Tok::FlowSequenceEnd => "]",
            Tok::FlowMappingEnd => "}",
            Tok::BlockEntry => "-",
            Tok::FlowEntry => ",",
            Tok::Key => "?",
            Tok::Value => ":",
            Tok::Alias(_) => "<alias>",
            Tok::Anchor(_) => "<anchor>",
            Tok::Tag(..) => "<tag>",
            Tok::Scalar { .. } => "<scalar>",
        }
    }
}

/// The kind of a token, without its value: what the parser's
/// `check_token(*choices)` compares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum K {
    Directive,
    DocumentStart,
    DocumentEnd,
    StreamEnd,
    BlockSequenceStart,
    BlockMappingStart,
    BlockEnd,
    FlowSequenceStart,
    FlowMappingStart,
    FlowSequenceEnd,
    FlowMappingEnd,
    BlockEntry,
    FlowEntry,
    Key,
    Value,
    Alias,
    Anchor,
    Tag,
    Scalar,
    Other,
}

/// The kind of `t`.
pub(super) fn kind(t: &Tok) -> K {
    match t {
        Tok::Directive { .. } => K::Directive,
        Tok::DocumentStart => K::DocumentStart,
        Tok::DocumentEnd => K::DocumentEnd,
        Tok::StreamEnd => K::StreamEnd,
        Tok::BlockSequenceStart => K::BlockSequenceStart,
        Tok::BlockMappingStart => K::BlockMappingStart,
        Tok::BlockEnd => K::BlockEnd,
        Tok::FlowSequenceStart => K::FlowSequenceStart,
        Tok::FlowMappingStart => K::FlowMappingStart,
        Tok::FlowSequenceEnd => K::FlowSequenceEnd,
        Tok::FlowMappingEnd => K::FlowMappingEnd,
        Tok::BlockEntry => K::BlockEntry,
        Tok::FlowEntry => K::FlowEntry,
        Tok::Key => K::Key,
        Tok::Value => K::Value,
        Tok::Alias(_) => K::Alias,
        Tok::Anchor(_) => K::Anchor,
        Tok::Tag(..) => K::Tag,
        Tok::Scalar { .. } => K::Scalar,
        Tok::StreamStart => K::Other,
    }
}
