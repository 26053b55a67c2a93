//! Windows: the TCP and UDP tables with their owner pids (`GetExtendedTcpTable`,
//! `GetExtendedUdpTable`), process details from sysinfo, and `TerminateProcess` for
//! `--kill`.
//!
//! `rows` decodes the tables' bytes and is compiled on every platform (its tests and fuzz
//! target run anywhere); the rest calls Windows and is compiled there only. `sys` is the
//! one module here allowed `unsafe`: the Win32 calls, each with its `SAFETY:` comment.

pub(crate) mod rows;

#[cfg(windows)]
mod live;
#[cfg(windows)]
mod sys;

#[cfg(windows)]
pub(crate) use live::WindowsBackend;

/// Whether portwho was started without a stdout: Windows gives such a process no handle
/// (or an invalid one), and Rust's stdout then drops what is written to it in silence.
#[cfg(windows)]
pub(crate) fn stdout_was_closed() -> bool {
    use std::os::windows::io::AsRawHandle;
    let handle = std::io::stdout().as_raw_handle();
    // INVALID_HANDLE_VALUE is -1.
    handle.is_null() || handle as isize == -1
}

/// The pid of the process that started portwho, as the process list records it; 0 when
/// it cannot be read.
#[cfg(windows)]
pub(crate) fn parent_pid() -> u32 {
    super::details::parent_of(std::process::id()).unwrap_or(0)
}
