//! A service name stored inline, the cell type of the service tables.

/// A service name stored inline; RFC 6335 caps them at 15 characters.
///
/// The tables hold names this way rather than as `&str` because a position-independent
/// binary needs one relocation per pointer: for IANA's 11 000 rows the loader wrote half
/// a megabyte of relocated pointers at every start, before `main`, whether or not a
/// name was looked up. Inline, the table is read-only data paged in only where searched.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name {
    len: u8,
    bytes: [u8; 15],
}

impl Name {
    /// Fails to compile (the tables are statics) for a name longer than 15 bytes.
    pub(crate) const fn new(text: &str) -> Name {
        let from = text.as_bytes();
        assert!(from.len() <= 15, "service names have at most 15 characters");
        let mut bytes = [0; 15];
        let mut i = 0;
        while i < from.len() {
            bytes[i] = from[i];
            i += 1;
        }
        Name {
            len: from.len() as u8,
            bytes,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Built from a &str in `new`, cut at a length it measured: always valid UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}
