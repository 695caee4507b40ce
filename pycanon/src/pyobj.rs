//! The Python objects a manifest loads into, and
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"))` over them
//! (CPython 3.11's C encoder, `ensure_ascii=True`, `allow_nan=True`,
//! `check_circular=True`).
//!
//! Objects live in a [`Heap`] and refer to each other by index, so the
//! shared and even cyclic structures YAML aliases build are represented as
//! they are in Python; identity matters for dictionary keys (a NaN key only
//! equals itself) and for the encoder's circular-reference check.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::pynum::{float_repr, BigInt, PyInt};
use crate::{InternalError, Limit, PyError};

/// The `TypeError` Python raises on hashing a key or in `json.dumps`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// A list, set or dict as a dictionary key.
    #[error("found unhashable key")]
    UnhashableKey,
    /// An object `json.dumps` cannot write (bytes, a date, a set).
    #[error("Object of type {type_name} is not JSON serializable")]
    NotSerializable {
        /// Python's name of its type.
        type_name: &'static str,
    },
    /// A key `json.dumps` cannot write (`skipkeys=False`).
    #[error("keys must be str, int, float, bool or None, not {type_name}")]
    KeyType {
        /// Python's name of its type.
        type_name: &'static str,
    },
    /// `sort_keys=True` over a mapping with a `None` key among others.
    #[error("'<' not supported between instances of 'NoneType' and another key")]
    NoneKeyOrder,
    /// `sort_keys=True` over a mapping with both string and number keys.
    #[error("'<' not supported between instances of 'int' and 'str' (mixed key types)")]
    MixedKeyOrder,
}

/// Index of an object in its [`Heap`].
pub(crate) type Id = usize;

/// A Python `str`: a sequence of code points, lone surrogates included
/// (escapes can produce them). Derived ordering is Python's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PyStr(pub(crate) Vec<u32>);

impl PyStr {
    pub(crate) fn from_str(s: &str) -> Self {
        PyStr(s.chars().map(u32::from).collect())
    }

    pub(crate) fn is(&self, s: &str) -> bool {
        self.0.len() == s.chars().count() && self.0.iter().copied().eq(s.chars().map(u32::from))
    }

    /// Lossy text for messages.
    pub(crate) fn lossy(&self) -> String {
        self.0
            .iter()
            .map(|&c| char::from_u32(c).unwrap_or('\u{fffd}'))
            .collect()
    }
}

/// A Python object as `yaml.safe_load` or `json.loads` can produce it.
#[derive(Debug)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(PyInt),
    Float(f64),
    Str(PyStr),
    /// `!!binary` (bytes): loadable, not JSON-serialisable.
    Bytes,
    /// `date` / `datetime`: loadable, not JSON-serialisable.
    Timestamp,
    List(Vec<Id>),
    /// `!!omap` / `!!pairs` items: serialised as arrays.
    Tuple(Vec<Id>),
    /// `!!set`: not JSON-serialisable.
    Set(Vec<Id>),
    Dict(Box<Dict>),
}

/// A `dict`: insertion order, first key object kept, last value wins.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    pub(crate) items: Vec<(Id, Id)>,
    index: HashMap<KeyRepr, usize>,
}

/// What decides dictionary key equality (`hash` + `==`) in Python.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyRepr {
    None,
    /// Every integral number: `True == 1 == 1.0`.
    Int(BigInt),
    /// A non-integral finite float, by its bits.
    Frac(u64),
    Inf(bool),
    Str(PyStr),
    /// Objects equal only to themselves here: NaN, and keys that can never
    /// be written out anyway (bytes, timestamps, ints past 4300 digits).
    Ident(Id),
}

/// Limits that keep the work bounded whatever the manifest holds.
pub(crate) const MAX_OBJECTS: usize = 2 * crate::construct::MAX_NODES + 16;
const MAX_DUMP_DEPTH: usize = 512;

/// The objects of one loaded manifest.
#[derive(Debug, Default)]
pub(crate) struct Heap {
    objs: Vec<Obj>,
}

fn too_many() -> PyError {
    Limit::TooManyObjects { limit: MAX_OBJECTS }.into()
}

impl Heap {
    pub(crate) fn alloc(&mut self, o: Obj) -> Result<Id, PyError> {
        if self.objs.len() >= MAX_OBJECTS {
            return Err(too_many());
        }
        self.objs.push(o);
        Ok(self.objs.len() - 1)
    }

