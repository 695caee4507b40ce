//! PyYAML's `SafeConstructor` (`yaml/constructor.py`): nodes to Python
//! objects, collections filled breadth-first as PyYAML's generators fill
//! them, merge keys flattened into the nodes, and one shared `nan` object.

use std::collections::HashSet;

use super::nodes::{Kind, Node, Tag};
use super::resolver::{
    BINARY, BOOL, FLOAT, INT, MAP, MERGE, NULL, OMAP, PAIRS, SEQ, SET, STR, TIMESTAMP, VALUE,
};
use super::scalars::{
    construct_float, construct_int, construct_timestamp, decode_base64, ScalarError,
};
use crate::pyobj::{Heap, Id, Obj, PyStr};
use crate::yaml11::Mark;
use crate::{InternalError, Limit, PyError};

/// Bound on map entries copied or moved by merge keys (PyYAML copies them,
/// nested merges can double the count at every level, and each merge key
/// is deleted from its list in place).
const MAX_MERGED_ENTRIES: usize = 1 << 20;

/// Bound on PyYAML's recursive helpers (`flatten_mapping`, the `=` key in
/// `construct_scalar`), where Python would hit its recursion limit.
const MAX_RECURSION: usize = 512;

type R<T> = Result<T, PyError>;

/// `yaml.constructor.ConstructorError`, and the errors raised while making
/// a value of a scalar; `mark` is where the node starts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConstructorError {
    /// A node that contains itself where Python cannot build it (an alias
    /// to an enclosing node as a mapping key, say).
    #[error("found unconstructable recursive node ({mark})")]
    RecursiveNode {
        /// Where the node starts.
        mark: Mark,
    },
    /// What making the scalar's value raised.
    #[error("{error} ({mark})")]
    Scalar {
        /// The error.
        error: ScalarError,
        /// Where the scalar starts.
        mark: Mark,
    },
    /// A scalar tag on a sequence or a mapping (without a `=` key).
    #[error("expected a scalar node, but found {found} ({mark})")]
    ExpectedScalar {
        /// The kind of node found (`sequence`, `mapping`).
        found: &'static str,
        /// Where it starts.
        mark: Mark,
    },
    /// A `!!seq` tag on another kind of node.
    #[error("expected a sequence node, but found {found} ({mark})")]
    ExpectedSequence {
        /// The kind of node found (`scalar`, `mapping`).
        found: &'static str,
        /// Where it starts.
        mark: Mark,
    },
    /// A `!!map` or `!!set` tag on another kind of node.
    #[error("expected a mapping node, but found {found} ({mark})")]
    ExpectedMapping {
        /// The kind of node found (`scalar`, `sequence`).
        found: &'static str,
        /// Where it starts.
        mark: Mark,
    },
    /// A sequence or mapping as a mapping key.
    #[error("while constructing a mapping ({mark}): found unhashable key")]
    UnhashableKey {
        /// Where the mapping starts.
        mark: Mark,
    },
    /// An `!!omap` or `!!pairs` tag on another node than a sequence.
    #[error("while constructing an ordered map ({mark}): expected a sequence")]
    PairsNotSequence {
        /// Where the node starts.
        mark: Mark,
    },
    /// An item of an `!!omap` or `!!pairs` that is not a mapping.
    #[error("while constructing an ordered map ({mark}): expected a mapping of length 1, but found {found}")]
    PairNotMapping {
        /// The kind of node found (`scalar`, `sequence`).
        found: &'static str,
        /// Where the ordered map starts.
        mark: Mark,
    },
    /// An item of an `!!omap` or `!!pairs` with more or less than one
    /// entry.
    #[error("while constructing an ordered map ({mark}): expected a single mapping item, but found {items} items")]
    PairLength {
        /// The entries of the item.
        items: usize,
        /// Where the ordered map starts.
        mark: Mark,
    },
    /// A merge key (`<<`) whose list holds something else than mappings.
    #[error(
        "while constructing a mapping ({mark}): expected a mapping for merging, but found {found}"
    )]
    MergeNotMapping {
        /// The kind of node found (`scalar`, `sequence`).
        found: &'static str,
        /// Where the mapping starts.
        mark: Mark,
    },
    /// A merge key (`<<`) whose value is a scalar.
    #[error("while constructing a mapping ({mark}): expected a mapping or list of mappings for merging, but found scalar")]
    MergeScalar {
        /// Where the mapping starts.
        mark: Mark,
    },
}

