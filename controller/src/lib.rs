//! snooze: a reconciling controller that keeps AWS ECS Fargate services at `desiredCount = 0`
//! until someone asks for them, wakes them on request and puts them back to sleep when idle.
//!
//! Modules, one concept each (DESIGN.md §1): [`model`] (the record), [`clock`] (where time
//! comes from), [`store`] (where records live), [`platform`] (what actually runs),
//! [`router`] (where a stable address points), [`proxy`] (`snoozectl dev`'s reverse proxy),
//! [`reconcile`] (decide and act; with [`reconcile::group`], services that wake and sleep as
//! one), [`wake`] (the wake endpoint and wait page), [`activity`]
//! (counting connections), [`manifest`] (reading manifest files), [`cli`] (`snoozectl`),
//! [`dev`] (the local all-in-one stack).
//!
//! # Cargo feature `aws`
//!
//! Off by default. It adds what talks to AWS: the DynamoDB store (`store::dynamodb`,
//! `dynamodb://TABLE`), the ECS/EC2 platform (`platform::ecs`, `reconcile --platform ecs`), the
//! SDK call counter (`aws_calls::CallCounter`) and the one-line credentials message
//! (`error_chain::credentials_problem`). The Lambdas turn it on; so does the `snoozectl` an
//! operator runs against AWS (`cargo build --release -p snooze --features aws --bin snoozectl`).
//! `scripts/dev` builds without it, so a first run compiles none of the AWS SDK crates. A build
//! without it that is asked for one of these answers with [`without_aws`].

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
pub mod proxy;
pub mod reconcile;
pub mod router;
pub mod store;
pub mod wake;

/// Whether this build has the AWS-backed parts (cargo feature `aws`, see the crate docs).
pub const HAS_AWS: bool = cfg!(feature = "aws");

/// The command that builds a `snoozectl` with the AWS-backed parts (run from the repository).
pub const BUILD_WITH_AWS: &str = "cargo build --release -p snooze --features aws --bin snoozectl";

/// The one line a build without the cargo feature `aws` answers when asked for an AWS-backed
/// part: `what` is that part as the user named it, e.g. `store dynamodb://snooze` or
/// `--platform ecs`. Shape: `<what> needs AWS support, which this snoozectl was built without
/// (scripts/dev builds the local stack only); build one with: cargo build ...`.
pub fn without_aws(what: &str) -> String {
    format!(
        "{what} needs AWS support, which this snoozectl was built without (scripts/dev builds \
         the local stack only); build one with: {BUILD_WITH_AWS}"
    )
}
