//! A fixture: a fresh temporary tree with a key pair and a policy.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::{fs, io};

use tempfile::TempDir;

use super::agent::Agent;
use super::process::run;
use super::{require_root, sigward, PROC_TIMEOUT};

/// Quotes a string as a TOML basic string.
/// `text` (a policy) with `untrusted_writers = "allow"` added to every
/// `[[protect]]` table, right after its `path`.
pub fn allow_untrusted_writers(text: &str) -> String {
    let mut out = String::new();
    let mut in_protect = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        let t = line.trim();
        if t.starts_with('[') {
            in_protect = t == "[[protect]]";
        } else if in_protect && t.starts_with("path") {
            out.push_str("untrusted_writers = \"allow\"\n");
        }
    }
    out
}

pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn path_str(p: &Path) -> String {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
        .to_string()
}

/// Appends `suffix` to the file name (`x.py` -> `x.py.sig`).
pub fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn sig_path(p: &Path) -> PathBuf {
    with_suffix(p, ".sig")
}

/// The inode number of `p` (following symlinks).
pub fn inode(p: &Path) -> u64 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .ino()
}

/// Extracts the first 64-hex-digit token of `text`.
pub fn find_fingerprint(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .find(|t| t.len() == 64)
        .map(|t| t.to_ascii_lowercase())
}

pub fn sha256_hex(path: &Path) -> String {
    let fin = run(Command::new("sha256sum").arg(path), PROC_TIMEOUT);
    fin.assert_success();
    fin.stdout
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("sha256sum printed nothing: {fin}"))
        .to_string()
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

pub fn mkdirs(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir -p {}: {e}", path.display()));
}

pub fn write_file(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        mkdirs(parent);
    }
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(contents)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn rename(from: &Path, to: &Path) {
    fs::rename(from, to)
        .unwrap_or_else(|e| panic!("rename {} -> {}: {e}", from.display(), to.display()));
}

/// `truncate(2)` by path: no open, hence no fanotify permission event.
pub fn truncate_path(path: &Path, len: u64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .unwrap_or_else(|e| panic!("path with NUL: {e}"));
    let len = libc::off_t::try_from(len).unwrap_or_else(|e| panic!("length: {e}"));
    // SAFETY: c is a valid NUL-terminated string.
    let rc = unsafe { libc::truncate(c.as_ptr(), len) };
    if rc != 0 {
        panic!(
            "truncate({}, {len}): {}",
            path.display(),
            io::Error::last_os_error()
        );
    }
}

/// A fresh temporary tree:
/// ```text
/// /tmp/sigward-e2e-XXXX/
///   plugins/        the protected directory
///   keys/test.key   signing key (trusted by the policy)
///   keys/test.pub
///   policy.toml
///   staging/        where files are prepared and signed before moving in
/// ```
pub struct Fixture {
    pub root: PathBuf,
    pub plugins: PathBuf,
    pub key: PathBuf,
    pub pubkey: PathBuf,
    pub fingerprint: String,
    pub policy: PathBuf,
    seq: AtomicUsize,
    _tmp: TempDir,
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

impl Fixture {
    /// Enforcing fixture.
    pub fn new() -> Fixture {
        Self::with_mode("enforce")
    }

    pub fn with_mode(mode: &str) -> Fixture {
        require_root();
        let tmp = tempfile::Builder::new()
            .prefix("sigward-e2e-")
            // TMPDIR decides the filesystem the trees live on (the suites
            // run on ext4 and on tmpfs, see .ci/run).
            .tempdir_in(std::env::temp_dir())
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = tmp.path().to_path_buf();
        let plugins = root.join("plugins");
        mkdirs(&plugins);
        mkdirs(&root.join("keys"));
        mkdirs(&root.join("staging"));
        let prefix = root.join("keys").join("test");
        let fingerprint = keygen(&prefix);
        let fx = Fixture {
            key: with_suffix(&prefix, ".key"),
            pubkey: with_suffix(&prefix, ".pub"),
            policy: root.join("policy.toml"),
            fingerprint,
            plugins,
            root,
            seq: AtomicUsize::new(0),
            _tmp: tmp,
        };
        fx.set_mode(mode);
        fx
    }

    /// A policy trusting the fixture key and protecting `protect`.
    pub fn policy_text(&self, mode: &str, protect: &[(&Path, Option<&str>)]) -> String {
        let mut t = format!(
            "# written by the sigward e2e tests\nmode = {}\n\n[trust]\nkeys = [{}]\n",
            toml_str(mode),
            toml_str(&path_str(&self.pubkey))
        );
        for (p, m) in protect {
            t.push_str(&format!(
                "\n[[protect]]\npath = {}\n",
                toml_str(&path_str(p))
            ));
            if let Some(m) = m {
                t.push_str(&format!("mode = {}\n", toml_str(m)));
            }
        }
        t
    }

