//! sigward's native JSON signature: `native::parse`, `decode_entry`,
//! `to_text` (a parsed document must print and parse back to itself), and
//! verification of the input as `hello.py.sig` through the dispatcher
//! (threshold 1 and 2) and `native::verify_all`, against the example key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::{native, Format};
use sigward_fuzz::policy::{Options, TrustStore};
use sigward_fuzz::{check, example, only, store, verify_sig, Fixture};

static FX: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new("hello.py", example!("plugins/hello.py")));
static TRUST: LazyLock<TrustStore> =
    LazyLock::new(|| store(&[("example.pub", example!("keys/example.pub"))]));

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = native::parse(data) {
        let _ = native::recorded_sha256(&doc);
        for (i, e) in doc.signatures.iter().enumerate() {
            let _ = native::decode_entry(i + 1, e);
        }
        let text = native::to_text(&doc);
        assert_eq!(
            native::parse(text.as_bytes()).as_ref(),
            Ok(&doc),
            "to_text does not parse back: {text}"
        );
    }
    let opts = only(Format::Native);
    verify_sig(&FX, data, &TRUST, &opts);
    let two = Options {
        threshold: 2,
        ..only(Format::Native)
    };
    let v = verify_sig(&FX, data, &TRUST, &two);
    assert!(
        !v.is_verified(),
        "threshold 2 met with one trusted key: {v:?}"
    );
    for v in native::verify_all(&FX.subject(), data, &TRUST) {
        check(&v, &TRUST, &opts);
    }
});
