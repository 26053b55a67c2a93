//! Port ranges: the IANA category of a port and whether it is in the host's ephemeral range.

use crate::model::Category;

/// The IANA range a port belongs to (RFC 6335, section 6).
pub(crate) fn category(port: u16) -> Category {
    match port {
        0..=1023 => Category::WellKnown,
        1024..=49151 => Category::Registered,
        _ => Category::Dynamic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_boundaries() {
        assert_eq!(category(0), Category::WellKnown);
        assert_eq!(category(1023), Category::WellKnown);
        assert_eq!(category(1024), Category::Registered);
        assert_eq!(category(49151), Category::Registered);
        assert_eq!(category(49152), Category::Dynamic);
        assert_eq!(category(65535), Category::Dynamic);
    }
}
