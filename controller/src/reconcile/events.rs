//! Events: every phase change a pass publishes, as one JSON document per change, to a sink
//! the [`super::Runtime`] calls after each pass (docs/reference/events.md).
//!
//! | sink | where | used by |
//! |---|---|---|
//! | [`NoEvents`] | nowhere | the default; the Lambda without `SNOOZE_EVENT_BUS` |
//! | [`EventBridgeSink`] (feature `aws`) | EventBridge `PutEvents` on one bus | the reconciler Lambda with `SNOOZE_EVENT_BUS` |
//! | [`JsonLinesSink`] | one JSON line per event, appended to a file | `snoozectl dev --events-file PATH` |
//! | [`MemorySink`] | a list in memory | tests |
//!
//! An event is built from the pass's [`RecordReport`] ([`Event::from_report`]): only records
//! whose phase changed *and* whose new status was written are published, so an event always
//! matches a status a reader can see (a pass that lost a compare-and-swap, or whose write
//! failed, publishes nothing for that record). A guardrail hit is a phase change whose reason
//! is a guardrail's ([`Why::MaxAwake`], [`Why::OverBudget`]): its event carries
//! [`Event::guardrail`]. One detail-type, [`DETAIL_TYPE`], for every event; a rule that wants
//! only guardrail hits matches `detail.guardrail` (`[{"exists": true}]`).
//!
//! Publishing never fails a pass: a sink reports what it could not deliver ([`Delivery`]), the
//! runtime logs it and counts one [`EVENT_NOT_PUBLISHED`] error code per lost event (the
//! reconciler Lambda's `Errors` metric by `Code`).
//!
//! EventBridge limits (`PutEvents`): at most [`MAX_ENTRIES_PER_CALL`] entries and
//! [`MAX_BYTES_PER_CALL`] bytes per call. [`batches`] cuts a pass's events into as few calls as
//! those allow (25 changes: 3 calls of 10, 10 and 5); entries that failed inside an accepted
//! call (`FailedEntryCount`) are sent again once, together, and then counted as lost.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::classify::Why;
use super::pass::{PassReport, RecordReport};
use crate::model::{Phase, Target, Timestamp};

/// The `Source` of every event: `snooze`.
pub const SOURCE: &str = "snooze";
/// The `DetailType` of every event: `Service Phase Changed`.
pub const DETAIL_TYPE: &str = "Service Phase Changed";
/// The version of [`Event`]'s shape ([`Event::version`]): a field is only ever added within a
/// version; removing or changing one makes the next version.
pub const VERSION: u32 = 1;
/// The error code counted once per event a sink could not deliver
/// ([`super::SettleReport::error_codes`]).
pub const EVENT_NOT_PUBLISHED: &str = "EventNotPublished";
/// At most this many entries per `PutEvents` call (EventBridge's limit).
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// At most this many bytes per `PutEvents` call, counted as EventBridge counts them
/// ([`Entry::size`]): 256 KiB.
pub const MAX_BYTES_PER_CALL: usize = 256 * 1024;
/// [`Event::message`] is cut to this many characters (with `…`), so an entry stays far below
/// [`MAX_BYTES_PER_CALL`] whatever a status message says.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// One phase change of one record (the `detail` of the EventBridge event, docs/reference/events.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The shape's version: 1. A field is only ever added within a version.
    pub version: u32,
    /// The record's name (`metadata.name`).
    pub name: String,
    /// The phase before the pass; `null` when the record had no status yet.
    pub from: Option<Phase>,
    /// The phase the pass published.
    pub to: Phase,
    /// A few words on why, as `snoozectl reconcile` prints them, e.g. `wake requested`,
    /// `idle for 15m`, `task ready`, `max awake reached`.
    pub reason: String,
    /// When the pass that made the change started (the time its decision was made for), RFC
    /// 3339 UTC with milliseconds.
    pub at: Timestamp,
    /// `status.phaseSince` as published (normally equal to `at`); absent when not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_since: Option<Timestamp>,
    /// `status.message` as published, when not empty (e.g. what a failed wake stopped at); at
    /// most 1,024 characters (longer ones are cut and end with `…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The guardrail that made the change, when one did (`maxAwake`, `budget`); absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<Guardrail>,
    /// What the record manages: `{"ecs": {"cluster", "service"}}` or `{"local": {"port"}}`;
    /// absent when the record could not be read as one (a malformed record turning Invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<EventTarget>,
}

/// A guardrail (a row of the precedence table, DESIGN.md §10) that put a service to sleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Guardrail {
    /// `spec.maxAwake` was reached (reason `max awake reached`).
    MaxAwake,
    /// This month's cost reached `spec.budget` (reason `monthly budget reached`).
    Budget,
}

