//! Property tests of schedules against a brute-force reference written without the
//! implementation's DST handling.
//!
//! The reference reads a person's wall clock minute by minute and never lets it go back: at
//! instant `u` it is the latest local time shown at any minute up to `u`. A boundary at local
//! time `b` is passed exactly when that clock reaches `b`, which is the rule of the
//! implementation stated another way: in a gap the clock jumps past `b` at the transition; in
//! the repeated hour it reaches `b` the first time and then stands still until local time
//! catches up. So "inside a window" is a plain comparison of that clock with the window's
//! local start and end on each candidate start date; no offsets, gaps or folds are resolved.

use std::time::Duration;

use jiff::civil::{Date, DateTime};
use proptest::prelude::*;

use super::*;

/// Zones with DST in both hemispheres, a 30-minute DST (Lord Howe), a transition at 02:45
/// (Chatham), and UTC.
const ZONES: [&str; 6] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "UTC",
];

/// 2025-06-01T00:00:00Z: the start of the two years the instants are drawn from.
const FROM_SECS: i64 = 1_748_736_000;
const TWO_YEARS_SECS: i64 = 2 * 365 * 24 * 3600;

/// A time of day in minutes, half of the time one in or near the zones' gaps and folds
/// (01:00–04:00 local, Chatham's 02:45–03:45 included).
fn minutes() -> impl Strategy<Value = u16> {
    prop_oneof![
        0u16..1440,
        prop::sample::select(vec![
            0u16, 60, 90, 120, 135, 150, 165, 180, 200, 210, 225, 240, 1320, 1380
        ]),
    ]
}

/// Days: 1–2 random items, or (half of the time) ones with Sunday, the day every zone here
/// changes its clocks on.
fn days() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec((0u8..7, 0u8..4), 1..=2).prop_map(|items| {
            let items: Vec<String> = items
                .iter()
                .map(|&(first, span)| {
                    let last = (first + span).min(6);
                    if first == last {
                        window::day_name(first).to_string()
                    } else {
                        format!("{}-{}", window::day_name(first), window::day_name(last))
                    }
                })
                .collect();
            items.join(",")
        }),
        prop::sample::select(vec!["Sun", "Sat", "Sat-Sun", "Mon-Sun", "Fri,Sun"])
            .prop_map(String::from),
    ]
}

/// A window string: days, a start, an end different from it (sometimes `24:00`).
fn window() -> impl Strategy<Value = String> {
    (days(), minutes(), minutes(), prop::bool::weighted(0.1)).prop_map(
        |(days, start, end, end_of_day)| {
            let end = match (end_of_day, end == start) {
                (true, _) => 1440,
                (false, true) => (start + 1) % 1440,
                (false, false) => end,
            };
            let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            format!("{days} {}-{}", hhmm(start), hhmm(end))
        },
    )
}

/// A random schedule: zone, 1–3 awake windows, 0–2 asleep windows (exceptions are added
/// near the instant tested, [`except_near`]).
fn schedule() -> impl Strategy<Value = Schedule> {
    (
        0..ZONES.len(),
        prop::collection::vec(window(), 1..=3),
        prop::collection::vec(window(), 0..=2),
    )
        .prop_map(|(zone, awake, asleep)| {
            let mut s = Schedule::test(ZONES[zone]);
            for w in &awake {
                s = s.awake(w);
            }
            for w in &asleep {
                s = s.asleep(w);
            }
            s
        })
}

/// 0–2 exceptions as (first day relative to the instant's local date, days after it).
fn exceptions() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((-3i64..10, 0i64..15), 0..=2)
}

/// Adds the exceptions of [`exceptions`] to `s`, relative to `now`'s local date.
fn except_near(s: &mut Schedule, now: Timestamp, exceptions: &[(i64, i64)]) {
    let today = s.tz().to_datetime(to_jiff(now)).date();
    let date = |days: i64| {
        LocalDate(
            today
                .checked_add(jiff::Span::new().days(days))
                .expect("date"),
        )
    };
    for &(from, length) in exceptions {
        s.except.push(Exception {
            from: date(from),
            to: Some(date(from + length)),
            reason: String::new(),
        });
    }
}

