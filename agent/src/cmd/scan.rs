//! `sigward scan`: which files of the protected trees the agent would
//! refuse, and why: from the running agent when it answers (see
//! [`super::ask`]), else computed here with the same code.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cli::ScanArgs;
use crate::config::{Engine, DEFAULT_POLICY};
use crate::exit::Exit;
use crate::scan::{summary, table, Scanner, View};

use super::ask;
use super::CmdError;

/// `sigward scan`.
pub fn scan(args: &ScanArgs) -> Result<Exit, CmdError> {
    let policy = args
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY));
    let agent = ask::enforcing(
        "scan",
        ask::find("scan", &args.control_socket, args.offline),
        args.policy.as_deref(),
    );
    let engine = match &agent {
        Some(_) => None,
        None => {
            let engine = Engine::load(&policy, 0).map_err(CmdError::Config)?;
            for w in &engine.warnings {
                eprintln!("{}: warning: {w}", policy.display());
            }
            Some(engine)
        }
    };
    let (trees, shown_policy): (Vec<PathBuf>, &Path) = match (&agent, &engine) {
        (Some(a), _) => (a.trees.clone(), &a.policy),
        (None, Some(e)) => (e.trees.iter().map(|t| t.root.clone()).collect(), &policy),
        (None, None) => (Vec::new(), &policy),
    };
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        trees.clone()
    } else {
        let mut roots = Vec::new();
        for p in &args.paths {
            // As the agent names files: through symlinks in the path given.
            let c = fs::canonicalize(p).map_err(|source| CmdError::Argument {
                path: p.clone(),
                source,
            })?;
            if !trees.iter().any(|t| c.starts_with(t)) {
                eprintln!(
                    "note: {} is outside every protected tree: the agent does not check it \
                     (verified with the policy's global settings)",
                    p.display()
                );
            }
            roots.push(c);
        }
        roots
    };
    if roots.is_empty() {
        eprintln!(
            "{}: protects no trees; nothing to scan (give PATHs to scan)",
            shown_policy.display()
        );
    }
    let mut scanner = Scanner::new();
    // Nested trees are listed once, by the outermost walk.
    let mut sorted = roots.clone();
    sorted.sort();
    sorted.dedup();
    let outer: Vec<&PathBuf> = sorted
        .iter()
        .filter(|r| !sorted.iter().any(|o| o != *r && r.starts_with(o)))
        .collect();
    for root in outer {
        scanner.scan(root);
    }
    for w in &scanner.warnings {
        eprintln!("warning: {w}");
    }
    match (&agent, &engine) {
        (Some(agent), _) => {
            eprintln!("{}", agent.header());
            let answered = agent.evaluate(View::Scan, &scanner.pending_paths())?;
            for (i, entry) in std::mem::take(&mut scanner.pending)
                .into_iter()
                .zip(answered)
            {
                if let Some(slot) = scanner.entries.get_mut(i) {
                    *slot = entry;
                }
            }
        }
        (None, Some(engine)) => scanner.verify_offline(engine),
        (None, None) => {}
    }
    let entries = scanner.entries;
    if args.json {
        println!("{}", serde_json::to_string(&entries).unwrap_or_default());
    } else {
        print!("{}", table(&entries));
        eprintln!("{}", summary(&entries));
    }
    Ok(if entries.iter().any(|e| e.status.denied()) {
        Exit::Failed
    } else {
        Exit::Ok
    })
}
