//! `sigward.policy(5)`, rendered from `docs/policy.md`, the policy
//! reference, so that the page and the document cannot drift apart.
//!
//! The renderer knows the Markdown that document uses and no more:
//! headings (`##` become sections, deeper ones subsections), paragraphs,
//! `*`, `-` and numbered list items with indented continuation lines,
//! fenced code blocks (also indented inside list items), tables (each row
//! a tagged paragraph: the first cell the tag, the others `header: cell`)
//! and the inline forms `` `code` ``, `**bold**`, `*italic*` and
//! `[text](link)` (the text only). Everything else is text.

use std::fmt::Write as _;

/// The source: the policy reference.
pub const SOURCE: &str = include_str!("../../../docs/policy.md");

/// The page's file name.
pub const FILE_NAME: &str = "sigward.policy.5";

/// The whole page, in roff (the `man` macros).
pub fn render() -> String {
    let mut out = String::new();
    out.push_str(".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n");
    let _ = writeln!(
        out,
        ".TH sigward.policy 5 \"\" \"sigward {}\" \"File Formats Manual\"",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(
        ".SH NAME\nsigward.policy \\- policy files of sigward(1): protected trees, trusted keys, \
         agent and audit settings\n",
    );
    out.push_str(
        ".SH SYNOPSIS\n.B /etc/sigward/policy.toml\n.br\n.B /etc/sigward/policy.d/*.toml\n",
    );
    out.push_str(".SH DESCRIPTION\n");
    // The document's title is the page's header; its opening paragraphs
    // are the description.
    let body = SOURCE
        .split_once('\n')
        .filter(|(first, _)| first.starts_with("# "))
        .map_or(SOURCE, |(_, rest)| rest);
    out.push_str(&markdown_to_roff(body));
    out.push_str(
        ".SH \"SEE ALSO\"\n\\fBsigward\\fR(1), \\fBsigward\\-run\\fR(1), \
         \\fBsigward\\-check\\fR(1), \\fBsigward\\-reload\\fR(1), \\fBsigward\\-trust\\fR(1)\n\
         .PP\nThe policy reference this page is made from, and the documents it refers to \
         (formats.md, operations.md, threat\\-model.md), are in \
         \\fI/usr/share/doc/sigward/\\fR.\n",
    );
    out
}

/// One block being gathered.
enum Block {
    None,
    /// A paragraph's text, joined.
    Paragraph(String),
    /// A list item: its tag, text and indentation.
    Item(String, String, usize),
    /// Table rows, cells still in Markdown.
    Table(Vec<Vec<String>>),
}

/// Renders Markdown (of the kinds described at the top) as roff.
pub fn markdown_to_roff(md: &str) -> String {
    let mut out = String::new();
    let mut block = Block::None;
    // The indentation of the last list item, for its later paragraphs.
    let mut item_width = 2;
    let mut lines = md.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            flush(&mut out, &mut block);
            let indent = line.len() - trimmed.len();
            out.push_str(".sp\n.RS 4\n.nf\n");
            for code in lines.by_ref() {
                if code.trim_start().starts_with("```") {
                    break;
                }
                let code = strip_indent(code, indent);
                out.push_str(&line_start(&escape_code(code)));
                out.push('\n');
            }
            out.push_str(".fi\n.RE\n");
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut out, &mut block);
            continue;
        }
        if let Some((level, title)) = heading(line) {
            flush(&mut out, &mut block);
            let title = plain(title);
            if level <= 2 {
                let _ = writeln!(out, ".SH \"{}\"", quoted(&title.to_uppercase()));
            } else {
                let _ = writeln!(out, ".SS \"{}\"", quoted(&title));
            }
            continue;
        }
        if trimmed.starts_with('|') {
            if !matches!(block, Block::Table(_)) {
                flush(&mut out, &mut block);
                block = Block::Table(Vec::new());
            }
            if let Block::Table(rows) = &mut block {
                let cells = cells(trimmed);
                // The separator row (`| --- | --- |`).
                if !cells
                    .iter()
                    .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
                {
                    rows.push(cells);
                }
            }
            continue;
        }
        if let Some((tag, text)) = list_item(trimmed) {
            flush(&mut out, &mut block);
            // A number needs more room than a bullet.
            item_width = if tag == "\\(bu" { 2 } else { 4 };
            block = Block::Item(tag, text.to_string(), item_width);
            continue;
        }
        match &mut block {
            Block::Paragraph(p) | Block::Item(_, p, _) => {
                p.push(' ');
                p.push_str(trimmed);
            }
            Block::None | Block::Table(_) => {
                flush(&mut out, &mut block);
                // An indented paragraph after a list item (the item's
                // own second paragraph) keeps the item's indentation.
                block = if line.starts_with("  ") {
                    Block::Item(String::new(), trimmed.to_string(), item_width)
                } else {
                    Block::Paragraph(trimmed.to_string())
                };
            }
        }
    }
    flush(&mut out, &mut block);
    out
}

