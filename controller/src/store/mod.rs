//! Where records live: the [`Store`] trait and its implementations, [`sqlite`] (the embedded
//! default), `dynamodb` (cargo feature `aws`) and [`memory`] (in-process, for simulations,
//! tests and benchmarks).
//! All three run one conformance suite (`controller/tests/store_conformance.rs`).
//!
//! Every writer touches only its own section of a record (DESIGN.md §2):
//!
//! | method                     | writes                              | condition                              |
//! |----------------------------|-------------------------------------|----------------------------------------|
//! | [`Store::apply`]           | `apiVersion`, `kind`, `metadata`, `spec` | compare-and-swap on `resourceVersion` |
//! | [`Store::record_wake`]     | `wakeRequestedAt`                   | record exists; debounced               |
//! | [`Store::record_activity`] | `lastActivityAt`                    | record exists; debounced               |
//! | [`Store::request_sleep`]   | `sleepRequestedAt`                  | record exists                          |
//! | [`Store::force_wake`]      | `wakeForcedAt`                      | record exists                          |
//! | [`Store::publish_status`]  | `status`                            | record exists (+ facts unchanged)      |
//! | [`Store::delete`]          | the whole item                      | compare-and-swap on `resourceVersion`  |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{Desired, Entry, Record, Status, Timestamp};

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;
pub mod sqlite;

#[cfg(feature = "aws")]
pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

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
    #[error(
        "service {name:?} changed since it was read (expected resourceVersion {expected}, found {found}); re-read and try again"
    )]
    Conflict {
        /// Record name.
        name: String,
        /// The version the writer expected.
        expected: u64,
        /// The version found (0 when unknown).
        found: u64,
    },
    /// [`Store::publish_status`] with [`StatusGuard::facts`] found newer facts.
    #[error("service {0:?}: wake/activity facts changed since they were read")]
    FactsChanged(String),
    /// [`Store::publish_status`] with [`StatusGuard::status_version`] found another status
    /// version: someone (an overlapping pass) published a status since it was read.
    #[error(
        "service {name:?}: status changed since it was read (expected statusVersion {expected}, found {found}); re-read and decide again"
    )]
    StatusChanged {
        /// Record name.
        name: String,
        /// The version the writer read.
        expected: u64,
        /// The version found (0 when unknown).
        found: u64,
    },
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

impl Error {
    /// A short, stable code for metrics and alarms (the reconciler Lambda's `Errors` metric has
    /// it as its `Code` dimension):
    ///
    /// - [`Error::Backend`]: the AWS error code when the message starts with one (the DynamoDB
    ///   store writes `{code}: {message} (request id ...)`, e.g. `AccessDeniedException`,
    ///   `ResourceNotFoundException`, `ProvisionedThroughputExceededException`), else
    ///   `StoreBackend` (no answer from the service, SQLite errors);
    /// - every other variant: its name (`NotFound`, `AlreadyExists`, `Conflict`,
    ///   `FactsChanged`, `StatusChanged`, `Config`).
    pub fn code(&self) -> &str {
        match self {
            Self::NotFound(_) => "NotFound",
            Self::AlreadyExists(_) => "AlreadyExists",
            Self::Conflict { .. } => "Conflict",
            Self::FactsChanged(_) => "FactsChanged",
            Self::StatusChanged { .. } => "StatusChanged",
            Self::Config(_) => "Config",
            Self::Backend { message, .. } => message
                .split_once(": ")
                .map(|(code, _)| code)
                .filter(|c| {
                    c.starts_with(|ch: char| ch.is_ascii_uppercase())
                        && c.chars().all(|ch| ch.is_ascii_alphanumeric())
                })
                .unwrap_or("StoreBackend"),
        }
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`Store::apply`] did. Displayed as kubectl words it: `created`, `configured`,
/// `unchanged`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new record was stored with this `resourceVersion`.
    Created(u64),
    /// The spec or labels changed; new `resourceVersion`.
    Configured(u64),
    /// Spec and labels were identical; nothing written.
    Unchanged(u64),
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Applied::Created(_) => "created",
            Applied::Configured(_) => "configured",
            Applied::Unchanged(_) => "unchanged",
        })
    }
}

