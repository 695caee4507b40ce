//! PyYAML's `Resolver` (`yaml/resolver.py`) for `SafeLoader`: the YAML 1.1
//! tags, and the implicit resolvers that type a plain scalar by its text
//! (`on` is a bool, `1_000` an int, `0o17` a string), their regular
//! expressions written out as functions.

use crate::pyobj::PyStr;

// The tags of the YAML 1.1 types, `DEFAULT_SCALAR_TAG` and the others.
pub(super) const STR: &str = "tag:yaml.org,2002:str";
pub(super) const SEQ: &str = "tag:yaml.org,2002:seq";
pub(super) const MAP: &str = "tag:yaml.org,2002:map";
pub(super) const NULL: &str = "tag:yaml.org,2002:null";
pub(super) const BOOL: &str = "tag:yaml.org,2002:bool";
pub(super) const INT: &str = "tag:yaml.org,2002:int";
pub(super) const FLOAT: &str = "tag:yaml.org,2002:float";
pub(super) const BINARY: &str = "tag:yaml.org,2002:binary";
pub(super) const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
pub(super) const OMAP: &str = "tag:yaml.org,2002:omap";
pub(super) const PAIRS: &str = "tag:yaml.org,2002:pairs";
pub(super) const SET: &str = "tag:yaml.org,2002:set";
pub(super) const MERGE: &str = "tag:yaml.org,2002:merge";
pub(super) const VALUE: &str = "tag:yaml.org,2002:value";
pub(super) const YAML: &str = "tag:yaml.org,2002:yaml";

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
pub(super) struct Ts {
    pub(super) year: u32,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) time: Option<(u32, u32, u32)>,
    /// Offset in minutes (sign applied), for `+hh[:mm]` / `-hh[:mm]`.
    pub(super) tz_minutes: Option<i64>,
}

/// The pieces of `s` if it is a timestamp: by the resolver's pattern when
/// `strict_date`, by `SafeConstructor.timestamp_regexp` otherwise.
pub(super) fn parse_ts(s: &str, strict_date: bool) -> Option<Ts> {
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
pub(super) fn resolve_scalar(value: &PyStr, implicit: (bool, bool)) -> &'static str {
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
