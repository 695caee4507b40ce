//! `yaml.safe_load`'s composer, resolver and `SafeConstructor` (PyYAML
//! 6.0), ported: YAML 1.1 implicit typing, explicit `!!` tags, anchors,
//! aliases, merge keys (`<<`, which rewrite the shared nodes as PyYAML does),
//! the `=` value key, and the breadth-first order in which PyYAML fills
//! collections. Objects that `json.dumps` cannot write (bytes, dates, sets)
//! are built as such so that they only fail when they are kept in the
//! canonical form.

use std::collections::{HashMap, HashSet};

use crate::pynum::{py_float, py_int, BigInt, PyInt};
use crate::pyobj::{Heap, Id, Obj, PyStr};
use crate::yaml11::{Event, Mark, Parser};
use crate::MAX_DEPTH;

const STR: &str = "tag:yaml.org,2002:str";
const SEQ: &str = "tag:yaml.org,2002:seq";
const MAP: &str = "tag:yaml.org,2002:map";
const NULL: &str = "tag:yaml.org,2002:null";
const BOOL: &str = "tag:yaml.org,2002:bool";
const INT: &str = "tag:yaml.org,2002:int";
const FLOAT: &str = "tag:yaml.org,2002:float";
const BINARY: &str = "tag:yaml.org,2002:binary";
const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
const OMAP: &str = "tag:yaml.org,2002:omap";
const PAIRS: &str = "tag:yaml.org,2002:pairs";
const SET: &str = "tag:yaml.org,2002:set";
const MERGE: &str = "tag:yaml.org,2002:merge";
const VALUE: &str = "tag:yaml.org,2002:value";
const YAML: &str = "tag:yaml.org,2002:yaml";

/// Bound on the nodes (scalars and collections) of a manifest.
pub(crate) const MAX_NODES: usize = 100_000;

/// Bound on map entries copied or moved by merge keys (PyYAML copies them,
/// nested merges can double the count at every level, and each merge key
/// is deleted from its list in place).
const MAX_MERGED_ENTRIES: usize = 1 << 20;

/// Bound on PyYAML's recursive helpers (`flatten_mapping`, the `=` key in
/// `construct_scalar`), where Python would hit its recursion limit.
const MAX_RECURSION: usize = 512;

type R<T> = Result<T, String>;

#[derive(Debug)]
enum Kind {
    Scalar(PyStr),
    Seq(Vec<usize>),
    Map(Vec<(usize, usize)>),
}

type Tag = std::borrow::Cow<'static, str>;

#[derive(Debug)]
struct Node {
    tag: Tag,
    kind: Kind,
    mark: Mark,
}

impl Node {
    fn id(&self) -> &'static str {
        match self.kind {
            Kind::Scalar(_) => "scalar",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }
}

/// `yaml.safe_load(text)` into `heap`; `Ok(None)` for an empty stream.
pub(crate) fn safe_load(text: &str, heap: &mut Heap) -> R<Option<Id>> {
    let mut c = Composer {
        parser: Parser::new(text)?,
        nodes: Vec::new(),
        anchors: HashMap::new(),
    };
    let Some(root) = c.get_single_node()? else {
        return Ok(None);
    };
    let count = c.nodes.len();
    let mut k = Constructor {
        nodes: c.nodes,
        heap,
        constructed: vec![None; count],
        recursive: HashSet::new(),
        pending: Vec::new(),
        merged: 0,
        nan_value: None,
    };
    k.construct_document(root).map(Some)
}

// ---------------------------------------------------------------- Composer

struct Composer {
    parser: Parser,
    nodes: Vec<Node>,
    anchors: HashMap<String, usize>,
}

impl Composer {
    fn is_stream_end(&mut self) -> R<bool> {
        Ok(matches!(self.parser.peek_event()?, Some(Event::StreamEnd)))
    }

