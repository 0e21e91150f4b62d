//! Reconcile: compare each record with what the platform runs, act to close the difference,
//! and publish what was seen (DESIGN.md §3).
//!
//! - [`classify`](mod@classify) — the pure classifier: a record's [`Triage`] before observing, its
//!   [`Situation`] after;
//! - [`decide`](mod@decide) — the pure decision `decide(record, observed, now) -> Decision`, one small
//!   function per [`Situation`];
//! - [`error_policy`](mod@error_policy) — what a failed action means (status, requeue), in one place;
//! - [`pass`] — [`Reconciler`]: read records, triage, observe in one batched call, probe,
//!   decide, act, publish;
//! - [`runtime`] — [`Runtime`]: triggers, due-times, requeues with their [`Reason`], the
//!   periodic resync and time budgets; the Lambda, `snoozectl dev` and `reconcile --watch`
//!   only wire it;
//! - [`events`] — the event of every phase change ([`events::Event`]) and where events go
//!   ([`events::EventSink`]: EventBridge, a JSON-lines file), called by the runtime after each
//!   pass;
//! - [`probe`] — the HTTP readiness probe behind the [`Prober`] trait;
//! - [`ledger`] — the pure accounting of `status.ledger` (task-seconds, always-on, money) and
//!   its flush policy; [`prices`] — the Fargate price table it prices with.
//!
//! Time comes from an injected [`Clock`] ([`SystemClock`] in production,
//! [`crate::clock::SimClock`] in tests and benchmarks).

pub mod classify;
pub mod decide;
pub mod error_policy;
pub mod events;
pub mod group;
pub mod ledger;
pub mod pass;
pub mod prices;
pub mod probe;
pub mod runtime;
pub mod tier;

pub use classify::{
    Invalidity, ServiceGoneReason, Situation, Triage, Want, Why, classify, wake_unanswered, want,
    want_in,
};
pub use decide::{Decision, Readiness, Requeue, decide, decide_invalid, readiness};
pub use error_policy::{Failed, OnError, error_policy};
pub use pass::{PassOptions, PassReport, Reconciler, RecordReport, Scope, SettleReport};
pub use probe::{HttpProber, Prober, StaticProber};
pub use runtime::{
    Hooks, NoHooks, PassInfo, Reason, Reasons, Runtime, RuntimeOptions, Trigger, due_at,
};
pub use tier::{Observe, TierOptions};

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
mod tests_group_pass;
#[cfg(test)]
mod tests_guardrails;
#[cfg(test)]
mod tests_ledger_pass;
#[cfg(test)]
mod tests_pass;
#[cfg(test)]
mod tests_tier_pass;
