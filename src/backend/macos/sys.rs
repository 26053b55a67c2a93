//! The libproc and sysctl calls of the macOS backend. The only module of this backend
//! allowed `unsafe`; what each call is given is said in its `SAFETY:` comment. Decoding
//! the records is `fdinfo.rs`'s, in safe Rust.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::io;

/// `PROC_PIDFDSOCKETINFO` (`sys/proc_info.h`), which libc does not name.
const PROC_PIDFDSOCKETINFO: c_int = 3;
/// Room for a `socket_fdinfo` (792 bytes today); the kernel refuses a smaller buffer, so
/// a larger record in a later macOS still fits.
const SOCKET_INFO_BUFFER: usize = 1024;
/// The lists can grow between being measured and being filled; ask again this often.
const TRIES: usize = 8;

/// Why a process could not be read.
#[derive(Debug)]
pub(crate) enum Fail {
    /// It has exited (or the fd was closed).
    Gone,
    /// Another user's process, read without root.
    Denied,
    Other(io::Error),
}

impl Fail {
    /// What the last libproc call's errno says.
    fn last() -> Fail {
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ESRCH) | Some(libc::EBADF) => Fail::Gone,
            Some(libc::EPERM) | Some(libc::EACCES) => Fail::Denied,
            _ => Fail::Other(e),
        }
    }
}

/// Every pid on the system.
pub(crate) fn all_pids() -> io::Result<Vec<u32>> {
    for _ in 0..TRIES {
        // SAFETY: a null buffer of size 0 asks only for the number of pids.
        let count = unsafe { libc::proc_listallpids(std::ptr::null_mut(), 0) };
        if count <= 0 {
            return Err(io::Error::last_os_error());
        }
        let mut pids: Vec<c_int> = vec![0; count as usize + 64];
        let bytes = c_int::try_from(pids.len() * size_of::<c_int>()).unwrap_or(c_int::MAX);
        // SAFETY: `pids` has room for `bytes` bytes, alive through the call.
        let filled = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
        if filled < 0 {
            return Err(io::Error::last_os_error());
        }
        let filled = filled as usize;
        // A full buffer may have been cut short: ask again, larger.
        if filled < pids.len() {
            pids.truncate(filled);
            return Ok(pids
                .into_iter()
                .filter_map(|p| u32::try_from(p).ok())
                .collect());
        }
    }
    Err(io::Error::other(
        "the process list kept growing while it was read",
    ))
}

/// `PROC_PIDLISTFDS` of `pid`: its `proc_fdinfo` array, as bytes.
pub(crate) fn fd_list(pid: u32) -> Result<Vec<u8>, Fail> {
    let pid = c_int::try_from(pid).map_err(|_| Fail::Gone)?;
    for _ in 0..TRIES {
        // libproc answers 0 both for "no fds" and for an error; errno tells them apart.
        // SAFETY: __error returns this thread's errno, a live int.
        unsafe { *libc::__error() = 0 };
        // SAFETY: a null buffer of size 0 asks only for the size the list needs.
        let needed =
            unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
        if needed == 0 && io::Error::last_os_error().raw_os_error() == Some(0) {
            return Ok(Vec::new());
        }
        if needed <= 0 {
            return Err(Fail::last());
        }
        // u64s, so the records are aligned as the kernel's structs are; room for fds
        // opened in the meantime.
        let mut buffer: Vec<u64> = vec![0; needed as usize / 8 + 32];
        let size = c_int::try_from(buffer.len() * 8).unwrap_or(c_int::MAX);
        // SAFETY: `buffer` has room for `size` bytes, alive through the call.
        let filled = unsafe {
            libc::proc_pidinfo(
                pid,
                libc::PROC_PIDLISTFDS,
                0,
                buffer.as_mut_ptr().cast::<c_void>(),
                size,
            )
        };
        if filled <= 0 {
            return Err(Fail::last());
        }
        if filled < size {
            let mut bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_ne_bytes()).collect();
            bytes.truncate(filled as usize);
            return Ok(bytes);
        }
    }
    Err(Fail::Other(io::Error::other(
        "the fd list kept growing while it was read",
    )))
}

/// `PROC_PIDFDSOCKETINFO` of one fd: its `socket_fdinfo`, as bytes.
pub(crate) fn socket_info(pid: u32, fd: i32) -> Result<Vec<u8>, Fail> {
    let pid = c_int::try_from(pid).map_err(|_| Fail::Gone)?;
    let mut buffer: Vec<u64> = vec![0; SOCKET_INFO_BUFFER / 8];
    // SAFETY: `buffer` has room for SOCKET_INFO_BUFFER bytes, alive through the call.
    let filled = unsafe {
        libc::proc_pidfdinfo(
            pid,
            fd,
            PROC_PIDFDSOCKETINFO,
            buffer.as_mut_ptr().cast::<c_void>(),
            SOCKET_INFO_BUFFER as c_int,
        )
    };
    if filled <= 0 {
        return Err(Fail::last());
    }
    let mut bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_ne_bytes()).collect();
    bytes.truncate(filled as usize);
    Ok(bytes)
}

/// When `pid` started (seconds and microseconds since the epoch), from its `proc_bsdinfo`.
pub(crate) fn started(pid: u32) -> Result<(u64, u64), Fail> {
    let pid = c_int::try_from(pid).map_err(|_| Fail::Gone)?;
    // SAFETY: proc_bsdinfo holds only integers and arrays of them: all zeros is a value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = size_of::<libc::proc_bsdinfo>() as c_int;
    // SAFETY: `info` is a live proc_bsdinfo of `size` bytes.
    let filled = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&raw mut info).cast::<c_void>(),
            size,
        )
    };
    if filled != size {
        return Err(Fail::last());
    }
    Ok((info.pbi_start_tvsec, info.pbi_start_tvusec))
}

/// An integer sysctl (`net.inet.ip.portrange.first`), when it can be read.
pub(crate) fn sysctl_int(name: &CStr) -> Option<i32> {
    let mut value: c_int = 0;
    let mut size = size_of::<c_int>();
    // SAFETY: `name` is NUL-terminated; `value` and `size` are live and `size` says how
    // large `value` is; nothing is written to the system (null new value).
    let status = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            (&raw mut value).cast::<c_void>(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    (status == 0 && size == size_of::<c_int>()).then_some(value)
}