fn flush(out: &mut String, block: &mut Block) {
    match std::mem::replace(block, Block::None) {
        Block::None => {}
        Block::Paragraph(text) => {
            out.push_str(".PP\n");
            out.push_str(&line_start(&inline(&text)));
            out.push('\n');
        }
        Block::Item(tag, text, width) => {
            let _ = writeln!(out, ".IP \"{tag}\" {width}");
            out.push_str(&line_start(&inline(&text)));
            out.push('\n');
        }
        Block::Table(rows) => {
            let mut rows = rows.into_iter();
            let header = rows.next().unwrap_or_default();
            for row in rows {
                let mut cells = row.iter();
                let tag = cells.next().map(String::as_str).unwrap_or_default();
                out.push_str(".TP\n");
                out.push_str(&line_start(&inline(tag)));
                out.push('\n');
                let mut first = true;
                for (i, cell) in cells.enumerate() {
                    if cell.is_empty() {
                        continue;
                    }
                    if !first {
                        out.push_str(".br\n");
                    }
                    first = false;
                    let name = header.get(i + 1).map(|h| plain(h)).unwrap_or_default();
                    let _ = writeln!(out, "\\fI{}:\\fR {}", escape_text(&name), inline(cell));
                }
            }
        }
    }
}

/// `## Title` as (2, "Title").
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    let title = line.get(level..)?.strip_prefix(' ')?;
    (level > 0).then_some((level, title.trim()))
}

/// `* text`, `- text` or `3. text` as (tag, text).
fn list_item(line: &str) -> Option<(String, &str)> {
    if let Some(text) = line.strip_prefix("* ").or_else(|| line.strip_prefix("- ")) {
        return Some(("\\(bu".to_string(), text));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = line.get(digits..)?.strip_prefix(". ")?;
    (digits > 0).then(|| (format!("{}.", &line[..digits]), rest))
}

/// The cells of a table row: split at every `|` that is not escaped as
/// `\|` (also inside code, as GitHub reads tables), then unescaped.
fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row.strip_suffix('|').unwrap_or(row);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_string());
    cells
}

fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(indent)..]
}

/// Text with its Markdown marks removed (for headings and headers).
fn plain(md: &str) -> String {
    md.replace("**", "").replace('`', "")
}

/// A roff line that starts with `.` or `'` would be a request: `\&` first.
fn line_start(text: &str) -> String {
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text.to_string()
    }
}

/// Inside a quoted macro argument.
fn quoted(text: &str) -> String {
    escape_text(text).replace('"', "\\(dq")
}

/// Text that roff must print as it is.
fn escape_text(text: &str) -> String {
    text.replace('\\', "\\e")
}

/// Code (commands, paths, options): backslashes and hyphens as such (a
/// plain `-` may be printed as a hyphen, which cannot be pasted).
fn escape_code(text: &str) -> String {
    escape_text(text).replace('-', "\\-")
}

