//! PyYAML's `Parser` (`yaml/parser.py`): tokens to events, by the grammar
//! in its docstring. Python keeps the next state as a bound method
//! (`self.state = self.parse_block_node`); here it is a `State`, which
//! `run` dispatches to the same code, and `states` is the same stack. One
//! file of a little over 600 lines, as `parser.py` is one class, so that the
//! two can be read side by side.

use super::error::{Mark, ParseContext, ParseProblem, ParserError};
use super::events::Event;
use super::scanner::Scanner;
use super::tokens::{kind, DirectiveValue, Tok, Token, K};
use crate::pyobj::PyStr;
use crate::{InternalError, Limit, PyError, MAX_DEPTH};

type R<T> = Result<T, PyError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    ImplicitDocumentStart,
    DocumentStart,
    DocumentEnd,
    DocumentContent,
    BlockNode,
    BlockSequenceFirstEntry,
    BlockSequenceEntry,
    IndentlessSequenceEntry,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingValue,
    FlowSequenceFirstEntry,
    FlowSequenceEntry,
    FlowSequenceEntryMappingKey,
    FlowSequenceEntryMappingValue,
    FlowSequenceEntryMappingEnd,
    FlowMappingFirstKey,
    FlowMappingKey,
    FlowMappingValue,
    FlowMappingEmptyValue,
}

/// PyYAML's `Parser` over the scanner.
pub(crate) struct Parser {
    scanner: Scanner,
    current: Option<Event>,
    tag_handles: Vec<(String, String)>,
    states: Vec<State>,
    marks: Vec<Mark>,
    state: Option<State>,
}

fn default_tags() -> Vec<(String, String)> {
    vec![
        ("!".to_string(), "!".to_string()),
        ("!!".to_string(), "tag:yaml.org,2002:".to_string()),
    ]
}

impl Parser {
    pub(crate) fn new(text: &str) -> R<Parser> {
        Ok(Parser {
            scanner: Scanner::new(text)?,
            current: None,
            tag_handles: Vec::new(),
            states: Vec::new(),
            marks: Vec::new(),
            state: Some(State::StreamStart),
        })
    }

    fn fill(&mut self) -> R<()> {
        if self.current.is_none() {
            if let Some(state) = self.state {
                self.current = Some(self.run(state)?);
            }
        }
        Ok(())
    }

    pub(crate) fn peek_event(&mut self) -> R<Option<&Event>> {
        self.fill()?;
        Ok(self.current.as_ref())
    }

    pub(crate) fn get_event(&mut self) -> R<Option<Event>> {
        self.fill()?;
        Ok(self.current.take())
    }

    // ---- token helpers ----

    fn check(&mut self, kinds: &[K]) -> R<bool> {
        Ok(self
            .scanner
            .peek_token()?
            .is_some_and(|t| kinds.contains(&kind(&t.tok))))
    }

    fn peek_tok(&mut self) -> R<Token> {
        self.scanner
            .peek_token()?
            .cloned()
            .ok_or(PyError::Internal(InternalError::EndOfTokens))
    }

    fn next_tok(&mut self) -> R<Token> {
        self.scanner
            .get_token()?
            .ok_or(PyError::Internal(InternalError::EndOfTokens))
    }

    fn pop_state(&mut self) -> R<()> {
        self.state = Some(
            self.states
                .pop()
                .ok_or(PyError::Internal(InternalError::StateStackUnderflow))?,
        );
        Ok(())
    }

    fn push_state(&mut self, s: State) -> R<()> {
        if self.states.len() > 8 * MAX_DEPTH + 16 {
            return Err(Limit::TooDeep { levels: MAX_DEPTH }.into());
        }
        self.states.push(s);
        Ok(())
    }

    fn last_mark(&self) -> Mark {
        self.marks.last().copied().unwrap_or_default()
    }

