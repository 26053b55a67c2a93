//! Details of the processes that are shown: name, command line, user, executable, working
//! directory, start time and parent chain.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use super::bpf::program::Task;
use crate::model::Detail;
use crate::model::{Ancestor, Manager, Process};

/// How far up the parent chain to go; real chains are a handful deep, a loop is a bug.
const MAX_ANCESTORS: usize = 32;

/// Facts shared by every process of one run, read once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clock {
    /// Boot time, seconds since the Unix epoch (`btime` in `/proc/stat`).
    pub boot_time: Option<u64>,
    pub ticks_per_second: u64,
}

/// Where a process's effective uid is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uids {
    /// The owner of `/proc/PID`, as `ps` reads it: procfs makes that directory owned by
    /// the process's effective uid (it alone is exempt from the rule that gives a
    /// non-dumpable process's files to root, so that one `stat` answers). About 1 µs a
    /// process, against 7 µs to open and read the start of `status`.
    Owner,
    /// The `Uid:` line of `status`: for a proc tree that is not procfs (a captured copy),
    /// whose directories belong to whoever copied them.
    Status,
}

impl Uids {
    /// How to read the uids under `proc_root`.
    pub(crate) fn of(proc_root: &Path) -> Uids {
        match rustix::fs::statfs(proc_root) {
            Ok(fs) if fs.f_type == rustix::fs::PROC_SUPER_MAGIC => Uids::Owner,
            _ => Uids::Status,
        }
    }
}

impl Clock {
    pub(crate) fn read(proc_root: &Path) -> Clock {
        let boot_time = std::fs::read_to_string(proc_root.join("stat"))
            .ok()
            .and_then(|text| parse_btime(&text));
        Clock {
            boot_time,
            ticks_per_second: rustix::param::clock_ticks_per_second(),
        }
    }

    /// A process's start time (`starttime`, clock ticks since boot) as Unix seconds.
    fn start(&self, ticks: u64) -> Option<u64> {
        Some(self.boot_time? + ticks / self.ticks_per_second.max(1))
    }

    /// Nanoseconds since boot in clock ticks, rounded down as `stat`'s `starttime` is.
    fn ticks(&self, ns: u64) -> u64 {
        ns / (1_000_000_000 / self.ticks_per_second.clamp(1, 1_000_000_000))
    }
}

fn parse_btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|n| n.trim().parse().ok())
}

/// Read one process's details, or `None` when it has exited.
///
/// What the owner scan already told of it (`known`: the kernel's iterator's name, parent,
/// start, user and whether the executable was deleted) is not read again: the plain table
/// and the findings then read nothing at all.
///
/// A process can put anything in its name and arguments, and another user's files may be
/// unreadable: a field that cannot be read stays empty rather than hiding the pid.
pub(crate) fn read(
    proc_root: &Path,
    pid: u32,
    detail: Detail,
    known: Option<&Task>,
    clock: &Clock,
    uids: Uids,
    seen: &mut Seen,
) -> Option<Process> {
    let (dir, process, start_ticks) = match known {
        Some(task) => {
            let process = Process {
                pid,
                // The same bytes `stat` and `comm` print.
                name: String::from_utf8_lossy(task.name()).into_owned(),
                uid: Some(task.euid),
                ppid: Some(task.ppid).filter(|&p| p != 0),
                ..Process::default()
            };
            match detail {
                Detail::Names => return Some(process),
                // The findings need only whether the executable was deleted, not its path.
                Detail::Exe | Detail::Judged => {
                    return Some(Process {
                        exe_deleted: task.exe_deleted,
                        ..process
                    });
                }
                Detail::Brief | Detail::Full => {}
            }
            // Without its directory, it has exited.
            let dir = Dir::open(&proc_root.join(pid.to_string())).ok()?;
            (dir, process, Some(clock.ticks(task.start_ns)))
        }
        None => from_proc(proc_root, pid, detail, uids)?,
    };
    let context = Context { proc_root, clock };
    Some(more(
        &dir,
        process,
        detail,
        start_ticks,
        &context,
        seen,
        known,
    ))
}

