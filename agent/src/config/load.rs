//! [`Engine::load`] and its kin: reading a policy, its drop-ins and
//! everything they name into an [`Engine`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::kcache;
use sigward_policy::config::{self, KeySource, Mode};
use sigward_policy::trust::{KeyMaterial, KeyOrigin, TrustedKey};
use sigward_policy::{Options, TrustStore};

use super::keys::{load_allowed_signers, load_key_dir, load_key_file, load_revoked_dir};
use super::reader::{resolve_dir, ReadFail, Reader};
use super::warnings::{kernel_cache_settings, metrics_file_warnings, untrusted_root_warning};
use super::{Engine, Inputs, LoadError, LoadOptions, Tree, DROP_IN_DIR};

impl Engine {
    /// Loads and validates a policy file, its drop-ins and everything they
    /// name.
    pub fn load(path: &Path, generation: u64) -> Result<Engine, LoadError> {
        Self::load_with(path, generation, &LoadOptions::default())
    }

    /// [`Engine::load`] with explicit locations.
    pub fn load_with(path: &Path, generation: u64, lo: &LoadOptions) -> Result<Engine, LoadError> {
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
        let reader = Reader::Disk(std::cell::RefCell::new(Inputs {
            policy: main.clone(),
            base: base.clone(),
            ..Inputs::default()
        }));
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
    }

    fn load_from(
        reader: &Reader<'_>,
        main: PathBuf,
        base: PathBuf,
        generation: u64,
        lo: &LoadOptions,
    ) -> Result<Engine, LoadError> {
        let whole = |file: &Path, message: String| LoadError {
            file: file.to_path_buf(),
            line: None,
            message,
        };
        // The main file, then every policy.d/*.toml in lexical order.
        let mut files: Vec<(PathBuf, PathBuf)> = vec![(main.clone(), base.clone())];
        let drop_dir = base.join(DROP_IN_DIR);
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
            Err(ReadFail::Strict(m)) => return Err(whole(&drop_dir, m)),
            Err(ReadFail::Io(e)) => {
                return Err(whole(
                    &drop_dir,
                    format!("cannot read drop-in directory: {e}"),
                ))
            }
        };
        let extra_name = lo.extra_drop_in.as_ref().and_then(|extra| {
            lo.extra_drop_in_name
                .clone()
                .or_else(|| extra.file_name().map(|n| n.to_os_string()))
        });
        if let Some(name) = &extra_name {
            drop_ins.retain(|p| p.file_name() != Some(name.as_os_str()));
            drop_ins.push(drop_dir.join(name));
        }
        drop_ins.sort();
        for d in drop_ins {
            // The candidate is read from where it is, but placed (and its
            // relative paths resolved) as if it were in policy.d under its
            // final name.
            let source = match (&lo.extra_drop_in, &extra_name) {
                (Some(extra), Some(name)) if d.file_name() == Some(name.as_os_str()) => {
                    extra.clone()
                }
                _ => d,
            };
            files.push((source, drop_dir.clone()));
        }

        let mut fragments = Vec::new();
        for (i, (file, dir)) in files.iter().enumerate() {
            let bytes = reader.read(file).map_err(|e| match e {
                ReadFail::Strict(m) => whole(file, m),
                ReadFail::Io(e) => whole(file, format!("cannot read policy: {e}")),
            })?;
            let text =
                String::from_utf8(bytes).map_err(|_| whole(file, "policy is not UTF-8".into()))?;
            fragments.push(
                config::parse_fragment(&text, dir, i).map_err(|e| LoadError {
                    file: file.clone(),
                    line: e.line,
                    message: e.message,
                })?,
            );
        }
        let file_of = |i: usize| {
            files
                .get(i)
                .map_or_else(|| main.clone(), |(f, _)| f.clone())
        };
        let policy = config::merge(&fragments).map_err(|e| LoadError {
            file: file_of(e.file),
            line: e.line,
            message: match e.previous {
                Some((f, l)) => format!("{} (first at {}:{l})", e.message, file_of(f).display()),
                None => e.message,
            },
        })?;
        let at = |file: usize, line: usize, message: String| LoadError {
            file: file_of(file),
            line: Some(line),
            message,
        };

