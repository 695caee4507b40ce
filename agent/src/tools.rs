//! The commands that do not run the agent: keygen, sign, verify, check,
//! trust list|add|remove.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use sha2::Digest;
use sigward_policy::formats::{aisoc, cloacina, conductor, minisign, notur};
use sigward_policy::trust::KeyOrigin;
use sigward_policy::{native, Fingerprint, TrustStore, Verdict};

use crate::check;
use crate::cli::{
    KeyFormat, KeygenArgs, SignArgs, SignFormat, TrustAddArgs, TrustDirArg, TrustListArgs,
    TrustRemoveArgs, VerifyArgs,
};
use crate::config::Engine;
use crate::exit::Exit;

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
            return Exit::Failed.into();
        }
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let private = match key.to_pkcs8_pem(Default::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sigward keygen: cannot encode private key: {e}");
            return Exit::Failed.into();
        }
    };
    let public = match args.format {
        KeyFormat::Pem => match key.verifying_key().to_public_key_pem(Default::default()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("sigward keygen: cannot encode public key: {e}");
                return Exit::Failed.into();
            }
        },
        KeyFormat::Hex | KeyFormat::Conductor => {
            format!("{}\n", hex::encode(key.verifying_key().as_bytes()))
        }
    };
    if let Err(e) = write_new(&key_path, private.as_bytes(), 0o600) {
        eprintln!("sigward keygen: {}: {e}", key_path.display());
        return Exit::Failed.into();
    }
    if let Err(e) = write_new(&pub_path, public.as_bytes(), 0o644) {
        eprintln!("sigward keygen: {}: {e}", pub_path.display());
        let _ = fs::remove_file(&key_path);
        return Exit::Failed.into();
    }
    println!("{}", Fingerprint::of_ed25519(&key.verifying_key()));
    eprintln!(
        "wrote {} (private, keep secret) and {} (public, for trust stores)",
        key_path.display(),
        pub_path.display()
    );
    Exit::Ok.into()
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

/// Writes `bytes` to `path` atomically ([`crate::files::AtomicWrite`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::files::AtomicWrite::new(0o644)
        .write(path, bytes)
        .map(|_| ())
}

/// Reads a signing key: PKCS#8 PEM, a Notur secret key (128 hex
/// characters: seed and public key) or a Conductor private key (32 raw
/// bytes).
fn load_signing_key(path: &Path) -> Result<SigningKey, String> {
    let bytes = crate::files::bounded::read(path, MAX_KEY_FILE).map_err(|e| e.to_string())?;
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
            return Exit::Usage.into();
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
                Exit::Ok.into()
            }
            Err(e) => {
                eprintln!("sigward sign: {}: {e}", dir.display());
                Exit::Failed.into()
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
        Exit::Failed.into()
    } else {
        Exit::Ok.into()
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
    if !crate::files::is_regular(&st) {
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
    let manifest = crate::files::bounded::read(
        &dir.join(manifest_name),
        crate::files::bounded::CONFIG_LIMIT,
    )
    .map_err(|e| format!("{manifest_name}: {e}"))?;
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
            return Exit::Usage.into();
        }
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Usage.into();
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
        Exit::Ok.into()
    } else {
        Exit::Failed.into()
    }
}

/// `sigward trust list`.
pub fn trust_list(args: &TrustListArgs) -> ExitCode {
    if let Some(dir) = &args.dir {
        let loaded = match load_trust_dir(dir) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sigward trust list: {}: {e}", dir.display());
                return Exit::Failed.into();
            }
        };
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        for e in &loaded.errors {
            eprintln!("{e}");
        }
        print_keys(&loaded.trust);
        return if loaded.errors.is_empty() {
            Exit::Ok.into()
        } else {
            Exit::Failed.into()
        };
    }
    let policy = &args.policy;
    let engine = match Engine::load(policy, 0) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Failed.into();
        }
    };
    for w in &engine.warnings {
        eprintln!("{}: warning: {w}", policy.display());
    }
    print_keys(&engine.trust);
    Exit::Ok.into()
}

fn print_keys(trust: &TrustStore) {
    println!("{:<12} {:<64} {:<40} NAME", "TYPE", "FINGERPRINT", "SOURCE");
    for k in trust.iter() {
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
    for fp in trust.revoked() {
        println!("{:<12} {fp} {:<40} revoked", "-", "");
    }
}

// ------------------------------------------------------ trust directories

use crate::config::KEY_EXTENSIONS;

/// Key files larger than this are refused (they are a few KiB).
const MAX_KEY_FILE: u64 = crate::files::bounded::CONFIG_LIMIT;

/// The shortest fingerprint prefix `trust remove` accepts.
const MIN_PREFIX: usize = 8;

/// What loading every key file of a trust directory gave.
struct LoadedDir {
    trust: TrustStore,
    /// `FILE: error` for each file that could not be used.
    errors: Vec<String>,
    warnings: Vec<String>,
}

fn is_key_file_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| KEY_EXTENSIONS.contains(&e))
}

