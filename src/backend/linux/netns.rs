//! Every network namespace on the host: finding them (one pass over `/proc`, and the files
//! `ip netns` and docker keep under `/run`), naming one (`--netns NAME|PID`), and reading
//! one's sockets from a short-lived thread that enters it.
//!
//! `ss` and `lsof` see only their own namespace. The main thread never changes namespace:
//! a thread that entered another one reads its tables and ends, and its namespace with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::{netlink, netlink_table, owners, proc_net};
use crate::backend::SocketTable;
use crate::model::{Namespace, Netns, SocketQuery, Warning};

/// How many member processes a namespace keeps: ways into it besides its `/run` files,
/// and text tables to fall back on.
const MEMBERS: usize = 4;
/// `statfs`'s type of the namespace filesystem (`NSFS_MAGIC` in <linux/magic.h>).
const NSFS_MAGIC: i128 = 0x6e73_6673;
/// Where runtimes keep one bind-mounted file per namespace, under the run root, and
/// whether the file names are `ip netns` names. (`/var/run` is a link to `/run`.)
const RUN_DIRS: [(&str, bool); 2] = [("netns", true), ("docker/netns", false)];

/// The namespaces found, and how many processes would not show theirs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Discovered {
    /// The caller's own first, then by inode.
    pub namespaces: Vec<Namespace>,
    /// Processes whose `ns/net` link was refused (another user's, without privilege).
    pub denied: usize,
}

