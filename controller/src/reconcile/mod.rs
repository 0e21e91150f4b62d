//! Reconcile: compare each record with what the platform runs, act to close the difference,
//! and publish what was seen (DESIGN.md §3).
//!
//! - [`decide`] — the pure decision `decide(record, observed, now) -> Decision`;
//! - [`pass`] — [`Reconciler`]: read records, observe in one batched call, probe, decide,
//!   act, publish; [`Reconciler::run_until_settled`] honours requeues within a budget;
//! - [`probe`] — the HTTP readiness probe behind the [`Prober`] trait.
//!
//! Time comes from an injected [`Clock`] ([`SystemClock`] in production,
//! [`crate::platform::sim::SimClock`] in tests and benchmarks).

use std::time::Duration;

use async_trait::async_trait;

use crate::model::Timestamp;

pub mod decide;
pub mod pass;
pub mod probe;

pub use decide::{
    Decision, Readiness, Requeue, Situation, Want, decide, decide_invalid, readiness, want,
};
pub use pass::{
    PassOptions, PassReport, Reconciler, RecordReport, Scope, SettleReport, wake_unanswered,
};
pub use probe::{HttpProber, Prober, StaticProber};

/// Reconcile errors (the pass itself; per-record problems are reported in [`RecordReport`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading records failed, so the pass could not start.
    #[error("reading records failed: {0}")]
    Read(#[source] crate::store::Error),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

#[cfg(test)]
mod tests_decide;
#[cfg(test)]
mod tests_pass;
