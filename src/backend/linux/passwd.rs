//! User names from passwd-format text, for builds where glibc's NSS must not be called.
//!
//! A statically linked glibc still loads NSS modules such as `libnss_systemd.so.2` with
//! dlopen for any user its built-in `files` source does not know; those modules are built
//! against the shared libc, and the static binary crashes (SIGSEGV, seen here for a uid
//! missing from `/etc/passwd` with `passwd: files systemd` in nsswitch.conf). Such a build
//! reads `/etc/passwd` itself instead, and a user only a module knows shows as the uid.

/// The name of `uid`: the first entry with that uid, as glibc's `files` source answers.
pub(crate) fn name_of(passwd: &str, uid: u32) -> Option<&str> {
    entries(passwd)
        .find(|&(_, u)| u == uid)
        .map(|(name, _)| name)
}

/// The uid of the user called `name` (exactly, as getpwnam compares).
pub(crate) fn uid_of(passwd: &str, name: &str) -> Option<u32> {
    entries(passwd)
        .find(|&(n, _)| n == name)
        .map(|(_, uid)| uid)
}

/// `(name, uid)` of each well-formed line. NIS compat lines (`+`, `-`), comments and lines
/// without a numeric uid are skipped: the file is the host's, and one bad line must not
/// hide the others.
fn entries(passwd: &str) -> impl Iterator<Item = (&str, u32)> {
    passwd.lines().filter_map(|line| {
        if line.starts_with(['#', '+', '-']) {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next().filter(|n| !n.is_empty())?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        Some((name, uid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
+nisuser::::::
broken line
bad:x:notanumber:1::/:/bin/sh
:x:7:7::/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
toor:x:0:0:second root:/root:/bin/sh
";

    #[test]
    fn names_and_uids() {
        assert_eq!(name_of(PASSWD, 0), Some("root"));
        assert_eq!(name_of(PASSWD, 65534), Some("nobody"));
        assert_eq!(name_of(PASSWD, 12345), None);
        assert_eq!(name_of(PASSWD, 7), None);
        assert_eq!(uid_of(PASSWD, "nobody"), Some(65534));
        assert_eq!(uid_of(PASSWD, "toor"), Some(0));
        assert_eq!(uid_of(PASSWD, "bad"), None);
        assert_eq!(uid_of(PASSWD, "+nisuser"), None);
        assert_eq!(uid_of(PASSWD, "Root"), None);
    }

    #[test]
    fn odd_input_is_no_answer() {
        for text in [
            "",
            "\n\n",
            ":::",
            "root",
            "root:x",
            "root:x:",
            "root:x:-1:0::/:",
            "\u{0}:x:1",
        ] {
            assert_eq!(name_of(text, 0), None, "{text:?}");
        }
        assert_eq!(name_of("root:x:0\r\n", 0), Some("root"), "CRLF ends a line");
        assert_eq!(
            name_of("root:x:0\r:0", 0),
            None,
            "a CR inside is not a digit"
        );
        assert_eq!(name_of("r\u{1b}[31m:x:5:5::/:", 5), Some("r\u{1b}[31m"));
    }
}
