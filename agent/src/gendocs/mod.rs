//! `sigward generate-docs --out DIR` (hidden): man pages and shell
//! completions generated from the command line definition, and
//! `sigward.policy(5)` from the policy reference, `docs/policy.md`
//! ([`policy_page`]), for the packages (packaging/build-deb.sh,
//! packaging/build-rpm.sh). Nothing it writes is committed.
//!
//! Layout under DIR:
//!
//! ```text
//! man/sigward.1 man/sigward-run.1 ... man/sigward-trust-list.1
//! man/sigward.policy.5
//! completions/sigward.bash completions/_sigward completions/sigward.fish
//! ```

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub mod policy_page;

/// The command pages whose SEE ALSO section names `sigward.policy(5)`
/// (clap_mangen writes none: it is appended to the page it rendered).
const SEE_POLICY: [&str; 4] = [
    "sigward.1",
    "sigward-run.1",
    "sigward-check.1",
    "sigward-reload.1",
];

/// Writes the man pages and completions under `out`; returns their paths.
pub fn generate(out: &Path) -> io::Result<Vec<String>> {
    let man = out.join("man");
    let completions = out.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;
    // One page per command and subcommand (sigward.1, sigward-run.1,
    // sigward-trust-add.1, ...); hidden commands get none.
    clap_mangen::generate_to(Cli::command(), &man)?;
    for page in SEE_POLICY {
        let mut f = fs::OpenOptions::new().append(true).open(man.join(page))?;
        f.write_all(b".SH \"SEE ALSO\"\n\\fBsigward.policy\\fR(5): the policy file format\n")?;
    }
    fs::write(man.join(policy_page::FILE_NAME), policy_page::render())?;
    let mut written = Vec::new();
    let mut cmd = public_command();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(shell, &mut cmd, "sigward", &completions)?;
        written.push(path.display().to_string());
    }
    let mut pages: Vec<String> = fs::read_dir(&man)?
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .collect();
    pages.sort();
    pages.extend(written);
    Ok(pages)
}

/// The command line without its hidden subcommands: completion generators
/// would offer them otherwise.
fn public_command() -> clap::Command {
    let full = Cli::command();
    clap::Command::new("sigward")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(full.is_propagate_version_set())
        .subcommand_required(full.is_subcommand_required_set())
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    #[test]
    fn writes_pages_and_completions_without_hidden_commands() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::generate(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .filter_map(|f| std::path::Path::new(f).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        for want in [
            "sigward.1",
            "sigward-run.1",
            "sigward-reload.1",
            "sigward-trust-add.1",
            "sigward.policy.5",
            "sigward.bash",
            "_sigward",
            "sigward.fish",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("generate-docs")));
        let top = std::fs::read_to_string(dir.path().join("man/sigward.1")).unwrap();
        assert!(
            top.contains(".SH \"SEE ALSO\"\n\\fBsigward.policy\\fR(5)"),
            "{top}"
        );
        let policy = std::fs::read_to_string(dir.path().join("man/sigward.policy.5")).unwrap();
        assert!(policy.contains(".TH sigward.policy 5"));
        let bash = std::fs::read_to_string(dir.path().join("completions/sigward.bash")).unwrap();
        assert!(bash.contains("reload"));
        assert!(!bash.contains("generate-docs"));
    }
}