/// A process's name, user and (when `detail` reads `stat` anyway) parent and start, from
/// its `/proc` directory, which is kept open for the rest.
fn from_proc(
    proc_root: &Path,
    pid: u32,
    detail: Detail,
    uids: Uids,
) -> Option<(Dir, Process, Option<u64>)> {
    // Without its directory, it has exited.
    let dir = Dir::open(&proc_root.join(pid.to_string())).ok()?;
    let mut bytes = Vec::new();
    // Beyond the name, `stat` is read anyway (parent, start time) and holds the same name
    // as `comm` (both print the task's comm unescaped): one file read instead of two.
    let stat = match detail {
        Detail::Names | Detail::Brief | Detail::Exe => None,
        // Without it (a captured tree may lack it), `comm` names the process and says
        // whether it exited.
        Detail::Judged | Detail::Full => dir
            .all("stat", &mut bytes)
            .ok()
            .and_then(|()| parse_stat(&bytes)),
    };
    let name = match &stat {
        Some(stat) => stat.comm.clone(),
        // Every process has a comm; without one, it has exited. comm is at most 16 bytes.
        None => match dir.head("comm", &mut [0; 64]) {
            Ok(bytes) => decode_comm(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(_) => String::new(),
        },
    };
    let process = Process {
        pid,
        name,
        uid: read_uid(&dir, uids),
        ppid: stat.as_ref().and_then(|s| s.ppid),
        ..Process::default()
    };
    Some((dir, process, stat.map(|s| s.start_ticks)))
}

/// What `detail` asks for beyond the name, user and parent.
fn more(
    dir: &Dir,
    process: Process,
    detail: Detail,
    start_ticks: Option<u64>,
    context: &Context,
    seen: &mut Seen,
    known: Option<&Task>,
) -> Process {
    match detail {
        Detail::Names => process,
        Detail::Exe | Detail::Judged => with_exe(dir.link("exe"), process),
        Detail::Brief => {
            let mut bytes = Vec::new();
            let cmdline = match dir.all("cmdline", &mut bytes) {
                Ok(()) => decode_cmdline(&bytes),
                Err(_) => Vec::new(),
            };
            Process { cmdline, ..process }
        }
        Detail::Full => full(dir, process, start_ticks, context, seen, known),
    }
}

/// What `Detail::Full` reads besides the rest, shared by every process of one run.
struct Context<'a> {
    proc_root: &'a Path,
    clock: &'a Clock,
}

/// `Detail::Full`: the command line, executable, working directory, start time, cgroup
/// and parent chain.
fn full(
    dir: &Dir,
    process: Process,
    start_ticks: Option<u64>,
    context: &Context,
    seen: &mut Seen,
    known: Option<&Task>,
) -> Process {
    let mut bytes = Vec::new();
    let cmdline = match dir.all("cmdline", &mut bytes) {
        Ok(()) => decode_cmdline(&bytes),
        Err(_) => Vec::new(),
    };
    let cwd = seen.link(dir, "cwd", known.map(|t| t.cwd));
    let manager = seen.cgroup(dir, known.map(|t| t.cgroups));
    seen.names
        .insert(process.pid, (process.name.clone(), process.ppid));
    let process = with_exe(seen.link(dir, "exe", known.map(|t| t.exe)), process);
    Process {
        cwd,
        started: start_ticks.and_then(|ticks| context.clock.start(ticks)),
        ancestors: ancestors(context.proc_root, process.ppid, &mut seen.names),
        manager,
        proxy: super::cgroup::docker_proxy_target(&cmdline),
        cmdline,
        ..process
    }
}

/// What one reading thread has read that other processes share: the names and parents of
/// the parent chains, and the cgroups, executables and working directories that the
/// kernel's iterator says are the same object for several processes (forked workers share
/// all three). Only what was read is kept: a process that exited meanwhile leaves nothing
/// for the others.
#[derive(Default)]
pub(crate) struct Seen {
    names: HashMap<u32, (String, Option<u32>)>,
    cgroups: HashMap<u64, Manager>,
    /// Link targets by (dentry, mount): the same path, whoever's link it is.
    links: HashMap<(u64, u64), String>,
}

