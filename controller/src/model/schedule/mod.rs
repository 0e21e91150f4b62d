//! Schedules (`spec.schedule`): when a service is kept awake, when wake requests are refused,
//! which dates are exceptions, and how early to wake before a window starts.
//!
//! Pure: every answer is a function of ([`Schedule`], `now`); nothing here reads a clock or a
//! file. Time zones come from the IANA database bundled into the binary (jiff's
//! `tzdb-bundle-always`), never from the OS's zone files, which the Lambda image may lack.
//!
//! ```yaml
//! schedule:
//!   timeZone: Europe/Berlin          # IANA name; default UTC
//!   awake:                           # kept awake inside these windows
//!     - Mon-Fri 08:00-18:00
//!     - {days: Sat, start: "10:00", end: "12:00"}
//!   asleep:                          # quiet hours: wake requests refused inside
//!     - Mon-Sun 22:00-06:00          # crosses midnight: belongs to the day it starts
//!   except:                          # switch off the awake windows starting on these dates
//!     - {from: 2026-12-24, to: 2027-01-01, reason: holidays}
//!   prewarm: auto                    # auto (default) | off | a fixed lead such as 90s
//! ```
//!
//! or, awake windows only, kube-downscaler's one-line form:
//! `schedule: "Mon-Fri 08:00-18:00 Europe/Berlin, Sat 10:00-12:00 Europe/Berlin"`.
//!
//! [`Schedule::state`] answers where `now` is and when that next changes (the reconciler
//! requeues then); [`Schedule::validate`] reports every problem of a schedule at once.

mod prewarm;
mod validate;
mod window;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prop;

use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone, TimeZoneDatabase};
use schemars::{JsonSchema, Schema};
use serde::de::{MapAccess, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Timestamp;

pub use prewarm::{
    LeadSource, PREWARM_DEFAULT, PREWARM_FIXED_MAX, PREWARM_MAX, PREWARM_MIN, PREWARM_PERCENTILE,
    PREWARM_SAMPLES, Prewarm, PrewarmLead,
};
pub use window::{ClockTime, Days, LocalDate, Window};

use window::{ReadStringOrMap, StringOrMap};

/// `spec.schedule`: awake windows, quiet hours, dated exceptions and pre-warm, in one zone.
///
/// Written as a mapping (all fields optional; see the module docs for an example) or as one
/// line in kube-downscaler's form, `"DAYS HH:MM-HH:MM ZONE"`, several separated by commas, all
/// with the same zone, meaning awake windows only (e.g. `"Mon-Fri 08:00-18:00 Europe/Berlin"`).
/// Always serialised as the mapping, windows compactly. Reading checks shapes; ranges, the zone
/// and overlaps are checked by [`Schedule::validate`].
///
/// Precedence with the rest of the record (DESIGN.md §10): inside an asleep window the service
/// is asleep and wake requests are refused (row 5); inside an awake window, or within its
/// pre-warm lead, it is awake (row 7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
// `remote = "Self"`: the derived impls become the inherent `Schedule::serialize` and
// `Schedule::deserialize`, which the trait impls below call (the latter for a mapping only).
#[serde(remote = "Self", rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = schedule_schema)]
pub struct Schedule {
    /// IANA time zone name, e.g. `Europe/Berlin` (looked up without regard to case in the
    /// bundled database). Default `UTC`. Windows and exception dates are in this zone.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Awake windows: the service is kept awake inside them (from the pre-warm lead before
    /// each start). Must not overlap each other or an asleep window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awake: Vec<Window>,
    /// Asleep windows (quiet hours): the service sleeps and wake requests are refused inside
    /// them (an operator's `wake --force` still works). Exceptions do not switch them off.
    /// Must not overlap each other.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asleep: Vec<Window>,
    /// Dated exceptions (holidays, freezes): the awake windows that start on these dates are
    /// off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<Exception>,
    /// How early to wake before an awake window starts, so that the service is Ready at its
    /// start: `auto` (default), `off`, or a fixed lead such as `90s`.
    #[serde(default, skip_serializing_if = "Prewarm::is_auto")]
    pub prewarm: Prewarm,
}

fn default_time_zone() -> String {
    "UTC".into()
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            time_zone: default_time_zone(),
            awake: Vec::new(),
            asleep: Vec::new(),
            except: Vec::new(),
            prewarm: Prewarm::Auto,
        }
    }
}

