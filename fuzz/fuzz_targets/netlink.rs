//! One received sock_diag datagram. The first input byte picks the table being dumped and
//! whether the sequence number matches; the rest is the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::{Family, Proto};
use portwho::fuzzing::{Table, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    let table = Table {
        proto: if selector & 1 == 0 {
            Proto::Tcp
        } else {
            Proto::Udp
        },
        // `None` is the one dump of TCP over both families.
        family: if selector & 8 != 0 && selector & 1 == 0 {
            None
        } else if selector & 2 == 0 {
            Some(Family::Ipv4)
        } else {
            Some(Family::Ipv6)
        },
    };
    // Mostly the sequence number of the first message, so decoding goes past the header.
    let first_seq = datagram
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes);
    let seq = if selector & 4 == 0 {
        first_seq
    } else {
        first_seq.wrapping_add(1)
    };
    let mut out = Vec::new();
    if let Ok(progress) = decode(datagram, table, seq, &mut out) {
        // 72 bytes of inet_diag_msg + a 16-byte header per socket, at the least.
        assert!((out.len() + progress.skipped) * 88 <= datagram.len());
        for socket in &out {
            assert_eq!(socket.proto, table.proto);
        }
    }
});
