//! [`Engine::load`] and its kin: reading a policy, its drop-ins and
//! everything they name into an [`Engine`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::kcache;
use sigward_policy::config::{self, KeySource, Mode};
use sigward_policy::trust::{KeyMaterial, KeyOrigin, TrustedKey};
use sigward_policy::{Options, TrustStore};

use super::keys::KeyLoader;
use super::reader::{resolve_dir, ReadFail, Reader};
use super::warnings::{kernel_cache_settings, metrics_file_warnings, untrusted_root_warning};
use super::{Engine, Inputs, LoadError, LoadOptions, Tree, DROP_IN_DIR};

impl Engine {
    /// Loads and validates a policy file, its drop-ins and everything they
    /// name.
    pub fn load(path: &Path, generation: u64) -> Result<Engine, LoadError> {
        Self::load_with(path, generation, &LoadOptions::default())
    }

    /// [`Engine::load`] with explicit locations. The error is the first of
    /// [`Engine::load_all`]'s.
    pub fn load_with(path: &Path, generation: u64, lo: &LoadOptions) -> Result<Engine, LoadError> {
        Self::load_all(path, generation, lo).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`Engine::load_with`], reporting every error (never an empty list):
    /// the main file's first, then each drop-in's, each file's from its
    /// first line on. Errors that only follow from an earlier one are not
    /// reported: when a file cannot be read as a policy, the files are not
    /// merged; when they cannot be merged, nothing they name is read.
    pub fn load_all(
        path: &Path,
        generation: u64,
        lo: &LoadOptions,
    ) -> Result<Engine, Vec<LoadError>> {
        // Reloads must find the same file whatever the working directory.
        let main = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let base = match &lo.base_dir {
            Some(d) => d.clone(),
            None => match main.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
        };
        let base = fs::canonicalize(&base).unwrap_or(base);
        let reader = Reader::Disk {
            read: std::cell::RefCell::new(Inputs {
                policy: main.clone(),
                base: base.clone(),
                ..Inputs::default()
            }),
            offline: lo.offline,
        };
        Self::load_from(&reader, main, base, generation, lo)
    }

    /// Loads the policy that `inputs` (of an earlier load) hold, with
    /// nothing else from disk but the protected directories.
    pub fn from_inputs(inputs: &Inputs, generation: u64) -> Result<Engine, LoadError> {
        Self::load_from(
            &Reader::Saved(inputs),
            inputs.policy.clone(),
            inputs.base.clone(),
            generation,
            &LoadOptions::default(),
        )
        .map_err(|mut errors| errors.swap_remove(0))
    }