/// Why `--netns NAME|PID` names no namespace.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetnsError {
    #[error("no network namespace named '{0}' (ip netns list shows the names)")]
    NoName(String),
    #[error("'{0}' is not a network namespace name: a name has no '/' and is not '.' or '..'")]
    BadName(String),
    #[error("no process {0}")]
    NoProcess(u32),
    #[error("cannot read {}: permission denied", .0.display())]
    Denied(PathBuf),
    /// A file left behind by an `ip netns add` whose mount failed, or not nsfs at all.
    #[error("{} is not a network namespace", .0.display())]
    NotNetns(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Why a namespace's sockets could not be read, neither from inside nor through a member
/// process's `/proc/PID/net`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unreadable {
    /// Entering needs CAP_SYS_ADMIN; its files or processes are another user's.
    #[error("permission denied")]
    NotPermitted,
    /// Its last process exited and its last file was removed since it was found.
    #[error("it no longer exists")]
    Vanished,
    #[error("{0}")]
    Other(#[source] io::Error),
}

impl Unreadable {
    fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Unreadable::Vanished,
            io::ErrorKind::PermissionDenied => Unreadable::NotPermitted,
            _ if e.raw_os_error() == Some(Errno::SRCH.raw_os_error()) => Unreadable::Vanished,
            _ => Unreadable::Other(e),
        }
    }

    fn from_errno(e: Errno) -> Self {
        Self::from_io(e.into())
    }

    /// Of two reasons, the one that tells the user more: a refusal means the namespace
    /// is there; that one of its ways in has gone says little.
    fn most_telling(self, other: Self) -> Self {
        let rank = |why: &Self| match why {
            Unreadable::NotPermitted => 2,
            Unreadable::Other(_) => 1,
            Unreadable::Vanished => 0,
        };
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

/// The inode of the caller's own network namespace, from `PROC/self/ns/net`.
pub(crate) fn own_inode(proc_root: &Path) -> Option<u64> {
    let link = std::fs::read_link(proc_root.join("self/ns/net")).ok()?;
    net_inode(link.as_os_str().as_bytes())
}

/// Every network namespace that a process under `proc_root` is in or a file under
/// `run_root` (`RUN/netns/NAME`, `RUN/docker/netns/ID`) keeps alive.
///
/// One pass over `proc_root`: a listing and one readlink per process. A process's threads
/// may be in other namespaces (as the reader of `read_sockets` is): only the thread group
/// leader's is seen. Processes that exit mid-scan are skipped.
pub(crate) fn discover(proc_root: &Path, run_root: &Path) -> Discovered {
    let own = own_inode(proc_root);
    let mut found = BTreeMap::new();
    if let Some(inode) = own {
        entry(&mut found, inode, own);
    }
    for file in run_files(run_root) {
        let ns = entry(&mut found, file.inode, own);
        ns.paths.push(file.path);
        if ns.netns.name.is_none() {
            ns.netns.name = file.name;
        }
    }
    let (members, denied) = members(proc_root);
    for (pid, inode) in members {
        keep_member(&mut entry(&mut found, inode, own).pids, pid);
    }
    let mut namespaces: Vec<Namespace> = found
        .into_values()
        .map(|mut ns| {
            let links = ns.pids.iter().map(|pid| member_link(proc_root, *pid));
            ns.paths.extend(links);
            ns
        })
        .collect();
    // Stable: by inode after the caller's own.
    namespaces.sort_by_key(|ns| !ns.own);
    Discovered { namespaces, denied }
}

/// The namespace `--netns` names: a pid (`PROC/PID/ns/net`) or an `ip netns` name
/// (`RUN/netns/NAME`). A number is a pid, unless no such process runs and a namespace
/// has that name. `pids` holds only the named process: no process scan is made.
pub(crate) fn resolve(
    spec: &str,
    proc_root: &Path,
    run_root: &Path,
) -> Result<Namespace, NetnsError> {
    if !spec.is_empty()
        && spec.bytes().all(|b| b.is_ascii_digit())
        && let Ok(pid) = spec.parse::<u32>()
    {
        match by_pid(pid, proc_root, run_root) {
            Err(NetnsError::NoProcess(_)) if run_root.join("netns").join(spec).exists() => {}
            other => return other,
        }
    }
    by_name(spec, proc_root, run_root)
}

/// Read the sockets `query` asks for in `ns`, each stamped with its inode.
///
/// The caller's own namespace is read as always (netlink, else `PROC/net`). Another is
/// entered by a thread of its own, which dumps it over netlink (or reads
/// `PROC/thread-self/net` if netlink is refused there) and ends. Where it cannot be
/// entered (not root, or it has gone), a member process's `PROC/PID/net` tables are read.
pub(crate) fn read_sockets(
    ns: &Namespace,
    proc_root: &Path,
    query: &SocketQuery,
) -> Result<SocketTable, Unreadable> {
    let read = if ns.own {
        dump_or_text(query, &proc_root.join("net"))
    } else {
        match read_inside(ns, proc_root, query) {
            Ok(read) => read,
            Err(not_entered) => member_tables(ns, proc_root, query, not_entered),
        }
    };
    let mut table = read?;
    for socket in &mut table.sockets {
        socket.netns = ns.netns.inode;
    }
    Ok(table)
}

/// The namespace of `inode`, made on first sight.
fn entry(found: &mut BTreeMap<u64, Namespace>, inode: u64, own: Option<u64>) -> &mut Namespace {
    found.entry(inode).or_insert_with(|| Namespace {
        netns: Netns { inode, name: None },
        own: own == Some(inode),
        paths: Vec::new(),
        pids: Vec::new(),
    })
}

/// Keep the `MEMBERS` lowest pids, ascending.
fn keep_member(pids: &mut Vec<u32>, pid: u32) {
    let at = pids.partition_point(|&p| p < pid);
    if at < MEMBERS && pids.get(at) != Some(&pid) {
        pids.insert(at, pid);
        pids.truncate(MEMBERS);
    }
}

fn member_link(proc_root: &Path, pid: u32) -> PathBuf {
    proc_root.join(format!("{pid}/ns/net"))
}

/// `net:[4026531840]` → 4026531840.
fn net_inode(link: &[u8]) -> Option<u64> {
    owners::parse_decimal_bytes(link.strip_prefix(b"net:[")?.strip_suffix(b"]")?)
}

/// Each process's namespace, as (pid, inode), and how many processes refused to say.
fn members(proc_root: &Path) -> (Vec<(u32, u64)>, usize) {
    let Ok(root) = owners::open_dir(proc_root) else {
        return (Vec::new(), 0);
    };
    let Ok(pids) = owners::list_pids(&root) else {
        return (Vec::new(), 0);
    };
    let mut found = Vec::with_capacity(pids.len());
    let mut denied = 0;
    // `net:[` + 20 digits + `]`: a longer link is not a namespace.
    let mut link = [0u8; 32];
    let mut path = String::with_capacity(24);
    for pid in pids {
        path.clear();
        // Writing into a reused String cannot fail and allocates nothing.
        let _ = write!(path, "{pid}/ns/net");
        match rustix::fs::readlinkat_raw(&root, path.as_str(), &mut link) {
            Ok(len) => {
                if let Some(inode) = net_inode(&link[..len.min(link.len())]) {
                    found.push((pid, inode));
                }
            }
            Err(Errno::ACCESS | Errno::PERM) => denied += 1,
            // Exited since the listing, or a zombie, which has no namespaces.
            Err(_) => {}
        }
    }
    (found, denied)
}

/// A namespace file under the run root.
#[derive(Debug)]
struct RunFile {
    path: PathBuf,
    inode: u64,
    /// The `ip netns` name; docker's ids are not.
    name: Option<String>,
}

/// The namespace files under the run root, sorted by path within each directory.
fn run_files(run_root: &Path) -> Vec<RunFile> {
    let mut files = Vec::new();
    for (dir, named) in RUN_DIRS {
        let Ok(entries) = std::fs::read_dir(run_root.join(dir)) else {
            continue;
        };
        let mut here: Vec<RunFile> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let path = entry.path();
                let inode = nsfs_inode(&path).ok().flatten()?;
                let name = named.then(|| entry.file_name().into_string().ok());
                Some(RunFile {
                    path,
                    inode,
                    name: name.flatten(),
                })
            })
            .collect();
        here.sort_by(|a, b| a.path.cmp(&b.path));
        files.extend(here);
    }
    files
}