/// A dated exception: the awake windows that *start* on a local date from `from` to `to`
/// (inclusive) are off. A window that started the evening before runs to its end; a window
/// starting on the last excepted evening is off entirely, into the next morning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Exception {
    /// The first date, `YYYY-MM-DD`, in the schedule's zone.
    pub from: LocalDate,
    /// The last date (inclusive). Default: `from` (one day). Must not be before `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<LocalDate>,
    /// Why, for people, e.g. `holidays`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl Exception {
    /// The last date: `to`, else `from`.
    pub fn last(&self) -> LocalDate {
        self.to.unwrap_or(self.from)
    }
}

/// One occurrence of a window: the window `window` (its index in `awake` or `asleep`) from
/// `start` (inclusive) to `end` (exclusive), real instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// Index of the window in its list (`awake` or `asleep`).
    pub window: usize,
    /// When it starts.
    pub start: Timestamp,
    /// When it ends (later than `start`).
    pub end: Timestamp,
}

impl Occurrence {
    /// Whether `t` is inside: `start <= t < end`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// Where an instant is in a schedule ([`Schedule::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleState {
    /// The awake window occurrence containing the instant (one switched off by an exception
    /// does not count).
    pub awake: Option<Occurrence>,
    /// The next awake window occurrence whose pre-warm lead has begun (`start - lead <= now <
    /// start`); the earliest such. Always `None` with a zero lead ([`Schedule::state`]).
    pub prewarming: Option<Occurrence>,
    /// The asleep window occurrence containing the instant.
    pub asleep: Option<Occurrence>,
    /// The earliest instant after `now` at which any of the three fields above changes (a
    /// window starts or ends, or a pre-warm lead begins); `None` when the schedule has no
    /// windows, so nothing ever changes. Exception dates are not boundaries of their own: they
    /// only remove occurrences.
    pub next_boundary: Option<Timestamp>,
}

impl ScheduleState {
    /// Whether the schedule wants the service awake (row 7 of the precedence): inside an awake
    /// window or within the pre-warm lead before one.
    pub fn awake_wanted(&self) -> bool {
        self.awake.is_some() || self.prewarming.is_some()
    }

    /// The quiet hours that apply (row 5 of the precedence): the asleep window, unless the
    /// pre-warm lead of an awake window has begun. Quiet hours that end as an awake window
    /// starts (asleep `22:00-08:00`, awake `08:00-18:00`) are cut short by its pre-warm lead,
    /// so that the service is Ready at 08:00.
    pub fn quiet(&self) -> Option<Occurrence> {
        self.asleep.filter(|_| self.prewarming.is_none())
    }
}

/// A change of a schedule's state at an instant ([`Schedule::transitions`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// When.
    pub at: Timestamp,
    /// What changes then, ends before starts (an awake window may end as another starts).
    pub changes: Vec<Change>,
}

/// One change in a [`Transition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Awake window `window` (its index in `awake`) ends.
    AwakeEnds {
        /// Index in `awake`.
        window: usize,
    },
    /// Asleep window `window` (its index in `asleep`) ends.
    AsleepEnds {
        /// Index in `asleep`.
        window: usize,
    },
    /// Awake window `window` starts; it ends at `end`.
    AwakeStarts {
        /// Index in `awake`.
        window: usize,
        /// When this occurrence ends.
        end: Timestamp,
    },
    /// Asleep window `window` starts; it ends at `end`.
    AsleepStarts {
        /// Index in `asleep`.
        window: usize,
        /// When this occurrence ends.
        end: Timestamp,
    },
}

