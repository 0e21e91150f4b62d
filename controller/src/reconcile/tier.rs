//! Tiered observation (issue 20): which records a full pass observes.
//!
//! Observing a service costs ECS read calls (`DescribeServices` in batches of 10, `ListTasks`
//! and `DescribeTasks` for services with tasks), and the account's ECS read budget is shared
//! with everything else the team runs. A full pass ([`super::Scope::All`]) in the default
//! [`Observe::Tiered`] mode therefore observes only the records that can have changed or are
//! due ([`why_observe`]), and leaves the quiet sleeping ones to a slow resync spread evenly over
//! its period. A scoped pass ([`super::Scope::Names`]: a stream record, an ECS event, a
//! requeue, a wake) observes every record it names, as before.
//!
//! A record is observed by a tiered full pass when (first match, the word is in the log):
//!
//! | word | when |
//! |---|---|
//! | `local` | a local target (observing a process is free) |
//! | `new` | no status yet |
//! | `phase` | Waking, Sleeping, Failed; a Ready record contested by another writer or in a group |
//! | `spec` | `metadata.generation` ≠ `status.observedGeneration` (the spec was edited) |
//! | `facts` | a sleep request or forced wake at or after `status.phaseSince`; for an Asleep record also a wake request or activity |
//! | `due` | a due-time derived from the record ([`super::runtime::due_at`]: `sleepsAt` of a Ready record, drift back-off, missing re-check) |
//! | `route` | Ready, in route mode (the load balancer's target health reaches no event) |
//! | `budget` | Ready, with `spec.budget` (the guardrail reads the ledger, counted at each observation) |
//! | `maxAwake` | Ready, and `memo.awakeSince + spec.maxAwake` has come |
//! | `ledger` | Asleep, and `status.ledger` still counts an open task (`stopped: false`): it must be seen to stop before ECS forgets it (about an hour) |
//! | `wanted` | Asleep, and the precedence says awake now ([`super::classify::want_in`], e.g. an awake window or its pre-warm lead began) |
//! | `schedule` | a schedule boundary (a window's start or end, a pre-warm lead's start) fell since the last full pass |
//! | `month` | `spec.budget` is set and a month began since the last full pass (the budget resets) |
//! | `requeue` | this process's last look at it asked to be looked at again by now |
//! | `resync` | its resync slot fell since the last full pass (Asleep: period `P` below; Ready: [`TierOptions::awake_resync`], 3 min) |
//! | `group` | another member of one of its groups is observed (groups are decided together) |
//!
//! # The resync
//!
//! A steady Ready record (its wake or activity only moves `sleepsAt`; when the stored
//! `sleepsAt` comes, it is observed and decided again) is observed every
//! [`TierOptions::awake_resync`], at the slot of a chunk of its cluster ([`awake_slot_key`],
//! [`AWAKE_CHUNK`] services): the steady Ready services of a chunk are observed in the same
//! pass, so their tasks are listed with one `ListTasks` for the cluster
//! ([`crate::platform::listing`]), and the chunks are spread over the period; a task
//! that stops or turns unhealthy is reported at once by its ECS task state change event (a
//! scoped pass). Its ledger is counted at each observation (from
//! `countedUntil`, so nothing is lost); a budget reached while awake is seen at the next one.
//!
//! Each record has a slot in the resync period `P`: a stable hash of its name (of its first
//! group for a member of groups, [`slot_key`]: a group is observed together), modulo `P`. A
//! full pass observes the quiet records whose slot fell in `(last full pass, now]`, so each
//! quiet record is observed once per `P` and the calls are spread evenly over it. `P` is
//! derived from the fleet size and the share of the ECS read budget given to the resync
//! ([`resync_period`]):
//!
//! ```text
//! P = max(resync_floor, ⌈records / (10 × resync_calls_per_minute)⌉ minutes)
//! ```
//!
//! With the defaults (floor 15 min, 30 `DescribeServices` a minute for the resync) that is
//! 15 min up to 4,500 records, 34 min at 10,000 and 167 min at 50,000. Only one number is
//! kept between passes (the time of the last full pass) plus the requeues this process was
//! asked for, in memory ([`TierMemory`], shared by the clones of one [`super::Reconciler`]):
//! no status write. A process without a previous full pass (a cold start of the Lambda)
//! takes its previous pass to be [`TierOptions::cold_lookback`] ago: it observes what is
//! due plus one minute's slice, not the whole fleet. A record whose slot fell while no
//! process ran (the Lambda idle between containers) waits for its next slot, at most `P`
//! later. A gap longer than `P` since the last full pass observes everything once.
//!
//! Out-of-band changes to a sleeping service (desiredCount raised in the console) are noticed
//! from ECS's own events (the task state change of the task it starts, and the service's
//! action events, reach the reconciler Lambda through EventBridge and run a scoped pass over
//! the record); the resync is the safety net.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use crate::model::schedule::schedule_view;
use crate::model::{Phase, Record, Target, Timestamp, ledger::month_key};

