//! Operating systems portwho has no backend for: it says so, once, and exits 2.

use crate::error::Error;

/// Why there is nothing to read here.
pub(crate) fn error() -> Error {
    Error::Unsupported(format!(
        "portwho reads sockets on Linux, Windows and macOS; this is {}",
        super::PLATFORM
    ))
}
