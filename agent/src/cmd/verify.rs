//! `sigward verify`: the agent's verdict on files, without the agent.

use std::os::fd::AsFd;

use sigward_policy::formats::aisoc;
use sigward_policy::Verdict;

use crate::check;
use crate::cli::VerifyArgs;
use crate::config::Engine;
use crate::exit::Exit;

use super::CmdError;

/// `sigward verify`: one line per file; exit 1 when any is refused.
pub fn verify(args: &VerifyArgs) -> Result<Exit, CmdError> {
    let engine = match (&args.policy, args.trust_key.is_empty()) {
        (Some(p), _) => Engine::load(p, 0),
        (None, false) => Engine::from_key_files(&args.trust_key),
        (None, true) => return Err(CmdError::NoTrust),
    }
    .map_err(CmdError::Config)?;
    for w in &engine.warnings {
        eprintln!("warning: {w}");
    }
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    let mut all_ok = true;
    for file in &args.files {
        let line = match check::open_for_verify(file) {
            Ok(fd) => {
                // The agent verifies the path the kernel reports for the open
                // file; do the same so that both see the same name.
                let path = crate::files::fd_path(fd.as_fd()).unwrap_or_else(|| file.clone());
                if check::is_aisoc_manifest(&path) {
                    println!(
                        "{}: ok (AiSOC manifest: read freely, covered by {})",
                        file.display(),
                        aisoc::SIG_NAME
                    );
                    continue;
                }
                let outcome = check::evaluate_in(&engine, fd.as_fd(), &path, &mut buf);
                match outcome.verdict {
                    Verdict::Verified {
                        key,
                        self_signed: true,
                        ..
                    } => format!("{}: ok (self-signed, key {key})", file.display()),
                    Verdict::Verified { key, .. } => format!("{}: ok (key {key})", file.display()),
                    Verdict::Listed { sha256 } => format!(
                        "{}: ok (content sha256 {} on the allow list)",
                        file.display(),
                        hex::encode(sha256)
                    ),
                    Verdict::Rejected { reason, detail, .. } => {
                        all_ok = false;
                        format!("{}: {reason}: {detail}", file.display())
                    }
                }
            }
            Err(e) => {
                all_ok = false;
                format!("{}: unreadable: {e}", file.display())
            }
        };
        println!("{line}");
    }
    Ok(if all_ok { Exit::Ok } else { Exit::Failed })
}
