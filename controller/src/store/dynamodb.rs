//! The DynamoDB store (`dynamodb://TABLE`), used by the Lambdas and by `snoozectl` against AWS.
//!
//! # Stored layout
//!
//! One item per record, partition key `name` (S). Top-level attributes, so IAM
//! `dynamodb:Attributes` can scope each writer to its own:
//!
//! | attribute          | type | holds                                              | written by |
//! |--------------------|------|----------------------------------------------------|------------|
//! | `name`             | S    | `metadata.name` (the key)                          | apply (create) |
//! | `apiVersion`       | S    | `snooze/v1`                                        | apply |
//! | `kind`             | S    | `Service`                                          | apply |
//! | `metadata`         | M    | `labels` (M of S), `creationTimestamp` (S)         | apply |
//! | `spec`             | M    | the [`Spec`](crate::model::Spec), field names as in YAML | apply |
//! | `generation`       | N    | `metadata.generation`, +1 per spec change          | apply |
//! | `resourceVersion`  | N    | `metadata.resourceVersion`, compare-and-swap       | apply |
//! | `wakeRequestedAt`  | S    | `desired.wakeRequestedAt`                          | record_wake |
//! | `lastActivityAt`   | S    | `desired.lastActivityAt`                           | record_activity |
//! | `sleepRequestedAt` | S    | `desired.sleepRequestedAt`                         | request_sleep |
//! | `wakeForcedAt`     | S    | `desired.wakeForcedAt`                             | force_wake |
//! | `status`           | M    | the [`Status`]                                     | publish_status |
//!
//! Timestamps are [`Timestamp`]'s fixed-width RFC 3339 strings, so `<` on the strings compares
//! times; the wake/activity debounce is therefore part of the write's condition
//! (`attribute_not_exists(#w) OR #w < :threshold`) and a burst of hits costs one write.
//!
//! Every write is an `UpdateItem` (or `DeleteItem`) on the writer's own attributes with a
//! condition: create `attribute_not_exists(#name)`, spec edits and deletes CAS on
//! `resourceVersion`, facts and status `attribute_exists(#name)` (never create, never
//! resurrect). Every attribute name in every expression is an alias (`#name`, `#status`, ...),
//! so reserved words cannot break a write. Reads are consistent; `Scan` reads every page.
//! Items convert with serde_dynamo; an item that does not parse is returned as
//! [`Entry::Malformed`] with its raw content and the path of the bad attribute.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use serde::Deserialize;
use serde_json::Value as Json;

use super::{Applied, Error, Result, StatusGuard, Store, Touch};
use crate::model::{
    Desired, Entry, Malformed, Metadata, Record, Spec, Status, Timestamp, dotted, read_stored,
};

type Item = HashMap<String, AttributeValue>;

/// How long [`DynamoStore::create_table`] waits for the new table to become ACTIVE.
pub const CREATE_TABLE_WAIT: Duration = Duration::from_secs(120);

/// A [`Store`] on one DynamoDB table (key `name`, type S). Cheap to clone.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// The stored item as serde_dynamo reads it (attribute names as in the module docs).
/// Unknown top-level attributes are ignored (another writer's); unknown fields inside `spec`
/// and `metadata` (a newer snooze's) are skipped and reported in [`Record::unknown_fields`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredItem {
    name: String,
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: StoredMetadata,
    spec: Spec,
    generation: u64,
    resource_version: u64,
    #[serde(default)]
    status_version: u64,
    #[serde(default)]
    wake_requested_at: Option<Timestamp>,
    #[serde(default)]
    last_activity_at: Option<Timestamp>,
    #[serde(default)]
    sleep_requested_at: Option<Timestamp>,
    #[serde(default)]
    wake_forced_at: Option<Timestamp>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMetadata {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    creation_timestamp: Option<Timestamp>,
}

fn dynamo_deserializer(item: &Item) -> serde_dynamo::Deserializer {
    let item: serde_dynamo::Item = item.clone().into();
    serde_dynamo::Deserializer::from_attribute_value(serde_dynamo::AttributeValue::M(item.into()))
}

/// Whether `v` (and everything inside it) has a type this SDK knows: an
/// `AttributeValue::Unknown` (a type newer than the SDK) would make serde_dynamo's
/// conversion panic, so such an item is reported as malformed instead.
fn is_known(v: &AttributeValue) -> bool {
    match v {
        AttributeValue::M(m) => m.values().all(is_known),
        AttributeValue::L(l) => l.iter().all(is_known),
        other => !other.is_unknown(),
    }
}

