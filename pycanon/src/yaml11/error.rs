//! Positions in the input and the messages that carry them, as PyYAML's
//! `yaml/error.py` (`Mark`, `MarkedYAMLError`) has them.

/// A position for messages (0-based inside, printed 1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line + 1, self.column + 1)
    }
}

/// `MarkedYAMLError.__str__` on one line: the context, the problem and
/// where it was found.
pub(super) fn error(context: &str, problem: &str, mark: Mark) -> String {
    if context.is_empty() {
        format!("{problem} ({mark})")
    } else {
        format!("{context}: {problem} ({mark})")
    }
}
