//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::DEFAULT_POLICY;

const ABOUT: &str = "Enforce detached plugin signatures at open and exec time";

const LONG_ABOUT: &str = "\
sigward makes plugin signatures impossible to bypass. A privileged agent \
subscribes to fanotify permission events on the configured plugin \
directories, verifies every file that is opened or executed against its \
detached signature (FILE.sig) and a trust store, and denies unsigned, \
tampered or untrusted files, whichever program opens them.

The same verification runs in `sigward verify`, so the command line and the \
kernel path never disagree.";

const AFTER_HELP: &str = "\
Examples:
  Create a publisher key and sign plugins:
    sigward keygen --out release
    sigward sign --key release.key plugins/*.py

  Check a policy before installing it (config management):
    sigward check --policy /etc/sigward/policy.toml

  Verify files exactly as the agent would:
    sigward verify --policy /etc/sigward/policy.toml /srv/app/plugins/*.py

  Run the agent in the foreground (as root):
    sigward run --policy /etc/sigward/policy.toml

Files:
  /etc/sigward/policy.toml   default policy
  FILE.sig                   detached signature of FILE

See docs/signature-format.md and the policy reference in README.md.";

/// sigward command line.
#[derive(Debug, Parser)]
#[command(
    name = "sigward",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Policy selection shared by several commands.
#[derive(Debug, Args)]
pub struct PolicyArg {
    /// Policy file (TOML). Relative paths inside it resolve against its
    /// directory.
    #[arg(long, short = 'p', value_name = "POLICY", default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground (needs root).
    #[command(long_about = "\
Run the agent in the foreground. It marks every directory of every protected \
tree, answers each open and exec there with ALLOW or DENY, and marks \
directories created or moved into the trees later.

When every mark is in place it sends READY=1 to $NOTIFY_SOCKET (systemd's \
notify protocol; skipped when unset) and logs a `ready` record.

Signals:
  SIGHUP          reload the policy and key files; an invalid policy is \
refused with an error record and the previous one stays in force
  SIGTERM/SIGINT  answer every pending event, then exit 0

Records go to journald (SYSLOG_IDENTIFIER=sigward) when its socket answers, \
otherwise to stderr as one JSON object per line. Environment: \
SIGWARD_LOG_TARGET=stderr forces stderr; SIGWARD_LOG sets the level filter \
(default info).

Exit status: 0 after SIGTERM/SIGINT, 1 when the agent cannot start (the \
reason is printed as FILE:LINE: message for policy errors).")]
    Run(PolicyArg),

    /// Validate a policy and every key file and directory it names.
    #[command(long_about = "\
Validate a policy and every key file and directory it names, without running \
anything. Prints a summary on success; on failure prints FILE:LINE: message \
on stderr. Use it before installing a policy, e.g. Ansible's \
`validate: sigward check --policy %s`.

Exit status: 0 valid, 1 invalid, 2 usage error.")]
    Check(PolicyArg),

    /// Verify files exactly as the agent would.
    #[command(long_about = "\
Verify files with the agent's own code path and print one line per file:

  PATH: ok (key FINGERPRINT)
  PATH: REASON: detail

REASON is one of: unsigned (no FILE.sig), malformed (FILE.sig cannot be \
read as a signature), tampered (content, size or name differ from what was \
signed), untrusted (no signature by a trusted key), invalid (a trusted key's \
signature does not verify).

Exit status: 0 all verified, 1 any failed, 2 usage or configuration error.")]
    Verify(VerifyArgs),

    /// Sign files, writing FILE.sig next to each.
    #[command(long_about = "\
Sign each FILE with an Ed25519 private key, writing FILE.sig next to it.

Formats (--format):
  native     sigward's JSON format (default). Binds content, size and base \
name. When FILE.sig already holds signatures of the same content by other \
keys, the new one is added beside them (co-signing).
  notur      hex Ed25519 over the whole file, plus FILE.sha256 (sha256sum \
format), as `php artisan notur:export --sign` writes them.
  cloacina   Cloacina's JSON (package_hash, key_fingerprint, signature).
  conductor  Conductor's JSON (plugin_hash, plugin_size, public_key, \
signature, developer); needs --name and --email.

With --bundle DIR, signs an AiSOC plugin directory instead: DIR/plugin.sig \
over the manifest (plugin.yaml or aisoc-plugin.json) and every *.py file \
under DIR, as `aisoc plugin sign` does.

The key may be a PKCS#8 PEM private key (sigward keygen), a Notur secret \
key (128 hex characters), or a Conductor private key file (32 raw bytes). \
RSA and OpenSSH signatures are made with openssl and ssh-keygen.

Exit status: 0 all signed, 1 any failed, 2 usage error.")]
    Sign(SignArgs),

    /// Generate an Ed25519 signing key pair.
    #[command(long_about = "\
Generate an Ed25519 key pair: PREFIX.key (PKCS#8 PEM private key, mode 0600) \
and the public key for trust stores, in the form --format selects:

  pem        PREFIX.pub, SubjectPublicKeyInfo PEM (default; sigward, \
Cloacina, AiSOC, openssl)
  hex        PREFIX.pub, 64 hex characters (Notur's NOTUR_PUBLIC_KEY)
  conductor  PREFIX.public, 64 hex characters, as conductor-sign \
generate-key writes it

Refuses to overwrite existing files. Prints the key's fingerprint: the \
SHA-256 of the raw public key, in hex.

Exit status: 0 written, 1 failed, 2 usage error.")]
    Keygen(KeygenArgs),

    /// Show the keys a policy trusts.
    #[command(subcommand)]
    Trust(TrustCommand),
}

/// `sigward trust` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// List every key the policy loads: type, fingerprint, source file and,
    /// where the format has one, name, principal or comment.
    List(PolicyArg),
}

/// `sigward verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trust the keys of this policy.
    #[arg(long, short = 'p', value_name = "POLICY", conflicts_with = "trust_key")]
    pub policy: Option<PathBuf>,
    /// Trust the keys in this PEM public key file (repeatable).
    #[arg(long = "trust-key", value_name = "PUB")]
    pub trust_key: Vec<PathBuf>,
    /// Files to verify.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Signature formats `sigward sign` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SignFormat {
    /// sigward's native JSON format.
    Native,
    /// Notur: hex Ed25519 over the whole file, plus FILE.sha256.
    Notur,
    /// Cloacina package signature JSON.
    Cloacina,
    /// Conductor plugin signature JSON.
    Conductor,
}

/// `sigward sign` arguments.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Private key: PKCS#8 PEM (sigward keygen), Notur secret key (128 hex
    /// characters) or Conductor private key (32 raw bytes).
    #[arg(long, short = 'k', value_name = "KEY")]
    pub key: PathBuf,
    /// Signature format to write.
    #[arg(
        long,
        short = 'f',
        value_enum,
        default_value = "native",
        conflicts_with = "bundle"
    )]
    pub format: SignFormat,
    /// Sign an AiSOC plugin directory (writes DIR/plugin.sig).
    #[arg(long, value_name = "DIR", conflicts_with = "files")]
    pub bundle: Option<PathBuf>,
    /// Developer name (Conductor).
    #[arg(long, required_if_eq("format", "conductor"))]
    pub name: Option<String>,
    /// Developer email (Conductor).
    #[arg(long, required_if_eq("format", "conductor"))]
    pub email: Option<String>,
    /// Files to sign.
    #[arg(required_unless_present = "bundle", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Public key forms `sigward keygen` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyFormat {
    /// PREFIX.pub, SubjectPublicKeyInfo PEM.
    Pem,
    /// PREFIX.pub, 64 hex characters.
    Hex,
    /// PREFIX.public, 64 hex characters (Conductor).
    Conductor,
}

/// `sigward keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Output prefix: writes PREFIX.key and the public key file.
    #[arg(long, short = 'o', value_name = "PREFIX")]
    pub out: PathBuf,
    /// Form of the public key file.
    #[arg(long, short = 'f', value_enum, default_value = "pem")]
    pub format: KeyFormat,
}
