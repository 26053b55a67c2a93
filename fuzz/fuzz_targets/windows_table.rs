//! Windows's socket tables with owner pids (`MIB_TCPTABLE_OWNER_PID` and its IPv6 and UDP
//! kin), as `GetExtendedTcpTable`/`GetExtendedUdpTable` fill a buffer: any bytes, read as
//! each of the four, must decode or be refused, never panic; what decodes is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::{Family, Proto, WindowsTable, decode_windows_table};

fuzz_target!(|data: &[u8]| {
    for table in WindowsTable::ALL {
        let Ok(decoded) = decode_windows_table(table, data) else {
            continue;
        };
        // Every counted row is a socket or a skipped state, and fits in the buffer.
        let count = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
        assert_eq!(decoded.rows.len() + decoded.unknown_states, count);
        assert!(4 + count * table.row_len() <= data.len());
        let mut keys = std::collections::HashSet::new();
        for row in &decoded.rows {
            let s = &row.socket;
            assert_eq!(s.proto, table.proto());
            assert_eq!(Family::of(s.local.ip()), table.family());
            if let Some(remote) = s.remote {
                assert_eq!(Family::of(remote.ip()), table.family());
                assert_eq!(s.proto, Proto::Tcp, "the UDP tables have no peer");
            }
            // The key is no inode and tells every row apart.
            assert_ne!(s.inode, 0);
            assert!(s.inode >> 63 == 1);
            assert!(keys.insert(s.inode));
            assert_eq!((s.uid, s.v6only), (None, None));
        }
    }
});
