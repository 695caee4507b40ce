//! `repr(float)` as CPython writes it (`float_repr`, `float_repr_style ==
//! 'short'`): the shortest digits that read back as the float, chosen as
//! David Gay's `dtoa` chooses them, in positional or exponent form.

use std::cmp::Ordering;

use super::bigint::BigInt;

/// `|a - b|` compared with `|c - b|`.
fn cmp_distance(a: &BigInt, c: &BigInt, b: &BigInt) -> Ordering {
    let da = a.add(&b.clone().negated());
    let dc = c.add(&b.clone().negated());
    da.cmp_abs(&dc)
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
}
