//! Many reloads under load: no wrong verdict, no leaked descriptor or mark.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use std::{fs, thread};

use crate::harness::{fd_count, inode, mkdirs, settled_fd_count, write_file, Agent, Fixture};
use crate::openers::{cat, expect_allowed, expect_eperm};

use super::{new_key, policy_text, put_unsigned, sw, write_dropin, Live};

// ---------------------------------------------------------------------------
// 9. Many reloads under load: no wrong verdict, no leak
// ---------------------------------------------------------------------------

/// Every directory of the tree at `root`, `root` included.
fn tree_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let dir = out[i].clone();
        for e in fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.push(e.path());
            }
        }
        i += 1;
    }
    out
}

fn fanotify_fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    fs::read_link(e.path())
                        .map(|t| t.to_string_lossy().ends_with("[fanotify]"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

/// The agent's marks must be exactly one permission mark and one
/// notification mark on each directory of `dirs`, nothing else.
#[track_caller]
fn expect_marks_exactly(agent: &Agent, dirs: &[PathBuf], context: &str) {
    let marks = agent.fanotify_marks();
    let want: HashSet<u64> = dirs.iter().map(|d| inode(d)).collect();
    let perm: Vec<u64> = marks
        .iter()
        .filter(|m| m.is_permission_mark())
        .map(|m| m.ino)
        .collect();
    let notif: Vec<u64> = marks
        .iter()
        .filter(|m| m.is_notification_mark())
        .map(|m| m.ino)
        .collect();
    let describe = || {
        format!(
            "{context}: want one permission and one notification mark on each of {} dirs {:?} \
             (inodes {:x?}); marks: {:x?}",
            dirs.len(),
            dirs,
            want,
            marks
        )
    };
    assert_eq!(perm.len(), want.len(), "{}", describe());
    assert_eq!(
        perm.iter().copied().collect::<HashSet<u64>>(),
        want,
        "{}",
        describe()
    );
    assert_eq!(notif.len(), want.len(), "{}", describe());
    assert_eq!(
        notif.iter().copied().collect::<HashSet<u64>>(),
        want,
        "{}",
        describe()
    );
}

/// What the opener threads saw.
#[derive(Default)]
struct LoadReport {
    opens: AtomicUsize,
    wrong: Mutex<Vec<String>>,
    wrong_count: AtomicUsize,
    watchdog_fired: AtomicBool,
}

/// Runs `body` while 4 threads of this process continuously open `signed`
/// (must be allowed) and `unsigned` (must be denied with EPERM). A watchdog
/// SIGKILLs the agent if an open blocks for 15 s.
fn under_load<T>(
    agent_pid: i32,
    signed: &Path,
    unsigned: &Path,
    body: impl FnOnce() -> T,
) -> (T, LoadReport) {
    const THREADS: usize = 4;
    const BLOCKED: Duration = Duration::from_secs(15);
    let report = LoadReport::default();
    let stop = AtomicBool::new(false);
    let epoch = Instant::now();
    let now_ms = || u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
    let in_flight: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();

    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let out = thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        for slot in &in_flight {
            let (report, stop) = (&report, &stop);
            s.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for (path, want_ok) in [(signed, true), (unsigned, false)] {
                        slot.store(now_ms(), Ordering::SeqCst);
                        let got = fs::File::open(path);
                        slot.store(0, Ordering::SeqCst);
                        report.opens.fetch_add(1, Ordering::SeqCst);
                        let right = match &got {
                            Ok(_) => want_ok,
                            Err(e) => !want_ok && e.raw_os_error() == Some(libc::EPERM),
                        };
                        if !right {
                            report.wrong_count.fetch_add(1, Ordering::SeqCst);
                            let mut w = report.wrong.lock().unwrap();
                            if w.len() < 20 {
                                w.push(format!(
                                    "open #{n} of {}: {:?} (expected {})",
                                    path.display(),
                                    got.map(|_| "allowed"),
                                    if want_ok { "allowed" } else { "EPERM" }
                                ));
                            }
                        }
                    }
                    n += 1;
                }
            });
        }
        {
            let (report, stop, in_flight) = (&report, &stop, &in_flight);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let now = now_ms();
                    let stuck = in_flight.iter().any(|t| {
                        let since = t.load(Ordering::SeqCst);
                        since != 0 && now.saturating_sub(since) > BLOCKED.as_millis() as u64
                    });
                    if stuck && !report.watchdog_fired.swap(true, Ordering::SeqCst) {
                        // SAFETY: plain kill of the agent this test started (by pid);
                        // the test thread still owns it, so it is not reaped.
                        unsafe {
                            libc::kill(agent_pid, libc::SIGKILL);
                        }
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            });
        }
        // Let the openers get going before the body starts.
        thread::sleep(Duration::from_millis(50));
        body()
    });
    assert!(
        !report.watchdog_fired.load(Ordering::SeqCst),
        "an open blocked for more than {BLOCKED:?}: the agent did not answer, so it was SIGKILLed"
    );
    (out, report)
}