use super::classify;
use super::runtime::due_at;

/// What a full pass observes ([`super::PassOptions::observe`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observe {
    /// Every record, every pass: the behaviour before issue 20, kept for comparison
    /// (`snoozectl reconcile --observe all`, the benchmark's old mode).
    All,
    /// Only what can have changed or is due, plus a resync slice (the module docs). The
    /// default.
    Tiered(TierOptions),
}

impl Default for Observe {
    fn default() -> Self {
        Observe::Tiered(TierOptions::default())
    }
}

/// The resync of [`Observe::Tiered`]. Default: floor 15 min, 30 resync `DescribeServices`
/// calls a minute, cold look-back 60 s, steady Ready records every 3 min.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierOptions {
    /// The shortest resync period, whatever the fleet size. Default 15 min.
    pub resync_floor: Duration,
    /// `DescribeServices` calls a minute the resync of quiet records may make on average (10
    /// services a call). Default 30: half of the 60 a minute (5 % of ECS's sustained 20/s)
    /// the whole controller aims at; the other half is for awake and transitional records.
    pub resync_calls_per_minute: u32,
    /// How long ago a process without a previous full pass takes its previous pass to be.
    /// Default 60 s (the reconciler Lambda's schedule).
    pub cold_lookback: Duration,
    /// The resync period of steady Ready records (module docs). Default 3 min.
    pub awake_resync: Duration,
}

impl Default for TierOptions {
    fn default() -> Self {
        Self {
            resync_floor: Duration::from_secs(15 * 60),
            resync_calls_per_minute: 30,
            cold_lookback: Duration::from_secs(60),
            awake_resync: Duration::from_secs(3 * 60),
        }
    }
}

/// [`TierOptions`] as settings of the runners that run full passes: clap arguments with their
/// env vars (the reconciler Lambda's `Config` flattens them and reads them from the
/// environment, [`crate::config::from_env`]; `snoozectl reconcile` takes them as flags). The
/// cold look-back is the runner's own (the Lambda's schedule period).
///
/// Errors (at start-up, naming the variable): a duration that does not parse, `resyncFloor`
/// outside 1m..24h, `awakeResync` outside 10s..30m, calls a minute outside 1..=600.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct TierArgs {
    /// The shortest resync period of quiet sleeping records, whatever the fleet size (a
    /// humantime duration, 1m..24h): each is observed at least this often when no event
    /// arrives for it. See docs/runbooks/throttling.md.
    #[arg(long = "resync-floor", env = "SNOOZE_RESYNC_FLOOR", value_name = "DURATION",
          default_value = "15m", value_parser = resync_floor)]
    pub resync_floor: Duration,
    /// `DescribeServices` calls a minute the resync of quiet sleeping records may make on
    /// average (10 services a call; 1..=600): the resync period is
    /// `max(SNOOZE_RESYNC_FLOOR, ⌈records / (10 × this)⌉ minutes)`.
    #[arg(long = "resync-calls-per-minute", env = "SNOOZE_RESYNC_CALLS_PER_MINUTE",
          value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=600))]
    pub resync_calls_per_minute: u32,
    /// How often a steady Ready record is observed when no event arrives for it (its tasks
    /// listed; a humantime duration, 10s..30m: ECS forgets a stopped task after about an
    /// hour, and the ledger must see a task that stopped without an event).
    #[arg(long = "awake-resync", env = "SNOOZE_AWAKE_RESYNC", value_name = "DURATION",
          default_value = "3m", value_parser = awake_resync)]
    pub awake_resync: Duration,
}