/// The inode of the namespace a bind-mounted nsfs file refers to; `None` for any other
/// file (one left behind by an `ip netns add` whose mount failed).
fn nsfs_inode(path: &Path) -> io::Result<Option<u64>> {
    let fs = rustix::fs::statfs(path)?;
    if i128::from(fs.f_type) != NSFS_MAGIC {
        return Ok(None);
    }
    Ok(Some(rustix::fs::stat(path)?.st_ino))
}

fn by_pid(pid: u32, proc_root: &Path, run_root: &Path) -> Result<Namespace, NetnsError> {
    let path = member_link(proc_root, pid);
    let link = match std::fs::read_link(&path) {
        Ok(link) => link,
        Err(e) => {
            return Err(match Unreadable::from_io(e) {
                Unreadable::Vanished => NetnsError::NoProcess(pid),
                Unreadable::NotPermitted => NetnsError::Denied(path),
                Unreadable::Other(source) => NetnsError::Read { path, source },
            });
        }
    };
    let inode = net_inode(link.as_os_str().as_bytes()).ok_or(NetnsError::NotNetns(path.clone()))?;
    let mut ns = named(inode, proc_root, run_root);
    ns.paths.push(path);
    ns.pids.push(pid);
    Ok(ns)
}

fn by_name(name: &str, proc_root: &Path, run_root: &Path) -> Result<Namespace, NetnsError> {
    if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
        return Err(NetnsError::BadName(name.to_string()));
    }
    let path = run_root.join("netns").join(name);
    let inode = match nsfs_inode(&path) {
        Ok(Some(inode)) => inode,
        Ok(None) => return Err(NetnsError::NotNetns(path)),
        Err(e) => {
            return Err(match Unreadable::from_io(e) {
                Unreadable::Vanished => NetnsError::NoName(name.to_string()),
                Unreadable::NotPermitted => NetnsError::Denied(path),
                Unreadable::Other(source) => NetnsError::Read { path, source },
            });
        }
    };
    let mut ns = named(inode, proc_root, run_root);
    // The name asked for first: another name of the same namespace sorts before it.
    ns.netns.name = Some(name.to_string());
    if let Some(at) = ns.paths.iter().position(|p| *p == path) {
        let asked = ns.paths.remove(at);
        ns.paths.insert(0, asked);
    }
    Ok(ns)
}

