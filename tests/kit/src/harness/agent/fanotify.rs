//! The agent's fanotify marks, read from `/proc/PID/fdinfo`: marked
//! inodes, kernel verdicts (ignore marks), and waits for new marks.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::Agent;
use crate::harness::{inode, FanMark, MARK_TIMEOUT};

impl Agent {
    /// All fanotify marks of the agent, from /proc/PID/fdinfo.
    pub fn fanotify_marks(&self) -> Vec<FanMark> {
        let mut marks = Vec::new();
        let fd_dir = format!("/proc/{}/fd", self.pid);
        let Ok(entries) = fs::read_dir(&fd_dir) else {
            return marks;
        };
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            if !target.as_os_str().as_bytes().ends_with(b"[fanotify]") {
                continue;
            }
            let fd = entry.file_name().to_string_lossy().into_owned();
            let Ok(info) = fs::read_to_string(format!("/proc/{}/fdinfo/{fd}", self.pid)) else {
                continue;
            };
            for line in info.lines() {
                let Some(rest) = line.strip_prefix("fanotify ") else {
                    continue;
                };
                let mut mark = FanMark {
                    fd: fd.clone(),
                    ino: 0,
                    sdev: 0,
                    mask: 0,
                    ignored_mask: 0,
                };
                let mut has_ino = false;
                for tok in rest.split_whitespace() {
                    let Some((k, v)) = tok.split_once(':') else {
                        continue;
                    };
                    let val = u64::from_str_radix(v, 16).ok();
                    match (k, val) {
                        ("ino", Some(x)) => {
                            mark.ino = x;
                            has_ino = true;
                        }
                        ("sdev", Some(x)) => mark.sdev = x,
                        ("mask", Some(x)) => mark.mask = x,
                        ("ignored_mask", Some(x)) => mark.ignored_mask = x,
                        _ => {}
                    }
                }
                if has_ino {
                    marks.push(mark);
                }
            }
        }
        marks
    }

    /// Inodes carrying any fanotify inode mark of the agent.
    pub fn fanotify_marked_inodes(&self) -> HashSet<u64> {
        self.fanotify_marks().iter().map(|m| m.ino).collect()
    }

    /// Inodes carrying a fanotify mark with a permission event in its mask.
    pub fn fanotify_perm_marked_inodes(&self) -> HashSet<u64> {
        self.fanotify_marks()
            .iter()
            .filter(|m| m.is_permission_mark())
            .map(|m| m.ino)
            .collect()
    }

    /// Inodes with a kernel verdict (an ignore mark for opens and execs)
    /// of the agent, sorted.
    pub fn kernel_verdicts(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .fanotify_marks()
            .into_iter()
            .filter(|m| m.is_verdict_mark())
            .map(|m| m.ino)
            .collect();
        v.sort_unstable();
        v
    }

    /// Inodes with a reads-only ignore mark of the agent (signature files
    /// it read), sorted.
    pub fn kernel_read_marks(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .fanotify_marks()
            .into_iter()
            .filter(|m| m.is_reads_only_mark())
            .map(|m| m.ino)
            .collect();
        v.sort_unstable();
        v
    }

    /// Whether `p`'s inode (following symlinks) carries a kernel verdict
    /// (an ignore mark) of the agent.
    pub fn has_kernel_verdict(&self, p: &Path) -> bool {
        self.kernel_verdicts().contains(&inode(p))
    }

    /// Waits (up to [`MARK_TIMEOUT`]) until every directory in `dirs` has a
    /// permission mark of the agent; fails the test otherwise.
    pub fn wait_marked(&self, dirs: &[&Path]) {
        let wanted: Vec<(String, u64)> = dirs
            .iter()
            .map(|d| {
                let md =
                    fs::symlink_metadata(d).unwrap_or_else(|e| panic!("stat {}: {e}", d.display()));
                (d.display().to_string(), md.ino())
            })
            .collect();
        self.wait_marked_inodes(&wanted);
    }

    /// Like [`Agent::wait_marked`] for directories given by inode (for
    /// those that cannot be named by a path), each with a description for
    /// the failure message.
    pub fn wait_marked_inodes(&self, wanted: &[(String, u64)]) {
        let start = Instant::now();
        loop {
            let marked = self.fanotify_perm_marked_inodes();
            let missing: Vec<&(String, u64)> =
                wanted.iter().filter(|(_, i)| !marked.contains(i)).collect();
            if missing.is_empty() {
                return;
            }
            if start.elapsed() >= MARK_TIMEOUT {
                let marks: Vec<String> = self
                    .fanotify_marks()
                    .iter()
                    .map(|m| {
                        format!(
                            "fd {} ino:{:x} sdev:{:x} mask:{:x} ignored:{:x}",
                            m.fd, m.ino, m.sdev, m.mask, m.ignored_mask
                        )
                    })
                    .collect();
                panic!(
                    "after {MARK_TIMEOUT:?} these directories still carry no fanotify permission \
                     mark of agent pid {}: {:?}\nagent marks:\n{}\n--- agent stderr ---\n{}",
                    self.pid,
                    missing
                        .iter()
                        .map(|(p, i)| format!("{p} (ino {i:x})"))
                        .collect::<Vec<_>>(),
                    marks.join("\n"),
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}