/// An instant in the two years, whole seconds: anywhere, or within three days or within six
/// hours of one of the zone's first eight DST transitions.
fn instant() -> impl Strategy<Value = (Option<usize>, i64)> {
    prop_oneof![
        (0i64..TWO_YEARS_SECS).prop_map(|s| (None, s)),
        (0usize..8, -3 * 86_400i64..3 * 86_400).prop_map(|(k, s)| (Some(k), s)),
        (0usize..8, -6 * 3600i64..6 * 3600).prop_map(|(k, s)| (Some(k), s)),
    ]
}

fn now_in(tz: &TimeZone, (near, secs): (Option<usize>, i64)) -> Timestamp {
    let from = jiff::Timestamp::from_second(FROM_SECS).expect("instant");
    let base = near
        .and_then(|k| tz.following(from).nth(k))
        .map_or(FROM_SECS, |tr| tr.timestamp().as_second());
    let secs = if near.is_some() && base != FROM_SECS {
        base + secs
    } else {
        FROM_SECS + secs.rem_euclid(TWO_YEARS_SECS)
    };
    Timestamp::from_millis(secs * 1000)
}

/// What the reference says at a wall-clock reading: the (window index, start date) of the
/// awake and of the asleep window containing it, the lowest index first.
type Answer = (Option<(usize, Date)>, Option<(usize, Date)>);

fn reference(s: &Schedule, wall: DateTime) -> Answer {
    (
        inside(s, &s.awake, true, wall),
        inside(s, &s.asleep, false, wall),
    )
}

fn inside(s: &Schedule, windows: &[Window], awake: bool, wall: DateTime) -> Option<(usize, Date)> {
    let at = |d: Date, t: ClockTime| -> DateTime {
        if t.hour == 24 {
            d.tomorrow().expect("date").at(0, 0, 0, 0)
        } else {
            d.at(t.hour as i8, t.minute as i8, 0, 0)
        }
    };
    for (i, w) in windows.iter().enumerate() {
        for back in 0..3 {
            let d = (0..back).fold(wall.date(), |d, _| d.yesterday().expect("date"));
            let weekday = d.weekday().to_monday_zero_offset() as u8;
            let excepted = s.except.iter().any(|e| e.from.0 <= d && d <= e.last().0);
            if !w.days.contains(weekday) || (awake && excepted) {
                continue;
            }
            let start = at(d, w.start);
            let end_day = if w.end.minutes() <= w.start.minutes() {
                d.tomorrow().expect("date")
            } else {
                d
            };
            let end = at(end_day, w.end);
            if start <= wall && wall < end {
                return Some((i, d));
            }
        }
    }
    None
}

/// A person's wall clock that never goes back, read minute by minute from a day before the
/// first reading.
struct WallClock<'a> {
    tz: &'a TimeZone,
    at: Timestamp,
    max: DateTime,
}

impl<'a> WallClock<'a> {
    /// Reads up to `now` (so `read` is the clock at `now`).
    fn new(tz: &'a TimeZone, now: Timestamp) -> Self {
        let day_before = now.sub(Duration::from_secs(86_400));
        let mut clock = WallClock {
            tz,
            at: day_before,
            max: tz.to_datetime(to_jiff(day_before)),
        };
        while clock.at < now {
            clock.tick();
        }
        clock
    }

    /// One minute later.
    fn tick(&mut self) {
        self.at = self.at.add(Duration::from_secs(60));
        self.max = self.max.max(self.tz.to_datetime(to_jiff(self.at)));
    }