    fn get_single_node(&mut self) -> R<Option<usize>> {
        self.parser.get_event()?;
        let mut document = None;
        if !self.is_stream_end()? {
            document = Some(self.compose_document()?);
        }
        if !self.is_stream_end()? {
            self.parser.get_event()?;
            return Err(
                "expected a single document in the stream, but found another document".into(),
            );
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
            return Err(format!("the manifest has more than {MAX_NODES} nodes"));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn compose_node(&mut self, depth: usize) -> R<usize> {
        if depth > MAX_DEPTH {
            return Err(format!("the manifest nests deeper than {MAX_DEPTH} levels"));
        }
        let event = self
            .parser
            .get_event()?
            .ok_or_else(|| "unexpected end of the event stream".to_string())?;
        if let Event::Alias { anchor, mark } = &event {
            return self
                .anchors
                .get(anchor)
                .copied()
                .ok_or_else(|| format!("found undefined alias {anchor:?} ({mark})"));
        }
        if let Some(a) = event.anchor() {
            if self.anchors.contains_key(a) {
                return Err(format!("found duplicate anchor {a:?}"));
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
            other => Err(format!("internal: unexpected event {other:?}")),
        }
    }
}

// ---------------------------------------------------------------- Resolver

/// `re.match('^(?:...)$', s)`: `$` also matches before a final newline.
fn full(s: &str, m: impl Fn(&str) -> bool) -> bool {
    m(s) || s.strip_suffix('\n').is_some_and(m)
}

fn all(s: &str, f: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(f)
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_null(s: &str) -> bool {
    matches!(s, "~" | "null" | "Null" | "NULL" | "")
}

/// `[0-5]?[0-9]`
fn is_sexagesimal_digit(p: &str) -> bool {
    let b = p.as_bytes();
    match b {
        [d] => d.is_ascii_digit(),
        [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
        _ => false,
    }
}

/// `[0-9][0-9_]*` (or `[1-9][0-9_]*` when `nonzero`).
fn is_digits(p: &str, nonzero: bool) -> bool {
    let mut it = p.bytes();
    match it.next() {
        Some(b) if b.is_ascii_digit() && (!nonzero || b != b'0') => {
            it.all(|b| b.is_ascii_digit() || b == b'_')
        }
        _ => false,
    }
}

fn is_int(s: &str) -> bool {
    let r = strip_sign(s);
    if let Some(rest) = r.strip_prefix("0b") {
        if !rest.is_empty() && all(rest, |b| matches!(b, b'0' | b'1' | b'_')) {
            return true;
        }
    }
    if let Some(rest) = r.strip_prefix("0x") {
        if !rest.is_empty() && all(rest, |b| b.is_ascii_hexdigit() || b == b'_') {
            return true;
        }
    }
    if let Some(rest) = r.strip_prefix('0') {
        if !rest.is_empty() && all(rest, |b| matches!(b, b'0'..=b'7' | b'_')) {
            return true;
        }
    }
    if r == "0" || is_digits(r, true) {
        return true;
    }
    // [1-9][0-9_]*(:[0-5]?[0-9])+
    let mut parts = r.split(':');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty() && is_digits(first, true) && rest.iter().all(|p| is_sexagesimal_digit(p))
}

/// `[eE][-+][0-9]+` or nothing.
fn is_exponent_or_empty(e: &str) -> bool {
    if e.is_empty() {
        return true;
    }
    let b = e.as_bytes();
    matches!(b.first(), Some(b'e' | b'E'))
        && matches!(b.get(1), Some(b'-' | b'+'))
        && b.len() > 2
        && b.iter().skip(2).all(u8::is_ascii_digit)
}

/// `[0-9_]*` then an optional exponent.
fn is_fraction_exp(f: &str) -> bool {
    let cut = f.find(['e', 'E']).unwrap_or(f.len());
    let (digits, exp) = f.split_at(cut);
    all(digits, |b| b.is_ascii_digit() || b == b'_') && is_exponent_or_empty(exp)
}

fn is_float(s: &str) -> bool {
    // \.[0-9][0-9_]*(exp)?   and   \.(nan|NaN|NAN)   (no sign)
    if let Some(rest) = s.strip_prefix('.') {
        if matches!(rest, "nan" | "NaN" | "NAN") {
            return true;
        }
        if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) && is_fraction_exp(rest) {
            return true;
        }
    }
    let r = strip_sign(s);
    if matches!(r, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    // [0-9][0-9_]*\.[0-9_]*(exp)?
    if let Some((int, frac)) = r.split_once('.') {
        if is_digits(int, false) && is_fraction_exp(frac) {
            return true;
        }
        // [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
        let mut parts = int.split(':');
        let first = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        if !rest.is_empty()
            && is_digits(first, false)
            && rest.iter().all(|p| is_sexagesimal_digit(p))
            && all(frac, |b| b.is_ascii_digit() || b == b'_')
        {
            return true;
        }
    }
    false
}

/// The pieces of a timestamp; `strict_date` is the resolver's rule that a
/// date without a time has two-digit month and day.
struct Ts {
    year: u32,
    month: u32,
    day: u32,
    time: Option<(u32, u32, u32)>,
    /// Offset in minutes (sign applied), for `+hh[:mm]` / `-hh[:mm]`.
    tz_minutes: Option<i64>,
}

fn parse_ts(s: &str, strict_date: bool) -> Option<Ts> {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *i;
        while *i - start < max && b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        if *i - start < min {
            return None;
        }
        std::str::from_utf8(b.get(start..*i)?).ok()?.parse().ok()
    };
    let eat = |i: &mut usize, c: u8| -> bool {
        if b.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    let year = digits(&mut i, 4, 4)?;
    if !eat(&mut i, b'-') {
        return None;
    }
    let m0 = i;
    let month = digits(&mut i, 1, 2)?;
    let month_len = i - m0;
    if !eat(&mut i, b'-') {
        return None;
    }
    let d0 = i;
    let day = digits(&mut i, 1, 2)?;
    let day_len = i - d0;
    let mut ts = Ts {
        year,
        month,
        day,
        time: None,
        tz_minutes: None,
    };
    if i == b.len() {
        if strict_date && (month_len != 2 || day_len != 2) {
            return None;
        }
        return Some(ts);
    }
    match b.get(i) {
        Some(b'T' | b't') => i += 1,
        Some(b' ' | b'\t') => {
            while matches!(b.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
        }
        _ => return None,
    }
    let hour = digits(&mut i, 1, 2)?;
    if !eat(&mut i, b':') {
        return None;
    }
    let minute = digits(&mut i, 2, 2)?;
    if !eat(&mut i, b':') {
        return None;
    }
    let second = digits(&mut i, 2, 2)?;
    ts.time = Some((hour, minute, second));
    if eat(&mut i, b'.') {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if i == b.len() {
        return Some(ts);
    }
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(&sign @ (b'-' | b'+')) => {
            i += 1;
            let h = i64::from(digits(&mut i, 1, 2)?);
            let mut m = 0i64;
            if eat(&mut i, b':') {
                m = i64::from(digits(&mut i, 2, 2)?);
            }
            let total = h * 60 + m;
            ts.tz_minutes = Some(if sign == b'-' { -total } else { total });
        }
        _ => return None,
    }
    (i == b.len()).then_some(ts)
}

fn is_timestamp(s: &str) -> bool {
    parse_ts(s, true).is_some()
}

/// `Resolver.resolve(ScalarNode, value, implicit)` with PyYAML's implicit
/// resolvers, tried in registration order for the value's first character.
fn resolve_scalar(value: &PyStr, implicit: (bool, bool)) -> &'static str {
    if !implicit.0 {
        return STR;
    }
    // Every implicit pattern is ASCII: anything else is a string.
    let Some(s) = value
        .0
        .iter()
        .map(|&c| u8::try_from(c).ok().filter(u8::is_ascii).map(char::from))
        .collect::<Option<String>>()
    else {
        return STR;
    };
    let first = s.chars().next();
    type Resolver = (&'static str, fn(&str) -> bool, &'static str);
    const RESOLVERS: [Resolver; 8] = [
        (BOOL, is_bool, "yYnNtTfFoO"),
        (FLOAT, is_float, "-+0123456789."),
        (INT, is_int, "-+0123456789"),
        (MERGE, |s| s == "<<", "<"),
        (NULL, is_null, "~nN"),
        (TIMESTAMP, is_timestamp, "0123456789"),
        (VALUE, |s| s == "=", "="),
        (YAML, |s| matches!(s, "!" | "&" | "*"), "!&*"),
    ];
    match first {
        None => {
            // Only the null resolver is registered for ''.
            if full(&s, is_null) {
                return NULL;
            }
        }
        Some(c) => {
            for (tag, m, firsts) in RESOLVERS {
                if firsts.contains(c) && full(&s, m) {
                    return tag;
                }
            }
        }
    }
    STR
}

// ---------------------------------------------------------------- Constructor

#[derive(Clone, Copy, Debug)]
enum Gen {
    Seq,
    Map,
    Set,
    Pairs,
}

struct Constructor<'h> {
    nodes: Vec<Node>,
    heap: &'h mut Heap,
    constructed: Vec<Option<Id>>,
    recursive: HashSet<usize>,
    pending: Vec<(Gen, usize, Id)>,
    merged: usize,
    nan_value: Option<Id>,
}

impl Constructor<'_> {
    fn node(&self, n: usize) -> R<&Node> {
        self.nodes
            .get(n)
            .ok_or_else(|| "internal: dangling node".to_string())
    }

    fn construct_document(&mut self, root: usize) -> R<Id> {
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
            return Err(format!("found unconstructable recursive node ({mark})"));
        }
        self.recursive.insert(n);
        let tag = self.node(n)?.tag.clone();
        let at = |e: String| format!("{e} ({mark})");
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
                    _ => return Err(at(format!("{:?} is not a YAML 1.1 boolean", v.lossy()))),
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
                    return Err(at("a timestamp must be a scalar".into()));
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
                return Err(at(format!(
                    "could not determine a constructor for the tag {other:?}"
                )))
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
            return Err("maximum recursion depth exceeded in construct_scalar".into());
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
                Err(format!(
                    "expected a scalar node, but found mapping ({})",
                    node.mark
                ))
            }
            Kind::Seq(_) => Err(format!(
                "expected a scalar node, but found sequence ({})",
                node.mark
            )),
        }
    }

