//! The node's clock. Handlers read time only through it, so tests can move
//! time forward (session expiry, account end dates, login waits) without
//! sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::seconds(self.offset_seconds.load(Ordering::Relaxed))
    }

    /// A monotonic instant shifted by the same offset, for waits measured in
    /// the process (the login throttle): unlike [`Clock::now`] it does not
    /// jump when the system's wall clock is corrected, yet tests still move
    /// it forward with [`Clock::advance`].
    pub fn instant(&self) -> Instant {
        let now = Instant::now();
        let offset = self.offset_seconds.load(Ordering::Relaxed);
        let shifted = if offset >= 0 {
            now.checked_add(std::time::Duration::from_secs(offset.unsigned_abs()))
        } else {
            now.checked_sub(std::time::Duration::from_secs(offset.unsigned_abs()))
        };
        shifted.unwrap_or(now)
    }

    /// Sets the offset from real time, forward or back (seeding past days).
    pub fn set_offset_seconds(&self, seconds: i64) {
        self.offset_seconds.store(seconds, Ordering::Relaxed);
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_seconds
            .fetch_add(by.as_secs() as i64, Ordering::Relaxed);
    }
}
