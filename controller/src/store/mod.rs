//! Where records live: the [`Store`] trait and its implementations, [`sqlite`] (the embedded
//! default) and [`dynamodb`].
//!
//! Every writer touches only its own section of a record (DESIGN.md §2):
//!
//! | method                     | writes                              | condition                              |
//! |----------------------------|-------------------------------------|----------------------------------------|
//! | [`Store::apply`]           | `apiVersion`, `kind`, `metadata`, `spec` | compare-and-swap on `resourceVersion` |
//! | [`Store::record_wake`]     | `wakeRequestedAt`                   | record exists; debounced               |
//! | [`Store::record_activity`] | `lastActivityAt`                    | record exists; debounced               |
//! | [`Store::request_sleep`]   | `sleepRequestedAt`                  | record exists                          |
//! | [`Store::publish_status`]  | `status`                            | record exists (+ facts unchanged)      |
//! | [`Store::delete`]          | the whole item                      | compare-and-swap on `resourceVersion`  |

use std::time::Duration;

use async_trait::async_trait;

use crate::model::{Desired, Entry, Record, Status, Timestamp};

pub mod dynamodb;
pub mod sqlite;

/// Store errors. Messages are lowercase and name the record.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No record with this name (writes never create one, except [`Store::apply`]).
    #[error("service {0:?} not found")]
    NotFound(String),
    /// [`Store::apply`] with `expected: None` found an existing record.
    #[error("service {0:?} already exists")]
    AlreadyExists(String),
    /// A compare-and-swap failed: the record changed since it was read.
    #[error("service {name:?} changed since it was read (expected resourceVersion {expected}, found {found}); re-read and try again")]
    Conflict {
        /// Record name.
        name: String,
        /// The version the writer expected.
        expected: u64,
        /// The version found (0 when unknown).
        found: u64,
    },
    /// [`Store::publish_status`] with [`StatusGuard::FactsUnchanged`] found newer facts.
    #[error("service {0:?}: wake/activity facts changed since they were read")]
    FactsChanged(String),
    /// The store URL or configuration is unusable.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The backend failed. `message` carries the AWS error code and message or the SQLite error.
    #[error("{operation} failed: {message}")]
    Backend {
        /// The failing call, e.g. `UpdateItem` or `sqlite open`.
        operation: &'static str,
        /// Code, message and request id where available.
        message: String,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`Store::apply`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new record was stored with this `resourceVersion`.
    Created(u64),
    /// The spec or labels changed; new `resourceVersion`.
    Configured(u64),
    /// Spec and labels were identical; nothing written.
    Unchanged(u64),
}

/// What a debounced fact write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// The fact was written.
    Written,
    /// The stored fact was already within the debounce window; nothing written.
    Debounced,
}

/// The condition on a [`Store::publish_status`] write besides "the record exists".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusGuard {
    /// Only that the record still exists (never resurrect a deleted record).
    Exists,
    /// Also that the `desired` facts are exactly as read (used before a scale-down, so a wake
    /// landing in between wins). Fails with [`Error::FactsChanged`].
    FactsUnchanged(Desired),
}

/// The record store. All methods are safe to call concurrently from several processes.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads one record with a consistent read. `None` when absent; a malformed item is
    /// returned as [`Entry::Malformed`], never an error.
    async fn get(&self, name: &str) -> Result<Option<Entry>>;

    /// Reads every record (all pages), sorted by name. Malformed items are included.
    async fn list(&self) -> Result<Vec<Entry>>;

    /// Creates or updates a record's `metadata.labels` and `spec` (the operator's sections).
    ///
    /// `expected`: `None` = create, fail with [`Error::AlreadyExists`] if present;
    /// `Some(v)` = update only if the stored `resourceVersion` is `v`, else [`Error::Conflict`]
    /// (or [`Error::NotFound`]). On a change `generation` and `resourceVersion` are incremented;
    /// identical spec and labels are [`Applied::Unchanged`] and nothing is written. `desired` and
    /// `status` in `record` are ignored.
    async fn apply(&self, record: &Record, expected: Option<u64>) -> Result<Applied>;

    /// Deletes a record. `expected`: `Some(v)` deletes only at `resourceVersion` `v`.
    /// [`Error::NotFound`] when absent.
    async fn delete(&self, name: &str, expected: Option<u64>) -> Result<()>;

    /// Sets `wakeRequestedAt = at` unless the stored value is newer than `at - debounce`
    /// (then [`Touch::Debounced`]). Never creates a record: [`Error::NotFound`].
    async fn record_wake(&self, name: &str, at: Timestamp, debounce: Duration) -> Result<Touch>;

    /// Sets `lastActivityAt = at`, debounced like [`Store::record_wake`].
    async fn record_activity(&self, name: &str, at: Timestamp, debounce: Duration)
    -> Result<Touch>;

    /// Sets `sleepRequestedAt = at` (an explicit operator sleep). Never creates a record.
    async fn request_sleep(&self, name: &str, at: Timestamp) -> Result<()>;

    /// Replaces `status` (the reconciler's section) under `guard`. Never creates a record:
    /// [`Error::NotFound`] when it was deleted.
    async fn publish_status(&self, name: &str, status: &Status, guard: StatusGuard) -> Result<()>;

    /// A cheap value that changes whenever any record changes, also by another process on the
    /// same store; `None` when the store cannot tell (DynamoDB: use the table's stream).
    /// `snoozectl dev` polls it to reconcile right after `snoozectl apply` in another terminal.
    async fn change_token(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}