/// Converts a stored item into an [`Entry`]; never fails, never panics.
fn item_to_entry(item: &Item) -> Entry {
    if let Some((name, _)) = item.iter().find(|(_, v)| !is_known(v)) {
        return Entry::Malformed(Malformed {
            name: match item.get("name") {
                Some(AttributeValue::S(s)) => s.clone(),
                _ => String::new(),
            },
            raw: item_to_json(item),
            error: format!("{name}: holds a DynamoDB type this version cannot read"),
            status: None,
            resource_version: rv_of(item),
            status_version: status_version_of(item),
        });
    }
    match read_stored::<_, StoredItem>(dynamo_deserializer(item)) {
        Ok((s, unknown)) => Entry::Record(Box::new(Record {
            api_version: s.api_version,
            kind: s.kind,
            metadata: Metadata {
                name: s.name,
                labels: s.metadata.labels,
                generation: s.generation,
                resource_version: s.resource_version,
                status_version: s.status_version,
                creation_timestamp: s.metadata.creation_timestamp,
            },
            spec: s.spec,
            desired: Desired {
                wake_requested_at: s.wake_requested_at,
                last_activity_at: s.last_activity_at,
                sleep_requested_at: s.sleep_requested_at,
                wake_forced_at: s.wake_forced_at,
            },
            status: s.status,
            // Sorted: an item's attributes come in no particular order, and the condition
            // that lists them must not change from one read to the next.
            unknown_fields: {
                let mut paths: Vec<String> = unknown
                    .iter()
                    .filter(|path| {
                        path.len() > 1 && matches!(path[0].as_str(), "spec" | "metadata")
                    })
                    .map(|path| dotted(path))
                    .collect();
                paths.sort();
                paths
            },
        })),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let error = if path.is_empty() || path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            };
            Entry::Malformed(Malformed {
                name: match item.get("name") {
                    Some(AttributeValue::S(s)) => s.clone(),
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                },
                raw: item_to_json(item),
                error,
                status: item
                    .get("status")
                    .and_then(|v| serde_dynamo::from_attribute_value::<_, Status>(v.clone()).ok()),
                resource_version: rv_of(item),
                status_version: status_version_of(item),
            })
        }
    }
}

/// The item as plain JSON (attribute by attribute, so one odd attribute cannot hide the rest).
fn item_to_json(item: &Item) -> Json {
    let map: BTreeMap<&String, Json> = item
        .iter()
        .map(|(k, v)| {
            let j = if is_known(v) {
                serde_dynamo::from_attribute_value::<_, Json>(v.clone())
                    .unwrap_or_else(|_| Json::String(format!("{v:?}")))
            } else {
                Json::String(format!("{v:?}"))
            };
            (k, j)
        })
        .collect();
    serde_json::to_value(map).unwrap_or(Json::Null)
}