/// The namespace of `inode` with its `/run` files and name, without its processes.
fn named(inode: u64, proc_root: &Path, run_root: &Path) -> Namespace {
    let mut ns = Namespace {
        netns: Netns { inode, name: None },
        own: own_inode(proc_root) == Some(inode),
        paths: Vec::new(),
        pids: Vec::new(),
    };
    for file in run_files(run_root) {
        if file.inode == inode {
            ns.paths.push(file.path);
            if ns.netns.name.is_none() {
                ns.netns.name = file.name;
            }
        }
    }
    ns
}

/// The tables of the namespace this thread is in: netlink, else the text tables in
/// `net_dir` (which must show this thread's namespace).
fn dump_or_text(query: &SocketQuery, net_dir: &Path) -> Result<SocketTable, Unreadable> {
    match netlink::dump_counted(query) {
        Ok(dump) => Ok(netlink_table(dump)),
        Err(refused) => {
            let mut table = proc_net::read_tables(net_dir, query)
                .map_err(|unread| Unreadable::from_io(unread.source))?;
            table.warnings.push(Warning::NetlinkRefused {
                reason: refused.to_string(),
            });
            Ok(table)
        }
    }
}

/// Read `ns` from a thread that enters it: the outer `Err` when no path let it in.
fn read_inside(
    ns: &Namespace,
    proc_root: &Path,
    query: &SocketQuery,
) -> Result<Result<SocketTable, Unreadable>, Unreadable> {
    run_inside(ns, proc_root, |own| dump_or_text(query, &own.join("net")))
}

/// Run `work` on a thread of its own that enters `ns` (through the first of its paths that
/// lets it in) and ends with it; `work` is given that thread's own proc directory
/// (`PROC/thread-self`), whose `net/` shows `ns`. `Err` when no path let it in.
///
/// setns changes the namespace of the calling thread alone. The thread runs nothing but
/// `work` and ends with it, so nothing else ever runs in `ns`, and the caller's thread
/// stays where it was.
pub(crate) fn run_inside<T, F>(ns: &Namespace, proc_root: &Path, work: F) -> Result<T, Unreadable>
where
    T: Send,
    F: FnOnce(&Path) -> T + Send,
{
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("portwho-netns".into())
            .spawn_scoped(scope, move || {
                let mut why = Unreadable::Vanished;
                for path in &ns.paths {
                    match enter(path, ns.netns.inode) {
                        Ok(()) => return Ok(work(&proc_root.join("thread-self"))),
                        Err(e) => why = why.most_telling(e),
                    }
                }
                Err(why)
            })
            .map_err(Unreadable::Other)?;
        reader.join().unwrap_or_else(|_| {
            Err(Unreadable::Other(io::Error::other(
                "the thread reading the namespace panicked",
            )))
        })
    })
}

/// Move this thread into the namespace at `path`, if that file still refers to `inode`.
fn enter(path: &Path, inode: u64) -> Result<(), Unreadable> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(Unreadable::from_errno)?;
    // A name given to another namespace since, or a pid reused: not the one found.
    if rustix::fs::fstat(&fd)
        .map_err(Unreadable::from_errno)?
        .st_ino
        != inode
    {
        return Err(Unreadable::Vanished);
    }
    nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET).map_err(|e| Unreadable::from_io(e.into()))
}

