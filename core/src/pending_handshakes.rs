//! Engine.IO sessions that have not connected to a namespace yet. Each one costs the
//! server memory (engineioxide's session, the kept request head) before its client has
//! shown any credential: the credential comes with the Socket.IO CONNECT. So they are
//! bounded, in all and per client address, and closed at `connect_timeout` (socketioxide's
//! connect deadline); a client past a bound is refused before anything is allocated.
//!
//! A [`PendingTicket`] is put in the extensions of the session's first request, which
//! Engine.IO keeps as long as the session lives: the place is given back when the
//! session connects to a namespace, or when the session (and with it the ticket) is
//! dropped, whichever comes first.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Refusal;

/// The places of not-yet-connected Engine.IO sessions.
#[derive(Debug)]
pub(crate) struct PendingHandshakes {
    max_total: usize,
    max_per_address: usize,
    total: AtomicUsize,
    by_address: Mutex<HashMap<AddressKey, usize>>,
}

/// The unit a client address is counted in: an IPv4 address, or an IPv6 /64 (one
/// subscriber's prefix: a single host can use all of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AddressKey(IpAddr);

impl AddressKey {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AddressKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    AddressKey(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl PendingHandshakes {
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Self {
        PendingHandshakes {
            max_total,
            max_per_address,
            total: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a place for a new Engine.IO session from `address` (`None` when the server
    /// does not know the client's address: only the total bound applies then).
    pub(crate) fn admit(
        self: &Arc<Self>,
        address: Option<IpAddr>,
    ) -> Result<PendingTicket, Refusal> {
        let key = address.map(AddressKey::of);
        if let Some(key) = key {
            let mut by_address = lock(&self.by_address);
            let n = by_address.entry(key).or_insert(0);
            if *n >= self.max_per_address {
                return Err(Refusal::TooManyPendingHandshakes);
            }
            if !self.take_total() {
                if *n == 0 {
                    by_address.remove(&key);
                }
                return Err(Refusal::ServerBusy);
            }
            *n += 1;
        } else if !self.take_total() {
            return Err(Refusal::ServerBusy);
        }
        Ok(PendingTicket(Arc::new(Ticket {
            handshakes: self.clone(),
            key,
            released: AtomicBool::new(false),
        })))
    }

    fn take_total(&self) -> bool {
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            })
            .is_ok()
    }

    fn give_back(&self, key: Option<AddressKey>) {
        self.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(key) = key {
            let mut by_address = lock(&self.by_address);
            if let Some(n) = by_address.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    by_address.remove(&key);
                }
            }
        }
    }

    /// Engine.IO sessions holding a place now.
    pub(crate) fn count(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One pending Engine.IO session's place; see the module documentation. Clones share
/// the place (the request head it lives in may be cloned).
#[derive(Clone, Debug)]
pub(crate) struct PendingTicket(Arc<Ticket>);

#[derive(Debug)]
struct Ticket {
    handshakes: Arc<PendingHandshakes>,
    key: Option<AddressKey>,
    released: AtomicBool,
}

impl PendingTicket {
    /// The session connected to a namespace: it is no longer pending.
    pub(crate) fn connected(&self) {
        self.0.release();
    }
}

impl Ticket {
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.handshakes.give_back(self.key);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn bounds_each_address_and_the_total() {
        let gate = Arc::new(PendingHandshakes::new(5, 2));
        let a1 = gate.admit(ip("10.0.0.1")).unwrap();
        let _a2 = gate.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            gate.admit(ip("10.0.0.1")).unwrap_err(),
            Refusal::TooManyPendingHandshakes
        );
        let _b1 = gate.admit(ip("10.0.0.2")).unwrap();
        let _b2 = gate.admit(ip("10.0.0.2")).unwrap();
        let _c1 = gate.admit(None).unwrap();
        assert_eq!(gate.count(), 5);
        assert_eq!(gate.admit(ip("10.0.0.3")).unwrap_err(), Refusal::ServerBusy);
        assert_eq!(gate.admit(None).unwrap_err(), Refusal::ServerBusy);
        // A refused address leaves no entry behind.
        assert!(!lock(&gate.by_address).contains_key(&AddressKey::of("10.0.0.3".parse().unwrap())));
        // Connecting gives the place back once, however often it is called, and the
        // drop that follows does not give it back again.
        a1.connected();
        a1.connected();
        assert_eq!(gate.count(), 4);
        drop(a1);
        assert_eq!(gate.count(), 4);
        assert!(gate.admit(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn a_dropped_session_gives_its_place_back_when_its_last_clone_goes() {
        let gate = Arc::new(PendingHandshakes::new(10, 1));
        let ticket = gate.admit(ip("10.0.0.1")).unwrap();
        let clone = ticket.clone();
        drop(ticket);
        assert_eq!(gate.count(), 1);
        drop(clone);
        assert_eq!(gate.count(), 0);
        assert!(lock(&gate.by_address).is_empty());
        assert!(gate.admit(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_prefix_and_a_mapped_ipv4_as_ipv4() {
        let gate = Arc::new(PendingHandshakes::new(10, 1));
        let _one = gate.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            gate.admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Refusal::TooManyPendingHandshakes
        );
        assert!(gate.admit(ip("2001:db8:1:3::1")).is_ok());
        let _v4 = gate.admit(ip("192.0.2.7")).unwrap();
        assert_eq!(
            gate.admit(ip("::ffff:192.0.2.7")).unwrap_err(),
            Refusal::TooManyPendingHandshakes
        );
    }
}
