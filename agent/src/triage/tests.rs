//! Every decision of the triage, from plain facts: no root, no fanotify.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

/// Facts as plain values, with a log of what was asked.
struct Fake {
    own: bool,
    version_ok: bool,
    policy_mode: Mode,
    strictest: Mode,
    writers_allowed: bool,
    exec: bool,
    file: Option<FileFacts>,
    trusted: bool,
    fast: Option<Why>,
    epoch: Option<u64>,
    name: Result<PathBuf, Unresolved>,
    via: Via,
    trees: Vec<PathBuf>,
    outside: bool,
    off: Vec<PathBuf>,
    settled: bool,
    hit: Option<Hit>,
    asked: Vec<&'static str>,
}

fn regular(size: u64) -> FileFacts {
    FileFacts {
        dir: false,
        regular: true,
        size,
        dev: 0x801,
        ino: 42,
    }
}

/// A plugin in an enforcing tree, not cached, named `/srv/p/a.py`.
fn fake() -> Fake {
    Fake {
        own: false,
        version_ok: true,
        policy_mode: Mode::Enforce,
        strictest: Mode::Enforce,
        writers_allowed: false,
        exec: false,
        file: Some(regular(10)),
        trusted: true,
        fast: None,
        epoch: Some(7),
        name: Ok(PathBuf::from("/srv/p/a.py")),
        via: Via::Unknown,
        trees: vec![PathBuf::from("/srv/p")],
        outside: false,
        off: Vec::new(),
        settled: false,
        hit: None,
        asked: Vec::new(),
    }
}

impl Facts for Fake {
    fn own_open(&self) -> bool {
        self.own
    }
    fn version_ok(&self) -> bool {
        self.version_ok
    }
    fn policy_mode(&self) -> Mode {
        self.policy_mode
    }
    fn strictest_mode(&self) -> Mode {
        self.strictest
    }
    fn untrusted_writers_allowed_everywhere(&self) -> bool {
        self.writers_allowed
    }
    fn exec(&self) -> bool {
        self.exec
    }
    fn file(&mut self) -> Option<FileFacts> {
        self.asked.push("file");
        self.file
    }
    fn only_trusted_can_write(&mut self) -> bool {
        self.asked.push("trusted");
        self.trusted
    }
    fn fast_hit(&mut self) -> Option<Why> {
        self.asked.push("fast");
        self.fast
    }
    fn names_epoch(&mut self) -> Option<u64> {
        self.asked.push("epoch");
        self.epoch
    }
    fn name(&mut self) -> (Result<PathBuf, Unresolved>, Via) {
        self.asked.push("name");
        let name = std::mem::replace(&mut self.name, Err(Unresolved::Unreadable));
        (name, self.via)
    }
    fn in_tree(&self, path: &Path) -> bool {
        self.trees.iter().any(|t| path.starts_with(t))
    }
    fn raised_outside(&mut self, path: &Path, via: Via) -> bool {
        self.asked.push("outside");
        self.outside && via != Via::Tree && !self.in_tree(path)
    }
    fn mode_for(&self, path: &Path) -> Mode {
        if self.off.iter().any(|t| path.starts_with(t)) {
            Mode::Off
        } else {
            self.policy_mode
        }
    }
    fn name_settled(&mut self) -> bool {
        self.asked.push("settled");
        self.settled
    }
    fn lookup(&mut self, _path: &Path, _epoch: u64) -> Option<Hit> {
        self.asked.push("lookup");
        self.hit.take()
    }
}

fn allowed(t: &Triage) -> (Why, Lookup) {
    match t {
        Triage::Allow { why, lookup, .. } => (*why, *lookup),
        other => panic!("not an allow: {other:?}"),
    }
}

fn plan(t: Triage) -> Plan {
    match t {
        Triage::Verify(p) => p,
        other => panic!("not a verification: {other:?}"),
    }
}