impl Guardrail {
    /// The guardrail a report's reason names: the reason is (or starts with) the words of
    /// [`Why::MaxAwake`] or [`Why::OverBudget`]; `None` otherwise.
    pub fn of_reason(reason: &str) -> Option<Self> {
        if reason.starts_with(Why::MaxAwake.as_str()) {
            Some(Self::MaxAwake)
        } else if reason.starts_with(Why::OverBudget.as_str()) {
            Some(Self::Budget)
        } else {
            None
        }
    }
}

/// What a record manages, as an event names it: the ECS service, or the local port (never a
/// local target's command or environment, which may hold secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventTarget {
    /// `spec.target.ecs`.
    Ecs {
        /// Cluster name or ARN, as in the record.
        cluster: String,
        /// Service name, as in the record.
        service: String,
    },
    /// `spec.target.local`.
    Local {
        /// The port the process listens on.
        port: u16,
    },
}

impl From<&Target> for EventTarget {
    fn from(t: &Target) -> Self {
        match t {
            Target::Ecs(t) => Self::Ecs {
                cluster: t.cluster.clone(),
                service: t.service.clone(),
            },
            Target::Local(t) => Self::Local { port: t.port },
        }
    }
}

impl Event {
    /// The event of one record's report, made at `at` (the pass's
    /// [`PassReport::started_at`]): `Some` only when the phase changed, the record still
    /// exists, and the pass wrote the new status ([`RecordReport::published`]).
    pub fn from_report(r: &RecordReport, at: Timestamp) -> Option<Self> {
        let to = r.after?;
        if !r.changed() || !r.published {
            return None;
        }
        Some(Self {
            version: VERSION,
            name: r.name.clone(),
            from: r.before,
            to,
            reason: r.reason.clone(),
            at,
            phase_since: r.phase_since,
            message: r
                .message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(cut_message),
            guardrail: Guardrail::of_reason(&r.reason),
            target: r.target.clone(),
        })
    }

    /// The events of a pass, in the report's order (by record name).
    pub fn of_pass(report: &PassReport) -> Vec<Self> {
        report
            .records
            .iter()
            .filter_map(|r| Self::from_report(r, report.started_at))
            .collect()
    }

    /// The event as one EventBridge entry ([`SOURCE`], [`DETAIL_TYPE`], the JSON detail).
    pub fn entry(&self) -> Entry {
        Entry {
            detail: serde_json::to_string(self).expect("an event serialises"),
            time: self.at,
            name: self.name.clone(),
        }
    }
}

/// [`MAX_MESSAGE_CHARS`] characters of `m`, with `…` when cut.
fn cut_message(m: &str) -> String {
    match m.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &m[..i]),
        None => m.to_string(),
    }
}

/// One `PutEvents` entry: source [`SOURCE`], detail-type [`DETAIL_TYPE`], `detail` (the
/// event's JSON) and `time`.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The [`Event`] as JSON.
    pub detail: String,
    /// The event's time ([`Event::at`]).
    pub time: Timestamp,
    /// The record's name (for logs).
    pub name: String,
}

impl Entry {
    /// The entry's size as EventBridge counts it against [`MAX_BYTES_PER_CALL`]: 14 bytes for
    /// the time, plus the UTF-8 bytes of the source, the detail-type and the detail.
    pub fn size(&self) -> usize {
        14 + SOURCE.len() + DETAIL_TYPE.len() + self.detail.len()
    }
}

/// Cuts `entries` into `PutEvents` calls, in order: each at most [`MAX_ENTRIES_PER_CALL`]
/// entries and [`MAX_BYTES_PER_CALL`] bytes ([`Entry::size`]). An entry larger than a call on
/// its own (impossible with [`MAX_MESSAGE_CHARS`]) is a call of its own, which EventBridge
/// then refuses for that entry alone.
pub fn batches(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut out: Vec<Vec<Entry>> = Vec::new();
    let mut bytes = 0;
    for e in entries {
        let size = e.size();
        match out.last_mut() {
            Some(last)
                if last.len() < MAX_ENTRIES_PER_CALL && bytes + size <= MAX_BYTES_PER_CALL =>
            {
                bytes += size;
                last.push(e);
            }
            _ => {
                bytes = size;
                out.push(vec![e]);
            }
        }
    }
    out
}

/// What a sink did with one pass's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Events delivered.
    pub sent: usize,
    /// Events not delivered (after the one retry of [`BatchedSink`]).
    pub failed: usize,
    /// Calls made (`PutEvents` calls; lines written for [`JsonLinesSink`] count one per pass).
    pub calls: usize,
}

/// Where events go. [`EventSink::publish`] is called by the runtime once per pass that
/// changed a phase, with that pass's events; it never fails the pass, it says what it could
/// not deliver (and logs why).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes `events` (not empty), reporting what was delivered.
    async fn publish(&self, events: &[Event]) -> Delivery;
}