/// Inline Markdown to roff: code bold, `**bold**`, `*italic*`, links as
/// their text.
fn inline(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            if let Some(end) = rest[1..].find('`') {
                let _ = write!(out, "\\fB{}\\fR", escape_code(&rest[1..=end]));
                rest = &rest[end + 2..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                let _ = write!(out, "\\fB{}\\fR", inline(&after[..end]));
                rest = &after[end + 2..];
                continue;
            }
        }
        if c == '*' && emphasis_opens(&out, rest) {
            if let Some(end) = rest[1..].find('*') {
                let _ = write!(out, "\\fI{}\\fR", inline(&rest[1..=end]));
                rest = &rest[end + 2..];
                continue;
            }
        }
        if c == '[' {
            if let Some((text, after)) = link(rest) {
                out.push_str(&inline(text));
                rest = after;
                continue;
            }
        }
        out.push_str(&escape_text(&rest[..c.len_utf8()]));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether the `*` that `rest` starts with opens an emphasis: at the start
/// of a word, before a letter.
fn emphasis_opens(before: &str, rest: &str) -> bool {
    let prev_ok = before
        .chars()
        .last()
        .is_none_or(|p| p.is_whitespace() || p == '(');
    let next_ok = rest[1..].chars().next().is_some_and(char::is_alphanumeric);
    prev_ok && next_ok
}

/// `[text](target)rest` as (text, rest).
fn link(md: &str) -> Option<(&str, &str)> {
    let close = md.find("](")?;
    let text = &md[1..close];
    if text.contains('[') {
        return None;
    }
    let after = &md[close + 2..];
    let end = after.find(')')?;
    Some((text, &after[end + 1..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// The keys the policy parser accepts: every field of its `Raw*`
    /// structs (serde reads them under their own names; unknown keys are
    /// refused).
    fn parser_keys() -> Vec<String> {
        let raw = include_str!("../../../policy/src/config/raw.rs");
        let mut keys = Vec::new();
        let mut in_raw = false;
        for line in raw.lines() {
            if line.starts_with("pub(super) struct Raw") {
                in_raw = true;
            } else if line.starts_with('}') {
                in_raw = false;
            } else if in_raw {
                if let Some(field) = line.trim().strip_prefix("pub(super) ") {
                    if let Some((name, _)) = field.split_once(':') {
                        keys.push(name.to_string());
                    }
                }
            }
        }
        keys
    }

    #[test]
    fn every_key_the_parser_accepts_is_in_the_page() {
        let keys = parser_keys();
        for must in ["mode", "trust", "protect", "agent", "audit", "kernel_audit"] {
            assert!(keys.iter().any(|k| k == must), "{must} not found in raw.rs");
        }
        let page = render();
        for key in &keys {
            // As code (`keys`, `[audit]`, `[[protect]]`), or in a
            // heading (`[[trust.key]]`).
            let key = escape_code(key);
            let forms = [
                format!("\\fB{key}\\fR"),
                format!("\\fB[{key}]\\fR"),
                format!("[{key}]"),
                format!(".{key}]"),
            ];
            assert!(
                forms.iter().any(|f| page.contains(f.as_str())),
                "the policy key `{key}` is not documented in sigward.policy(5) \
                 (docs/policy.md)"
            );
        }
    }

    #[test]
    fn the_page_has_its_sections() {
        let page = render();
        assert!(page.starts_with(".ie"));
        assert!(page.contains(".TH sigward.policy 5 "));
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH \"FILES\"",
            ".SH \"KEYS\"",
            ".SH \"DROP\\-INS\"",
            ".SH \"SEE ALSO\"",
            ".SS \"[audit]\"",
        ] {
            let section = section.replace("\\-", "-");
            assert!(page.contains(&section), "{section} missing");
        }
        // Examples come through as literal blocks.
        assert!(page.contains(".nf\n"));
        // No line would be read as a request by mistake.
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix('.') {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
                assert!(
                    [
                        "ie", "el", "TH", "SH", "SS", "PP", "IP", "TP", "RS", "RE", "nf", "fi",
                        "br", "sp", "B",
                    ]
                    .contains(&name.as_str()),
                    "unexpected request: {line}"
                );
            }
        }
    }

    #[test]
    fn renders_the_markdown_the_reference_uses() {
        let md = "## Keys\n\nSome `mode = \"x\"` and **bold** and *last wins*, a [link](a.md#b).\n\
                  .dot at start\n\n### `[audit]`\n\n| key | type | default |\n| --- | --- | --- |\n\
                  | `log_allowed` | bool | `false` |\n| `a\\|b` | x \\| y | |\n\n\
                  * one\n  continued\n* two\n\n1. **Step** first\n\n   ```sh\n   sigward check -p\n   ```\n\n\
                  back\\slash policy.d/*.toml\n";
        let roff = markdown_to_roff(md);
        let want = [
            ".SH \"KEYS\"",
            ".PP\nSome \\fBmode = \"x\"\\fR and \\fBbold\\fR and \\fIlast wins\\fR, a link. .dot at start\n",
            ".SS \"[audit]\"",
            ".TP\n\\fBlog_allowed\\fR\n\\fItype:\\fR bool\n.br\n\\fIdefault:\\fR \\fBfalse\\fR\n",
            ".TP\n\\fBa|b\\fR\n\\fItype:\\fR x | y\n",
            ".IP \"\\(bu\" 2\none continued\n",
            ".IP \"\\(bu\" 2\ntwo\n",
            ".IP \"1.\" 4\n\\fBStep\\fR first\n",
            ".sp\n.RS 4\n.nf\nsigward check \\-p\n.fi\n.RE\n",
            ".PP\nback\\eslash policy.d/*.toml\n",
        ];
        for w in want {
            assert!(roff.contains(w), "{w:?} not in:\n{roff}");
        }
        assert_eq!(
            markdown_to_roff("text\n.starts\n").lines().nth(1),
            Some("text .starts")
        );
        assert_eq!(
            markdown_to_roff(".starts a paragraph\n").lines().nth(1),
            Some("\\&.starts a paragraph")
        );
    }
}
