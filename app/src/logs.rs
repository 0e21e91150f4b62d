//! The app's activity log: a bounded ring of entries shown on the dashboard, plus a broadcast
//! channel that feeds every open Server-Sent Events stream.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Entries kept in memory; older ones are dropped first.
pub const RING_CAPACITY: usize = 500;
/// Entries returned by `GET /api/logs` and sent in the SSE `snapshot` event.
pub const SNAPSHOT_LEN: usize = 200;
/// Entries a slow SSE client may fall behind before it is re-sent a snapshot.
pub const BROADCAST_CAPACITY: usize = 256;

/// Severity of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Normal activity.
    Info,
    /// Something the viewer should notice.
    Warn,
}

/// What produced an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The app itself (start, shutdown).
    System,
    /// The periodic heartbeat (`HEARTBEAT_INTERVAL`).
    Heartbeat,
    /// A demo action fired through `POST /action`.
    Action,
}

impl Source {
    /// The wire name: `system`, `heartbeat`, `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::System => "system",
            Source::Heartbeat => "heartbeat",
            Source::Action => "action",
        }
    }
}

impl Level {
    /// The wire name: `info`, `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
        }
    }
}

/// One log entry, as serialized in `/api/logs` and the SSE stream.
///
/// JSON: `{"seq":7,"at":"2026-11-29T10:00:00.123Z","level":"info","source":"action","message":"..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the log since the process started, from 1; strictly increasing.
    pub seq: u64,
    /// When the entry was added (UTC, RFC 3339 with milliseconds).
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// Severity.
    pub level: Level,
    /// What produced it.
    pub source: Source,
    /// The human-readable line.
    pub message: String,
}

mod rfc3339_millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }
}

struct Ring {
    entries: VecDeque<LogEntry>,
    next_seq: u64,
}

/// The bounded log plus its live feed.
///
/// `push` and `subscribe` take the same lock, so a subscriber's snapshot and its live feed
/// neither overlap nor leave a gap.
pub struct LogBook {
    ring: Mutex<Ring>,
    feed: broadcast::Sender<LogEntry>,
}

impl Default for LogBook {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBook {
    /// An empty log holding at most [`RING_CAPACITY`] entries.
    pub fn new() -> Self {
        let (feed, _) = broadcast::channel(BROADCAST_CAPACITY);
        LogBook {
            ring: Mutex::new(Ring {
                entries: VecDeque::with_capacity(RING_CAPACITY),
                next_seq: 1,
            }),
            feed,
        }
    }

    /// Appends an entry stamped now, drops the oldest beyond [`RING_CAPACITY`], sends it to
    /// every subscriber and writes it to the tracing log. Returns the entry.
    pub fn push(&self, level: Level, source: Source, message: impl Into<String>) -> LogEntry {
        let message = message.into();
        match level {
            Level::Info => tracing::info!(source = source.as_str(), "{message}"),
            Level::Warn => tracing::warn!(source = source.as_str(), "{message}"),
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let entry = LogEntry {
            seq: ring.next_seq,
            at: Utc::now(),
            level,
            source,
            message,
        };
        ring.next_seq += 1;
        if ring.entries.len() == RING_CAPACITY {
            ring.entries.pop_front();
        }
        ring.entries.push_back(entry.clone());
        // An error only means nobody is subscribed.
        let _ = self.feed.send(entry.clone());
        entry
    }

    /// The last `n` entries, oldest first.
    pub fn last(&self, n: usize) -> Vec<LogEntry> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.entries
            .iter()
            .skip(ring.entries.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// Number of entries held (at most [`RING_CAPACITY`]).
    pub fn len(&self) -> usize {
        self.ring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last [`SNAPSHOT_LEN`] entries and a receiver of every entry pushed after them.
    pub fn subscribe(&self) -> (Vec<LogEntry>, broadcast::Receiver<LogEntry>) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.feed.subscribe();
        let snapshot = ring
            .entries
            .iter()
            .skip(ring.entries.len().saturating_sub(SNAPSHOT_LEN))
            .cloned()
            .collect();
        (snapshot, rx)
    }

    /// Number of live subscribers (open SSE streams).
    pub fn subscribers(&self) -> usize {
        self.feed.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_keeps_the_newest() {
        let book = LogBook::new();
        for i in 0..(RING_CAPACITY + 37) {
            book.push(Level::Info, Source::Action, format!("entry {i}"));
        }
        assert_eq!(book.len(), RING_CAPACITY);
        let all = book.last(usize::MAX);
        assert_eq!(all.len(), RING_CAPACITY);
        assert_eq!(all.first().unwrap().message, "entry 37");
        assert_eq!(all.last().unwrap().seq, (RING_CAPACITY + 37) as u64);
        assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        let last = book.last(SNAPSHOT_LEN);
        assert_eq!(last.len(), SNAPSHOT_LEN);
        assert_eq!(
            last.last().unwrap().message,
            format!("entry {}", RING_CAPACITY + 36)
        );
    }

    #[test]
    fn subscribe_gives_snapshot_then_only_newer_entries() {
        let book = LogBook::new();
        book.push(Level::Info, Source::System, "before");
        let (snapshot, mut rx) = book.subscribe();
        assert_eq!(
            snapshot
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["before"]
        );
        assert_eq!(book.subscribers(), 1);
        book.push(Level::Warn, Source::Action, "after");
        let live = rx.try_recv().unwrap();
        assert_eq!(
            (live.seq, live.message.as_str(), live.level),
            (2, "after", Level::Warn)
        );
        assert!(rx.try_recv().is_err());
        drop(rx);
        assert_eq!(book.subscribers(), 0);
    }

    #[test]
    fn entry_json_shape() {
        let book = LogBook::new();
        let e = book.push(Level::Info, Source::Heartbeat, "tick");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["seq"], 1);
        assert_eq!(v["level"], "info");
        assert_eq!(v["source"], "heartbeat");
        assert_eq!(v["source"], e.source.as_str());
        assert_eq!(v["level"], e.level.as_str());
        let at = v["at"].as_str().unwrap();
        assert!(
            at.ends_with('Z') && at.len() == "2026-11-29T10:00:00.123Z".len(),
            "{at}"
        );
        let back: LogEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back.message, "tick");
    }
}