/// Publishes nothing (the default of [`super::Runtime`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn publish(&self, _events: &[Event]) -> Delivery {
        Delivery::default()
    }
}

/// Keeps every publish in memory, in order (tests: [`MemorySink::events`],
/// [`MemorySink::publishes`]). With [`MemorySink::failing`] it delivers nothing.
#[derive(Debug, Default)]
pub struct MemorySink {
    publishes: Mutex<Vec<Vec<Event>>>,
    failing: bool,
}

impl MemorySink {
    /// A sink that keeps what it is given.
    pub fn new() -> Self {
        Self::default()
    }
    /// A sink that delivers nothing (every event is reported as failed).
    pub fn failing() -> Self {
        Self {
            failing: true,
            ..Self::default()
        }
    }
    /// The events of every publish so far, one list per publish (per pass).
    pub fn publishes(&self) -> Vec<Vec<Event>> {
        self.publishes.lock().map(|p| p.clone()).unwrap_or_default()
    }
    /// Every event delivered so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.publishes().concat()
    }
}

#[async_trait]
impl EventSink for MemorySink {
    async fn publish(&self, events: &[Event]) -> Delivery {
        if self.failing {
            return Delivery {
                sent: 0,
                failed: events.len(),
                calls: 1,
            };
        }
        if let Ok(mut kept) = self.publishes.lock() {
            kept.push(events.to_vec());
        }
        Delivery {
            sent: events.len(),
            failed: 0,
            calls: 1,
        }
    }
}

/// One line of a [`JsonLinesSink`] file: the event in EventBridge's envelope (the fields a
/// rule's target receives, less the AWS account, region and id), so one consumer reads both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonLine {
    /// [`SOURCE`].
    pub source: String,
    /// [`DETAIL_TYPE`].
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// [`Event::at`].
    pub time: Timestamp,
    /// The event.
    pub detail: Event,
}

/// Appends one JSON line per event ([`JsonLine`]) to a file (`snoozectl dev --events-file`).
/// The file is opened once, for appending (created when missing); each pass's lines are
/// written with one write and flushed.
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl JsonLinesSink {
    /// Opens (creates) `path` for appending.
    ///
    /// Errors: the file cannot be opened or created; the message names the path.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the events file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl EventSink for JsonLinesSink {
    async fn publish(&self, events: &[Event]) -> Delivery {
        let mut text = String::new();
        for e in events {
            let line = JsonLine {
                source: SOURCE.into(),
                detail_type: DETAIL_TYPE.into(),
                time: e.at,
                detail: e.clone(),
            };
            text.push_str(&serde_json::to_string(&line).expect("an event serialises"));
            text.push('\n');
        }
        let written = match self.file.lock() {
            Ok(mut f) => f.write_all(text.as_bytes()).and_then(|()| f.flush()),
            Err(_) => Err(std::io::Error::other("the events file's lock is poisoned")),
        };
        match written {
            Ok(()) => Delivery {
                sent: events.len(),
                failed: 0,
                calls: 1,
            },
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, events = events.len(), "writing events failed");
                Delivery {
                    sent: 0,
                    failed: events.len(),
                    calls: 1,
                }
            }
        }
    }
}

/// The answer of one `PutEvents` call ([`PutEvents::put`]).
pub type PutResult = Result<Vec<Option<String>>, String>;

/// One `PutEvents` call, behind a trait so [`BatchedSink`]'s batching and retry are tested
/// without AWS.
#[async_trait]
pub trait PutEvents: Send + Sync {
    /// Sends `entries` (at most [`MAX_ENTRIES_PER_CALL`]) in one call. `Ok`: per entry, in
    /// order, `None` when accepted or `Some(error code)` when refused (`FailedEntryCount`);
    /// `Err`: the call failed as a whole (its error code and message), nothing was accepted.
    async fn put(&self, entries: &[Entry]) -> PutResult;
}

/// A sink that sends a pass's events in as few [`PutEvents`] calls as EventBridge's limits
/// allow ([`batches`]), then sends the entries refused inside accepted calls once more
/// (together, batched again); what still fails is logged and reported as failed. A call that
/// fails as a whole is not repeated here (the SDK client's own retry covers it).
#[derive(Debug)]
pub struct BatchedSink<P> {
    api: P,
}

impl<P: PutEvents> BatchedSink<P> {
    /// A sink over `api`.
    pub fn new(api: P) -> Self {
        Self { api }
    }

    /// The API it calls.
    pub fn api(&self) -> &P {
        &self.api
    }

