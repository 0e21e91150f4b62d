//! snooze: a reconciling controller that keeps AWS ECS Fargate services at `desiredCount = 0`
//! until someone asks for them, wakes them on request and puts them back to sleep when idle.
//!
//! Modules, one concept each (DESIGN.md §1): [`model`] (the record), [`clock`] (where time
//! comes from), [`store`] (where records live), [`platform`] (what actually runs),
//! [`reconcile`] (decide and act), [`wake`] (the wake endpoint and wait page), [`activity`]
//! (counting connections), [`manifest`] (reading manifest files), [`cli`] (`snoozectl`),
//! [`dev`] (the local all-in-one stack).

pub mod activity;
pub mod aws_calls;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dev;
pub mod error_chain;
pub mod manifest;
pub mod model;
pub mod pages;
pub mod platform;
pub mod reconcile;
pub mod store;
pub mod wake;