fn refusal(p: &Plan) -> (Reason, String) {
    match &p.known.as_ref().expect("a known outcome").verdict {
        sigward_policy::Verdict::Rejected { reason, detail, .. } => (*reason, detail.clone()),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn the_agents_own_opens_are_allowed_before_anything_is_looked_at() {
    let mut f = Fake {
        own: true,
        ..fake()
    };
    let t = triage(&mut f);
    assert!(matches!(
        t,
        Triage::Respond {
            decision: Decision::Allow,
            why: Why::OwnOpen
        }
    ));
    assert!(f.asked.is_empty(), "{:?}", f.asked);
}

#[test]
fn an_unreadable_event_fails_as_the_policy_mode_says() {
    for (mode, decision) in [
        (Mode::Enforce, Decision::Deny),
        (Mode::Audit, Decision::WouldDeny),
        (Mode::Off, Decision::WouldDeny),
    ] {
        let mut f = Fake {
            version_ok: false,
            policy_mode: mode,
            ..fake()
        };
        match triage(&mut f) {
            Triage::Respond { decision: d, why } => {
                assert_eq!((d, why), (decision, Why::Error), "{mode:?}");
                assert_eq!(d.allows(), mode != Mode::Enforce, "{mode:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_file_that_cannot_be_examined_is_left_to_the_envelope() {
    let mut f = Fake {
        file: None,
        ..fake()
    };
    assert!(matches!(triage(&mut f), Triage::FailClosed));
    assert_eq!(f.asked, ["file"]);
}

#[test]
fn directories_are_allowed() {
    let mut f = Fake {
        file: Some(FileFacts {
            dir: true,
            regular: false,
            ..regular(4096)
        }),
        ..fake()
    };
    assert_eq!(allowed(&triage(&mut f)), (Why::Directory, Lookup::None));
}

#[test]
fn an_empty_file_is_allowed_only_when_only_trusted_owners_can_fill_it() {
    let mut f = Fake {
        file: Some(regular(0)),
        ..fake()
    };
    assert_eq!(allowed(&triage(&mut f)), (Why::Empty, Lookup::None));
    let mut f = Fake {
        file: Some(regular(0)),
        trusted: false,
        ..fake()
    };
    let p = plan(triage(&mut f));
    assert!(p.known.is_none(), "a worker decides (empty_file)");
    assert_eq!(p.lookup, Lookup::Miss);
}

#[test]
fn the_fast_cache_answers_without_a_name() {
    let mut f = Fake {
        fast: Some(Why::Cached),
        ..fake()
    };
    assert_eq!(allowed(&triage(&mut f)), (Why::Cached, Lookup::Hit));
    assert_eq!(f.asked, ["file", "fast"]);
}

#[test]
fn a_plain_miss_goes_to_a_worker_with_its_name_mode_and_epoch() {
    let mut f = fake();
    let p = plan(triage(&mut f));
    assert_eq!(p.path, Path::new("/srv/p/a.py"));
    assert_eq!(p.mode, Mode::Enforce);
    assert_eq!(p.epoch, 7);
    assert!(p.known.is_none() && !p.cached);
    assert_eq!(p.lookup, Lookup::Miss);
    // The epoch is read before the name.
    let epoch = f.asked.iter().position(|a| *a == "epoch").unwrap();
    let name = f.asked.iter().position(|a| *a == "name").unwrap();
    assert!(epoch < name, "{:?}", f.asked);
    // Audit mode: the plan says so, and the answer will follow it.
    let mut f = Fake {
        policy_mode: Mode::Audit,
        ..fake()
    };
    assert_eq!(plan(triage(&mut f)).mode, Mode::Audit);
}

#[test]
fn names_read_while_a_rename_may_be_unaccounted_carry_no_epoch() {
    let mut f = Fake {
        epoch: None,
        ..fake()
    };
    assert_eq!(plan(triage(&mut f)).epoch, NO_EPOCH);
}

#[test]
fn the_userspace_cache_answers_or_hands_its_outcome_on() {
    let mut f = Fake {
        hit: Some(Hit::Allow(Why::Cached)),
        ..fake()
    };
    assert_eq!(allowed(&triage(&mut f)), (Why::Cached, Lookup::Hit));
    let outcome = Arc::new(Outcome::refused(
        Reason::Tampered,
        "digest differs",
        PathBuf::from("/srv/p/a.py.sig"),
    ));
    let mut f = Fake {
        hit: Some(Hit::Outcome(outcome)),
        ..fake()
    };
    let p = plan(triage(&mut f));
    assert!(p.cached);
    assert_eq!(p.lookup, Lookup::Hit);
    assert_eq!(refusal(&p).0, Reason::Tampered);
}

#[test]
fn opens_through_a_mount_that_shows_no_tree_are_not_the_agents_business() {
    let mut f = Fake {
        name: Err(Unresolved::Unreadable),
        via: Via::Disjoint,
        ..fake()
    };
    assert_eq!(allowed(&triage(&mut f)), (Why::OutsideTrees, Lookup::Miss));
}

#[test]
fn a_file_opened_in_a_tree_but_named_outside_it_now_is_refused_as_unnamed() {
    let mut f = Fake {
        name: Ok(PathBuf::from("/tmp/moved.py")),
        via: Via::Tree,
        ..fake()
    };
    let p = plan(triage(&mut f));
    assert_eq!(p.epoch, NO_EPOCH);
    assert!(!p.name_settled);
    let (reason, detail) = refusal(&p);
    assert_eq!(reason, Reason::Unsigned);
    assert!(detail.contains("cannot be resolved"), "{detail}");
    assert!(p.path.to_string_lossy().contains("now named /tmp/moved.py"));
}

#[test]
fn files_without_a_name_follow_the_strictest_mode() {
    let unnamed = || Fake {
        name: Err(Unresolved::Unreadable),
        ..fake()
    };
    let mut f = Fake {
        strictest: Mode::Off,
        ..unnamed()
    };
    assert_eq!(allowed(&triage(&mut f)), (Why::ModeOff, Lookup::Miss));
    let mut f = Fake {
        strictest: Mode::Audit,
        ..unnamed()
    };
    let p = plan(triage(&mut f));
    assert_eq!(p.mode, Mode::Audit);
    assert_eq!(refusal(&p).0, Reason::Unsigned);
    assert!(
        p.path.to_string_lossy().contains("inode 42"),
        "{:?}",
        p.path
    );
}

#[test]
fn an_unnamed_empty_file_waits_for_a_worker_unless_a_tree_refuses_untrusted_writers() {
    let empty_unnamed = |writers_allowed| Fake {
        name: Err(Unresolved::Unreadable),
        file: Some(regular(0)),
        trusted: false,
        writers_allowed,
        ..fake()
    };
    assert!(plan(triage(&mut empty_unnamed(true))).known.is_none());
    assert!(plan(triage(&mut empty_unnamed(false))).known.is_some());
}

#[test]
fn files_outside_the_trees_raised_by_a_filesystem_mark_are_left_to_the_kernel() {
    let mut f = Fake {
        name: Ok(PathBuf::from("/srv/other.py")),
        outside: true,
        ..fake()
    };
    match triage(&mut f) {
        Triage::Allow {
            why: Why::OutsideTrees,
            lookup: Lookup::Miss,
            then: Then::LeaveToKernel(p),
        } => assert_eq!(p, Path::new("/srv/other.py")),
        other => panic!("{other:?}"),
    }
    // Opened through a tree's own mount: never outside.
    let mut f = Fake {
        name: Ok(PathBuf::from("/srv/p/a.py")),
        outside: true,
        via: Via::Tree,
        ..fake()
    };
    assert!(matches!(triage(&mut f), Triage::Verify(_)));
}

#[test]
fn a_tree_in_mode_off_is_allowed_and_remembered() {
    let mut f = Fake {
        off: vec![PathBuf::from("/srv/p")],
        ..fake()
    };
    match triage(&mut f) {
        Triage::Allow {
            why: Why::ModeOff,
            then: Then::RememberModeOff { path, epoch: 7 },
            ..
        } => assert_eq!(path, Path::new("/srv/p/a.py")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_regular_files_can_carry_a_signature() {
    let mut f = Fake {
        file: Some(FileFacts {
            regular: false,
            ..regular(0)
        }),
        trusted: false,
        ..fake()
    };
    let p = plan(triage(&mut f));
    assert_eq!(refusal(&p).0, Reason::Unsigned);
    assert!(!f.asked.contains(&"lookup"), "refusals are not looked up");
}

#[test]
fn signature_files_are_read_freely_only_when_trusted_or_settled() {
    let sig = |trusted, settled, exec| Fake {
        name: Ok(PathBuf::from("/srv/p/a.py.sig")),
        trusted,
        settled,
        exec,
        ..fake()
    };
    for (trusted, settled) in [(true, false), (false, true), (true, true)] {
        let t = triage(&mut sig(trusted, settled, false));
        assert_eq!(allowed(&t), (Why::SignatureRead, Lookup::None));
    }
    let p = plan(triage(&mut sig(false, false, false)));
    assert_eq!(
        refusal(&p),
        (Reason::Invalid, NAME_EXEMPTION_REFUSED.to_string())
    );
    // Never executed, however trusted.
    let p = plan(triage(&mut sig(true, true, true)));
    let (reason, detail) = refusal(&p);
    assert_eq!(reason, Reason::Invalid);
    assert!(detail.contains("never executed"), "{detail}");
}

#[test]
fn an_empty_signature_file_is_treated_as_any_empty_file() {
    // Others can write it: not exempt by name (creating a signature file
    // opens it empty); a worker decides.
    let mut f = Fake {
        name: Ok(PathBuf::from("/srv/p/a.py.sig")),
        file: Some(regular(0)),
        trusted: false,
        ..fake()
    };
    let p = plan(triage(&mut f));
    assert!(p.known.is_none());
    assert_eq!(p.lookup, Lookup::Miss);
}