    fn load_from(
        reader: &Reader<'_>,
        main: PathBuf,
        base: PathBuf,
        generation: u64,
        lo: &LoadOptions,
    ) -> Result<Engine, Vec<LoadError>> {
        let whole = |file: &Path, message: String| LoadError {
            file: file.to_path_buf(),
            line: None,
            message,
        };
        let mut notes = Vec::new();
        let files = policy_files(reader, &main, &base, lo, &mut notes)?;
        // Errors name a file as it is (or will be) installed.
        let shown = |i: usize| {
            files
                .get(i)
                .map_or_else(|| main.clone(), |f| f.shown.clone())
        };

        let mut fragments = Vec::new();
        let mut errors = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let text = match reader.read(&f.source) {
                Ok(bytes) => String::from_utf8(bytes)
                    .map_err(|_| whole(&f.shown, "policy is not UTF-8".into())),
                Err(ReadFail::Strict(m)) => Err(whole(&f.shown, m)),
                Err(ReadFail::Io(e) | ReadFail::Absent(e)) => {
                    Err(whole(&f.shown, format!("cannot read policy: {e}")))
                }
            };
            match text.map(|t| config::parse_fragment_all(&t, &f.dir, i)) {
                Ok(Ok(fragment)) => fragments.push(fragment),
                Ok(Err(list)) => errors.extend(list.into_iter().map(|e| LoadError {
                    file: shown(e.file),
                    line: e.line,
                    message: e.message,
                })),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let policy = config::merge_all(&fragments).map_err(|list| {
            list.into_iter()
                .map(|e| LoadError {
                    file: shown(e.file),
                    line: e.line,
                    message: match e.previous {
                        Some((f, l)) => {
                            format!("{} (first at {}:{l})", e.message, shown(f).display())
                        }
                        None => e.message,
                    },
                })
                .collect::<Vec<_>>()
        })?;
        // From here on every error is kept, and all are sorted at the end.
        let mut errors = Errors::default();
        let at = |file: usize, line: usize, message: String| LoadError {
            file: shown(file),
            line: Some(line),
            message,
        };

        let mut warnings: Vec<String> = crate::strict::disabled_warning().into_iter().collect();
        let mut trust = TrustStore::new();
        let mut loader = KeyLoader {
            reader,
            warnings: &mut warnings,
            notes: &mut notes,
        };
        for key in &policy.trust.keys {
            let r = loader.key_file(&mut trust, &key.value);
            errors.keep(r.map_err(|m| at(key.file, key.line, m)));
        }
        if let Some(dir) = &policy.trust.keys_dir {
            let r = loader.key_dir(&mut trust, dir);
            errors.keep(r.map_err(|m| at(dir.file, dir.line, m)));
        }
        if let Some(dir) = &policy.trust.aisoc_keys_dir {
            let r = loader.aisoc_key_dir(&mut trust, dir);
            errors.keep(r.map_err(|m| at(dir.file, dir.line, m)));
        }
        for env in &policy.trust.notur_env {
            let r = loader.notur_env(&mut trust, &env.value);
            errors.keep(r.map_err(|m| at(env.file, env.line, m)));
        }
        for k in &policy.trust.ed25519 {
            if let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&k.value) {
                trust.insert(TrustedKey::new(
                    KeyMaterial::Ed25519(vk),
                    &format!("{}:{}", shown(k.file).display(), k.line),
                    1,
                    KeyOrigin::Hex,
                ));
            }
        }
        for signers in &policy.trust.allowed_signers {
            let r = loader.allowed_signers(&mut trust, &signers.value);
            errors.keep(r.map_err(|m| at(signers.file, signers.line, m)));
        }
        for named in &policy.trust.named {
            let window = (named.not_before, named.not_after);
            let keys = match &named.source {
                KeySource::File(f) => {
                    let mut scratch = TrustStore::new();
                    let r = loader.key_file(&mut scratch, &f.value);
                    errors.keep(r.map_err(|m| at(f.file, f.line, m)));
                    scratch.iter().cloned().collect::<Vec<_>>()
                }
                KeySource::NoturEnv(f) => {
                    let mut scratch = TrustStore::new();
                    let r = loader.notur_env(&mut scratch, &f.value);
                    errors.keep(r.map_err(|m| at(f.file, f.line, m)));
                    scratch.iter().cloned().collect::<Vec<_>>()
                }
                KeySource::Ed25519(h) => ed25519_dalek::VerifyingKey::from_bytes(&h.value)
                    .map(|vk| {
                        vec![TrustedKey::new(
                            KeyMaterial::Ed25519(vk),
                            &format!("{}:{}", shown(h.file).display(), h.line),
                            1,
                            KeyOrigin::Hex,
                        )]
                    })
                    .unwrap_or_default(),
            };
            for k in keys {
                trust.insert(k.named(&named.name.value, &named.groups, window));
            }
        }
        // Revocations and denied contents apply everywhere.
        for r in &policy.trust.revoked {
            trust.revoke(r.value);
        }
        for dir in &policy.trust.revoked_dirs {
            let r = loader.revoked_dir(&mut trust, dir);
            errors.keep(r.map_err(|m| at(dir.file, dir.line, m)));
        }
        for d in &policy.trust.deny_sha256 {
            trust.deny_content(d.value);
        }
        for d in &policy.trust.allow_sha256 {
            trust.allow_content(d.value);
        }

        let options = Options {
            formats: policy.formats.clone(),
            ssh_namespace: policy.trust.ssh_namespace.clone(),
            minisign_legacy: policy.trust.minisign_legacy,
            now: 0,
            threshold: 1,
            allow_self_signed: false,
        };
        let shared_trust = Arc::new(trust.clone());

        let mut trees: Vec<Tree> = Vec::new();
        let mut absent = Vec::new();
        for p in &policy.protect {
            let root = match resolve_dir(&p.path) {
                Ok(root) => root,
                // Optional, and not there (yet): reported, not an error.
                Err(_)
                    if !p.required
                        && fs::metadata(&p.path.value)
                            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
                {
                    warnings.push(format!(
                        "protected directory {} does not exist (required = false, {}:{}): it is \
                         protected from the first reload that finds it",
                        p.path.value.display(),
                        shown(p.path.file).display(),
                        p.path.line
                    ));
                    absent.push(p.path.value.clone());
                    continue;
                }
                // Off-host: the directory is on the host the policy is for.
                Err(m) if lo.offline => {
                    notes.push(format!("not checked here: {m}"));
                    p.path.value.clone()
                }
                Err(m) => {
                    errors.push(at(p.path.file, p.path.line, m));
                    continue;
                }
            };
            if let Some(t) = trees.iter().find(|t| t.root == root) {
                errors.push(at(
                    p.path.file,
                    p.path.line,
                    format!(
                        "{} is the same directory as the entry at {}:{}",
                        p.path.value.display(),
                        t.file.display(),
                        t.line
                    ),
                ));
                continue;
            }
            let mut tree_trust = match &p.trust {
                None => shared_trust.clone(),
                Some(names) => {
                    let wanted: std::collections::HashSet<String> =
                        names.iter().map(|n| n.value.clone()).collect();
                    let subset = trust.restricted_to(&wanted);
                    // (Off-host, the keys named may just not be here.)
                    if subset.is_empty() && !lo.offline {
                        warnings.push(format!(
                            "{}: protect.trust names no loaded key: every file there fails verification",
                            p.path.value.display()
                        ));
                    }
                    Arc::new(subset)
                }
            };
            if !p.allow_sha256.is_empty() {
                let mut own = (*tree_trust).clone();
                for d in &p.allow_sha256 {
                    own.allow_content(d.value);
                }
                tree_trust = Arc::new(own);
            }
            trees.push(Tree {
                root,
                mode: p.mode.unwrap_or(policy.mode),
                line: p.path.line,
                file: shown(p.path.file),
                options: Options {
                    formats: p.formats.clone().unwrap_or_else(|| options.formats.clone()),
                    threshold: p.threshold,
                    allow_self_signed: p.allow_self_signed,
                    ..options.clone()
                },
                trust: tree_trust,
                untrusted_writers: p.untrusted_writers,
                bundle_data: p.bundle_data.clone(),
            });
        }
        trees.sort_by_key(|t| std::cmp::Reverse(t.root.as_os_str().len()));

        if trust.is_empty()
            && !lo.offline
            && trees.iter().any(|t| {
                t.mode != Mode::Off
                    && !t.options.allow_self_signed
                    && t.trust.allowed_contents() == 0
            })
        {
            warnings.push(
                "no trusted keys are configured: every non-empty file in the protected trees fails verification"
                    .into(),
            );
        }
        if !policy.trust.allowed_signers.is_empty() && policy.trust.ssh_namespace.is_none() {
            warnings.push(
                "allowed_signers is set but trust.ssh_namespace is not: every OpenSSH signature will be refused"
                    .into(),
            );
        }
        if trees.is_empty() && policy.protect.is_empty() {
            warnings.push("no [[protect]] entries: nothing is protected".into());
        }
        if let (Some(m), false) = (&policy.agent.metrics_file, lo.offline) {
            metrics_file_warnings(m, &trees, &mut warnings);
        }
        let kernel_cache = errors
            .keep(kernel_cache_settings(
                &policy.agent,
                lo.offline,
                &at,
                &mut warnings,
                &mut notes,
            ))
            .unwrap_or_default();
        if !lo.offline {
            let mut trusted = kernel_cache.owners.clone();
            trusted.push(0);
            for t in &trees {
                if let Some(w) = untrusted_root_warning(t, &trusted) {
                    warnings.push(w);
                }
            }
        }
        let order: Vec<PathBuf> = files.iter().map(|f| f.shown.clone()).collect();
        errors.finish(&order)?;

        let inputs = match reader {
            Reader::Disk { read, .. } => read.borrow().clone(),
            Reader::Saved(inputs) => (*inputs).clone(),
        };
        Ok(Engine {
            generation,
            source: main.clone(),
            files: order,
            policy,
            trust: shared_trust,
            trees,
            options,
            warnings,
            kernel_cache,
            inputs,
            absent,
            notes,
        })
    }

