//! The bytes of request bodies held before their signature is verified.
//!
//! A signature that covers the body can only be checked once the body is in memory, so those
//! bytes are the one thing an unauthenticated client can make the server hold. They are
//! bounded twice: across the whole server, and for each source address, so that one address
//! cannot take the whole budget from clients elsewhere. A reservation that does not fit is
//! refused at once (the caller answers RESOURCE_EXHAUSTED); it never waits.
//!
//! Each request also pays [`REQUEST_OVERHEAD_BYTES`] up front, for what it costs the server
//! besides its body (the stream, the task), so that requests waiting for a body that never
//! comes are bounded in number too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// What one request waiting for verification is charged besides its body bytes.
pub const REQUEST_OVERHEAD_BYTES: usize = 16 * 1024;

/// The server's budget of not-yet-authenticated body bytes.
pub struct BodyBudget {
    total_limit: usize,
    per_address_limit: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Which of the two bounds a reservation would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudget {
    /// The whole server's budget is taken.
    Server,
    /// This source address holds its share already.
    Address,
}

impl BodyBudget {
    /// A budget of `total_limit` bytes, at most `per_address_limit` of them for one address.
    pub fn new(total_limit: usize, per_address_limit: usize) -> Arc<Self> {
        Arc::new(Self {
            total_limit,
            per_address_limit: per_address_limit.min(total_limit),
            held: Mutex::new(Held::default()),
        })
    }

    /// A reservation for one request from `address`, holding [`REQUEST_OVERHEAD_BYTES`], to
    /// grow as body chunks arrive.
    pub fn reservation(self: &Arc<Self>, address: IpAddr) -> Result<Reservation, OverBudget> {
        let mut reservation = Reservation {
            budget: Arc::clone(self),
            address,
            bytes: 0,
        };
        reservation.grow(REQUEST_OVERHEAD_BYTES)?;
        Ok(reservation)
    }

    /// Bytes held now across the server.
    pub fn held(&self) -> usize {
        self.lock().total
    }

    fn take(&self, address: IpAddr, bytes: usize) -> Result<(), OverBudget> {
        let mut held = self.lock();
        let by_address = held.by_address.get(&address).copied().unwrap_or(0);
        if by_address.saturating_add(bytes) > self.per_address_limit {
            return Err(OverBudget::Address);
        }
        if held.total.saturating_add(bytes) > self.total_limit {
            return Err(OverBudget::Server);
        }
        held.total += bytes;
        *held.by_address.entry(address).or_insert(0) += bytes;
        Ok(())
    }

    fn give_back(&self, address: IpAddr, bytes: usize) {
        let mut held = self.lock();
        held.total = held.total.saturating_sub(bytes);
        if let Some(by_address) = held.by_address.get_mut(&address) {
            *by_address = by_address.saturating_sub(bytes);
            if *by_address == 0 {
                held.by_address.remove(&address);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Bytes one request holds in the budget; given back when dropped.
pub struct Reservation {
    budget: Arc<BodyBudget>,
    address: IpAddr,
    bytes: usize,
}

impl Reservation {
    /// Reserves `bytes` more, or says which bound that would break.
    pub fn grow(&mut self, bytes: usize) -> Result<(), OverBudget> {
        self.budget.take(self.address, bytes)?;
        self.bytes += bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.address, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn one_address_cannot_take_the_whole_budget() {
        const O: usize = REQUEST_OVERHEAD_BYTES;
        let budget = BodyBudget::new(2 * O + 100, O + 60);
        let mut first = budget.reservation(ip(1)).unwrap();
        first.grow(60).unwrap();
        assert_eq!(first.grow(1), Err(OverBudget::Address));
        let mut second = budget.reservation(ip(2)).unwrap();
        second.grow(40).unwrap();
        assert_eq!(second.grow(1), Err(OverBudget::Server));
        drop(first);
        second.grow(20).unwrap();
        assert_eq!(budget.held(), O + 60);
        drop(second);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn requests_waiting_for_a_body_are_bounded_in_number() {
        let budget = BodyBudget::new(10 * REQUEST_OVERHEAD_BYTES, 4 * REQUEST_OVERHEAD_BYTES);
        let held: Vec<_> = (0..4).map(|_| budget.reservation(ip(1)).unwrap()).collect();
        assert_eq!(budget.reservation(ip(1)).err(), Some(OverBudget::Address));
        assert!(budget.reservation(ip(2)).is_ok());
        drop(held);
        assert_eq!(budget.held(), 0);
    }
}
