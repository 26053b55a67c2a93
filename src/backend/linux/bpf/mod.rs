//! The owner scan inside the kernel: a BPF `task_file` iterator walks every process's fd
//! table and writes out the sockets, one (inode, pid) record each, in one pass that costs
//! a fraction of a `readlink` per fd through `/proc` (see benches/README.md).
//!
//! Root only (loading a tracing program needs CAP_BPF and CAP_PERFMON), on a kernel with
//! BPF iterators (5.8 and later) and BTF (`/sys/kernel/btf/vmlinux`, which Debian, Ubuntu,
//! Fedora and RHEL kernels have), little-endian and 64-bit; anywhere else, or when any step
//! is refused, the caller scans `/proc` as before. The program reads and writes
//! nothing but its output, and is unloaded when portwho exits.

pub(crate) mod btf;
pub(crate) mod program;
mod sys;

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::OwnedFd;

use thiserror::Error;

use crate::model::{Owners, ScanStats};

/// When to find owners with the kernel's iterator: `PORTWHO_BPF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Choice {
    /// Never: always walk `/proc`.
    Never,
    /// When the host has enough open files for the iterator to be quicker (the default).
    #[default]
    Auto,
    /// Whenever it can be loaded.
    Always,
}

impl Choice {
    /// `never`, `auto` or `always` (`PORTWHO_BPF`'s values); `None` for anything else.
    pub(crate) fn parse(value: &str) -> Option<Choice> {
        match value {
            "never" => Some(Choice::Never),
            "auto" => Some(Choice::Auto),
            "always" => Some(Choice::Always),
            _ => None,
        }
    }
}

/// Below this many open files on the host, walking `/proc` is quicker than starting the
/// iterator (about 2.5 ms: reading BTF, loading the program); measured in
/// benches/README.md.
pub(crate) const MIN_FILES: u64 = 3000;

/// Why the kernel-side scan is not used (`-v` says it).
#[derive(Debug, Error)]
pub(crate) enum Unavailable {
    #[error("PORTWHO_BPF=never")]
    Disabled,
    #[error("not reading the live system")]
    NotLive,
    #[error(
        "{0} open files on the host, fewer than {MIN_FILES}, where walking /proc is quicker \
         (PORTWHO_BPF=always uses the iterator)"
    )]
    FewFiles(u64),
    #[error("not root")]
    NotRoot,
    #[error("not built for this kind of machine")]
    Unsupported,
    #[error("cannot read the kernel's BTF: {0}")]
    Btf(io::Error),
    #[error("the kernel's BTF: {0}")]
    BadBtf(#[from] btf::BtfError),
    #[error("a field offset too large for the program")]
    Layout,
    #[error("cannot {what}: {source}")]
    Kernel {
        what: &'static str,
        source: io::Error,
    },
    /// The verifier refused the program; its log ends with why.
    #[error("the kernel's verifier refused the program ({source}): {reason}")]
    Refused { source: io::Error, reason: String },
    /// The iterator did not list the socket portwho held while it ran: its pids are not
    /// those of this `/proc` (a child pid namespace), or the layout was misread.
    #[error("the iterator did not report portwho's own socket")]
    SelfCheck,
    #[error("loading it panicked")]
    Panicked,
}

/// Whether to use the iterator: as `choice` says (`None`: not the live system), as root
/// only, and for `Auto` only when the host has at least `MIN_FILES` open files (read only
/// then).
pub(crate) fn decide(
    choice: Option<Choice>,
    root: bool,
    open_files: impl FnOnce() -> Option<u64>,
) -> Result<(), Unavailable> {
    match choice {
        None => Err(Unavailable::NotLive),
        Some(Choice::Never) => Err(Unavailable::Disabled),
        Some(_) if !root => Err(Unavailable::NotRoot),
        Some(Choice::Always) => Ok(()),
        Some(Choice::Auto) => match open_files() {
            Some(files) if files < MIN_FILES => Err(Unavailable::FewFiles(files)),
            // Unreadable: try it; a refusal still falls back.
            _ => Ok(()),
        },
    }
}

/// The license the kernel asks of programs that call `bpf_seq_write`.
const LICENSE: &std::ffi::CStr = c"Dual MIT/GPL";

/// A loaded and attached iterator, ready to run.
pub(crate) struct Prepared {
    link: OwnedFd,
    /// Kept open while the link exists.
    _program: OwnedFd,
}

