//! Unit tests of `check`.

use super::*;

/// Counts what a verification reads.
#[derive(Default)]
struct Reads(u64);

impl Watch for Reads {
    fn before_read(&mut self, n: u64) -> Result<(), Interrupt> {
        self.0 += n;
        Ok(())
    }
}

fn file(dir: &Path, name: &str, size: u64) -> (PathBuf, OwnedFd) {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).unwrap_or_else(|e| unreachable!("{e}"));
    f.set_len(size).unwrap_or_else(|e| unreachable!("{e}"));
    let fd = open_for_verify(&p).unwrap_or_else(|e| unreachable!("{e}"));
    (p, fd)
}

fn check(path: &Path, fd: &OwnedFd) -> (Outcome, u64) {
    let trust = TrustStore::new();
    let options = Options::default();
    let ctx = Context {
        trust: &trust,
        options: &options,
        tree_root: path.parent(),
        bundle_data: &[],
        exec: false,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut reads = Reads::default();
    let outcome = evaluate(fd.as_fd(), path, &ctx, &mut buf, &mut reads)
        .unwrap_or_else(|e| unreachable!("{e}"));
    (outcome, reads.0)
}

#[test]
fn large_files_that_the_evidence_refuses_are_not_read() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
    // Unsigned: small ones are hashed (their records carry the digest),
    // large ones (here 100 GiB, sparse) are not read at all.
    let (small, fd) = file(dir.path(), "small.py", HASH_REFUSED_UP_TO);
    let (o, read) = check(&small, &fd);
    assert_eq!(o.verdict.reason(), Some(Reason::Unsigned));
    assert!(o.sha256.is_some() && read == HASH_REFUSED_UP_TO);
    let (huge, fd) = file(dir.path(), "huge.py", 100 << 30);
    let (o, read) = check(&huge, &fd);
    assert_eq!(o.verdict.reason(), Some(Reason::Unsigned));
    assert_eq!((o.sha256, read), (None, 0));
    assert!(o.cacheable, "refused on its evidence, which is stamped");
    // A native signature made for another size.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let doc =
        sigward_policy::native::sign(None, &key, "huge.py", 6, &[0; 32], "2026-01-01T00:00:00Z");
    std::fs::write(sig_path_for(&huge), sigward_policy::native::to_text(&doc))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let (o, read) = check(&huge, &fd);
    assert_eq!(
        o.verdict.reason(),
        Some(Reason::Tampered),
        "{:?}",
        o.verdict
    );
    assert_eq!((o.sha256, read), (None, 0));
    assert!(o.evidence.sig.is_some());
    // 256 bytes that could be an RSA signature: only the content can
    // refute them, so the file is read.
    let (rsa, fd) = file(dir.path(), "rsa.bin", 3 * HASH_REFUSED_UP_TO);
    std::fs::write(sig_path_for(&rsa), [0x8f; 256]).unwrap_or_else(|e| unreachable!("{e}"));
    let (o, read) = check(&rsa, &fd);
    assert!(!o.verdict.is_verified());
    assert_eq!(read, 3 * HASH_REFUSED_UP_TO);
    assert!(o.sha256.is_some());
}