/// Creates or updates one record (`snoozectl apply`, `snoozectl dev` at start): absent →
/// created; else a compare-and-swap [`Store::apply`] on the `resourceVersion` just read, so a
/// change between the read and the write is [`Error::Conflict`], never overwritten. A
/// malformed item is replaced at its version.
///
/// Errors: those of [`Store::get`] and [`Store::apply`].
pub async fn apply_one(store: &dyn Store, record: &Record) -> Result<Applied> {
    let expected = store.get(record.name()).await?.map(|entry| match entry {
        Entry::Record(r) => r.metadata.resource_version,
        Entry::Malformed(m) => m.resource_version,
    });
    store.apply(record, expected).await
}

/// What a debounced fact write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// The fact was written.
    Written,
    /// The stored fact was already within the debounce window; nothing written.
    Debounced,
}

/// The conditions on a [`Store::publish_status`] write besides "the record exists" (a deleted
/// record is never resurrected).
///
/// Build it with [`StatusGuard::exists`] (no other condition: seeding tools and tests) or
/// [`StatusGuard::read`] (the reconciler: the status must still be the one it read), and add
/// [`StatusGuard::facts_unchanged`] before a scale-down.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusGuard {
    /// Compare-and-swap on the status: write only if the stored `statusVersion`
    /// ([`crate::model::Metadata::status_version`]) is still this one (0 = no status written
    /// yet), else [`Error::StatusChanged`]. `None`: no such condition.
    pub status_version: Option<u64>,
    /// Also require the `desired` facts to be exactly these (used before a scale-down, so a
    /// wake landing in between wins), else [`Error::FactsChanged`]. `None`: no such condition.
    pub facts: Option<Desired>,
}

impl StatusGuard {
    /// Only that the record still exists.
    pub fn exists() -> Self {
        Self::default()
    }

    /// Only if the status is still at `status_version` (the version read with the record).
    pub fn read(status_version: u64) -> Self {
        Self {
            status_version: Some(status_version),
            facts: None,
        }
    }

    /// Also only if the `desired` facts are exactly `facts`.
    pub fn facts_unchanged(mut self, facts: Desired) -> Self {
        self.facts = Some(facts);
        self
    }
}

/// The record store. All methods are safe to call concurrently from several processes.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads one record with a consistent read. `None` when absent; a malformed item is
    /// returned as [`Entry::Malformed`], never an error.
    async fn get(&self, name: &str) -> Result<Option<Entry>>;

    /// Reads every record (all pages), sorted by name. Malformed items are included.
    async fn list(&self) -> Result<Vec<Entry>>;

    /// Reads one page of the table: the records after `after` (the [`Page::next`] of the
    /// previous page; `None` for the first page). Malformed items are included. A reader that
    /// folds each page and drops it (a reconcile pass over a large table, [`pages`]) never
    /// holds the whole table. DynamoDB: one consistent `Scan` call (at most 1 MB of items, in
    /// the table's order); SQLite: up to [`LIST_PAGE_RECORDS`] records by row id; memory: as
    /// many by name.
    /// Default: the whole table ([`Store::list`]) as one page.
    async fn list_page(&self, after: Option<String>) -> Result<Page> {
        match after {
            None => Ok(Page {
                entries: self.list().await?,
                next: None,
            }),
            Some(_) => Ok(Page::default()),
        }
    }

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

    /// Sets `wakeForcedAt = at` (an operator's `snoozectl wake --force`, which also records a
    /// wake request with [`Store::record_wake`]). Never creates a record: [`Error::NotFound`].
    async fn force_wake(&self, name: &str, at: Timestamp) -> Result<()>;

    /// Replaces `status` (the reconciler's section) under `guard` and increments
    /// `statusVersion` (so after a write guarded by [`StatusGuard::read`]`(v)` it is `v + 1`).
    /// Never creates a record: [`Error::NotFound`] when it was deleted; a failed guard is
    /// [`Error::StatusChanged`] or [`Error::FactsChanged`] (checked in that order).
    async fn publish_status(&self, name: &str, status: &Status, guard: StatusGuard) -> Result<()>;

    /// A cheap value that changes whenever any record changes, also by another process on the
    /// same store; `None` when the store cannot tell (DynamoDB: use the table's stream).
    /// `snoozectl dev` polls it to reconcile right after `snoozectl apply` in another terminal.
    async fn change_token(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}

