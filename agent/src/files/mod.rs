//! File primitives shared by the agent and the command-line tools: every
//! small file they read goes through [`bounded`] (size-limited, never
//! blocking on a FIFO or device), every file they write through
//! [`AtomicWrite`], and a file's identity is its [`Stamp`].

mod atomic;
pub mod bounded;
mod identity;

pub use atomic::AtomicWrite;
pub use identity::{fd_path, is_regular, reopen_for_reading, Stamp};
