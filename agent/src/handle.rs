//! File handles: `name_to_handle_at` and `open_by_handle_at`.
//!
//! A handle names an inode by what its filesystem stores (not by a path),
//! so it survives renames, and `open_by_handle_at` through a descriptor of
//! the agent's own opens it again *in the agent's mounts*, whatever mounts
//! the process that opened it first had.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// Largest file handle the kernel hands out (`MAX_HANDLE_SZ`).
const MAX_HANDLE_SZ: usize = 128;

/// The handle of the file open as `fd`: its type, its bytes, and the id of
/// the mount `fd` was opened through.
pub fn handle_of(fd: BorrowedFd<'_>) -> nix::Result<(i32, Box<[u8]>, i32)> {
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }
    // in a u32 buffer so that it is suitably aligned.
    let mut buf = [0u32; 2 + MAX_HANDLE_SZ / 4];
    buf[0] = MAX_HANDLE_SZ as u32;
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` is a live, 4-byte aligned buffer large enough for a
    // `struct file_handle` with MAX_HANDLE_SZ bytes of handle, and its
    // `handle_bytes` says so; `c""` with AT_EMPTY_PATH names `fd` itself,
    // which is valid for the call; `mount_id` is a live c_int.
    let rc = unsafe {
        libc::name_to_handle_at(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast::<libc::file_handle>(),
            &mut mount_id,
            libc::AT_EMPTY_PATH,
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    let len = (buf[0] as usize).min(MAX_HANDLE_SZ);
    let handle_type = i32::from_ne_bytes(buf[1].to_ne_bytes());
    let bytes: Vec<u8> = buf[2..]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .take(len)
        .collect();
    Ok((handle_type, bytes.into_boxed_slice(), mount_id))
}

/// `open_by_handle_at(mount, handle, flags)`.
pub fn open_handle(
    mount: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
    flags: libc::c_int,
) -> nix::Result<OwnedFd> {
    let len = u32::try_from(handle.len()).map_err(|_| Errno::EINVAL)?;
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }
    // built in a u32 buffer so that it is suitably aligned.
    let mut buf = vec![0u32; 2 + handle.len().div_ceil(4)];
    buf[0] = len;
    buf[1] = u32::from_ne_bytes(handle_type.to_ne_bytes());
    for (i, chunk) in handle.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        buf[2 + i] = u32::from_ne_bytes(w);
    }
    // SAFETY: `buf` is a live, 4-byte aligned buffer holding a complete
    // `struct file_handle` whose `handle_bytes` matches the bytes that follow;
    // the kernel only reads it. `mount` is a valid descriptor for the call's
    // duration.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::file_handle>(),
            flags,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_by_handle_at returned a new descriptor that nothing else
    // owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