/// Records per [`Store::list_page`] of the SQLite and memory stores (DynamoDB's pages are
/// its own: up to 1 MB of items).
pub const LIST_PAGE_RECORDS: usize = 256;

/// One page of [`Store::list_page`].
#[derive(Debug, Default)]
pub struct Page {
    /// The page's entries, malformed ones included, in the store's order (by name for the
    /// memory store, by row id for SQLite, the table's order for DynamoDB).
    pub entries: Vec<Entry>,
    /// Where the next page starts, to give as `after` (the last record's name for DynamoDB
    /// and the memory store, its row id for SQLite); `None` on the last page.
    pub next: Option<String>,
}

/// Every record of `store`, one [`Page`]'s entries at a time ([`Store::list_page`]), the
/// continuation followed through a [`crate::pages::PageGuard`] (`operation` names the call in
/// its error, e.g. `Scan`): a page that hands back a continuation seen before, or more than
/// [`crate::pages::SCAN_MAX_PAGES`] pages, ends the stream with [`Error::Backend`] (never a
/// loop, never a partial table taken as whole). The first error ends the stream.
pub fn pages<'a>(
    store: &'a dyn Store,
    operation: &'static str,
) -> impl futures::Stream<Item = Result<Vec<Entry>>> + Send + 'a {
    struct State {
        guard: crate::pages::PageGuard<String>,
        after: Option<String>,
        done: bool,
    }
    let state = State {
        guard: crate::pages::PageGuard::new(operation, crate::pages::SCAN_MAX_PAGES),
        after: None,
        done: false,
    };
    futures::stream::try_unfold(state, move |mut st| async move {
        if st.done {
            return Ok(None);
        }
        let page = store.list_page(st.after.take()).await?;
        st.after = st.guard.next(page.next).map_err(|e| Error::Backend {
            operation,
            message: e.to_string(),
        })?;
        st.done = st.after.is_none();
        Ok(Some((page.entries, st)))
    })
}

/// The default store URL when neither `--store` nor `SNOOZE_STORE` is given (`snoozectl`,
/// `snoozectl dev`): a SQLite file under `.snooze/` in the current directory (created on first
/// use).
pub const DEFAULT_STORE_URL: &str = "sqlite://.snooze/snooze.db";

/// How to reach AWS for a `dynamodb://` store. Ignored by `sqlite://`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// AWS region (flag `--region`). Default: the SDK's chain (`AWS_REGION`, profile, ...);
    /// `us-east-1` when an `endpoint_url` is set and nothing else names one.
    pub region: Option<String>,
    /// Endpoint of a local emulator such as moto, e.g. `http://127.0.0.1:5000` (flag
    /// `--endpoint-url`, env `SNOOZE_ENDPOINT_URL`). With an endpoint and no
    /// `AWS_ACCESS_KEY_ID` in the environment, static `test`/`test` credentials are used.
    pub endpoint_url: Option<String>,
}

/// A parsed store URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH`: a SQLite file (relative paths are relative to the working directory).
    Sqlite(PathBuf),
    /// `dynamodb://TABLE`: a DynamoDB table.
    Dynamo(String),
}

impl StoreUrl {
    /// Parses `sqlite://PATH` or `dynamodb://TABLE`.
    ///
    /// Errors: [`Error::Config`] naming the accepted forms, e.g. for `postgres://x` or a
    /// DynamoDB table name outside `[A-Za-z0-9_.-]{3,255}`.
    pub fn parse(url: &str) -> Result<Self> {
        let hint = "use sqlite://PATH (e.g. sqlite://.snooze/snooze.db) or dynamodb://TABLE";
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(Error::Config(format!(
                    "store url {url:?} has no file path; {hint}"
                )));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some(table) = url.strip_prefix("dynamodb://") {
            let table = table.trim_end_matches('/');
            let ok = (3..=255).contains(&table.len())
                && table
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err(Error::Config(format!(
                    "store url {url:?}: {table:?} is not a DynamoDB table name \
                     (3-255 characters of A-Z a-z 0-9 _ - .); {hint}"
                )));
            }
            return Ok(StoreUrl::Dynamo(table.to_string()));
        }
        Err(Error::Config(format!(
            "unsupported store url {url:?}; {hint}"
        )))
    }
}

