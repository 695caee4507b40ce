//! Python's `int` as the signer sees it: an arbitrary-precision integer
//! with the few operations the loaders need, and CPython's 4300-digit
//! limit on converting it to and from decimal strings.

use std::cmp::Ordering;

use super::NumberError;

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
    pub(super) fn from_digits(digits: &[u8], radix: u32) -> Self {
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

    /// `|self|` compared with `|other|`.
    pub(super) fn cmp_abs(&self, other: &BigInt) -> Ordering {
        Self::cmp_mag(&self.mag, &other.mag)
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
    pub(crate) fn repr(&self) -> Result<String, NumberError> {
        match self {
            PyInt::Huge => Err(NumberError::IntTooLongToPrint),
            PyInt::Exact(b) => {
                let s = b.to_decimal();
                let digits = s.len() - usize::from(b.is_negative());
                if digits > MAX_STR_DIGITS {
                    Err(NumberError::IntTooLongToPrint)
                } else {
                    Ok(s)
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
