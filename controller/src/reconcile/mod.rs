//! Reconcile: compare each record with what the platform runs, act to close the difference,
//! and publish what was seen (DESIGN.md §3).
//!
//! - [`decide`] — the pure decision `decide(record, observed, now) -> Decision`;
//! - [`pass`] — [`Reconciler`]: read records, observe in one batched call, probe, decide,
//!   act, publish; [`Reconciler::run_until_settled`] honours requeues within a budget;
//! - [`probe`] — the HTTP readiness probe behind the [`Prober`] trait.
//!
//! Time comes from an injected [`Clock`] ([`SystemClock`] in production,
//! [`crate::clock::SimClock`] in tests and benchmarks).

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

pub use crate::clock::{Clock, SystemClock};

/// Reconcile errors (the pass itself; per-record problems are reported in [`RecordReport`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading records failed, so the pass could not start.
    #[error("reading records failed: {0}")]
    Read(#[source] crate::store::Error),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests_decide;
#[cfg(test)]
mod tests_pass;
