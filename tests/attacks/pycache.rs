//! Bytecode planted for a signed module: Python must not execute unsigned
//! bytecode. The `.pyc` is refused, and Python falls back to the signed
//! source (importlib ignores an `OSError` reading the cached bytecode).

use crate::common::{attack, both_modes, Mode, Scene};
use crate::harness::{chmod, path_str, run, write_file, PROC_TIMEOUT};
use crate::openers::{cat, python_cmd};

both_modes!(planted_pyc_for_a_signed_module);

/// Imports `module` from `dir` and prints `VALUE <module.VALUE>`.
fn import_value(dir: &std::path::Path, module: &str) -> String {
    let fin = run(
        &mut python_cmd(
            "import sys, importlib\n\
             sys.path.insert(0, sys.argv[1])\n\
             m = importlib.import_module(sys.argv[2])\n\
             print('VALUE', m.VALUE)\n",
            &[&path_str(dir), module],
        ),
        PROC_TIMEOUT,
    );
    fin.stdout
        .lines()
        .find_map(|l| l.strip_prefix("VALUE "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("the import of {module} failed:\n{fin}"))
}

fn planted_pyc_for_a_signed_module(mode: Mode) {
    let s = Scene::new(mode);
    s.signed("mod.py", b"VALUE = 'signed'\n");
    // The forged bytecode, compiled by the victim's own interpreter (so its
    // cache tag matches) as an unchecked hash-based pyc: Python uses it
    // without looking at the source at all.
    let forged = s.stash.join("forged").join("mod.py");
    write_file(&forged, b"VALUE = 'forged'\n");
    let compiled = s.stash.join("mod.pyc");
    let fin = run(
        &mut python_cmd(
            "import py_compile, sys\n\
             py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True,\n\
             \x20   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n\
             print('TAG', sys.implementation.cache_tag)\n",
            &[&path_str(&forged), &path_str(&compiled)],
        ),
        PROC_TIMEOUT,
    );
    let tag = fin
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("TAG "))
        .unwrap_or_else(|| panic!("compiling the forged bytecode failed:\n{fin}"))
        .to_string();
    chmod(&compiled, 0o644);

    let agent = s.start();
    assert_eq!(
        import_value(&s.dir, "mod"),
        "signed",
        "the signed module before the attack"
    );

    // The attacker creates __pycache__ (a new directory, marked by the agent
    // asynchronously) and plants the bytecode in it.
    let cache = s.att("__pycache__");
    let pyc = cache.join(format!("mod.{tag}.pyc"));
    attack(
        r#"mkdir "$1" && cp "$2" "$3""#,
        &[cache.as_os_str(), compiled.as_os_str(), pyc.as_os_str()],
    );
    agent.wait_marked(&[&cache]);

    let value = import_value(&s.dir, "mod");
    match mode {
        Mode::Enforce => assert_eq!(
            value,
            "signed",
            "Python executed the planted bytecode {} instead of the signed source",
            pyc.display()
        ),
        // Audit mode lets the bytecode be read: this shows that Python
        // would have used it.
        Mode::Audit => assert_eq!(value, "forged", "the planted bytecode was not used"),
    }
    s.expect_record(&agent, &[&pyc], "unsigned", "the planted bytecode");
    s.expect_refused(
        &agent,
        cat(&pyc),
        &[&pyc],
        "unsigned",
        "cat of the planted bytecode",
    );
}
