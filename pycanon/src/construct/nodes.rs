//! The nodes of PyYAML's representation graph (`yaml/nodes.py`): what the
//! composer makes of the events and the constructor makes objects of.

use crate::pyobj::PyStr;
use crate::yaml11::Mark;

/// Bound on the nodes (scalars and collections) of a manifest.
pub(crate) const MAX_NODES: usize = 100_000;

/// What a node holds: a scalar's value, or the indices of its children.
#[derive(Debug)]
pub(super) enum Kind {
    Scalar(PyStr),
    Seq(Vec<usize>),
    Map(Vec<(usize, usize)>),
}

/// A node's tag: one of the resolver's, or the one the document gives.
pub(super) type Tag = std::borrow::Cow<'static, str>;

/// A `ScalarNode`, `SequenceNode` or `MappingNode`; children are indices
/// into the composer's list, so aliases share nodes as in Python.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) tag: Tag,
    pub(super) kind: Kind,
    pub(super) mark: Mark,
}

impl Node {
    /// `Node.id`, as error messages name the node.
    pub(super) fn id(&self) -> &'static str {
        match self.kind {
            Kind::Scalar(_) => "scalar",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }
}
