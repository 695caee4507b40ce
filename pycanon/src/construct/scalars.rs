//! The values of the scalars whose `SafeConstructor` methods do more than
//! take the string (`construct_yaml_int`, `_float`, `_binary` and
//! `_timestamp`), with the errors Python raises on the way. Only ints and
//! floats are kept; bytes and timestamps are checked, then stand as
//! objects `json.dumps` refuses.

use super::resolver::parse_ts;
use crate::pynum::{py_float, py_int, BigInt, PyInt};
use crate::pyobj::PyStr;

type R<T> = Result<T, String>;

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
pub(super) fn construct_int(v: &PyStr) -> R<PyInt> {
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
pub(super) fn construct_float(v: &PyStr) -> R<Option<f64>> {
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
pub(super) fn decode_base64(v: &PyStr) -> R<()> {
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
pub(super) fn construct_timestamp(v: &PyStr) -> R<()> {
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
