//! `sigward run`: the agent in the foreground, with its signals, logging
//! and state directory set up.

use crate::cli::RunArgs;
use crate::exit::Exit;
use crate::{agent, control, ids, logging, state};

use super::CmdError;

/// `sigward run`.
pub fn run(args: &RunArgs) -> Result<Exit, CmdError> {
    // Before the log thread starts: a thread that does not block the
    // agent's signals would die of them (see agent::block_signals).
    agent::block_signals().map_err(|errno| {
        CmdError::Agent(agent::StartError::System {
            what: "cannot block signals".into(),
            errno,
        })
    })?;
    logging::init();
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
    let result = agent::run(&args.policy.policy, &control, state);
    if let Err(e) = &result {
        tracing::error!(message_id = ids::START_FAILED, "cannot start: {e}");
    }
    // Records are written by a thread of their own: let it finish, unless
    // journald is not reading.
    logging::flush(std::time::Duration::from_secs(2));
    result.map(|()| Exit::Ok).map_err(CmdError::Agent)
}