impl TierArgs {
    /// The options these settings give, with a process without a previous full pass looking
    /// back `cold_lookback` (the runner's schedule period).
    pub fn options(&self, cold_lookback: Duration) -> TierOptions {
        TierOptions {
            resync_floor: self.resync_floor,
            resync_calls_per_minute: self.resync_calls_per_minute,
            cold_lookback,
            awake_resync: self.awake_resync,
        }
    }
}

/// A humantime duration within `min..=max` (a value parser of [`TierArgs`]).
fn duration_within(value: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = crate::config::duration_at_most(value, max)?;
    if d < min {
        return Err(format!("at least {}", humantime::format_duration(min)));
    }
    Ok(d)
}

fn resync_floor(value: &str) -> Result<Duration, String> {
    duration_within(
        value,
        Duration::from_secs(60),
        Duration::from_secs(24 * 3600),
    )
}

fn awake_resync(value: &str) -> Result<Duration, String> {
    duration_within(value, Duration::from_secs(10), Duration::from_secs(30 * 60))
}

/// Services per `DescribeServices` call.
pub const DESCRIBE_BATCH: usize = 10;

/// The resync period for a fleet of `records` (module docs):
/// `max(resync_floor, ⌈records / (10 × resync_calls_per_minute)⌉ minutes)`. A zero
/// `resync_calls_per_minute` is taken as 1.
pub fn resync_period(records: usize, opts: &TierOptions) -> Duration {
    let per_minute = DESCRIBE_BATCH * opts.resync_calls_per_minute.max(1) as usize;
    let minutes = records.div_ceil(per_minute) as u64;
    opts.resync_floor.max(Duration::from_secs(minutes * 60))
}

/// What a tiered full pass remembers between passes, in memory (module docs).
#[derive(Clone, Debug, Default)]
pub struct TierMemory {
    /// When the last full pass started (the reconciler's clock); `None` before the first.
    pub last_full: Option<Timestamp>,
    /// Records that asked to be looked at again ([`super::Requeue::After`]), and by when.
    pub requeues: HashMap<String, Timestamp>,
    /// How many records the last full pass read (in either observe mode); `None` before the
    /// first.
    pub last_records: Option<usize>,
    /// Which records manage each ECS service, as the last full pass listed them (in either
    /// observe mode): `(spec.target.ecs.cluster as written, service)` → record names. `None`
    /// before this process's first full pass. Read by [`super::Reconciler::records_of_service`].
    pub services: Option<ServiceIndex>,
}

/// Which records manage each ECS service ([`TierMemory::services`]): built by a full pass,
/// kept current by every pass that reads a record by name (a stream record's pass sees a
/// created, re-pointed or deleted record).
#[derive(Clone, Debug)]
pub struct ServiceIndex {
    /// When the full pass that built it started.
    pub at: Timestamp,
    /// `(cluster as the record writes it: name or ARN, service name)` → record names.
    pub records: HashMap<(String, String), Vec<String>>,
}

