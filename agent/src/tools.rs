//! The commands that do not run the agent: keygen, sign, verify, check.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use sha2::Digest;
use sigward_policy::formats::{aisoc, cloacina, conductor, minisign, notur};
use sigward_policy::trust::KeyOrigin;
use sigward_policy::{native, Fingerprint, Options, Verdict};

use crate::check;
use crate::cli::{KeyFormat, KeygenArgs, SignArgs, SignFormat, VerifyArgs};
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
    let pub_path = with_suffix(
        &args.out,
        if args.format == KeyFormat::Conductor {
            ".public"
        } else {
            ".pub"
        },
    );
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
    let public = match args.format {
        KeyFormat::Pem => match key.verifying_key().to_public_key_pem(Default::default()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("sigward keygen: cannot encode public key: {e}");
                return ExitCode::FAILURE;
            }
        },
        KeyFormat::Hex | KeyFormat::Conductor => {
            format!("{}\n", hex::encode(key.verifying_key().as_bytes()))
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

/// Reads a signing key: PKCS#8 PEM, a Notur secret key (128 hex
/// characters: seed and public key) or a Conductor private key (32 raw
/// bytes).
fn load_signing_key(path: &Path) -> Result<SigningKey, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    if let Ok(text) = std::str::from_utf8(&bytes) {
        let t = text.trim();
        if t.starts_with("-----BEGIN") {
            return SigningKey::from_pkcs8_pem(t)
                .map_err(|e| format!("not an Ed25519 PKCS#8 PEM private key: {e}"));
        }
        if t.len() == 128 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return notur::parse_secret_key_hex(t);
        }
    }
    if let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(SigningKey::from_bytes(&seed));
    }
    Err(
        "not a key sigward can sign with (expected PKCS#8 PEM, 128 hex characters or 32 raw bytes)"
            .into(),
    )
}