/// The generator PyYAML's constructor leaves to fill a collection once
/// it has been made (`construct_yaml_seq`, `_map`, `_set`, `_omap` and
/// `_pairs`).
#[derive(Clone, Copy, Debug)]
enum Gen {
    Seq,
    Map,
    Set,
    Pairs,
}

/// PyYAML's `SafeConstructor` over the composed nodes.
pub(super) struct Constructor<'h> {
    nodes: Vec<Node>,
    heap: &'h mut Heap,
    constructed: Vec<Option<Id>>,
    recursive: HashSet<usize>,
    pending: Vec<(Gen, usize, Id)>,
    merged: usize,
    nan_value: Option<Id>,
}

impl<'h> Constructor<'h> {
    /// A constructor of the composed `nodes` into `heap`.
    pub(super) fn new(nodes: Vec<Node>, heap: &'h mut Heap) -> Constructor<'h> {
        let count = nodes.len();
        Constructor {
            nodes,
            heap,
            constructed: vec![None; count],
            recursive: HashSet::new(),
            pending: Vec::new(),
            merged: 0,
            nan_value: None,
        }
    }
}

impl Constructor<'_> {
    fn node(&self, n: usize) -> R<&Node> {
        self.nodes
            .get(n)
            .ok_or(PyError::Internal(InternalError::DanglingNode))
    }

    pub(super) fn construct_document(&mut self, root: usize) -> R<Id> {
        let data = self.construct_object(root)?;
        while !self.pending.is_empty() {
            let round = std::mem::take(&mut self.pending);
            for (g, node, obj) in round {
                self.run_generator(g, node, obj)?;
            }
        }
        Ok(data)
    }

    fn construct_object(&mut self, n: usize) -> R<Id> {
        if let Some(&Some(id)) = self.constructed.get(n) {
            return Ok(id);
        }
        let mark = self.node(n)?.mark;
        if self.recursive.contains(&n) {
            return Err(ConstructorError::RecursiveNode { mark }.into());
        }
        self.recursive.insert(n);
        let tag = self.node(n)?.tag.clone();
        let at = |error: ScalarError| ConstructorError::Scalar { error, mark };
        let id = match tag.as_ref() {
            NULL => {
                self.construct_scalar(n, 0)?;
                self.heap.alloc(Obj::None)?
            }
            BOOL => {
                let v = self.construct_scalar(n, 0)?;
                let lower: Option<String> =
                    v.0.iter()
                        .map(|&c| {
                            u8::try_from(c)
                                .ok()
                                .filter(u8::is_ascii)
                                .map(|b| char::from(b.to_ascii_lowercase()))
                        })
                        .collect();
                let b = match lower.as_deref() {
                    Some("yes" | "true" | "on") => true,
                    Some("no" | "false" | "off") => false,
                    _ => return Err(at(ScalarError::NotBool { value: v.lossy() }).into()),
                };
                self.heap.alloc(Obj::Bool(b))?
            }
            INT => {
                let v = self.construct_scalar(n, 0)?;
                let i = construct_int(&v).map_err(at)?;
                self.heap.alloc(Obj::Int(i))?
            }
            FLOAT => {
                let v = self.construct_scalar(n, 0)?;
                match construct_float(&v).map_err(at)? {
                    Some(f) => self.heap.alloc(Obj::Float(f))?,
                    // `.nan` is SafeConstructor.nan_value, one shared object:
                    // as dictionary keys, all `.nan` are the same key.
                    None => match self.nan_value {
                        Some(id) => id,
                        None => {
                            let id = self.heap.alloc(Obj::Float(f64::NAN))?;
                            self.nan_value = Some(id);
                            id
                        }
                    },
                }
            }
            BINARY => {
                let v = self.construct_scalar(n, 0)?;
                decode_base64(&v).map_err(at)?;
                self.heap.alloc(Obj::Bytes)?
            }
            TIMESTAMP => {
                self.construct_scalar(n, 0)?;
                let Kind::Scalar(v) = &self.node(n)?.kind else {
                    return Err(at(ScalarError::TimestampNotScalar).into());
                };
                construct_timestamp(v).map_err(at)?;
                self.heap.alloc(Obj::Timestamp)?
            }
            STR => {
                let v = self.construct_scalar(n, 0)?;
                self.heap.alloc(Obj::Str(v))?
            }
            OMAP | PAIRS => {
                let id = self.heap.alloc(Obj::List(Vec::new()))?;
                self.pending.push((Gen::Pairs, n, id));
                id
            }
            SET => {
                let id = self.heap.alloc(Obj::Set(Vec::new()))?;
                self.pending.push((Gen::Set, n, id));
                id
            }
            SEQ => {
                let id = self.heap.alloc(Obj::List(Vec::new()))?;
                self.pending.push((Gen::Seq, n, id));
                id
            }
            MAP => {
                let id = self.heap.alloc(Obj::Dict(Box::default()))?;
                self.pending.push((Gen::Map, n, id));
                id
            }
            other => {
                return Err(at(ScalarError::UnknownTag {
                    tag: other.to_string(),
                })
                .into())
            }
        };
        if let Some(slot) = self.constructed.get_mut(n) {
            *slot = Some(id);
        }
        self.recursive.remove(&n);
        Ok(id)
    }

