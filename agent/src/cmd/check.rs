//! `sigward check`: validate a policy and everything it names, or one key
//! file, as configuration management does before installing them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::CheckArgs;
use crate::config::{Engine, LoadError, LoadOptions};
use crate::exit::Exit;
use crate::fleet::{self, KeyInfo};

use super::CmdError;

/// `sigward check`. An invalid policy is the command's answer, not an
/// error: every error is printed as `FILE:LINE: message` (the form editors
/// and CI annotate) and the exit is 1.
pub fn check(args: &CheckArgs) -> Result<Exit, CmdError> {
    if let Some(key) = &args.key {
        return Ok(check_key(key, args));
    }
    let policy = args.policy.as_path();
    let lo = LoadOptions {
        base_dir: args.base_dir.clone(),
        extra_drop_in: args.drop_in.clone(),
        extra_drop_in_name: args.drop_in_name.clone(),
        without: args.without.clone(),
        offline: args.offline,
    };
    let engine = Engine::load_all(policy, 0, &lo);
    let report = Report::new(policy, args.offline, &engine);
    if args.json {
        println!("{}", json(&report));
        return Ok(report.exit());
    }
    let engine = match engine {
        Ok(engine) => engine,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Ok(Exit::Failed);
        }
    };
    for w in &report.warnings {
        eprintln!("{}: warning: {w}", policy.display());
    }
    for n in &report.notes {
        eprintln!("{}: note: {n}", policy.display());
    }
    if args.print {
        print!(
            "{}",
            sigward_policy::config::to_toml(&engine.policy, &engine.files)
        );
        return Ok(Exit::Ok);
    }
    println!(
        "{}: ok: mode {}, {} protected trees, {} trusted keys, {} drop-ins{}",
        policy.display(),
        report.mode.unwrap_or("-"),
        engine.trees.len(),
        engine.trust.len(),
        engine.files.len().saturating_sub(1),
        if args.offline { " (off-host)" } else { "" }
    );
    println!("  digest {}", report.digest.as_deref().unwrap_or("-"));
    for t in &engine.trees {
        println!("  protect {} (mode {})", t.root.display(), t.mode);
    }
    for k in &report.keys {
        println!("  key {}", k.line());
    }
    Ok(Exit::Ok)
}

/// One error of `--json`.
#[derive(Serialize)]
struct ErrorJson {
    file: PathBuf,
    line: Option<usize>,
    message: String,
}

impl From<&LoadError> for ErrorJson {
    fn from(e: &LoadError) -> Self {
        ErrorJson {
            file: e.file.clone(),
            line: e.line,
            message: e.message.clone(),
        }
    }
}

/// One protected tree of `--json`.
#[derive(Serialize)]
struct TreeJson {
    path: PathBuf,
    mode: &'static str,
    file: PathBuf,
    line: usize,
    /// Digests trusted without a signature there (the policy's and the
    /// tree's own).
    allow_sha256: Vec<String>,
}

/// What `check` found, as `--json` prints it.
#[derive(Serialize)]
struct Report {
    policy: PathBuf,
    ok: bool,
    offline: bool,
    errors: Vec<ErrorJson>,
    warnings: Vec<String>,
    notes: Vec<String>,
    /// Every tree's mode when they agree, else `mixed`.
    mode: Option<&'static str>,
    /// The policy's own `mode` (for files outside every tree).
    global_mode: Option<&'static str>,
    digest: Option<String>,
    files: Vec<PathBuf>,
    trees: Vec<TreeJson>,
    absent_trees: Vec<PathBuf>,
    keys: Vec<KeyInfo>,
}

