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
//! | [`Failed::Publish`]: the status write                | (it failed)                    | as decided              |
//!
//! A failed observation is not an action: it is a [`super::Situation::Unobserved`] and is
//! decided like any other case.

use super::decide::{Decision, OBSERVE_RETRY, Requeue};
use crate::model::Status;

/// An action of a pass that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
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
    Route,
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
pub fn error_policy(decision: Option<&Decision>, failed: Failed, error: &str) -> OnError {
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
        Failed::Route => OnError {
            publish: None,
            requeue: Requeue::After(super::decide::TRANSITION_REQUEUE),
        },
        Failed::Publish => OnError {
            publish: None,
            requeue: decided,
        },
    }
}