    fn run(&mut self, state: State) -> R<Event> {
        match state {
            State::StreamStart => {
                self.next_tok()?;
                self.state = Some(State::ImplicitDocumentStart);
                Ok(Event::StreamStart)
            }
            State::ImplicitDocumentStart => {
                if !self.check(&[K::Directive, K::DocumentStart, K::StreamEnd])? {
                    self.tag_handles = default_tags();
                    self.push_state(State::DocumentEnd)?;
                    self.state = Some(State::BlockNode);
                    Ok(Event::DocumentStart)
                } else {
                    self.parse_document_start()
                }
            }
            State::DocumentStart => self.parse_document_start(),
            State::DocumentEnd => {
                if self.check(&[K::DocumentEnd])? {
                    self.next_tok()?;
                }
                self.state = Some(State::DocumentStart);
                Ok(Event::DocumentEnd)
            }
            State::DocumentContent => {
                if self.check(&[K::Directive, K::DocumentStart, K::DocumentEnd, K::StreamEnd])? {
                    let mark = self.peek_tok()?.start;
                    self.pop_state()?;
                    Ok(empty_scalar(mark))
                } else {
                    self.parse_node(true, false)
                }
            }
            State::BlockNode => self.parse_node(true, false),
            State::BlockSequenceFirstEntry => {
                let t = self.next_tok()?;
                self.marks.push(t.start);
                self.parse_block_sequence_entry()
            }
            State::BlockSequenceEntry => self.parse_block_sequence_entry(),
            State::IndentlessSequenceEntry => {
                if self.check(&[K::BlockEntry])? {
                    let t = self.next_tok()?;
                    if !self.check(&[K::BlockEntry, K::Key, K::Value, K::BlockEnd])? {
                        self.push_state(State::IndentlessSequenceEntry)?;
                        return self.parse_node(true, false);
                    }
                    self.state = Some(State::IndentlessSequenceEntry);
                    return Ok(empty_scalar(t.end));
                }
                self.pop_state()?;
                Ok(Event::SequenceEnd)
            }
            State::BlockMappingFirstKey => {
                let t = self.next_tok()?;
                self.marks.push(t.start);
                self.parse_block_mapping_key()
            }
            State::BlockMappingKey => self.parse_block_mapping_key(),
            State::BlockMappingValue => {
                if self.check(&[K::Value])? {
                    let t = self.next_tok()?;
                    if !self.check(&[K::Key, K::Value, K::BlockEnd])? {
                        self.push_state(State::BlockMappingKey)?;
                        return self.parse_node(true, true);
                    }
                    self.state = Some(State::BlockMappingKey);
                    return Ok(empty_scalar(t.end));
                }
                self.state = Some(State::BlockMappingKey);
                let mark = self.peek_tok()?.start;
                Ok(empty_scalar(mark))
            }
            State::FlowSequenceFirstEntry => {
                let t = self.next_tok()?;
                self.marks.push(t.start);
                self.parse_flow_sequence_entry(true)
            }
            State::FlowSequenceEntry => self.parse_flow_sequence_entry(false),
            State::FlowSequenceEntryMappingKey => {
                let t = self.next_tok()?;
                if !self.check(&[K::Value, K::FlowEntry, K::FlowSequenceEnd])? {
                    self.push_state(State::FlowSequenceEntryMappingValue)?;
                    return self.parse_node(false, false);
                }
                self.state = Some(State::FlowSequenceEntryMappingValue);
                Ok(empty_scalar(t.end))
            }
            State::FlowSequenceEntryMappingValue => {
                if self.check(&[K::Value])? {
                    let t = self.next_tok()?;
                    if !self.check(&[K::FlowEntry, K::FlowSequenceEnd])? {
                        self.push_state(State::FlowSequenceEntryMappingEnd)?;
                        return self.parse_node(false, false);
                    }
                    self.state = Some(State::FlowSequenceEntryMappingEnd);
                    return Ok(empty_scalar(t.end));
                }
                self.state = Some(State::FlowSequenceEntryMappingEnd);
                let mark = self.peek_tok()?.start;
                Ok(empty_scalar(mark))
            }
            State::FlowSequenceEntryMappingEnd => {
                self.state = Some(State::FlowSequenceEntry);
                self.peek_tok()?;
                Ok(Event::MappingEnd)
            }
            State::FlowMappingFirstKey => {
                let t = self.next_tok()?;
                self.marks.push(t.start);
                self.parse_flow_mapping_key(true)
            }
            State::FlowMappingKey => self.parse_flow_mapping_key(false),
            State::FlowMappingValue => {
                if self.check(&[K::Value])? {
                    let t = self.next_tok()?;
                    if !self.check(&[K::FlowEntry, K::FlowMappingEnd])? {
                        self.push_state(State::FlowMappingKey)?;
                        return self.parse_node(false, false);
                    }
                    self.state = Some(State::FlowMappingKey);
                    return Ok(empty_scalar(t.end));
                }
                self.state = Some(State::FlowMappingKey);
                let mark = self.peek_tok()?.start;
                Ok(empty_scalar(mark))
            }
            State::FlowMappingEmptyValue => {
                self.state = Some(State::FlowMappingKey);
                let mark = self.peek_tok()?.start;
                Ok(empty_scalar(mark))
            }
        }
    }