/// Builds the store named by `url`: `sqlite://PATH` (the file and its directory are created
/// when missing) or `dynamodb://TABLE` (the table must exist; see
/// `DynamoStore::create_table`). Used by `snoozectl` (`--store`, env `SNOOZE_STORE`), the
/// Lambdas and `snoozectl dev`.
///
/// Errors: [`Error::Config`] for a URL of another form, and for `dynamodb://` in a build
/// without the cargo feature `aws` (the message is [`crate::without_aws`]'s line);
/// [`Error::Backend`] when the SQLite file cannot be opened. Connecting to DynamoDB makes no
/// request.
pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Arc<dyn Store>> {
    match StoreUrl::parse(url)? {
        StoreUrl::Sqlite(path) => {
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
                .await
                .map_err(|e| Error::Backend {
                    operation: "sqlite open",
                    message: e.to_string(),
                })??;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "aws")]
        StoreUrl::Dynamo(table) => {
            let client = dynamo_client(opts).await;
            Ok(Arc::new(DynamoStore::new(client, table)))
        }
        #[cfg(not(feature = "aws"))]
        StoreUrl::Dynamo(table) => {
            let _ = opts;
            Err(Error::Config(crate::without_aws(&format!(
                "store dynamodb://{table}"
            ))))
        }
    }
}

#[cfg(feature = "aws")]
/// A DynamoDB client configured from `opts` and the SDK's usual chain (env, profile, role).
///
/// With `opts.endpoint_url` set (an emulator): no `AWS_ACCESS_KEY_ID` in the environment means
/// static `test`/`test` credentials, and no region anywhere means `us-east-1`.
pub async fn dynamo_client(opts: &ConnectOptions) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws_sdk_config(opts).await)
}

#[cfg(feature = "aws")]
/// The shared AWS configuration behind [`dynamo_client`] (same rules), for other SDK clients.
pub async fn aws_sdk_config(opts: &ConnectOptions) -> aws_config::SdkConfig {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let env_set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    } else if opts.endpoint_url.is_some()
        && !env_set("AWS_REGION")
        && !env_set("AWS_DEFAULT_REGION")
    {
        loader = loader.region(Region::new("us-east-1"));
    }
    if let Some(endpoint) = &opts.endpoint_url {
        loader = loader.endpoint_url(endpoint);
        if !env_set("AWS_ACCESS_KEY_ID") {
            loader = loader.credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "snooze-emulator",
            ));
        }
    }
    loader.load().await
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn store_urls_parse_or_explain() {
        assert_eq!(
            StoreUrl::parse("sqlite://.snooze/snooze.db").unwrap(),
            StoreUrl::Sqlite(".snooze/snooze.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///tmp/x.db").unwrap(),
            StoreUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            StoreUrl::parse("dynamodb://snooze").unwrap(),
            StoreUrl::Dynamo("snooze".into())
        );
        for bad in [
            "postgres://x",
            "snooze.db",
            "sqlite://",
            "dynamodb://a",
            "dynamodb://a b c",
        ] {
            let err = StoreUrl::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid store configuration"),
                "{bad}: {err}"
            );
            assert!(err.contains("sqlite://PATH"), "{bad}: {err}");
        }
    }
}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_variant_or_the_aws_code() {
        let backend = |message: &str| Error::Backend {
            operation: "UpdateItem",
            message: message.into(),
        };
        assert_eq!(
            backend("ResourceNotFoundException: table missing (request id r1)").code(),
            "ResourceNotFoundException"
        );
        assert_eq!(
            backend("dispatch failure: io error: connection refused").code(),
            "StoreBackend"
        );
        assert_eq!(backend("database is locked").code(), "StoreBackend");
        assert_eq!(Error::NotFound("demo".into()).code(), "NotFound");
        assert_eq!(Error::FactsChanged("demo".into()).code(), "FactsChanged");
    }
}
