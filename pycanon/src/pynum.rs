//! Python numbers as the AiSOC signer sees them: arbitrary-precision `int`
//! (with CPython's 4300-digit string conversion limit), the string parsing of
//! `int(s, base)` and `float(s)`, and `repr(float)`.

use std::cmp::Ordering;

/// CPython's default `sys.get_int_max_str_digits()`: `int(str)` in base 10
/// and `str(int)` refuse more decimal digits than this.
pub(crate) const MAX_STR_DIGITS: usize = 4300;

/// Ints wider than this have more than [`MAX_STR_DIGITS`] decimal digits
/// (10^4300 < 2^14285), so they can never be written out.
const HUGE_BITS: u64 = 14_300;

/// A signed arbitrary-precision integer (little-endian base 2^32 limbs, no
/// trailing zero limbs; zero is never negative).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct BigInt {
    neg: bool,
    mag: Vec<u32>,
}

impl BigInt {
    pub(crate) fn from_u64(v: u64) -> Self {
        let mut b = BigInt {
            neg: false,
            mag: vec![v as u32, (v >> 32) as u32],
        };
        b.normalize();
        b
    }

    fn normalize(&mut self) {
        while self.mag.last() == Some(&0) {
            self.mag.pop();
        }
        if self.mag.is_empty() {
            self.neg = false;
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.mag.is_empty()
    }

    pub(crate) fn is_negative(&self) -> bool {
        self.neg
    }

    /// Number of significant bits of the magnitude.
    pub(crate) fn bits(&self) -> u64 {
        match self.mag.last() {
            None => 0,
            Some(top) => (self.mag.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
        }
    }

    pub(crate) fn negated(mut self) -> Self {
        if !self.is_zero() {
            self.neg = !self.neg;
        }
        self
    }

    /// magnitude = magnitude * m + a
    fn mul_small_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in self.mag.iter_mut() {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.mag.push(carry as u32);
        }
        self.normalize();
    }

    /// The value of `digits` (each already a digit value below `radix`).
    /// Power-of-two radices are packed directly (linear); base 10 is
    /// quadratic, callers bound its length.
    fn from_digits(digits: &[u8], radix: u32) -> Self {
        let mut b = BigInt::default();
        let shift = match radix {
            2 => 1,
            8 => 3,
            16 => 4,
            _ => 0,
        };
        if shift > 0 {
            let mut acc: u64 = 0;
            let mut nbits = 0u32;
            for &d in digits.iter().rev() {
                acc |= u64::from(d) << nbits;
                nbits += shift;
                if nbits >= 32 {
                    b.mag.push(acc as u32);
                    acc >>= 32;
                    nbits -= 32;
                }
            }
            if nbits > 0 {
                b.mag.push(acc as u32);
            }
        } else {
            // Chunks of up to 9 decimal digits.
            for chunk in digits.chunks(9) {
                let mut m = 1u32;
                let mut a = 0u32;
                for &d in chunk {
                    m *= radix;
                    a = a * radix + u32::from(d);
                }
                b.mul_small_add(m, a);
            }
        }
        b.normalize();
        b
    }

    pub(crate) fn cmp_mag(a: &[u32], b: &[u32]) -> Ordering {
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }

    fn add_mag(a: &[u32], b: &[u32]) -> Vec<u32> {
        let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
        let mut out = Vec::with_capacity(long.len() + 1);
        let mut carry = 0u64;
        for (i, &x) in long.iter().enumerate() {
            let y = short.get(i).copied().unwrap_or(0);
            let v = u64::from(x) + u64::from(y) + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        out
    }

    /// a - b for |a| >= |b|.
    fn sub_mag(a: &[u32], b: &[u32]) -> Vec<u32> {
        let mut out = Vec::with_capacity(a.len());
        let mut borrow = 0i64;
        for (i, &x) in a.iter().enumerate() {
            let y = b.get(i).copied().unwrap_or(0);
            let mut v = i64::from(x) - i64::from(y) - borrow;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            } else {
                borrow = 0;
            }
            out.push(v as u32);
        }
        out
    }

    pub(crate) fn add(&self, other: &BigInt) -> BigInt {
        let mut r = if self.neg == other.neg {
            BigInt {
                neg: self.neg,
                mag: Self::add_mag(&self.mag, &other.mag),
            }
        } else {
            match Self::cmp_mag(&self.mag, &other.mag) {
                Ordering::Less => BigInt {
                    neg: other.neg,
                    mag: Self::sub_mag(&other.mag, &self.mag),
                },
                _ => BigInt {
                    neg: self.neg,
                    mag: Self::sub_mag(&self.mag, &other.mag),
                },
            }
        };
        r.normalize();
        r
    }

    pub(crate) fn mul_small(&self, m: u32) -> BigInt {
        let mut r = self.clone();
        r.mul_small_add(m, 0);
        r
    }

    /// Decimal digits, with a leading `-` when negative.
    pub(crate) fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut mag = self.mag.clone();
        let mut chunks: Vec<u32> = Vec::new();
        while !mag.is_empty() {
            let mut rem = 0u64;
            for limb in mag.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*limb);
                *limb = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            while mag.last() == Some(&0) {
                mag.pop();
            }
            chunks.push(rem as u32);
        }
        let mut s = String::new();
        if self.neg {
            s.push('-');
        }
        let mut first = true;
        for c in chunks.iter().rev() {
            if first {
                s.push_str(&c.to_string());
                first = false;
            } else {
                s.push_str(&format!("{c:09}"));
            }
        }
        s
    }

    /// Exact value of an integral finite float.
    pub(crate) fn from_integral_f64(f: f64) -> Option<BigInt> {
        if !f.is_finite() || f.fract() != 0.0 {
            return None;
        }
        let bits = f.to_bits();
        let neg = bits >> 63 == 1;
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        if exp == 0 {
            // Subnormals are never integral except zero.
            return Some(BigInt::default());
        }
        let mant = frac | (1u64 << 52);
        let e = exp - 1075; // value = mant * 2^e
        let mut b = if e >= 0 {
            let mut b = BigInt::from_u64(mant);
            let limbs = (e / 32) as usize;
            let rem = (e % 32) as u32;
            if rem > 0 {
                b.mul_small_add(1u32 << rem, 0);
            }
            let mut mag = vec![0u32; limbs];
            mag.extend_from_slice(&b.mag);
            BigInt { neg: false, mag }
        } else {
            BigInt::from_u64(mant >> (-e))
        };
        b.neg = neg;
        b.normalize();
        Some(b)
    }

    /// `float(self)`: correctly rounded; `None` where Python raises
    /// OverflowError.
    pub(crate) fn to_f64(&self) -> Option<f64> {
        let f: f64 = self.to_decimal().parse().ok()?;
        f.is_finite().then_some(f)
    }

    pub(crate) fn cmp(&self, other: &BigInt) -> Ordering {
        match (self.neg, other.neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => Self::cmp_mag(&self.mag, &other.mag),
            (true, true) => Self::cmp_mag(&other.mag, &self.mag),
        }
    }

    /// Python's exact `int` vs `float` comparison (`None` for NaN).
    pub(crate) fn cmp_f64(&self, f: f64) -> Option<Ordering> {
        if f.is_nan() {
            return None;
        }
        if f.is_infinite() {
            return Some(if f > 0.0 {
                Ordering::Less
            } else {
                Ordering::Greater
            });
        }
        let fl = f.floor();
        let fb = BigInt::from_integral_f64(fl)?;
        let c = self.cmp(&fb);
        if fl == f {
            Some(c)
        } else {
            // f lies strictly between fl and fl + 1.
            Some(match c {
                Ordering::Greater => Ordering::Greater,
                _ => Ordering::Less,
            })
        }
    }
}

