//! The reconciler Lambda: classifies what it was invoked with ([`trigger`]) and runs reconcile
//! passes over the records it names ([`handler`]), configured from the environment ([`config`]).

pub mod config;
pub mod handler;
pub mod metrics;
pub mod trigger;
