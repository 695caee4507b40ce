//! The agent's fanotify marks, as /proc/PID/fdinfo lists them.

// fanotify event bits (linux/fanotify.h).
const FAN_OPEN_PERM: u64 = 0x0001_0000;
const FAN_ACCESS_PERM: u64 = 0x0002_0000;
const FAN_OPEN_EXEC_PERM: u64 = 0x0004_0000;
/// One fanotify mark of the agent, as listed in /proc/PID/fdinfo/FD.
#[derive(Debug, Clone)]
pub struct FanMark {
    pub fd: String,
    pub ino: u64,
    pub sdev: u64,
    pub mask: u64,
    pub ignored_mask: u64,
}

impl FanMark {
    pub fn is_permission_mark(&self) -> bool {
        self.mask & (FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM) != 0
    }

    /// An ignore mark with no events of its own: a kernel verdict on a
    /// verified file, or the reads-only mark of a signature file.
    pub fn is_ignore_mark(&self) -> bool {
        self.mask == 0 && self.ignored_mask & (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM) != 0
    }

    /// A kernel verdict on a verified file: its ignore mark covers execs
    /// too (a signature file's covers reads only).
    pub fn is_verdict_mark(&self) -> bool {
        self.is_ignore_mark() && self.ignored_mask & FAN_OPEN_EXEC_PERM != 0
    }

    /// The reads-only ignore mark of a signature file the agent read.
    pub fn is_reads_only_mark(&self) -> bool {
        self.is_ignore_mark() && self.ignored_mask & FAN_OPEN_EXEC_PERM == 0
    }

    /// A mark of the notification group on a directory.
    pub fn is_notification_mark(&self) -> bool {
        !self.is_permission_mark() && !self.is_ignore_mark()
    }
}