/// The key files of a directory, sorted.
fn key_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if is_key_file_name(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, String> {
    crate::files::bounded::read(path, MAX_KEY_FILE).map_err(|e| e.to_string())
}

/// Loads one key file into a store of its own.
fn load_one(path: &Path) -> Result<(TrustStore, sigward_policy::trust::LoadReport), String> {
    let bytes = read_key_file(path)?;
    let mut store = TrustStore::new();
    let report = store
        .add_file(&path.display().to_string(), &bytes)
        .map_err(|e| e.to_string())?;
    Ok((store, report))
}

fn load_trust_dir(dir: &Path) -> std::io::Result<LoadedDir> {
    let mut loaded = LoadedDir {
        trust: TrustStore::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    for f in key_files(dir)? {
        let shown = f.display().to_string();
        match read_key_file(&f)
            .and_then(|b| loaded.trust.add_file(&shown, &b).map_err(|e| e.to_string()))
        {
            Ok(report) => loaded.warnings.extend(report.warnings),
            Err(e) => loaded.errors.push(format!("{shown}: {e}")),
        }
    }
    Ok(loaded)
}

/// The directory `sigward trust add|remove` manage: `--dir`, else the
/// policy's `[trust] keys_dir`.
fn trust_dir(target: &TrustDirArg) -> Result<PathBuf, String> {
    if let Some(dir) = &target.dir {
        return Ok(dir.clone());
    }
    let engine = Engine::load(&target.policy, 0).map_err(|e| {
        format!("{e}\n(the policy must load to find its [trust] keys_dir; or give --dir DIR)")
    })?;
    engine
        .policy
        .trust
        .keys_dir
        .as_ref()
        .map(|d| d.value.clone())
        .ok_or_else(|| {
            format!(
                "{}: the policy sets no [trust] keys_dir; set one, or give --dir DIR",
                target.policy.display()
            )
        })
}

/// Key names: `[A-Za-z0-9._-]+`, not starting with `.` (no hidden files,
/// no `.` or `..`).
fn check_key_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a key name cannot be empty".into());
    }
    if name.len() > 200 {
        return Err("a key name is at most 200 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "invalid key name {name:?}: {c:?} is not allowed (letters, digits, '.', '_' and '-' only)"
        ));
    }
    if name.starts_with('.') {
        return Err(format!(
            "invalid key name {name:?}: it cannot start with '.'"
        ));
    }
    Ok(())
}

/// The files that hold the key named `name` in `dir`.
fn named_key_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = KEY_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    // `trust remove vendor-a.pub` names the file itself.
    let whole = dir.join(name);
    if found.is_empty() && is_key_file_name(&whole) && whole.symlink_metadata().is_ok() {
        found.push(whole);
    }
    found
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn key_summary(store: &TrustStore) -> Vec<String> {
    store
        .iter()
        .map(|k| format!("{} {}", k.material.kind(), k.fingerprint))
        .collect()
}

const RELOAD_REMINDER: &str = "run `sigward reload` to apply the change to the running agent";

/// `sigward trust add`.
pub fn trust_add(args: &TrustAddArgs) -> ExitCode {
    if let Err(e) = check_key_name(&args.name) {
        eprintln!("sigward trust add: {e}");
        return Exit::Usage.into();
    }
    let dir = match trust_dir(&args.target) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sigward trust add: {e}");
            return Exit::Failed.into();
        }
    };
    match add_key(args, &dir) {
        Ok(()) => {
            eprintln!("{RELOAD_REMINDER}");
            Exit::Ok.into()
        }
        Err(e) => {
            eprintln!("sigward trust add: {e}");
            Exit::Failed.into()
        }
    }
}

fn add_key(args: &TrustAddArgs, dir: &Path) -> Result<(), String> {
    let key = &args.key;
    // A file, else a literal key.
    let (bytes, source) = if key.symlink_metadata().is_ok() {
        let bytes = read_key_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
        (bytes, key.display().to_string())
    } else {
        match key.to_str() {
            Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => (
                format!("{}\n", t.to_ascii_lowercase()).into_bytes(),
                "the key given".to_string(),
            ),
            _ => {
                return Err(format!(
                    "{}: no such file, and not an Ed25519 public key of 64 hex characters",
                    key.display()
                ))
            }
        }
    };
    let mut scratch = TrustStore::new();
    let report = scratch
        .add_file(&source, &bytes)
        .map_err(|e| format!("{source}: not a usable public key file: {e}"))?;
    if scratch.is_empty() {
        return Err(format!("{source}: holds no public key to trust"));
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if report.revoked > 0 {
        eprintln!(
            "warning: {source} also revokes {} key(s); they stay revoked while it is installed",
            report.revoked
        );
    }
    let existing = named_key_files(dir, &args.name);
    if !args.force {
        if let Some(e) = existing.first() {
            return Err(format!(
                "a key named {} already exists ({}); give --force to replace it",
                args.name,
                e.display()
            ));
        }
    }
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        eprintln!("created {}", dir.display());
    }
    let dest = dir.join(format!("{}.pub", args.name));
    // Keys already in the directory under another name: worth knowing.
    if let Ok(loaded) = load_trust_dir(dir) {
        for k in scratch.iter() {
            for other in loaded.trust.lookup(&k.fingerprint) {
                if !existing
                    .iter()
                    .any(|e| e.display().to_string() == other.source)
                {
                    eprintln!(
                        "note: key {} is already trusted by {}",
                        k.fingerprint, other.source
                    );
                }
            }
        }
    }
    // Written beside the destination under a name the agent does not load,
    // then moved into place in one step: a reload never sees half a key.
    // Without --force, link() fails if the name appeared meanwhile: never
    // overwrite.
    let write = crate::files::AtomicWrite::new(0o644);
    let write = if args.force {
        write
    } else {
        write.no_replace()
    };
    let placed = write.write(&dest, &bytes);
    placed.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} already exists; give --force to replace it",
                dest.display()
            )
        } else {
            format!("cannot write {}: {e}", dest.display())
        }
    })?;
    // With --force, the same name under another extension goes.
    for old in existing.iter().filter(|p| **p != dest) {
        fs::remove_file(old).map_err(|e| format!("cannot remove {}: {e}", old.display()))?;
        eprintln!("removed {}", old.display());
    }
    sync_dir(dir);
    for k in scratch.iter() {
        println!(
            "{} {} -> {}",
            k.material.kind(),
            k.fingerprint,
            dest.display()
        );
    }
    Ok(())
}

