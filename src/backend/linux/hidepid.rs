//! Whether the proc mount hides other users' processes (`hidepid=invisible`), which makes
//! their sockets' owners vanish from a scan without a single "permission denied".

use std::path::Path;

/// How a proc mount limits the processes it shows (the `hidepid=` mount option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HidePid {
    /// `invisible` (2) or `ptraceable` (4): others' `/proc/PID` directories are not listed.
    /// `noaccess` (1) still lists them, and reading them fails with EACCES, which the scan
    /// already counts as denied.
    pub invisible: bool,
    /// Members of this group see every process (`gid=`).
    pub gid: Option<u32>,
}

/// The `hidepid` options of the proc mount at `proc_root`, from `/proc/self/mountinfo`'s
/// text; `None` when nothing is hidden or `proc_root` is not a proc mount.
pub(crate) fn parse(mountinfo: &str, proc_root: &Path) -> Option<HidePid> {
    // The last mount on that path is the one on top, the one a path lookup reaches.
    let line = mountinfo.lines().rfind(|line| {
        let mut fields = line.split(' ');
        let point = fields.nth(4).map(unescape);
        let fstype = fields.skip_while(|f| *f != "-").nth(1);
        point.as_deref() == Some(proc_root.as_os_str().as_encoded_bytes()) && fstype == Some("proc")
    })?;
    let options = line.rsplit(' ').next()?;
    let mut hidden = None;
    let mut gid = None;
    for option in options.split(',') {
        match option.split_once('=') {
            Some(("hidepid", "2" | "invisible" | "4" | "ptraceable")) => hidden = Some(true),
            Some(("hidepid", _)) => hidden = Some(false),
            Some(("gid", value)) => gid = value.parse().ok(),
            _ => {}
        }
    }
    hidden.map(|invisible| HidePid { invisible, gid })
}

/// Mount points escape space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// Whether this process cannot see other users' processes under `proc_root`: a
/// `hidepid=invisible` mount, and neither CAP_SYS_PTRACE nor membership of its `gid=`.
pub(crate) fn hides_others(proc_root: &Path) -> bool {
    const CAP_SYS_PTRACE: u32 = 19;
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let root = std::fs::canonicalize(proc_root).unwrap_or_else(|_| proc_root.to_path_buf());
    let Some(hidepid) = parse(&mountinfo, &root) else {
        return false;
    };
    if !hidepid.invisible {
        return false;
    }
    let exempt_group = hidepid.gid.is_some_and(|gid| {
        rustix::process::getegid().as_raw() == gid
            || rustix::process::getgroups()
                .is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == gid))
    });
    !exempt_group && !super::process::has_capability(CAP_SYS_PTRACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
46 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
65 46 0:39 / /proc rw,relatime - proc proc rw,hidepid=invisible,gid=27
70 22 0:40 / /srv/my\\040proc rw,relatime - proc proc rw,hidepid=2
71 22 0:41 / /old rw,relatime - proc proc rw,hidepid=1
72 22 0:42 / /tmp rw,relatime - tmpfs tmpfs rw,hidepid=2
";

    #[test]
    fn the_mount_on_top_counts() {
        assert_eq!(
            parse(MOUNTINFO, Path::new("/proc")),
            Some(HidePid {
                invisible: true,
                gid: Some(27)
            })
        );
        assert_eq!(
            parse(MOUNTINFO, Path::new("/srv/my proc")),
            Some(HidePid {
                invisible: true,
                gid: None
            })
        );
        // noaccess lists every pid; reading them fails and is counted as denied.
        assert_eq!(
            parse(MOUNTINFO, Path::new("/old")),
            Some(HidePid {
                invisible: false,
                gid: None
            })
        );
        // Not proc, or no proc there.
        assert_eq!(parse(MOUNTINFO, Path::new("/tmp")), None);
        assert_eq!(parse(MOUNTINFO, Path::new("/nowhere")), None);
        let plain = "46 22 0:22 / /proc rw - proc proc rw\n";
        assert_eq!(parse(plain, Path::new("/proc")), None);
    }

    #[test]
    fn escapes_and_garbage() {
        assert_eq!(unescape("a\\040b\\134c\\011"), b"a b\\c\t");
        assert_eq!(unescape("\\9\\04"), b"\\9\\04");
        for text in [
            "",
            "\n\n",
            "1 2 3",
            "- - - - - - - -",
            "a b c d /proc e - proc",
        ] {
            assert_eq!(parse(text, Path::new("/proc")), None, "{text:?}");
        }
    }

    #[test]
    fn a_fixture_tree_hides_nothing() {
        assert!(!hides_others(Path::new(env!("CARGO_MANIFEST_DIR"))));
    }
}
