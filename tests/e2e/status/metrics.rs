//! The metrics file: replaced atomically, rewritten on reloads, moved
//! with its path, write errors counted, written a last time at shutdown.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use sigward_testkit::exposition;

use crate::harness::{
    mkdirs, n, path_str, sigward, start, status_json, toml_str, wait_until, Fixture,
};
use crate::openers::{expect_eperm, python_open};

fn metrics_policy(fx: &Fixture, metrics_file: &Path, interval: u64) -> String {
    format!(
        "{}\n[agent]\nmetrics_file = {}\nmetrics_interval = {interval}\n",
        fx.policy_text("enforce", &[(&fx.plugins, None)]),
        toml_str(&path_str(metrics_file))
    )
}

#[test]
fn metrics_file_is_replaced_atomically_and_follows_reloads() {
    let fx = Fixture::new();
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");
    let dir = fx.root.join("textfile");
    mkdirs(&dir);
    let prom = dir.join("sigward.prom");
    fx.write_policy(&metrics_policy(&fx, &prom, 1));
    let (mut agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);
    wait_until("metrics file written", Duration::from_secs(10), || {
        prom.exists()
    });
    let samples = exposition::check(&fs::read_to_string(&prom).unwrap());
    assert_eq!(samples.get("sigward_policy_generation"), Some(&1.0));

    // New counts show up within an interval or two.
    expect_eperm(python_open(&bad), "unsigned file");
    wait_until("deny counted in the file", Duration::from_secs(10), || {
        exposition::check(&fs::read_to_string(&prom).unwrap())
            .get("sigward_verdicts_total{decision=\"deny\"}")
            == Some(&1.0)
    });

    // Readers never see part of a file while it is rewritten: every read
    // is a whole, valid exposition. Reloads rewrite it at once, on top of
    // the interval.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let prom = prom.clone();
        thread::spawn(move || {
            let mut reads = 0u64;
            let mut seen = HashSet::new();
            while !stop.load(Ordering::SeqCst) {
                let text = fs::read_to_string(&prom)
                    .unwrap_or_else(|e| panic!("metrics file missing during a rewrite: {e}"));
                let samples = exposition::check(&text);
                assert!(
                    samples.contains_key("sigward_event_loop_heartbeat_age_seconds"),
                    "truncated metrics file:\n{text}"
                );
                seen.insert(
                    samples
                        .get("sigward_policy_generation")
                        .copied()
                        .unwrap_or(0.0) as u64,
                );
                reads += 1;
            }
            (reads, seen)
        })
    };
    for _ in 0..8 {
        let fin = sigward([
            OsStr::new("reload"),
            OsStr::new("--control-socket"),
            socket.as_os_str(),
            OsStr::new("--pid-file"),
            OsStr::new("none"),
        ]);
        assert_eq!(fin.code(), Some(0), "{fin}");
        thread::sleep(Duration::from_millis(150));
    }
    thread::sleep(Duration::from_millis(1200));
    stop.store(true, Ordering::SeqCst);
    let (reads, generations) = reader.join().unwrap();
    assert!(reads > 50, "only {reads} reads");
    assert!(
        generations.len() >= 3,
        "the file was not rewritten on reloads: generations seen {generations:?}"
    );
    let left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["sigward.prom".to_string()],
        "temporary files left"
    );

    // The status names the file.
    let v = status_json(&socket);
    assert_eq!(v["metrics_file"]["path"], path_str(&prom), "{v:#}");
    assert_eq!(v["metrics_file"]["interval_seconds"], 1);
    assert_eq!(v["metrics_file"]["write_errors"], 0);

    // A new path on reload: written there at once, the old file removed.
    let dir2 = fx.root.join("textfile2");
    mkdirs(&dir2);
    let prom2 = dir2.join("agent.prom");
    fx.write_policy(&metrics_policy(&fx, &prom2, 3600));
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    wait_until(
        "metrics file at its new path",
        Duration::from_secs(5),
        || prom2.exists() && !prom.exists(),
    );
    let samples = exposition::check(&fs::read_to_string(&prom2).unwrap());
    assert_eq!(samples.get("sigward_policy_generation"), Some(&10.0));

    // A directory that does not exist: logged, counted, verdicts unaffected.
    let missing = fx.root.join("no-such-dir/x.prom");
    fx.write_policy(&metrics_policy(&fx, &missing, 1));
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    wait_until("write error counted", Duration::from_secs(10), || {
        n(&status_json(&socket), &["metrics_file", "write_errors"]) >= 2
    });
    expect_eperm(python_open(&bad), "unsigned file while metrics fail");
    let errors = agent
        .stderr_text()
        .matches("cannot write metrics file")
        .count();
    assert_eq!(errors, 1, "the error is logged once, then rate-limited");

    // Back to a good path; at shutdown the file is written a last time.
    fx.write_policy(&metrics_policy(&fx, &prom, 3600));
    let fin = sigward([
        OsStr::new("reload"),
        OsStr::new("--control-socket"),
        socket.as_os_str(),
        OsStr::new("--pid-file"),
        OsStr::new("none"),
    ]);
    assert_eq!(fin.code(), Some(0), "{fin}");
    wait_until("metrics file back", Duration::from_secs(5), || {
        prom.exists()
    });
    expect_eperm(python_open(&bad), "unsigned file again");
    agent.signal(libc::SIGTERM);
    assert!(agent.wait_exit(Duration::from_secs(20)).success());
    let samples = exposition::check(&fs::read_to_string(&prom).unwrap());
    assert_eq!(
        samples.get("sigward_verdicts_total{decision=\"deny\"}"),
        Some(&3.0),
        "the last write holds the final counts"
    );
}
