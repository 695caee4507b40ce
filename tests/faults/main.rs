//! Fault and load tests for the `sigward` agent: journald stopped, killed
//! and restarted; descriptors exhausted; I/O errors reading signatures;
//! unreadable key files; SIGKILL under load; the event thread while
//! everything else is stuck; and 8 openers on 10,000 files with reloads
//! every second (`tests/load.sh` runs that one at full length).
//!
//! They are a test binary of their own because they stop and kill
//! journald, to which every other suite's agents log: cargo runs test
//! binaries one after another, so no other suite's test is running then.
//! Within this binary, the tests that touch journald take a lock.
//!
//! Like the end-to-end suite, whose harness they reuse, they run as root
//! and fail (never skip) otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sigward_testkit::{harness, openers};

mod faults;
mod load;
mod signals;
