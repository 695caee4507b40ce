//! `sigward`: enforce detached plugin signatures at open and exec time.
//!
//! Parses the command line, runs the command ([`sigward::cmd`]) and turns
//! its result into the exit status: an error is printed as `sigward
//! COMMAND: ERROR` and exits with the status its kind means.

use std::process::ExitCode;

use clap::Parser;
use sigward::{cli, cmd};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::dispatch(&cli.command) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("sigward {}: {e}", cmd::name(&cli.command));
            e.exit().into()
        }
    }
}
