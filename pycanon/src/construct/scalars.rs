//! The values of the scalars whose `SafeConstructor` methods do more than
//! take the string (`construct_yaml_int`, `_float`, `_binary` and
//! `_timestamp`), with the errors Python raises on the way. Only ints and
//! floats are kept; bytes and timestamps are checked, then stand as
//! objects `json.dumps` refuses.

use super::resolver::parse_ts;
use crate::pynum::{py_float, py_int, BigInt, NumberError, PyInt};
use crate::pyobj::PyStr;

type R<T> = Result<T, ScalarError>;

/// What Python raises while `SafeConstructor` makes a value of a scalar
/// (shown after the scalar's mark as a [`ConstructorError`]).
///
/// [`ConstructorError`]: super::ConstructorError
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScalarError {
    /// A `!!bool` scalar that is no YAML 1.1 boolean.
    #[error("{value:?} is not a YAML 1.1 boolean")]
    NotBool {
        /// The scalar (lone surrogates replaced).
        value: String,
    },
    /// A `!!timestamp` tag on a collection.
    #[error("a timestamp must be a scalar")]
    TimestampNotScalar,
    /// A tag `SafeConstructor` has no constructor for.
    #[error("could not determine a constructor for the tag {tag:?}")]
    UnknownTag {
        /// The tag.
        tag: String,
    },
    /// The `IndexError` of `construct_yaml_int` on an empty (or
    /// underscores-only) scalar.
    #[error("string index out of range (empty int)")]
    EmptyInt,
    /// The `IndexError` of `construct_yaml_float` on an empty (or
    /// underscores-only) scalar.
    #[error("string index out of range (empty float)")]
    EmptyFloat,
    /// The `OverflowError` of a sexagesimal float whose place values pass
    /// the largest float.
    #[error("OverflowError: int too large to convert to float")]
    IntTooLargeForFloat,
    /// What `int()` or `float()` raises on the scalar.
    #[error(transparent)]
    Number(#[from] NumberError),
    /// `!!binary` data with characters outside ASCII.
    #[error("failed to convert base64 data into ascii")]
    Base64NotAscii,
    /// `!!binary` data whose length leaves one character over.
    #[error("failed to decode base64 data: number of data characters ({data}) cannot be 1 more than a multiple of 4")]
    Base64Length {
        /// The base64 characters read.
        data: usize,
    },
    /// `!!binary` data whose padding is incomplete.
    #[error("failed to decode base64 data: Incorrect padding")]
    Base64Padding,
    /// The `AttributeError` of a `!!timestamp` scalar that is no timestamp.
    #[error("'NoneType' object has no attribute 'groupdict' (not a timestamp)")]
    NotTimestamp,
    /// A time zone offset of a day or more.
    #[error(
        "offset must be a timedelta strictly between -timedelta(hours=24) and timedelta(hours=24)"
    )]
    OffsetOutOfRange,
    /// A year outside 1..=9999.
    #[error("year {year} is out of range")]
    YearOutOfRange {
        /// The year.
        year: u32,
    },
    /// A month outside 1..=12.
    #[error("month must be in 1..12")]
    MonthOutOfRange,
    /// A day the month does not have.
    #[error("day is out of range for month")]
    DayOutOfRange,
    /// An hour past 23.
    #[error("hour must be in 0..23")]
    HourOutOfRange,
    /// A minute past 59.
    #[error("minute must be in 0..59")]
    MinuteOutOfRange,
    /// A second past 59.
    #[error("second must be in 0..59")]
    SecondOutOfRange,
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
pub(super) fn construct_int(v: &PyStr) -> R<PyInt> {
    let mut value = without_underscores(v);
    let first = *value.first().ok_or(ScalarError::EmptyInt)?;
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
        return py_int(value.get(2..).unwrap_or_default(), 2)
            .map(sign)
            .map_err(ScalarError::Number);
    }
    if starts(&value, "0x") {
        return py_int(value.get(2..).unwrap_or_default(), 16)
            .map(sign)
            .map_err(ScalarError::Number);
    }
    let first = *value.first().ok_or(ScalarError::EmptyInt)?;
    if first == u32::from('0') {
        return py_int(&value, 8).map(sign).map_err(ScalarError::Number);
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
    py_int(&value, 10).map(sign).map_err(ScalarError::Number)
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
    let first = *value.first().ok_or(ScalarError::EmptyFloat)?;
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
            let b = base.to_f64().ok_or(ScalarError::IntTooLargeForFloat)?;
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
            return Err(ScalarError::Base64NotAscii);
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
        1 => Err(ScalarError::Base64Length { data }),
        _ => Err(ScalarError::Base64Padding),
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
        .ok_or(ScalarError::NotTimestamp)?;
    if let Some(tz) = ts.tz_minutes {
        if tz.abs() >= 24 * 60 {
            return Err(ScalarError::OffsetOutOfRange);
        }
    }
    if !(1..=9999).contains(&ts.year) {
        return Err(ScalarError::YearOutOfRange { year: ts.year });
    }
    if !(1..=12).contains(&ts.month) {
        return Err(ScalarError::MonthOutOfRange);
    }
    let leap = ts.year % 4 == 0 && (ts.year % 100 != 0 || ts.year % 400 == 0);
    let dim = match ts.month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if ts.day < 1 || ts.day > dim {
        return Err(ScalarError::DayOutOfRange);
    }
    if let Some((h, m, s)) = ts.time {
        if h > 23 {
            return Err(ScalarError::HourOutOfRange);
        }
        if m > 59 {
            return Err(ScalarError::MinuteOutOfRange);
        }
        if s > 59 {
            return Err(ScalarError::SecondOutOfRange);
        }
    }
    Ok(())
}
