//! Patterns (OpenSSH match.c), as `allowed_signers` principals and
//! `namespaces=` lists use them.

/// OpenSSH `match_pattern`: `*` matches any run of bytes, `?` any one byte.
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    crate::wildcard::matches_bytes(pattern.as_bytes(), s.as_bytes())
}

/// OpenSSH `match_pattern_list` over already split sub-patterns (each may
/// start with `!`): -1 when a negated pattern matches, 1 when a positive one
/// matches and no negated one does, 0 otherwise. Like OpenSSH, a sub-pattern
/// of 1023 bytes or more makes the whole list fail to match.
pub fn match_pattern_list(s: &str, patterns: &[String]) -> i8 {
    let mut positive = false;
    for p in patterns {
        let (negated, sub) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        if sub.len() >= 1023 {
            return 0;
        }
        if match_pattern(s, sub) {
            if negated {
                return -1;
            }
            positive = true;
        }
    }
    i8::from(positive)
}

/// Splits a comma-separated pattern list as `match_pattern_list` walks it
/// (a trailing comma adds no empty pattern).
pub(super) fn split_list(list: &str) -> Vec<String> {
    let mut v: Vec<String> = list.split(',').map(str::to_string).collect();
    if v.last().is_some_and(String::is_empty) {
        v.pop();
    }
    v
}
