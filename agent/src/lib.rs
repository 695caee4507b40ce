//! The `sigward` agent and command-line tools, as a library: the `sigward`
//! binary (`main.rs`) parses the command line and calls into it, and the
//! end-to-end tests use its types (MESSAGE_IDs, exit codes).
//!
//! The agent (`sigward run`) and the tools (`keygen`, `sign`, `verify`,
//! `check`) share one verification path ([`check::evaluate`]) built on the
//! pure `sigward-policy` library. `docs/architecture.md` follows one
//! permission event and one reload through these modules.

#![deny(missing_docs)]

pub mod agent;
pub mod audit;
pub mod cache;
pub mod check;
pub mod cli;
pub mod config;
pub mod control;
pub mod exit;
pub mod fan;
pub mod files;
pub mod fsmarks;
pub mod gendocs;
pub mod handle;
pub mod hash;
pub mod ids;
pub mod kcache;
pub mod lanes;
pub mod logging;
pub mod metrics;
pub mod mountinfo;
pub mod names;
pub mod notify;
pub mod opener;
pub mod scan;
pub mod stale;
pub mod state;
pub mod status;
pub mod strict;
pub mod tools;
pub mod verdict;
pub mod via;
pub mod views;
pub mod watch;
pub mod writers;