impl ServiceIndex {
    /// Record `name` now targets `service` (`None`: it is gone, or targets no ECS service).
    pub fn update(&mut self, name: &str, service: Option<(&str, &str)>) {
        self.records.retain(|key, names| {
            if Some((key.0.as_str(), key.1.as_str())) != service {
                names.retain(|n| n != name);
            }
            !names.is_empty()
        });
        if let Some((cluster, svc)) = service {
            let names = self
                .records
                .entry((cluster.to_string(), svc.to_string()))
                .or_default();
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
}

/// The window a full pass at `now` covers: `(since, now]` with `since` the last full pass (or
/// `now − cold_lookback`), and whether it is longer than `period` (then everything is due).
pub fn since(memory: &TierMemory, now: Timestamp, opts: &TierOptions) -> Timestamp {
    memory
        .last_full
        .filter(|t| *t <= now)
        .unwrap_or_else(|| now.sub(opts.cold_lookback))
}

/// A record's resync slot: its offset in the period, in milliseconds, from a stable hash of its
/// name (std's `DefaultHasher` with its fixed keys: the same in every process of one build).
fn slot_offset(name: &str, period: Duration) -> i64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    let p = period.as_millis().max(1) as u64;
    (h.finish() % p) as i64
}

/// What a record's resync slot is hashed from: its first group (by name) when it is in
/// groups, so that the members of a group, observed together anyway, share one slot instead of
/// each pulling in the whole group at its own; else its name.
pub fn slot_key(record: &Record) -> &str {
    record
        .spec
        .groups
        .iter()
        .min()
        .map_or(record.metadata.name.as_str(), String::as_str)
}

/// Steady Ready services of one cluster share a resync slot in chunks of at most about this
/// many ([`awake_slot_key`]): few enough that a chunk is a small burst of calls (5
/// `DescribeServices`), many enough that the chunk's tasks are listed with one `ListTasks` for
/// the cluster ([`crate::platform::listing`], from 8 services).
pub const AWAKE_CHUNK: usize = 50;

/// The resync slot key of a steady Ready record `name` of ECS cluster `cluster` whose cluster
/// has `ready_in_cluster` steady Ready records: the cluster and a chunk of it (a stable hash of
/// the name modulo `⌈ready_in_cluster / AWAKE_CHUNK⌉`), so the awake services of a cluster are
/// observed in chunks that share one task listing, spread over the awake resync period instead
/// of all in one pass.
pub fn awake_slot_key(cluster: &str, name: &str, ready_in_cluster: usize) -> String {
    let chunks = ready_in_cluster.div_ceil(AWAKE_CHUNK).max(1);
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    format!("{cluster}#{}", h.finish() % chunks as u64)
}

/// True when the resync slot of `name` fell in `(since, now]` (slots recur every `period`),
/// or the window is at least `period` long.
pub fn slot_fell(name: &str, since: Timestamp, now: Timestamp, period: Duration) -> bool {
    let p = period.as_millis().max(1) as i64;
    let (a, b) = (since.as_millis(), now.as_millis());
    if b - a >= p {
        return true;
    }
    let off = slot_offset(name, period);
    (b - off).div_euclid(p) > (a - off).div_euclid(p)
}

/// Why a tiered full pass at `now` observes `record`, the previous full pass having been at
/// `since` (the table in the module docs), with the resync period `period` for Asleep records
/// and for Ready ones `awake`: the awake resync period and the number of steady Ready records
/// of the record's cluster ([`awake_slot_key`]); `None`: it is quiet and is left alone this
/// pass. With `period` or `awake` `None` (a pass still listing the table, which does not know
/// the fleet size or the cluster's awake services yet) an Asleep or a Ready record's resync
/// slot is not looked at: the caller checks it with [`slot_fell`] once they are known.
pub fn why_observe(
    record: &Record,
    since: Timestamp,
    now: Timestamp,
    period: Option<Duration>,
    awake: Option<(Duration, usize)>,
    runner_period: Duration,
    memory: &TierMemory,
) -> Option<&'static str> {
    if matches!(record.spec.target, Target::Local(_)) {
        return Some("local");
    }
    let Some(s) = record.status.as_ref() else {
        return Some("new");
    };
    let ready = match s.phase {
        Phase::Asleep => false,
        Phase::Ready => true,
        _ => return Some("phase"),
    };
    if s.observed_generation != record.metadata.generation {
        return Some("spec");
    }
    let d = &record.desired;
    // At the same instant as `phaseSince` the pass that set the phase may not have seen the
    // fact: counted as newer.
    let newer = |t: Option<Timestamp>| match (t, s.phase_since) {
        (Some(t), Some(since)) => t >= since,
        (Some(_), None) => true,
        (None, _) => false,
    };
    // Asleep: any fact may wake it. Ready: a wake or activity only moves `sleepsAt` (the
    // stored one comes due and the record is decided again then); a sleep request or a
    // forced wake may change its phase.
    let facts = newer(d.sleep_requested_at)
        || newer(d.wake_forced_at)
        || (!ready && (newer(d.wake_requested_at) || newer(d.last_activity_at)));
    if facts {
        return Some("facts");
    }
    if due_at(record, now).is_some_and(|t| t <= now) {
        return Some("due");
    }
    if ready {
        if s.memo.contested_since.is_some() || s.group.is_some() {
            return Some("phase");
        }
        // The load balancer's view of its targets reaches no event: a route-mode record is
        // observed every pass while Ready.
        if record.spec.route_host().is_some() {
            return Some("route");
        }
        // The budget guardrail reads the ledger, counted at each observation: a budgeted
        // record is observed every pass while Ready, so it stops within a pass of its budget.
        if record.spec.budget.is_some() {
            return Some("budget");
        }
        if let (Some(max), Some(since)) = (record.spec.max_awake, s.memo.awake_since)
            && since.add(max.get()) <= now
        {
            return Some("maxAwake");
        }
    } else {
        if s.ledger.tasks.iter().any(|t| !t.stopped) {
            return Some("ledger");
        }
        if classify::want_in(record, None, now, runner_period).awake {
            return Some("wanted");
        }
    }
    if schedule_view(record, since, runner_period)
        .and_then(|v| v.state.next_boundary)
        .is_some_and(|b| b <= now)
    {
        return Some("schedule");
    }
    if record.spec.budget.is_some() && month_key(since) != month_key(now) {
        return Some("month");
    }
    if memory
        .requeues
        .get(&record.metadata.name)
        .is_some_and(|t| *t <= now)
    {
        return Some("requeue");
    }
    let (period, key) = match (ready, awake, &record.spec.target) {
        (true, Some((p, n)), Target::Ecs(t)) => (
            Some(p),
            awake_slot_key(&t.cluster, &record.metadata.name, n),
        ),
        (true, Some((p, _)), _) => (Some(p), slot_key(record).to_string()),
        (true, None, _) => (None, String::new()),
        (false, _, _) => (period, slot_key(record).to_string()),
    };
    if period.is_some_and(|p| slot_fell(&key, since, now, p)) {
        return Some("resync");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`why_observe`] with `period` for both resyncs (a cluster of one awake record), no
    /// runner period and an empty memory.
    fn why(r: &Record, since: Timestamp, now: Timestamp, period: Duration) -> Option<&'static str> {
        why_observe(
            r,
            since,
            now,
            Some(period),
            Some((period, 1)),
            Duration::ZERO,
            &TierMemory::default(),
        )
    }

    #[test]
    fn resync_period_is_derived_from_the_fleet_size() {
        let o = TierOptions::default();
        assert_eq!(resync_period(100, &o), Duration::from_secs(15 * 60));
        assert_eq!(resync_period(4_500, &o), Duration::from_secs(15 * 60));
        assert_eq!(resync_period(10_000, &o), Duration::from_secs(34 * 60));
        assert_eq!(resync_period(50_000, &o), Duration::from_secs(167 * 60));
        let o = TierOptions {
            resync_calls_per_minute: 0,
            ..o
        };
        assert_eq!(resync_period(1_000, &o), Duration::from_secs(100 * 60));
    }

    /// The steady Ready services of one cluster are observed in chunks of about
    /// [`AWAKE_CHUNK`] spread over the awake period, not all in one pass: 600 in one cluster
    /// over three passes a minute apart are each observed exactly once, none of the passes
    /// takes more than half of them, and each chunk is large enough to share a task listing.
    #[test]
    fn a_clusters_awake_services_are_spread_over_the_awake_period_in_chunks() {
        let period = Duration::from_secs(180);
        let t0 = Timestamp::from_millis(1_795_946_400_000);
        let names: Vec<String> = (0..600).map(|i| format!("svc-{i:04}")).collect();
        let per_pass: Vec<usize> = (0..3u64)
            .map(|m| {
                let since = t0.add(Duration::from_secs(m * 60));
                let now = since.add(Duration::from_secs(60));
                names
                    .iter()
                    .filter(|n| slot_fell(&awake_slot_key("staging", n, 600), since, now, period))
                    .count()
            })
            .collect();
        assert_eq!(per_pass.iter().sum::<usize>(), 600, "{per_pass:?}");
        assert!(per_pass.iter().all(|n| *n <= 300), "{per_pass:?}");
        let chunks: std::collections::BTreeSet<String> = names
            .iter()
            .map(|n| awake_slot_key("staging", n, 600))
            .collect();
        assert_eq!(chunks.len(), 12, "600 / {AWAKE_CHUNK}");
        // A small cluster is one chunk: its services share one listing.
        let small: std::collections::BTreeSet<String> = names[..10]
            .iter()
            .map(|n| awake_slot_key("small", n, 10))
            .collect();
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn tier_settings_come_from_the_environment_with_clear_errors() {
        let read = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            crate::config::from_lookup::<TierArgs>(|k| vars.get(k).cloned())
        };
        let d = read(&[]).unwrap().options(Duration::from_secs(60));
        assert_eq!(d, TierOptions::default(), "the defaults are TierOptions'");
        let o = read(&[
            ("SNOOZE_RESYNC_FLOOR", "30m"),
            ("SNOOZE_RESYNC_CALLS_PER_MINUTE", "60"),
            ("SNOOZE_AWAKE_RESYNC", "90s"),
        ])
        .unwrap()
        .options(Duration::from_secs(300));
        assert_eq!(
            o,
            TierOptions {
                resync_floor: Duration::from_secs(1800),
                resync_calls_per_minute: 60,
                cold_lookback: Duration::from_secs(300),
                awake_resync: Duration::from_secs(90),
            }
        );
        for (var, value, says) in [
            ("SNOOZE_RESYNC_FLOOR", "soon", "not a duration"),
            ("SNOOZE_RESYNC_FLOOR", "30s", "at least 1m"),
            ("SNOOZE_RESYNC_FLOOR", "2days", "at most 1day"),
            ("SNOOZE_AWAKE_RESYNC", "1s", "at least 10s"),
            ("SNOOZE_AWAKE_RESYNC", "1h", "at most 30m"),
            ("SNOOZE_RESYNC_CALLS_PER_MINUTE", "0", "0"),
            ("SNOOZE_RESYNC_CALLS_PER_MINUTE", "many", "many"),
        ] {
            let e = read(&[(var, value)]).unwrap_err().to_string();
            assert!(e.contains(var) && e.contains(says), "{var}={value}: {e}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever the name, the period and where the passes start, a quiet record's slot
        /// falls in exactly one of the passes a minute apart that cover one period: a service
        /// started out of band under it is observed within one resync period.
        #[test]
        fn a_slot_falls_exactly_once_per_period(
            name in "[a-z][a-z0-9-]{0,40}",
            minutes in 15u64..200,
            start in 0i64..10_000_000_000,
        ) {
            let period = Duration::from_secs(minutes * 60);
            let t0 = Timestamp::from_millis(1_700_000_000_000 + start);
            let falls = (0..minutes)
                .filter(|m| {
                    let since = t0.add(Duration::from_secs(m * 60));
                    slot_fell(&name, since, since.add(Duration::from_secs(60)), period)
                })
                .count();
            prop_assert_eq!(falls, 1);
        }

        /// Never quiet: a record in any phase but Asleep and Ready, one without a status, or
        /// an Asleep one whose ledger still counts a task (it must be seen to stop before ECS
        /// forgets it), whatever the times.
        #[test]
        fn some_records_are_never_quiet(
            phase in prop_oneof![
                Just(Phase::Waking),
                Just(Phase::Sleeping),
                Just(Phase::Failed),
                Just(Phase::Asleep),
            ],
            gap in 1u64..3_600,
        ) {
            let now = Timestamp::from_millis(1_795_946_400_000);
            let since = now.sub(Duration::from_secs(gap));
            let period = Duration::from_secs(3_600);
            let mut r = Record::test("demo");
            prop_assert!(why(&r, since, now, period).is_some());
            let mut s = crate::model::Status {
                phase,
                phase_since: Some(now.sub(Duration::from_secs(86_400))),
                observed_generation: r.metadata.generation,
                ..Default::default()
            };
            s.ledger.tasks.push(crate::model::ledger::LedgerTask {
                arn: "arn:aws:ecs:us-east-1:1:task/c/t".into(),
                billed_from: since,
                counted_until: since,
                stopped: false,
                public_ip: false,
            });
            r.status = Some(s);
            prop_assert!(why(&r, since, now, period).is_some());
        }
    }

    #[test]
    fn a_quiet_sleeping_record_is_left_alone_until_its_slot() {
        let now = Timestamp::from_millis(1_795_946_400_000);
        let mut r = Record::test("demo");
        r.status = Some(crate::model::Status {
            phase: Phase::Asleep,
            phase_since: Some(now.sub(Duration::from_secs(86_400))),
            observed_generation: r.metadata.generation,
            ..Default::default()
        });
        let period = Duration::from_secs(30 * 60);
        let whys: Vec<Option<&str>> = (0..30u64)
            .map(|m| {
                let since = now.add(Duration::from_secs(m * 60));
                let at = since.add(Duration::from_secs(60));
                why(&r, since, at, period)
            })
            .collect();
        assert_eq!(whys.iter().filter(|w| **w == Some("resync")).count(), 1);
        assert_eq!(whys.iter().filter(|w| w.is_none()).count(), 29);
        // A wake request makes it due at once.
        r.desired.wake_requested_at = Some(now);
        assert_eq!(
            why(&r, now, now.add(Duration::from_secs(1)), period),
            Some("facts")
        );
    }

    #[test]
    fn a_ready_record_with_a_budget_is_observed_every_pass() {
        let now = Timestamp::from_millis(1_795_946_400_000);
        let mut r = Record::test("demo");
        r.status = Some(crate::model::Status {
            phase: Phase::Ready,
            phase_since: Some(now.sub(Duration::from_secs(600))),
            observed_generation: r.metadata.generation,
            ..Default::default()
        });
        let period = Duration::from_secs(30 * 60);
        let since = now.sub(Duration::from_secs(60));
        let quiet = |r: &Record| {
            (0..10u64)
                .filter(|m| {
                    let at = now.add(Duration::from_secs(m * 60));
                    let since = at.sub(Duration::from_secs(60));
                    why(r, since, at, period).is_none()
                })
                .count()
        };
        assert!(quiet(&r) > 0, "a steady Ready record is tiered");
        r.spec.budget = Some(10.0);
        assert_eq!(quiet(&r), 0, "a budgeted one is observed every pass");
        assert_eq!(why(&r, since, now, period), Some("budget"));
    }

    #[test]
    fn every_slot_falls_once_per_period_and_evenly() {
        let period = Duration::from_secs(30 * 60);
        let start = Timestamp::from_millis(1_700_000_000_000);
        let names: Vec<String> = (0..3_000).map(|i| format!("svc-{i:05}")).collect();
        let mut per_minute = Vec::new();
        let mut seen = HashMap::new();
        for m in 0..30u64 {
            let since = start.add(Duration::from_secs(m * 60));
            let now = since.add(Duration::from_secs(60));
            let n = names
                .iter()
                .filter(|n| slot_fell(n, since, now, period))
                .inspect(|n| *seen.entry(n.to_string()).or_insert(0) += 1)
                .count();
            per_minute.push(n);
        }
        assert!(seen.len() == names.len() && seen.values().all(|v| *v == 1));
        // 100 a minute on average; a hash spreads them within a few tens.
        assert!(
            per_minute.iter().all(|n| (50..=150).contains(n)),
            "{per_minute:?}"
        );
        // A window as long as the period takes every record.
        assert!(
            names
                .iter()
                .all(|n| slot_fell(n, start, start.add(period), period))
        );
    }
}
