//! The throttle on failed logins.
//!
//! Failures are counted per (client address, user id), so an attacker
//! guessing a victim's password slows down only their own attempts: the
//! victim, coming from another address, can still log in. A second budget
//! per client address limits spraying across many user ids. Behind a trusted
//! reverse proxy the address is the one it forwards ([`crate::forwarded`]);
//! otherwise proxied users would all share the proxy's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed for one (address, user) before waiting is imposed.
pub const FREE_FAILURES: u32 = 5;
/// Longest wait imposed on one (address, user).
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures one address may have across all users in [`ADDRESS_WINDOW`].
pub const ADDRESS_BUDGET: u32 = 100;
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct AddressFailures {
    count: u32,
    window_start: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    pairs: Mutex<HashMap<(IpAddr, String), Failures>>,
    addresses: Mutex<HashMap<IpAddr, AddressFailures>>,
}

impl LoginThrottle {
    /// `Err(wait)` if this address must wait before trying this user again.
    pub fn check(&self, addr: IpAddr, user: &str, now: Instant) -> Result<(), Duration> {
        if let Some(a) = self.addresses.lock().unwrap().get(&addr)
            && let Some(start) = a.window_start
            && a.count >= ADDRESS_BUDGET
            && now < start + ADDRESS_WINDOW
        {
            return Err(start + ADDRESS_WINDOW - now);
        }
        let pairs = self.pairs.lock().unwrap();
        match pairs
            .get(&(addr, user.to_lowercase()))
            .and_then(|f| f.blocked_until)
        {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, addr: IpAddr, user: &str, now: Instant) {
        {
            let mut addresses = self.addresses.lock().unwrap();
            let a = addresses.entry(addr).or_default();
            match a.window_start {
                Some(start) if now < start + ADDRESS_WINDOW => a.count += 1,
                _ => {
                    *a = AddressFailures {
                        count: 1,
                        window_start: Some(now),
                    }
                }
            }
        }
        let mut pairs = self.pairs.lock().unwrap();
        let f = pairs.entry((addr, user.to_lowercase())).or_default();
        f.count += 1;
        if f.count >= FREE_FAILURES {
            let exponent = (f.count - FREE_FAILURES).min(16);
            let delay = Duration::from_secs(1u64 << exponent).min(MAX_DELAY);
            f.blocked_until = Some(now + delay);
        }
    }

    /// Clears the count for this (address, user) after a successful login.
    pub fn succeeded(&self, addr: IpAddr, user: &str) {
        self.pairs
            .lock()
            .unwrap()
            .remove(&(addr, user.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_the_attacker_not_the_victim() {
        let throttle = LoginThrottle::default();
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let victim: IpAddr = "192.0.2.2".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(attacker, "tanaka", now);
            assert!(throttle.check(attacker, "tanaka", now).is_ok());
        }
        throttle.failed(attacker, "tanaka", now);
        let wait = throttle.check(attacker, "Tanaka", now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(throttle.check(victim, "tanaka", now).is_ok());
        assert!(throttle.check(attacker, "tanaka", now + wait).is_ok());
        throttle.failed(attacker, "tanaka", now + wait);
        assert_eq!(
            throttle.check(attacker, "tanaka", now + wait).unwrap_err(),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn address_budget_limits_spraying() {
        let throttle = LoginThrottle::default();
        let addr: IpAddr = "192.0.2.3".parse().unwrap();
        let now = Instant::now();
        for i in 0..ADDRESS_BUDGET {
            throttle.failed(addr, &format!("user{i}"), now);
        }
        assert!(throttle.check(addr, "someone-else", now).is_err());
        assert!(
            throttle
                .check(addr, "someone-else", now + ADDRESS_WINDOW)
                .is_ok()
        );
    }
}
