//! Who opened a file: read from `/proc/PID` while the opener is still
//! blocked in `open`, so the answer is about the right process.

/// The executable and real uid of a process.
pub fn describe(pid: i32) -> (Option<String>, Option<u32>) {
    let exe = nix::fcntl::readlink(format!("/proc/{pid}/exe").as_str())
        .ok()
        .map(|s| s.to_string_lossy().into_owned());
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| parse_uid(&s));
    (exe, uid)
}

fn parse_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_real_uid() {
        assert_eq!(
            super::parse_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"),
            Some(1000)
        );
        assert_eq!(super::parse_uid("Name:\tx\n"), None);
        let (exe, uid) = super::describe(std::process::id() as i32);
        assert!(exe.is_some());
        assert_eq!(uid, Some(nix::unistd::getuid().as_raw()));
    }
}