/// The bundled IANA database; never the OS's zone files.
static ZONES: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// The time zone called `name` in the bundled database (without regard to case); `None` for
/// an unknown name.
pub(crate) fn zone(name: &str) -> Option<TimeZone> {
    ZONES.get(name.trim()).ok().filter(|tz| !tz.is_unknown())
}

/// Which list a window is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Awake,
    Asleep,
}

/// Dates scanned at most by one [`Occurrences`] iterator (each exception range skipped counts
/// as one). Every window occurs weekly and exceptions are skipped whole, so the bound is only
/// a guard.
const MAX_DATE_STEPS: u32 = 1000;

/// A pre-warm lead longer than this is treated as this (it bounds the dates looked at).
const MAX_LEAD: Duration = Duration::from_secs(24 * 3600);

impl Schedule {
    /// The zone this schedule is in; UTC when `time_zone` is unknown (which
    /// [`Schedule::validate`] rejects).
    fn tz(&self) -> TimeZone {
        zone(&self.time_zone).unwrap_or(TimeZone::UTC)
    }

    fn windows(&self, kind: Kind) -> &[Window] {
        match kind {
            Kind::Awake => &self.awake,
            Kind::Asleep => &self.asleep,
        }
    }

    /// Where `now` is: the awake and asleep window occurrences containing it, and the next
    /// boundary. No pre-warm lead (`prewarming` is `None`); see [`Schedule::state_with_lead`].
    pub fn state(&self, now: Timestamp) -> ScheduleState {
        self.state_with_lead(now, Duration::ZERO)
    }

    /// Where `now` is, with awake windows wanted from `lead` before their start (a
    /// [`PrewarmLead::lead`]; at most 24 h is used): [`ScheduleState::prewarming`] is the
    /// next awake occurrence whose lead has begun, and `next_boundary` includes the instants at
    /// which leads begin.
    pub fn state_with_lead(&self, now: Timestamp, lead: Duration) -> ScheduleState {
        let lead = lead.min(MAX_LEAD);
        let tz = self.tz();
        let first = first_date(&tz, now, lead);
        let mut state = ScheduleState {
            awake: None,
            prewarming: None,
            asleep: None,
            next_boundary: None,
        };
        for kind in [Kind::Awake, Kind::Asleep] {
            let lead = match kind {
                Kind::Awake => lead,
                Kind::Asleep => Duration::ZERO,
            };
            for index in 0..self.windows(kind).len() {
                for o in self.occurrences(&tz, kind, index, first) {
                    let early = o.start.sub(lead);
                    if o.contains(now) {
                        match kind {
                            Kind::Awake => state.awake.get_or_insert(o),
                            Kind::Asleep => state.asleep.get_or_insert(o),
                        };
                    }
                    if kind == Kind::Awake
                        && early <= now
                        && now < o.start
                        && state.prewarming.is_none_or(|p| o.start < p.start)
                    {
                        state.prewarming = Some(o);
                    }
                    state.next_boundary = [early, o.start, o.end]
                        .into_iter()
                        .filter(|&b| b > now)
                        .chain(state.next_boundary)
                        .min();
                    // Later occurrences of this window start after this one ends, so none of
                    // their boundaries comes before this one's earliest.
                    if early > now {
                        break;
                    }
                }
            }
        }
        state
    }

    /// The start of the next awake window strictly after `now`, skipping the ones switched off
    /// by exceptions; `None` when there are no awake windows. The instant to pre-warm for.
    pub fn next_awake_start(&self, now: Timestamp) -> Option<Timestamp> {
        let tz = self.tz();
        let first = first_date(&tz, now, Duration::ZERO);
        (0..self.awake.len())
            .filter_map(|index| {
                self.occurrences(&tz, Kind::Awake, index, first)
                    .map(|o| o.start)
                    .find(|&start| start > now)
            })
            .min()
    }