impl Seen {
    /// A link of `dir`, or the same one read for another process.
    fn link(&mut self, dir: &Dir, name: &str, same: Option<(u64, u64)>) -> Option<String> {
        let Some(same) = same.filter(|&(dentry, mount)| dentry != 0 && mount != 0) else {
            return dir.link(name);
        };
        if let Some(known) = self.links.get(&same) {
            return Some(known.clone());
        }
        let target = dir.link(name)?;
        self.links.insert(same, target.clone());
        Some(target)
    }

    /// The unit and container of `dir`'s cgroups, or those read for another process in
    /// the same ones.
    fn cgroup(&mut self, dir: &Dir, same: Option<u64>) -> Manager {
        let same = same.filter(|&set| set != 0);
        if let Some(known) = same.and_then(|set| self.cgroups.get(&set)) {
            return known.clone();
        }
        let mut bytes = Vec::new();
        match dir.all("cgroup", &mut bytes) {
            Ok(()) => {
                // Cgroup names are whatever their creator chose; one odd byte must not hide
                // the rest.
                let manager = super::cgroup::parse(&String::from_utf8_lossy(&bytes));
                if let Some(set) = same {
                    self.cgroups.insert(set, manager.clone());
                }
                manager
            }
            Err(_) => Manager::default(),
        }
    }
}

/// The effective uid, as `ps` shows it: a setuid or privilege-dropping server runs as it.
fn read_uid(dir: &Dir, uids: Uids) -> Option<u32> {
    match uids {
        Uids::Owner => dir.owner(),
        // The Uid line is the ninth, well inside the first kilobyte; the rest is not read.
        Uids::Status => {
            let mut buf = [0; 1024];
            let head = dir.head("status", &mut buf).ok()?;
            effective_uid(whole_lines(head, head.len() == 1024)).or_else(|| {
                let mut all = Vec::new();
                dir.all("status", &mut all).ok()?;
                effective_uid(&all)
            })
        }
    }
}

/// The executable (`link`, `exe`'s target), and whether it was deleted or replaced on disk.
fn with_exe(link: Option<String>, process: Process) -> Process {
    let (exe, exe_deleted) = match link {
        Some(path) => split_deleted(&path),
        None => (None, false),
    };
    Process {
        exe,
        exe_deleted,
        ..process
    }
}

/// A process's `/proc/PID`, opened once: each of its files is then opened by its name
/// alone, where a path walked `/proc`, found the pid and checked it again for every file,
/// and read in as few calls as it takes (`fs::read` asks for the size, which procfs does
/// not know, then reads 32 bytes, then more). Together a third of reading a shown
/// process's details for `--json`.
struct Dir(rustix::fd::OwnedFd);

impl Dir {
    fn open(path: &Path) -> io::Result<Dir> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(Dir(rustix::fs::open(path, flags, Mode::empty())?))
    }

    fn file(&self, name: &str) -> io::Result<std::fs::File> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(
            &self.0,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(std::fs::File::from(fd))
    }

    /// The start of a small file: one `read` into `buf`. A procfs file hands over as much
    /// as fits in one call.
    fn head<'a>(&self, name: &str, buf: &'a mut [u8]) -> io::Result<&'a [u8]> {
        use std::io::Read;
        let n = self.file(name)?.read(buf)?;
        Ok(&buf[..n])
    }

    /// A whole file into `out` (cleared first). The files read this way (`stat`, `status`,
    /// `cgroup`: one record each; `cmdline`) hand over as much as fits in one `read`, so a
    /// read that leaves room is the end: one call for most, where `read_to_end` asks for
    /// the size (which procfs does not know), then the position, and reads once more to
    /// find the end. Not for files of many records (`/proc/net/tcp`), which may stop short.
    fn all(&self, name: &str, out: &mut Vec<u8>) -> io::Result<()> {
        use std::io::Read;
        out.clear();
        let mut file = self.file(name)?;
        let mut chunk = [0; 4096];
        loop {
            let n = match file.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.extend_from_slice(&chunk[..n]);
            if n < chunk.len() {
                return Ok(());
            }
        }
    }

    /// Where a link in it points, with invalid UTF-8 replaced; `None` when it cannot be
    /// read (another user's process, a kernel thread).
    fn link(&self, name: &str) -> Option<String> {
        let target = rustix::fs::readlinkat(&self.0, name, Vec::new()).ok()?;
        Some(String::from_utf8_lossy(target.as_bytes()).into_owned())
    }

    /// The owner of the directory: procfs makes it the process's effective uid.
    fn owner(&self) -> Option<u32> {
        rustix::fs::fstat(&self.0).ok().map(|st| st.st_uid)
    }
}