        let mut warnings: Vec<String> = crate::strict::disabled_warning().into_iter().collect();
        let mut trust = TrustStore::new();
        for key in &policy.trust.keys {
            load_key_file(reader, &mut trust, &key.value, &mut warnings)
                .map_err(|m| at(key.file, key.line, m))?;
        }
        if let Some(dir) = &policy.trust.keys_dir {
            load_key_dir(reader, &mut trust, dir, &mut warnings)
                .map_err(|m| at(dir.file, dir.line, m))?;
        }
        for k in &policy.trust.ed25519 {
            if let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&k.value) {
                trust.insert(TrustedKey::new(
                    KeyMaterial::Ed25519(vk),
                    &format!("{}:{}", file_of(k.file).display(), k.line),
                    1,
                    KeyOrigin::Hex,
                ));
            }
        }
        for signers in &policy.trust.allowed_signers {
            load_allowed_signers(reader, &mut trust, &signers.value, &mut warnings)
                .map_err(|m| at(signers.file, signers.line, m))?;
        }
        for named in &policy.trust.named {
            let window = (named.not_before, named.not_after);
            let keys = match &named.source {
                KeySource::File(f) => {
                    let mut scratch = TrustStore::new();
                    load_key_file(reader, &mut scratch, &f.value, &mut warnings)
                        .map_err(|m| at(f.file, f.line, m))?;
                    scratch.iter().cloned().collect::<Vec<_>>()
                }
                KeySource::Ed25519(h) => ed25519_dalek::VerifyingKey::from_bytes(&h.value)
                    .map(|vk| {
                        vec![TrustedKey::new(
                            KeyMaterial::Ed25519(vk),
                            &format!("{}:{}", file_of(h.file).display(), h.line),
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
            load_revoked_dir(reader, &mut trust, dir, &mut warnings)
                .map_err(|m| at(dir.file, dir.line, m))?;
        }
        for d in &policy.trust.deny_sha256 {
            trust.deny_content(d.value);
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

        let mut trees = Vec::new();
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
                        file_of(p.path.file).display(),
                        p.path.line
                    ));
                    absent.push(p.path.value.clone());
                    continue;
                }
                Err(m) => return Err(at(p.path.file, p.path.line, m)),
            };
            if let Some(t) = trees.iter().find(|t: &&Tree| t.root == root) {
                return Err(at(
                    p.path.file,
                    p.path.line,
                    format!(
                        "{} is the same directory as the entry at {}:{}",
                        p.path.value.display(),
                        t.file.display(),
                        t.line
                    ),
                ));
            }
            let tree_trust = match &p.trust {
                None => shared_trust.clone(),
                Some(names) => {
                    let wanted: std::collections::HashSet<String> =
                        names.iter().map(|n| n.value.clone()).collect();
                    let subset = trust.restricted_to(&wanted);
                    if subset.is_empty() {
                        warnings.push(format!(
                            "{}: protect.trust names no loaded key: every file there fails verification",
                            p.path.value.display()
                        ));
                    }
                    Arc::new(subset)
                }
            };
            trees.push(Tree {
                root,
                mode: p.mode.unwrap_or(policy.mode),
                line: p.path.line,
                file: file_of(p.path.file),
                options: Options {
                    formats: p.formats.clone().unwrap_or_else(|| options.formats.clone()),
                    threshold: p.threshold,
                    allow_self_signed: p.allow_self_signed,
                    ..options.clone()
                },
                trust: tree_trust,
                untrusted_writers: p.untrusted_writers,
            });
        }
        trees.sort_by_key(|t| std::cmp::Reverse(t.root.as_os_str().len()));

        if trust.is_empty()
            && trees
                .iter()
                .any(|t| t.mode != Mode::Off && !t.options.allow_self_signed)
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
        if trees.is_empty() {
            warnings.push("no [[protect]] entries: nothing is protected".into());
        }
        if let Some(m) = &policy.agent.metrics_file {
            metrics_file_warnings(m, &trees, &mut warnings);
        }
        let kernel_cache = kernel_cache_settings(&policy.agent, &at, &mut warnings)?;
        let mut trusted = kernel_cache.owners.clone();
        trusted.push(0);
        for t in &trees {
            if let Some(w) = untrusted_root_warning(t, &trusted) {
                warnings.push(w);
            }
        }

        let inputs = match reader {
            Reader::Disk(rec) => rec.borrow().clone(),
            Reader::Saved(inputs) => (*inputs).clone(),
        };
        Ok(Engine {
            generation,
            source: main.clone(),
            files: files.into_iter().map(|(f, _)| f).collect(),
            policy,
            trust: shared_trust,
            trees,
            options,
            warnings,
            kernel_cache,
            inputs,
            absent,
        })
    }

    /// An engine for `sigward verify --trust-key`: just a trust store.
    pub fn from_key_files(files: &[PathBuf]) -> Result<Engine, LoadError> {
        let mut trust = TrustStore::new();
        let mut warnings = Vec::new();
        let reader = Reader::Disk(std::cell::RefCell::new(Inputs::default()));
        for f in files {
            load_key_file(&reader, &mut trust, f, &mut warnings).map_err(|message| LoadError {
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
        })
    }
}
