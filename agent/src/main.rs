//! `sigward`: enforce detached plugin signatures at open and exec time.
//!
//! The agent (`sigward run`) and the tools (`keygen`, `sign`, `verify`,
//! `check`) share one verification path ([`check::evaluate`]) built on the
//! pure `sigward-policy` library.

mod agent;
mod audit;
mod cache;
mod check;
mod cli;
mod config;
mod fan;
mod hash;
mod logging;
mod opener;
mod tools;
mod watch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match &cli.command {
        cli::Command::Run(p) => run(&p.policy),
        cli::Command::Check(p) => tools::check_policy(&p.policy),
        cli::Command::Verify(a) => tools::verify(a),
        cli::Command::Sign(a) => tools::sign(a),
        cli::Command::Keygen(a) => tools::keygen(a),
        cli::Command::Trust(cli::TrustCommand::List(p)) => tools::trust_list(&p.policy),
    }
}

fn run(policy: &std::path::Path) -> ExitCode {
    let target = logging::init();
    match agent::run(policy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(message_id = audit::ids::START_FAILED, "cannot start: {e}");
            if target == logging::Target::Journald {
                eprintln!("sigward: cannot start: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
