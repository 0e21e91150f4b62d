//! [`MemoryStore`]: an in-memory [`Store`] for simulations, tests and benchmarks. It runs the
//! same conformance suite as [`super::sqlite`] and [`super::dynamodb`]
//! (`controller/tests/store_conformance.rs`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};

use super::{Applied, Error, Result, StatusGuard, Store, Touch};
use crate::model::{
    Desired, Entry, Malformed, Metadata, Record, Status, Timestamp, parse_record_value,
};

/// A [`Store`] kept in a map behind a mutex, with the same semantics as the real stores
/// (compare-and-swap on `resourceVersion`, debounced facts, guarded status writes that never
/// create a record, `creationTimestamp` set on create, malformed items kept with their raw
/// JSON and repaired by a later write). Nothing is persisted.
///
/// Every call is atomic, as a conditional DynamoDB write is. With [`MemoryStore::set_latency`]
/// each call first waits (a tokio sleep), so callers that run at the same time (a pass, an
/// operator's edit, a wake) interleave between calls: between a pass's read and its writes.
///
/// [`Store::change_token`] is a counter of writes (as SQLite's): it moves on every write that
/// changed something, never on a read, a debounced fact or an unchanged apply.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, Entry>>,
    changes: AtomicU64,
    publishes: AtomicU64,
    latency_us: AtomicU64,
    reads: ReadCounts,
}

/// How many reads of each kind a [`MemoryStore`] answered ([`MemoryStore::reads`]).
#[derive(Debug, Default)]
pub struct ReadCounts {
    /// [`Store::get`] calls.
    pub gets: AtomicU64,
    /// [`Store::list`] calls (the whole table at once).
    pub lists: AtomicU64,
    /// [`Store::list_page`] calls.
    pub pages: AtomicU64,
}

/// The three fact fields of `desired`, by their JSON name.
#[derive(Clone, Copy)]
enum Fact {
    Wake,
    Activity,
    Sleep,
    Forced,
}

