//! PyYAML's `Composer` (`yaml/composer.py`): the events of one document to
//! nodes, tags resolved as they are composed, anchors recorded and aliases
//! made to share the anchored node, up to [`MAX_NODES`] nodes.

use std::collections::HashMap;

use super::nodes::{Kind, Node, Tag, MAX_NODES};
use super::resolver::{resolve_scalar, MAP, SEQ};
use crate::yaml11::{Event, Mark, Parser};
use crate::{InternalError, Limit, PyError, MAX_DEPTH};

type R<T> = Result<T, PyError>;

/// `yaml.composer.ComposerError`: the events do not make one document
/// whose aliases all refer to an anchor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComposerError {
    /// `yaml.safe_load` reads one document; the stream has more.
    #[error("expected a single document in the stream, but found another document")]
    AnotherDocument,
    /// An alias (`*name`) to an anchor not defined before it.
    #[error("found undefined alias {anchor:?} ({mark})")]
    UndefinedAlias {
        /// The anchor's name.
        anchor: String,
        /// Where the alias is.
        mark: Mark,
    },
    /// An anchor (`&name`) defined twice in the document.
    #[error("found duplicate anchor {anchor:?}")]
    DuplicateAnchor {
        /// The anchor's name.
        anchor: String,
    },
}

/// PyYAML's `Composer` over the parser.
pub(super) struct Composer {
    parser: Parser,
    pub(super) nodes: Vec<Node>,
    anchors: HashMap<String, usize>,
}

impl Composer {
    /// A composer over the events of `text`.
    pub(super) fn new(text: &str) -> R<Composer> {
        Ok(Composer {
            parser: Parser::new(text)?,
            nodes: Vec::new(),
            anchors: HashMap::new(),
        })
    }

    fn is_stream_end(&mut self) -> R<bool> {
        Ok(matches!(self.parser.peek_event()?, Some(Event::StreamEnd)))
    }

    pub(super) fn get_single_node(&mut self) -> R<Option<usize>> {
        self.parser.get_event()?;
        let mut document = None;
        if !self.is_stream_end()? {
            document = Some(self.compose_document()?);
        }
        if !self.is_stream_end()? {
            self.parser.get_event()?;
            return Err(ComposerError::AnotherDocument.into());
        }
        self.parser.get_event()?;
        Ok(document)
    }

    fn compose_document(&mut self) -> R<usize> {
        self.parser.get_event()?;
        let node = self.compose_node(0)?;
        self.parser.get_event()?;
        self.anchors.clear();
        Ok(node)
    }

    fn add(&mut self, node: Node) -> R<usize> {
        if self.nodes.len() >= MAX_NODES {
            return Err(Limit::TooManyNodes { limit: MAX_NODES }.into());
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn compose_node(&mut self, depth: usize) -> R<usize> {
        if depth > MAX_DEPTH {
            return Err(Limit::TooDeep { levels: MAX_DEPTH }.into());
        }
        let event = self
            .parser
            .get_event()?
            .ok_or(PyError::Internal(InternalError::EndOfEvents))?;
        if let Event::Alias { anchor, mark } = &event {
            return self.anchors.get(anchor).copied().ok_or_else(|| {
                ComposerError::UndefinedAlias {
                    anchor: anchor.clone(),
                    mark: *mark,
                }
                .into()
            });
        }
        if let Some(a) = event.anchor() {
            if self.anchors.contains_key(a) {
                return Err(ComposerError::DuplicateAnchor {
                    anchor: a.to_string(),
                }
                .into());
            }
        }
        match event {
            Event::Scalar {
                anchor,
                tag,
                implicit,
                value,
                mark,
            } => {
                let tag: Tag = match tag {
                    Some(t) if t != "!" => Tag::Owned(t),
                    _ => Tag::Borrowed(resolve_scalar(&value, implicit)),
                };
                let id = self.add(Node {
                    tag,
                    kind: Kind::Scalar(value),
                    mark,
                })?;
                if let Some(a) = anchor {
                    self.anchors.insert(a, id);
                }
                Ok(id)
            }
            Event::SequenceStart { anchor, tag, mark } => {
                let tag: Tag = match tag {
                    Some(t) if t != "!" => Tag::Owned(t),
                    _ => Tag::Borrowed(SEQ),
                };
                let id = self.add(Node {
                    tag,
                    kind: Kind::Seq(Vec::new()),
                    mark,
                })?;
                if let Some(a) = anchor {
                    self.anchors.insert(a, id);
                }
                while !matches!(self.parser.peek_event()?, Some(Event::SequenceEnd)) {
                    let child = self.compose_node(depth + 1)?;
                    if let Some(Node {
                        kind: Kind::Seq(v), ..
                    }) = self.nodes.get_mut(id)
                    {
                        v.push(child);
                    }
                }
                self.parser.get_event()?;
                Ok(id)
            }
            Event::MappingStart { anchor, tag, mark } => {
                let tag: Tag = match tag {
                    Some(t) if t != "!" => Tag::Owned(t),
                    _ => Tag::Borrowed(MAP),
                };
                let id = self.add(Node {
                    tag,
                    kind: Kind::Map(Vec::new()),
                    mark,
                })?;
                if let Some(a) = anchor {
                    self.anchors.insert(a, id);
                }
                while !matches!(self.parser.peek_event()?, Some(Event::MappingEnd)) {
                    let key = self.compose_node(depth + 1)?;
                    let value = self.compose_node(depth + 1)?;
                    if let Some(Node {
                        kind: Kind::Map(v), ..
                    }) = self.nodes.get_mut(id)
                    {
                        v.push((key, value));
                    }
                }
                self.parser.get_event()?;
                Ok(id)
            }
            other => Err(InternalError::UnexpectedEvent {
                event: format!("{other:?}"),
            }
            .into()),
        }
    }
}
