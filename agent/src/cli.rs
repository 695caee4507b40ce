//! The command line: clap's definitions of every command and argument,
//! with the `--help` texts that the man pages are generated from
//! (`sigward generate-docs`). Over 600 lines because most of it is those
//! texts, each beside the argument it describes; the commands themselves
//! are in [`crate::cmd`].

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

use crate::config::DEFAULT_POLICY;

/// Default control socket of `sigward run` and `sigward reload`.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/sigward/control.sock";
/// Default pid file of `sigward run` and `sigward reload`.
pub const DEFAULT_PID_FILE: &str = "/run/sigward/sigward.pid";

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

  Trust a new publisher key, then apply the change:
    sigward trust add --name vendor-a vendor-a.pub
    sigward reload

  See what the running agent does, and which files it would deny:
    sigward status
    sigward scan

Files:
  /etc/sigward/policy.toml     default policy
  /run/sigward/control.sock    control socket of the running agent
  /run/sigward/sigward.pid     pid file of the running agent
  FILE.sig                     detached signature of FILE

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

/// A path, or `none` to switch the feature off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionalPath(pub Option<PathBuf>);

impl FromStr for OptionalPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" => Err("an empty path is not allowed (use `none` to disable)".into()),
            "none" => Ok(OptionalPath(None)),
            p => Ok(OptionalPath(Some(PathBuf::from(p)))),
        }
    }
}

/// `sigward run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy selection.
    #[command(flatten)]
    pub policy: PolicyArg,
    /// Unix socket on which the agent serves `sigward reload` (root only),
    /// or `none` to serve no socket. A missing parent directory is created
    /// with mode 0700; the socket is created with mode 0600.
    #[arg(long, value_name = "PATH|none", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: OptionalPath,
    /// File the agent writes its process id to, or `none` for no pid file.
    /// `sigward reload` signals this pid when the control socket is off.
    #[arg(long, value_name = "PATH|none", default_value = DEFAULT_PID_FILE)]
    pub pid_file: OptionalPath,
    /// Directory for the agent's state, or `none`: every policy the agent
    /// loads is saved there (root-only), and when the policy on disk cannot
    /// be loaded at start-up, the agent enforces that last good policy
    /// instead of not starting (and reports itself degraded). systemd's
    /// `StateDirectory=` sets `STATE_DIRECTORY`.
    #[arg(
        long,
        value_name = "DIR|none",
        env = "STATE_DIRECTORY",
        default_value = DEFAULT_STATE_DIR
    )]
    pub state_dir: OptionalPath,
}

/// Default `--state-dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sigward";

/// `sigward reload` arguments.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The agent's control socket, or `none` to go straight to the pid file.
    #[arg(long, value_name = "PATH|none", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: OptionalPath,
    /// The agent's pid file: SIGHUP goes to this pid when the control socket
    /// does not exist.
    #[arg(long, value_name = "PATH|none", default_value = DEFAULT_PID_FILE)]
    pub pid_file: OptionalPath,
    /// Give up waiting for the agent's answer after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// `sigward status` arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The agent's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: PathBuf,
    /// Print the status as one JSON object, for machines.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Print the status in the Prometheus text exposition format.
    #[arg(long)]
    pub prometheus: bool,
}

/// `sigward scan` arguments.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Policy whose protected trees, trust and options apply (default
    /// /etc/sigward/policy.toml). When the running agent answers, its own
    /// policy applies; a --policy that is not the agent's is evaluated
    /// offline.
    #[arg(long, short = 'p', value_name = "POLICY")]
    pub policy: Option<PathBuf>,
    /// Print one JSON array of objects (fields below) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Evaluate here, with the policy file, even when an agent runs (under
    /// an enforcing agent, files it denies then show as denied).
    #[arg(long)]
    pub offline: bool,
    /// The running agent's control socket.
    #[arg(long, visible_alias = "socket", value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: PathBuf,
    /// Files and directories to scan (default: every protected tree).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
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
  SIGUSR1         write the status (as `sigward status` shows it) to the log
  SIGUSR2, SIGALRM, SIGPIPE  ignored; no burst of these signals stops the \
agent