    /// The next `n` transitions after `now` (at most `n`; fewer when the schedule has no
    /// windows), for `snoozectl describe`. Pre-warm leads are not transitions here.
    pub fn transitions(&self, now: Timestamp, n: usize) -> Vec<Transition> {
        let mut out = Vec::with_capacity(n);
        let mut state = self.state(now);
        // Every step moves to a later boundary; the bound only guards against a schedule whose
        // boundaries change nothing (overlapping windows, which validation rejects).
        for _ in 0..n.saturating_mul(4).saturating_add(8) {
            let Some(at) = state.next_boundary.filter(|_| out.len() < n) else {
                break;
            };
            let next = self.state(at);
            let changes = changes(&state, &next);
            if !changes.is_empty() {
                out.push(Transition { at, changes });
            }
            state = next;
        }
        out
    }

    /// The next transition after `now` that changes whether the schedule wants the service
    /// awake or quiet, and what it is in a word or two, for `snoozectl get`: `awake`, `quiet`
    /// (a window starts), `awake ends`, `quiet ends`. A window that ends as another of the same
    /// kind starts (`Mon-Sun 00:00-24:00` at midnight) changes nothing and is skipped. `None`
    /// when nothing changes within the next 16 transitions (no windows, or always inside one).
    pub fn next_change(&self, now: Timestamp) -> Option<(Timestamp, &'static str)> {
        self.transitions(now, 16).into_iter().find_map(|t| {
            let count = |f: fn(&Change) -> bool| t.changes.iter().filter(|c| f(c)).count();
            let awake = count(|c| matches!(c, Change::AwakeStarts { .. }))
                .cmp(&count(|c| matches!(c, Change::AwakeEnds { .. })));
            let quiet = count(|c| matches!(c, Change::AsleepStarts { .. }))
                .cmp(&count(|c| matches!(c, Change::AsleepEnds { .. })));
            use std::cmp::Ordering::{Greater, Less};
            let what = match (awake, quiet) {
                (Greater, _) => "awake",
                (_, Greater) => "quiet",
                (Less, _) => "awake ends",
                (_, Less) => "quiet ends",
                _ => return None,
            };
            Some((t.at, what))
        })
    }

    /// `t` in the schedule's zone, for people: `Mon 2026-03-30 08:00 CEST`.
    pub fn local_time(&self, t: Timestamp) -> String {
        to_jiff(t)
            .to_zoned_datetime(self.tz())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// The occurrences of window `index` of `kind` starting on `first` or later, in order.
    fn occurrences<'s>(
        &'s self,
        tz: &'s TimeZone,
        kind: Kind,
        index: usize,
        first: Date,
    ) -> Occurrences<'s> {
        Occurrences {
            schedule: self,
            tz,
            kind,
            index,
            date: Some(first),
            steps: 0,
        }
    }

    /// The last date of an exception containing `d`, when an exception switches off the awake
    /// windows starting on `d` (the latest such last date, when several do).
    fn excepted_until(&self, d: Date) -> Option<Date> {
        self.except
            .iter()
            .filter(|e| e.from.0 <= d && d <= e.last().0)
            .map(|e| e.last().0)
            .max()
    }
}

/// The first local date whose occurrences can contain `now` or begin their lead after it:
/// two days before `now`'s date (a window crossing midnight, plus DST) and the lead's days.
fn first_date(tz: &TimeZone, now: Timestamp, lead: Duration) -> Date {
    let today = tz.to_datetime(to_jiff(now)).date();
    let back = 2 + lead.as_secs().div_ceil(24 * 3600);
    (0..back).fold(today, |d, _| d.yesterday().unwrap_or(d))
}

/// What changed between two states at one boundary, ends before starts.
fn changes(before: &ScheduleState, after: &ScheduleState) -> Vec<Change> {
    let mut out = Vec::new();
    if before.awake != after.awake
        && let Some(o) = before.awake
    {
        out.push(Change::AwakeEnds { window: o.window });
    }
    if before.asleep != after.asleep
        && let Some(o) = before.asleep
    {
        out.push(Change::AsleepEnds { window: o.window });
    }
    if before.awake != after.awake
        && let Some(o) = after.awake
    {
        out.push(Change::AwakeStarts {
            window: o.window,
            end: o.end,
        });
    }
    if before.asleep != after.asleep
        && let Some(o) = after.asleep
    {
        out.push(Change::AsleepStarts {
            window: o.window,
            end: o.end,
        });
    }
    out
}