    fn parse_document_start(&mut self) -> R<Event> {
        while self.check(&[K::DocumentEnd])? {
            self.next_tok()?;
        }
        if !self.check(&[K::StreamEnd])? {
            self.process_directives()?;
            if !self.check(&[K::DocumentStart])? {
                let t = self.peek_tok()?;
                return Err(ParserError::new(
                    None,
                    ParseProblem::ExpectedDocumentStart { found: t.id() },
                    t.start,
                )
                .into());
            }
            self.next_tok()?;
            self.push_state(State::DocumentEnd)?;
            self.state = Some(State::DocumentContent);
            Ok(Event::DocumentStart)
        } else {
            self.next_tok()?;
            self.state = None;
            Ok(Event::StreamEnd)
        }
    }

    fn process_directives(&mut self) -> R<()> {
        let mut yaml_version: Option<(u64, u64)> = None;
        self.tag_handles = Vec::new();
        while self.check(&[K::Directive])? {
            let t = self.next_tok()?;
            if let Tok::Directive { name, value } = t.tok {
                match (name.as_str(), value) {
                    ("YAML", Some(DirectiveValue::Yaml(major, minor))) => {
                        if yaml_version.is_some() {
                            return Err(ParserError::new(
                                None,
                                ParseProblem::DuplicateYamlDirective,
                                t.start,
                            )
                            .into());
                        }
                        if major != 1 {
                            return Err(ParserError::new(
                                None,
                                ParseProblem::IncompatibleVersion,
                                t.start,
                            )
                            .into());
                        }
                        yaml_version = Some((major, minor));
                    }
                    ("TAG", Some(DirectiveValue::Tag(handle, prefix))) => {
                        if self.tag_handles.iter().any(|(h, _)| *h == handle) {
                            return Err(ParserError::new(
                                None,
                                ParseProblem::DuplicateTagHandle { handle },
                                t.start,
                            )
                            .into());
                        }
                        self.tag_handles.push((handle, prefix));
                    }
                    _ => {}
                }
            }
        }
        for (h, p) in default_tags() {
            if !self.tag_handles.iter().any(|(x, _)| *x == h) {
                self.tag_handles.push((h, p));
            }
        }
        Ok(())
    }

