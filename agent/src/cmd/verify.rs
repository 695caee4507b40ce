//! `sigward verify`: the agent's verdict on files, from the running agent
//! when it answers (see [`super::ask`]), else computed here with the same
//! code.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::cli::VerifyArgs;
use crate::config::Engine;
use crate::exit::Exit;
use crate::hash::Unwatched;
use crate::scan::{evaluate_open, Entry, Status, View};

use super::ask::{self, Agent};
use super::CmdError;

/// `sigward verify`: one line per file (or `--json`); exit 1 when any is
/// refused.
pub fn verify(args: &VerifyArgs) -> Result<Exit, CmdError> {
    let agent = if args.trust_key.is_empty() {
        ask::find("verify", &args.control_socket, args.offline)
    } else {
        if !args.offline {
            eprintln!(
                "sigward verify: --trust-key: evaluating offline with the keys given (the \
                 running agent verifies with its own policy)"
            );
        }
        None
    };
    let agent = ask::enforcing("verify", agent, args.policy.as_deref());
    let entries = match &agent {
        Some(agent) => {
            eprintln!("{}", agent.header());
            by_agent(agent, &args.files)?
        }
        None => offline(args)?,
    };
    let mut all_ok = true;
    if args.json {
        all_ok = entries.iter().all(Entry::verify_ok);
        println!("{}", serde_json::to_string(&entries).unwrap_or_default());
    } else {
        for (entry, file) in entries.iter().zip(&args.files) {
            all_ok &= entry.verify_ok();
            println!("{}", entry.verify_line(file));
        }
    }
    Ok(if all_ok { Exit::Ok } else { Exit::Failed })
}

/// The agent's entries, each named as given.
fn by_agent(agent: &Agent, files: &[PathBuf]) -> Result<Vec<Entry>, CmdError> {
    let mut entries: Vec<Option<Entry>> = vec![None; files.len()];
    let mut asked = Vec::new();
    let mut names = Vec::new();
    for (i, file) in files.iter().enumerate() {
        // The agent names files as the kernel does, through symlinks.
        match std::fs::canonicalize(file) {
            Ok(c) => {
                asked.push(i);
                names.push(c);
            }
            Err(e) => {
                let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
                entries[i] = Some(Entry::plain(file, Status::Unreadable, errno.to_string()));
            }
        }
    }
    let answered = agent.evaluate(View::Verify, &names)?;
    for (i, entry) in asked.into_iter().zip(answered) {
        entries[i] = Some(entry);
    }
    Ok(entries
        .into_iter()
        .zip(files)
        .map(|(e, file)| {
            let mut e =
                e.unwrap_or_else(|| Entry::plain(file, Status::Unreadable, "not evaluated"));
            e.path = file.clone();
            e
        })
        .collect())
}

/// The entries computed here, with the policy or keys given.
fn offline(args: &VerifyArgs) -> Result<Vec<Entry>, CmdError> {
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
    Ok(args
        .files
        .iter()
        .map(|file| offline_one(&engine, file, &mut buf))
        .collect())
}

fn offline_one(engine: &Engine, file: &Path, buf: &mut [u8]) -> Entry {
    let mut entry = match crate::check::open_for_verify(file) {
        Ok(fd) => {
            // The agent verifies the path the kernel reports for the open
            // file; do the same so that both see the same name.
            let path = crate::files::fd_path(fd.as_fd()).unwrap_or_else(|| file.to_path_buf());
            evaluate_open(engine, fd.as_fd(), &path, View::Verify, buf, &mut Unwatched)
                .unwrap_or_else(|i| Entry::plain(&path, Status::Unreadable, i.to_string()))
        }
        Err(e @ nix::errno::Errno::EPERM) => Entry::plain(file, Status::Denied, e.to_string()),
        Err(e) => Entry::plain(file, Status::Unreadable, e.to_string()),
    };
    entry.path = file.to_path_buf();
    entry
}