    /// The clock at `t`, shortly after the last reading.
    fn read_at(&self, t: Timestamp) -> DateTime {
        self.max.max(self.tz.to_datetime(to_jiff(t)))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn state_agrees_with_the_wall_clock_reference_and_never_skips_a_boundary(
        s in schedule(),
        at in instant(),
        except in exceptions(),
    ) {
        let mut s = s;
        let tz = s.tz();
        let now = now_in(&tz, at);
        except_near(&mut s, now, &except);
        let valid = s.validate("spec.schedule").is_empty();
        let state = s.state(now);
        let mut clock = WallClock::new(&tz, now);
        let expected = reference(&s, clock.max);
        prop_assert_eq!(state.awake.map(|o| o.window), expected.0.map(|(i, _)| i), "awake at {}", now);
        prop_assert_eq!(state.asleep.map(|o| o.window), expected.1.map(|(i, _)| i), "asleep at {}", now);
        prop_assert!(state.awake.is_none_or(|o| o.contains(now)));
        prop_assert!(state.asleep.is_none_or(|o| o.contains(now)));

        // Every schedule here has an awake window, which occurs at least weekly between
        // exceptions: there is always a next boundary, and it is in the future.
        let boundary = state.next_boundary.expect("a next boundary");
        prop_assert!(boundary > now, "boundary {} not after {}", boundary, now);
        // Every minute up to it, the reference gives the same answer.
        loop {
            clock.tick();
            if clock.at >= boundary {
                break;
            }
            prop_assert_eq!(reference(&s, clock.max), expected, "changed at {} before {}", clock.at, boundary);
        }
        // At the boundary both agree again; in a valid schedule something has changed there.
        let then = s.state(boundary);
        let expected_then = reference(&s, clock.read_at(boundary));
        prop_assert_eq!(then.awake.map(|o| o.window), expected_then.0.map(|(i, _)| i), "awake at {}", boundary);
        prop_assert_eq!(then.asleep.map(|o| o.window), expected_then.1.map(|(i, _)| i), "asleep at {}", boundary);
        if valid {
            prop_assert!(
                (then.awake, then.asleep) != (state.awake, state.asleep),
                "nothing changes at {}", boundary
            );
            prop_assert_ne!(expected_then, expected, "the reference does not change at {}", boundary);
        }
    }

    #[test]
    fn next_awake_start_transitions_and_prewarm_agree_with_state(
        s in schedule(),
        at in instant(),
        except in exceptions(),
        lead_secs in 0u64..1200,
    ) {
        let mut s = s;
        let tz = s.tz();
        let now = now_in(&tz, at);
        except_near(&mut s, now, &except);
        let valid = s.validate("spec.schedule").is_empty();
        let next = s.next_awake_start(now).expect("an awake window ahead");
        prop_assert!(next > now);
        let there = s.state(next).awake.expect("awake at the next start");
        if valid {
            prop_assert_eq!(there.start, next);
        }
        // No awake occurrence starts between now and then.
        let mut t = now;
        while let Some(b) = s.state(t).next_boundary.filter(|&b| b < next) {
            let o = s.state(b).awake;
            prop_assert!(o.is_none_or(|o| o.start <= now || o.start == next), "starts at {}", b);
            t = b;
        }

        // Pre-warm: wanted from `lead` before the next start, exactly.
        let lead = Duration::from_secs(lead_secs);
        let warm = s.state_with_lead(now, lead);
        prop_assert_eq!(warm.prewarming.is_some(), next <= now.add(lead));
        prop_assert_eq!(warm.prewarming.map(|o| o.start), Some(next).filter(|&n| n <= now.add(lead)));
        prop_assert_eq!((warm.awake, warm.asleep), (s.state(now).awake, s.state(now).asleep));
        let lead_begins = next.sub(lead);
        if lead_begins > now {
            prop_assert!(warm.next_boundary.is_some_and(|b| b <= lead_begins));
        }

        // Transitions: strictly later one after the other, from the next boundary on.
        let transitions = s.transitions(now, 3);
        prop_assert!(!transitions.is_empty());
        prop_assert!(transitions.windows(2).all(|w| w[0].at < w[1].at));
        prop_assert!(transitions.iter().all(|tr| tr.at > now && !tr.changes.is_empty()));
        if valid {
            prop_assert_eq!(Some(transitions[0].at), s.state(now).next_boundary);
        }
    }
}