    /// `SafeConstructor.construct_scalar`: a mapping with a `=` key stands
    /// for that key's value.
    fn construct_scalar(&self, n: usize, depth: usize) -> R<PyStr> {
        if depth > MAX_RECURSION {
            return Err(PyError::Recursion {
                function: "construct_scalar",
            });
        }
        let node = self.node(n)?;
        match &node.kind {
            Kind::Scalar(v) => Ok(v.clone()),
            Kind::Map(pairs) => {
                for &(k, v) in pairs {
                    if self.node(k)?.tag == VALUE {
                        return self.construct_scalar(v, depth + 1);
                    }
                }
                Err(ConstructorError::ExpectedScalar {
                    found: "mapping",
                    mark: node.mark,
                }
                .into())
            }
            Kind::Seq(_) => Err(ConstructorError::ExpectedScalar {
                found: "sequence",
                mark: node.mark,
            }
            .into()),
        }
    }

    fn run_generator(&mut self, g: Gen, n: usize, obj: Id) -> R<()> {
        match g {
            Gen::Seq => {
                let node = self.node(n)?;
                let Kind::Seq(children) = &node.kind else {
                    return Err(ConstructorError::ExpectedSequence {
                        found: node.id(),
                        mark: node.mark,
                    }
                    .into());
                };
                for child in children.clone() {
                    let item = self.construct_object(child)?;
                    self.heap.push(obj, item)?;
                }
            }
            Gen::Map | Gen::Set => {
                self.flatten_mapping(n, 0)?;
                let node = self.node(n)?;
                let Kind::Map(pairs) = &node.kind else {
                    return Err(ConstructorError::ExpectedMapping {
                        found: node.id(),
                        mark: node.mark,
                    }
                    .into());
                };
                let mark = node.mark;
                let pairs = pairs.clone();
                // Python builds a fresh dict and then updates the target with
                // it; the target is empty until then, so building in place
                // gives the same keys and values.
                let target = match g {
                    Gen::Set => self.heap.alloc(Obj::Dict(Box::default()))?,
                    _ => obj,
                };
                for (k, v) in pairs {
                    let key = self.construct_object(k)?;
                    if !self.heap.is_hashable(key) {
                        return Err(ConstructorError::UnhashableKey { mark }.into());
                    }
                    let value = self.construct_object(v)?;
                    self.heap.dict_set(target, key, value)?;
                }
                if let Gen::Set = g {
                    let keys: Vec<Id> = self
                        .heap
                        .dict_items(target)
                        .unwrap_or_default()
                        .iter()
                        .map(|&(k, _)| k)
                        .collect();
                    for k in keys {
                        self.heap.set_add(obj, k)?;
                    }
                }
            }
            Gen::Pairs => {
                let node = self.node(n)?;
                let mark = node.mark;
                let Kind::Seq(children) = &node.kind else {
                    return Err(ConstructorError::PairsNotSequence { mark }.into());
                };
                for sub in children.clone() {
                    let s = self.node(sub)?;
                    let Kind::Map(items) = &s.kind else {
                        return Err(ConstructorError::PairNotMapping {
                            found: s.id(),
                            mark,
                        }
                        .into());
                    };
                    let [(k, v)] = items.as_slice() else {
                        return Err(ConstructorError::PairLength {
                            items: items.len(),
                            mark,
                        }
                        .into());
                    };
                    let (k, v) = (*k, *v);
                    let key = self.construct_object(k)?;
                    let value = self.construct_object(v)?;
                    let pair = self.heap.alloc(Obj::Tuple(vec![key, value]))?;
                    self.heap.push(obj, pair)?;
                }
            }
        }
        Ok(())
    }