/// A Python `int`: exact, or too wide to ever be written out (it still
/// compares unequal to everything else, which is all it is used for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PyInt {
    Exact(BigInt),
    Huge,
}

impl PyInt {
    pub(crate) fn from_big(b: BigInt) -> PyInt {
        if b.bits() > HUGE_BITS {
            PyInt::Huge
        } else {
            PyInt::Exact(b)
        }
    }

    /// `repr(int)`, or the error `str(int)` raises past 4300 digits.
    pub(crate) fn repr(&self) -> Result<String, String> {
        let too_big = || {
            format!("an integer exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion")
        };
        match self {
            PyInt::Huge => Err(too_big()),
            PyInt::Exact(b) => {
                let s = b.to_decimal();
                let digits = s.len() - usize::from(b.is_negative());
                if digits > MAX_STR_DIGITS {
                    Err(too_big())
                } else {
                    Ok(s)
                }
            }
        }
    }
}

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
fn to_ascii_number(s: &[u32]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    for &cp in s {
        if cp < 0x80 {
            out.push(cp as u8);
        } else if UNICODE_SPACES.contains(&cp) {
            out.push(b' ');
        } else if let Some(d) = unicode_decimal(cp) {
            out.push(b'0' + d);
        } else {
            return Err(format!("invalid character U+{cp:04X} in a number"));
        }
    }
    Ok(out)
}

