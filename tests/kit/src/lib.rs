//! The test kit shared by sigward's end-to-end (`tests/e2e`), attack
//! (`tests/attacks`) and fault (`tests/faults`) suites.
//!
//! * [`harness`]: the fixture (a fresh tree under a `TempDir`, keys, a
//!   policy), the [`harness::Agent`] guard that runs the real binary as
//!   root and SIGKILLs it by PID when dropped, processes run with a timeout
//!   in their own process group, waits on the agent's records and state.
//! * [`exposition`]: a checker of the Prometheus text the agent writes.
//! * [`openers`]: real loaders (`cat`, Python `import`, `ctypes.CDLL`,
//!   `execve`) run against a file, with the errno they saw.
//!
//! The suites run as root and fail (never skip) otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod exposition;
pub mod harness;
pub mod openers;