    /// Rewrites the policy so that every tree verifies files that users
    /// other than the trusted owners can write (`untrusted_writers =
    /// "allow"`), for tests whose files are group-writable or someone
    /// else's on purpose.
    pub fn allow_untrusted_writers(&self) {
        let text = fs::read_to_string(&self.policy)
            .unwrap_or_else(|e| panic!("{}: {e}", self.policy.display()));
        self.write_policy(&allow_untrusted_writers(&text));
    }

    pub fn write_policy(&self, text: &str) {
        // Replace atomically so a concurrently reloading agent never reads a
        // half-written file.
        let tmp = self.root.join(".policy.toml.new");
        write_file(&tmp, text.as_bytes());
        rename(&tmp, &self.policy);
    }

    /// Writes the standard policy (plugins/ protected) with `mode`.
    pub fn set_mode(&self, mode: &str) {
        self.write_policy(&self.policy_text(mode, &[(&self.plugins, None)]));
    }

    /// `plugins/REL`
    pub fn path(&self, rel: &str) -> PathBuf {
        self.plugins.join(rel)
    }

    /// A new private staging path with the same base name as `rel`.
    fn stage(&self, rel: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let dir = self.root.join("staging").join(n.to_string());
        mkdirs(&dir);
        let name = Path::new(rel)
            .file_name()
            .unwrap_or_else(|| panic!("no file name in {rel}"));
        dir.join(name)
    }

    /// Moves a staged file (and its .sig, if any) to plugins/REL. Renames
    /// open nothing, so this works with or without a running agent.
    fn install(&self, staged: &Path, rel: &str) -> PathBuf {
        let dest = self.path(rel);
        if let Some(parent) = dest.parent() {
            mkdirs(parent);
        }
        let staged_sig = sig_path(staged);
        if staged_sig.exists() {
            rename(&staged_sig, &sig_path(&dest));
        }
        rename(staged, &dest);
        dest
    }

    /// plugins/REL with `contents`, signed by the fixture key.
    pub fn write_signed(&self, rel: &str, contents: &[u8]) -> PathBuf {
        self.write_signed_mode(rel, contents, 0o644)
    }

    pub fn write_signed_mode(&self, rel: &str, contents: &[u8], mode: u32) -> PathBuf {
        let staged = self.stage(rel);
        write_file(&staged, contents);
        chmod(&staged, mode);
        self.sign(&staged);
        self.install(&staged, rel)
    }

    /// plugins/REL as a sparse file of `len` bytes, signed.
    pub fn write_signed_sparse(&self, rel: &str, len: u64) -> PathBuf {
        let staged = self.stage(rel);
        let f = fs::File::create(&staged)
            .unwrap_or_else(|e| panic!("create {}: {e}", staged.display()));
        f.set_len(len)
            .unwrap_or_else(|e| panic!("set_len {}: {e}", staged.display()));
        drop(f);
        self.sign(&staged);
        self.install(&staged, rel)
    }

    /// plugins/REL with `contents` and no signature.
    pub fn write_unsigned(&self, rel: &str, contents: &[u8]) -> PathBuf {
        self.write_unsigned_mode(rel, contents, 0o644)
    }

    pub fn write_unsigned_mode(&self, rel: &str, contents: &[u8], mode: u32) -> PathBuf {
        let staged = self.stage(rel);
        write_file(&staged, contents);
        chmod(&staged, mode);
        self.install(&staged, rel)
    }

    /// `sigward sign --key <fixture key> PATH`. Only for files outside the
    /// protected tree or while no agent runs (signing reads the file).
    pub fn sign(&self, path: &Path) {
        sign_with(&self.key, path);
    }

    pub fn start_agent(&self) -> Agent {
        Agent::start(&self.policy)
    }

    pub fn start_agent_with_env(&self, env: &[(&str, &str)]) -> Agent {
        Agent::start_with_env(&self.policy, env)
    }
}

/// `sigward keygen --out PREFIX`; returns the printed fingerprint.
pub fn keygen(prefix: &Path) -> String {
    let fin = sigward([
        std::ffi::OsStr::new("keygen"),
        std::ffi::OsStr::new("--out"),
        prefix.as_os_str(),
    ]);
    if !fin.success() {
        panic!("sigward keygen failed:\n{fin}");
    }
    find_fingerprint(&fin.stdout)
        .unwrap_or_else(|| panic!("sigward keygen printed no 64-hex fingerprint:\n{fin}"))
}

/// `sigward sign --key KEY PATH`, asserting success and that PATH.sig exists.
pub fn sign_with(key: &Path, path: &Path) {
    let fin = sigward([
        std::ffi::OsStr::new("sign"),
        std::ffi::OsStr::new("--key"),
        key.as_os_str(),
        path.as_os_str(),
    ]);
    if !fin.success() {
        panic!("sigward sign failed:\n{fin}");
    }
    let sig = sig_path(path);
    if !sig.exists() {
        panic!(
            "sigward sign succeeded but {} is missing:\n{fin}",
            sig.display()
        );
    }
}
