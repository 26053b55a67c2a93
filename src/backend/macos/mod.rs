//! macOS: sockets and their holders from libproc — every process's fds
//! (`proc_pidinfo(PROC_PIDLISTFDS)`) and each socket's record
//! (`proc_pidfdinfo(PROC_PIDFDSOCKETINFO)`), the data `lsof` reads — process details from
//! sysinfo, and kill(2) for `--kill`.
//!
//! `fdinfo` decodes libproc's records and is compiled on every platform (its tests and
//! fuzz target run anywhere); the rest calls macOS and is compiled there only. `sys` is the
//! one module here allowed `unsafe`: the libproc and sysctl calls, each with its `SAFETY:`
//! comment.

pub(crate) mod fdinfo;

#[cfg(target_os = "macos")]
mod live;
#[cfg(target_os = "macos")]
mod sys;

#[cfg(target_os = "macos")]
pub(crate) use live::{MacBackend, stdout_was_closed};
