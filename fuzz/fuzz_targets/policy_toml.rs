//! The TOML policy parser: `config::parse`, and `parse_fragment` + `merge`
//! over drop-ins. Input: UTF-8 policy text; lines `#%` (a TOML comment, so
//! every seed is also a valid single file) split it into a main file and up
//! to three drop-ins. A policy that parses must print (`to_toml`, what
//! `sigward policy show` writes) as TOML that parses again.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use sigward_fuzz::policy::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = Path::new("/etc/sigward");
    let files = [
        PathBuf::from("/etc/sigward/policy.toml"),
        PathBuf::from("/etc/sigward/policy.d/10.toml"),
        PathBuf::from("/etc/sigward/policy.d/20.toml"),
        PathBuf::from("/etc/sigward/policy.d/30.toml"),
    ];
    if let Ok(p) = config::parse(text, base) {
        let shown = config::to_toml(&p, &files);
        if let Err(e) = config::parse(&shown, Path::new("/")) {
            panic!("to_toml output does not parse again: {e:?}\n--- input\n{text}\n--- printed\n{shown}");
        }
    }
    let parts: Vec<&str> = text.splitn(4, "\n#%\n").collect();
    if parts.len() > 1 {
        let base_d = Path::new("/etc/sigward/policy.d");
        let mut frags = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            match config::parse_fragment(part, if i == 0 { base } else { base_d }, i) {
                Ok(f) => frags.push(f),
                Err(_) => return,
            }
        }
        if let Ok(p) = config::merge(&frags) {
            let shown = config::to_toml(&p, &files);
            if let Err(e) = config::parse(&shown, Path::new("/")) {
                panic!("to_toml output of merged drop-ins does not parse again: {e:?}\n--- printed\n{shown}");
            }
        }
    }
});
