//! The pure core of sigward: policy files, trust stores, signature formats and
//! verdicts.
//!
//! Everything in this crate is a function over bytes. It never opens a file,
//! never touches fanotify and never logs; the `sigward` agent and CLI do the
//! I/O and hand the bytes in. That split keeps the verification logic easy to
//! test and fuzz, and guarantees that `sigward verify` and the agent reach the
//! same verdict from the same inputs.
//!
//! * [`fingerprint`]: the one definition of a key fingerprint.
//! * [`trust`]: trust stores: keys, revocations, validity windows.
//! * [`keyfile`]: key files read into a trust store, each recognised by its
//!   content.
//! * [`formats`]: every signature format, and the dispatch between them.
//! * [`verify`]: subjects, reasons and verdicts.
//! * [`config`]: the TOML policy file.

#![deny(missing_docs)]

pub mod bundle_data;
pub mod config;
pub mod fingerprint;
pub mod formats;
pub mod keyfile;
pub mod trust;
pub mod verify;
mod wildcard;

pub use config::{Mode, Policy, PolicyError};
pub use fingerprint::Fingerprint;
pub use formats::{native, Evidence, Format, Needs, Options};
pub use trust::{KeyMaterial, TrustStore, TrustedKey};
pub use verify::{Reason, Subject, Verdict};
