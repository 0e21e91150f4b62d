//! [`MemoryStore`]: an in-memory [`Store`] for simulations, tests and benchmarks.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{Entry, Malformed, Record, Status, Timestamp};
use crate::store::{Applied, Error, Result, StatusGuard, Store, Touch};

/// A [`Store`] kept in a map behind a mutex, with the same semantics as the real stores
/// (compare-and-swap on `resourceVersion`, debounced facts, guarded status writes that never
/// create a record). Nothing is persisted.
///
/// Every call is atomic, as a conditional DynamoDB write is. With [`MemoryStore::set_latency`]
/// each call first waits (a tokio sleep), so callers that run at the same time (a pass, an
/// operator's edit, a wake) interleave between calls: between a pass's read and its writes.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, Entry>>,
    changes: AtomicU64,
    publishes: AtomicU64,
    latency_us: AtomicU64,
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

    /// Inserts an item that does not parse (as if broken in the DynamoDB console).
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
            }),
        );
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

    fn with_record<T>(&self, name: &str, f: impl FnOnce(&mut Record) -> Result<T>) -> Result<T> {
        let mut map = self.lock();
        match map.get_mut(name) {
            Some(Entry::Record(r)) => {
                let out = f(r)?;
                drop(map);
                self.bump();
                Ok(out)
            }
            Some(Entry::Malformed(_)) => Err(Error::Backend {
                operation: "memory update",
                message: format!("service {name:?} is malformed"),
            }),
            None => Err(Error::NotFound(name.to_string())),
        }
    }
}

fn debounced(stored: Option<Timestamp>, at: Timestamp, debounce: Duration) -> bool {
    stored.is_some_and(|s| s > at.sub(debounce))
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, name: &str) -> Result<Option<Entry>> {
        self.pause().await;
        Ok(self.lock().get(name).cloned())
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        self.pause().await;
        Ok(self.lock().values().cloned().collect())
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
                r.desired = Default::default();
                r.status = None;
                r.metadata.generation = 1;
                r.metadata.resource_version = 1;
                map.insert(name, Entry::Record(Box::new(r)));
                Applied::Created(1)
            }
            (Some(Entry::Malformed(m)), Some(v)) => {
                if m.resource_version != v {
                    return Err(Error::Conflict {
                        name,
                        expected: v,
                        found: m.resource_version,
                    });
                }
                let mut r = record.clone();
                r.desired = Default::default();
                r.status = m.status.clone();
                r.metadata.generation = 1;
                r.metadata.resource_version = v + 1;
                map.insert(name, Entry::Record(Box::new(r)));
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
                if stored.spec == record.spec && stored.metadata.labels == record.metadata.labels {
                    Applied::Unchanged(v)
                } else {
                    stored.spec = record.spec.clone();
                    stored.metadata.labels = record.metadata.labels.clone();
                    stored.metadata.generation += 1;
                    stored.metadata.resource_version += 1;
                    Applied::Configured(stored.metadata.resource_version)
                }
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
        self.with_record(name, |r| {
            if debounced(r.desired.wake_requested_at, at, debounce) {
                return Ok(Touch::Debounced);
            }
            r.desired.wake_requested_at = Some(at);
            Ok(Touch::Written)
        })
    }

    async fn record_activity(
        &self,
        name: &str,
        at: Timestamp,
        debounce: Duration,
    ) -> Result<Touch> {
        self.pause().await;
        self.with_record(name, |r| {
            if debounced(r.desired.last_activity_at, at, debounce) {
                return Ok(Touch::Debounced);
            }
            r.desired.last_activity_at = Some(at);
            Ok(Touch::Written)
        })
    }

    async fn request_sleep(&self, name: &str, at: Timestamp) -> Result<()> {
        self.pause().await;
        self.with_record(name, |r| {
            r.desired.sleep_requested_at = Some(at);
            Ok(())
        })
    }

    async fn publish_status(&self, name: &str, status: &Status, guard: StatusGuard) -> Result<()> {
        self.pause().await;
        let mut map = self.lock();
        match map.get_mut(name) {
            None => return Err(Error::NotFound(name.to_string())),
            Some(Entry::Malformed(m)) => m.status = Some(status.clone()),
            Some(Entry::Record(r)) => {
                if let StatusGuard::FactsUnchanged(d) = &guard
                    && *d != r.desired
                {
                    return Err(Error::FactsChanged(name.to_string()));
                }
                r.status = Some(status.clone());
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
