//! The owner scan: one pass over `/proc/*/fd`, mapping socket inodes to the pids holding them.

use std::collections::HashSet;
use std::ffi::CStr;
use std::fmt::Write as _;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{Mode, OFlags, RawDir};
use rustix::io::Errno;

use crate::backend::Holding;
use crate::error::Error;
use crate::model::{Owners, ScanStats};

/// Below this many processes a second thread costs more than it saves.
const PARALLEL_THRESHOLD: usize = 64;
/// More threads than this were measured no faster on 2 cores (see benches/README.md).
const MAX_THREADS: usize = 4;

/// Scan every process under `proc_root` once and keep the holders of the `wanted` inodes.
pub(crate) fn scan(proc_root: &Path, wanted: &HashSet<u64>) -> Result<Owners, Error> {
    let read_error = |source: Errno| Error::Read {
        path: proc_root.to_path_buf(),
        source: source.into(),
    };
    let root = open_dir(proc_root).map_err(read_error)?;
    if wanted.is_empty() {
        return Ok(Owners::default());
    }
    let pids = list_pids(&root).map_err(read_error)?;

    let threads = if pids.len() < PARALLEL_THRESHOLD {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, MAX_THREADS)
    };
    // Threads take the next pid as they go, so one that meets the processes with
    // thousands of fds does not finish long after the other. One at a time: with 16, the
    // threads finished up to 1.5 ms apart at 500 x 20 (about 50 us a process); with one,
    // within 20 us, and the shared counter costs nothing next to a process's syscalls.
    let next = AtomicUsize::new(0);
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| scan_pids(&root, &pids, &next, wanted)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });

    let mut owners = Owners::default();
    owners
        .by_inode
        .reserve(parts.iter().map(|p| p.found.len()).sum());
    for part in parts {
        owners.stats.processes += part.stats.processes;
        owners.stats.denied += part.stats.denied;
        owners.stats.vanished += part.stats.vanished;
        for (inode, pid) in part.found {
            owners.by_inode.entry(inode).or_default().push(pid);
        }
    }
    for pids in owners.by_inode.values_mut() {
        // One process may hold the same socket in several fds (dup, inherited copies).
        pids.sort_unstable();
        pids.dedup();
    }
    Ok(owners)
}

/// Whether one process holds one of the `wanted` inodes now: its fd directory read afresh.
///
/// `--kill` asks this after pinning a process and before signalling it, so a process that
/// closed the socket since the scan (or a pid now used by another process) is left alone.
pub(crate) fn holding(proc_root: &Path, pid: u32, wanted: &HashSet<u64>) -> Holding {
    let path = proc_root.join(format!("{pid}/fd"));
    let fd_dir = match rustix::fs::open(
        &path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ACCESS | Errno::PERM) => return Holding::Denied,
        Err(_) => return Holding::Gone,
    };
    let mut dirbuf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
    let mut found = Vec::new();
    scan_fd_dir(fd_dir, pid, wanted, &mut dirbuf, &mut found);
    if found.is_empty() {
        Holding::Released
    } else {
        Holding::Holds
    }
}

/// What one thread found.
#[derive(Default)]
struct Part {
    found: Vec<(u64, u32)>,
    stats: ScanStats,
}

pub(crate) fn open_dir(path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Numeric entries of the proc root: one per process (threads are not listed there).
pub(crate) fn list_pids(root: &OwnedFd) -> Result<Vec<u32>, Errno> {
    let dir = rustix::fs::openat(
        root,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut entries = RawDir::new(dir, &mut buf);
    let mut pids = Vec::new();
    while let Some(entry) = entries.next() {
        if let Some(pid) = parse_decimal(entry?.file_name()) {
            pids.push(pid as u32);
        }
    }
    Ok(pids)
}

fn scan_pids(root: &OwnedFd, pids: &[u32], next: &AtomicUsize, wanted: &HashSet<u64>) -> Part {
    let mut part = Part::default();
    // Reused for every directory so the walk allocates nothing per process or per fd.
    let mut dirbuf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
    let mut path = String::with_capacity(24);
    let mine = std::iter::from_fn(|| pids.get(next.fetch_add(1, Ordering::Relaxed)));
    for &pid in mine {
        path.clear();
        // Writing into a reused String cannot fail and allocates nothing.
        let _ = write!(path, "{pid}/fd");
        let fd_dir = match rustix::fs::openat(
            root,
            path.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ACCESS | Errno::PERM) => {
                part.stats.denied += 1;
                continue;
            }
            // Gone between the listing and now (or a zombie without an fd table).
            Err(_) => {
                part.stats.vanished += 1;
                continue;
            }
        };
        part.stats.processes += 1;
        scan_fd_dir(fd_dir, pid, wanted, &mut dirbuf, &mut part.found);
    }
    part
}

fn scan_fd_dir(
    fd_dir: OwnedFd,
    pid: u32,
    wanted: &HashSet<u64>,
    dirbuf: &mut [MaybeUninit<u8>],
    found: &mut Vec<(u64, u32)>,
) {
    let mut entries = RawDir::new(fd_dir.as_fd(), dirbuf);
    let mut link = [0u8; 64];
    while let Some(entry) = entries.next() {
        // An error mid-listing means the process exited; what was read still counts.
        let Ok(entry) = entry else { break };
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        // Fds closed since the listing, or refused (some kernel-internal fds deny even
        // root), hold nothing we can see: skip them.
        let Ok(len) = rustix::fs::readlinkat_raw(fd_dir.as_fd(), name, &mut link) else {
            continue;
        };
        if let Some(inode) = socket_inode(&link[..len.min(link.len())])
            && wanted.contains(&inode)
        {
            found.push((inode, pid));
        }
    }
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    parse_decimal_bytes(digits)
}

fn parse_decimal(name: &CStr) -> Option<u64> {
    parse_decimal_bytes(name.to_bytes())
}

pub(crate) fn parse_decimal_bytes(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[12a]"), None);
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[99999999999999999999999]"), None);
    }

    #[test]
    fn finds_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = {
            use std::os::fd::AsRawFd;
            let link =
                std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
            socket_inode(link.to_str().unwrap().as_bytes()).unwrap()
        };
        let owners = scan(Path::new("/proc"), &HashSet::from([inode])).unwrap();
        assert_eq!(owners.by_inode[&inode], vec![std::process::id()]);
        assert!(owners.stats.processes > 0);
    }

    #[test]
    fn holding_reads_one_process_afresh() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode = socket_inode(link.to_str().unwrap().as_bytes()).unwrap();
        let me = std::process::id();
        let proc_root = Path::new("/proc");
        let wanted = HashSet::from([inode]);
        assert_eq!(holding(proc_root, me, &wanted), Holding::Holds);
        assert_eq!(
            holding(proc_root, me, &HashSet::from([u64::MAX])),
            Holding::Released
        );
        drop(listener);
        assert_eq!(holding(proc_root, me, &wanted), Holding::Released);
        // Above pid_max: no such process.
        assert_eq!(holding(proc_root, 4_194_305, &wanted), Holding::Gone);
    }
}
