//! Attack suite for the `sigward` agent.
//!
//! Each test plays an attacker who can write into a plugin directory but is
//! not root (uid 65534, "nobody", owning `plugins/att/` and a directory
//! outside the tree), and asserts what a victim's open (or exec) of the
//! result gets. Every attack is written once, as a function of the mode, and
//! instantiated twice by [`common::both_modes`]:
//!
//! * `enforce`: the open fails with `EPERM` (exec: `EPERM` or `EACCES`), and
//!   the agent records the denial with the right reason;
//! * `audit`: the open succeeds, and the agent records a would-deny with the
//!   right reason.
//!
//! The suite reuses the end-to-end harness (fixture, agent guard, openers)
//! and, like it, must run as root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sigward_testkit::{harness, openers};

mod common;

mod dos;
mod links;
mod names;
mod namespaces;
mod pycache;
mod races;
mod rewrites;
mod special_files;
mod symlinks;
mod window;
mod writable;
