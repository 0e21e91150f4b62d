//! [`HostIndex`]: which record claims a stable address, for a wake endpoint that is reached by
//! `Host` rather than by `/s/{name}` (the wake Lambda behind the shared load balancer, whose
//! default action sends every host without a rule of its own, and every asleep host, to it).
//!
//! The index is the store's whole list of records (`Store::list`: a `Scan` on DynamoDB), kept
//! for [`HostIndex::FRESH`] and read again at most every [`HostIndex::RETRY_MISS`] when a host
//! is not in it (a record created a moment ago). A warm Lambda therefore scans the table at
//! most twice a minute while load-balancer traffic arrives, and never without it. The table
//! holds one small item per service (at most a few hundred behind one listener, whose rule
//! quota bounds the route-mode records); a fleet-scale table would want a secondary index on
//! the host instead (see docs/adr).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::model::Entry;
use crate::store::{self, Store};

/// Host (normalised, [`crate::model::normalize_host`]) → the name of the record that claims
/// it, read from a [`Store`] and kept for a while.
pub struct HostIndex {
    store: Arc<dyn Store>,
    cached: Mutex<Option<(Instant, BTreeMap<String, String>)>>,
}

impl HostIndex {
    /// How long a read of the store answers lookups: 30 s.
    pub const FRESH: Duration = Duration::from_secs(30);
    /// How soon after a read a host that is not in it makes the index read again: 5 s.
    pub const RETRY_MISS: Duration = Duration::from_secs(5);

    /// An empty index over `store` (nothing is read until the first lookup).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cached: Mutex::new(None),
        }
    }

    /// The record that claims `host` (normalised), if any.
    ///
    /// Errors: the store's, when it had to be read and could not be; a lookup after a failed
    /// read tries again.
    pub async fn lookup(&self, host: &str) -> Result<Option<String>, store::Error> {
        let (age, hit) = {
            let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            match cached.as_ref() {
                Some((at, map)) => (Some(at.elapsed()), map.get(host).cloned()),
                None => (None, None),
            }
        };
        match (age, hit) {
            (Some(age), Some(name)) if age < Self::FRESH => return Ok(Some(name)),
            (Some(age), None) if age < Self::RETRY_MISS => return Ok(None),
            _ => {}
        }
        let map = self.read().await?;
        let found = map.get(host).cloned();
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), map));
        Ok(found)
    }

    async fn read(&self) -> Result<BTreeMap<String, String>, store::Error> {
        Ok(self
            .store
            .list()
            .await?
            .into_iter()
            .filter_map(|e| match e {
                Entry::Record(r) => r.spec.route_host().map(|h| (h, r.metadata.name)),
                Entry::Malformed(_) => None,
            })
            .collect())
    }
}

impl std::fmt::Debug for HostIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostIndex").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Record;
    use crate::store::memory::MemoryStore;

    #[tokio::test(start_paused = true)]
    async fn hosts_are_found_kept_for_a_while_and_new_records_found_soon() {
        let store = Arc::new(MemoryStore::new());
        crate::store::apply_one(
            store.as_ref(),
            &Record::test("demo").routed_at("Demo.Example.com"),
        )
        .await
        .unwrap();
        crate::store::apply_one(store.as_ref(), &Record::test("plain"))
            .await
            .unwrap();
        let index = HostIndex::new(store.clone());
        assert_eq!(
            index.lookup("demo.example.com").await.unwrap().as_deref(),
            Some("demo")
        );
        assert_eq!(index.lookup("plain.example.com").await.unwrap(), None);
        // A record created now is found once RETRY_MISS has passed since the last read.
        let mut api = Record::test("api").routed_at("api.example.com");
        if let crate::model::Target::Ecs(t) = &mut api.spec.target {
            t.service = "api-svc".into();
        }
        crate::store::apply_one(store.as_ref(), &api).await.unwrap();
        assert_eq!(
            index.lookup("api.example.com").await.unwrap(),
            None,
            "not yet"
        );
        tokio::time::advance(HostIndex::RETRY_MISS).await;
        assert_eq!(
            index.lookup("api.example.com").await.unwrap().as_deref(),
            Some("api")
        );
        // A deleted record's host is forgotten once the read is older than FRESH.
        store.delete("demo", None).await.unwrap();
        assert_eq!(
            index.lookup("demo.example.com").await.unwrap().as_deref(),
            Some("demo")
        );
        tokio::time::advance(HostIndex::FRESH).await;
        assert_eq!(index.lookup("demo.example.com").await.unwrap(), None);
    }
}