Control socket (--control-socket, default /run/sigward/control.sock): once \
the agent is ready it serves one request per connection, one line each way, \
to root only (checked with SO_PEERCRED): `reload` reloads exactly as SIGHUP \
does and answers {\"ok\":true,\"generation\":N} or \
{\"ok\":false,\"error\":\"FILE:LINE: message\",\"generation\":N} (N: the \
generation still in force); `ping` answers \
{\"ok\":true,\"generation\":N,\"pid\":PID}; `status` answers the agent's \
counters and state as one JSON object; `evaluate {\"view\":\"verify\", \
\"paths\":[...]}` (at most 64 absolute paths) answers the agent's verdict \
on each file, read by the agent itself. `sigward reload`, `sigward \
status`, and `sigward verify` and `sigward scan` as root, are the \
clients. \
The agent refuses to start when another agent already answers on the \
socket; a stale socket file is replaced. The pid file (--pid-file, default \
/run/sigward/sigward.pid) holds the agent's pid. Both are removed on a clean \
exit.

Records go to journald (SYSLOG_IDENTIFIER=sigward) when its socket answers, \
otherwise to stderr as one JSON object per line. Environment: \
SIGWARD_LOG_TARGET=stderr forces stderr; SIGWARD_LOG sets the level filter \
(default info).

Exit status: 0 after SIGTERM/SIGINT, 1 when the agent cannot start (the \
reason is printed as FILE:LINE: message for policy errors).")]
    Run(RunArgs),

    /// Make the running agent reload its policy, and report the result.
    #[command(long_about = "\
Make the running agent reload its policy and key files, and print the \
result. Needs root.

The request goes over the agent's control socket (--control-socket), and \
the agent answers once the new policy is in force or has been refused:

  reloaded: generation N          (on stdout)
  sigward reload: refused: FILE:LINE: message
  generation N stays in force     (on stderr)

When the control socket does not exist (the agent runs with \
--control-socket none) but the pid file does, SIGHUP is sent to the pid it \
names, after checking that the process is sigward; the result is then only \
in the journal (MESSAGE_ID 3b4b92d03b894cf8852c64445ee57123 reloaded, \
31c2ee4ec9b647f58cfdc7f7c14ee649 refused).

Exit status: 0 reloaded (or SIGHUP sent), 1 the agent refused the new \
policy (the previous one stays in force), 2 no agent could be reached or \
usage error.")]
    Reload(ReloadArgs),

    /// Show the running agent's state and counters.
    #[command(long_about = "\
Show the running agent's state and counters, read from its control socket \
(root only): mode, state, policy generation and load time, the last \
reload's result, protected trees and the directories marked in each, \
verdict cache size and hit rate, verdicts by decision and reason, queue \
depth, verification latency, reloads, the last 20 denials, uptime and \
version.

The state is `degraded` while the policy on disk cannot be loaded and the \
agent enforces an older one: the last good policy it saved (when the policy \
was broken at start-up) or the generation before a refused reload. The \
reason names the file and line at fault.

--json prints the same data as one JSON object (the control socket's \
answer to `status`; docs/operations.md describes its fields). --prometheus \
prints it in the Prometheus text exposition format, exactly as the metrics \
file ([agent] metrics_file) holds it.

Exit status (as Nagios's OK, WARNING, CRITICAL): 0 shown, and the agent \
enforces the policy on disk; 1 shown, but the agent is degraded (the policy \
on disk is not the policy in force); 2 no agent answers (not running, not \
root, no answer within 5 s) or usage error.")]
    Status(StatusArgs),

    /// Show the signature status of every file in the protected trees.
    #[command(long_about = "\
Show the signature status of every file the agent checks: every regular \
file under the policy's protected trees, or under the PATHs given (files \
or directories), verified by the agent's own code with the trust store, \
formats and options of the tree each file is in. One line per file:

  STATUS  PATH  KEY  FORMAT  SIGNER/DETAIL

STATUS is one of:
  verified               a valid signature by a trusted key
  self-signed            a valid signature by an untrusted key (allow_self_signed)
  allow-sha256           no signature needed: the content's SHA-256 is on the allow list
  bundle-data            readable, never executed: data of a verified AiSOC plugin (bundle_data)
  unsigned, malformed, tampered, untrusted, invalid, revoked, expired, writable
                         refused by verification: enforce mode denies the file
  empty (allowed)        an empty file, allowed (checked again once written)
  symlink (not checked)  never followed; a file is checked where it is opened
  denied                 the open was refused (EPERM): an enforcing agent denies it
  unreadable             the file could not be opened for another reason
KEY is the start of the signer's fingerprint; SIGNER/DETAIL says who signed \
(when known) or why the file fails.

Signature companions (FILE.sig, FILE.minisig, FILE.sha256, plugin.sig) and \
AiSOC manifests beside a plugin.sig are not listed: the agent lets them be \
read. Directories are walked without following symbolic links, at most 64 \
levels deep.

AiSOC shows this per plugin as signature_status (GET /api/v1/plugins): \
its \"unsigned\" is unsigned here; its \"invalid\" is malformed, tampered, \
untrusted, invalid, revoked or expired here; a plugin it loads in strict \
mode has every *.py file verified here; \"skipped\" (trust mode disabled) \
is a tree with mode = \"off\".

Who evaluates: when the caller is root and the running agent answers on \
its control socket (--control-socket), the agent evaluates every file \
itself, with the policy generation in force (an enforcing agent denies \
this command's own opens of the files it refuses, so they could not be \
read here), and stderr says `evaluated by the running agent (generation N, \
policy P)`. Otherwise (not root, no agent, --offline, or a --policy that is \
not the agent's) the files are evaluated here with --policy, and stderr \
says why once; under an enforcing agent, files it denies then show as \
denied.

--json prints one JSON array with one object per file:
  path        the file, as the kernel names it
  status      as above (\"empty\" and \"symlink\" without their \
parentheses; \"manifest\" only in sigward verify)
  reason      the verification reason word, \"self-signed\", or null
  detail      one sentence: why the file fails, or what was found
  key         the signer's whole fingerprint, or null
  signer      who signed (principal, comment, developer, key name), or null
  format      the signature format that matched, or null
  sha256      SHA-256 of the content, when it was read, or null
  tree        the protected tree's root, or null outside every tree
  mode        enforce, audit or off: the mode that applies to the file
  evaluator   \"agent\" or \"offline\"
  generation  the agent's policy generation, or null offline

Exit status: 0 no file would be denied (every file verified, self-signed, \
empty or a symlink), 1 any file would be denied (or could not be read), 2 \
usage or configuration error.")]
    Scan(ScanArgs),

    /// Validate a policy and every key file and directory it names.
    #[command(long_about = "\
Validate a policy and every key file and directory it names, without running \
anything. Prints a summary on success: the mode (\"mixed\" when trees differ), \
the policy digest, each protected tree, each trusted key with its validity. \
On failure prints every error as FILE:LINE: message on stderr, in file order \
(the main policy first, then the drop-ins in the order they are read), each \
file's from its first line on. Errors that only follow from an earlier one \
are not reported: when a file is not a valid policy the files are not \
merged, and when they cannot be merged nothing they name is read.

Warnings (stderr, \"warning:\") do not fail the check; among them, trusted \
keys that have expired, are not valid yet, or expire within \
trust.expiry_warning_days (default 30).

Forms for configuration management (validate a file before it is installed):

  sigward check --policy %s --base-dir /etc/sigward
      a templated main policy, written to a temporary path
  sigward check --drop-in %s --as 10-fleet.toml
      a templated drop-in; errors name /etc/sigward/policy.d/10-fleet.toml
  sigward check --without 10-fleet.toml
      the removal of a drop-in (refused when another file depends on it,
      e.g. a tree that trusts a key only that drop-in defines)
  sigward check --key %s --as vendor.pub
      one key file: is it a usable public key, of which kind, fingerprint
      (a private key is refused)
  sigward check --offline --policy site/policy.toml
      off-host, in CI: syntax, values and references; key files, key
      directories and protected directories that are not on this machine
      are noted, not refused; strict modes and the checks of trees on disk
      are skipped. Files that are there are still read and validated.

The digest (also in sigward status and the metrics) is the SHA-256 of the \
effective policy without annotations plus every trusted key's fingerprint, \
name, groups and validity window and every revoked fingerprint: hosts that \
show the same digest enforce the same policy with the same keys, however \
their files divide it.

--json prints one object on stdout (also on failure): {\"policy\", \"ok\", \
\"offline\", \"errors\": [{\"file\", \"line\", \"message\"}], \"warnings\", \
\"notes\", \"mode\", \"global_mode\", \"digest\", \"files\", \"trees\": \
[{\"path\", \"mode\", \"file\", \"line\", \"allow_sha256\"}], \"absent_trees\", \
\"keys\": [{\"fingerprint\", \"kind\", \"name\", \"groups\", \"label\", \"source\", \
\"origin\", \"not_before\", \"not_after\", \"not_after_rfc3339\", \
\"validity\"}]}; with --key, {\"file\", \"ok\", \"errors\", \"warnings\", \
\"keys\"}. Fields are documented in docs/operations.md.

Exit status: 0 valid, 1 invalid, 2 usage error.")]
    Check(CheckArgs),

    /// Verify files exactly as the agent would.
    #[command(long_about = "\
Verify files with the agent's own code path and print one line per file:

  PATH: ok (key FINGERPRINT)
  PATH: REASON: detail

REASON is one of: unsigned (no FILE.sig), malformed (FILE.sig cannot be \
read as a signature), tampered (content, size or name differ from what was \
signed), untrusted (no signature by a trusted key), invalid (a trusted key's \
signature does not verify), revoked, expired, writable (others than the \
trusted owners can change the file); `unreadable: ERROR` when the file \
cannot be opened.

Who evaluates: when the caller is root, no --trust-key is given and the \
running agent answers on its control socket (--control-socket), the agent \
evaluates the files itself with the policy generation in force, and stderr \
says `evaluated by the running agent (generation N, policy P)`: so on a \
host where the agent enforces, the real reason is shown instead of the \
EPERM the agent gives this command's own open. --policy is then only \
checked to be the agent's policy. Otherwise (not root, no agent, \
--offline, --trust-key, or another --policy) the files are verified here \
with --policy or --trust-key, and stderr says why once; under an enforcing \
agent, files it denies are then `unreadable: EPERM`.

--json prints one JSON array with one object per file, with the fields \
`sigward help scan` describes (path as given; status \"verified\", \
\"self-signed\", \"manifest\", a reason word, \"denied\" or \
\"unreadable\").

Exit status: 0 all verified, 1 any failed, 2 usage or configuration error \
(or the agent stopped answering part-way).")]
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
under DIR, as AiSOC's loader checks it (aisoc-cli 0.1.0 has no command that \
writes plugin.sig: `aisoc plugin publish` signs a tarball for its marketplace).

The key may be a PKCS#8 PEM private key (sigward keygen), a Notur secret \
key (128 hex characters), or a Conductor private key file (32 raw bytes). \
RSA and OpenSSH signatures are made with openssl and ssh-keygen.

Sign where no agent enforces: sign reads each FILE, and an enforcing agent \
denies that open of an unsigned file in a protected tree (and records the \
denial), exactly as any other program's. Sign the reviewed file in a \
staging directory or on the build host, then install the file and its \
FILE.sig together (signature first, or both renamed into place); `sigward \
verify FILE` then shows the agent's verdict.

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

    /// Show the keys a policy trusts; add and remove keys in its keys_dir.
    #[command(subcommand)]
    Trust(TrustCommand),

    /// Write man pages and shell completions (for building packages).
    #[command(hide = true)]
    GenerateDocs(GenerateDocsArgs),
}

/// `sigward generate-docs` arguments.
#[derive(Debug, Args)]
pub struct GenerateDocsArgs {
    /// Output directory: man pages go to DIR/man, completions to
    /// DIR/completions.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `sigward trust` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// List every key the policy loads: type, fingerprint, source file and,
    /// where the format has one, name, principal or comment.
    #[command(long_about = "\
List every key the policy loads (or, with --dir, every key file in a trust \
directory): type, fingerprint, source file and block, validity now \
(valid, expires-soon, expired, not-yet-valid, revoked; expires-soon within \
trust.expiry_warning_days, default 30), not_after, and, where the format has \
one, name, principal or comment. Revoked fingerprints follow, marked \
`revoked`.

--json prints one object: {\"keys\": [{\"fingerprint\", \"kind\", \"name\", \
\"groups\", \"label\", \"source\", \"origin\", \"not_before\", \"not_after\", \
\"not_after_rfc3339\", \"validity\"}], \"revoked\": [FINGERPRINT], \
\"allow_sha256\": [DIGEST], \"warnings\", \"errors\"} (the same key objects as \
sigward check --json and sigward status --json).

Exit status: 0 listed, 1 the policy or a key file cannot be loaded.")]
    List(TrustListArgs),

    /// Trust file contents without a signature, by SHA-256 (allow_sha256).
    #[command(long_about = "\
Trust file contents without a signature, by their SHA-256: for a vendor \
file that cannot be signed (fapolicyd's `fapolicyd-cli --file add`). Each \
FILE is hashed (never followed into a FIFO or device), each --sha256 HEX is \
taken as given, and the digests are written to the drop-in \
policy.d/NAME.toml beside the policy (90-allow-sha256.toml unless --name), \
each with a comment naming its file: under [trust] allow_sha256 (every \
tree), or with --tree DIR under that tree's [[protect]] allow_sha256 (DIR \
must be a tree the policy protects).

The drop-in is validated with the whole policy before it is written: \
nothing is written when the policy would not load. A digest on the \
policy's deny list (trust.deny_sha256) is refused: a denied content is \
never allowed. The drop-in is an ordinary policy file: strict modes apply \
to it, config management can template it instead, and `sigward check` \
shows its digests per tree.

A file inside a tree the running agent enforces cannot be read to be \
hashed (the agent denies the open): hash it before installing it, or give \
its digest with --sha256.

The running agent uses the digests after `sigward reload`.

Exit status: 0 written, 1 failed (unreadable file, denied digest, the \
policy would not load), 2 usage error.")]
    AddHash(TrustAddHashArgs),

    /// Install a public key in the trust directory as NAME.pub.
    #[command(long_about = "\
Install a public key in a trust directory, for hosts whose keys are not \
managed by configuration management. The directory is the policy's \
[trust] keys_dir, or --dir DIR.

KEY is a key file, recognised by content as the agent does: a PEM public \
key or certificate, 64 hex characters (a Notur or Conductor .public key), a \
minisign .pub file or a Conductor trusted_keys.toml. It may also be a \
literal Ed25519 public key of 64 hex characters. The key is validated first, \
then written to DIR/NAME.pub (a copy of the file, or the hex key and a \
newline) atomically, mode 0644. An existing key named NAME (NAME.pub, \
NAME.pem or NAME.public) is never replaced without --force. Prints the \
fingerprint of each key installed.

The running agent uses the key after `sigward reload`.

Exit status: 0 installed, 1 failed (invalid key, NAME exists, I/O error), \
2 usage error.")]
    Add(TrustAddArgs),

    /// Remove a key from the trust directory, by name or fingerprint prefix.
    #[command(long_about = "\
Remove a key from a trust directory (the policy's [trust] keys_dir, or \
--dir DIR).

NAME_OR_FINGERPRINT is either a key name, removing DIR/NAME.pub, \
DIR/NAME.pem and DIR/NAME.public where they exist, or the start of a key \
fingerprint (at least 8 hex digits), removing the one key file in DIR that \
holds a key with that fingerprint. A prefix that matches several files is \
refused, and the matches are listed. Prints what was removed.

The running agent stops trusting the key after `sigward reload`.

Exit status: 0 removed, 1 nothing matched, the prefix is ambiguous, or \
I/O error, 2 usage error.")]
    Remove(TrustRemoveArgs),
}

/// Which trust directory `sigward trust add|remove` manage.
#[derive(Debug, Args)]
pub struct TrustDirArg {
    /// Policy whose trust.keys_dir is the trust directory.
    #[arg(long, short = 'p', value_name = "POLICY", default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// Manage this directory instead of the policy's keys_dir.
    #[arg(long, value_name = "DIR", conflicts_with = "policy")]
    pub dir: Option<PathBuf>,
}

/// `sigward trust list` arguments.
#[derive(Debug, Args)]
pub struct TrustListArgs {
    /// Policy whose keys to list.
    #[arg(long, short = 'p', value_name = "POLICY", default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// List the key files (*.pem, *.pub, *.public) of this directory
    /// instead of a policy's keys.
    #[arg(long, value_name = "DIR", conflicts_with = "policy")]
    pub dir: Option<PathBuf>,
    /// Print one JSON object (see above).
    #[arg(long)]
    pub json: bool,
}

/// `sigward trust add-hash` arguments.
#[derive(Debug, Args)]
pub struct TrustAddHashArgs {
    /// The policy; the drop-in is written to policy.d/ beside it.
    #[arg(long, short = 'p', value_name = "POLICY", default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// Trust the contents in this protected tree only.
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The drop-in's name, without .toml.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A digest to trust, 64 hex characters (repeatable).
    #[arg(long, value_name = "HEX")]
    pub sha256: Vec<String>,
    /// Files whose contents to trust.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `sigward trust add` arguments.
#[derive(Debug, Args)]
pub struct TrustAddArgs {
    /// Trust directory selection.
    #[command(flatten)]
    pub target: TrustDirArg,
    /// Name of the key: the file written is DIR/NAME.pub. Letters, digits,
    /// `.`, `_` and `-`, not starting with `.`.
    #[arg(long, short = 'n', value_name = "NAME")]
    pub name: String,
    /// Replace an existing key of the same name.
    #[arg(long)]
    pub force: bool,
    /// Public key file, or a literal Ed25519 public key (64 hex characters).
    #[arg(value_name = "KEY")]
    pub key: PathBuf,
}

/// `sigward trust remove` arguments.
#[derive(Debug, Args)]
pub struct TrustRemoveArgs {
    /// Trust directory selection.
    #[command(flatten)]
    pub target: TrustDirArg,
    /// Key name, or fingerprint prefix (at least 8 hex digits).
    #[arg(value_name = "NAME_OR_FINGERPRINT")]
    pub key: String,
}

/// `sigward check` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("named").args(["drop_in", "key"])))]
pub struct CheckArgs {
    /// The main policy file; drop-ins are read from policy.d/ beside it.
    #[arg(long, short = 'p', value_name = "POLICY", default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// Also print the effective policy (main file and drop-ins merged), each
    /// value annotated with the file and line that set it.
    #[arg(long)]
    pub print: bool,
    /// Validate as if FILE were a drop-in in policy.d/ (replacing one with
    /// the same name): for config management's validate step on a
    /// templated drop-in, e.g. `sigward check --drop-in %s`.
    #[arg(long, value_name = "FILE")]
    pub drop_in: Option<PathBuf>,
    /// The name the --drop-in FILE will have in policy.d/ (default: FILE's
    /// own name), or the --key FILE's final name. Config management
    /// validates a temporary copy: errors name the file as it will be
    /// installed: `sigward check --drop-in %s --as 10-fleet.toml`.
    #[arg(long = "as", value_name = "NAME", requires = "named")]
    pub drop_in_name: Option<std::ffi::OsString>,
    /// Validate the policy as if the drop-in NAME of policy.d/ were removed
    /// (repeatable), before removing it.
    #[arg(long, value_name = "NAME")]
    pub without: Vec<std::ffi::OsString>,
    /// Off-host validation (CI): syntax, values and references only; key
    /// files and directories that are not on this machine are noted, not
    /// refused; strict modes are not checked.
    #[arg(long)]
    pub offline: bool,
    /// Validate one key file instead of a policy: is it a usable public
    /// key, of which kind, with which fingerprint.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["print", "drop_in", "without", "base_dir", "offline"]
    )]
    pub key: Option<PathBuf>,
    /// Print the result as one JSON object (see above).
    #[arg(long, conflicts_with = "print")]
    pub json: bool,
    /// Resolve the policy's relative paths and find policy.d/ under DIR
    /// instead of the policy file's own directory: for validating a
    /// templated main policy written to a temporary path, e.g.
    /// `sigward check --policy %s --base-dir /etc/sigward`.
    #[arg(long, value_name = "DIR")]
    pub base_dir: Option<PathBuf>,
}

/// `sigward verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trust the keys of this policy (offline; when the running agent
    /// answers, this must be its policy, or the files are evaluated
    /// offline with this one).
    #[arg(long, short = 'p', value_name = "POLICY", conflicts_with = "trust_key")]
    pub policy: Option<PathBuf>,
    /// Trust the keys in this PEM public key file (repeatable; always
    /// offline).
    #[arg(long = "trust-key", value_name = "PUB")]
    pub trust_key: Vec<PathBuf>,
    /// Print one JSON array of objects (fields below) instead of the lines.
    #[arg(long)]
    pub json: bool,
    /// Evaluate here, with --policy or --trust-key, even when an agent runs
    /// (under an enforcing agent, files it denies are then unreadable:
    /// EPERM).
    #[arg(long)]
    pub offline: bool,
    /// The running agent's control socket.
    #[arg(long, visible_alias = "socket", value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: PathBuf,
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