    fn parse_node(&mut self, block: bool, indentless_sequence: bool) -> R<Event> {
        if self.check(&[K::Alias])? {
            let t = self.next_tok()?;
            self.pop_state()?;
            if let Tok::Alias(anchor) = t.tok {
                return Ok(Event::Alias {
                    anchor,
                    mark: t.start,
                });
            }
            return Err(PyError::Internal(InternalError::AliasTokenExpected));
        }
        let mut anchor: Option<String> = None;
        let mut tag: Option<(Option<String>, String)> = None;
        let mut start_mark: Option<Mark> = None;
        let mut tag_mark: Option<Mark> = None;
        if self.check(&[K::Anchor])? {
            let t = self.next_tok()?;
            start_mark = Some(t.start);
            if let Tok::Anchor(a) = t.tok {
                anchor = Some(a);
            }
            if self.check(&[K::Tag])? {
                let t = self.next_tok()?;
                tag_mark = Some(t.start);
                if let Tok::Tag(h, s) = t.tok {
                    tag = Some((h, s));
                }
            }
        } else if self.check(&[K::Tag])? {
            let t = self.next_tok()?;
            start_mark = Some(t.start);
            tag_mark = Some(t.start);
            if let Tok::Tag(h, s) = t.tok {
                tag = Some((h, s));
            }
            if self.check(&[K::Anchor])? {
                let t = self.next_tok()?;
                if let Tok::Anchor(a) = t.tok {
                    anchor = Some(a);
                }
            }
        }
        let tag: Option<String> = match tag {
            None => None,
            Some((Some(handle), suffix)) => {
                let Some((_, prefix)) = self.tag_handles.iter().find(|(h, _)| *h == handle) else {
                    return Err(ParserError::new(
                        Some(ParseContext::Node(start_mark.unwrap_or_default())),
                        ParseProblem::UndefinedTagHandle { handle },
                        tag_mark.unwrap_or_default(),
                    )
                    .into());
                };
                Some(format!("{prefix}{suffix}"))
            }
            Some((None, suffix)) => Some(suffix),
        };
        let start_mark = match start_mark {
            Some(m) => m,
            None => self.peek_tok()?.start,
        };
        let implicit = tag.is_none() || tag.as_deref() == Some("!");
        if indentless_sequence && self.check(&[K::BlockEntry])? {
            self.state = Some(State::IndentlessSequenceEntry);
            return Ok(Event::SequenceStart {
                anchor,
                tag,
                mark: start_mark,
            });
        }
        if self.check(&[K::Scalar])? {
            let t = self.next_tok()?;
            let Tok::Scalar { value, plain, .. } = t.tok else {
                return Err(PyError::Internal(InternalError::ScalarTokenExpected));
            };
            let implicit = if (plain && tag.is_none()) || tag.as_deref() == Some("!") {
                (true, false)
            } else if tag.is_none() {
                (false, true)
            } else {
                (false, false)
            };
            self.pop_state()?;
            return Ok(Event::Scalar {
                anchor,
                tag,
                implicit,
                value,
                mark: start_mark,
            });
        }
        if self.check(&[K::FlowSequenceStart])? {
            self.state = Some(State::FlowSequenceFirstEntry);
            return Ok(Event::SequenceStart {
                anchor,
                tag,
                mark: start_mark,
            });
        }
        if self.check(&[K::FlowMappingStart])? {
            self.state = Some(State::FlowMappingFirstKey);
            return Ok(Event::MappingStart {
                anchor,
                tag,
                mark: start_mark,
            });
        }
        if block && self.check(&[K::BlockSequenceStart])? {
            self.state = Some(State::BlockSequenceFirstEntry);
            return Ok(Event::SequenceStart {
                anchor,
                tag,
                mark: start_mark,
            });
        }
        if block && self.check(&[K::BlockMappingStart])? {
            self.state = Some(State::BlockMappingFirstKey);
            return Ok(Event::MappingStart {
                anchor,
                tag,
                mark: start_mark,
            });
        }
        if anchor.is_some() || tag.is_some() {
            self.pop_state()?;
            return Ok(Event::Scalar {
                anchor,
                tag,
                implicit: (implicit, false),
                value: PyStr::default(),
                mark: start_mark,
            });
        }
        let t = self.peek_tok()?;
        let context = if block {
            ParseContext::BlockNode(start_mark)
        } else {
            ParseContext::FlowNode(start_mark)
        };
        Err(ParserError::new(
            Some(context),
            ParseProblem::ExpectedNodeContent { found: t.id() },
            t.start,
        )
        .into())
    }