    fn run_generator(&mut self, g: Gen, n: usize, obj: Id) -> R<()> {
        match g {
            Gen::Seq => {
                let node = self.node(n)?;
                let Kind::Seq(children) = &node.kind else {
                    return Err(format!(
                        "expected a sequence node, but found {} ({})",
                        node.id(),
                        node.mark
                    ));
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
                    return Err(format!(
                        "expected a mapping node, but found {} ({})",
                        node.id(),
                        node.mark
                    ));
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
                        return Err(format!(
                            "while constructing a mapping ({mark}): found unhashable key"
                        ));
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
                    return Err(format!(
                        "while constructing an ordered map ({mark}): expected a sequence"
                    ));
                };
                for sub in children.clone() {
                    let s = self.node(sub)?;
                    let Kind::Map(items) = &s.kind else {
                        return Err(format!(
                            "while constructing an ordered map ({mark}): expected a mapping of length 1, but found {}",
                            s.id()
                        ));
                    };
                    let [(k, v)] = items.as_slice() else {
                        return Err(format!(
                            "while constructing an ordered map ({mark}): expected a single mapping item, but found {} items",
                            items.len()
                        ));
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
            return Err(format!(
                "merge keys copy more than {MAX_MERGED_ENTRIES} entries"
            ));
        }
        Ok(())
    }

    /// `SafeConstructor.flatten_mapping`: splices `<<` merges into the node
    /// (mutating it, as PyYAML does) and retags `=` keys as strings.
    fn flatten_mapping(&mut self, n: usize, depth: usize) -> R<()> {
        if depth > MAX_RECURSION {
            return Err("maximum recursion depth exceeded in flatten_mapping".into());
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
                    return Err(format!(
                        "merge keys copy more than {MAX_MERGED_ENTRIES} entries"
                    ));
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
                                return Err(format!(
                                    "while constructing a mapping ({mark}): expected a mapping for merging, but found {}",
                                    s.id()
                                ));
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
                    Kind::Scalar(_) => {
                        return Err(format!(
                            "while constructing a mapping ({mark}): expected a mapping or list of mappings for merging, but found scalar"
                        ))
                    }
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
                return Err(format!(
                    "merge keys copy more than {MAX_MERGED_ENTRIES} entries"
                ));
            }
        }
        Ok(())
    }
}

fn without_underscores(v: &PyStr) -> Vec<u32> {
    v.0.iter()
        .copied()
        .filter(|&c| c != u32::from('_'))
        .collect()
}

fn starts(v: &[u32], p: &str) -> bool {
    v.len() >= p.len() && v.iter().zip(p.bytes()).all(|(&a, b)| a == u32::from(b))
}

/// `SafeConstructor.construct_yaml_int`.
fn construct_int(v: &PyStr) -> R<PyInt> {
    let mut value = without_underscores(v);
    let first = *value
        .first()
        .ok_or("string index out of range (empty int)")?;
    let neg = first == u32::from('-');
    if first == u32::from('-') || first == u32::from('+') {
        value.remove(0);
    }
    let sign = |i: PyInt| match i {
        PyInt::Exact(b) if neg => PyInt::Exact(b.negated()),
        other => other,
    };
    if value == [u32::from('0')] {
        return Ok(PyInt::Exact(BigInt::default()));
    }
    if starts(&value, "0b") {
        return py_int(value.get(2..).unwrap_or_default(), 2).map(sign);
    }
    if starts(&value, "0x") {
        return py_int(value.get(2..).unwrap_or_default(), 16).map(sign);
    }
    let first = *value
        .first()
        .ok_or("string index out of range (empty int)")?;
    if first == u32::from('0') {
        return py_int(&value, 8).map(sign);
    }
    if value.contains(&u32::from(':')) {
        let mut digits = Vec::new();
        for part in value.split(|&c| c == u32::from(':')) {
            match py_int(part, 10)? {
                PyInt::Exact(b) => digits.push(b),
                PyInt::Huge => return Ok(PyInt::Huge),
            }
        }
        // sum(d * 60**i) computed by Horner's rule (exact integers); once
        // past 2^14301 the value can no longer come back under 4300 digits.
        let mut acc = BigInt::default();
        for d in &digits {
            acc = acc.mul_small(60).add(d);
            if acc.bits() > 14_301 {
                return Ok(PyInt::Huge);
            }
        }
        return Ok(sign(PyInt::from_big(acc)));
    }
    py_int(&value, 10).map(sign)
}

/// `SafeConstructor.construct_yaml_float`; `None` stands for the shared
/// `nan_value` object.
fn construct_float(v: &PyStr) -> R<Option<f64>> {
    let mut value: Vec<u32> = without_underscores(v)
        .into_iter()
        .map(|c| {
            if (0x41..=0x5a).contains(&c) {
                c + 0x20
            } else {
                c
            }
        })
        .collect();
    let first = *value
        .first()
        .ok_or("string index out of range (empty float)")?;
    let sign = if first == u32::from('-') { -1.0 } else { 1.0 };
    if first == u32::from('-') || first == u32::from('+') {
        value.remove(0);
    }
    let is = |p: &str| value.len() == p.len() && starts(&value, p);
    if is(".inf") {
        return Ok(Some(sign * f64::INFINITY));
    }
    if is(".nan") {
        return Ok(None);
    }
    if value.contains(&u32::from(':')) {
        let mut digits = Vec::new();
        for part in value.split(|&c| c == u32::from(':')) {
            digits.push(py_float(part)?);
        }
        let mut base = BigInt::from_u64(1);
        let mut acc = 0.0f64;
        for d in digits.iter().rev() {
            let b = base
                .to_f64()
                .ok_or("OverflowError: int too large to convert to float")?;
            acc += d * b;
            base = base.mul_small(60);
        }
        return Ok(Some(sign * acc));
    }
    Ok(Some(sign * py_float(&value)?))
}

/// `base64.decodebytes` (binascii's non-strict decoder): characters
/// outside the alphabet are skipped, a complete pad ends the data.
fn decode_base64(v: &PyStr) -> R<()> {
    let mut quad = 0u32;
    let mut pads = 0u32;
    let mut data = 0usize;
    for &c in &v.0 {
        if c >= 0x80 {
            return Err("failed to convert base64 data into ascii".into());
        }
        let b = c as u8;
        if b == b'=' {
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    return Ok(());
                }
            }
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/') {
            continue;
        }
        data += 1;
        quad = (quad + 1) % 4;
    }
    match quad {
        0 => Ok(()),
        1 => Err(format!(
            "failed to decode base64 data: number of data characters ({}) cannot be 1 more than a multiple of 4",
            data
        )),
        _ => Err("failed to decode base64 data: Incorrect padding".into()),
    }
}