fn to_av<T: serde::Serialize>(v: &T, what: &str) -> Result<AttributeValue> {
    serde_dynamo::to_attribute_value(v).map_err(|e| Error::Backend {
        operation: "serialise item",
        message: format!("{what}: {e}"),
    })
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An AWS error as [`Error::Backend`] with code, message and request id.
fn sdk_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: RequestId,
{
    if let Some(line) = crate::error_chain::credentials_problem(&err) {
        return Error::Backend {
            operation,
            message: line,
        };
    }
    let message = match err.code() {
        Some(code) => format!(
            "{code}: {} (request id {})",
            err.message().unwrap_or("no message"),
            err.request_id().unwrap_or("unknown")
        ),
        None => crate::error_chain::chain(&err),
    };
    Error::Backend { operation, message }
}

/// `Some(item-or-None)` when `err` is a ConditionalCheckFailed (with the `ALL_OLD` item if the
/// backend returned it), `None` for any other error.
macro_rules! condition_failed {
    ($err:expr, $variant:path) => {
        match $err.as_service_error() {
            Some($variant(e)) => Some(e.item().cloned()),
            _ => None,
        }
    };
}

fn rv_of(item: &Item) -> u64 {
    number_of(item, "resourceVersion")
}

fn status_version_of(item: &Item) -> u64 {
    number_of(item, "statusVersion")
}

/// A numeric top-level attribute, 0 when absent or not a number.
fn number_of(item: &Item, attribute: &str) -> u64 {
    item.get(attribute)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl DynamoStore {
    /// A store on `table` using `client` (see [`super::dynamo_client`]). Makes no request.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on `table` with the client of [`super::dynamo_client`] (same `opts` rules) whose
    /// every DynamoDB call is counted by `calls` (the reconciler Lambda's "AWS calls by
    /// operation" metric). Makes no request.
    pub async fn counted(
        table: impl Into<String>,
        opts: &super::ConnectOptions,
        calls: &crate::aws_calls::CallCounter,
    ) -> Self {
        let conf = aws_sdk_dynamodb::config::Builder::from(&super::aws_sdk_config(opts).await)
            .interceptor(calls.clone())
            .build();
        Self::new(Client::from_conf(conf), table)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// An SDK error as [`Error::Backend`] (code, message, request id); a missing table also
    /// names the table and region and how to create it, since that is what a wrong `--store`,
    /// `--region` or `AWS_REGION` looks like.
    fn aws_err<E, R>(&self, operation: &'static str, err: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
        SdkError<E, R>: RequestId,
    {
        let missing = err.code() == Some("ResourceNotFoundException");
        match sdk_error(operation, err) {
            Error::Backend { operation, message } if missing => Error::Backend {
                operation,
                message: format!(
                    "{message}; no table {} in region {} (`snoozectl init` creates it)",
                    self.table,
                    self.client
                        .config()
                        .region()
                        .map_or("(none)", |r| r.as_ref())
                ),
            },
            other => other,
        }
    }

    /// The SDK client (for tests and `snoozectl init`).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table for `snoozectl init`: on-demand billing, key `name` (S), stream
    /// `NEW_AND_OLD_IMAGES` (the reconciler's trigger), then waits up to
    /// [`CREATE_TABLE_WAIT`] for it to be ACTIVE.
    ///
    /// Returns `true` when the table was created, `false` when it already existed.
    /// Errors: [`Error::Backend`] with the AWS code, message and request id.
    pub async fn create_table(&self) -> Result<bool> {
        use aws_sdk_dynamodb::client::Waiters;
        use aws_sdk_dynamodb::operation::create_table::CreateTableError;
        let build = |e: aws_sdk_dynamodb::error::BuildError| Error::Backend {
            operation: "CreateTable",
            message: e.to_string(),
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("name")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("name")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(build)?,
            )
            .send()
            .await;
        let created = match result {
            Ok(_) => true,
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(CreateTableError::ResourceInUseException(_))
                ) =>
            {
                false
            }
            Err(e) => return Err(self.aws_err("CreateTable", e)),
        };
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(CREATE_TABLE_WAIT)
            .await
            .map_err(|e| Error::Backend {
                operation: "DescribeTable",
                message: format!(
                    "table {} not ACTIVE after {:?}: {}",
                    self.table,
                    CREATE_TABLE_WAIT,
                    crate::error_chain::chain(&e)
                ),
            })?;
        Ok(created)
    }

    fn key(name: &str) -> Item {
        HashMap::from([("name".to_string(), s(name))])
    }

    /// Consistent `GetItem`; `None` when absent.
    async fn get_item(&self, name: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.aws_err("GetItem", e))?;
        Ok(out.item)
    }

    /// The item behind a ConditionalCheckFailed: the `ALL_OLD` image when the backend returned
    /// it, else a consistent read (some emulators ignore `ReturnValuesOnConditionCheckFailure`).
    async fn old_item(&self, name: &str, returned: Option<Item>) -> Result<Option<Item>> {
        match returned {
            Some(item) => Ok(Some(item)),
            None => self.get_item(name).await,
        }
    }

    /// Whether the record exists: a consistent `GetItem` that projects only the key, so a role
    /// whose policy limits the attributes it may read (`dynamodb:Attributes`) can make it.
    async fn record_exists(&self, name: &str) -> Result<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name)))
            .projection_expression("#name")
            .expression_attribute_names("#name", "name")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.aws_err("GetItem", e))?;
        Ok(out.item.is_some())
    }

    /// Sets one fact attribute (`wakeRequestedAt` ...), debounced when `debounce` is given.
    ///
    /// The callers (wake, the activity agent, snoozectl) run under roles whose `UpdateItem` may
    /// touch only `name` and their own fact (`dynamodb:Attributes`). AWS counts the attributes a
    /// request returns among those it touches and documents that such a role may not ask for the
    /// whole item back (`ReturnValues` `ALL_OLD`/`ALL_NEW`); `ReturnValuesOnConditionCheckFailure`
    /// `ALL_OLD` returns the whole item as well and has no condition key to allow it. So the write
    /// asks for nothing back, and a failed condition is told apart by [`Self::record_exists`]
    /// (key only): the record is there, so the fact was debounced; or it is gone.
    async fn touch(
        &self,
        attribute: &'static str,
        name: &str,
        at: Timestamp,
        debounce: Option<Duration>,
    ) -> Result<Touch> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name)))
            .update_expression("SET #f = :at")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#f", attribute)
            .expression_attribute_values(":at", s(at.to_rfc3339()));
        req = match debounce {
            Some(d) => req
                // A fact that is not a string (hand-edited) compares false with `<`; it is
                // overwritten rather than blocking every future write.
                .condition_expression(
                    "attribute_exists(#name) AND (attribute_not_exists(#f) \
                     OR NOT attribute_type(#f, :string) OR #f < :threshold)",
                )
                .expression_attribute_values(":string", s("S"))
                .expression_attribute_values(":threshold", s(at.sub(d).to_rfc3339())),
            None => req.condition_expression("attribute_exists(#name)"),
        };
        match req.send().await {
            Ok(_) => Ok(Touch::Written),
            Err(e) => {
                match condition_failed!(e, UpdateItemError::ConditionalCheckFailedException) {
                    Some(_) => match self.record_exists(name).await? {
                        true if debounce.is_some() => Ok(Touch::Debounced),
                        // Without a debounce the only condition is existence; an item seen now was
                        // (re)created after the write failed.
                        _ => Err(Error::NotFound(name.to_string())),
                    },
                    None => Err(self.aws_err("UpdateItem", e)),
                }
            }
        }
    }

    async fn create(&self, record: &Record) -> Result<Applied> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let name = record.name();
        let metadata = HashMap::from([
            (
                "labels".to_string(),
                to_av(&record.metadata.labels, "metadata.labels")?,
            ),
            (
                "creationTimestamp".to_string(),
                s(Timestamp::now().to_rfc3339()),
            ),
        ]);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name)))
            .update_expression(
                "SET #apiVersion = :apiVersion, #kind = :kind, #metadata = :metadata, \
                 #spec = :spec, #generation = :one, #resourceVersion = :one",
            )
            .condition_expression("attribute_not_exists(#name)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#apiVersion", "apiVersion")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#metadata", "metadata")
            .expression_attribute_names("#spec", "spec")
            .expression_attribute_names("#generation", "generation")
            .expression_attribute_names("#resourceVersion", "resourceVersion")
            .expression_attribute_values(":apiVersion", s(&record.api_version))
            .expression_attribute_values(":kind", s(&record.kind))
            .expression_attribute_values(":metadata", AttributeValue::M(metadata))
            .expression_attribute_values(":spec", to_av(&record.spec, "spec")?)
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Applied::Created(1)),
            Err(e) => {
                match condition_failed!(e, UpdateItemError::ConditionalCheckFailedException) {
                    Some(_) => Err(Error::AlreadyExists(name.to_string())),
                    None => Err(self.aws_err("UpdateItem", e)),
                }
            }
        }
    }

    async fn update(&self, record: &Record, expected: u64) -> Result<Applied> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let name = record.name();
        let Some(current) = self.get_item(name).await? else {
            return Err(Error::NotFound(name.to_string()));
        };
        let found = rv_of(&current);
        if found != expected {
            return Err(Error::Conflict {
                name: name.to_string(),
                expected,
                found,
            });
        }
        let created = match item_to_entry(&current) {
            Entry::Record(r) => {
                if r.spec == record.spec
                    && r.metadata.labels == record.metadata.labels
                    && r.api_version == record.api_version
                    && r.kind == record.kind
                {
                    return Ok(Applied::Unchanged(found));
                }
                r.metadata.creation_timestamp
            }
            Entry::Malformed(_) => None,
        };
        let metadata = HashMap::from([
            (
                "labels".to_string(),
                to_av(&record.metadata.labels, "metadata.labels")?,
            ),
            (
                "creationTimestamp".to_string(),
                s(created.unwrap_or_else(Timestamp::now).to_rfc3339()),
            ),
        ]);
        let next = expected + 1;
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name)))
            .update_expression(
                "SET #apiVersion = :apiVersion, #kind = :kind, #metadata = :metadata, \
                 #spec = :spec, #generation = if_not_exists(#generation, :zero) + :one, \
                 #resourceVersion = :next",
            )
            .expression_attribute_names("#apiVersion", "apiVersion")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#metadata", "metadata")
            .expression_attribute_names("#spec", "spec")
            .expression_attribute_names("#generation", "generation")
            .expression_attribute_names("#resourceVersion", "resourceVersion")
            .expression_attribute_values(":apiVersion", s(&record.api_version))
            .expression_attribute_values(":kind", s(&record.kind))
            .expression_attribute_values(":metadata", AttributeValue::M(metadata))
            .expression_attribute_values(":spec", to_av(&record.spec, "spec")?)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":next", n(next))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        req = if expected == 0 {
            // A malformed item without a resourceVersion (read back as 0).
            req.condition_expression(
                "attribute_exists(#name) AND attribute_not_exists(#resourceVersion)",
            )
            .expression_attribute_names("#name", "name")
        } else {
            req.condition_expression("#resourceVersion = :expected")
                .expression_attribute_values(":expected", n(expected))
        };
        match req.send().await {
            Ok(_) => Ok(Applied::Configured(next)),
            Err(e) => {
                match condition_failed!(e, UpdateItemError::ConditionalCheckFailedException) {
                    Some(returned) => match self.old_item(name, returned).await? {
                        Some(item) => Err(Error::Conflict {
                            name: name.to_string(),
                            expected,
                            found: rv_of(&item),
                        }),
                        None => Err(Error::NotFound(name.to_string())),
                    },
                    None => Err(self.aws_err("UpdateItem", e)),
                }
            }
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn get(&self, name: &str) -> Result<Option<Entry>> {
        Ok(self.get_item(name).await?.as_ref().map(item_to_entry))
    }

    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn list(&self) -> Result<Vec<Entry>> {
        use futures::TryStreamExt;
        let mut entries: Vec<Entry> = Vec::new();
        let mut pages = std::pin::pin!(super::pages(self, "Scan"));
        while let Some(page) = pages.try_next().await? {
            entries.extend(page);
        }
        tracing::debug!(records = entries.len(), "scanned table");
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(entries)
    }

    async fn list_page(&self, after: Option<String>) -> Result<super::Page> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .set_exclusive_start_key(
                after.map(|name| HashMap::from([("name".to_string(), s(name))])),
            )
            .send()
            .await
            .map_err(|e| self.aws_err("Scan", e))?;
        let entries = out.items().iter().map(item_to_entry).collect();
        // The table's key is `name` alone: the LastEvaluatedKey is `{name: S}`.
        let next = match out.last_evaluated_key.filter(|k| !k.is_empty()) {
            None => None,
            Some(key) => match key.get("name") {
                Some(AttributeValue::S(name)) => Some(name.clone()),
                _ => {
                    return Err(Error::Backend {
                        operation: "Scan",
                        message: format!(
                            "the scan's LastEvaluatedKey has no string `name` ({:?}); is this a snooze table?",
                            key.keys().collect::<Vec<_>>()
                        ),
                    });
                }
            },
        };
        Ok(super::Page { entries, next })
    }

    #[tracing::instrument(level = "debug", skip(self, record), fields(table = %self.table, service = %record.name()))]
    async fn apply(&self, record: &Record, expected: Option<u64>) -> Result<Applied> {
        match expected {
            None => self.create(record).await,
            Some(v) => self.update(record, v).await,
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn delete(&self, name: &str, expected: Option<u64>) -> Result<()> {
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name)))
            .expression_attribute_names("#name", "name")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        req = match expected {
            None => req.condition_expression("attribute_exists(#name)"),
            Some(0) => req
                .condition_expression(
                    "attribute_exists(#name) AND attribute_not_exists(#resourceVersion)",
                )
                .expression_attribute_names("#resourceVersion", "resourceVersion"),
            Some(v) => req
                .condition_expression("attribute_exists(#name) AND #resourceVersion = :expected")
                .expression_attribute_names("#resourceVersion", "resourceVersion")
                .expression_attribute_values(":expected", n(v)),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                match condition_failed!(e, DeleteItemError::ConditionalCheckFailedException) {
                    Some(returned) => match (self.old_item(name, returned).await?, expected) {
                        (Some(item), Some(expected)) => Err(Error::Conflict {
                            name: name.to_string(),
                            expected,
                            found: rv_of(&item),
                        }),
                        _ => Err(Error::NotFound(name.to_string())),
                    },
                    None => Err(self.aws_err("DeleteItem", e)),
                }
            }
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn record_wake(&self, name: &str, at: Timestamp, debounce: Duration) -> Result<Touch> {
        self.touch("wakeRequestedAt", name, at, Some(debounce))
            .await
    }

    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn record_activity(
        &self,
        name: &str,
        at: Timestamp,
        debounce: Duration,
    ) -> Result<Touch> {
        self.touch("lastActivityAt", name, at, Some(debounce)).await
    }

    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn request_sleep(&self, name: &str, at: Timestamp) -> Result<()> {
        self.touch("sleepRequestedAt", name, at, None)
            .await
            .map(|_| ())
    }

    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn force_wake(&self, name: &str, at: Timestamp) -> Result<()> {
        self.touch("wakeForcedAt", name, at, None).await.map(|_| ())
    }

    #[tracing::instrument(level = "debug", skip(self, status), fields(table = %self.table))]
    async fn publish_status(&self, name: &str, status: &Status, guard: StatusGuard) -> Result<()> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let mut condition = String::from("attribute_exists(#name)");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name)))
            .update_expression("SET #status = :status ADD #statusVersion :one")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#statusVersion", "statusVersion")
            .expression_attribute_values(":status", to_av(status, "status")?)
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match guard.status_version {
            // An item that never had a status has no statusVersion attribute (read as 0).
            Some(0) => condition.push_str(" AND attribute_not_exists(#statusVersion)"),
            Some(v) => {
                condition.push_str(" AND #statusVersion = :readVersion");
                req = req.expression_attribute_values(":readVersion", n(v));
            }
            None => {}
        }
        if let Some(read) = &guard.facts {
            for (alias, attribute, value) in [
                ("#w", "wakeRequestedAt", read.wake_requested_at),
                ("#a", "lastActivityAt", read.last_activity_at),
                ("#s", "sleepRequestedAt", read.sleep_requested_at),
                ("#fw", "wakeForcedAt", read.wake_forced_at),
            ] {
                req = req.expression_attribute_names(alias, attribute);
                match value {
                    Some(t) => {
                        let placeholder = format!(":{}", &alias[1..]);
                        condition.push_str(&format!(" AND {alias} = {placeholder}"));
                        req = req.expression_attribute_values(placeholder, s(t.to_rfc3339()));
                    }
                    None => condition.push_str(&format!(" AND attribute_not_exists({alias})")),
                }
            }
        }
        match req.condition_expression(condition).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                match condition_failed!(e, UpdateItemError::ConditionalCheckFailedException) {
                    Some(returned) => match self.old_item(name, returned).await? {
                        None => Err(Error::NotFound(name.to_string())),
                        Some(old) => match guard.status_version {
                            Some(expected) if status_version_of(&old) != expected => {
                                Err(Error::StatusChanged {
                                    name: name.to_string(),
                                    expected,
                                    found: status_version_of(&old),
                                })
                            }
                            _ => Err(Error::FactsChanged(name.to_string())),
                        },
                    },
                    None => Err(self.aws_err("UpdateItem", e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn malformed_items_name_the_bad_attribute() {
        let entry = item_to_entry(&item(&[("name", s("demo"))]));
        let Entry::Malformed(m) = entry else {
            panic!("{entry:?}")
        };
        assert_eq!(m.name, "demo");
        assert!(
            m.error.contains("missing field `apiVersion`"),
            "{}",
            m.error
        );
        assert_eq!(m.raw, serde_json::json!({"name": "demo"}));

        let mut good = HashMap::new();
        good.insert("name".to_string(), s("demo"));
        good.insert("apiVersion".to_string(), s("snooze/v1"));
        good.insert("kind".to_string(), s("Service"));
        good.insert("generation".to_string(), n(1));
        good.insert("resourceVersion".to_string(), n(3));
        let spec = to_av(&Record::test("demo").spec, "spec").unwrap();
        good.insert("spec".to_string(), spec.clone());
        assert!(matches!(item_to_entry(&good), Entry::Record(_)));

        let AttributeValue::M(mut spec) = spec else {
            panic!()
        };
        spec.insert("replicas".into(), s("two"));
        good.insert("spec".to_string(), AttributeValue::M(spec));
        good.insert(
            "status".to_string(),
            to_av(&Status::default(), "status").unwrap(),
        );
        let Entry::Malformed(m) = item_to_entry(&good) else {
            panic!()
        };
        assert!(m.error.starts_with("spec.replicas:"), "{}", m.error);
        assert_eq!(m.resource_version, 3);
        assert_eq!(m.status, Some(Status::default()));
    }
}
