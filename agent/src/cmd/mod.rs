//! The command layer: one function per `sigward` command, all returning
//! `Result<Exit, CmdError>`.
//!
//! A command prints its own answer (a verdict per file, a key list, a
//! status) and returns the [`Exit`] that answer means: `verify` that found
//! a tampered file returns `Ok(Exit::Failed)`. When it cannot do what it
//! was asked, it returns a [`CmdError`]; `main` prints that as `sigward
//! COMMAND: ERROR` and exits with [`CmdError::exit`]. Exit statuses are
//! decided in `exit.rs` and here, nowhere else.
//!
//! | command | module |
//! | --- | --- |
//! | `run` | [`run`] (the agent itself is [`crate::agent`]) |
//! | `reload`, `status` | [`client`] (the protocol is [`crate::control`]) |
//! | `scan` | [`scan`] (the walk is [`crate::scan`]) |
//! | `check` | [`check`] |
//! | `verify` | [`verify`] |
//! | `sign`, `keygen` | [`sign`], [`keygen`] |
//! | `trust list|add|remove` | [`trust`] |
//! | `trust add-hash` | [`allow`] |
//! | `generate-docs` | here (the pages are [`crate::gendocs`]) |

use std::path::PathBuf;

use crate::cli::{Command, TrustCommand};
use crate::config::LoadError;
use crate::exit::Exit;
use client::ClientError;

pub mod allow;
pub mod ask;
pub mod check;
pub mod client;
pub mod keygen;
pub mod run;
pub mod scan;
pub mod sign;
pub mod trust;
pub mod verify;

/// Runs one command.
pub fn dispatch(command: &Command) -> Result<Exit, CmdError> {
    match command {
        Command::Run(a) => run::run(a),
        Command::Reload(a) => client::reload(a),
        Command::Status(a) => client::status(a),
        Command::Scan(a) => scan::scan(a),
        Command::Check(a) => check::check(a),
        Command::Verify(a) => verify::verify(a),
        Command::Sign(a) => sign::sign(a),
        Command::Keygen(a) => keygen::keygen(a),
        Command::Trust(TrustCommand::List(a)) => trust::list(a),
        Command::Trust(TrustCommand::Add(a)) => trust::add(a),
        Command::Trust(TrustCommand::Remove(a)) => trust::remove(a),
        Command::Trust(TrustCommand::AddHash(a)) => allow::add_hash(a),
        Command::GenerateDocs(a) => generate_docs(a),
    }
}

/// `sigward generate-docs`: man pages and shell completions.
fn generate_docs(args: &crate::cli::GenerateDocsArgs) -> Result<Exit, CmdError> {
    let files = crate::gendocs::generate(&args.out).map_err(|source| CmdError::Write {
        path: args.out.clone(),
        source,
    })?;
    for f in files {
        println!("{f}");
    }
    Ok(Exit::Ok)
}

/// The name of a command as the user typed it (`trust add`), for messages.
pub fn name(command: &Command) -> &'static str {
    match command {
        Command::Run(_) => "run",
        Command::Reload(_) => "reload",
        Command::Status(_) => "status",
        Command::Scan(_) => "scan",
        Command::Check(_) => "check",
        Command::Verify(_) => "verify",
        Command::Sign(_) => "sign",
        Command::Keygen(_) => "keygen",
        Command::Trust(TrustCommand::List(_)) => "trust list",
        Command::Trust(TrustCommand::Add(_)) => "trust add",
        Command::Trust(TrustCommand::Remove(_)) => "trust remove",
        Command::Trust(TrustCommand::AddHash(_)) => "trust add-hash",
        Command::GenerateDocs(_) => "generate-docs",
    }
}

/// Why a command could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmdError {
    /// `verify` was given nothing to trust.
    #[error("give --policy POLICY or at least one --trust-key PUB")]
    NoTrust,
    /// The policy a command needs to run cannot be loaded (`verify`,
    /// `scan`: a configuration error).
    #[error("{0}")]
    Config(#[source] LoadError),
    /// The policy whose keys a command lists or manages cannot be loaded
    /// (`trust`: the command's failure).
    #[error("{0}")]
    Policy(#[source] LoadError),
    /// A path given on the command line cannot be used.
    #[error("{}: {source}", path.display())]
    Argument {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `sign` cannot use its key.
    #[error("{}: {source}", path.display())]
    SigningKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: sign::KeyError,
    },
    /// `sign --bundle` failed.
    #[error("{}: {source}", path.display())]
    Sign {
        /// The plugin directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: sign::SignError,
    },
    /// `keygen` failed.
    #[error(transparent)]
    Keygen(#[from] keygen::KeygenError),
    /// `trust add|remove` got a key name it cannot use.
    #[error(transparent)]
    KeyName(#[from] trust::KeyNameError),
    /// `trust list|add|remove` failed.
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    /// `trust add-hash` failed.
    #[error(transparent)]
    Allow(#[from] allow::AllowError),
    /// `reload` or `status` reached no agent (or no answer).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Writing files failed (`generate-docs`).
    #[error("{}: {source}", path.display())]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The agent could not start, or stopped on an error (`run`).
    #[error("cannot start: {0}")]
    Agent(#[source] crate::agent::StartError),
}

impl CmdError {
    /// The exit status this error means (see each command's `--help`).
    pub fn exit(&self) -> Exit {
        match self {
            CmdError::NoTrust
            | CmdError::Config(_)
            | CmdError::Argument { .. }
            | CmdError::SigningKey { .. }
            | CmdError::KeyName(_) => Exit::Usage,
            CmdError::Client(_) => Exit::Unreachable,
            CmdError::Policy(_)
            | CmdError::Sign { .. }
            | CmdError::Keygen(_)
            | CmdError::Trust(_)
            | CmdError::Allow(_)
            | CmdError::Write { .. }
            | CmdError::Agent(_) => Exit::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_and_failures_1() {
        assert_eq!(CmdError::NoTrust.exit().code(), 2);
        let load = || LoadError {
            file: "/p.toml".into(),
            line: Some(3),
            message: "bad".into(),
        };
        assert_eq!(CmdError::Config(load()).exit().code(), 2);
        assert_eq!(CmdError::Policy(load()).exit().code(), 1);
        assert_eq!(CmdError::Policy(load()).to_string(), "/p.toml:3: bad");
        let e = CmdError::Keygen(keygen::KeygenError::Exists {
            path: "/k.key".into(),
        });
        assert_eq!(e.exit().code(), 1);
        assert_eq!(e.to_string(), "/k.key exists; refusing to overwrite it");
    }
}
