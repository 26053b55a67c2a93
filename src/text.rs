//! Text for people: what other processes chose, escaped for a terminal; the plural rule.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Replace control characters (C0, DEL, C1) and bidirectional overrides with visible
/// escapes, so a process named `"\x1b]0;pwned\x07"` cannot move the cursor, retitle the
/// terminal or reorder what the user reads.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02x}")
                } else {
                    write!(out, "\\u{{{code:x}}}")
                };
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `1 socket`, `2 sockets`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `127.0.0.1:80`, `[::1]:80`: an address as a TARGET would name it.
pub(crate) fn format_addr(addr: std::net::SocketAddr) -> String {
    addr.to_string()
}

/// Characters a terminal would act on instead of showing. The backslash is included only so
/// that an escaped name cannot be confused with one that contains the escape text itself.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Text with what a hostile process would put in its name: every class `escape` handles,
/// mixed with any other character.
#[cfg(test)]
pub(crate) fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let special = proptest::sample::select(vec![
        '\x1b', '\x07', '\r', '\n', '\x08', '\t', '\0', '\x7f', '\u{9b}', '\u{202e}', '\u{2066}',
        '\u{200f}', '\\', '\u{fffd}', '[', ']', '/', ' ', ':',
    ]);
    proptest::collection::vec(prop_oneof![special, any::<char>()], 0..24)
        .prop_map(String::from_iter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "process", "processes"), "1 process");
        assert_eq!(plural(0, "process", "processes"), "0 processes");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("nginx: worker"), Cow::Borrowed(_)));
        assert_eq!(escape("ünïcode ✓"), "ünïcode ✓");
    }

    #[test]
    fn every_class_is_escaped() {
        assert_eq!(escape("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("bell\x07"), "bell\\x07");
        assert_eq!(escape("cr\rlf\n"), "cr\\rlf\\n");
        assert_eq!(escape("bs\x08"), "bs\\x08");
        assert_eq!(escape("del\x7f"), "del\\x7f");
        assert_eq!(escape("c1\u{9b}"), "c1\\x9b");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape("iso\u{2066}x"), "iso\\u{2066}x");
        assert_eq!(escape("back\\x1b"), "back\\\\x1b");
    }

    #[test]
    fn no_escape_survives() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            let out = escape(&text);
            assert!(!out.chars().any(|c| c.is_control()), "{c:?}");
        }
    }
}
