//! `/proc/sys/net/ipv4/ip_local_reserved_ports` (`8000-8010,9000`) parsed into port ranges.

use std::ops::RangeInclusive;

/// Parse the reserved-ports list. Items that are not a port or an ascending range of ports
/// are skipped: a garbled item must not hide the others.
pub(crate) fn parse(text: &str) -> Vec<RangeInclusive<u16>> {
    text.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|item| !item.is_empty())
        .filter_map(|item| match item.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (low.parse::<u16>().ok()?, high.parse::<u16>().ok()?);
                (low <= high).then_some(low..=high)
            }
            None => item.parse::<u16>().ok().map(|p| p..=p),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse("8000-8010,9000\n"), vec![8000..=8010, 9000..=9000]);
        assert_eq!(parse("1,2-3,65535"), vec![1..=1, 2..=3, 65535..=65535]);
        assert_eq!(parse("5000-5000"), vec![5000..=5000]);
    }

    #[test]
    fn empty_is_nothing() {
        // The kernel writes an empty line when nothing is reserved.
        assert!(parse("").is_empty());
        assert!(parse("\n").is_empty());
        assert!(parse(",,").is_empty());
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        assert_eq!(
            parse("abc,8000-8010,9-x,70000,10-5,-3,4-,1-2-3, 9000 ,\u{0}"),
            vec![8000..=8010, 9000..=9000]
        );
    }
}
