//! `[[protect]] bundle_data`: the files of a signed AiSOC bundle that may
//! be read without a signature of their own.
//!
//! AiSOC signs a plugin's manifest and its `*.py` files only. The rest of
//! a plugin directory is data the plugin reads (`rules/*.yaml` of a
//! detection plugin, `README.md`), which no signature covers. A tree's
//! `bundle_data` patterns name those files, relative to the bundle's root;
//! the agent lets a process *read* one when the bundle's `plugin.sig`
//! verifies under the tree's policy. Whatever the patterns say, a file is
//! never data when:
//!
//! * it is opened for execution;
//! * its name ends in a suffix something loads or runs ([`never_data`]:
//!   `.py`, `.pyc`, `.so`, `.pth`, ...);
//! * its content starts as an ELF binary or a script does
//!   ([`refused_content`]: `\x7fELF`, `#!`).
//!
//! Patterns (see [`DataPattern`]): `*` matches any run of characters
//! within one path component, `?` one character, and a component `**` any
//! number of components. A pattern without `/` matches a file's name at
//! any depth (`*.md` matches `README.md` and `docs/usage.md`); one with
//! `/` matches the whole path from the bundle's root (`rules/*.yaml`).

/// The patterns of a tree that sets no `bundle_data`: the data files of a
/// plugin scaffolded by `aisoc plugin new` (`README.md`, detection rules
/// in `rules/`) and the usual formats of configuration and documentation.
pub const DEFAULT_PATTERNS: [&str; 9] = [
    "*.md", "*.rst", "*.txt", "*.yaml", "*.yml", "*.json", "*.toml", "*.csv", "rules/**",
];

/// Suffixes of files that are never data, compared without regard to
/// ASCII case: Python sources, bytecode, extension modules, path and zip
/// imports; shared objects and other loadable or runnable formats.
/// Names holding `.so.` (`libfoo.so.1`) are never data either.
pub const NEVER_SUFFIXES: [&str; 27] = [
    ".py", ".pyc", ".pyo", ".pyd", ".pyw", ".pyz", ".pth", ".so", ".dll", ".dylib", ".exe",
    ".wasm", ".jar", ".class", ".egg", ".whl", ".zip", ".sh", ".bash", ".zsh", ".pl", ".rb",
    ".php", ".js", ".mjs", ".cjs", ".ko",
];

/// The most patterns a tree may list.
pub const MAX_PATTERNS: usize = 64;

/// The longest pattern (bytes).
pub const MAX_PATTERN_LEN: usize = 256;

/// Why a `bundle_data` pattern is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty.
    #[error("an empty pattern matches nothing")]
    Empty,
    /// The pattern is longer than [`MAX_PATTERN_LEN`].
    #[error("{len} bytes, more than the {MAX_PATTERN_LEN} a pattern may have")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The pattern starts with `/`.
    #[error("{0:?} is absolute: patterns are relative to the bundle's root")]
    Absolute(String),
    /// A component is empty, `.` or `..`.
    #[error("{0:?} has an empty, `.` or `..` component")]
    BadComponent(String),
    /// The pattern uses a character with a meaning in other glob dialects.
    #[error("{pattern:?}: {found:?} is not supported (only *, ? and ** components)")]
    Unsupported {
        /// The pattern.
        pattern: String,
        /// The character.
        found: char,
    },
    /// `**` inside a component (`a**b`).
    #[error("{0:?}: ** must be a whole component")]
    PartialDoubleStar(String),
}

/// One `bundle_data` pattern, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPattern {
    text: String,
    /// Whether it matches the whole relative path (it holds `/`), else the
    /// file's name only.
    anchored: bool,
}