    fn map_items(&self, n: usize) -> R<Vec<(usize, usize)>> {
        match &self.node(n)?.kind {
            Kind::Map(p) => Ok(p.clone()),
            _ => Ok(Vec::new()),
        }
    }

    fn count_merged(&mut self, n: usize) -> R<()> {
        self.merged += n;
        if self.merged > MAX_MERGED_ENTRIES {
            return Err(Limit::TooManyMergedEntries {
                limit: MAX_MERGED_ENTRIES,
            }
            .into());
        }
        Ok(())
    }

    /// `SafeConstructor.flatten_mapping`: splices `<<` merges into the node
    /// (mutating it, as PyYAML does) and retags `=` keys as strings.
    fn flatten_mapping(&mut self, n: usize, depth: usize) -> R<()> {
        if depth > MAX_RECURSION {
            return Err(PyError::Recursion {
                function: "flatten_mapping",
            });
        }
        let mark = self.node(n)?.mark;
        let mut merge: Vec<(usize, usize)> = Vec::new();
        let mut index = 0;
        loop {
            let Kind::Map(pairs) = &self.node(n)?.kind else {
                return Ok(());
            };
            let Some(&(k, v)) = pairs.get(index) else {
                break;
            };
            let ktag = self.node(k)?.tag.clone();
            if ktag == MERGE {
                if let Some(Node {
                    kind: Kind::Map(pairs),
                    ..
                }) = self.nodes.get_mut(n)
                {
                    // `del node.value[index]` moves the tail: count it.
                    self.merged += pairs.len() - index;
                    pairs.remove(index);
                }
                if self.merged > MAX_MERGED_ENTRIES {
                    return Err(Limit::TooManyMergedEntries {
                        limit: MAX_MERGED_ENTRIES,
                    }
                    .into());
                }
                let vnode = self.node(v)?;
                match &vnode.kind {
                    Kind::Map(_) => {
                        self.flatten_mapping(v, depth + 1)?;
                        let items = self.map_items(v)?;
                        self.count_merged(items.len())?;
                        merge.extend(items);
                    }
                    Kind::Seq(subs) => {
                        let subs = subs.clone();
                        let mut submerge = Vec::new();
                        for sub in subs {
                            let s = self.node(sub)?;
                            if !matches!(s.kind, Kind::Map(_)) {
                                return Err(ConstructorError::MergeNotMapping {
                                    found: s.id(),
                                    mark,
                                }
                                .into());
                            }
                            self.flatten_mapping(sub, depth + 1)?;
                            let items = self.map_items(sub)?;
                            self.count_merged(items.len())?;
                            submerge.push(items);
                        }
                        for items in submerge.into_iter().rev() {
                            merge.extend(items);
                        }
                    }
                    Kind::Scalar(_) => return Err(ConstructorError::MergeScalar { mark }.into()),
                }
            } else if ktag == VALUE {
                if let Some(node) = self.nodes.get_mut(k) {
                    node.tag = Tag::Borrowed(STR);
                }
                index += 1;
            } else {
                index += 1;
            }
        }
        if !merge.is_empty() {
            if let Some(Node {
                kind: Kind::Map(pairs),
                ..
            }) = self.nodes.get_mut(n)
            {
                self.merged += pairs.len();
                merge.append(pairs);
                *pairs = merge;
            }
            if self.merged > MAX_MERGED_ENTRIES {
                return Err(Limit::TooManyMergedEntries {
                    limit: MAX_MERGED_ENTRIES,
                }
                .into());
            }
        }
        Ok(())
    }
}
