//! The exit statuses of every `sigward` command, in one place. Each
//! command's `--help` (`cli.rs`) states which of them it uses; monitoring
//! reads `sigward status` as Nagios reads a plugin (0 OK, 1 WARNING, 2
//! CRITICAL).

use std::process::ExitCode;

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, nothing to report (verified, valid, listed, reloaded).
    Ok,
    /// 1: the command ran and its answer is "no": a file failed, a policy
    /// is invalid, a reload was refused, the agent cannot start.
    Failed,
    /// 1: `sigward status` answered, but the agent is degraded (the policy
    /// on disk is not the policy in force).
    Degraded,
    /// 2: the command could not run as asked: a usage or configuration
    /// error.
    Usage,
    /// 2: no agent could be reached (`reload`, `status`).
    Unreachable,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed | Exit::Degraded => 1,
            Exit::Usage | Exit::Unreachable => 2,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        // Scripts and monitoring depend on these numbers.
        let codes = [
            Exit::Ok,
            Exit::Failed,
            Exit::Degraded,
            Exit::Usage,
            Exit::Unreachable,
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 1, 2, 2]);
    }
}
