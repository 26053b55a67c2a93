//! The Win32 calls of the Windows backend: the socket tables' bytes, and process handles
//! for `--kill`. The only module of this backend allowed `unsafe`; what each call is given
//! is said in its `SAFETY:` comment. Decoding the bytes is `rows.rs`'s, in safe Rust.
#![allow(unsafe_code)]

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER, FILETIME, HANDLE,
    NO_ERROR, WAIT_OBJECT_0,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, TCP_TABLE_OWNER_PID_ALL,
    TCP_TABLE_OWNER_PID_LISTENER, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountSidW, SID_NAME_USE, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE, PROCESS_TERMINATE, TerminateProcess, WaitForSingleObject,
};

use super::rows::Table;
use crate::model::{Family, Proto};

/// The first buffer's size: a quiet host's four tables fit; a busy one's are asked again
/// at the size the API says.
const FIRST_BUFFER: usize = 16 * 1024;
/// The table can grow between being measured and being filled; ask again this often.
const TRIES: usize = 8;

/// One table's bytes as the API fills them: a row count, then the rows. With
/// `listeners_only`, the TCP tables hold only LISTEN rows (the API filters).
pub(crate) fn table(table: Table, listeners_only: bool) -> io::Result<Vec<u8>> {
    let family = u32::from(match table.family() {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    });
    let tcp_class = if listeners_only {
        TCP_TABLE_OWNER_PID_LISTENER
    } else {
        TCP_TABLE_OWNER_PID_ALL
    };
    // DWORDs, so the rows the API writes are aligned as its structs are.
    let mut buffer: Vec<u32> = vec![0; FIRST_BUFFER / 4];
    for _ in 0..TRIES {
        let mut size = u32::try_from(buffer.len() * 4).unwrap_or(u32::MAX);
        let out = buffer.as_mut_ptr().cast();
        let status = match table.proto() {
            // SAFETY: `out` points at `size` writable bytes that live through the call,
            // and `size` at a live u32; the API writes at most `size` bytes, and otherwise
            // only the size it needs into `size`.
            Proto::Tcp => unsafe { GetExtendedTcpTable(out, &mut size, 0, family, tcp_class, 0) },
            // SAFETY: as above.
            Proto::Udp => unsafe {
                GetExtendedUdpTable(out, &mut size, 0, family, UDP_TABLE_OWNER_PID, 0)
            },
        };
        match status {
            NO_ERROR => return Ok(buffer.iter().flat_map(|w| w.to_le_bytes()).collect()),
            ERROR_INSUFFICIENT_BUFFER => {
                // Room for rows added in the meantime, too.
                let words = (size as usize).div_ceil(4) + 256;
                buffer = vec![0; words];
            }
            other => return Err(io::Error::from_raw_os_error(other as i32)),
        }
    }
    Err(io::Error::other(
        "the socket table kept growing while it was read",
    ))
}

/// A process opened for what `Access` says. While the handle is open Windows does not give
/// its pid to another process, so what is done through it reaches this process or none.
#[derive(Debug)]
pub(crate) struct ProcessHandle(OwnedHandle);

/// Why a process could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// No process has that pid (pid 0, the idle process, is none either).
    Gone,
    /// Another user's process, or a protected one, without the rights to open it.
    Denied,
    Other(io::Error),
}

/// What a process is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Its creation time and its user: any user may ask this of most processes.
    Query,
    /// Also to end it and to wait for it (`--kill`).
    Terminate,
}

