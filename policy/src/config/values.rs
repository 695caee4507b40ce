//! Reading one value of a policy file: its line for errors ([`Cx`]), and
//! the words, lists, owners, numbers and paths the fields hold. Used by
//! `parse` (one file) and by nothing else.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use toml::Spanned;

use crate::bundle_data::{DataPattern, MAX_PATTERNS};
use crate::formats::Format;

use super::{line_of, Located, Mode, Owner, PolicyError, UntrustedWriters, MAX_UID, MAX_USER_NAME};

/// Where a value is read: the file's text (for line numbers), the
/// directory relative paths resolve against, and the file's index.
pub(super) struct Cx<'a> {
    pub(super) text: &'a str,
    pub(super) base_dir: &'a Path,
    pub(super) file: usize,
}

impl Cx<'_> {
    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: self.file,
            line: Some(line_of(self.text, span.start)),
            message: message.into(),
            previous: None,
        }
    }

    pub(super) fn located<S, T>(&self, at: &Spanned<S>, value: T) -> Located<T> {
        Located {
            value,
            line: line_of(self.text, at.span().start),
            file: self.file,
        }
    }

    pub(super) fn path(
        &self,
        v: &Spanned<String>,
        what: &str,
    ) -> Result<Located<PathBuf>, PolicyError> {
        let raw = v.get_ref();
        if raw.is_empty() {
            return Err(self.err(v.span(), format!("{what} is empty")));
        }
        if raw.contains('\0') {
            return Err(self.err(v.span(), format!("{what} contains a NUL byte")));
        }
        Ok(self.located(v, normalize(&self.base_dir.join(raw))))
    }
}

pub(super) fn mode_word(cx: &Cx<'_>, m: &Spanned<String>) -> Result<Mode, PolicyError> {
    Mode::from_word(m.get_ref()).ok_or_else(|| {
        cx.err(
            m.span(),
            format!(
                "unknown mode {:?}: expected \"enforce\", \"audit\" or \"off\" (or the aliases \"strict\", \"warn\", \"disabled\")",
                m.get_ref()
            ),
        )
    })
}

pub(super) fn writers_word(
    cx: &Cx<'_>,
    w: &Spanned<String>,
) -> Result<UntrustedWriters, PolicyError> {
    UntrustedWriters::from_word(w.get_ref()).ok_or_else(|| {
        cx.err(
            w.span(),
            format!(
                "unknown protect.untrusted_writers {:?}: expected \"refuse\" (the default) or \"allow\"",
                w.get_ref()
            ),
        )
    })
}

pub(super) fn data_patterns(
    cx: &Cx<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<DataPattern>, PolicyError> {
    if list.get_ref().len() > MAX_PATTERNS {
        return Err(cx.err(
            list.span(),
            format!(
                "protect.bundle_data lists {} patterns, more than the {MAX_PATTERNS} allowed",
                list.get_ref().len()
            ),
        ));
    }
    list.get_ref()
        .iter()
        .map(|item| {
            DataPattern::parse(item.get_ref())
                .map_err(|e| cx.err(item.span(), format!("protect.bundle_data: {e}")))
        })
        .collect()
}

pub(super) fn format_list(
    cx: &Cx<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<Format>, PolicyError> {
    let mut out = Vec::new();
    for item in list.get_ref() {
        let Some(f) = Format::from_name(item.get_ref()) else {
            return Err(cx.err(
                item.span(),
                format!(
                    "unknown format {:?}: expected one of {}",
                    item.get_ref(),
                    Format::ALL.map(|f| f.name()).join(", ")
                ),
            ));
        };
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        return Err(cx.err(
            list.span(),
            "formats is empty: nothing could ever verify (omit it to accept every format)",
        ));
    }
    Ok(out)
}

pub(super) fn owner(cx: &Cx<'_>, o: &Spanned<toml::Value>) -> Result<Owner, PolicyError> {
    match o.get_ref() {
        toml::Value::Integer(n) => {
            if *n == MAX_UID + 1 {
                return Err(cx.err(
                    o.span(),
                    format!("agent.kernel_cache_owners uid = {n} is (uid_t)-1, which is no user (0 to {MAX_UID})"),
                ));
            }
            let uid = Spanned::new(o.span(), *n);
            Ok(Owner::Uid(bounded(
                cx,
                &uid,
                "agent.kernel_cache_owners uid",
                0,
                MAX_UID,
            )?))
        }
        toml::Value::String(name) => {
            let bad = |why: &str| {
                cx.err(
                    o.span(),
                    format!("agent.kernel_cache_owners: user name {name:?} {why}"),
                )
            };
            if name.is_empty() {
                return Err(bad("is empty"));
            }
            if name.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!(
                    "is all digits: write a uid as a number, without quotes ({name})"
                )));
            }
            if name.contains('\0') {
                return Err(bad("contains a NUL byte"));
            }
            if name.contains('/') {
                return Err(bad("contains '/'"));
            }
            if name.len() > MAX_USER_NAME {
                return Err(bad(&format!("is longer than {MAX_USER_NAME} bytes")));
            }
            Ok(Owner::Name(name.clone()))
        }
        other => Err(cx.err(
            o.span(),
            format!(
                "agent.kernel_cache_owners entries must be uids (integers) or user names (strings), not {} {other}",
                other.type_str()
            ),
        )),
    }
}

pub(super) fn bounded<T: TryFrom<i64>>(
    cx: &Cx<'_>,
    v: &Spanned<i64>,
    what: &str,
    min: i64,
    max: i64,
) -> Result<T, PolicyError> {
    let n = *v.get_ref();
    if n < min || n > max {
        return Err(cx.err(
            v.span(),
            format!("{what} = {n} is out of range ({min} to {max})"),
        ));
    }
    T::try_from(n).map_err(|_| cx.err(v.span(), format!("{what} = {n} is out of range")))
}

/// Removes `.` and resolves `..` lexically. Symlinks are resolved later by
/// the loader, which sees the file system.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
