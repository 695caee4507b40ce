//! `yaml.safe_load`'s composer, resolver and `SafeConstructor` (PyYAML
//! 6.0), ported: YAML 1.1 implicit typing, explicit `!!` tags, anchors,
//! aliases, merge keys (`<<`, which rewrite the shared nodes as PyYAML does),
//! the `=` value key, and the breadth-first order in which PyYAML fills
//! collections. Objects that `json.dumps` cannot write (bytes, dates, sets)
//! are built as such so that they only fail when they are kept in the
//! canonical form.
//!
//! One submodule per part of PyYAML's loader, each using only those
//! listed before it:
//!
//! * `nodes`: the graph the composer builds (`yaml/nodes.py`);
//! * `resolver`: the tags, and the implicit typing of plain scalars
//!   (`yaml/resolver.py`);
//! * `composer`: events to nodes, anchors and aliases (`yaml/composer.py`);
//! * `scalars`: the values of `int`, `float`, `binary` and `timestamp`
//!   scalars (the `construct_yaml_*` helpers of `yaml/constructor.py`);
//! * `constructor`: nodes to Python objects (`SafeConstructor`,
//!   `yaml/constructor.py`).

mod composer;
mod constructor;
mod nodes;
mod resolver;
mod scalars;

pub(crate) use nodes::MAX_NODES;

pub use composer::ComposerError;
pub use constructor::ConstructorError;
pub use scalars::ScalarError;

use crate::pyobj::{Heap, Id};
use crate::PyError;
use composer::Composer;
use constructor::Constructor;

type R<T> = Result<T, PyError>;

/// `yaml.safe_load(text)` into `heap`; `Ok(None)` for an empty stream.
pub(crate) fn safe_load(text: &str, heap: &mut Heap) -> R<Option<Id>> {
    let mut c = Composer::new(text)?;
    let Some(root) = c.get_single_node()? else {
        return Ok(None);
    };
    let mut k = Constructor::new(c.nodes, heap);
    k.construct_document(root).map(Some)
}
