//! An nftables dump over nfnetlink: captured datagrams of every request back to back, or
//! one datagram checked against a sequence number (the first input byte chooses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::{Assembly, decode_datagram, decode_dump};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let decoded = decode_dump(bytes);
        let ruleset = &decoded.ruleset;
        // Every object took at least a message header and a name attribute.
        let objects: usize = ruleset
            .tables
            .iter()
            .map(|t| {
                1 + t.chains.len()
                    + t.chains.iter().map(|c| c.rules.len()).sum::<usize>()
                    + t.sets.len()
            })
            .sum();
        assert!(objects * 24 <= bytes.len());
        for table in &ruleset.tables {
            assert!(!table.name.is_empty());
            for chain in &table.chains {
                assert!(!chain.name.is_empty());
                assert!(chain.hook.is_some() || chain.policy.is_none());
            }
            for set in &table.sets {
                if set.interval {
                    // Sorted by key, and no end without a start before it.
                    let keyed: Vec<_> = set.elements.iter().filter(|e| !e.catchall).collect();
                    assert!(keyed.windows(2).all(|w| w[0].key <= w[1].key));
                    let first_end = keyed.first().is_some_and(|e| e.interval_end && e.key_end.is_none());
                    assert!(!first_end);
                }
            }
        }
    } else {
        // Mostly the sequence number of the first message, so decoding goes past it.
        let seq = bytes
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes);
        let mut assembly = Assembly::default();
        let _ = decode_datagram(bytes, Some(seq), &mut assembly);
        let _ = assembly.finish();
    }
});