#[track_caller]
fn expect_no_wrong_verdicts(report: &LoadReport, what: &str) {
    let wrong = report.wrong_count.load(Ordering::SeqCst);
    let opens = report.opens.load(Ordering::SeqCst);
    assert_eq!(
        wrong,
        0,
        "{what}: {wrong} wrong verdicts out of {opens} opens; first ones:\n{}",
        report.wrong.lock().unwrap().join("\n")
    );
    assert!(
        opens >= 200,
        "{what}: only {opens} opens happened under load"
    );
    eprintln!("{what}: {opens} opens, no wrong verdict");
}

#[test]
fn a_hundred_reloads_under_load_give_no_wrong_verdict_and_leak_nothing() {
    let fx = Fixture::new();
    mkdirs(&fx.plugins.join("d1/d2"));
    let s = fx.write_signed("d1/s.py", b"X = 'signed'\n");
    let u = fx.write_unsigned("d1/d2/u.py", b"X = 'unsigned'\n");
    let pol = |burst: u32| {
        policy_text(
            &[&fx.pubkey],
            "",
            &[(&fx.plugins, "")],
            &format!("[audit]\nrate_limit_burst = {burst}\n"),
        )
    };
    fx.write_policy(&pol(5));
    let dirs = tree_dirs(&fx.plugins);
    assert_eq!(dirs.len(), 3);

    let mut live = Live::start(&fx);
    let pid = live.agent.pid();
    expect_allowed(cat(&s), "S before the reloads");
    expect_eperm(cat(&u), "U before the reloads");
    let fds_before = fd_count(pid);
    let fan_fds = fanotify_fd_count(pid);
    expect_marks_exactly(&live.agent, &dirs, "before the reloads");

    let started = Instant::now();
    let ((), report) = under_load(pid, &s, &u, || {
        for i in 0..100u32 {
            fx.write_policy(&pol(5 + i % 2));
            live.reload_ok(&format!("reload {} of 100", i + 1));
        }
    });
    eprintln!("100 reloads under load took {:?}", started.elapsed());
    live.agent.assert_alive("after 100 reloads under load");
    expect_no_wrong_verdicts(&report, "100 reloads");
    expect_allowed(cat(&s), "S after the reloads");
    expect_eperm(cat(&u), "U after the reloads");

    let fds_after = settled_fd_count(pid, fds_before);
    assert!(
        fds_after <= fds_before + 4,
        "the agent's open fds grew from {fds_before} to {fds_after} over 100 reloads"
    );
    assert_eq!(
        fanotify_fd_count(pid),
        fan_fds,
        "fanotify groups after 100 reloads"
    );
    expect_marks_exactly(&live.agent, &dirs, "after 100 reloads");

    // Reloading an unchanged policy: a new generation each time, same marks.
    for i in 0..3 {
        live.reload_ok(&format!("unchanged policy, reload {}", i + 1));
        expect_marks_exactly(&live.agent, &dirs, "after reloading an unchanged policy");
    }
    assert!(settled_fd_count(pid, fds_before) <= fds_before + 4);
    live.stop();
}

