//! The agent survives files that shrink while it hashes them (an mmap-based
//! hasher would get SIGBUS) and keeps enforcing afterwards.

use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::harness::{truncate_path, Fixture, Proc, GIB, PROC_TIMEOUT};
use crate::openers::{cat_outcome, expect_allowed, expect_eperm, python_open};

fn truncate_while_hashing(new_len: u64, delay_ms: u64) {
    let fx = Fixture::new();
    let big = fx.write_signed_sparse("huge.img", 2 * GIB);
    let good = fx.write_signed("good.py", b"X = 'signed'\n");
    let bad = fx.write_unsigned("bad.py", b"X = 'unsigned'\n");

    let mut agent = fx.start_agent();

    // truncate(2) by path opens nothing, so it is not itself held up.
    let reader = Proc::spawn_quiet(Command::new("cat").arg(&big));
    thread::sleep(Duration::from_millis(delay_ms));
    truncate_path(&big, new_len);

    let fin = reader.wait(PROC_TIMEOUT);
    let verdict = cat_outcome(&fin);
    eprintln!("cat of the file truncated to {new_len} after {delay_ms} ms: {verdict:?}");

    agent.assert_alive(&format!(
        "after a file being hashed was truncated to {new_len} bytes"
    ));
    expect_allowed(python_open(&good), "signed file after the truncation");
    expect_eperm(python_open(&bad), "unsigned file after the truncation");
    if new_len == 0 {
        expect_allowed(python_open(&big), "the file, now zero-length");
    } else {
        expect_eperm(python_open(&big), "the signed file after it was truncated");
    }
    agent.assert_alive("at the end");
}

#[test]
fn survives_truncation_to_zero_while_hashing() {
    truncate_while_hashing(0, 80);
}

#[test]
fn survives_partial_truncation_while_hashing() {
    // Not page aligned, well inside the file.
    truncate_while_hashing(GIB / 2 + 12345, 150);
}