impl DataPattern {
    /// Checks a pattern.
    pub fn parse(text: &str) -> Result<DataPattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong { len: text.len() });
        }
        if text.starts_with('/') {
            return Err(PatternError::Absolute(text.to_string()));
        }
        if let Some(found) = text
            .chars()
            .find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\'))
        {
            return Err(PatternError::Unsupported {
                pattern: text.to_string(),
                found,
            });
        }
        for c in text.split('/') {
            if c.is_empty() || c == "." || c == ".." {
                return Err(PatternError::BadComponent(text.to_string()));
            }
            if c.contains("**") && c != "**" {
                return Err(PatternError::PartialDoubleStar(text.to_string()));
            }
        }
        Ok(DataPattern {
            text: text.to_string(),
            anchored: text.contains('/'),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `rel`, a path relative to the bundle's root with `/`
    /// between components (bytes, UTF-8 or not), matches.
    pub fn matches(&self, rel: &[u8]) -> bool {
        let path: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        if self.anchored {
            let pat: Vec<&[u8]> = self.text.as_bytes().split(|&b| b == b'/').collect();
            match_components(&pat, &path)
        } else {
            path.last()
                .is_some_and(|name| match_component(self.text.as_bytes(), name))
        }
    }
}

/// The default patterns, parsed.
pub fn default_patterns() -> Vec<DataPattern> {
    DEFAULT_PATTERNS
        .iter()
        .filter_map(|p| DataPattern::parse(p).ok())
        .collect()
}

/// Components against components, `**` matching any number of them.
fn match_components(pat: &[&[u8]], path: &[&[u8]]) -> bool {
    crate::wildcard::matches(pat, path, |c| *c == b"**", |c, n| match_component(c, n))
}

/// One component against `*` and `?` (a byte each; `*` any run of bytes).
fn match_component(pat: &[u8], name: &[u8]) -> bool {
    crate::wildcard::matches_bytes(pat, name)
}

/// Whether a file with this name is never data, whatever the patterns say:
/// its suffix is one of [`NEVER_SUFFIXES`], or it holds `.so.`.
pub fn never_data(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    NEVER_SUFFIXES.iter().any(|s| lower.ends_with(s.as_bytes()))
        || lower.windows(4).any(|w| w == b".so.")
}

/// How many bytes of a file [`refused_content`] looks at.
pub const HEAD_LEN: usize = 4;

/// Why a file whose content starts with `head` is never data: an ELF
/// binary (`\x7fELF`) or a script the kernel would run (`#!`).
pub fn refused_content(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x7fELF") {
        Some("an ELF binary")
    } else if head.starts_with(b"#!") {
        Some("a script (#!)")
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn m(pattern: &str, rel: &[u8]) -> bool {
        DataPattern::parse(pattern).unwrap().matches(rel)
    }

    #[test]
    fn names_match_at_any_depth_and_paths_from_the_root() {
        assert!(m("*.md", b"README.md"));
        assert!(m("*.md", b"docs/usage.md"));
        assert!(!m("*.md", b"README.mdx"));
        assert!(m("rules/*.yaml", b"rules/example.yaml"));
        assert!(!m("rules/*.yaml", b"rules/sub/example.yaml"));
        assert!(!m("rules/*.yaml", b"other/rules/example.yaml"));
        assert!(m("rules/**", b"rules/a"));
        assert!(m("rules/**", b"rules/a/b/c.yml"));
        assert!(!m("rules/**", b"rulesx/a"));
        assert!(m("**/*.yaml", b"a.yaml"));
        assert!(m("**/*.yaml", b"x/y/a.yaml"));
        assert!(m("a/**/b", b"a/b"));
        assert!(m("a/**/b", b"a/x/y/b"));
        assert!(!m("a/**/b", b"a/x/y/c"));
        assert!(m("?.txt", b"a.txt"));
        assert!(!m("?.txt", b"ab.txt"));
        assert!(m("*", b".hidden"));
        assert!(m("*.txt", b"caf\xff.txt"), "bytes that are not UTF-8");
    }

    #[test]
    fn bad_patterns_are_refused() {
        for (p, want) in [
            ("", PatternError::Empty),
            ("/abs/*.md", PatternError::Absolute("/abs/*.md".into())),
            ("../x", PatternError::BadComponent("../x".into())),
            ("a//b", PatternError::BadComponent("a//b".into())),
            ("a/./b", PatternError::BadComponent("a/./b".into())),
            ("a**", PatternError::PartialDoubleStar("a**".into())),
            (
                "*.[ch]",
                PatternError::Unsupported {
                    pattern: "*.[ch]".into(),
                    found: '[',
                },
            ),
        ] {
            assert_eq!(DataPattern::parse(p), Err(want), "{p}");
        }
        assert!(matches!(
            DataPattern::parse(&"a".repeat(MAX_PATTERN_LEN + 1)),
            Err(PatternError::TooLong { .. })
        ));
        assert_eq!(default_patterns().len(), DEFAULT_PATTERNS.len());
    }

    #[test]
    fn code_is_never_data() {
        for n in [
            "plugin.py",
            "x.PY",
            "__pycache__/plugin.cpython-311.pyc",
            "libfoo.so",
            "libfoo.so.1.2",
            "evil.pth",
            "run.sh",
        ] {
            assert!(never_data(n.as_bytes()), "{n}");
        }
        for n in [
            "README.md",
            "rules/example.yaml",
            "sonnet.txt",
            "notes.solution",
        ] {
            assert!(!never_data(n.as_bytes()), "{n}");
        }
        assert_eq!(refused_content(b"\x7fELF\x02"), Some("an ELF binary"));
        assert_eq!(refused_content(b"#!/bin/sh"), Some("a script (#!)"));
        assert_eq!(refused_content(b"# Ti"), None);
        assert_eq!(refused_content(b""), None);
    }

    #[test]
    fn matching_is_bounded() {
        // Backtracking patterns on long names stay quadratic at worst.
        let p = DataPattern::parse("*a*a*a*a*a*a*a*b").unwrap();
        let name = vec![b'a'; 200];
        assert!(!p.matches(&name));
        let p = DataPattern::parse("**/**/**/**/x").unwrap();
        let deep = b"a/".repeat(60);
        assert!(!p.matches(&deep));
    }
}
