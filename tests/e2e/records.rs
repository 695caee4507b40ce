//! What a decision record says about the opener beyond its pid, exe and
//! uid: the protected tree, the opener's parent, its login uid, and its
//! cgroup and systemd unit.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{
    ensure_journald, expect_field, path_str, run, wait_journal_record, Fixture, Record,
    PROC_TIMEOUT,
};
use crate::openers::{python, EPERM};

/// Opens `argv[1]` and prints what the agent should find in `/proc` about
/// this process, one `KEY value` per line, then `OK` or `ERRNO n`.
const PY_OPENER: &str = r#"
import os, sys
ppid = os.getppid()
print('PID %d' % os.getpid())
print('PPID %d' % ppid)
print('PARENT_EXE %s' % os.readlink('/proc/%d/exe' % ppid))
print('LOGINUID %s' % open('/proc/self/loginuid').read().strip())
for line in open('/proc/self/cgroup'):
    if line.startswith('0::'):
        print('CGROUP %s' % line[3:].rstrip('\n'))
sys.stdout.flush()
try:
    with open(sys.argv[1], 'rb') as f:
        f.read(1)
    print('OK')
except OSError as e:
    print('ERRNO %d' % e.errno)
"#;

/// What the opener printed.
struct Seen {
    lines: Vec<(String, String)>,
    outcome: String,
}

impl Seen {
    fn get(&self, key: &str) -> &str {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the opener printed no {key} line"))
    }
}

/// The unified cgroup hierarchy's mount point, from this process's mount
/// table.
fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next() == Some("cgroup2"))
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// A cgroup named like a systemd scope, removed when dropped (after the
/// processes in it ended).
struct Scope {
    dir: PathBuf,
    name: String,
}

impl Scope {
    fn new() -> Option<Scope> {
        let name = format!("sigward-e2e-{}.scope", std::process::id());
        let dir = cgroup2_mount()?.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => Some(Scope { dir, name }),
            Err(e) => {
                eprintln!("cannot create the cgroup {}: {e}", dir.display());
                None
            }
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// `sh` sets its login uid to `loginuid`, moves itself into `scope` (if
/// any), and runs the opener as its child (not as its last command, which
/// a shell may exec in its own place).
fn open_from_shell(path: &Path, loginuid: &str, scope: Option<&Scope>) -> Seen {
    let procs = scope
        .map(|s| path_str(&s.dir.join("cgroup.procs")))
        .unwrap_or_default();
    let script = r#"
set -e
printf %s "$1" > /proc/self/loginuid
if [ -n "$2" ]; then echo $$ > "$2"; fi
set +e
"$3" -B -c "$4" "$5"
rc=$?
exit $rc
"#;
    let fin = run(
        Command::new("/bin/sh").args([
            "-c",
            script,
            "sh",
            loginuid,
            &procs,
            &path_str(python()),
            PY_OPENER,
            &path_str(path),
        ]),
        PROC_TIMEOUT,
    );
    let mut lines = Vec::new();
    let mut outcome = None;
    for line in fin.stdout.lines() {
        if line == "OK" || line.starts_with("ERRNO ") {
            outcome = Some(line.to_string());
        } else if let Some((k, v)) = line.split_once(' ') {
            lines.push((k.to_string(), v.to_string()));
        }
    }
    let outcome = outcome.unwrap_or_else(|| panic!("the opener did not finish:\n{fin}"));
    Seen { lines, outcome }
}

fn deny_record(path: &Path, pid: &str) -> Record {
    wait_journal_record(
        &format!("deny of {} by pid {pid}", path.display()),
        &[
            "SYSLOG_IDENTIFIER=sigward".to_string(),
            format!("SIGWARD_PATH={}", path_str(path)),
        ],
        |r| {
            r.get("SIGWARD_DECISION").map(String::as_str) == Some("deny")
                && r.get("SIGWARD_PID").map(String::as_str) == Some(pid)
        },
    )
}

#[test]
fn deny_records_name_the_tree_parent_login_uid_and_unit() {
    ensure_journald();
    let fx = Fixture::new();
    let bad = fx.write_unsigned("sub/denied.py", b"X = 'unsigned'\n");
    let other = fx.write_unsigned("other.py", b"X = 'unsigned'\n");
    let tree = std::fs::canonicalize(&fx.plugins).unwrap();
    let scope = Scope::new();
    let _agent = fx.start_agent();

    let seen = open_from_shell(&bad, "4242", scope.as_ref());
    assert_eq!(
        seen.outcome,
        format!("ERRNO {EPERM}"),
        "the open was denied"
    );
    let rec = deny_record(&bad, seen.get("PID"));
    expect_field(&rec, "SIGWARD_TREE", &path_str(&tree));
    expect_field(&rec, "SIGWARD_PPID", seen.get("PPID"));
    expect_field(&rec, "SIGWARD_PARENT_EXE", seen.get("PARENT_EXE"));
    assert!(
        seen.get("PARENT_EXE").ends_with("sh") || seen.get("PARENT_EXE").contains("dash"),
        "the opener's parent is the shell: {}",
        seen.get("PARENT_EXE")
    );
    assert_eq!(seen.get("LOGINUID"), "4242", "the shell set its login uid");
    expect_field(&rec, "SIGWARD_LOGINUID", "4242");
    expect_field(&rec, "SIGWARD_CGROUP", seen.get("CGROUP"));
    let unit = match &scope {
        Some(s) => {
            assert!(
                seen.get("CGROUP").ends_with(&format!("/{}", s.name)),
                "the shell moved into {}: {}",
                s.name,
                seen.get("CGROUP")
            );
            Some(s.name.clone())
        }
        None => sigward::opener::unit_of(seen.get("CGROUP")),
    };
    match unit {
        Some(u) => expect_field(&rec, "SIGWARD_UNIT", &u),
        None => assert!(
            !rec.contains_key("SIGWARD_UNIT"),
            "no unit in {}: {rec:#?}",
            seen.get("CGROUP")
        ),
    }

    // An opener outside any login session: the login uid reads `unset`.
    let seen = open_from_shell(&other, "4294967295", scope.as_ref());
    assert_eq!(
        seen.outcome,
        format!("ERRNO {EPERM}"),
        "the open was denied"
    );
    assert_eq!(seen.get("LOGINUID"), "4294967295");
    let rec = deny_record(&other, seen.get("PID"));
    expect_field(&rec, "SIGWARD_LOGINUID", "unset");
    expect_field(&rec, "SIGWARD_PPID", seen.get("PPID"));
    expect_field(&rec, "SIGWARD_TREE", &path_str(&tree));
}