/// The text tables of a member process of `ns`, for a namespace that could not be
/// entered `because`; the most telling reason when none can be read either.
fn member_tables(
    ns: &Namespace,
    proc_root: &Path,
    query: &SocketQuery,
    because: Unreadable,
) -> Result<SocketTable, Unreadable> {
    let reason = format!("cannot enter the namespace: {because}");
    let mut why = because;
    for &pid in &ns.pids {
        let dir = proc_root.join(format!("{pid}/net"));
        let read = proc_net::read_tables(&dir, query);
        // Read first and check after: a process that left the namespace or exited
        // meanwhile (its pid perhaps reused) may have shown another namespace's tables.
        let still = std::fs::read_link(member_link(proc_root, pid))
            .map_err(Unreadable::from_io)
            .and_then(|link| match net_inode(link.as_os_str().as_bytes()) {
                Some(inode) if inode == ns.netns.inode => Ok(()),
                _ => Err(Unreadable::Vanished),
            });
        match (
            read.map_err(|unread| Unreadable::from_io(unread.source)),
            still,
        ) {
            (Ok(mut table), Ok(())) => {
                table.warnings.push(Warning::NetlinkRefused { reason });
                return Ok(table);
            }
            (Err(e), _) | (Ok(_), Err(e)) => why = why.most_telling(e),
        }
    }
    Err(why)
}

