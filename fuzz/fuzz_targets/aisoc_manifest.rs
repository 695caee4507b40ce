//! The AiSOC manifest readers: `aisoc::canonical` over the input as
//! `plugin.yaml` (the PyYAML `safe_load` port) and as `aisoc-plugin.json`
//! (the CPython `json.loads` port), then the `json.dumps` port. A canonical
//! form, when there is one, is pure ASCII (`ensure_ascii`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::formats::aisoc;
use sigward_fuzz::AISOC_FILES;

fuzz_target!(|data: &[u8]| {
    let files = &AISOC_FILES[4];
    for name in aisoc::MANIFEST_NAMES {
        if let Ok(c) = aisoc::canonical(name, data, files) {
            assert!(c.is_ascii(), "canonical form is not ASCII");
            assert!(c.starts_with(b"{\"files\":{") && c.ends_with(b"}"));
        }
    }
});