/// `text` without a last line the buffer may have cut short.
fn whole_lines(text: &[u8], maybe_cut: bool) -> &[u8] {
    if !maybe_cut {
        return text;
    }
    match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => &text[..=end],
        None => &[],
    }
}

/// The parent chain up to pid 1, nearest first. `names` caches (name, ppid) per pid, since
/// the processes of one run mostly share their ancestors.
fn ancestors(
    proc_root: &Path,
    mut next: Option<u32>,
    names: &mut HashMap<u32, (String, Option<u32>)>,
) -> Vec<Ancestor> {
    let mut chain = Vec::new();
    while let Some(pid) = next {
        if chain.len() >= MAX_ANCESTORS || chain.iter().any(|a: &Ancestor| a.pid == pid) {
            break;
        }
        let known = names.get(&pid).cloned();
        let (name, ppid) = match known {
            Some(entry) => entry,
            None => {
                let Some(entry) = read_stat_name(proc_root, pid) else {
                    break;
                };
                names.insert(pid, entry.clone());
                entry
            }
        };
        chain.push(Ancestor { pid, name });
        next = ppid;
    }
    chain
}

/// `/proc/PID/status` through procfs's parser, given the text with invalid UTF-8 replaced:
/// its `Name:` line is the process's own choice, and procfs refuses the whole file when one
/// byte is not UTF-8, which would hide the user of any process that names itself so.
pub(crate) fn status(dir: &Path) -> Option<procfs::process::Status> {
    use procfs::FromRead;
    let bytes = std::fs::read(dir.join("status")).ok()?;
    procfs::process::Status::from_read(String::from_utf8_lossy(&bytes).as_bytes()).ok()
}

/// The effective uid from `/proc/PID/status` text: the second number of its `Uid:` line.
/// Only this line is parsed, so the process's own `Name:` (any bytes) cannot get in the way,
/// and the shown rows do not pay for parsing fifty fields they never use.
pub(crate) fn effective_uid(status: &[u8]) -> Option<u32> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Uid:"))?;
    let text = std::str::from_utf8(line).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Whether this process has a capability in its effective set (`capabilities(7)` numbers).
pub(crate) fn has_capability(cap: u32) -> bool {
    status(Path::new("/proc/self")).is_some_and(|status| status.capeff & (1 << cap) != 0)
}

/// (comm, ppid) from `/proc/PID/stat`.
fn read_stat_name(proc_root: &Path, pid: u32) -> Option<(String, Option<u32>)> {
    let stat = read_stat(&proc_root.join(pid.to_string()))?;
    Some((stat.comm, stat.ppid))
}

fn read_stat(dir: &Path) -> Option<Stat> {
    parse_stat(&std::fs::read(dir.join("stat")).ok()?)
}

/// The fields portwho uses of `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    /// `None` for pid 1 and kernel threads, whose parent is 0.
    pub ppid: Option<u32>,
    /// Clock ticks from boot to the start of the process.
    pub start_ticks: u64,
}

/// Parse `/proc/PID/stat`: `pid (comm) state ppid ... starttime ...`.
///
/// The name may hold spaces and parentheses, so it runs from the first `(` to the last `)`.
/// Ours rather than procfs's `Stat`, whose parser panics on some malformed input (found by
/// the `process` fuzz target; the inputs are `fixtures/linux/fuzz/stat-*`): a captured tree
/// given to `--proc-root` can hold anything.
pub fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let pid = bytes.get(..open)?.strip_suffix(b" ")?;
    if pid.is_empty() || !pid.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let comm = bytes.get(open + 1..close)?;
    let rest = bytes.get(close + 1..)?.strip_prefix(b" ")?;
    let mut fields = rest.split(|&b| b == b' ');
    let mut field = |n: usize| -> Option<&str> { std::str::from_utf8(fields.nth(n)?).ok() };
    // After the name: state (3rd field of the line), ppid (4th), ..., starttime (22nd).
    let ppid: i64 = field(1)?.parse().ok()?;
    let start_ticks = field(17)?.trim_end().parse().ok()?;
    Some(Stat {
        comm: String::from_utf8_lossy(comm).into_owned(),
        ppid: u32::try_from(ppid).ok().filter(|&p| p != 0),
        start_ticks,
    })
}

