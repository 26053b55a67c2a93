//! The system call behind the kernel-side owner scan: load the iterator program, attach
//! it and open an iterator. The only `unsafe` code in portwho: neither rustix nor nix
//! wraps `bpf(2)`.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::program::Insn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_ITER: u32 = 28;

/// `union bpf_attr` for BPF_PROG_LOAD, up to `fd_array` (Linux 5.14 and later; older
/// kernels accept the longer attribute when the fields they do not know are zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_btf_obj_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
}

/// `union bpf_attr` for BPF_LINK_CREATE of an iterator.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    iter_info: u64,
    iter_info_len: u32,
    _pad: u32,
}

/// `union bpf_attr` for BPF_ITER_CREATE.
#[repr(C)]
#[derive(Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}

const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 128);
const _: () = assert!(std::mem::size_of::<LinkCreateAttr>() == 32);
const _: () = assert!(std::mem::size_of::<IterCreateAttr>() == 8);

/// `bpf(cmd, attr, sizeof attr)` for a command that returns a new file descriptor.
fn bpf_fd<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a live, initialized `#[repr(C)]` attribute of exactly the size
    // passed; the pointers inside it (set by the callers) point to buffers that outlive
    // this call, and the kernel writes only within the sizes given with them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr).cast::<libc::c_void>(),
            std::mem::size_of::<T>(),
        )
    };
    let fd = i32::try_from(ret).map_err(io::Error::other)?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: these commands return a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Load `program` as an iterator attached to the kernel function with BTF id `attach_to`.
/// With `log`, the verifier writes why it refused the program there.
pub(super) fn load_iterator(
    program: &[Insn],
    attach_to: u32,
    license: &CStr,
    log: Option<&mut [u8]>,
) -> io::Result<OwnedFd> {
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_TRACING,
        insn_cnt: u32::try_from(program.len()).map_err(io::Error::other)?,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_TRACE_ITER,
        attach_btf_id: attach_to,
        ..ProgLoadAttr::default()
    };
    let name = b"portwho_owners";
    attr.prog_name[..name.len()].copy_from_slice(name);
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(log.len()).map_err(io::Error::other)?;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    bpf_fd(BPF_PROG_LOAD, &mut attr)
}

/// Attach a loaded iterator program: over every task, as no `iter_info` narrows it.
pub(super) fn attach_iterator(program: &OwnedFd) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: fd_u32(program)?,
        attach_type: BPF_TRACE_ITER,
        ..LinkCreateAttr::default()
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr)
}

/// A new run of the attached iterator: `read` it for the program's output.
pub(super) fn open_iterator(link: &OwnedFd) -> io::Result<OwnedFd> {
    let mut attr = IterCreateAttr {
        link_fd: fd_u32(link)?,
        flags: 0,
    };
    bpf_fd(BPF_ITER_CREATE, &mut attr)
}

fn fd_u32(fd: &OwnedFd) -> io::Result<u32> {
    u32::try_from(fd.as_raw_fd()).map_err(io::Error::other)
}