/// `SafeConstructor.construct_yaml_timestamp`: `date()` / `datetime()` /
/// `timezone()` range checks.
fn construct_timestamp(v: &PyStr) -> R<()> {
    let s: Option<String> =
        v.0.iter()
            .map(|&c| u8::try_from(c).ok().filter(u8::is_ascii).map(char::from))
            .collect();
    let ts = s
        .as_deref()
        .and_then(|s| {
            parse_ts(s, false).or_else(|| s.strip_suffix('\n').and_then(|t| parse_ts(t, false)))
        })
        .ok_or("'NoneType' object has no attribute 'groupdict' (not a timestamp)")?;
    if let Some(tz) = ts.tz_minutes {
        if tz.abs() >= 24 * 60 {
            return Err("offset must be a timedelta strictly between -timedelta(hours=24) and timedelta(hours=24)".into());
        }
    }
    if !(1..=9999).contains(&ts.year) {
        return Err(format!("year {} is out of range", ts.year));
    }
    if !(1..=12).contains(&ts.month) {
        return Err("month must be in 1..12".into());
    }
    let leap = ts.year % 4 == 0 && (ts.year % 100 != 0 || ts.year % 400 == 0);
    let dim = match ts.month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if ts.day < 1 || ts.day > dim {
        return Err("day is out of range for month".into());
    }
    if let Some((h, m, s)) = ts.time {
        if h > 23 {
            return Err("hour must be in 0..23".into());
        }
        if m > 59 {
            return Err("minute must be in 0..59".into());
        }
        if s > 59 {
            return Err("second must be in 0..59".into());
        }
    }
    Ok(())
}