#[cfg(test)]
// The tests make namespaces and start listeners in them with ip(8), unshare(1) and
// python3; portwho itself runs no program (clippy.toml).
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::model::{Proto, Socket, State};
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fixture() -> (PathBuf, PathBuf) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/netns");
        (dir.join("proc"), dir.join("run"))
    }

    const OWN: u64 = 4_026_531_840;

    #[test]
    fn links_and_members() {
        assert_eq!(net_inode(b"net:[4026531840]"), Some(OWN));
        for bad in [
            &b"net:[]"[..],
            b"net:[12a]",
            b"mnt:[4026531840]",
            b"net:4026531840",
            b"",
        ] {
            assert_eq!(net_inode(bad), None, "{bad:?}");
        }
        let mut pids = Vec::new();
        for pid in [9, 3, 7, 3, 1, 8, 2] {
            keep_member(&mut pids, pid);
        }
        assert_eq!(pids, [1, 2, 3, 7]);
        let telling = Unreadable::Vanished.most_telling(Unreadable::NotPermitted);
        assert!(matches!(telling, Unreadable::NotPermitted));
        let kept = Unreadable::NotPermitted.most_telling(Unreadable::Other(io::Error::other("x")));
        assert!(matches!(kept, Unreadable::NotPermitted));
    }

    /// The fixture's processes: 1 and 7 in the caller's namespace (`self` is 1), 20 to 24
    /// in one other, 30 alone in a third; 31 has no namespaces (a zombie), 40 and 41 have
    /// links that are not a network namespace's, `sys` is no process; `run/netns/stale` is
    /// a plain file, which no namespace is mounted on.
    #[test]
    fn discovers_a_fixture_tree_once_per_namespace() {
        let (proc_root, run_root) = fixture();
        assert_eq!(own_inode(&proc_root), Some(OWN));
        let found = discover(&proc_root, &run_root);
        let link = |pid: u32| proc_root.join(format!("{pid}/ns/net"));
        let ns = |inode, own, pids: &[u32]| Namespace {
            netns: Netns { inode, name: None },
            own,
            paths: pids.iter().map(|&pid| link(pid)).collect(),
            pids: pids.to_vec(),
        };
        assert_eq!(
            found,
            Discovered {
                namespaces: vec![
                    ns(OWN, true, &[1, 7]),
                    ns(4_026_532_100, false, &[20, 21, 22, 23]),
                    ns(4_026_532_200, false, &[30]),
                ],
                denied: 0,
            }
        );
        // No proc root, no run root: nothing, and no panic.
        let nowhere = Path::new("/nonexistent/portwho");
        assert_eq!(discover(nowhere, nowhere), Discovered::default());
    }

    #[test]
    fn resolves_fixture_pids_and_refuses_what_is_not_there() {
        let (proc_root, run_root) = fixture();
        let ns = resolve("30", &proc_root, &run_root).unwrap();
        assert_eq!(
            ns.netns,
            Netns {
                inode: 4_026_532_200,
                name: None
            }
        );
        assert_eq!((ns.own, ns.pids.as_slice()), (false, &[30][..]));
        assert_eq!(ns.paths, [proc_root.join("30/ns/net")]);
        assert!(resolve("7", &proc_root, &run_root).unwrap().own);

        let error = |spec: &str| {
            resolve(spec, &proc_root, &run_root)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("blue"),
            "no network namespace named 'blue' (ip netns list shows the names)"
        );
        assert_eq!(error("4242"), "no process 4242");
        for bad in ["", ".", "..", "../blue", "a/b"] {
            assert!(
                matches!(
                    resolve(bad, &proc_root, &run_root),
                    Err(NetnsError::BadName(_))
                ),
                "{bad:?}"
            );
        }
        // A file no namespace is mounted on; a link to another kind of namespace.
        assert!(matches!(
            resolve("stale", &proc_root, &run_root),
            Err(NetnsError::NotNetns(_))
        ));
        assert!(matches!(
            resolve("40", &proc_root, &run_root),
            Err(NetnsError::NotNetns(_))
        ));
    }

    /// A namespace that cannot be entered (here: its only way in is a fixture's link) is
    /// read through a member's `PID/net` tables, and its sockets stamped with its inode.
    #[test]
    fn falls_back_to_a_members_text_tables() {
        let (proc_root, run_root) = fixture();
        let found = discover(&proc_root, &run_root);
        let third = &found.namespaces[2];
        let table = read_sockets(third, &proc_root, &SocketQuery::default()).unwrap();
        assert_eq!(table.sockets.len(), 1);
        let socket = &table.sockets[0];
        assert_eq!(socket.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!((socket.inode, socket.netns), (5150, 4_026_532_200));
        assert!(matches!(
            table.warnings.as_slice(),
            [Warning::NetlinkRefused { reason }] if reason.starts_with("cannot enter the namespace")
        ));
        // No member process to read: why it could not be entered.
        let lone = Namespace {
            pids: Vec::new(),
            ..found.namespaces[1].clone()
        };
        let query = SocketQuery::default();
        assert!(matches!(
            read_sockets(&lone, &proc_root, &query),
            Err(Unreadable::Vanished)
        ));
        // Members with no tables (20 to 23 have none).
        assert!(read_sockets(&found.namespaces[1], &proc_root, &query).is_err());
    }

    // Live namespaces: root only. Nothing but loopback inside namespaces made here.

    fn root() -> bool {
        let root = rustix::process::geteuid().is_root()
            && Command::new("ip")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success());
        if !root {
            eprintln!("skipped: needs root and ip(8)");
        }
        root
    }

    fn python3() -> &'static str {
        if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        }
    }

    /// Listens on 127.0.0.1 at the port given (0: any), prints it, waits to be killed.
    const LISTEN: &str = "import socket, sys, time\n\
        s = socket.socket()\n\
        s.bind(('127.0.0.1', int(sys.argv[1])))\n\
        s.listen()\n\
        print(s.getsockname()[1], flush=True)\n\
        time.sleep(120)\n";

    /// A process started for a test, killed and reaped on drop.
    struct Listener {
        child: Child,
        port: u16,
    }

    impl Listener {
        fn spawn(command: &mut Command) -> Listener {
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn the listener");
            let mut line = String::new();
            let stdout = child.stdout.take().expect("stdout");
            let _ = BufReader::new(stdout).read_line(&mut line);
            let port = line.trim().parse().unwrap_or(0);
            let listener = Listener { child, port };
            assert_ne!(listener.port, 0, "the listener did not start");
            listener
        }

        fn pid(&self) -> u32 {
            self.child.id()
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// An `ip netns` namespace with loopback up, deleted on drop (a failed test too).
    struct Named {
        name: String,
    }

    impl Named {
        fn new() -> Named {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("pwtest-{}-{n}", std::process::id());
            assert!(ip(&["netns", "add", &name]), "ip netns add {name}");
            let named = Named { name };
            assert!(ip(&["-n", &named.name, "link", "set", "lo", "up"]));
            named
        }

        fn path(&self) -> PathBuf {
            Path::new("/run/netns").join(&self.name)
        }

        /// What `stat -L -c %i` says of its file.
        fn inode(&self) -> u64 {
            let out = Command::new("stat")
                .args(["-L", "-c", "%i"])
                .arg(self.path())
                .output()
                .expect("stat");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("an inode")
        }

        fn listen(&self, port: u16) -> Listener {
            Listener::spawn(
                Command::new("ip")
                    .args(["netns", "exec", &self.name, python3(), "-c", LISTEN])
                    .arg(port.to_string()),
            )
        }

        fn found(&self) -> Namespace {
            let found = discover(Path::new("/proc"), Path::new("/run"));
            let name = Some(self.name.clone());
            found
                .namespaces
                .into_iter()
                .find(|ns| ns.netns.name == name)
                .unwrap_or_else(|| panic!("{} not discovered", self.name))
        }
    }

    impl Drop for Named {
        fn drop(&mut self) {
            let _ = ip(&["netns", "del", &self.name]);
        }
    }

    fn ip(args: &[&str]) -> bool {
        Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    fn listeners_on(table: &SocketTable, port: u16) -> Vec<&Socket> {
        table
            .sockets
            .iter()
            .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
            .filter(|s| s.local.port() == port)
            .collect()
    }

    /// The TCP listeners on this address: in the host's namespace another program may
    /// listen on the same port on ::1.
    fn listeners_at(table: &SocketTable, addr: std::net::SocketAddr) -> Vec<&Socket> {
        let on_port = listeners_on(table, addr.port());
        on_port.into_iter().filter(|s| s.local == addr).collect()
    }

    fn live() -> (&'static Path, SocketQuery) {
        let query = SocketQuery {
            listening_only: true,
            ..SocketQuery::default()
        };
        (Path::new("/proc"), query)
    }

    #[test]
    fn finds_and_reads_a_named_namespace() {
        if !root() {
            return;
        }
        let (proc_root, query) = live();
        let named = Named::new();
        let listener = named.listen(0);
        let ns = named.found();
        assert_eq!(ns.netns.inode, named.inode());
        assert!(!ns.own);
        assert_eq!(ns.pids, [listener.pid()]);
        let member = proc_root.join(format!("{}/ns/net", listener.pid()));
        assert_eq!(ns.paths, [named.path(), member]);
        assert_eq!(
            resolve(&named.name, proc_root, Path::new("/run"))
                .unwrap()
                .paths[0],
            named.path()
        );

        let here = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let table = read_sockets(&ns, proc_root, &query).unwrap();
        assert!(table.warnings.is_empty(), "{:?}", table.warnings);
        let found = listeners_on(&table, listener.port);
        assert_eq!(found.len(), 1, "{table:?}");
        assert_eq!(found[0].local, ([127, 0, 0, 1], listener.port).into());
        assert_eq!(found[0].netns, ns.netns.inode);
        // Only the reading thread entered it: this one is where it was.
        assert_eq!(
            std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
            here
        );

        // The text routes give the same socket: a member's tables, and a thread's own
        // tables once it has entered.
        let text = member_tables(&ns, proc_root, &query, Unreadable::NotPermitted).unwrap();
        assert_eq!(listeners_on(&text, listener.port).len(), 1);
        let (path, inode, port) = (named.path(), named.inode(), listener.port);
        let inside = std::thread::spawn(move || {
            enter(&path, inode).map_err(|e| e.to_string())?;
            let text = proc_net::read_tables(Path::new("/proc/thread-self/net"), &query);
            let text = text.map_err(|e| e.source.to_string())?;
            Ok::<_, String>(listeners_on(&text, port).len())
        });
        assert_eq!(inside.join().unwrap(), Ok(1));
    }

    #[test]
    fn finds_an_unnamed_namespace_through_its_process() {
        if !root() {
            return;
        }
        let (proc_root, query) = live();
        let listener = Listener::spawn(
            Command::new("unshare")
                .args([
                    "--net",
                    "sh",
                    "-c",
                    "ip link set lo up && exec \"$@\"",
                    "sh",
                ])
                .args([python3(), "-c", LISTEN, "0"]),
        );
        let pid = listener.pid();
        let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        let inode = net_inode(link.as_os_str().as_bytes()).unwrap();
        let found = discover(proc_root, Path::new("/run"));
        let ns = found
            .namespaces
            .iter()
            .find(|ns| ns.netns.inode == inode)
            .unwrap();
        assert_eq!((ns.netns.name.as_deref(), ns.own), (None, false));
        assert_eq!(ns.pids, [pid]);
        assert_eq!(ns.paths, [proc_root.join(format!("{pid}/ns/net"))]);
        assert_eq!(
            resolve(&pid.to_string(), proc_root, Path::new("/run")).unwrap(),
            *ns
        );

        let table = read_sockets(ns, proc_root, &query).unwrap();
        let on_port = listeners_on(&table, listener.port);
        assert_eq!(on_port.len(), 1);
        assert_eq!(on_port[0].netns, inode);

        // Its last process gone, the namespace is too: an error, not a panic.
        drop(listener);
        assert!(matches!(
            read_sockets(ns, proc_root, &query),
            Err(Unreadable::Vanished)
        ));
    }

    #[test]
    fn one_port_in_two_namespaces_is_two_sockets() {
        if !root() {
            return;
        }
        let (proc_root, query) = live();
        let (blue, red) = (Named::new(), Named::new());
        let first = blue.listen(0);
        let second = red.listen(first.port);
        assert_eq!(first.port, second.port);
        let mut seen = Vec::new();
        for named in [&blue, &red] {
            let ns = named.found();
            let table = read_sockets(&ns, proc_root, &query).unwrap();
            let on_port = listeners_on(&table, first.port);
            assert_eq!(on_port.len(), 1, "{}: {table:?}", named.name);
            assert_eq!(on_port[0].netns, named.inode());
            seen.push(on_port[0].netns);
        }
        assert_ne!(seen[0], seen[1]);
    }

    #[test]
    fn a_namespace_deleted_before_reading_is_an_error() {
        if !root() {
            return;
        }
        let (proc_root, query) = live();
        let named = Named::new();
        let ns = named.found();
        assert!(ns.pids.is_empty(), "only its /run file keeps it");
        assert!(read_sockets(&ns, proc_root, &query).is_ok());
        drop(named);
        assert!(matches!(
            read_sockets(&ns, proc_root, &query),
            Err(Unreadable::Vanished)
        ));
    }

    #[test]
    fn the_own_namespace_comes_first_and_is_read_in_place() {
        let proc_root = Path::new("/proc");
        let found = discover(proc_root, Path::new("/run"));
        let own = &found.namespaces[0];
        assert!(own.own);
        assert_eq!(Some(own.netns.inode), own_inode(proc_root));
        assert_eq!(found.namespaces.iter().filter(|ns| ns.own).count(), 1);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let table = read_sockets(own, proc_root, &live().1).unwrap();
        let on_port = listeners_at(&table, listener.local_addr().unwrap());
        assert_eq!(on_port.len(), 1);
        assert_eq!(on_port[0].netns, own.netns.inode);
    }

    #[test]
    fn the_live_backend_stamps_its_own_namespace() {
        use crate::backend::Backend;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let table = super::super::LinuxBackend::new()
            .sockets(&live().1)
            .unwrap();
        let on_port = listeners_at(&table, listener.local_addr().unwrap());
        assert_eq!(on_port.len(), 1);
        assert_eq!(Some(on_port[0].netns), own_inode(Path::new("/proc")));
        // A captured tree says nothing of namespaces.
        let basic = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/basic");
        let captured = super::super::LinuxBackend::with_proc_root(basic);
        let table = captured.sockets(&SocketQuery::default()).unwrap();
        assert!(!table.sockets.is_empty());
        assert!(table.sockets.iter().all(|s| s.netns == 0));
    }
}