    fn parse_block_sequence_entry(&mut self) -> R<Event> {
        if self.check(&[K::BlockEntry])? {
            let t = self.next_tok()?;
            if !self.check(&[K::BlockEntry, K::BlockEnd])? {
                self.push_state(State::BlockSequenceEntry)?;
                return self.parse_node(true, false);
            }
            self.state = Some(State::BlockSequenceEntry);
            return Ok(empty_scalar(t.end));
        }
        if !self.check(&[K::BlockEnd])? {
            let t = self.peek_tok()?;
            return Err(ParserError::new(
                Some(ParseContext::BlockCollection(self.last_mark())),
                ParseProblem::ExpectedBlockEnd { found: t.id() },
                t.start,
            )
            .into());
        }
        self.next_tok()?;
        self.pop_state()?;
        self.marks.pop();
        Ok(Event::SequenceEnd)
    }

    fn parse_block_mapping_key(&mut self) -> R<Event> {
        if self.check(&[K::Key])? {
            let t = self.next_tok()?;
            if !self.check(&[K::Key, K::Value, K::BlockEnd])? {
                self.push_state(State::BlockMappingValue)?;
                return self.parse_node(true, true);
            }
            self.state = Some(State::BlockMappingValue);
            return Ok(empty_scalar(t.end));
        }
        if !self.check(&[K::BlockEnd])? {
            let t = self.peek_tok()?;
            return Err(ParserError::new(
                Some(ParseContext::BlockMapping(self.last_mark())),
                ParseProblem::ExpectedBlockEnd { found: t.id() },
                t.start,
            )
            .into());
        }
        self.next_tok()?;
        self.pop_state()?;
        self.marks.pop();
        Ok(Event::MappingEnd)
    }

    fn parse_flow_sequence_entry(&mut self, first: bool) -> R<Event> {
        if !self.check(&[K::FlowSequenceEnd])? {
            if !first {
                if self.check(&[K::FlowEntry])? {
                    self.next_tok()?;
                } else {
                    let t = self.peek_tok()?;
                    return Err(ParserError::new(
                        Some(ParseContext::FlowSequence(self.last_mark())),
                        ParseProblem::ExpectedSequenceSeparator { found: t.id() },
                        t.start,
                    )
                    .into());
                }
            }
            if self.check(&[K::Key])? {
                let t = self.peek_tok()?;
                self.state = Some(State::FlowSequenceEntryMappingKey);
                return Ok(Event::MappingStart {
                    anchor: None,
                    tag: None,
                    mark: t.start,
                });
            } else if !self.check(&[K::FlowSequenceEnd])? {
                self.push_state(State::FlowSequenceEntry)?;
                return self.parse_node(false, false);
            }
        }
        self.next_tok()?;
        self.pop_state()?;
        self.marks.pop();
        Ok(Event::SequenceEnd)
    }

    fn parse_flow_mapping_key(&mut self, first: bool) -> R<Event> {
        if !self.check(&[K::FlowMappingEnd])? {
            if !first {
                if self.check(&[K::FlowEntry])? {
                    self.next_tok()?;
                } else {
                    let t = self.peek_tok()?;
                    return Err(ParserError::new(
                        Some(ParseContext::FlowMapping(self.last_mark())),
                        ParseProblem::ExpectedMappingSeparator { found: t.id() },
                        t.start,
                    )
                    .into());
                }
            }
            if self.check(&[K::Key])? {
                let t = self.next_tok()?;
                if !self.check(&[K::Value, K::FlowEntry, K::FlowMappingEnd])? {
                    self.push_state(State::FlowMappingValue)?;
                    return self.parse_node(false, false);
                }
                self.state = Some(State::FlowMappingValue);
                return Ok(empty_scalar(t.end));
            } else if !self.check(&[K::FlowMappingEnd])? {
                self.push_state(State::FlowMappingEmptyValue)?;
                return self.parse_node(false, false);
            }
        }
        self.next_tok()?;
        self.pop_state()?;
        self.marks.pop();
        Ok(Event::MappingEnd)
    }
}

fn empty_scalar(mark: Mark) -> Event {
    Event::Scalar {
        anchor: None,
        tag: None,
        implicit: (true, false),
        value: PyStr::default(),
        mark,
    }
}