/// The kernel appends " (deleted)" to the link of an executable removed or replaced on disk.
fn split_deleted(link: &str) -> (Option<String>, bool) {
    match link.strip_suffix(" (deleted)") {
        Some(path) => (Some(path.to_string()), true),
        None => (Some(link.to_string()), false),
    }
}

/// `comm` ends with one newline the kernel adds.
pub fn decode_comm(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Arguments are NUL-terminated; empty arguments are real arguments and are kept.
pub fn decode_cmdline(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    bytes
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

#[cfg(test)]
// The tests write scratch proc files; portwho itself writes none (clippy.toml).
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_keeps_empty_arguments() {
        assert_eq!(
            decode_cmdline(b"python3\0-c\0\0x\0"),
            vec!["python3", "-c", "", "x"]
        );
        assert_eq!(decode_cmdline(b""), Vec::<String>::new());
        // A process that rewrote its title without NULs.
        assert_eq!(
            decode_cmdline(b"nginx: worker process"),
            vec!["nginx: worker process"]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(decode_comm(b"ab\xffc\n"), "ab\u{fffd}c");
    }

    #[test]
    fn stat_fields() {
        let fixture = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/basic/20371/stat"),
        )
        .unwrap();
        let stat = parse_stat(&fixture).unwrap();
        assert_eq!(
            stat,
            Stat {
                comm: "python3".into(),
                ppid: Some(20368),
                start_ticks: 298115
            }
        );
        // A name can hold spaces, parentheses and invalid UTF-8; pid 1 has no parent.
        let odd = b"1 (a) b\xff (c)) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0\n";
        assert_eq!(
            parse_stat(odd),
            Some(Stat {
                comm: "a) b\u{fffd} (c)".into(),
                ppid: None,
                start_ticks: 77
            })
        );
        for bad in [&b""[..], b"1 (a)", b"1 (a) S", b"1 a) S 2 (", b"1 (a)S 2"] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    /// The inputs that panic procfs's stat parser are refused by ours, without a panic.
    #[test]
    fn stat_inputs_found_by_fuzzing() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/fuzz");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("stat-")
            {
                assert_eq!(parse_stat(&std::fs::read(&path).unwrap()), None, "{path:?}");
                seen += 1;
            }
        }
        assert!(seen >= 3);
    }

    /// On what the kernel writes, ours and procfs's parsers agree.
    #[test]
    fn stat_agrees_with_procfs() {
        use procfs::FromRead;
        let basic = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/basic");
        let mut files = vec![std::path::PathBuf::from("/proc/self/stat")];
        files.extend(["20370", "20371", "20484"].map(|pid| basic.join(pid).join("stat")));
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let theirs = procfs::process::Stat::from_read(&bytes[..]).unwrap();
            let ours = parse_stat(&bytes).unwrap();
            assert_eq!(ours.comm, theirs.comm, "{file:?}");
            assert_eq!(
                ours.ppid,
                u32::try_from(theirs.ppid).ok().filter(|&p| p != 0)
            );
            assert_eq!(ours.start_ticks, theirs.starttime, "{file:?}");
        }
    }

    /// A name that is not UTF-8 must not cost the process its user.
    #[test]
    fn status_with_a_hostile_name() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/basic/20371");
        let good = std::fs::read(fixture.join("status")).unwrap();
        let euid = status(&fixture).unwrap().euid;
        let dir = std::env::temp_dir().join(format!("portwho-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = String::from_utf8(good).unwrap();
        let (_, rest) = text.split_once('\n').unwrap();
        let mut hostile = b"Name:\tpw\xff\xfe\\033]0;x\n".to_vec();
        hostile.extend_from_slice(rest.as_bytes());
        std::fs::write(dir.join("status"), hostile).unwrap();
        assert_eq!(status(&dir).map(|s| s.euid), Some(euid));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn deleted_executables() {
        assert_eq!(
            split_deleted("/usr/sbin/nginx (deleted)"),
            (Some("/usr/sbin/nginx".into()), true)
        );
        assert_eq!(
            split_deleted("/usr/bin/x"),
            (Some("/usr/bin/x".into()), false)
        );
    }

    #[test]
    fn a_cut_status_line_is_not_read() {
        let status = b"Name:\tx\nUid:\t1000\t33\t33\t33\nGid:\t0\t0\t0\t0\n";
        // Cut after "Uid:\t1000\t3": the effective uid is not 3.
        let cut = &status[..19];
        assert!(cut.ends_with(b"\t3"));
        assert_eq!(effective_uid(whole_lines(cut, true)), None);
        assert_eq!(effective_uid(whole_lines(status, true)), Some(33));
        assert_eq!(effective_uid(whole_lines(status, false)), Some(33));
    }

    #[test]
    fn effective_uid_from_status() {
        let status = b"Name:\tev\xffil\nUmask:\t0022\nUid:\t1000\t33\t33\t33\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(33));
        assert_eq!(effective_uid(b"Name:\tx\nUid:\t1000\n"), None);
        assert_eq!(effective_uid(b"Uid:\tzz\tyy\n"), None);
        assert_eq!(effective_uid(b""), None);
        let real = std::fs::read("/proc/self/status").unwrap();
        assert_eq!(
            effective_uid(&real),
            Some(rustix::process::geteuid().as_raw())
        );
    }

    /// procfs owns `/proc/PID` by the effective uid; a copied tree is read through status.
    #[test]
    fn uids_from_the_owner_on_procfs_and_from_status_in_a_copy() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/basic");
        assert_eq!(Uids::of(Path::new("/proc")), Uids::Owner);
        assert_eq!(Uids::of(&fixtures), Uids::Status);
        let clock = Clock::default();
        let copied = read(
            &fixtures,
            20371,
            Detail::Names,
            None,
            &clock,
            Uids::Status,
            &mut Seen::default(),
        );
        assert_eq!(copied.unwrap().uid, Some(65534));
        // On the live /proc both ways agree, for this process and for init.
        for pid in [std::process::id(), 1] {
            let uid = |uids| {
                read(
                    Path::new("/proc"),
                    pid,
                    Detail::Names,
                    None,
                    &clock,
                    uids,
                    &mut Seen::default(),
                )
                .and_then(|p| p.uid)
            };
            assert_eq!(uid(Uids::Owner), uid(Uids::Status), "pid {pid}");
            assert!(uid(Uids::Owner).is_some());
        }
    }

    #[test]
    fn boot_time() {
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_btime("cpu 1 2\n"), None);
        let clock = Clock {
            boot_time: Some(1000),
            ticks_per_second: 100,
        };
        assert_eq!(clock.start(250), Some(1002));
    }

    #[test]
    fn reads_self_with_parents() {
        let clock = Clock::read(Path::new("/proc"));
        let me = read(
            Path::new("/proc"),
            std::process::id(),
            Detail::Full,
            None,
            &clock,
            Uids::of(Path::new("/proc")),
            &mut Seen::default(),
        )
        .unwrap();
        assert!(!me.name.is_empty());
        assert!(!me.cmdline.is_empty());
        assert_eq!(me.uid, Some(rustix::process::geteuid().as_raw()));
        assert_eq!(me.ppid, Some(std::os::unix::process::parent_id()));
        assert_eq!(me.ancestors[0].pid, std::os::unix::process::parent_id());
        assert!(me.exe.is_some() && !me.exe_deleted);
        assert_eq!(me.cwd.as_deref(), std::env::current_dir().unwrap().to_str());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let started = me.started.unwrap();
        assert!(
            started <= now + 1 && now - started < 3600,
            "{started} vs {now}"
        );
    }

    /// Beyond `Names` and `Brief` the name comes from `stat`, not `comm`: the same name at
    /// every level, for a live process and for one named with spaces and parentheses.
    #[test]
    fn every_level_names_a_process_alike() {
        let root = std::env::temp_dir().join(format!("portwho-names-{}", std::process::id()));
        let dir = root.join("7");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("comm"), b"a) (b \xff\n").unwrap();
        std::fs::write(
            dir.join("stat"),
            b"7 (a) (b \xff) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0\n",
        )
        .unwrap();
        let clock = Clock::read(Path::new("/proc"));
        let levels = [
            Detail::Names,
            Detail::Brief,
            Detail::Exe,
            Detail::Judged,
            Detail::Full,
        ];
        for (proc_root, pid) in [(Path::new("/proc"), std::process::id()), (&*root, 7)] {
            let names: Vec<String> = levels
                .iter()
                .map(|&level| {
                    let uids = Uids::of(proc_root);
                    let p = read(
                        proc_root,
                        pid,
                        level,
                        None,
                        &clock,
                        uids,
                        &mut Seen::default(),
                    );
                    p.unwrap().name
                })
                .collect();
            assert!(!names[0].is_empty());
            assert!(names.iter().all(|n| *n == names[0]), "{names:?}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A file longer than one read (a long command line) is read to its end.
    #[test]
    fn whole_files_longer_than_one_read() {
        let root = std::env::temp_dir().join(format!("portwho-long-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let text: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for len in [0, 1, 4095, 4096, 4097, 8192, 10_000] {
            std::fs::write(root.join("cmdline"), &text[..len]).unwrap();
            let mut out = vec![1, 2, 3];
            Dir::open(&root).unwrap().all("cmdline", &mut out).unwrap();
            assert_eq!(out, &text[..len], "{len} bytes");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A process said to share its cgroups, executable and directory with one read before
    /// is given what was read for that one (here its own files say otherwise, so the
    /// answer tells which was used); what could not be read is read again for the next.
    #[test]
    fn shared_objects_are_read_once_and_failures_not_kept() {
        let root = std::env::temp_dir().join(format!("portwho-seen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (pid, unit) in [(1, "a.service"), (2, "b.service"), (3, "c.service")] {
            let dir = root.join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cgroup"), format!("0::/system.slice/{unit}\n")).unwrap();
            std::os::unix::fs::symlink(format!("/usr/bin/{unit}"), dir.join("exe")).unwrap();
        }
        // Process 4 has neither: nothing of it can be read.
        std::fs::create_dir_all(root.join("4")).unwrap();
        let dir = |pid: u32| Dir::open(&root.join(pid.to_string())).unwrap();
        let unit = |m: Manager| m.unit.unwrap_or_default();
        let mut seen = Seen::default();

        assert_eq!(unit(seen.cgroup(&dir(1), Some(7))), "a.service");
        assert_eq!(unit(seen.cgroup(&dir(2), Some(7))), "a.service");
        assert_eq!(unit(seen.cgroup(&dir(2), Some(8))), "b.service");
        // Unknown (0) or not told: read.
        assert_eq!(unit(seen.cgroup(&dir(3), Some(0))), "c.service");
        assert_eq!(unit(seen.cgroup(&dir(3), None)), "c.service");
        assert_eq!(unit(seen.cgroup(&dir(4), Some(9))), "");
        assert_eq!(unit(seen.cgroup(&dir(3), Some(9))), "c.service");

        let exe = |seen: &mut Seen, pid, same| seen.link(&dir(pid), "exe", same);
        assert_eq!(
            exe(&mut seen, 1, Some((5, 6))).unwrap(),
            "/usr/bin/a.service"
        );
        assert_eq!(
            exe(&mut seen, 2, Some((5, 6))).unwrap(),
            "/usr/bin/a.service"
        );
        assert_eq!(
            exe(&mut seen, 2, Some((5, 7))).unwrap(),
            "/usr/bin/b.service"
        );
        assert_eq!(
            exe(&mut seen, 3, Some((0, 6))).unwrap(),
            "/usr/bin/c.service"
        );
        assert_eq!(exe(&mut seen, 4, Some((1, 1))), None);
        assert_eq!(
            exe(&mut seen, 3, Some((1, 1))).unwrap(),
            "/usr/bin/c.service"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