    pub(crate) fn get(&self, id: Id) -> Option<&Obj> {
        self.objs.get(id)
    }

    fn missing() -> PyError {
        InternalError::DanglingObject.into()
    }

    /// The key identity of a hashable object; `Err` for unhashable ones.
    fn key_repr(&self, id: Id) -> Result<KeyRepr, PyError> {
        Ok(match self.get(id).ok_or_else(Self::missing)? {
            Obj::None => KeyRepr::None,
            Obj::Bool(b) => KeyRepr::Int(BigInt::from_u64(u64::from(*b))),
            Obj::Int(PyInt::Exact(b)) => KeyRepr::Int(b.clone()),
            Obj::Int(PyInt::Huge) | Obj::Bytes | Obj::Timestamp => KeyRepr::Ident(id),
            Obj::Float(f) => {
                if f.is_nan() {
                    KeyRepr::Ident(id)
                } else if f.is_infinite() {
                    KeyRepr::Inf(*f > 0.0)
                } else if let Some(b) = BigInt::from_integral_f64(*f) {
                    KeyRepr::Int(b)
                } else {
                    KeyRepr::Frac(f.to_bits())
                }
            }
            Obj::Str(s) => KeyRepr::Str(s.clone()),
            Obj::List(_) | Obj::Tuple(_) | Obj::Set(_) | Obj::Dict(_) => {
                return Err(TypeError::UnhashableKey.into())
            }
        })
    }

    /// Whether `id` is hashable (may be a dict key).
    pub(crate) fn is_hashable(&self, id: Id) -> bool {
        self.key_repr(id).is_ok()
    }

    /// `dict[key] = value`.
    pub(crate) fn dict_set(&mut self, dict: Id, key: Id, value: Id) -> Result<(), PyError> {
        let repr = self.key_repr(key)?;
        let Some(Obj::Dict(d)) = self.objs.get_mut(dict) else {
            return Err(Self::missing());
        };
        match d.index.get(&repr) {
            Some(&i) => {
                if let Some(item) = d.items.get_mut(i) {
                    item.1 = value;
                }
            }
            None => {
                d.index.insert(repr, d.items.len());
                d.items.push((key, value));
            }
        }
        Ok(())
    }

    /// Adds a key to a `set` being filled from a dict's (distinct) keys.
    pub(crate) fn set_add(&mut self, set: Id, key: Id) -> Result<(), PyError> {
        self.key_repr(key)?;
        match self.objs.get_mut(set) {
            Some(Obj::Set(v)) => {
                v.push(key);
                Ok(())
            }
            _ => Err(Self::missing()),
        }
    }

    /// Appends to a list or tuple.
    pub(crate) fn push(&mut self, seq: Id, item: Id) -> Result<(), PyError> {
        match self.objs.get_mut(seq) {
            Some(Obj::List(v) | Obj::Tuple(v)) => {
                v.push(item);
                Ok(())
            }
            _ => Err(Self::missing()),
        }
    }

    /// The items of a dict.
    pub(crate) fn dict_items(&self, dict: Id) -> Option<&[(Id, Id)]> {
        match self.get(dict) {
            Some(Obj::Dict(d)) => Some(&d.items),
            _ => None,
        }
    }

    /// `{k: v for k, v in d.items() if k not in drop}` (only `str` keys can
    /// equal the `str` names dropped).
    pub(crate) fn dict_without(&mut self, dict: Id, drop: &[&str]) -> Result<Id, PyError> {
        let items: Vec<(Id, Id)> = self.dict_items(dict).ok_or_else(Self::missing)?.to_vec();
        let out = self.alloc(Obj::Dict(Box::default()))?;
        for (k, v) in items {
            let dropped = matches!(self.get(k), Some(Obj::Str(s)) if drop.iter().any(|d| s.is(d)));
            if !dropped {
                self.dict_set(out, k, v)?;
            }
        }
        Ok(out)
    }

    /// `json.dumps(obj, sort_keys=True, separators=(",", ":"))` appended
    /// to `out`; fails where Python raises, and past `limit` bytes.
    pub(crate) fn dump(&self, id: Id, out: &mut String, limit: usize) -> Result<(), PyError> {
        let mut markers = HashSet::new();
        self.dump_rec(id, out, &mut markers, 0, limit)
    }

