//! `int(s, base)` and `float(s)` on a Python `str`, as PyYAML's
//! constructor and the JSON decoder call them: Unicode digits and spaces
//! are accepted as CPython accepts them, and base 10 refuses more than
//! [`MAX_STR_DIGITS`] digits.

use super::bigint::{BigInt, PyInt, MAX_STR_DIGITS};
use super::NumberError;

/// `Py_ISSPACE`: the ASCII whitespace `int()` and `float()` strip.
fn is_ascii_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Non-ASCII code points for which `str.isspace()` is true (Unicode 14).
const UNICODE_SPACES: [u32; 19] = [
    0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
    0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
];

/// The zero of every run of ten Unicode decimal digits (category Nd,
/// Unicode 14 as in Python 3.11), above ASCII.
const DECIMAL_ZEROS: [u32; 65] = [
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
    0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50,
    0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

fn unicode_decimal(cp: u32) -> Option<u8> {
    let i = DECIMAL_ZEROS.partition_point(|&z| z <= cp);
    let zero = *DECIMAL_ZEROS.get(i.checked_sub(1)?)?;
    let d = cp - zero;
    (d < 10).then_some(d as u8)
}

/// CPython's `_PyUnicode_TransformDecimalAndSpaceToASCII`, the first step
/// of `int(str)` and `float(str)`.
fn to_ascii_number(s: &[u32]) -> Result<Vec<u8>, NumberError> {
    let mut out = Vec::with_capacity(s.len());
    for &cp in s {
        if cp < 0x80 {
            out.push(cp as u8);
        } else if UNICODE_SPACES.contains(&cp) {
            out.push(b' ');
        } else if let Some(d) = unicode_decimal(cp) {
            out.push(b'0' + d);
        } else {
            return Err(NumberError::InvalidCharacter { code_point: cp });
        }
    }
    Ok(out)
}

/// `int(s, base)` for base 2, 8, 10 or 16 (no underscores ever reach it:
/// PyYAML removes them first).
pub(crate) fn py_int(s: &[u32], base: u32) -> Result<PyInt, NumberError> {
    let bytes = to_ascii_number(s)?;
    let invalid = || NumberError::InvalidInt {
        base,
        literal: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let mut i = 0;
    while bytes.get(i).copied().is_some_and(is_ascii_py_space) {
        i += 1;
    }
    let mut neg = false;
    match bytes.get(i) {
        Some(b'-') => {
            neg = true;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    if bytes.get(i) == Some(&b'0') {
        let p = bytes.get(i + 1).map(u8::to_ascii_lowercase);
        if matches!(
            (base, p),
            (16, Some(b'x')) | (8, Some(b'o')) | (2, Some(b'b'))
        ) {
            i += 2;
        }
    }
    let start = i;
    let mut digits = Vec::new();
    while let Some(&b) = bytes.get(i) {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            b'A'..=b'Z' => b - b'A' + 10,
            _ => break,
        };
        if u32::from(d) >= base {
            return Err(invalid());
        }
        digits.push(d);
        i += 1;
    }
    if i == start {
        return Err(invalid());
    }
    while bytes.get(i).copied().is_some_and(is_ascii_py_space) {
        i += 1;
    }
    if i != bytes.len() {
        return Err(invalid());
    }
    if base == 10 && digits.len() > MAX_STR_DIGITS {
        return Err(NumberError::TooManyDigits {
            digits: digits.len(),
        });
    }
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    let significant = digits.get(first..).unwrap_or_default();
    let b = BigInt::from_digits(significant, base);
    Ok(PyInt::from_big(if neg { b.negated() } else { b }))
}

/// `float(s)`.
pub(crate) fn py_float(s: &[u32]) -> Result<f64, NumberError> {
    let bytes = to_ascii_number(s)?;
    let invalid = || NumberError::InvalidFloat {
        literal: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let mut a = 0;
    let mut b = bytes.len();
    while a < b && bytes.get(a).copied().is_some_and(is_ascii_py_space) {
        a += 1;
    }
    while b > a && bytes.get(b - 1).copied().is_some_and(is_ascii_py_space) {
        b -= 1;
    }
    let t = bytes.get(a..b).unwrap_or_default();
    let (neg, body) = match t.first() {
        Some(b'-') => (true, t.get(1..).unwrap_or_default()),
        Some(b'+') => (false, t.get(1..).unwrap_or_default()),
        _ => (false, t),
    };
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    let special = match lower.as_slice() {
        b"inf" | b"infinity" => Some(f64::INFINITY),
        b"nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Ok(if neg { -v } else { v });
    }
    // sign? digits* ('.' digits*)? with at least one digit, then
    // (e sign? digits+)?, and nothing else.
    let mut i = 0;
    let mut ndigits = 0;
    while body.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        ndigits += 1;
    }
    if body.get(i) == Some(&b'.') {
        i += 1;
        while body.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            ndigits += 1;
        }
    }
    if ndigits == 0 {
        return Err(invalid());
    }
    if matches!(body.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(body.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_start = j;
        while body.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    if i != body.len() {
        return Err(invalid());
    }
    let text = std::str::from_utf8(t).map_err(|_| invalid())?;
    text.parse::<f64>().map_err(|_| invalid())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn u(s: &str) -> Vec<u32> {
        s.chars().map(u32::from).collect()
    }

    #[test]
    fn int_parsing_matches_python() {
        let ok = [
            ("12", 10, "12"),
            (" +12 ", 10, "12"),
            ("\u{b}12\u{c}", 16, "18"),
            ("-0b1", 16, "-177"),
            ("-0b1", 2, "-1"),
            ("0o7", 8, "7"),
            ("\u{663}\u{662}", 16, "50"),
            ("\u{3000} 12\u{2003}", 10, "12"),
            ("0x1f", 16, "31"),
            ("007", 10, "7"),
        ];
        for (s, base, want) in ok {
            match py_int(&u(s), base).unwrap() {
                PyInt::Exact(b) => assert_eq!(b.to_decimal(), want, "{s:?}"),
                PyInt::Huge => panic!("huge"),
            }
        }
        for (s, base) in [
            ("\u{1c}12", 10),
            ("+ 12", 10),
            ("1 2", 10),
            ("0x1f", 10),
            ("", 10),
            ("0x", 16),
            ("9", 8),
        ] {
            assert!(py_int(&u(s), base).is_err(), "{s:?}");
        }
        assert!(py_int(&u(&"1".repeat(4301)), 10).is_err());
        assert!(matches!(py_int(&u(&"f".repeat(5000)), 16), Ok(PyInt::Huge)));
        let big = py_int(&u(&"9".repeat(4300)), 10).unwrap();
        assert!(big.repr().is_ok());
        let bigger = PyInt::from_big(BigInt::from_digits(&[1; 3600], 16));
        assert!(bigger.repr().is_err());
    }

    #[test]
    fn float_parsing_matches_python() {
        for (s, want) in [
            ("1.", 1.0),
            (".5", 0.5),
            (" 1e3", 1000.0),
            ("1E+05", 100000.0),
            ("\u{661}.\u{665}e\u{663}", 1500.0),
            ("-iNf", f64::NEG_INFINITY),
            ("1e400", f64::INFINITY),
        ] {
            assert_eq!(py_float(&u(s)).unwrap(), want, "{s:?}");
        }
        assert!(py_float(&u("nan")).unwrap().is_nan());
        for s in [
            ".", "e5", "1e", "1e+", "in", "infinit", "0x10", "", " ", "1.5.2",
        ] {
            assert!(py_float(&u(s)).is_err(), "{s:?}");
        }
    }
}