/// `sigward sign`.
pub fn sign(args: &SignArgs) -> ExitCode {
    let key = match load_signing_key(&args.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("sigward sign: {}: {e}", args.key.display());
            return ExitCode::from(USAGE);
        }
    };
    let fingerprint = Fingerprint::of_ed25519(&key.verifying_key());
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    if let Some(dir) = &args.bundle {
        return match sign_bundle(&key, dir, &mut buf) {
            Ok(sig) => {
                println!(
                    "{}: signed bundle (key {fingerprint}) -> {}",
                    dir.display(),
                    sig.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sigward sign: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let mut failed = false;
    for file in &args.files {
        match sign_one(&key, args, file, &mut buf) {
            Ok(sig) => println!(
                "{}: signed (key {fingerprint}, format {}) -> {}",
                file.display(),
                format_name(args.format),
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

fn format_name(f: SignFormat) -> &'static str {
    match f {
        SignFormat::Native => "native",
        SignFormat::Notur => "notur",
        SignFormat::Cloacina => "cloacina",
        SignFormat::Conductor => "conductor",
    }
}

fn sign_one(
    key: &SigningKey,
    args: &SignArgs,
    file: &Path,
    buf: &mut [u8],
) -> Result<PathBuf, String> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("the file name is not valid UTF-8, which signature files cannot carry")?;
    let fd = check::open_for_verify(file).map_err(|e| e.to_string())?;
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|e| e.to_string())?;
    if !check::is_regular(&st) {
        return Err("not a regular file".into());
    }
    let size = u64::try_from(st.st_size).map_err(|_| "bad size".to_string())?;
    let sha = crate::hash::sha256_fd(fd.as_fd(), size, buf).map_err(|e| e.to_string())?;
    let sig_path = check::sig_path_for(file);
    let signed_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let text = match args.format {
        SignFormat::Native => {
            let existing = match check::read_signature(&sig_path) {
                Ok(Some((bytes, _))) if native::looks_native(&bytes) => native::parse(&bytes).ok(),
                _ => None,
            };
            native::to_text(&native::sign(existing, key, name, size, &sha, &signed_at))
        }
        SignFormat::Cloacina => cloacina::sign(key, &sha, &signed_at),
        SignFormat::Conductor => conductor::sign(
            key,
            &sha,
            size,
            &signed_at,
            args.name.as_deref().unwrap_or_default(),
            args.email.as_deref().unwrap_or_default(),
        ),
        SignFormat::Notur => {
            let mut content = Vec::new();
            fs::File::from(fd)
                .read_to_end(&mut content)
                .map_err(|e| format!("cannot read: {e}"))?;
            if content.len() as u64 != size
                || <[u8; 32]>::from(sha2::Sha256::digest(&content)) != sha
            {
                return Err("file changed while it was being signed".into());
            }
            let sum_path = check::companion(file, ".sha256");
            write_atomic(&sum_path, notur::sha256sum_line(&sha, name).as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", sum_path.display()))?;
            notur::sign(key, &content)
        }
    };
    write_atomic(&sig_path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", sig_path.display()))?;
    Ok(sig_path)
}

fn sign_bundle(key: &SigningKey, dir: &Path, buf: &mut [u8]) -> Result<PathBuf, String> {
    let manifest_name = aisoc::MANIFEST_NAMES
        .into_iter()
        .find(|m| dir.join(m).is_file())
        .ok_or_else(|| format!("no {} in the directory", aisoc::MANIFEST_NAMES.join(" or ")))?;
    let manifest =
        fs::read(dir.join(manifest_name)).map_err(|e| format!("{manifest_name}: {e}"))?;
    let (files, complete) = check::bundle_files(dir, None, buf)?;
    if !complete {
        return Err("some files or directories of the plugin could not be read".into());
    }
    let text = aisoc::sign_bundle(key, manifest_name, &manifest, &files)?;
    let sig_path = dir.join(aisoc::SIG_NAME);
    write_atomic(&sig_path, text.as_bytes())
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
                if check::is_aisoc_manifest(&path) {
                    println!(
                        "{}: ok (AiSOC manifest: read freely, covered by {})",
                        file.display(),
                        aisoc::SIG_NAME
                    );
                    continue;
                }
                let options = Options {
                    now: now_secs(),
                    ..engine.options_for(&path).clone()
                };
                let ctx = check::Context {
                    trust: &engine.trust,
                    options: &options,
                    tree_root: engine.tree_for(&path).map(|t| t.root.as_path()),
                };
                let outcome = check::evaluate(fd.as_fd(), &path, &ctx, &mut buf);
                match outcome.verdict {
                    Verdict::Verified { key, .. } => format!("{}: ok (key {key})", file.display()),
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

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `sigward trust list`.
pub fn trust_list(policy: &Path) -> ExitCode {
    let engine = match Engine::load(policy, 0) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for w in &engine.warnings {
        eprintln!("{}: warning: {w}", policy.display());
    }
    println!("{:<12} {:<64} {:<40} NAME", "TYPE", "FINGERPRINT", "SOURCE");
    for k in engine.trust.iter() {
        let name = match &k.origin {
            KeyOrigin::AllowedSigner(a) => {
                let mut s = format!("principals={}", a.principals.join(","));
                if let Some(ns) = &a.namespaces {
                    s.push_str(&format!(" namespaces={}", ns.join(",")));
                }
                s
            }
            KeyOrigin::Minisign { key_id } => {
                format!(
                    "{} (minisign key id {})",
                    k.label.clone().unwrap_or_default(),
                    minisign::key_id_hex(key_id)
                )
            }
            _ => k.label.clone().unwrap_or_default(),
        };
        let source = format!("{}#{}", k.source, k.block);
        println!(
            "{:<12} {} {:<40} {}",
            k.material.kind(),
            k.fingerprint,
            source,
            name.trim()
        );
    }
    for fp in engine.trust.revoked() {
        println!("{:<12} {fp} {:<40} revoked", "-", "");
    }
    ExitCode::SUCCESS
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
                println!(
                    "  key {} {} ({})",
                    k.material.kind(),
                    k.fingerprint,
                    k.source
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
