//! Where time comes from: the [`Clock`] trait, the wall clock ([`SystemClock`]) and a clock
//! that moves only when told ([`SimClock`], for tests, the simulator and benchmarks).
//!
//! This module sits below `reconcile` and `platform`: both take time from a [`Clock`], and
//! neither needs the other for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::model::Timestamp;

/// Where the reconciler gets the time. Injected so tests and the simulator control it.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time (milliseconds, UTC).
    fn now(&self) -> Timestamp;
    /// Waits `d` of this clock's time (a simulated clock just advances).
    async fn sleep(&self, d: Duration);
}

/// The wall clock and tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A clock that moves only when told. Shared (`Arc`) between the platform, the reconciler and
/// the test. [`Clock::sleep`] advances it instead of waiting.
#[derive(Debug)]
pub struct SimClock {
    ms: AtomicI64,
}

impl SimClock {
    /// A clock at `start`.
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(Self {
            ms: AtomicI64::new(start.as_millis()),
        })
    }
    /// A clock at 2026-11-29T10:00:00.000Z.
    pub fn default_start() -> Arc<Self> {
        Self::new(Timestamp::from_millis(1_795_946_400_000))
    }
    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.ms.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
    /// Sets the clock (it may go backwards; tests should not need that).
    pub fn set(&self, t: Timestamp) {
        self.ms.store(t.as_millis(), Ordering::SeqCst);
    }
    /// The current simulated time.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.ms.load(Ordering::SeqCst))
    }
}

#[async_trait]
impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        SimClock::now(self)
    }
    async fn sleep(&self, d: Duration) {
        self.advance(d);
        tokio::task::yield_now().await;
    }
}
