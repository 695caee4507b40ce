//! AiSOC plugins as AiSOC's own tools make and read them: keys and plugins
//! from the released CLI (`aisoc-cli` 0.1.0 from PyPI: `aisoc keygen`,
//! `aisoc plugin new`), canonical forms computed by Python the way AiSOC's
//! loader (`PluginManager`, `_canonical_plugin_digest`) computes them, and
//! a Python process loading the plugins under the enforcing agent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{path_str, run, sigward, Agent, Finished, PROC_TIMEOUT};
use crate::openers::{
    cat, exec_path, expect_allowed, expect_eperm, expect_exec_denied, python, python_import,
};

/// AiSOC's canonical digest (`_canonical_plugin_digest`): pathlib's
/// `rglob("*.py")`, `relative_to(...).as_posix()`, `json.dumps(...,
/// sort_keys=True, separators=(",", ":"))`. Shared by the scripts below.
const AISOC_PY: &str = r#####"
import hashlib, json, os, sys, yaml
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

def canonical(plugin_dir):
    plugin_dir = Path(plugin_dir)
    raw = yaml.safe_load((plugin_dir / "plugin.yaml").read_text())
    sanitized = {k: v for k, v in raw.items() if k not in {"signature", "trust"}}
    files = {}
    for path in sorted(plugin_dir.rglob("*.py")):
        if not path.is_file():
            continue
        files[path.relative_to(plugin_dir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return json.dumps({"manifest": sanitized, "files": files}, sort_keys=True, separators=(",", ":")).encode("utf-8")

def sign(plugin_dir, key):
    sig = key.sign(hashlib.sha256(canonical(plugin_dir)).digest()).hex()
    (Path(plugin_dir) / "plugin.sig").write_text(sig + "\n")

def verifies(plugin_dir, pub):
    sig = bytes.fromhex((Path(plugin_dir) / "plugin.sig").read_bytes().strip().decode("ascii"))
    try:
        pub.verify(sig, hashlib.sha256(canonical(plugin_dir)).digest())
        return True
    except Exception:
        return False

def pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

def write(path, data):
    path = os.fsencode(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
"#####;

/// Plugins with a `.py` whose name is not UTF-8, and plugins nested in
/// plugins.
const LAYOUTS: &str = r#####"
root = sys.argv[1]
keys, plugins = os.path.join(root, "keys"), os.path.join(root, "plugins")
trusted, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
write(os.path.join(keys, "trusted.pem"), pem(trusted))

# A .py file whose name is not UTF-8: pathlib holds it with a lone
# surrogate, json.dumps writes it as \udcff.
d = os.path.join(plugins, "bytes")
write(os.path.join(d, "plugin.yaml"), "id: bytes\nname: Bytes\nversion: 1.0.0\nplugin_type: enricher\n")
write(os.path.join(d, "plugin.py"), "VALUE = 'bytes'\n")
write(os.fsdecode(os.path.join(os.fsencode(d), b"lib", b"caf\xff.py")), "X = 1\n")
assert b"lib/caf\\udcff.py" in canonical(d), canonical(d)
sign(d, trusted)

# A vendored plugin inside a plugin, with a manifest and a plugin.sig of
# its own by a key nobody trusts: AiSOC verifies the outer plugin only.
d = os.path.join(plugins, "outer")
write(os.path.join(d, "plugin.yaml"), "id: outer\nname: Outer\nversion: 1.0.0\nplugin_type: enricher\n")
write(os.path.join(d, "plugin.py"), "VALUE = 'outer'\n")
write(os.path.join(d, "vendored", "plugin.yaml"), "id: vendored\nname: V\nversion: 1.0.0\nplugin_type: enricher\n")
write(os.path.join(d, "vendored", "helper.py"), "HELPER = 1\n")
sign(os.path.join(d, "vendored"), other)
sign(d, trusted)

# The other way round: a .py added to a signed plugin, with a manifest and
# plugin.sig of its own by the trusted key (copied from elsewhere). The
# outer plugin no longer verifies, so AiSOC refuses it, evil.py included.
d = os.path.join(plugins, "grafted")
write(os.path.join(d, "plugin.yaml"), "id: grafted\nname: G\nversion: 1.0.0\nplugin_type: enricher\n")
write(os.path.join(d, "plugin.py"), "VALUE = 'grafted'\n")
sign(d, trusted)
write(os.path.join(d, "sub", "plugin.yaml"), "id: sub\nname: S\nversion: 1.0.0\nplugin_type: enricher\n")
write(os.path.join(d, "sub", "evil.py"), "EVIL = 1\n")
sign(os.path.join(d, "sub"), trusted)
assert not verifies(d, trusted.public_key())
"#####;

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    policy: PathBuf,
}

fn tree(prefix: &str) -> Tree {
    crate::harness::require_root();
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    let root = tmp.path().to_path_buf();
    fs::create_dir_all(root.join("plugins")).unwrap();
    fs::create_dir_all(root.join("keys")).unwrap();
    let policy = root.join("policy.toml");
    Tree {
        _tmp: tmp,
        root,
        policy,
    }
}

fn python_script(script: &str, args: &[&Path]) -> Finished {
    let mut cmd = Command::new(python());
    cmd.arg("-B").arg("-c").arg(format!("{AISOC_PY}\n{script}"));
    cmd.args(args);
    run(&mut cmd, PROC_TIMEOUT)
}

fn write_policy(t: &Tree, keys: &[&str]) {
    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    fs::write(
        &t.policy,
        format!(
            "mode = \"enforce\"\n[trust]\nkeys = [{}]\n[[protect]]\npath = \"plugins\"\n",
            keys.join(", ")
        ),
    )
    .unwrap();
}

fn verify_offline(t: &Tree, files: &[PathBuf]) -> Finished {
    let mut args: Vec<std::ffi::OsString> = vec![
        "verify".into(),
        "--offline".into(),
        "--policy".into(),
        t.policy.clone().into(),
    ];
    args.extend(files.iter().map(|p| p.clone().into_os_string()));
    sigward(&args)
}

/// A `.py` whose name is not UTF-8 is listed as Python lists it, so the
/// bundle verifies (before: every file of the plugin was refused, "cannot
/// be listed"). Plugins nested in plugins are verified with the outermost
/// signature, as AiSOC does.
#[test]
fn aisoc_bundles_are_listed_and_rooted_as_aisoc_does() {
    let t = tree("sigward-aisoc-layouts-");
    let fin = python_script(LAYOUTS, &[&t.root]);
    assert!(fin.success(), "generator failed:\n{fin}");
    write_policy(&t, &["keys/trusted.pem"]);
    let p = t.root.join("plugins");
    let odd = {
        use std::os::unix::ffi::OsStrExt;
        p.join("bytes/lib")
            .join(std::ffi::OsStr::from_bytes(b"caf\xff.py"))
    };
    let fin = verify_offline(
        &t,
        &[
            p.join("bytes/plugin.py"),
            odd.clone(),
            p.join("outer/plugin.py"),
            p.join("outer/vendored/helper.py"),
        ],
    );
    assert_eq!(fin.code(), Some(0), "verify:\n{fin}");
    let fin = verify_offline(&t, &[p.join("grafted/sub/evil.py")]);
    assert_eq!(fin.code(), Some(1), "verify evil.py:\n{fin}");
    assert!(fin.stdout.contains(": invalid: "), "{fin}");

    let mut agent = Agent::start(&t.policy);
    expect_allowed(python_import(&p.join("bytes"), "plugin"), "import bytes");
    expect_allowed(cat(&odd), "cat the file whose name is not UTF-8");
    expect_allowed(python_import(&p.join("outer"), "plugin"), "import outer");
    expect_allowed(
        python_import(&p.join("outer/vendored"), "helper"),
        "import the vendored helper (outer signature)",
    );
    expect_eperm(
        python_import(&p.join("grafted/sub"), "evil"),
        "import a .py grafted with a plugin.sig of its own",
    );
    expect_eperm(
        python_import(&p.join("grafted"), "plugin"),
        "import the plugin whose bundle the graft broke",
    );
    agent.assert_alive("after the layouts");
}

/// Runs the released CLI (`aisoc ARGS...`) through its entry point.
fn aisoc(args: &[&str]) -> Finished {
    let mut cmd = Command::new(python());
    cmd.arg("-c")
        .arg("import sys; from aisoc_cli.main import cli; sys.argv[0] = 'aisoc'; cli()")
        .args(args)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200");
    let fin = run(&mut cmd, PROC_TIMEOUT);
    assert!(
        fin.success(),
        "aisoc {args:?} failed (tests/run.sh installs aisoc-cli==0.1.0 from PyPI):\n{fin}"
    );
    fin
}

/// Loads the scaffolded plugins as AiSOC's `PluginManager` does (manifest,
/// `plugin.sig`, then `plugin.py` through `spec_from_file_location`), and
/// reads a detection plugin's rules and README.
const LOAD_LIKE_AISOC: &str = r#####"
import errno, glob, importlib.util, sys
from pathlib import Path
out = []
def attempt(what, fn):
    try:
        fn()
        out.append("OK %s" % what)
    except OSError as e:
        out.append("ERRNO %d %s" % (e.errno, what))
enricher, detection = Path(sys.argv[1]), Path(sys.argv[2])
for d in (enricher, detection):
    attempt(d.name + "/plugin.yaml", lambda: yaml.safe_load((d / "plugin.yaml").read_text()))
    attempt(d.name + "/plugin.sig", lambda: (d / "plugin.sig").read_bytes())
    attempt(d.name + "/README.md", lambda: (d / "README.md").read_text())
def load():
    spec = importlib.util.spec_from_file_location("aisoc_plugin_x", enricher / "plugin.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    m.Plugin({})
attempt("enricher/plugin.py", load)
rules = sorted(glob.glob(str(detection / "rules" / "*.yaml")))
assert rules, "no rules scaffolded"
for r in rules:
    attempt("rules/" + Path(r).name, lambda: yaml.safe_load(Path(r).read_text()))
print("\n".join(out))
"#####;

fn lines_ok(fin: &Finished) -> Vec<String> {
    assert!(fin.success(), "loader failed:\n{fin}");
    fin.stdout.lines().map(str::to_string).collect()
}

/// Keys and plugins from the released `aisoc` CLI, signed with `sigward
/// sign --bundle` (checked with AiSOC's own verification), loaded under
/// the enforcing agent: sources, manifests, README and detection rules are
/// readable; a planted `.py`, `.pyc` and ELF are refused, and so is an
/// exec of a data file. Python keeps working when its bytecode cache is
/// refused.
#[test]
fn aisoc_cli_plugins_work_under_enforcement() {
    let t = tree("sigward-aisoc-cli-");
    let keys = t.root.join("keys");
    let plugins = t.root.join("plugins");
    aisoc(&["keygen", "--output-dir", &path_str(&keys)]);
    for (name, kind) in [("Geo Enricher", "enricher"), ("Bad Logins", "detection")] {
        aisoc(&[
            "plugin",
            "new",
            name,
            "--output-dir",
            &path_str(&plugins),
            "--type",
            kind,
        ]);
    }
    let enricher = plugins.join("geo-enricher");
    let detection = plugins.join("bad-logins");
    assert!(detection.join("rules/example.yaml").is_file());
    assert!(detection.join("README.md").is_file());
    for d in [&enricher, &detection] {
        let fin = sigward([
            "sign".as_ref(),
            "--bundle".as_ref(),
            d.as_os_str(),
            "--key".as_ref(),
            keys.join("signing.key").as_os_str(),
        ]);
        assert!(fin.success(), "sign --bundle {}:\n{fin}", d.display());
    }
    // AiSOC's loader accepts what sigward signed.
    let fin = python_script(
        "pub = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())\n\
         for d in sys.argv[2:]:\n    assert verifies(d, pub), d\nprint('OK')",
        &[&keys.join("signing.pub"), &enricher, &detection],
    );
    assert!(
        fin.success(),
        "AiSOC's check of sigward's plugin.sig:\n{fin}"
    );
    write_policy(&t, &["keys/signing.pub"]);

    let mut agent = Agent::start(&t.policy);
    let load = || {
        let mut cmd = Command::new(python());
        cmd.arg("-B")
            .arg("-c")
            .arg(format!("import yaml\n{LOAD_LIKE_AISOC}"))
            .arg(&enricher)
            .arg(&detection);
        run(&mut cmd, PROC_TIMEOUT)
    };
    for line in lines_ok(&load()) {
        assert!(line.starts_with("OK "), "refused under enforcement: {line}");
    }

    // Python's bytecode cache: written on the first import, refused on the
    // next (not signed): Python recompiles from the verified source.
    let import = |d: &Path| {
        let mut cmd = Command::new(python());
        cmd.arg("-c")
            .arg(
                "import sys; sys.path.insert(0, sys.argv[1]); import plugin; \
                 print('EVIL' if hasattr(plugin, 'EVIL') else 'SOURCE')",
            )
            .arg(d);
        run(&mut cmd, PROC_TIMEOUT)
    };
    for _ in 0..2 {
        let fin = import(&enricher);
        assert!(fin.success() && fin.stdout.contains("SOURCE"), "{fin}");
    }
    let cache = enricher.join("__pycache__");
    let tag = run(
        Command::new(python()).args(["-c", "import sys; print(sys.implementation.cache_tag)"]),
        PROC_TIMEOUT,
    );
    let pyc = cache.join(format!("plugin.{}.pyc", tag.stdout.trim()));
    if pyc.exists() {
        expect_eperm(cat(&pyc), "the bytecode Python wrote");
    }

    // Planted: bytecode of other code (checked-hash-free, so Python would
    // use it as it is), a .py, an ELF named like a rule, a script.
    let stash = t.root.join("stash");
    fs::create_dir_all(&stash).unwrap();
    fs::write(stash.join("plugin.py"), "EVIL = 1\nclass Plugin: pass\n").unwrap();
    let fin = run(
        Command::new(python()).args([
            "-c",
            "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], \
             invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)",
            &path_str(&stash.join("plugin.py")),
            &path_str(&pyc),
        ]),
        PROC_TIMEOUT,
    );
    assert!(fin.success(), "{fin}");
    expect_eperm(cat(&pyc), "a planted .pyc");
    let fin = import(&enricher);
    assert!(
        fin.success() && fin.stdout.contains("SOURCE"),
        "the planted bytecode ran:\n{fin}"
    );
    let elf = detection.join("rules/tool.yaml");
    fs::copy("/bin/true", &elf).unwrap();
    expect_eperm(cat(&elf), "an ELF named like a rule");
    let script = detection.join("rules/run.yaml");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    expect_eperm(cat(&script), "a script named like a rule");
    let readme = detection.join("README.md");
    crate::harness::chmod(&readme, 0o755);
    expect_exec_denied(exec_path(&readme), "a data file");
    expect_allowed(cat(&readme), "the README, read");
    let planted = detection.join("rules/planted.py");
    fs::write(&planted, "EVIL = 1\n").unwrap();
    expect_eperm(cat(&planted), "a planted .py");
    agent.assert_alive("after the AiSOC CLI plugins");
}
