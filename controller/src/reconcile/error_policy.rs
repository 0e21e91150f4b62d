//! The one error policy: what a failed action of a pass means for the record (STYLE.md §14,
//! kube-runtime's `error_policy(obj, &err, ctx) -> Action`).
//!
//! The pass calls [`error_policy`] once for every failed call, in one place per call, and does
//! what the returned [`OnError`] says; no call site edits a status or picks a requeue of its
//! own after a failure.
//!
//! | failed action                                        | status                         | requeue                 |
//! |------------------------------------------------------|--------------------------------|-------------------------|
//! | [`Failed::Read`]: reading the record                 | nothing published              | after [`OBSERVE_RETRY`] |
//! | [`Failed::Reread`]: the re-read before acting        | nothing published              | after [`OBSERVE_RETRY`] |
//! | [`Failed::Commit`]: the guarded write before a scale-down | nothing published, no scale | after [`OBSERVE_RETRY`] |
//! | [`Failed::Scale`]: `UpdateService`                   | the decided one, with `memo.lastSet` = the observed count (no false drift next pass) and `scaling failed: …` in its message | as decided |
//! | [`Failed::Route`]: pointing the stable address       | the last published status (the decided one if none), its route unchanged, `Routed` False with reason [`ROUTE_FAILED`] and the error | after [`TRANSITION_REQUEUE`] |
//! | [`Failed::Publish`]: the status write                | (it failed)                    | as decided              |
//!
//! A failed observation is not an action: it is a [`super::Situation::Unobserved`] and is
//! decided like any other case.

use super::decide::{Decision, OBSERVE_RETRY, ROUTED, Requeue, TRANSITION_REQUEUE, set_condition};
use crate::model::{ConditionStatus, Status, Timestamp};

/// Reason of the `Routed` condition when the router could not point the stable address (the
/// condition's message has the error, e.g. a reconciler without a router for route mode).
pub const ROUTE_FAILED: &str = "RouteFailed";

/// An action of a pass that failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Failed<'a> {
    /// Reading the record (a scoped pass's consistent get).
    Read,
    /// Re-reading the record just before scaling or publishing (the overlap check).
    Reread,
    /// The status write that commits a scale-down before it is sent
    /// ([`crate::store::StatusGuard::facts_unchanged`]).
    Commit,
    /// Scaling the service; `from` is the observed desiredCount, which stays the one snooze
    /// last set since the call did not change it.
    Scale {
        /// The observed desiredCount.
        from: u32,
    },
    /// Pointing a route-mode record's stable address ([`crate::router::Router::point`]):
    /// nothing else is done for the record (no scale-down may start while the address still
    /// reaches the service, and no status may say it points where it does not).
    Route {
        /// The record's last published status (`None` for a record never reconciled).
        previous: Option<&'a Status>,
        /// When the pass decided (the condition's transition time).
        now: Timestamp,
    },
    /// Publishing the status.
    Publish,
}

/// What the pass does after a failed action.
#[derive(Clone, Debug, PartialEq)]
pub struct OnError {
    /// Publish this status (instead of the decided one), or nothing.
    pub publish: Option<Status>,
    /// When to look at the record again.
    pub requeue: Requeue,
}

/// The policy for `failed` with `error` (its message, with code), given the pass's decision
/// for the record (`None` when the failure came before any decision, i.e. [`Failed::Read`]).
pub fn error_policy(decision: Option<&Decision>, failed: Failed<'_>, error: &str) -> OnError {
    let decided = decision.map_or(Requeue::After(OBSERVE_RETRY), |d| d.requeue);
    match failed {
        Failed::Read | Failed::Reread | Failed::Commit => OnError {
            publish: None,
            requeue: Requeue::After(OBSERVE_RETRY),
        },
        Failed::Scale { from } => OnError {
            publish: decision.map(|d| {
                let mut status = d.status.clone();
                status.memo.last_set = Some(from);
                status.message = if status.message.is_empty() {
                    format!("scaling failed: {error}")
                } else {
                    format!("{}; scaling failed: {error}", status.message)
                };
                status
            }),
            requeue: decided,
        },
        Failed::Route { previous, now } => OnError {
            // What is published stays true: nothing was scaled and the address still points
            // where it pointed; only the failure is new, so an operator sees why.
            publish: previous.or(decision.map(|d| &d.status)).map(|base| {
                let mut status = base.clone();
                status.route = previous.and_then(|p| p.route.clone());
                let host = decision
                    .and_then(|d| d.status.route.as_ref())
                    .map_or("the stable address", |r| r.host.as_str());
                set_condition(
                    &mut status.conditions,
                    ROUTED,
                    ConditionStatus::False,
                    ROUTE_FAILED,
                    &format!("pointing {host} failed: {error}"),
                    now,
                );
                status
            }),
            requeue: Requeue::After(TRANSITION_REQUEUE),
        },
        Failed::Publish => OnError {
            publish: None,
            requeue: decided,
        },
    }
}
