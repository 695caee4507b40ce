//! The events of PyYAML's parser (`yaml/events.py`), which the composer
//! makes nodes of.

use super::error::Mark;
use crate::pyobj::PyStr;

/// `implicit` of a scalar event: (plain-resolvable, quoted-resolvable).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias {
        anchor: String,
        mark: Mark,
    },
    Scalar {
        anchor: Option<String>,
        tag: Option<String>,
        implicit: (bool, bool),
        value: PyStr,
        mark: Mark,
    },
    SequenceStart {
        anchor: Option<String>,
        tag: Option<String>,
        mark: Mark,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<String>,
        tag: Option<String>,
        mark: Mark,
    },
    MappingEnd,
}

impl Event {
    /// The anchor the event defines, or the one an alias refers to.
    pub(crate) fn anchor(&self) -> Option<&str> {
        match self {
            Event::Alias { anchor, .. } => Some(anchor),
            Event::Scalar { anchor, .. }
            | Event::SequenceStart { anchor, .. }
            | Event::MappingStart { anchor, .. } => anchor.as_deref(),
            _ => None,
        }
    }
}