impl Report {
    fn new(policy: &Path, offline: bool, engine: &Result<Engine, Vec<LoadError>>) -> Report {
        let mut r = Report {
            policy: policy.to_path_buf(),
            ok: engine.is_ok(),
            offline,
            errors: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            mode: None,
            global_mode: None,
            digest: None,
            files: Vec::new(),
            trees: Vec::new(),
            absent_trees: Vec::new(),
            keys: Vec::new(),
        };
        let engine = match engine {
            Ok(e) => e,
            Err(errors) => {
                r.errors = errors.iter().map(ErrorJson::from).collect();
                return r;
            }
        };
        let now = crate::metrics::unix_now();
        r.keys = fleet::keys(&engine.trust, now, fleet::horizon(engine));
        r.warnings = engine.warnings.clone();
        r.warnings.extend(fleet::expiry_warnings(&r.keys, now));
        r.notes = engine.notes.clone();
        r.mode = Some(fleet::mode_summary(engine.policy.mode, &engine.trees));
        r.global_mode = Some(engine.policy.mode.as_str());
        r.digest = Some(fleet::digest(engine));
        r.files = engine.files.clone();
        r.trees = engine
            .trees
            .iter()
            .map(|t| TreeJson {
                path: t.root.clone(),
                mode: t.mode.as_str(),
                file: t.file.clone(),
                line: t.line,
                allow_sha256: t.trust.allowed_digests().iter().map(hex::encode).collect(),
            })
            .collect();
        r.absent_trees = engine.absent.clone();
        r
    }

    fn exit(&self) -> Exit {
        if self.ok {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// What `check --key` found, as `--json` prints it.
#[derive(Serialize)]
struct KeyReport {
    file: PathBuf,
    ok: bool,
    errors: Vec<ErrorJson>,
    warnings: Vec<String>,
    keys: Vec<KeyInfo>,
}

/// `sigward check --key FILE [--as NAME]`: one key file, read as the
/// agent reads the files of `keys_dir` (a private key is refused).
fn check_key(path: &Path, args: &CheckArgs) -> Exit {
    // Errors name the file as it will be installed.
    let shown = match &args.drop_in_name {
        Some(name) => Path::new(name).to_path_buf(),
        None => path.to_path_buf(),
    };
    let mut report = KeyReport {
        file: shown.clone(),
        ok: false,
        errors: Vec::new(),
        warnings: Vec::new(),
        keys: Vec::new(),
    };
    let fail = |message: String| ErrorJson {
        file: shown.clone(),
        line: None,
        message,
    };
    match crate::files::bounded::read(path, crate::files::bounded::CONFIG_LIMIT) {
        Err(e) => report
            .errors
            .push(fail(format!("cannot read key file: {e}"))),
        Ok(bytes) => {
            let mut trust = sigward_policy::TrustStore::new();
            match trust.add_file(&shown.display().to_string(), &bytes) {
                Err(e) => report.errors.push(fail(e.to_string())),
                Ok(loaded) => {
                    report.warnings = loaded.warnings;
                    report.keys = fleet::keys(&trust, crate::metrics::unix_now(), 0);
                    if report.keys.is_empty() {
                        report
                            .errors
                            .push(fail(if trust.revoked().next().is_some() {
                                "holds revocations only, no key to trust".into()
                            } else {
                                "holds no public key".into()
                            }));
                    }
                }
            }
        }
    }
    if let Some(ext) = shown.extension().and_then(|e| e.to_str()) {
        if !crate::config::KEY_EXTENSIONS.contains(&ext) {
            report.warnings.push(format!(
                "a keys_dir only loads *.{} files: under this name the key is not loaded from one",
                crate::config::KEY_EXTENSIONS.join(", *.")
            ));
        }
    }
    report.ok = report.errors.is_empty();
    if args.json {
        println!("{}", json(&report));
    } else {
        for e in &report.errors {
            eprintln!("{}: {}", e.file.display(), e.message);
        }
        for w in &report.warnings {
            eprintln!("{}: warning: {w}", shown.display());
        }
        for k in &report.keys {
            println!("{}: ok: {}", shown.display(), k.line());
        }
    }
    if report.ok {
        Exit::Ok
    } else {
        Exit::Failed
    }
}