#[test]
fn reloads_adding_and_removing_a_tree_mark_and_unmark_it() {
    let fx = Fixture::new();
    let s = fx.write_signed("s.py", b"X = 'signed'\n");
    let u = fx.write_unsigned("u.py", b"X = 'unsigned'\n");
    let extra = fx.root.join("extra");
    mkdirs(&extra.join("a/b"));
    let x = put_unsigned(
        &fx,
        &extra.join("a/x.py"),
        b"X = 'unsigned, sometimes protected'\n",
    );
    let base = policy_text(&[&fx.pubkey], "", &[(&fx.plugins, "")], "");
    let plus = policy_text(&[&fx.pubkey], "", &[(&fx.plugins, ""), (&extra, "")], "");
    fx.write_policy(&base);
    let base_dirs = tree_dirs(&fx.plugins);
    let mut all_dirs = base_dirs.clone();
    all_dirs.extend(tree_dirs(&extra));
    assert_eq!(all_dirs.len(), base_dirs.len() + 3);

    let mut live = Live::start(&fx);
    let pid = live.agent.pid();
    expect_allowed(cat(&x), "file in a tree not yet protected");
    let fds_before = fd_count(pid);
    let fan_fds = fanotify_fd_count(pid);
    expect_marks_exactly(&live.agent, &base_dirs, "before adding the tree");

    let ((), report) = under_load(pid, &s, &u, || {
        for cycle in 1..=10 {
            fx.write_policy(&plus);
            live.reload_ok(&format!("cycle {cycle}: tree added"));
            // Marked before the switch, so before the reload record.
            expect_marks_exactly(
                &live.agent,
                &all_dirs,
                &format!("cycle {cycle}: after adding extra/"),
            );
            expect_eperm(cat(&x), &format!("cycle {cycle}: file in the added tree"));

            fx.write_policy(&base);
            live.reload_ok(&format!("cycle {cycle}: tree removed"));
            expect_marks_exactly(
                &live.agent,
                &base_dirs,
                &format!("cycle {cycle}: after removing extra/"),
            );
            expect_allowed(cat(&x), &format!("cycle {cycle}: file in the removed tree"));
        }
    });
    live.agent
        .assert_alive("after adding and removing a tree 10 times");
    expect_no_wrong_verdicts(&report, "tree added and removed 10 times");
    let fds_after = settled_fd_count(pid, fds_before);
    assert!(
        fds_after <= fds_before + 4,
        "the agent's open fds grew from {fds_before} to {fds_after} over 20 reloads"
    );
    assert_eq!(
        fanotify_fd_count(pid),
        fan_fds,
        "fanotify groups after 20 reloads"
    );
    live.stop();
}

/// Config management validates a temporary copy with another name: `--as`
/// places it where it will be installed, replacing the current version, so
/// a file that defines a named key can be re-validated after the first
/// deploy.
#[test]
fn check_drop_in_as_its_final_name_replaces_the_installed_version() {
    let fx = Fixture::new();
    let vendor = new_key(&fx, "vendor-as");
    let text = format!(
        "[[trust.key]]\nname = \"vendor\"\nfile = {:?}\n",
        vendor.public.display().to_string()
    );
    write_dropin(&fx, "10-fleet.toml", &text);
    let candidate = fx.root.join("ansible-tmp-source");
    write_file(&candidate, format!("{text}\n# a new revision\n").as_bytes());

    // Without --as the copy keeps its own name, which the agent would not
    // read (not *.toml): refused as such.
    let beside = sw(&[&"check", &"--policy", &fx.policy, &"--drop-in", &candidate]);
    assert_eq!(beside.code(), Some(1), "{beside}");
    assert!(beside.stderr.contains("would be ignored"), "{beside}");
    // Under another name it is merged beside the installed version: the
    // key name is defined twice.
    let beside = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--drop-in",
        &candidate,
        &"--as",
        &"20-copy.toml",
    ]);
    assert_eq!(beside.code(), Some(1), "{beside}");
    assert!(beside.stderr.contains("already defined"), "{beside}");

    // With --as it takes the installed file's place.
    let replacing = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--drop-in",
        &candidate,
        &"--as",
        &"10-fleet.toml",
    ]);
    replacing.assert_success();

    // A broken candidate under its final name is refused with its own path.
    write_file(&candidate, b"[[trust.key]]\nname = \"vendor\"\n");
    let broken = sw(&[
        &"check",
        &"--policy",
        &fx.policy,
        &"--drop-in",
        &candidate,
        &"--as",
        &"10-fleet.toml",
    ]);
    assert_eq!(broken.code(), Some(1), "{broken}");
    // ... under the name it will be installed as, not the temporary one.
    let installed = fx.root.join("policy.d").join("10-fleet.toml");
    assert!(
        broken
            .stderr
            .contains(&format!("{}:1:", installed.display())),
        "{broken}"
    );
}
