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