    /// Sends `entries` in batches; returns the entries refused (with their codes), the ones
    /// lost with a failed call, and the number of calls.
    async fn send(&self, entries: Vec<Entry>) -> (Vec<(Entry, String)>, usize, usize) {
        let mut refused = Vec::new();
        let mut lost = 0;
        let mut calls = 0;
        for batch in batches(entries) {
            calls += 1;
            match self.api.put(&batch).await {
                Ok(answers) => {
                    for (i, e) in batch.into_iter().enumerate() {
                        if let Some(Some(code)) = answers.get(i) {
                            refused.push((e, code.clone()));
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, events = batch.len(), "PutEvents failed; these events are lost");
                    lost += batch.len();
                }
            }
        }
        (refused, lost, calls)
    }
}

#[async_trait]
impl<P: PutEvents> EventSink for BatchedSink<P> {
    async fn publish(&self, events: &[Event]) -> Delivery {
        let total = events.len();
        let (refused, mut lost, mut calls) =
            self.send(events.iter().map(Event::entry).collect()).await;
        if !refused.is_empty() {
            let codes: Vec<&str> = refused.iter().map(|(_, c)| c.as_str()).collect();
            warn!(events = refused.len(), codes = ?codes, "PutEvents refused some events; sending them once more");
            let (again, lost_again, more_calls) = self
                .send(refused.into_iter().map(|(e, _)| e).collect())
                .await;
            calls += more_calls;
            lost += lost_again;
            for (e, code) in &again {
                warn!(service = %e.name, code = %code, "PutEvents refused the event twice; it is lost");
            }
            lost += again.len();
        }
        Delivery {
            sent: total - lost,
            failed: lost,
            calls,
        }
    }
}

#[cfg(feature = "aws")]
pub use eventbridge::{EventBridgePut, EventBridgeSink};

#[cfg(feature = "aws")]
mod eventbridge {
    use std::time::Duration;

    use async_trait::async_trait;
    use aws_sdk_eventbridge as eb;
    use eb::error::ProvideErrorMetadata as _;
    use eb::types::PutEventsRequestEntry;

    use super::{BatchedSink, DETAIL_TYPE, Entry, PutEvents, PutResult, SOURCE};

    /// The EventBridge sink: [`BatchedSink`] over [`EventBridgePut`].
    pub type EventBridgeSink = BatchedSink<EventBridgePut>;

    /// How long one `PutEvents` call may take, retries included, before it counts as failed:
    /// a slow EventBridge never holds a pass for long.
    pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

    /// `PutEvents` on one event bus (by name or ARN) with the AWS SDK.
    #[derive(Clone, Debug)]
    pub struct EventBridgePut {
        client: eb::Client,
        bus: String,
    }

    impl EventBridgePut {
        /// A client for `bus` (a name such as `default`, or an event bus ARN).
        pub fn new(client: eb::Client, bus: String) -> Self {
            Self { client, bus }
        }

        /// The bus events go to.
        pub fn bus(&self) -> &str {
            &self.bus
        }
    }

    impl EventBridgeSink {
        /// The sink for `bus` from the shared SDK configuration: at most 2 attempts per call
        /// (one retry of a failed call, by the SDK), [`CALL_TIMEOUT`] in all, operations
        /// counted by `counter` (the reconciler's `AwsCalls` metric).
        pub fn from_sdk_config(
            conf: &aws_config::SdkConfig,
            bus: String,
            counter: Option<&crate::aws_calls::CallCounter>,
        ) -> Self {
            let mut builder = eb::config::Builder::from(conf)
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .operation_timeout(CALL_TIMEOUT)
                        .build(),
                );
            if let Some(c) = counter {
                builder = builder.interceptor(c.clone());
            }
            Self::new(EventBridgePut::new(
                eb::Client::from_conf(builder.build()),
                bus,
            ))
        }
    }

    #[async_trait]
    impl PutEvents for EventBridgePut {
        async fn put(&self, entries: &[Entry]) -> PutResult {
            let entries: Vec<PutEventsRequestEntry> = entries
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(DETAIL_TYPE)
                        .detail(&e.detail)
                        .time(aws_smithy_types::DateTime::from_millis(e.time.as_millis()))
                        .build()
                })
                .collect();
            let n = entries.len();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "{}: {}",
                        e.code().unwrap_or("PutEventsFailed"),
                        e.message().unwrap_or("no message")
                    )
                })?;
            let answers: Vec<Option<String>> = out
                .entries()
                .iter()
                .map(|r| r.error_code().map(str::to_string).filter(|c| !c.is_empty()))
                .collect();
            if answers.len() != n {
                return Err(format!(
                    "InternalError: PutEvents answered for {} of {n} entries",
                    answers.len()
                ));
            }
            Ok(answers)
        }
    }
}

#[cfg(test)]
mod tests;
