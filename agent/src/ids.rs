//! Stable journald MESSAGE_IDs, one per record kind: the only place they are
//! written. Each has an entry in the journald catalog
//! (`packaging/sigward.catalog`), which a unit test below checks in both
//! directions; the end-to-end tests import them from here.

/// Defines each MESSAGE_ID as a constant and lists them all in [`ALL`].
macro_rules! message_ids {
    ($($(#[doc = $doc:literal])* $name:ident = $id:literal;)*) => {
        $($(#[doc = $doc])* pub const $name: &str = $id;)*
        /// Every MESSAGE_ID with its constant's name.
        pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $id)),*];
    };
}

message_ids! {
    /// An open or exec was denied.
    DENY = "cf11b4fada504a508560e9c8a86847a3";
    /// Audit mode: enforce would have denied this.
    WOULD_DENY = "92c75d21c65240939400fa73b1280178";
    /// Records for one path were suppressed by the rate limit.
    SUPPRESSED = "0563ba6724f44447a3f6b648b10af194";
    /// The agent is enforcing.
    READY = "42348018bc92422c94438d24a03d1a64";
    /// A reload succeeded.
    RELOAD_OK = "3b4b92d03b894cf8852c64445ee57123";
    /// A reload was refused; the previous policy stays in force.
    RELOAD_FAILED = "31c2ee4ec9b647f58cfdc7f7c14ee649";
    /// The policy turns checking off.
    MODE_OFF = "d3ec4719eae3495ab0905787fc77a80f";
    /// The agent is stopping.
    STOPPING = "496a2a8351e446e4bf0c64cb6695d85b";
    /// An open was allowed (only with `log_allowed`).
    ALLOW = "2941d8ad044840f39f6047be7e7ccd2f";
    /// Records were dropped because the log queue was full.
    DROPPED = "a82c92e85d4b41b68481e50382e4ce05";
    /// A directory could not be marked: files in it are not checked.
    MARK_FAILED = "a4248a8d2c6e4970bc843e6ed4ff1022";
    /// A policy warning (skipped key block, empty trust store, ...).
    POLICY_WARNING = "2fe44673ee184717b1585ccf524dcd71";
    /// The agent could not start.
    START_FAILED = "c8957f7c666b4f1f9f346850dcbafe9f";
    /// The metrics file could not be written (verdicts are not affected).
    METRICS_FAILED = "6ecdfe4f17cd43c4bd5b0f5b30be4d9c";
    /// Permission events could not be read (the agent ran out of
    /// descriptors): the kernel denied them without a verdict.
    EVENTS_LOST = "5d3e8a41c2b94f6f9a0e7c12b84d6f30";
    /// A symbolic link in a protected tree points outside every tree.
    SYMLINK = "7a0c2f5e9b1d4c3a8e6f2b9d0c4a1e57";
    /// A protected tree is a lower layer of a writable overlay: files
    /// created through it are not checked.
    OVERLAY_VIEW = "e0c7b3a9d2f44b1e8a6c5d3f9b2e7a41";
    /// A protected tree shares its filesystem and is not a mount of its
    /// own: a directory made or moved into it is unchecked until the agent
    /// has marked it.
    NEW_DIRECTORY_WINDOW = "5f2a9c7e1b8d4e63a0c9f4b7d2e81c56";
    /// The policy on disk cannot be loaded: the agent enforces an older one
    /// (the last good policy at start-up, the previous generation after a
    /// refused reload).
    NOT_IN_FORCE = "9d4b6e2a7c1f4a8e9b3d5c7e1f2a4b68";
    /// The agent took over the fanotify group of the one before it
    /// (systemd's file descriptor store), or cannot store its own there.
    INHERITED = "3c8e1f4a6b2d4e9f8a7c5b1d2e3f4a5b";
    /// The status, written on SIGUSR1.
    STATUS = "b6e1f0c3d8a24e7f9c5b2a1d4e3f6a09";
    /// A control request was refused or failed (a non-root peer, a
    /// malformed request, an accept error).
    CONTROL_REFUSED = "eee9c34f71f14dee9539393ae988b18d";
    /// A reload was requested over the control socket (the reload's own
    /// record follows).
    CONTROL_RELOAD = "8a49415f395c4aa692da63836747246f";
    /// A trusted key has expired, is not valid yet, or expires within the
    /// warning horizon (`trust.expiry_warning_days`).
    KEY_EXPIRY = "6b1d9e4f2a7c4e58b3f0a2d6c9e1b475";
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::ALL;

    /// The catalog's entries, by MESSAGE_ID.
    fn catalog() -> BTreeMap<String, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = std::fs::read_to_string(root.join("../packaging/sigward.catalog")).unwrap();
        let mut entries = BTreeMap::new();
        for block in catalog.split("\n-- ").skip(1) {
            let (id, rest) = block.split_once('\n').unwrap();
            let previous = entries.insert(id.trim().to_string(), rest.to_string());
            assert!(previous.is_none(), "{id} twice in the catalog");
        }
        entries
    }

    /// Every MESSAGE_ID has a catalog entry with the headers journalctl
    /// shows and a body that explains it, and every entry belongs to one.
    #[test]
    fn catalog_matches_the_ids() {
        let entries = catalog();
        let ids: BTreeSet<&str> = ALL.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids.len(), ALL.len(), "an id is defined twice");
        for (name, id) in ALL {
            assert!(
                id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{name}: {id} is not 32 lower-case hex digits"
            );
            let entry = entries
                .get(*id)
                .unwrap_or_else(|| panic!("{name} ({id}) has no entry in sigward.catalog"));
            for header in [
                "Subject: ",
                "Defined-By: sigward",
                "Support: ",
                "Documentation: ",
            ] {
                assert!(
                    entry.lines().any(|l| l.starts_with(header)),
                    "{name} ({id}): no {header:?} line"
                );
            }
            let body = entry
                .split_once("\n\n")
                .map(|(_, b)| b.trim())
                .unwrap_or("");
            assert!(body.len() > 100, "{name} ({id}): the body explains nothing");
        }
        for id in entries.keys() {
            assert!(
                ids.contains(id.as_str()),
                "catalog entry {id} belongs to no MESSAGE_ID in ids.rs"
            );
        }
    }

    /// Every `Support:` and `Documentation:` line points at what the
    /// packages install (`/usr/share/doc/sigward/`, man pages), never at a
    /// placeholder; and no advice hard-codes the default policy path as
    /// the only one.
    #[test]
    fn catalog_links_are_installed_documentation() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        for (id, entry) in catalog() {
            for line in entry.lines() {
                let Some(url) = line
                    .strip_prefix("Support: ")
                    .or_else(|| line.strip_prefix("Documentation: "))
                else {
                    continue;
                };
                for placeholder in ["example.", "invalid", "localhost", "TODO", "XXX"] {
                    assert!(!url.contains(placeholder), "{id}: placeholder link {url}");
                }
                if let Some(doc) = url.strip_prefix("file:///usr/share/doc/sigward/") {
                    assert!(
                        root.join("../docs").join(doc).is_file() || doc == "README.md",
                        "{id}: {url} is not a file the packages install"
                    );
                    assert!(cargo.contains("usr/share/doc/sigward/"), "{id}: {url}");
                } else if let Some(page) = url.strip_prefix("man:") {
                    assert!(
                        page.starts_with("sigward(") || page.starts_with("sigward-"),
                        "{id}: {url} is not one of sigward's man pages"
                    );
                } else {
                    panic!("{id}: {url} is neither installed documentation nor a man page");
                }
            }
            for paragraph in entry
                .split("\n\n")
                .filter(|p| p.contains("/etc/sigward/policy.toml"))
            {
                assert!(
                    paragraph.contains("by default"),
                    "{id}: advice hard-codes the policy path: {paragraph}"
                );
            }
        }
    }

    /// No MESSAGE_ID is written anywhere else in the agent's source or its
    /// tests: they use these constants. The one exception is `cli.rs`,
    /// whose `--help` texts are string literals (clap's derive needs
    /// them); there, as anywhere, a 32-hex-digit word must be a known id.
    #[test]
    fn ids_are_written_only_here() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let ids: BTreeSet<&str> = ALL.iter().map(|(_, id)| *id).collect();
        let mut stack = vec![root.join("src"), root.join("../tests")];
        let mut elsewhere = Vec::new();
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|x| x != "rs") || path.ends_with("src/ids.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
                    let hex = word.len() == 32 && word.bytes().all(|b| b.is_ascii_hexdigit());
                    let known = ids.contains(word.to_ascii_lowercase().as_str());
                    if (known && !path.ends_with("src/cli.rs"))
                        || (hex && !known && !is_digest(&text, word))
                    {
                        elsewhere.push(format!("{}: {word}", path.display()));
                    }
                }
            }
        }
        assert!(
            elsewhere.is_empty(),
            "MESSAGE_IDs written outside ids.rs, or unknown ones: {elsewhere:#?}"
        );
    }

    /// Whether a 32-hex-digit word is part of a longer hex string (a
    /// digest split across a line) rather than a MESSAGE_ID: MESSAGE_IDs
    /// are always quoted whole.
    fn is_digest(text: &str, word: &str) -> bool {
        !text.contains(&format!("\"{word}\"")) && !text.contains(&format!("MESSAGE_ID={word}"))
    }
}