/// Load and attach the iterator. Independent of which sockets are wanted, so it can run
/// beside the socket dump.
pub(crate) fn prepare() -> Result<Prepared, Unavailable> {
    if !cfg!(all(target_endian = "little", target_pointer_width = "64")) {
        return Err(Unavailable::Unsupported);
    }
    if !rustix::process::geteuid().is_root() {
        return Err(Unavailable::NotRoot);
    }
    let btf = std::fs::File::open("/sys/kernel/btf/vmlinux").map_err(Unavailable::Btf)?;
    let layout = btf::layout(&btf)?;
    let program = program::task_file(&layout).ok_or(Unavailable::Layout)?;
    let loaded = load(&program, layout.iter_func)?;
    let link = sys::attach_iterator(&loaded).map_err(kernel("attach the iterator"))?;
    Ok(Prepared {
        link,
        _program: loaded,
    })
}

/// A failed step, with what it was doing.
fn kernel(what: &'static str) -> impl Fn(io::Error) -> Unavailable {
    move |source| Unavailable::Kernel { what, source }
}

/// Load the program. When the kernel refuses it for another reason than privilege, load it
/// again with the verifier's log on, so `-v` can say why (only then: the log costs time).
fn load(program: &[program::Insn], attach_to: u32) -> Result<OwnedFd, Unavailable> {
    let refused = match sys::load_iterator(program, attach_to, LICENSE, None) {
        Ok(fd) => return Ok(fd),
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) =>
        {
            e
        }
        Err(source) => return Err(kernel("load the iterator program")(source)),
    };
    let mut log = vec![0u8; 64 * 1024];
    if let Ok(fd) = sys::load_iterator(program, attach_to, LICENSE, Some(&mut log)) {
        return Ok(fd);
    }
    let text =
        String::from_utf8_lossy(&log[..memchr::memchr(0, &log).unwrap_or(log.len())]).into_owned();
    // The last two lines say what failed; the verifier's statistics line comes after them.
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with("processed "))
        .collect();
    let reason = lines[lines.len().saturating_sub(2)..].join("; ");
    Err(Unavailable::Refused {
        source: refused,
        reason: if reason.is_empty() {
            "no log".to_string()
        } else {
            reason
        },
    })
}

/// What the iterator told of each process holding a wanted socket, by pid.
pub(crate) type Tasks = crate::hash::IntMap<u32, program::Task>;

/// Run the iterator once and keep the holders of the `wanted` inodes, and what it told of
/// them. `holder` hears of each holder as soon as it is found, while the scan goes on.
pub(crate) fn scan(
    prepared: &Prepared,
    wanted: &HashSet<u64>,
    mut holder: impl FnMut(u32, program::Task),
) -> Result<(Owners, Tasks), Unavailable> {
    // A socket of portwho's own, open while the iterator runs: it must come back with
    // portwho's pid, or the records cannot be trusted.
    let own = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(|e| kernel("open a socket")(e.into()))?;
    let own_inode = rustix::fs::fstat(&own)
        .map_err(|e| kernel("stat a socket")(e.into()))?
        .st_ino;
    let me = std::process::id();
    let mut iterator = std::fs::File::from(
        sys::open_iterator(&prepared.link).map_err(kernel("start the iterator"))?,
    );

    let mut found = Vec::new();
    let mut tasks = Tasks::default();
    let mut pids = crate::hash::IntMap::<u32, ()>::default();
    let mut own_task = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    loop {
        let n = match iterator.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            // EAGAIN: a read that met a million files without a socket; the next goes on.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            Err(e) => return Err(kernel("read the iterator")(e)),
        };
        filled += n;
        let whole = filled - filled % program::RECORD_LEN;
        for record in program::records(&buf[..whole]) {
            let (inode, pid) = (record.inode, record.pid);
            pids.insert(pid, ());
            if inode == own_inode && pid == me {
                own_task = Some(record.task);
            }
            if wanted.contains(&inode) {
                found.push((inode, pid));
                if tasks.insert(pid, record.task).is_none() {
                    holder(pid, record.task);
                }
            }
        }
        buf.copy_within(whole..filled, 0);
        filled -= whole;
    }
    drop(own);
    if !own_task.is_some_and(is_portwho) {
        return Err(Unavailable::SelfCheck);
    }

    // portwho itself holds the check's socket; it is not one of the processes counted.
    pids.remove(&me);
    let mut owners = Owners {
        stats: ScanStats {
            processes: pids.len(),
            kernel_iterator: true,
            ..ScanStats::default()
        },
        ..Owners::default()
    };
    owners.by_inode.reserve(found.len());
    for (inode, pid) in found {
        owners.by_inode.entry(inode).or_default().push(pid);
    }
    for pids in owners.by_inode.values_mut() {
        // Several fds, or threads with fd tables of their own, may hold the same socket.
        pids.sort_unstable();
        pids.dedup();
    }
    Ok((owners, tasks))
}

