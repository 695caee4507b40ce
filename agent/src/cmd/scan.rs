//! `sigward scan`: which files of the protected trees the agent would
//! refuse, and why.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::cli::ScanArgs;
use crate::config::Engine;
use crate::exit::Exit;
use crate::scan::{summary, table, Entry, Scanner};

use super::CmdError;

/// `sigward scan`.
pub fn scan(args: &ScanArgs) -> Result<Exit, CmdError> {
    let engine = Engine::load(&args.policy, 0).map_err(CmdError::Config)?;
    for w in &engine.warnings {
        eprintln!("{}: warning: {w}", args.policy.display());
    }
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        engine.trees.iter().map(|t| t.root.clone()).collect()
    } else {
        let mut roots = Vec::new();
        for p in &args.paths {
            // As the agent names files: through symlinks in the path given.
            let c = fs::canonicalize(p).map_err(|source| CmdError::Argument {
                path: p.clone(),
                source,
            })?;
            if engine.tree_for(&c).is_none() {
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
            args.policy.display()
        );
    }
    let mut scanner = Scanner::new(&engine);
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
    let entries = scanner.entries;
    if args.json {
        let list: Vec<Value> = entries.iter().map(Entry::to_json).collect();
        println!("{}", Value::Array(list));
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