    /// An engine for `sigward verify --trust-key`: just a trust store.
    pub fn from_key_files(files: &[PathBuf]) -> Result<Engine, LoadError> {
        let mut trust = TrustStore::new();
        let mut warnings = Vec::new();
        let reader = Reader::Disk {
            read: std::cell::RefCell::new(Inputs::default()),
            offline: false,
        };
        let mut notes = Vec::new();
        let mut loader = KeyLoader {
            reader: &reader,
            warnings: &mut warnings,
            notes: &mut notes,
        };
        for f in files {
            loader
                .key_file(&mut trust, f)
                .map_err(|message| LoadError {
                    file: f.clone(),
                    line: None,
                    message,
                })?;
        }
        Ok(Engine {
            generation: 0,
            source: PathBuf::new(),
            files: Vec::new(),
            policy: config::parse("", Path::new("/")).map_err(|e| LoadError {
                file: PathBuf::new(),
                line: None,
                message: e.to_string(),
            })?,
            trust: Arc::new(trust),
            trees: Vec::new(),
            options: Options::default(),
            warnings,
            kernel_cache: kcache::Settings::default(),
            inputs: Inputs::default(),
            absent: Vec::new(),
            notes,
        })
    }
}

/// One file of a policy: where it is read from, the name errors give it
/// (its name in `policy.d` when config management validates a temporary
/// copy: `check --drop-in FILE --as NAME`), and the directory its relative
/// paths resolve against.
struct PolicyFile {
    source: PathBuf,
    shown: PathBuf,
    dir: PathBuf,
}