/// Open process `pid`.
pub(crate) fn open(pid: u32, access: Access) -> Result<ProcessHandle, OpenError> {
    let rights = match access {
        Access::Query => PROCESS_QUERY_LIMITED_INFORMATION,
        Access::Terminate => {
            PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE
        }
    };
    // SAFETY: OpenProcess takes plain values and returns a new handle or null.
    let handle = unsafe { OpenProcess(rights, 0, pid) };
    if handle.is_null() {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error().map(|e| e as u32) {
            Some(ERROR_INVALID_PARAMETER) => OpenError::Gone,
            Some(ERROR_ACCESS_DENIED) => OpenError::Denied,
            _ => OpenError::Other(error),
        });
    }
    // SAFETY: `handle` is a process handle just opened, owned by nothing else; the
    // OwnedHandle closes it once.
    Ok(ProcessHandle(unsafe {
        OwnedHandle::from_raw_handle(handle)
    }))
}

impl ProcessHandle {
    /// When the process was created: 100-nanosecond intervals since 1601-01-01 (UTC).
    pub(crate) fn created(&self) -> io::Result<u64> {
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: the handle is open (we own it) with PROCESS_QUERY_LIMITED_INFORMATION,
        // which GetProcessTimes needs; the four pointers are to live FILETIMEs.
        let ok = unsafe {
            GetProcessTimes(
                self.0.as_raw_handle(),
                &mut created,
                &mut exited,
                &mut kernel,
                &mut user,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(u64::from(created.dwHighDateTime) << 32 | u64::from(created.dwLowDateTime))
    }

    /// The account the process runs as (`alice`, `SYSTEM`), from its token; `None` when
    /// the token cannot be read or the account has no name.
    pub(crate) fn user(&self) -> Option<String> {
        let mut raw: HANDLE = std::ptr::null_mut();
        // SAFETY: the handle is open with PROCESS_QUERY_LIMITED_INFORMATION, which a token
        // needs for TOKEN_QUERY; `raw` is a live HANDLE for the token.
        if unsafe { OpenProcessToken(self.0.as_raw_handle(), TOKEN_QUERY, &mut raw) } == 0 {
            return None;
        }
        // SAFETY: a token handle just opened, owned by nothing else; closed once.
        let token = unsafe { OwnedHandle::from_raw_handle(raw) };
        // u64s: room for a TOKEN_USER and its SID (at most 68 bytes), aligned for it.
        let mut buffer: Vec<u64> = vec![0; 64];
        let size = u32::try_from(buffer.len() * 8).unwrap_or(u32::MAX);
        let mut needed = 0;
        // SAFETY: `buffer` has room for `size` bytes and `needed` is live, through the
        // call.
        let ok = unsafe {
            GetTokenInformation(
                token.as_raw_handle(),
                TokenUser,
                buffer.as_mut_ptr().cast(),
                size,
                &mut needed,
            )
        };
        if ok == 0 {
            return None;
        }
        // SAFETY: on success the buffer starts with a TOKEN_USER (the Vec's u64s align it);
        // its Sid points into the same buffer.
        let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
        let (mut name, mut domain) = ([0u16; 256], [0u16; 256]);
        let (mut name_len, mut domain_len) = (256u32, 256u32);
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: `sid` points into `buffer`, alive to the end of this function; each name
        // buffer is live and its length says its size in UTF-16 units.
        let ok = unsafe {
            LookupAccountSidW(
                std::ptr::null(),
                sid,
                name.as_mut_ptr(),
                &mut name_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut kind,
            )
        };
        let name = name.get(..name_len as usize).filter(|_| ok != 0)?;
        Some(String::from_utf16_lossy(name)).filter(|n| !n.is_empty())
    }

    /// Whether the process has exited (its handle is signalled).
    pub(crate) fn exited(&self) -> bool {
        // SAFETY: the handle is open with SYNCHRONIZE; a timeout of 0 only polls.
        unsafe { WaitForSingleObject(self.0.as_raw_handle(), 0) == WAIT_OBJECT_0 }
    }

    /// End the process with this exit code.
    pub(crate) fn terminate(&self, exit_code: u32) -> io::Result<()> {
        // SAFETY: the handle is open with PROCESS_TERMINATE.
        let ok = unsafe { TerminateProcess(self.0.as_raw_handle(), exit_code) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
