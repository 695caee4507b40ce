//! `sigward`: enforce detached plugin signatures at open and exec time.
//!
//! Parses the command line and hands each command to the library (`lib.rs`).

use std::process::ExitCode;

use sigward::exit::Exit;
use sigward::{agent, cli, control, gendocs, ids, logging, scan, state, tools};

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match &cli.command {
        cli::Command::Run(a) => run(a),
        cli::Command::Reload(a) => control::reload_command(a),
        cli::Command::Status(a) => control::status_command(a),
        cli::Command::Scan(a) => scan::scan(a),
        cli::Command::Check(a) => tools::check_policy(a),
        cli::Command::Verify(a) => tools::verify(a),
        cli::Command::Sign(a) => tools::sign(a),
        cli::Command::Keygen(a) => tools::keygen(a),
        cli::Command::Trust(cli::TrustCommand::List(a)) => tools::trust_list(a),
        cli::Command::Trust(cli::TrustCommand::Add(a)) => tools::trust_add(a),
        cli::Command::Trust(cli::TrustCommand::Remove(a)) => tools::trust_remove(a),
        cli::Command::GenerateDocs(a) => gendocs::generate_docs(a),
    }
}

fn run(args: &cli::RunArgs) -> ExitCode {
    // Before the log thread starts: a thread that does not block the
    // agent's signals would die of them (see agent::block_signals).
    if let Err(e) = agent::block_signals() {
        eprintln!("sigward: cannot block signals: {e}");
        return Exit::Failed.into();
    }
    let target = logging::init();
    let control = control::Options {
        socket: args.control_socket.0.clone(),
        pid_file: args.pid_file.0.clone(),
    };
    // systemd joins several StateDirectory= entries with ':'; ours is the
    // first.
    let state = args.state_dir.0.as_deref().map(|d| {
        use std::os::unix::ffi::OsStrExt;
        let bytes = d.as_os_str().as_bytes();
        let first = bytes.split(|&b| b == b':').next().unwrap_or(bytes);
        state::StateDir::new(std::path::Path::new(std::ffi::OsStr::from_bytes(first)))
    });
    let code = match agent::run(&args.policy.policy, &control, state) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            tracing::error!(message_id = ids::START_FAILED, "cannot start: {e}");
            if target == logging::Target::Journald {
                eprintln!("sigward: cannot start: {e}");
            }
            Exit::Failed.into()
        }
    };
    // Records are written by a thread of their own: let it finish, unless
    // journald is not reading.
    logging::flush(std::time::Duration::from_secs(2));
    code
}