/// `int(s, base)` for base 2, 8, 10 or 16 (no underscores ever reach it:
/// PyYAML removes them first).
pub(crate) fn py_int(s: &[u32], base: u32) -> Result<PyInt, String> {
    let bytes = to_ascii_number(s)?;
    let invalid = || {
        format!(
            "invalid literal for int() with base {base}: {:?}",
            String::from_utf8_lossy(&bytes)
        )
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
        return Err(format!(
            "exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion: value has {} digits",
            digits.len()
        ));
    }
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    let significant = digits.get(first..).unwrap_or_default();
    let b = BigInt::from_digits(significant, base);
    Ok(PyInt::from_big(if neg { b.negated() } else { b }))
}

/// `float(s)`.
pub(crate) fn py_float(s: &[u32]) -> Result<f64, String> {
    let bytes = to_ascii_number(s)?;
    let invalid = || {
        format!(
            "could not convert string to float: {:?}",
            String::from_utf8_lossy(&bytes)
        )
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

/// `|a - b|` compared with `|c - b|`.
fn cmp_distance(a: &BigInt, c: &BigInt, b: &BigInt) -> Ordering {
    let da = a.add(&b.clone().negated());
    let dc = c.add(&b.clone().negated());
    BigInt::cmp_mag(&da.mag, &dc.mag)
}

/// The exact value of positive finite `x` and of `digits` × 10^`k`, both
/// scaled by the same power of two and of ten so that they are integers.
fn scaled(x: f64, candidates: &[(u64, i32)]) -> Option<(BigInt, Vec<BigInt>)> {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let k_min = candidates.iter().map(|&(_, k)| k).min()?;
    let two = (-e).max(0) as u32; // multiply everything by 2^two
    let ten = (-k_min).max(0) as u32; // and by 10^ten
    let pow = |mut b: BigInt, base: u32, mut n: u32| {
        let (chunk, per) = if base == 2 {
            (1u32 << 31, 31)
        } else {
            (1_000_000_000, 9)
        };
        while n >= per {
            b = b.mul_small(chunk);
            n -= per;
        }
        b.mul_small(base.pow(n))
    };
    let xb = pow(
        pow(BigInt::from_u64(m), 2, (e + two as i32) as u32),
        10,
        ten,
    );
    let cs = candidates
        .iter()
        .map(|&(d, k)| {
            pow(
                pow(BigInt::from_u64(d), 10, (k + ten as i32) as u32),
                2,
                two,
            )
        })
        .collect();
    Some((xb, cs))
}

/// The digits and decimal point position of `repr(x)` (positive, finite,
/// non-zero): the shortest digit string that reads back as `x`, and among
/// those of that length the nearest to `x`, ties to an even last digit
/// (David Gay's `dtoa` mode 0, which CPython uses). Rust's formatter finds
/// the shortest length; the choice among neighbours is redone exactly here
/// because Rust breaks exact ties upwards.
fn shortest_digits(x: f64) -> (String, i32) {
    let sci = format!("{x:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    let decpt = exp + 1;
    // Within u64 (at most 17 digits) and not at a length boundary.
    let Ok(d) = digits.parse::<u64>() else {
        return (digits, decpt);
    };
    let k = decpt - n; // value = d × 10^k
    let reads_back = |c: u64| -> bool {
        c.to_string().len() == digits.len() && format!("{c}e{k}").parse::<f64>().ok() == Some(x)
    };
    let mut cands: Vec<u64> = Vec::with_capacity(3);
    for c in [d.checked_sub(1), Some(d), d.checked_add(1)]
        .into_iter()
        .flatten()
    {
        if c == d || reads_back(c) {
            cands.push(c);
        }
    }
    if cands.len() == 1 {
        return (digits, decpt);
    }
    let with_k: Vec<(u64, i32)> = cands.iter().map(|&c| (c, k)).collect();
    let Some((xb, cbs)) = scaled(x, &with_k) else {
        return (digits, decpt);
    };
    let mut best = 0usize;
    for i in 1..cands.len() {
        let (Some(ci), Some(cb)) = (cbs.get(i), cbs.get(best)) else {
            continue;
        };
        match cmp_distance(ci, cb, &xb) {
            Ordering::Less => best = i,
            Ordering::Equal if cands.get(i).is_some_and(|c| c % 2 == 0) => best = i,
            _ => {}
        }
    }
    let chosen = cands.get(best).copied().unwrap_or(d);
    let s = chosen.to_string();
    // Trailing zeros would make it shorter than the shortest: cannot
    // happen for a neighbour that reads back, but stay canonical anyway.
    let trimmed = s.trim_end_matches('0');
    if trimmed.is_empty() {
        return (digits, decpt);
    }
    (trimmed.to_string(), decpt)
}

/// `repr(x)` for a float (`float_repr_style == 'short'`): the shortest
/// digits that round-trip, positional for exponents -4 ..= 15, else
/// `d.ddde+XX`.
pub(crate) fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, decpt) = shortest_digits(x.abs());
    let n = digits.len() as i32;
    if decpt <= -4 || decpt > 16 {
        let (d0, rest) = digits.split_at(1.min(digits.len()));
        let e = decpt - 1;
        let esign = if e < 0 { '-' } else { '+' };
        if rest.is_empty() {
            format!("{sign}{d0}e{esign}{:02}", e.abs())
        } else {
            format!("{sign}{d0}.{rest}e{esign}{:02}", e.abs())
        }
    } else if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        let (a, b) = digits.split_at(decpt as usize);
        format!("{sign}{a}.{b}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn u(s: &str) -> Vec<u32> {
        s.chars().map(u32::from).collect()
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-0.0, "-0.0"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1000.55, "1000.55"),
            (685230.15, "685230.15"),
            (95423670389358.0 + 0.125, "95423670389358.12"),
            (95423670389358.0 + 0.375, "95423670389358.38"),
            (f64::from_bits(1), "5e-324"),
            (f64::from_bits(3), "1.5e-323"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1e23, "1e+23"),
            (9007199254740993.0, "9007199254740992.0"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
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

    #[test]
    fn bigint_arithmetic() {
        let a = BigInt::from_digits(
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0],
            10,
        );
        assert_eq!(a.to_decimal(), "12345678901234567890");
        let b = a.clone().negated();
        assert!(a.add(&b).is_zero());
        assert_eq!(a.mul_small(60).to_decimal(), "740740734074074073400");
        let f = BigInt::from_integral_f64(1e20).unwrap();
        assert_eq!(f.to_decimal(), "100000000000000000000");
        assert_eq!(BigInt::from_integral_f64(-3.0).unwrap().to_decimal(), "-3");
        assert_eq!(a.cmp_f64(1.2345678901234567e19), Some(Ordering::Greater));
        assert_eq!(BigInt::from_u64(2).cmp_f64(2.5), Some(Ordering::Less));
        assert_eq!(BigInt::from_u64(3).cmp_f64(2.5), Some(Ordering::Greater));
        assert_eq!(
            BigInt::from_u64(2).negated().cmp_f64(-2.5),
            Some(Ordering::Greater)
        );
        assert_eq!(BigInt::from_u64(60).to_f64(), Some(60.0));
    }
}
