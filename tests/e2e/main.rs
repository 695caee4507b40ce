//! End-to-end tests for the `sigward` agent.
//!
//! Every test here runs the real binary (`CARGO_BIN_EXE_sigward`) as root
//! against a fresh temporary directory under /tmp, and drives real loaders
//! (python3, cat, ctypes, execve) at the protected tree.
//!
//! Safety rules, enforced by the harness:
//! * only fresh `TempDir`s under /tmp are ever protected;
//! * every agent is owned by an [`harness::Agent`] guard that SIGKILLs it by
//!   PID and reaps it when dropped (also when the test panics);
//! * every other process is started in its own process group and run with a
//!   timeout; on timeout the whole group is SIGKILLed and the test fails.
//!
//! The tests fail (they do not skip) when not run as root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sigward_testkit::{harness, openers};

mod ahead;
mod aisoc;
mod alerts;
mod cli;
mod control;
mod dirs;
mod example;
mod formats;
mod kernel_audit;
mod kernel_cache;
mod last_good;
mod lifecycle;
mod live;
mod loaders;
mod modes;
mod optional_trees;
mod ratelimit;
mod records;
mod robustness;
mod signals;
mod signing;
mod status;
mod strict_modes;
mod symlinks;
mod tamper;
mod upstream;
