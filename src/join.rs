//! Joining sockets to their holders, and the order rows are shown in.

use std::cmp::Ordering;

use std::collections::HashMap;

use crate::model::Owners;
use crate::model::Socket;

/// The details of every process in `pids` (a socket's holders). A holder whose details
/// are missing exited after the scan and no longer holds anything, so it is left out.
///
/// The listing passes `Arc<Process>`es: one process may hold thousands of sockets, and a
/// copy of its details for each would dominate the memory portwho needs.
pub(crate) fn holders<P: Clone, S: std::hash::BuildHasher>(
    pids: &[u32],
    details: &HashMap<u32, P, S>,
) -> Vec<P> {
    pids.iter()
        .filter_map(|pid| details.get(pid).cloned())
        .collect()
}

/// Pids holding a socket, without their details.
pub(crate) fn holder_pids<'a>(socket: &Socket, owners: &'a Owners) -> &'a [u32] {
    owners
        .by_inode
        .get(&socket.inode)
        .map_or(&[], Vec::as_slice)
}

/// The holder pids of each socket of a list, laid out in the list's order.
///
/// Rows are made in that order, twice for a table; reading their holders in sequence
/// replaces a probe per row into the scan's map of every socket inode on the host, and
/// such a probe was a cache miss that cost more than the rest of making the row.
#[derive(Debug, Default)]
pub(crate) struct HolderList {
    /// Where each socket's pids end in `pids`.
    ends: Vec<u32>,
    pids: Vec<u32>,
}

impl HolderList {
    pub(crate) fn new(sockets: &[Socket], owners: &Owners) -> HolderList {
        let mut list = HolderList {
            ends: Vec::with_capacity(sockets.len()),
            pids: Vec::with_capacity(sockets.len()),
        };
        for s in sockets {
            list.pids.extend_from_slice(holder_pids(s, owners));
            // More than 4 billion holder entries would not fit in memory first.
            list.ends
                .push(u32::try_from(list.pids.len()).unwrap_or(u32::MAX));
        }
        list
    }

    /// The holders of the `i`th socket; none for an index past the list.
    pub(crate) fn of(&self, i: usize) -> &[u32] {
        let start = match i.checked_sub(1) {
            Some(before) => self.ends.get(before).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.pids.get(start as usize..end as usize).unwrap_or(&[])
    }
}

/// Listeners first, then by port, protocol, family, address and peer, so that output is
/// stable from run to run.
///
/// The key ends with the inode, so no two sockets tie (TIME_WAIT sockets, all inode 0,
/// differ in their address pairs) and an unstable sort gives the same order as a stable
/// one, without the stable sort's scratch copy of every socket.
///
/// The fields are compared one at a time, as far as needed: most pairs differ in their
/// port, and building the whole key for every comparison was a twentieth of a listing.
pub(crate) fn sort(sockets: &mut [Socket]) {
    sockets.sort_unstable_by(order);
}

fn order(a: &Socket, b: &Socket) -> Ordering {
    b.state
        .is_listening()
        .cmp(&a.state.is_listening())
        .then_with(|| a.local.port().cmp(&b.local.port()))
        .then_with(|| a.proto.cmp(&b.proto))
        .then_with(|| a.family().cmp(&b.family()))
        .then_with(|| a.local.ip().cmp(&b.local.ip()))
        .then_with(|| a.remote.cmp(&b.remote))
        .then_with(|| a.state.cmp(&b.state))
        .then_with(|| a.inode.cmp(&b.inode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProcessDetails;
    use crate::model::testing::tcp as socket;
    use crate::model::{Process, Proto, State, testing};
    use proptest::prelude::*;

    fn any_socket() -> impl Strategy<Value = Socket> {
        let states = [
            State::Listen,
            State::Unconn,
            State::Established,
            State::TimeWait,
        ];
        (
            any::<bool>(),
            // Few ports and addresses, so that many pairs tie on the first fields.
            (
                0u16..3,
                prop_oneof![Just("127.0.0.1"), Just("::1"), Just("0.0.0.0")],
            ),
            proptest::option::of((0u16..3, prop_oneof![Just("127.0.0.1"), Just("::1")])),
            0usize..states.len(),
            0u64..3,
        )
            .prop_map(move |(udp, (port, ip), remote, state, inode)| Socket {
                proto: if udp { Proto::Udp } else { Proto::Tcp },
                local: std::net::SocketAddr::new(ip.parse().unwrap(), port),
                remote: remote.map(|(p, ip)| std::net::SocketAddr::new(ip.parse().unwrap(), p)),
                state: states[state],
                uid: Some(0),
                inode,
                v6only: None,
                netns: 0,
            })
    }

    proptest! {
        /// Field by field, the order is the one of the whole key.
        #[test]
        fn order_is_the_key_order(a in any_socket(), b in any_socket()) {
            use std::cmp::Reverse;
            let key = |s: &Socket| {
                (
                    Reverse(s.state.is_listening()),
                    s.local.port(),
                    s.proto,
                    s.family(),
                    s.local.ip(),
                    s.remote,
                    s.state,
                    s.inode,
                )
            };
            prop_assert_eq!(order(&a, &b), key(&a).cmp(&key(&b)));
        }
    }

    fn process(pid: u32) -> Process {
        testing::process(pid, &format!("p{pid}"))
    }

    #[test]
    fn every_holder_is_kept_and_vanished_ones_dropped() {
        let owners = Owners {
            by_inode: [(7, vec![10, 11, 12])].into_iter().collect(),
            ..Owners::default()
        };
        let details = ProcessDetails {
            processes: HashMap::from([(10, process(10)), (12, process(12))]),
            vanished: 1,
        };
        let s = socket("127.0.0.1:80", State::Listen, 7);
        let pids: Vec<u32> = holders(holder_pids(&s, &owners), &details.processes)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(pids, vec![10, 12]);
        assert_eq!(holder_pids(&s, &owners), &[10, 11, 12]);
        let time_wait = socket("127.0.0.1:81", State::TimeWait, 0);
        assert!(holders(holder_pids(&time_wait, &owners), &details.processes).is_empty());
    }

    #[test]
    fn holder_list_follows_the_sockets_order() {
        let owners = Owners {
            by_inode: [(7, vec![10, 11]), (9, vec![12])].into_iter().collect(),
            ..Owners::default()
        };
        let sockets = [
            socket("127.0.0.1:81", State::Listen, 9),
            socket("127.0.0.1:82", State::TimeWait, 0),
            socket("127.0.0.1:80", State::Listen, 7),
        ];
        let list = HolderList::new(&sockets, &owners);
        assert_eq!(list.of(0), &[12]);
        assert_eq!(list.of(1), &[] as &[u32]);
        assert_eq!(list.of(2), &[10, 11]);
        assert_eq!(list.of(3), &[] as &[u32]);
    }

    #[test]
    fn listeners_come_first() {
        let mut sockets = vec![
            socket("127.0.0.1:80", State::TimeWait, 0),
            socket("127.0.0.1:9000", State::Listen, 2),
            socket("127.0.0.1:80", State::Listen, 1),
        ];
        sort(&mut sockets);
        let order: Vec<(u16, State)> = sockets.iter().map(|s| (s.local.port(), s.state)).collect();
        assert_eq!(
            order,
            vec![
                (80, State::Listen),
                (9000, State::Listen),
                (80, State::TimeWait)
            ]
        );
    }
}