/// The main file, then every `policy.d/*.toml` in lexical order, with the
/// extra drop-in of `lo` put in place and the drop-ins it names left out.
fn policy_files(
    reader: &Reader<'_>,
    main: &Path,
    base: &Path,
    lo: &LoadOptions,
    notes: &mut Vec<String>,
) -> Result<Vec<PolicyFile>, Vec<LoadError>> {
    let drop_dir = base.join(DROP_IN_DIR);
    let fail = |message: String| {
        vec![LoadError {
            file: drop_dir.clone(),
            line: None,
            message,
        }]
    };
    let mut drop_ins: Vec<PathBuf> = match reader.list(&drop_dir) {
        Ok(entries) => entries
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            // Hidden files are editors' and config management's
            // temporary files (Ansible writes .ansible_tmp*), never
            // drop-ins.
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
            })
            .collect(),
        Err(ReadFail::Strict(m)) => return Err(fail(m)),
        Err(ReadFail::Io(e) | ReadFail::Absent(e)) => {
            return Err(fail(format!("cannot read drop-in directory: {e}")))
        }
    };
    for name in &lo.without {
        let before = drop_ins.len();
        drop_ins.retain(|p| p.file_name() != Some(name.as_os_str()));
        if drop_ins.len() == before {
            notes.push(format!(
                "--without {}: {} holds no such drop-in",
                name.to_string_lossy(),
                drop_dir.display()
            ));
        } else {
            notes.push(format!(
                "validated without {}",
                drop_dir.join(name).display()
            ));
        }
    }
    let extra = lo.extra_drop_in.as_ref().and_then(|extra| {
        let name = lo
            .extra_drop_in_name
            .clone()
            .or_else(|| extra.file_name().map(|n| n.to_os_string()))?;
        Some((extra.clone(), drop_dir.join(name)))
    });
    if let Some((_, shown)) = &extra {
        let read = shown.extension().is_some_and(|x| x == "toml")
            && shown
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'));
        if !read {
            return Err(vec![LoadError {
                file: shown.clone(),
                line: None,
                message: "the agent reads only policy.d/*.toml files whose name does not start \
                          with '.': under this name the drop-in would be ignored"
                    .into(),
            }]);
        }
        drop_ins.retain(|p| p != shown);
        drop_ins.push(shown.clone());
    }
    drop_ins.sort();
    let mut files = vec![PolicyFile {
        source: main.to_path_buf(),
        shown: main.to_path_buf(),
        dir: base.to_path_buf(),
    }];
    for d in drop_ins {
        // The candidate is read from where it is, but placed (and its
        // relative paths resolved) as if it were in policy.d under its
        // final name; its errors name it there when that name was given
        // (`--as`: the file is a temporary copy), else where it is.
        let (source, shown) = match &extra {
            Some((source, placed)) if *placed == d => {
                let shown = match lo.extra_drop_in_name {
                    Some(_) => d.clone(),
                    None => source.clone(),
                };
                (source.clone(), shown)
            }
            _ => (d.clone(), d.clone()),
        };
        files.push(PolicyFile {
            source,
            shown,
            dir: drop_dir.clone(),
        });
    }
    Ok(files)
}

/// The errors of a load after merging, reported together in file order.
#[derive(Default)]
struct Errors(Vec<LoadError>);

impl Errors {
    fn push(&mut self, e: LoadError) {
        self.0.push(e);
    }

    /// The value, or `None` with its error kept.
    fn keep<T>(&mut self, r: Result<T, LoadError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    /// Every error, in the order of `files` and then of lines (errors that
    /// name no file of the policy come last).
    fn finish(mut self, files: &[PathBuf]) -> Result<(), Vec<LoadError>> {
        if self.0.is_empty() {
            return Ok(());
        }
        let rank = |e: &LoadError| {
            let i = files.iter().position(|f| *f == e.file);
            (i.unwrap_or(usize::MAX), e.line.unwrap_or(0))
        };
        self.0.sort_by_key(rank);
        Err(self.0)
    }
}
