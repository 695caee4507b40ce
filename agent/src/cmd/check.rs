//! `sigward check`: validate a policy and everything it names.

use crate::cli::CheckArgs;
use crate::config::{Engine, LoadOptions};
use crate::exit::Exit;

use super::CmdError;

/// `sigward check`. An invalid policy is the command's answer, not an
/// error: it is printed as `FILE:LINE: message` (the form editors and CI
/// annotate) and the exit is 1.
pub fn check(args: &CheckArgs) -> Result<Exit, CmdError> {
    let policy = args.policy.as_path();
    let lo = LoadOptions {
        base_dir: args.base_dir.clone(),
        extra_drop_in: args.drop_in.clone(),
        extra_drop_in_name: args.drop_in_name.clone(),
    };
    let engine = match Engine::load_with(policy, 0, &lo) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("{e}");
            return Ok(Exit::Failed);
        }
    };
    for w in &engine.warnings {
        eprintln!("{}: warning: {w}", policy.display());
    }
    if args.print {
        print!(
            "{}",
            sigward_policy::config::to_toml(&engine.policy, &engine.files)
        );
        return Ok(Exit::Ok);
    }
    println!(
        "{}: ok: mode {}, {} protected trees, {} trusted keys, {} drop-ins",
        policy.display(),
        engine.policy.mode,
        engine.trees.len(),
        engine.trust.len(),
        engine.files.len().saturating_sub(1)
    );
    for t in &engine.trees {
        println!("  protect {} (mode {})", t.root.display(), t.mode);
    }
    for k in engine.trust.iter() {
        println!(
            "  key {} {} ({})",
            k.material.kind(),
            k.fingerprint,
            k.source
        );
    }
    Ok(Exit::Ok)
}
