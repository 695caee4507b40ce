//! Who opened a file: read from `/proc/PID` while the opener is still
//! blocked in `open`, so the answer is about the right process.

/// The pids of every process, as `/proc` lists them now (an empty list if
/// it cannot be read).
pub fn pids() -> Vec<i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

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