    fn dump_rec(
        &self,
        id: Id,
        out: &mut String,
        markers: &mut HashSet<Id>,
        depth: usize,
        limit: usize,
    ) -> Result<(), PyError> {
        if out.len() > limit {
            return Err(Limit::OutputTooLong { limit }.into());
        }
        if depth > MAX_DUMP_DEPTH {
            return Err(Limit::TooDeep {
                levels: MAX_DUMP_DEPTH,
            }
            .into());
        }
        match self.get(id).ok_or_else(Self::missing)? {
            Obj::None => out.push_str("null"),
            Obj::Bool(true) => out.push_str("true"),
            Obj::Bool(false) => out.push_str("false"),
            Obj::Int(i) => out.push_str(&i.repr()?),
            Obj::Float(f) => out.push_str(&json_float(*f)),
            Obj::Str(s) => escape_into(s, out),
            Obj::Bytes => return Err(not_serialisable("bytes")),
            Obj::Timestamp => return Err(not_serialisable("datetime")),
            Obj::Set(_) => return Err(not_serialisable("set")),
            Obj::List(v) | Obj::Tuple(v) => {
                if v.is_empty() {
                    out.push_str("[]");
                    return Ok(());
                }
                if !markers.insert(id) {
                    return Err(PyError::CircularReference);
                }
                out.push('[');
                for (i, &item) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.dump_rec(item, out, markers, depth + 1, limit)?;
                }
                out.push(']');
                markers.remove(&id);
            }
            Obj::Dict(d) => {
                if d.items.is_empty() {
                    out.push_str("{}");
                    return Ok(());
                }
                if !markers.insert(id) {
                    return Err(PyError::CircularReference);
                }
                let items = self.sorted_items(&d.items)?;
                out.push('{');
                for (i, (k, v)) in items.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.dump_key(k, out)?;
                    out.push(':');
                    self.dump_rec(v, out, markers, depth + 1, limit)?;
                }
                out.push('}');
                markers.remove(&id);
            }
        }
        Ok(())
    }

    fn dump_key(&self, k: Id, out: &mut String) -> Result<(), PyError> {
        let text = match self.get(k).ok_or_else(Self::missing)? {
            Obj::Str(s) => {
                escape_into(s, out);
                return Ok(());
            }
            Obj::Float(f) => json_float(*f),
            Obj::Bool(b) => b.to_string(),
            Obj::None => "null".to_string(),
            Obj::Int(i) => i.repr()?,
            other => {
                return Err(TypeError::KeyType {
                    type_name: type_name(other),
                }
                .into())
            }
        };
        out.push('"');
        out.push_str(&text);
        out.push('"');
        Ok(())
    }

    /// `sorted(d.items())`, failing where Python's comparison raises.
    fn sorted_items(&self, items: &[(Id, Id)]) -> Result<Vec<(Id, Id)>, PyError> {
        let mut v = items.to_vec();
        if v.len() < 2 {
            return Ok(v);
        }
        let mut strs = 0usize;
        let mut nums = 0usize;
        let mut nan = false;
        for &(k, _) in &v {
            match self.get(k).ok_or_else(Self::missing)? {
                Obj::Str(_) => strs += 1,
                Obj::Bool(_) | Obj::Int(PyInt::Exact(_)) => nums += 1,
                Obj::Float(f) => {
                    nums += 1;
                    nan |= f.is_nan();
                }
                Obj::None => return Err(TypeError::NoneKeyOrder.into()),
                other => {
                    return Err(TypeError::KeyType {
                        type_name: type_name(other),
                    }
                    .into())
                }
            }
        }
        if strs > 0 && nums > 0 {
            return Err(TypeError::MixedKeyOrder.into());
        }
        if strs > 0 {
            let key = |id: Id| match self.get(id) {
                Some(Obj::Str(s)) => Some(s),
                _ => None,
            };
            v.sort_by(|a, b| key(a.0).cmp(&key(b.0)));
            return Ok(v);
        }
        let lt = |a: &(Id, Id), b: &(Id, Id)| self.num_cmp(a.0, b.0) == Some(Ordering::Less);
        if nan {
            if v.len() >= 64 {
                return Err(Limit::UnorderableNanKeys.into());
            }
            cpython_small_sort(&mut v, lt);
        } else {
            v.sort_by(|a, b| self.num_cmp(a.0, b.0).unwrap_or(Ordering::Equal));
        }
        Ok(v)
    }

    /// Python's `<`/`==` between two numbers (bool, int, float).
    fn num_cmp(&self, a: Id, b: Id) -> Option<Ordering> {
        enum N<'a> {
            I(std::borrow::Cow<'a, BigInt>),
            F(f64),
        }
        let num = |id: Id| -> Option<N<'_>> {
            match self.get(id)? {
                Obj::Bool(b) => Some(N::I(std::borrow::Cow::Owned(BigInt::from_u64(u64::from(
                    *b,
                ))))),
                Obj::Int(PyInt::Exact(i)) => Some(N::I(std::borrow::Cow::Borrowed(i))),
                Obj::Float(f) => Some(N::F(*f)),
                _ => None,
            }
        };
        match (num(a)?, num(b)?) {
            (N::I(x), N::I(y)) => Some(x.cmp(&y)),
            (N::F(x), N::F(y)) => x.partial_cmp(&y),
            (N::I(x), N::F(y)) => x.cmp_f64(y),
            (N::F(x), N::I(y)) => y.cmp_f64(x).map(Ordering::reverse),
        }
    }
}

