//! Python numbers as the AiSOC signer sees them: arbitrary-precision `int`
//! (with CPython's 4300-digit string conversion limit), the string parsing of
//! `int(s, base)` and `float(s)`, and `repr(float)`.
//!
//! * `bigint`: the `int` objects, [`BigInt`] and [`PyInt`], and `repr(int)`;
//! * `parse`: `int(s, base)` and `float(s)` on a `str`;
//! * `repr`: `repr(float)`, CPython's `float_repr` (David Gay's shortest
//!   digits).

mod bigint;
mod parse;
mod repr;

pub(crate) use bigint::{BigInt, PyInt, MAX_STR_DIGITS};
pub(crate) use parse::{py_float, py_int};
pub(crate) use repr::float_repr;

/// The `ValueError` Python's `int()`, `float()` and `str(int)` raise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// A character that is neither ASCII, a Unicode decimal digit nor a
    /// Unicode space.
    #[error("invalid character U+{code_point:04X} in a number")]
    InvalidCharacter {
        /// The character's code point.
        code_point: u32,
    },
    /// `int(s, base)` refuses `s`.
    #[error("invalid literal for int() with base {base}: {literal:?}")]
    InvalidInt {
        /// The base (2, 8, 10 or 16).
        base: u32,
        /// The literal, Unicode digits and spaces made ASCII.
        literal: String,
    },
    /// `int(s)` in base 10 with more digits than CPython converts.
    #[error("exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion: value has {digits} digits")]
    TooManyDigits {
        /// The digits of the literal.
        digits: usize,
    },
    /// `str(i)` of an integer with more digits than CPython converts.
    #[error(
        "an integer exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion"
    )]
    IntTooLongToPrint,
    /// `float(s)` refuses `s`.
    #[error("could not convert string to float: {literal:?}")]
    InvalidFloat {
        /// The literal, Unicode digits and spaces made ASCII.
        literal: String,
    },
}
