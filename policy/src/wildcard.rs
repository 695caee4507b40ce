//! The one wildcard matcher: a pattern of tokens, each matching one item
//! or (a star) any run of items, matched iteratively with one backtrack
//! point (the last star), in O(pattern × items) and without recursion.
//!
//! It serves OpenSSH's `match_pattern` (bytes against `*` and `?`,
//! [`crate::formats::sshsig::match_pattern`]), one path component of a
//! `bundle_data` pattern (the same over a file name's bytes), and a whole
//! `bundle_data` path (components against components, `**` the star).

/// Whether `items` match `pattern`: `is_star` tells a token that matches
/// any run of items (none included); `one` whether another token matches
/// one item.
pub(crate) fn matches<P, T>(
    pattern: &[P],
    items: &[T],
    is_star: impl Fn(&P) -> bool,
    one: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(item) = items.get(s) {
        match pattern.get(p) {
            Some(t) if is_star(t) => {
                star = Some((p, s));
                p += 1;
            }
            Some(t) if one(t, item) => {
                p += 1;
                s += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    p = sp + 1;
                    s = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(is_star))
}

/// Bytes against a pattern where `*` matches any run of bytes and `?` any
/// one byte.
pub(crate) fn matches_bytes(pattern: &[u8], s: &[u8]) -> bool {
    matches(pattern, s, |&t| t == b'*', |&t, &c| t == b'?' || t == c)
}