/// CPython 3.11 `list.sort` for fewer than 64 items (`count_run`, then
/// binary insertion sort): with NaN keys the order depends on the algorithm.
fn cpython_small_sort<T: Copy>(v: &mut [T], lt: impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let at = |v: &[T], i: usize| v.get(i).copied();
    let less = |v: &[T], i: usize, j: usize| match (at(v, i), at(v, j)) {
        (Some(a), Some(b)) => lt(&a, &b),
        _ => false,
    };
    let mut run = 2;
    if less(v, 1, 0) {
        while run < n && less(v, run, run - 1) {
            run += 1;
        }
        if let Some(s) = v.get_mut(..run) {
            s.reverse();
        }
    } else {
        while run < n && !less(v, run, run - 1) {
            run += 1;
        }
    }
    for start in run..n {
        let Some(pivot) = at(v, start) else { return };
        let (mut l, mut r) = (0usize, start);
        while l < r {
            let p = l + ((r - l) >> 1);
            match at(v, p) {
                Some(x) if lt(&pivot, &x) => r = p,
                _ => l = p + 1,
            }
        }
        if let Some(s) = v.get_mut(l..=start) {
            s.rotate_right(1);
        }
    }
}

fn type_name(o: &Obj) -> &'static str {
    match o {
        Obj::None => "NoneType",
        Obj::Bool(_) => "bool",
        Obj::Int(_) => "int",
        Obj::Float(_) => "float",
        Obj::Str(_) => "str",
        Obj::Bytes => "bytes",
        Obj::Timestamp => "datetime",
        Obj::List(_) => "list",
        Obj::Tuple(_) => "tuple",
        Obj::Set(_) => "set",
        Obj::Dict(_) => "dict",
    }
}

fn not_serialisable(t: &'static str) -> PyError {
    TypeError::NotSerializable { type_name: t }.into()
}

/// A float as the JSON encoder writes it.
fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        float_repr(f)
    }
}

/// A string as the JSON encoder writes it with `ensure_ascii=True`.
pub(crate) fn escape_into(s: &PyStr, out: &mut String) {
    out.push('"');
    for &c in &s.0 {
        match c {
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            0x09 => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            0x20..=0x7e => out.push(char::from(c as u8)),
            0x10000.. => {
                let v = c - 0x10000;
                out.push_str(&format!(
                    "\\u{:04x}\\u{:04x}",
                    0xd800 | (v >> 10),
                    0xdc00 | (v & 0x3ff)
                ));
            }
            _ => out.push_str(&format!("\\u{c:04x}")),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_python() {
        let s = PyStr(vec![
            0x22, 0x5c, 0x0a, 0x01, 0x7f, 0xe9, 0xd83d, 0x1f600, 0x41,
        ]);
        let mut out = String::new();
        escape_into(&s, &mut out);
        assert_eq!(out, r#""\"\\\n\u0001\u007f\u00e9\ud83d\ud83d\ude00A""#);
    }

    #[test]
    fn small_sort_is_cpythons() {
        // Plain ints: ordinary ascending order.
        let mut v = [5, 3, 9, 1, 7];
        cpython_small_sort(&mut v, |a, b| a < b);
        assert_eq!(v, [1, 3, 5, 7, 9]);
        let mut v = [9, 7, 5, 3, 1, 2];
        cpython_small_sort(&mut v, |a, b| a < b);
        assert_eq!(v, [1, 2, 3, 5, 7, 9]);
    }
}