impl Fact {
    fn key(self) -> &'static str {
        match self {
            Fact::Wake => "wakeRequestedAt",
            Fact::Activity => "lastActivityAt",
            Fact::Sleep => "sleepRequestedAt",
            Fact::Forced => "wakeForcedAt",
        }
    }
    fn slot(self, d: &mut Desired) -> &mut Option<Timestamp> {
        match self {
            Fact::Wake => &mut d.wake_requested_at,
            Fact::Activity => &mut d.last_activity_at,
            Fact::Sleep => &mut d.sleep_requested_at,
            Fact::Forced => &mut d.wake_forced_at,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a whole record as given (desired and status included), bypassing the
    /// operator path; for seeding simulations.
    pub fn put(&self, record: Record) {
        self.bump();
        self.lock().insert(
            record.metadata.name.clone(),
            Entry::Record(Box::new(record)),
        );
    }

    /// Inserts an item that does not parse (as if broken in the DynamoDB console), with this
    /// raw content and parse error, no status and `resourceVersion` 1.
    pub fn put_malformed(&self, name: &str, raw: serde_json::Value, error: &str) {
        self.bump();
        self.lock().insert(
            name.to_string(),
            Entry::Malformed(Malformed {
                name: name.to_string(),
                raw,
                error: error.to_string(),
                status: None,
                resource_version: 1,
                status_version: 0,
            }),
        );
    }

    /// Changes the stored item `name` as JSON behind the store's back (as an operator in a
    /// console would) and parses the result as the other stores parse an item: one that no
    /// longer parses becomes [`Entry::Malformed`] with the path of the offending field. A
    /// record's JSON is its `snoozectl get -o json` form (`apiVersion`, `kind`, `metadata`,
    /// `spec`, `desired`, `status`). Returns `false` (and calls nothing) when `name` is absent.
    pub fn edit_raw(&self, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> bool {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(name) else {
            return false;
        };
        let mut raw = match entry {
            Entry::Record(r) => serde_json::to_value(&**r).expect("a record serialises"),
            Entry::Malformed(m) => m.raw.clone(),
        };
        edit(&mut raw);
        *entry = parse_entry(name, raw);
        drop(map);
        self.bump();
        true
    }

    /// The record with this name, if present and well-formed (no I/O; for assertions).
    pub fn record(&self, name: &str) -> Option<Record> {
        match self.lock().get(name) {
            Some(Entry::Record(r)) => Some((**r).clone()),
            _ => None,
        }
    }

    /// The stored status of any entry, well-formed or not.
    pub fn status(&self, name: &str) -> Option<Status> {
        match self.lock().get(name)? {
            Entry::Record(r) => r.status.clone(),
            Entry::Malformed(m) => m.status.clone(),
        }
    }

    /// How many reads of each kind this store answered (for tests and benchmarks: a pass reads
    /// the table page by page, not whole).
    pub fn reads(&self) -> &ReadCounts {
        &self.reads
    }

    /// How many `publish_status` calls wrote a status.
    pub fn publishes(&self) -> u64 {
        self.publishes.load(Ordering::Relaxed)
    }

    /// Wall-clock (tokio) time every [`Store`] call waits before it takes effect; its answer
    /// comes back as soon as it took effect. Default 0 (calls never yield). Microsecond
    /// resolution.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_us
            .store(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Waits the configured latency (see [`MemoryStore::set_latency`]).
    async fn pause(&self) {
        let us = self.latency_us.load(Ordering::Relaxed);
        if us > 0 {
            tokio::time::sleep(Duration::from_micros(us)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().expect("memory store lock")
    }

    fn bump(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets one fact, debounced when `debounce` is given (the DynamoDB condition
    /// `attribute_not_exists(#f) OR #f < :at-debounce`); never creates a record. On a
    /// malformed item the fact is written into its raw JSON (a mistyped fact is overwritten),
    /// which may repair it.
    fn touch(
        &self,
        name: &str,
        fact: Fact,
        at: Timestamp,
        debounce: Option<Duration>,
    ) -> Result<Touch> {
        let debounced = |stored: Option<Timestamp>| {
            debounce.is_some_and(|d| stored.is_some_and(|s| s >= at.sub(d)))
        };
        let mut map = self.lock();
        match map.get_mut(name) {
            None => return Err(Error::NotFound(name.to_string())),
            Some(Entry::Record(r)) => {
                let slot = fact.slot(&mut r.desired);
                if debounced(*slot) {
                    return Ok(Touch::Debounced);
                }
                *slot = Some(at);
            }
            Some(entry @ Entry::Malformed(_)) => {
                let Entry::Malformed(m) = &mut *entry else {
                    unreachable!("matched as malformed")
                };
                let Some(item) = m.raw.as_object_mut() else {
                    return Err(Error::Backend {
                        operation: "memory update",
                        message: format!("service {name:?} is malformed (not a JSON object)"),
                    });
                };
                let desired = item
                    .entry("desired")
                    .or_insert_with(|| Json::Object(Map::new()));
                if !desired.is_object() {
                    *desired = Json::Object(Map::new());
                }
                let desired = desired.as_object_mut().expect("an object");
                let stored = desired
                    .get(fact.key())
                    .and_then(|v| serde_json::from_value::<Timestamp>(v.clone()).ok());
                if debounced(stored) {
                    return Ok(Touch::Debounced);
                }
                desired.insert(fact.key().into(), to_json(&at));
                reparse(entry);
            }
        }
        drop(map);
        self.bump();
        Ok(Touch::Written)
    }
}

/// `value` as JSON (our model types always serialise).
fn to_json<T: serde::Serialize>(value: &T) -> Json {
    serde_json::to_value(value).expect("model types serialise to JSON")
}

/// The entry for a raw item stored under `name`: the record when it parses, else
/// [`Entry::Malformed`] with the parse error, the status if that part parses and the
/// `resourceVersion` if it can be read.
fn parse_entry(name: &str, raw: Json) -> Entry {
    match parse_record_value(raw.clone()) {
        Ok(r) => Entry::Record(Box::new(r)),
        Err(error) => Entry::Malformed(Malformed {
            name: name.to_string(),
            status: raw
                .get("status")
                .and_then(|s| serde_json::from_value(s.clone()).ok()),
            resource_version: raw
                .pointer("/metadata/resourceVersion")
                .and_then(Json::as_u64)
                .unwrap_or(0),
            status_version: raw
                .pointer("/metadata/statusVersion")
                .and_then(Json::as_u64)
                .unwrap_or(0),
            error,
            raw,
        }),
    }
}

/// After a write into a malformed item's raw JSON: the record, if it parses now. Otherwise the
/// entry (and its error, which names the part that is still broken) stays as it is.
fn reparse(entry: &mut Entry) {
    if let Entry::Malformed(m) = entry
        && let Ok(r) = parse_record_value(m.raw.clone())
    {
        *entry = Entry::Record(Box::new(r));
    }
}

/// Whether the facts in a malformed item's raw JSON are exactly `read` (a fact that is not a
/// timestamp never is).
fn raw_facts_are(raw: &Json, read: &Desired) -> bool {
    [
        (Fact::Wake, read.wake_requested_at),
        (Fact::Activity, read.last_activity_at),
        (Fact::Sleep, read.sleep_requested_at),
        (Fact::Forced, read.wake_forced_at),
    ]
    .into_iter()
    .all(|(fact, want)| {
        let stored = raw.get("desired").and_then(|d| d.get(fact.key()));
        match (stored, want) {
            (None | Some(Json::Null), None) => true,
            (Some(v), Some(t)) => serde_json::from_value::<Timestamp>(v.clone()).ok() == Some(t),
            _ => false,
        }
    })
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, name: &str) -> Result<Option<Entry>> {
        self.pause().await;
        self.reads.gets.fetch_add(1, Ordering::Relaxed);
        Ok(self.lock().get(name).cloned())
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        self.pause().await;
        self.reads.lists.fetch_add(1, Ordering::Relaxed);
        Ok(self.lock().values().cloned().collect())
    }

    async fn list_page(&self, after: Option<String>) -> Result<super::Page> {
        use std::ops::Bound;
        self.pause().await;
        self.reads.pages.fetch_add(1, Ordering::Relaxed);
        let map = self.lock();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let entries: Vec<Entry> = map
            .range::<String, _>((from, Bound::Unbounded))
            .take(super::LIST_PAGE_RECORDS)
            .map(|(_, e)| e.clone())
            .collect();
        let next = (entries.len() == super::LIST_PAGE_RECORDS)
            .then(|| entries.last().map(|e| e.name().to_string()))
            .flatten();
        Ok(super::Page { entries, next })
    }

    async fn apply(&self, record: &Record, expected: Option<u64>) -> Result<Applied> {
        self.pause().await;
        let name = record.metadata.name.clone();
        let mut map = self.lock();
        let out = match (map.get_mut(&name), expected) {
            (Some(_), None) => return Err(Error::AlreadyExists(name)),
            (None, Some(_)) => return Err(Error::NotFound(name)),
            (None, None) => {
                let mut r = record.clone();
                r.desired = Desired::default();
                r.status = None;
                r.metadata.generation = 1;
                r.metadata.resource_version = 1;
                r.metadata.status_version = 0;
                r.metadata.creation_timestamp = Some(Timestamp::now());
                map.insert(name, Entry::Record(Box::new(r)));
                Applied::Created(1)
            }
            (Some(entry @ Entry::Malformed(_)), Some(v)) => {
                let Entry::Malformed(m) = &*entry else {
                    unreachable!("matched as malformed")
                };
                if m.resource_version != v {
                    return Err(Error::Conflict {
                        name,
                        expected: v,
                        found: m.resource_version,
                    });
                }
                // The operator's sections are replaced; the facts, the status and the creation
                // time are kept (as the SQLite columns and DynamoDB attributes are).
                let stored_meta = |key: &str| m.raw.get("metadata").and_then(|md| md.get(key));
                let generation = stored_meta("generation")
                    .and_then(Json::as_u64)
                    .unwrap_or(0);
                let metadata = Metadata {
                    name: name.clone(),
                    labels: record.metadata.labels.clone(),
                    generation: generation + 1,
                    resource_version: v + 1,
                    status_version: m.status_version,
                    creation_timestamp: stored_meta("creationTimestamp")
                        .and_then(|t| serde_json::from_value(t.clone()).ok()),
                };
                let mut item = Map::new();
                item.insert("apiVersion".into(), to_json(&record.api_version));
                item.insert("kind".into(), to_json(&record.kind));
                item.insert("metadata".into(), to_json(&metadata));
                item.insert("spec".into(), to_json(&record.spec));
                if let Some(desired) = m.raw.get("desired") {
                    item.insert("desired".into(), desired.clone());
                }
                if let Some(status) = m.raw.get("status") {
                    item.insert("status".into(), status.clone());
                } else if let Some(status) = &m.status {
                    item.insert("status".into(), to_json(status));
                }
                *entry = parse_entry(&name, Json::Object(item));
                Applied::Configured(v + 1)
            }
            (Some(Entry::Record(stored)), Some(v)) => {
                if stored.metadata.resource_version != v {
                    return Err(Error::Conflict {
                        name,
                        expected: v,
                        found: stored.metadata.resource_version,
                    });
                }
                if stored.spec == record.spec
                    && stored.metadata.labels == record.metadata.labels
                    && stored.api_version == record.api_version
                    && stored.kind == record.kind
                {
                    // Nothing written: the change token stays.
                    return Ok(Applied::Unchanged(v));
                }
                stored.api_version = record.api_version.clone();
                stored.kind = record.kind.clone();
                stored.spec = record.spec.clone();
                stored.metadata.labels = record.metadata.labels.clone();
                stored.metadata.generation += 1;
                stored.metadata.resource_version += 1;
                Applied::Configured(stored.metadata.resource_version)
            }
        };
        drop(map);
        self.bump();
        Ok(out)
    }

    async fn delete(&self, name: &str, expected: Option<u64>) -> Result<()> {
        self.pause().await;
        let mut map = self.lock();
        let found = match map.get(name) {
            None => return Err(Error::NotFound(name.to_string())),
            Some(Entry::Record(r)) => r.metadata.resource_version,
            Some(Entry::Malformed(m)) => m.resource_version,
        };
        if let Some(v) = expected
            && v != found
        {
            return Err(Error::Conflict {
                name: name.to_string(),
                expected: v,
                found,
            });
        }
        map.remove(name);
        drop(map);
        self.bump();
        Ok(())
    }

    async fn record_wake(&self, name: &str, at: Timestamp, debounce: Duration) -> Result<Touch> {
        self.pause().await;
        self.touch(name, Fact::Wake, at, Some(debounce))
    }

    async fn record_activity(
        &self,
        name: &str,
        at: Timestamp,
        debounce: Duration,
    ) -> Result<Touch> {
        self.pause().await;
        self.touch(name, Fact::Activity, at, Some(debounce))
    }

    async fn request_sleep(&self, name: &str, at: Timestamp) -> Result<()> {
        self.pause().await;
        self.touch(name, Fact::Sleep, at, None).map(|_| ())
    }

    async fn force_wake(&self, name: &str, at: Timestamp) -> Result<()> {
        self.pause().await;
        self.touch(name, Fact::Forced, at, None).map(|_| ())
    }

    async fn publish_status(&self, name: &str, status: &Status, guard: StatusGuard) -> Result<()> {
        self.pause().await;
        let mut map = self.lock();
        let check_version = |found: u64| match guard.status_version {
            Some(expected) if expected != found => Err(Error::StatusChanged {
                name: name.to_string(),
                expected,
                found,
            }),
            _ => Ok(()),
        };
        match map.get_mut(name) {
            None => return Err(Error::NotFound(name.to_string())),
            Some(entry @ Entry::Malformed(_)) => {
                let Entry::Malformed(m) = &mut *entry else {
                    unreachable!("matched as malformed")
                };
                check_version(m.status_version)?;
                if let Some(d) = &guard.facts
                    && !raw_facts_are(&m.raw, d)
                {
                    return Err(Error::FactsChanged(name.to_string()));
                }
                m.status = Some(status.clone());
                m.status_version += 1;
                let version = m.status_version;
                if let Some(item) = m.raw.as_object_mut() {
                    item.insert("status".into(), to_json(status));
                    if let Some(meta) = item.get_mut("metadata").and_then(Json::as_object_mut) {
                        meta.insert("statusVersion".into(), version.into());
                    }
                }
                reparse(entry);
            }
            Some(Entry::Record(r)) => {
                check_version(r.metadata.status_version)?;
                if let Some(d) = &guard.facts
                    && *d != r.desired
                {
                    return Err(Error::FactsChanged(name.to_string()));
                }
                r.status = Some(status.clone());
                r.metadata.status_version += 1;
            }
        }
        drop(map);
        self.publishes.fetch_add(1, Ordering::Relaxed);
        self.bump();
        Ok(())
    }

    async fn change_token(&self) -> Result<Option<u64>> {
        Ok(Some(self.changes.load(Ordering::Relaxed)))
    }
}