/// Whether the record of portwho's own socket tells portwho's parent, user and a start
/// before now: a record misread would not.
fn is_portwho(task: program::Task) -> bool {
    let since_boot = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let now_ns = u64::try_from(since_boot.tv_sec).unwrap_or(0) * 1_000_000_000
        + u64::try_from(since_boot.tv_nsec).unwrap_or(0);
    Some(task.ppid) == rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32)
        && task.euid == rustix::process::geteuid().as_raw()
        && task.start_ns > 0
        && task.start_ns <= now_ns
        && !task.name().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn inode_of(fd: impl AsFd) -> u64 {
        rustix::fs::fstat(fd).unwrap().st_ino
    }

    /// A program the verifier refuses (it reads r2 before writing it) is refused with the
    /// verifier's own words.
    #[test]
    fn a_refused_program_says_why() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let Ok(btf) = std::fs::File::open("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no BTF");
            return;
        };
        let layout = btf::layout(&btf).unwrap();
        let good = program::task_file(&layout).unwrap();
        drop(load(&good, layout.iter_func).unwrap());
        // r0 = r2; exit
        let bad = [0x20bf, 0x95];
        match load(&bad, layout.iter_func) {
            Err(Unavailable::Refused { reason, .. }) => {
                assert!(reason.contains("R2 !read_ok"), "{reason}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn auto_uses_the_iterator_from_min_files_on() {
        let never_read = || -> Option<u64> { panic!("read the file count") };
        assert!(matches!(
            decide(None, true, never_read),
            Err(Unavailable::NotLive)
        ));
        assert!(matches!(
            decide(Some(Choice::Never), true, never_read),
            Err(Unavailable::Disabled)
        ));
        assert!(decide(Some(Choice::Always), true, never_read).is_ok());
        for choice in [Choice::Always, Choice::Auto] {
            assert!(matches!(
                decide(Some(choice), false, never_read),
                Err(Unavailable::NotRoot)
            ));
        }
        let auto = |files| decide(Some(Choice::Auto), true, || files);
        assert!(
            matches!(auto(Some(MIN_FILES - 1)), Err(Unavailable::FewFiles(n)) if n == MIN_FILES - 1)
        );
        assert!(auto(Some(MIN_FILES)).is_ok());
        assert!(auto(None).is_ok());
        assert_eq!(
            ["never", "auto", "always", "", "Always", "1"].map(Choice::parse),
            [
                Some(Choice::Never),
                Some(Choice::Auto),
                Some(Choice::Always),
                None,
                None,
                None
            ]
        );
    }

    /// As root on a kernel with BTF, the iterator finds this process's own
    /// sockets, and the holders it finds for them are those the /proc scan finds; what it
    /// tells of this process is what /proc tells.
    #[test]
    fn finds_what_the_proc_scan_finds() {
        let prepared = match prepare() {
            Ok(prepared) => prepared,
            Err(why @ (Unavailable::NotRoot | Unavailable::Btf(_) | Unavailable::Unsupported)) => {
                eprintln!("skipped: {why}");
                return;
            }
            Err(why) => panic!("{why}"),
        };
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpListener::bind("[::1]:0")
            .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let wanted: HashSet<u64> = [inode_of(&udp), inode_of(&tcp)].into_iter().collect();
        let mut heard = Vec::new();
        let (owners, tasks) =
            scan(&prepared, &wanted, |pid, task| heard.push((pid, task))).unwrap();
        let me = std::process::id();
        for inode in &wanted {
            assert_eq!(owners.by_inode.get(inode), Some(&vec![me]), "{inode}");
        }
        assert!(owners.stats.kernel_iterator);
        let through_proc = crate::backend::linux::owners::scan("/proc".as_ref(), &wanted).unwrap();
        assert_eq!(owners.by_inode, through_proc.by_inode);
        // A second run of the same loaded program answers the same.
        assert_eq!(
            scan(&prepared, &wanted, |_, _| {}).unwrap().0.by_inode,
            owners.by_inode
        );
        // Each holder was told of once, with what the scan keeps of it.
        assert_eq!(heard, [(me, tasks[&me])]);
        // What it tells of this process is what /proc tells.
        let stat = std::fs::read("/proc/self/stat").unwrap();
        let stat = crate::backend::linux::process::parse_stat(&stat).unwrap();
        let task = tasks[&me];
        assert_eq!(task.name(), stat.comm.as_bytes());
        assert_eq!(Some(task.ppid), stat.ppid);
        let ticks = rustix::param::clock_ticks_per_second();
        assert_eq!(task.start_ns / (1_000_000_000 / ticks), stat.start_ticks);
        assert_eq!(task.euid, rustix::process::geteuid().as_raw());
        assert_eq!(tasks.len(), 1);
    }
}
