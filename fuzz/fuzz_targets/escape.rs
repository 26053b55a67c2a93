//! Escaping for the terminal: nothing a terminal acts on may survive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::escape;

fn bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = escape(&text);
    assert!(!out.chars().any(|c| c.is_control() || bidi(c)), "{out:?}");
    // Text without anything to escape comes back as it was.
    if !text.chars().any(|c| c.is_control() || bidi(c) || c == '\\') {
        assert_eq!(out, text);
    }
});