/// The occurrences of one window, in order of their start dates ([`Schedule::occurrences`]).
struct Occurrences<'s> {
    schedule: &'s Schedule,
    tz: &'s TimeZone,
    kind: Kind,
    index: usize,
    /// The next date to look at; `None` past the end of the calendar.
    date: Option<Date>,
    steps: u32,
}

impl Iterator for Occurrences<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        let window = self.schedule.windows(self.kind).get(self.index)?;
        while self.steps < MAX_DATE_STEPS {
            self.steps += 1;
            let d = self.date?;
            if self.kind == Kind::Awake
                && let Some(last) = self.schedule.excepted_until(d)
            {
                self.date = last.tomorrow().ok();
                continue;
            }
            self.date = d.tomorrow().ok();
            if let Some(o) = occurrence(self.tz, window, self.index, d) {
                return Some(o);
            }
        }
        None
    }
}

/// The occurrence of `window` starting on local date `d`: `None` when it does not start that
/// weekday, its times are not valid, it is empty (start equals end; validation rejects both),
/// or it is empty that day (both ends in a DST gap).
fn occurrence(tz: &TimeZone, window: &Window, index: usize, d: Date) -> Option<Occurrence> {
    let weekday = u8::try_from(d.weekday().to_monday_zero_offset()).ok()?;
    if !window.days.contains(weekday)
        || !window.start.is_valid(false)
        || !window.end.is_valid(true)
        || window.start == window.end
    {
        return None;
    }
    let end_date = if window.crosses_midnight() {
        d.tomorrow().ok()?
    } else {
        d
    };
    let start = resolve(tz, d, window.start)?;
    let end = resolve(tz, end_date, window.end)?;
    (start < end).then(|| Occurrence {
        window: index,
        start: from_jiff(start),
        end: from_jiff(end),
    })
}

/// The instant of local time `t` on date `d` (`24:00` is the next day's midnight), the way a
/// person expects around DST: a time that does not exist that day (inside a gap) is at the
/// first time that exists after it, the transition itself; a time that happens twice (in a
/// fold) is at its first occurrence.
fn resolve(tz: &TimeZone, d: Date, t: ClockTime) -> Option<jiff::Timestamp> {
    let (d, hour, minute) = if t.hour == 24 {
        (d.tomorrow().ok()?, 0, 0)
    } else {
        (d, t.hour, t.minute)
    };
    let time = Time::new(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0).ok()?;
    let dt = DateTime::from_parts(d, time);
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        // With the offset after the gap, `dt` is an instant before the transition (jiff's
        // `compatible` would take the offset before it: an instant as far after it); the
        // first transition after that instant is where the gap starts.
        AmbiguousOffset::Gap { after, .. } => {
            let early = after.to_timestamp(dt).ok()?;
            tz.following(early).next().map(|tr| tr.timestamp())
        }
    }
}

/// Our timestamp as jiff's (saturating at jiff's range, years -9999 to 9999).
fn to_jiff(t: Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(t.as_millis()).unwrap_or(if t.as_millis() < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

/// jiff's timestamp as ours (milliseconds).
fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    Timestamp::from_millis(t.as_millisecond())
}

impl FromStr for Schedule {
    type Err = String;
    /// Reads the one-line form, e.g. `"Mon-Fri 08:00-18:00 Europe/Berlin"`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (time_zone, awake) = window::parse_one_line(s)?;
        Ok(Self {
            time_zone,
            awake,
            ..Self::default()
        })
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The derived impl (`remote = "Self"`).
        Schedule::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringOrMap::<Schedule>(PhantomData))
    }
}

