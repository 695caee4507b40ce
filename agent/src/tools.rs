//! The commands that do not run the agent: keygen, sign, verify, check.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use sigward_policy::{native, Fingerprint, Verdict};

use crate::check;
use crate::cli::{KeygenArgs, SignArgs, VerifyArgs};
use crate::config::Engine;

/// Exit status for usage and configuration errors.
const USAGE: u8 = 2;

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `sigward keygen`.
pub fn keygen(args: &KeygenArgs) -> ExitCode {
    let key_path = with_suffix(&args.out, ".key");
    let pub_path = with_suffix(&args.out, ".pub");
    for p in [&key_path, &pub_path] {
        if p.symlink_metadata().is_ok() {
            eprintln!(
                "sigward keygen: {} exists; refusing to overwrite it",
                p.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let private = match key.to_pkcs8_pem(Default::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sigward keygen: cannot encode private key: {e}");
            return ExitCode::FAILURE;
        }
    };
    let public = match key.verifying_key().to_public_key_pem(Default::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sigward keygen: cannot encode public key: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = write_new(&key_path, private.as_bytes(), 0o600) {
        eprintln!("sigward keygen: {}: {e}", key_path.display());
        return ExitCode::FAILURE;
    }
    if let Err(e) = write_new(&pub_path, public.as_bytes(), 0o644) {
        eprintln!("sigward keygen: {}: {e}", pub_path.display());
        let _ = fs::remove_file(&key_path);
        return ExitCode::FAILURE;
    }
    println!("{}", Fingerprint::of_ed25519(&key.verifying_key()));
    eprintln!(
        "wrote {} (private, keep secret) and {} (public, for trust stores)",
        key_path.display(),
        pub_path.display()
    );
    ExitCode::SUCCESS
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `bytes` to `path` atomically (temporary file, then rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = with_suffix(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `sigward sign`.
pub fn sign(args: &SignArgs) -> ExitCode {
    let pem = match fs::read_to_string(&args.key) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sigward sign: {}: {e}", args.key.display());
            return ExitCode::from(USAGE);
        }
    };
    let key = match SigningKey::from_pkcs8_pem(&pem) {
        Ok(k) => k,
        Err(e) => {
            eprintln!(
                "sigward sign: {}: not an Ed25519 PKCS#8 PEM private key: {e}",
                args.key.display()
            );
            return ExitCode::from(USAGE);
        }
    };
    let fingerprint = Fingerprint::of_ed25519(&key.verifying_key());
    let mut failed = false;
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    for file in &args.files {
        match sign_one(&key, file, &mut buf) {
            Ok(sig) => println!(
                "{}: signed (key {fingerprint}) -> {}",
                file.display(),
                sig.display()
            ),
            Err(e) => {
                eprintln!("sigward sign: {}: {e}", file.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn sign_one(key: &SigningKey, file: &Path, buf: &mut [u8]) -> Result<PathBuf, String> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("the file name is not valid UTF-8, which version 1 signatures cannot carry")?;
    let fd = check::open_for_verify(file).map_err(|e| e.to_string())?;
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|e| e.to_string())?;
    if !check::is_regular(&st) {
        return Err("not a regular file".into());
    }
    let size = u64::try_from(st.st_size).map_err(|_| "bad size".to_string())?;
    let sha = crate::hash::sha256_fd(fd.as_fd(), size, buf).map_err(|e| e.to_string())?;
    let sig_path = check::sig_path_for(file);
    let existing = match check::read_signature(&sig_path) {
        Ok(Some((bytes, _))) if native::looks_native(&bytes) => native::parse(&bytes).ok(),
        _ => None,
    };
    let signed_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let doc = native::sign(existing, key, name, size, &sha, &signed_at);
    write_atomic(&sig_path, native::to_text(&doc).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", sig_path.display()))?;
    Ok(sig_path)
}

/// `sigward verify`.
pub fn verify(args: &VerifyArgs) -> ExitCode {
    let engine = match (&args.policy, args.trust_key.is_empty()) {
        (Some(p), _) => Engine::load(p, 0),
        (None, false) => Engine::from_key_files(&args.trust_key),
        (None, true) => {
            eprintln!("sigward verify: give --policy POLICY or at least one --trust-key PUB");
            return ExitCode::from(USAGE);
        }
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(USAGE);
        }
    };
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
                let path = check::fd_path(fd.as_fd()).unwrap_or_else(|| file.clone());
                let outcome = check::evaluate(fd.as_fd(), &path, &engine.trust, &mut buf);
                match outcome.verdict {
                    Verdict::Verified { key } => format!("{}: ok (key {key})", file.display()),
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
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `sigward check`.
pub fn check_policy(policy: &Path) -> ExitCode {
    match Engine::load(policy, 0) {
        Ok(engine) => {
            for w in &engine.warnings {
                eprintln!("{}: warning: {w}", policy.display());
            }
            println!(
                "{}: ok: mode {}, {} protected trees, {} trusted keys",
                policy.display(),
                engine.policy.mode,
                engine.trees.len(),
                engine.trust.len()
            );
            for t in &engine.trees {
                println!("  protect {} (mode {})", t.root.display(), t.mode);
            }
            for k in engine.trust.iter() {
                println!("  key {} {} ({})", k.key.kind(), k.fingerprint, k.source);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
