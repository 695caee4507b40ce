//! The `sigward` agent and command-line tools, as a library: the `sigward`
//! binary (`main.rs`) parses the command line and hands it to [`cmd`], and
//! the end-to-end tests use its types (MESSAGE_IDs, exit codes).
//!
//! # The verdict path
//!
//! 1. The kernel queues a permission event on the group [`fan::Groups`]
//!    holds; the event thread (`agent/events.rs`) reads it as a
//!    [`fan::PermEvent`] and wraps it in the envelope `Pending`
//!    (`agent/pending.rs`), which answers exactly once and denies if
//!    dropped unanswered.
//! 2. Triage on the event thread: the agent's own opens, directories, empty
//!    files and signature reads are allowed at once; a verdict in the
//!    userspace cache ([`cache::VerdictCache::fast`]) answers a repeat.
//! 3. Anything else becomes a job for a worker (`agent/workers.rs`), which
//!    reads, hashes and verifies the file through the event's descriptor
//!    on the one path `sigward verify` uses too ([`check::evaluate`], over
//!    the pure `sigward-policy` crate).
//! 4. [`verdict::Judgement::of`] turns the outcome and the tree's mode into
//!    a decision and a reason, with no system call; the worker answers
//!    through [`fan::Groups::respond`], caches the verdict, and places a
//!    kernel ignore mark when it may ([`kcache::KernelCache`]).
//! 5. A [`audit::DecisionRecord`] goes to journald through
//!    [`audit::Auditor::record`]; [`metrics::Metrics`] counts it, and
//!    [`status::Status`] shows it.
//!
//! `docs/architecture.md` draws this path, and that of a reload, module by
//! module.

#![deny(missing_docs)]

pub mod agent;
pub mod audit;
pub mod cache;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod control;
pub mod exit;
pub mod fan;
pub mod files;
pub mod fleet;
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
pub mod triage;

pub mod verdict;
pub mod via;
pub mod views;
pub mod watch;
pub mod writers;