impl ReadStringOrMap for Schedule {
    const EXPECTING: &'static str = "a schedule: a mapping (timeZone, awake, asleep, except, \
         prewarm) or one line such as \"Mon-Fri 08:00-18:00 Europe/Berlin\"";
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        // The derived reading of the mapping (`remote = "Self"`).
        Schedule::deserialize(MapAccessDeserializer::new(map))
    }
}

fn schedule_schema(schema: &mut Schema) {
    window::string_or_object(
        schema,
        serde_json::json!({
            "type": "string",
            "description": "One line, awake windows only: DAYS HH:MM-HH:MM ZONE, several \
                separated by commas, all with the same zone",
            "examples": ["Mon-Fri 08:00-18:00 Europe/Berlin"],
        }),
    );
}

/// Test-data builders (STYLE.md §8):
/// `Schedule::test("Europe/Berlin").awake("Mon-Fri 08:00-18:00").except("2026-12-24", "2027-01-01")`.
/// They panic on malformed test data.
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    impl Schedule {
        /// An empty schedule in `zone` (no windows, no exceptions, `prewarm: auto`).
        pub fn test(zone: &str) -> Self {
            Self {
                time_zone: zone.into(),
                ..Self::default()
            }
        }
        /// Adds an awake window, e.g. `Mon-Fri 08:00-18:00`.
        pub fn awake(mut self, window: &str) -> Self {
            self.awake.push(window.parse().expect("test window"));
            self
        }
        /// Adds an asleep window, e.g. `Mon-Sun 22:00-06:00`.
        pub fn asleep(mut self, window: &str) -> Self {
            self.asleep.push(window.parse().expect("test window"));
            self
        }
        /// Adds an exception from `from` to `to` (inclusive), dates `YYYY-MM-DD`.
        pub fn except(mut self, from: &str, to: &str) -> Self {
            self.except.push(Exception {
                from: from.parse().expect("test date"),
                to: Some(to.parse().expect("test date")),
                reason: String::new(),
            });
            self
        }
        /// Sets `prewarm`: `auto`, `off` or a lead such as `90s`.
        pub fn prewarm(mut self, prewarm: &str) -> Self {
            self.prewarm = prewarm.parse().expect("test prewarm");
            self
        }
    }
}

/// The schedule of a record as seen at `now` ([`schedule_view`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleView {
    /// Where `now` is in the schedule, with the pre-warm lead applied.
    pub state: ScheduleState,
    /// The pre-warm lead used, and where it came from.
    pub lead: PrewarmLead,
}

impl ScheduleView {
    /// Inside quiet hours: when they end for the service, which is the asleep window's end or,
    /// when an awake window's pre-warm lead begins before that, the beginning of that lead.
    pub fn quiet_until(&self, schedule: &Schedule, now: Timestamp) -> Option<Timestamp> {
        let quiet = self.state.quiet()?;
        let lead_begins = schedule
            .next_awake_start(now)
            .map(|start| start.sub(self.lead.lead))
            .filter(|t| *t > now);
        Some(lead_begins.map_or(quiet.end, |t| t.min(quiet.end)))
    }
}

/// `spec.schedule` at `now`, with the pre-warm lead from the record's own recent wakes
/// (`status.recentWakeSeconds`) plus `runner_period` (how long the runner may take to come
/// back to a record that asked for no requeue: the Lambda's 1-minute schedule; 0 for
/// runners that requeue exactly). `None` without a schedule.
pub fn schedule_view(
    record: &crate::model::Record,
    now: Timestamp,
    runner_period: Duration,
) -> Option<ScheduleView> {
    let schedule = record.spec.schedule.as_ref()?;
    let recent = record
        .status
        .as_ref()
        .map(|s| s.recent_wake_seconds.as_slice())
        .unwrap_or_default();
    let lead = schedule.prewarm_lead(recent, runner_period);
    Some(ScheduleView {
        state: schedule.state_with_lead(now, lead.lead),
        lead,
    })
}