/// `sigward trust remove`.
pub fn trust_remove(args: &TrustRemoveArgs) -> ExitCode {
    let dir = match trust_dir(&args.target) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sigward trust remove: {e}");
            return Exit::Failed.into();
        }
    };
    match remove_key(&args.key, &dir) {
        Ok(()) => {
            eprintln!("{RELOAD_REMINDER}");
            Exit::Ok.into()
        }
        Err(e) => {
            eprintln!("sigward trust remove: {e}");
            Exit::Failed.into()
        }
    }
}

fn remove_key(which: &str, dir: &Path) -> Result<(), String> {
    let by_name = if check_key_name(which).is_ok() {
        named_key_files(dir, which)
    } else {
        Vec::new()
    };
    let files = if !by_name.is_empty() {
        by_name
    } else {
        let hex = which.bytes().all(|b| b.is_ascii_hexdigit()) && !which.is_empty();
        if !hex || which.len() < MIN_PREFIX || which.len() > 64 {
            return Err(format!(
                "no key named {which:?} in {} (a fingerprint prefix is {MIN_PREFIX} to 64 hex                  digits)",
                dir.display()
            ));
        }
        let prefix = which.to_ascii_lowercase();
        let files = key_files(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut matches = Vec::new();
        for f in files {
            match load_one(&f) {
                Ok((store, _)) => {
                    let hits: Vec<String> = store
                        .iter()
                        .map(|k| k.fingerprint.to_string())
                        .filter(|fp| fp.starts_with(&prefix))
                        .collect();
                    if !hits.is_empty() {
                        matches.push((f, hits));
                    }
                }
                Err(e) => eprintln!("warning: {}: skipped: {e}", f.display()),
            }
        }
        match matches.len() {
            0 => {
                return Err(format!(
                    "no key named {which:?} and no key whose fingerprint starts with {prefix}                      in {}",
                    dir.display()
                ))
            }
            1 => matches.into_iter().map(|(f, _)| f).collect(),
            _ => {
                let list: Vec<String> = matches
                    .iter()
                    .map(|(f, fps)| format!("  {}: {}", f.display(), fps.join(", ")))
                    .collect();
                return Err(format!(
                    "fingerprint prefix {prefix} is ambiguous; it matches keys in {} files                      (give more digits, or the name):\n{}",
                    matches.len(),
                    list.join("\n")
                ));
            }
        }
    };
    for f in &files {
        let keys = load_one(f)
            .map(|(store, _)| key_summary(&store).join(", "))
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        fs::remove_file(f).map_err(|e| format!("cannot remove {}: {e}", f.display()))?;
        println!("removed {} ({keys})", f.display());
    }
    sync_dir(dir);
    Ok(())
}

/// `sigward check`.
pub fn check_policy(args: &crate::cli::CheckArgs) -> ExitCode {
    let policy = args.policy.as_path();
    let lo = crate::config::LoadOptions {
        base_dir: args.base_dir.clone(),
        extra_drop_in: args.drop_in.clone(),
        extra_drop_in_name: args.drop_in_name.clone(),
    };
    match Engine::load_with(policy, 0, &lo) {
        Ok(engine) => {
            for w in &engine.warnings {
                eprintln!("{}: warning: {w}", policy.display());
            }
            if args.print {
                print!(
                    "{}",
                    sigward_policy::config::to_toml(&engine.policy, &engine.files)
                );
                return Exit::Ok.into();
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
            Exit::Ok.into()
        }
        Err(e) => {
            eprintln!("{e}");
            Exit::Failed.into()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn key_names() {
        for good in ["vendor-a", "Vendor_A.2026", "a", "0123"] {
            assert!(check_key_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", ".", "..", ".hidden", "a/b", "../x", "a b", "é", "a\nb", "x*",
        ] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }
}
