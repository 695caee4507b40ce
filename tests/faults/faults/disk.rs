//! Disk errors: a signature that cannot be read is a denial naming it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{field, mkdirs, n, path_str, start, write_file, Fixture, MIB};
use crate::load::wait_all_answered;
use crate::openers::{expect_allowed, expect_eperm, python_open};

use super::{is_deny_of, run_tool, tool};

// ---------------------------------------------------------------------------
// Disk errors
// ---------------------------------------------------------------------------

/// A small ext4 image holding one file, `f` (900 KiB: below every size limit
/// of signature and key files), mounted read-only, with its loop device then
/// cut short at the file's last data block: the file can be opened and
/// stat'ed like any other, and reading it fails with EIO (as a failing disk
/// does). Unmounted and detached on drop.
pub(super) struct EioDisk {
    pub(super) dev: String,
    pub(super) mnt: PathBuf,
    pub(super) binds: Vec<PathBuf>,
}

impl EioDisk {
    pub(super) fn new(dir: &Path) -> EioDisk {
        const LEN: usize = 900 * 1024;
        let src = dir.join("eio-src");
        mkdirs(&src);
        write_file(&src.join("f"), &[b'#'; LEN]);
        let img = dir.join("eio.img");
        let f = fs::File::create(&img).unwrap_or_else(|e| panic!("create {}: {e}", img.display()));
        f.set_len(16 * MIB)
            .unwrap_or_else(|e| panic!("size {}: {e}", img.display()));
        drop(f);
        run_tool(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-F".as_ref(),
                "-b".as_ref(),
                "4096".as_ref(),
                "-O".as_ref(),
                "^has_journal".as_ref(),
                "-E".as_ref(),
                "lazy_itable_init=0".as_ref(),
                "-d".as_ref(),
                src.as_os_str(),
                img.as_os_str(),
            ],
        );
        let debugfs = |req: &str| -> String {
            run_tool("debugfs", &["-R".as_ref(), req.as_ref(), img.as_os_str()]).stdout
        };
        let number = |text: &str, what: &str| -> u64 {
            text.split(|c: char| !c.is_ascii_digit())
                .rfind(|t| !t.is_empty())
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("debugfs: no {what} in {text:?}"))
        };
        let data = number(
            &debugfs(&format!("bmap /f {}", LEN.div_ceil(4096) - 1)),
            "data block",
        );
        let root_dir = number(&debugfs("bmap / 0"), "root directory block");
        let imap = debugfs("imap /f");
        let inode_block = imap
            .split("located at block ")
            .nth(1)
            .map(|t| number(t.split(',').next().unwrap_or(""), "inode block"))
            .unwrap_or_else(|| panic!("debugfs imap: {imap:?}"));
        assert!(
            root_dir < data && inode_block < data,
            "test setup: the file's last data block ({data}) lies before its metadata \
             (root directory block {root_dir}, inode block {inode_block})"
        );

        let dev = run_tool(
            "losetup",
            &["--find".as_ref(), "--show".as_ref(), img.as_os_str()],
        )
        .stdout
        .trim()
        .to_string();
        let mnt = dir.join("eio-mnt");
        mkdirs(&mnt);
        let disk = EioDisk {
            dev,
            mnt,
            binds: Vec::new(),
        };
        run_tool(
            "mount",
            &[
                "-t".as_ref(),
                "ext4".as_ref(),
                "-o".as_ref(),
                "ro,noatime".as_ref(),
                disk.dev.as_ref(),
                disk.mnt.as_os_str(),
            ],
        );
        // Cut the device at the file's last data block.
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&img)
            .unwrap_or_else(|e| panic!("open {}: {e}", img.display()));
        f.set_len(data * 4096)
            .unwrap_or_else(|e| panic!("truncate {}: {e}", img.display()));
        drop(f);
        run_tool("losetup", &["--set-capacity".as_ref(), disk.dev.as_ref()]);
        let mut buf = Vec::new();
        let got = fs::File::open(disk.file()).and_then(|mut f| f.read_to_end(&mut buf));
        match got {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
            other => panic!(
                "test setup: reading {} should fail with EIO, got {other:?}",
                disk.file().display()
            ),
        }
        disk
    }

    /// The file whose content cannot be read.
    pub(super) fn file(&self) -> PathBuf {
        self.mnt.join("f")
    }

    /// Bind-mounts the file over `target` (an existing file).
    pub(super) fn bind_over(&mut self, target: &Path) {
        run_tool(
            "mount",
            &[
                "--bind".as_ref(),
                self.file().as_os_str(),
                target.as_os_str(),
            ],
        );
        self.binds.push(target.to_path_buf());
    }
}

impl Drop for EioDisk {
    fn drop(&mut self) {
        let umount = |p: &Path| {
            let _ = Command::new(tool("umount"))
                .arg("-l")
                .arg(p)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for b in self.binds.iter().rev() {
            umount(b);
        }
        umount(&self.mnt);
        let _ = Command::new(tool("losetup"))
            .arg("-d")
            .arg(&self.dev)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn disk_error_reading_a_signature_denies_with_a_record_naming_it() {
    let fx = Fixture::new();
    fx.allow_untrusted_writers();
    let eio_file = fx.write_signed("eio.py", b"X = 'signed, signature on a failing disk'\n");
    let good = fx.write_signed_mode("good.py", b"X = 'signed'\n", 0o664);
    let mut disk = EioDisk::new(&fx.root);
    disk.bind_over(&crate::harness::sig_path(&eio_file));
    let (mut agent, socket) = start(&fx, &[("SIGWARD_LOG_TARGET", "stderr")]);

    for attempt in 1..=3 {
        expect_eperm(
            python_open(&eio_file),
            &format!("signed file whose signature cannot be read (open {attempt})"),
        );
    }
    let r = agent.wait_record("deny record of the unreadable signature", |r| {
        is_deny_of(r, &eio_file)
    });
    eprintln!("deny record: {r:#?}");
    let detail = format!("{} {}", field(&r, "SIGWARD_DETAIL"), field(&r, "MESSAGE"));
    assert!(
        detail.contains("Input/output error") || detail.contains("EIO"),
        "the record should name the I/O error: {r:#?}"
    );
    assert!(
        detail.contains(&path_str(&crate::harness::sig_path(&eio_file))),
        "the record should name the signature file: {r:#?}"
    );
    // A signature file that cannot be read is reported like one that
    // cannot be parsed.
    let reason = "malformed";
    assert_eq!(field(&r, "SIGWARD_REASON"), reason, "{r:#?}");
    expect_allowed(python_open(&good), "signed file beside it");

    // Not cached: each open was verified again (a passing disk error must
    // not stick).
    let v = wait_all_answered(&socket, "after the disk errors");
    let denials = n(&v, &["reasons", "deny", reason]);
    assert!(
        denials >= 3,
        "every open of the file should be verified again and denied ({reason}): {v:#}"
    );
    agent.assert_alive("after the disk errors");
}
