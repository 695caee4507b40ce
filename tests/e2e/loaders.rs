//! Signed code loads through every loader; unsigned and tampered code does not.

use std::fs::OpenOptions;
use std::io::Write;

use crate::harness::{chmod, sig_path, Fixture};
use crate::openers::{
    cat, ctypes_cdll, exec_path, expect_allowed, expect_eperm, expect_exec_denied, gcc,
    python_import, python_open,
};

#[test]
fn python_imports_only_signed_modules() {
    let fx = Fixture::new();
    let good = fx.write_signed("goodmod.py", b"VALUE = 42\n");
    let bad = fx.write_unsigned("badmod.py", b"VALUE = 'unsigned'\n");
    let tampered = fx.write_signed("tampermod.py", b"VALUE = 'original'\n");
    {
        let mut f = OpenOptions::new().append(true).open(&tampered).unwrap();
        f.write_all(b"VALUE = 'evil'\n").unwrap();
    }
    // A signed module in a package directory, imported by dotted name.
    fx.write_signed("pkg/__init__.py", b"# package\n");
    fx.write_signed("pkg/inner.py", b"X = 1\n");
    fx.write_unsigned("pkg/rogue.py", b"X = 2\n");

    let _agent = fx.start_agent();

    expect_allowed(
        python_import(&fx.plugins, "goodmod"),
        "import of signed goodmod",
    );
    expect_allowed(
        python_import(&fx.plugins, "pkg.inner"),
        "import of signed pkg.inner",
    );
    expect_eperm(
        python_import(&fx.plugins, "badmod"),
        "import of unsigned badmod",
    );
    expect_eperm(
        python_import(&fx.plugins, "tampermod"),
        "import of tampered tampermod",
    );
    expect_eperm(
        python_import(&fx.plugins, "pkg.rogue"),
        "import of unsigned pkg.rogue",
    );

    expect_allowed(cat(&good), "cat of signed file");
    expect_eperm(cat(&bad), "cat of unsigned file");
    expect_eperm(cat(&tampered), "cat of tampered file");

    expect_allowed(python_open(&good), "open() of signed file");
    expect_eperm(python_open(&bad), "open() of unsigned file");
    expect_eperm(python_open(&tampered), "open() of tampered file");

    // Verdicts are stable on repeated opens (cached or not).
    expect_allowed(
        python_import(&fx.plugins, "goodmod"),
        "second import of goodmod",
    );
    expect_eperm(
        python_import(&fx.plugins, "badmod"),
        "second import of badmod",
    );
}

const ANSWER_C: &str = "int sigward_answer(void) { return 42; }\n";

#[test]
fn ctypes_loads_only_signed_shared_objects() {
    let fx = Fixture::new();
    let built = fx.root.join("build").join("libanswer.so");
    gcc(ANSWER_C, &built, true);
    let bytes = std::fs::read(&built).unwrap();
    let good = fx.write_signed("libgood.so", &bytes);
    let bad = fx.write_unsigned("libbad.so", &bytes);
    let tampered = fx.write_signed("libtampered.so", &bytes);
    {
        let mut f = OpenOptions::new().append(true).open(&tampered).unwrap();
        f.write_all(b"\0trailing junk").unwrap();
    }

    let _agent = fx.start_agent();

    expect_allowed(ctypes_cdll(&good), "ctypes.CDLL of signed .so");
    expect_eperm(ctypes_cdll(&bad), "ctypes.CDLL of unsigned .so");
    expect_eperm(ctypes_cdll(&tampered), "ctypes.CDLL of tampered .so");
}

#[test]
fn exec_runs_only_signed_programs() {
    let fx = Fixture::new();
    let built = fx.root.join("build").join("prog");
    gcc("int main(void) { return 0; }\n", &built, false);
    let elf = std::fs::read(&built).unwrap();
    let script = b"#!/bin/sh\nexit 0\n";

    let good_elf = fx.write_signed_mode("bin/good-elf", &elf, 0o755);
    let bad_elf = fx.write_unsigned_mode("bin/bad-elf", &elf, 0o755);
    let good_sh = fx.write_signed_mode("bin/good.sh", script, 0o755);
    let bad_sh = fx.write_unsigned_mode("bin/bad.sh", script, 0o755);
    // A signed script whose signature file got lost.
    let orphan_sh = fx.write_signed_mode("bin/orphan.sh", script, 0o755);
    std::fs::remove_file(sig_path(&orphan_sh)).unwrap();
    chmod(&orphan_sh, 0o755);

    let _agent = fx.start_agent();

    expect_allowed(exec_path(&good_elf), "signed ELF");
    expect_allowed(exec_path(&good_sh), "signed #!/bin/sh script");
    expect_exec_denied(exec_path(&bad_elf), "unsigned ELF");
    expect_exec_denied(exec_path(&bad_sh), "unsigned #!/bin/sh script");
    expect_exec_denied(exec_path(&orphan_sh), "script whose .sig was removed");
    // And again, after verdicts may have been cached.
    expect_allowed(exec_path(&good_elf), "signed ELF (second run)");
    expect_exec_denied(exec_path(&bad_elf), "unsigned ELF (second run)");
}
