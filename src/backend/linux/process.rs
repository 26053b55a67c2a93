//! Details of the processes that are shown: name, command line and user.

use std::io;
use std::path::Path;

use crate::model::Process;

/// Read one process's details, or `None` when it has exited.
///
/// Each file is read once and decoded leniently: a process can put anything in its name
/// and arguments, and a field that cannot be read stays empty rather than hiding the pid.
pub fn read(proc_root: &Path, pid: u32) -> Option<Process> {
    let dir = proc_root.join(pid.to_string());
    // The effective uid, as `ps` shows it: a setuid or privilege-dropping server runs as it.
    let status = procfs::process::Process::new_with_root(dir.clone()).and_then(|p| p.status());
    let uid = match status {
        Ok(status) => Some(status.euid),
        Err(procfs::ProcError::NotFound(_)) => return None,
        Err(_) => None,
    };
    let name = match std::fs::read(dir.join("comm")) {
        Ok(bytes) => decode_comm(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(_) => String::new(),
    };
    let cmdline = std::fs::read(dir.join("cmdline"))
        .map(|bytes| decode_cmdline(&bytes))
        .unwrap_or_default();
    Some(Process {
        pid,
        name,
        cmdline,
        user: None,
        uid,
    })
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
    fn reads_self() {
        let me = read(Path::new("/proc"), std::process::id()).unwrap();
        assert!(!me.name.is_empty());
        assert!(!me.cmdline.is_empty());
        assert_eq!(me.uid, Some(rustix::process::geteuid().as_raw()));
    }
}
