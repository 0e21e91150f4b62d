//! The reconciler Lambda: classifies what it was invoked with ([`trigger`]) and runs reconcile
//! passes over the records it names ([`handler`]).

pub mod handler;
pub mod metrics;
pub mod trigger;
