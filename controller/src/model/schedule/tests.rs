//! Table tests of schedules: DST in three hemispheres' zones, midnight crossings, a leap day,
//! holidays across a year boundary, pre-warm, reading and validation.

use std::time::Duration;

use super::*;

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

const MS: Duration = Duration::from_millis(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// One awake window occurrence: in `zone`, window `window` starts at `start` and ends at
/// `end` (UTC), lasting `length` of real time.
struct Case {
    zone: &'static str,
    window: &'static str,
    start: &'static str,
    end: &'static str,
    length: Duration,
    why: &'static str,
}

const fn case(
    zone: &'static str,
    window: &'static str,
    start: &'static str,
    end: &'static str,
    minutes: u64,
    why: &'static str,
) -> Case {
    Case {
        zone,
        window,
        start,
        end,
        length: Duration::from_secs(minutes * 60),
        why,
    }
}

/// Berlin: CET→CEST on Sun 2026-03-29 at 02:00 (01:00Z), CEST→CET on Sun 2026-10-25 at 03:00
/// (01:00Z). New York: EST→EDT on Sun 2026-03-08 at 02:00 (07:00Z), EDT→EST on Sun 2026-11-01
/// at 02:00 (06:00Z). Sydney (southern hemisphere): AEDT→AEST on Sun 2026-04-05 at 03:00
/// (16:00Z the day before), AEST→AEDT on Sun 2026-10-04 at 02:00 (16:00Z the day before).
#[rustfmt::skip]
const DST_CASES: &[Case] = &[
    case("Europe/Berlin", "Sat 22:00-06:00", "2026-03-21T21:00:00Z", "2026-03-22T05:00:00Z", 8 * 60, "ordinary night"),
    case("Europe/Berlin", "Sat 22:00-06:00", "2026-03-28T21:00:00Z", "2026-03-29T04:00:00Z", 7 * 60, "spring forward night"),
    case("Europe/Berlin", "Sat 22:00-06:00", "2026-10-24T20:00:00Z", "2026-10-25T05:00:00Z", 9 * 60, "fall back night"),
    case("Europe/Berlin", "Sun 01:00-04:00", "2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z", 2 * 60, "contains the gap"),
    case("Europe/Berlin", "Sun 01:00-04:00", "2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z", 4 * 60, "contains the fold"),
    case("Europe/Berlin", "Sun 02:30-05:00", "2026-03-29T01:00:00Z", "2026-03-29T03:00:00Z", 2 * 60, "start in the gap: 03:00, not jiff's compatible 03:30"),
    case("Europe/Berlin", "Sun 02:30-04:00", "2026-10-25T00:30:00Z", "2026-10-25T03:00:00Z", 150, "start in the fold: first 02:30 (CEST)"),
    case("Europe/Berlin", "Sat 23:00-02:30", "2026-03-28T22:00:00Z", "2026-03-29T01:00:00Z", 3 * 60, "end in the gap: at 03:00"),
    case("Europe/Berlin", "Sat 23:00-02:30", "2026-10-24T21:00:00Z", "2026-10-25T00:30:00Z", 210, "end in the fold: first 02:30"),
    case("America/New_York", "Sat 22:00-06:00", "2026-03-15T02:00:00Z", "2026-03-15T10:00:00Z", 8 * 60, "ordinary night"),
    case("America/New_York", "Sat 22:00-06:00", "2026-03-08T03:00:00Z", "2026-03-08T10:00:00Z", 7 * 60, "spring forward night"),
    case("America/New_York", "Sat 22:00-06:00", "2026-11-01T02:00:00Z", "2026-11-01T11:00:00Z", 9 * 60, "fall back night"),
    case("America/New_York", "Sun 01:00-04:00", "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z", 2 * 60, "contains the gap"),
    case("America/New_York", "Sun 01:00-04:00", "2026-11-01T05:00:00Z", "2026-11-01T09:00:00Z", 4 * 60, "contains the fold: starts at the first 01:00 (EDT)"),
    case("America/New_York", "Sun 02:30-03:30", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z", 30, "start in the gap: at 03:00"),
    case("Australia/Sydney", "Sat 22:00-06:00", "2026-07-04T12:00:00Z", "2026-07-04T20:00:00Z", 8 * 60, "ordinary (winter) night"),
    case("Australia/Sydney", "Sat 22:00-06:00", "2026-10-03T12:00:00Z", "2026-10-03T19:00:00Z", 7 * 60, "spring forward night, in October"),
    case("Australia/Sydney", "Sat 22:00-06:00", "2026-04-04T11:00:00Z", "2026-04-04T20:00:00Z", 9 * 60, "fall back night, in April"),
    case("Australia/Sydney", "Sun 01:00-04:00", "2026-10-03T15:00:00Z", "2026-10-03T17:00:00Z", 2 * 60, "contains the gap"),
    case("Australia/Sydney", "Sun 01:00-04:00", "2026-04-04T14:00:00Z", "2026-04-04T18:00:00Z", 4 * 60, "contains the fold"),
    case("Australia/Sydney", "Sun 02:30-05:00", "2026-10-03T16:00:00Z", "2026-10-03T18:00:00Z", 2 * 60, "start in the gap: at 03:00"),
    case("Australia/Sydney", "Sun 02:30-05:00", "2026-04-04T15:30:00Z", "2026-04-04T19:00:00Z", 210, "start in the fold: first 02:30 (AEDT)"),
];

#[test]
fn dst_nights_last_as_long_as_a_person_expects() {
    for c in DST_CASES {
        let what = format!("{} {} ({})", c.zone, c.window, c.why);
        let s = Schedule::test(c.zone).awake(c.window);
        let (start, end) = (t(c.start), t(c.end));
        let expected = Occurrence {
            window: 0,
            start,
            end,
        };
        assert_eq!(end.since(start), c.length, "{what}: real-time length");
        assert_eq!(s.state(start).awake, Some(expected), "{what}: at its start");
        assert_eq!(
            s.state(end.sub(MS)).awake,
            Some(expected),
            "{what}: just before its end"
        );
        assert_eq!(
            s.state(start.sub(MS)).awake,
            None,
            "{what}: just before its start"
        );
        assert_eq!(s.state(end).awake, None, "{what}: at its end");
        assert_eq!(
            s.state(start.sub(HOUR)).next_boundary,
            Some(start),
            "{what}: boundary"
        );
        assert_eq!(s.state(start).next_boundary, Some(end), "{what}: boundary");
        assert_eq!(s.next_awake_start(start.sub(HOUR)), Some(start), "{what}");
    }
}

#[test]
fn a_window_inside_the_gap_does_not_happen_that_day() {
    let s = Schedule::test("Europe/Berlin").awake("Sun 02:00-02:30");
    // 2026-03-29 02:00-02:30 does not exist in Berlin: no occurrence, no boundary there.
    assert_eq!(s.state(t("2026-03-29T01:00:00Z")).awake, None);
    assert_eq!(
        s.next_awake_start(t("2026-03-28T12:00:00Z")),
        Some(t("2026-04-05T00:00:00Z"))
    );
    // In the repeated hour (2026-10-25) it is the first 02:00-02:30, CEST.
    let fold = s
        .state(t("2026-10-25T00:10:00Z"))
        .awake
        .expect("in the fold");
    assert_eq!(
        (fold.start, fold.end),
        (t("2026-10-25T00:00:00Z"), t("2026-10-25T00:30:00Z"))
    );
    assert_eq!(
        s.state(t("2026-10-25T01:10:00Z")).awake,
        None,
        "second 02:10"
    );
}

#[test]
fn a_window_crossing_midnight_belongs_to_the_day_it_starts() {
    let s = Schedule::test("Europe/Berlin").awake("Fri 22:00-06:00");
    // Saturday 2026-06-13 03:00 CEST: inside Friday's window.
    let o = s
        .state(t("2026-06-13T01:00:00Z"))
        .awake
        .expect("Saturday morning");
    assert_eq!(
        (o.start, o.end),
        (t("2026-06-12T20:00:00Z"), t("2026-06-13T04:00:00Z"))
    );
    // Friday 2026-06-12 03:00: Thursday did not start one.
    assert_eq!(s.state(t("2026-06-12T01:00:00Z")).awake, None);
    // Sunday night into Monday, across the end of the week.
    let s = Schedule::test("UTC").awake("Sun 22:00-06:00");
    let o = s
        .state(t("2026-06-15T05:59:00Z"))
        .awake
        .expect("Monday morning");
    assert_eq!(o.start, t("2026-06-14T22:00:00Z"));
    // 24:00 is the end of the start day; 00:00-24:00 is a whole day, days in a row adjoin.
    let s = Schedule::test("UTC").awake("Mon-Tue 00:00-24:00");
    let st = s.state(t("2026-06-15T12:00:00Z"));
    assert_eq!(st.awake.map(|o| o.end), Some(t("2026-06-16T00:00:00Z")));
    assert_eq!(st.next_boundary, Some(t("2026-06-16T00:00:00Z")));
    let tuesday = s.state(t("2026-06-16T00:00:00Z")).awake.expect("Tuesday");
    assert_eq!(tuesday.start, t("2026-06-16T00:00:00Z"));
}

#[test]
fn a_leap_day_is_a_day_like_any_other() {
    // 2028-02-29 is a Tuesday.
    let s = Schedule::test("Europe/Berlin").awake("Tue 22:00-06:00");
    let o = s
        .state(t("2028-02-29T23:00:00Z"))
        .awake
        .expect("leap night");
    assert_eq!(
        (o.start, o.end),
        (t("2028-02-29T21:00:00Z"), t("2028-03-01T05:00:00Z"))
    );
    let s = Schedule::test("Europe/Berlin")
        .awake("Mon-Sun 08:00-18:00")
        .except("2028-02-29", "2028-02-29");
    assert!(s.state(t("2028-02-28T12:00:00Z")).awake.is_some());
    assert_eq!(s.state(t("2028-02-29T12:00:00Z")).awake, None);
    assert_eq!(
        s.next_awake_start(t("2028-02-28T18:00:00Z")),
        Some(t("2028-03-01T07:00:00Z"))
    );
    assert!(
        "2027-02-29"
            .parse::<LocalDate>()
            .unwrap_err()
            .contains("is not a day of the calendar")
    );
}

#[test]
fn holidays_across_the_year_boundary_switch_off_the_windows_that_start_on_them() {
    // 2026-12-23 is a Wednesday; 2027-01-04 a Monday.
    let s = Schedule::test("Europe/Berlin")
        .awake("Mon-Fri 08:00-18:00")
        .awake("Wed 22:00-06:00")
        .asleep("Sat-Sun 00:00-24:00")
        .except("2026-12-24", "2027-01-01");
    assert_eq!(s.validate("spec.schedule"), vec![]);
    let awake = |at: &str| s.state(t(at)).awake.map(|o| o.window);
    assert_eq!(
        awake("2026-12-23T12:00:00Z"),
        Some(0),
        "before the holidays"
    );
    assert_eq!(
        awake("2026-12-24T02:00:00Z"),
        Some(1),
        "Wednesday's night runs on"
    );
    assert_eq!(awake("2026-12-24T09:00:00Z"), None, "Thursday, excepted");
    assert_eq!(
        awake("2026-12-31T02:00:00Z"),
        None,
        "Wednesday 30th's night, excepted"
    );
    assert_eq!(
        awake("2027-01-01T09:00:00Z"),
        None,
        "New Year's Day, excepted"
    );
    assert_eq!(awake("2027-01-04T09:00:00Z"), Some(0), "back to work");
    assert_eq!(
        s.next_awake_start(t("2026-12-24T06:00:00Z")),
        Some(t("2027-01-04T07:00:00Z"))
    );
    // Quiet hours are not switched off by exceptions.
    assert!(s.state(t("2026-12-26T12:00:00Z")).asleep.is_some());
    // The answer does not change when the holidays start: no boundary at their midnight.
    assert_eq!(
        s.state(t("2026-12-23T22:30:00Z")).next_boundary,
        Some(t("2026-12-24T05:00:00Z"))
    );
    assert_eq!(
        s.transitions(t("2026-12-23T12:00:00Z"), 4),
        vec![
            Transition {
                at: t("2026-12-23T17:00:00Z"),
                changes: vec![Change::AwakeEnds { window: 0 }]
            },
            Transition {
                at: t("2026-12-23T21:00:00Z"),
                changes: vec![Change::AwakeStarts {
                    window: 1,
                    end: t("2026-12-24T05:00:00Z")
                }]
            },
            Transition {
                at: t("2026-12-24T05:00:00Z"),
                changes: vec![Change::AwakeEnds { window: 1 }]
            },
            Transition {
                at: t("2026-12-25T23:00:00Z"),
                changes: vec![Change::AsleepStarts {
                    window: 0,
                    end: t("2026-12-26T23:00:00Z")
                }]
            },
        ]
    );
}

#[test]
fn adjoining_windows_are_one_transition_with_two_changes() {
    let s = Schedule::test("UTC")
        .awake("Mon 08:00-18:00")
        .asleep("Mon 18:00-22:00");
    // 2026-06-15 is a Monday.
    let tr = s.transitions(t("2026-06-15T12:00:00Z"), 2);
    assert_eq!(
        tr[0],
        Transition {
            at: t("2026-06-15T18:00:00Z"),
            changes: vec![
                Change::AwakeEnds { window: 0 },
                Change::AsleepStarts {
                    window: 0,
                    end: t("2026-06-15T22:00:00Z")
                }
            ]
        }
    );
    assert_eq!(tr[1].changes, vec![Change::AsleepEnds { window: 0 }]);
}

#[test]
fn a_schedule_without_windows_never_changes() {
    let s = Schedule::test("Europe/Berlin").except("2026-12-24", "2027-01-01");
    let st = s.state(t("2026-12-24T12:00:00Z"));
    assert_eq!(
        st,
        ScheduleState {
            awake: None,
            prewarming: None,
            asleep: None,
            next_boundary: None
        }
    );
    assert_eq!(s.next_awake_start(t("2026-12-24T12:00:00Z")), None);
    assert_eq!(s.transitions(t("2026-12-24T12:00:00Z"), 3), vec![]);
}

#[test]
fn prewarm_wants_the_service_awake_from_the_lead_and_cuts_quiet_hours_short() {
    // 2026-06-15 is a Monday; Berlin is at +02:00.
    let s = Schedule::test("Europe/Berlin")
        .awake("Mon-Fri 08:00-18:00")
        .asleep("Mon-Sun 22:00-08:00");
    assert_eq!(
        s.validate("spec.schedule"),
        vec![],
        "adjoining is not overlapping"
    );
    let lead = 2 * MIN;
    let window = Occurrence {
        window: 0,
        start: t("2026-06-15T06:00:00Z"),
        end: t("2026-06-15T16:00:00Z"),
    };
    let before = s.state_with_lead(t("2026-06-15T05:50:00Z"), lead);
    assert_eq!(before.prewarming, None);
    assert!(!before.awake_wanted());
    assert!(before.quiet().is_some());
    assert_eq!(before.next_boundary, Some(t("2026-06-15T05:58:00Z")));
    let warming = s.state_with_lead(t("2026-06-15T05:58:00Z"), lead);
    assert_eq!(warming.prewarming, Some(window));
    assert!(warming.awake_wanted());
    assert!(warming.asleep.is_some(), "still inside the quiet hours");
    assert_eq!(warming.quiet(), None, "but they no longer apply");
    assert_eq!(warming.next_boundary, Some(window.start));
    let inside = s.state_with_lead(window.start, lead);
    assert_eq!((inside.awake, inside.prewarming), (Some(window), None));
    // Without a lead nothing happens before 08:00.
    assert_eq!(s.state(t("2026-06-15T05:58:00Z")).prewarming, None);
    assert_eq!(
        s.state(t("2026-06-15T05:50:00Z")).next_boundary,
        Some(window.start)
    );
}

#[test]
fn prewarm_lead_comes_from_measured_wakes_bounded_plus_the_runner_period() {
    let auto = Schedule::test("UTC");
    let minute = Duration::from_secs(60);
    let measured = |secs: &[f64], period| auto.prewarm_lead(secs, period);
    assert_eq!(
        measured(&[], minute),
        PrewarmLead {
            lead: PREWARM_DEFAULT + minute,
            source: LeadSource::Default
        }
    );
    let m = |samples| LeadSource::Measured {
        percentile: 90,
        samples,
    };
    // Nearest rank: of 4 durations the 4th; of 10 the 9th. NaN and negatives are not durations.
    let lead = measured(&[40.0, 30.0, 100.0, f64::NAN, -1.0, 35.0], Duration::ZERO);
    assert_eq!((lead.lead, lead.source), (Duration::from_secs(100), m(4)));
    let tens: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
    assert_eq!(
        measured(&tens, Duration::ZERO).lead,
        Duration::from_secs(90)
    );
    // Only the newest ten count (newest last).
    let old_slow: Vec<f64> = [900.0, 900.0].iter().chain(&tens).copied().collect();
    let lead = measured(&old_slow, minute);
    assert_eq!((lead.lead, lead.source), (Duration::from_secs(150), m(10)));
    // Clamped to 30 s..=10 min, rounded up to whole seconds.
    assert_eq!(measured(&[5.0, 5.0], Duration::ZERO).lead, PREWARM_MIN);
    assert_eq!(measured(&[2000.0], Duration::ZERO).lead, PREWARM_MAX);
    assert_eq!(measured(&[f64::MAX], Duration::ZERO).lead, PREWARM_MAX);
    assert_eq!(
        measured(&[40.2], Duration::ZERO).lead,
        Duration::from_secs(41)
    );
    let fixed = Schedule::test("UTC").prewarm("90s");
    assert_eq!(
        fixed.prewarm_lead(&[300.0], minute),
        PrewarmLead {
            lead: Duration::from_secs(150),
            source: LeadSource::Fixed
        }
    );
    let off = Schedule::test("UTC").prewarm("off");
    assert_eq!(
        off.prewarm_lead(&[300.0], minute),
        PrewarmLead {
            lead: Duration::ZERO,
            source: LeadSource::Off
        }
    );
}

#[test]
fn local_time_is_shown_in_the_schedules_zone() {
    let s = Schedule::test("Europe/Berlin");
    assert_eq!(
        s.local_time(t("2026-03-30T06:00:00Z")),
        "Mon 2026-03-30 08:00 CEST"
    );
    assert_eq!(
        s.local_time(t("2026-12-24T07:00:00Z")),
        "Thu 2026-12-24 08:00 CET"
    );
}

// Reading.

/// A record-like document with the schedule at `schedule`, so errors carry a path.
#[derive(Debug, serde::Deserialize)]
struct Doc {
    schedule: Schedule,
}

/// Reads `yaml` as a [`Doc`] the way manifests are read (path of the first error), then
/// validates: every problem as `path: message`.
fn problems(yaml: &str) -> Vec<String> {
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    match serde_path_to_error::deserialize::<_, Doc>(de) {
        Ok(doc) => doc
            .schedule
            .validate("schedule")
            .iter()
            .map(ToString::to_string)
            .collect(),
        Err(e) => {
            // As parse_manifests does: without the YAML parser's location and path prefix.
            let path = e.path().to_string();
            let message = e.inner().to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            let message = match message.split_once(": ") {
                Some((prefix, rest)) if path.starts_with(prefix) => rest,
                _ => message,
            };
            vec![format!("{path}: {message}")]
        }
    }
}

fn read(yaml: &str) -> Schedule {
    serde_yaml_ng::from_str::<Doc>(yaml)
        .expect("test schedule")
        .schedule
}

#[test]
fn the_structured_form_reads_with_compact_and_structured_windows() {
    let s = read(
        r#"
schedule:
  timeZone: Europe/Berlin
  awake:
    - Mon-Fri 08:00-18:00
    - {days: Sat, start: "10:00", end: "12:00"}
    - days: sun
      start: 10:00
      end: 24:00
  asleep:
    - Mon-Sat 22:00-06:00
  except:
    - {from: 2026-12-24, to: 2027-01-01, reason: "holidays"}
    - {from: 2027-05-01}
  prewarm: 2m
"#,
    );
    let expected = Schedule {
        except: vec![
            Exception {
                from: "2026-12-24".parse().unwrap(),
                to: Some("2027-01-01".parse().unwrap()),
                reason: "holidays".into(),
            },
            Exception {
                from: "2027-05-01".parse().unwrap(),
                to: None,
                reason: String::new(),
            },
        ],
        ..Schedule::test("Europe/Berlin")
            .awake("Mon-Fri 08:00-18:00")
            .awake("Sat 10:00-12:00")
            .awake("Sun 10:00-24:00")
            .asleep("Mon-Sat 22:00-06:00")
            .prewarm("2m")
    };
    assert_eq!(s, expected);
    assert_eq!(s.validate("spec.schedule"), vec![]);
    assert_eq!(s.except[1].last(), s.except[1].from);
    // Written back as the mapping with compact windows, and read back the same.
    let yaml = serde_yaml_ng::to_string(&s).unwrap();
    assert!(yaml.contains("- Sat 10:00-12:00"), "{yaml}");
    assert!(yaml.contains("prewarm: 2m"), "{yaml}");
    assert_eq!(serde_yaml_ng::from_str::<Schedule>(&yaml).unwrap(), s);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["timeZone"], "Europe/Berlin");
    assert_eq!(serde_json::from_value::<Schedule>(json).unwrap(), s);
    // Defaults: UTC, auto, nothing else; `auto` is not written.
    let empty = read("schedule: {}");
    assert_eq!(empty, Schedule::default());
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"timeZone":"UTC"}"#
    );
}

#[test]
fn the_one_line_form_is_kube_downscalers() {
    assert_eq!(
        read(r#"schedule: "Mon-Fri 08:00-18:00 Europe/Berlin""#),
        Schedule::test("Europe/Berlin").awake("Mon-Fri 08:00-18:00")
    );
    assert_eq!(
        read(
            r#"schedule: "Mon,Wed-Thu 08:00-18:00 Europe/Berlin, Sat 10:00-12:00 Europe/Berlin,Sun 22:00-06:00 Europe/Berlin""#
        ),
        Schedule::test("Europe/Berlin")
            .awake("Mon,Wed-Thu 08:00-18:00")
            .awake("Sat 10:00-12:00")
            .awake("Sun 22:00-06:00")
    );
    let form = "expected DAYS HH:MM-HH:MM ZONE, several separated by commas, e.g. \
                \"Mon-Fri 08:00-18:00 Europe/Berlin, Sat 10:00-12:00 Europe/Berlin\"";
    for (line, message) in [
        (
            "Mon-Fri 08:00-18:00",
            format!("schedule: \"Mon-Fri 08:00-18:00\": {form}"),
        ),
        (
            "Mon-Fri 08:00-18:00 Europe/Berlin,",
            format!("schedule: \"Mon-Fri 08:00-18:00 Europe/Berlin,\": {form}"),
        ),
        (
            "Mon-Fri 08:00-18:00 Europe/Berlin Sat",
            format!("schedule: \"Mon-Fri 08:00-18:00 Europe/Berlin Sat\": {form}"),
        ),
        (
            "Mon-Fri 08:00-18:00 Europe/Berlin, Sat 10:00-12:00 UTC",
            "schedule: \"Mon-Fri 08:00-18:00 Europe/Berlin, Sat 10:00-12:00 UTC\": every window \
             of the one-line form names the same zone, found Europe/Berlin and UTC; use the \
             structured form, with one timeZone"
                .to_string(),
        ),
    ] {
        assert_eq!(problems(&format!("schedule: \"{line}\"")), vec![message]);
    }
    // The zone is checked with the rest.
    assert_eq!(
        problems(r#"schedule: "Mon-Fri 08:00-18:00 Mars/Olympus""#),
        vec![
            "schedule.timeZone: \"Mars/Olympus\" is not a time zone of the IANA database; use a \
             name such as Europe/Berlin, America/New_York or UTC"
        ]
    );
}

#[test]
fn malformed_windows_are_refused_with_the_expected_form() {
    let form = r#"expected DAYS HH:MM-HH:MM, e.g. "Mon-Fri 08:00-18:00""#;
    for junk in [
        "Mon-Fri 8-18",
        "Mon-Fri 8:00-18:00",
        "Mon-Fri 08:00 - 18:00",
        "Mon-Fri08:00-18:00",
        "Mon-Fri 08:00-18:00x",
        "Mon-Fri 08:00-18:00-20:00",
        "Mon-Fri 0800-1800",
        "Mon-Fri",
        "08:00-18:00",
        "Mon, Wed 08:00-18:00",
        "Mon-Fri 08:00-18:0",
        "Mon-Fri 08:00-18:00, Sat 10:00-12:00",
        "",
    ] {
        let got = problems(&format!(
            "schedule: {{awake: [Sat 10:00-12:00, \"{junk}\"]}}"
        ));
        assert_eq!(
            got,
            vec![format!("schedule.awake[1]: {junk:?}: {form}")],
            "{junk:?}"
        );
    }
    assert_eq!(
        problems(r#"schedule: {awake: ["Mo-Fr 08:00-18:00"]}"#),
        vec![
            "schedule.awake[0]: \"Mo-Fr 08:00-18:00\": \"Mo\" is not a day (use Mon, Tue, Wed, \
             Thu, Fri, Sat, Sun); expected DAYS HH:MM-HH:MM, e.g. \"Mon-Fri 08:00-18:00\""
        ]
    );
    assert_eq!(
        problems(r#"schedule: {awake: ["Mon-Fri 08:00-18:00 Europe/Berlin"]}"#),
        vec![
            "schedule.awake[0]: \"Mon-Fri 08:00-18:00 Europe/Berlin\": a window in a list names \
             no zone (timeZone applies to all of them); expected DAYS HH:MM-HH:MM, e.g. \
             \"Mon-Fri 08:00-18:00\""
        ]
    );
    // Structured windows: each field names its own form.
    assert_eq!(
        problems(r#"schedule: {asleep: [{days: Sat, start: "10", end: "12:00"}]}"#),
        vec!["schedule.asleep[0].start: \"10\": expected a time of day HH:MM, e.g. \"08:00\""]
    );
    assert_eq!(
        problems(r#"schedule: {asleep: [{days: "Sat Sun", start: "10:00", end: "12:00"}]}"#),
        vec![
            "schedule.asleep[0].days: \"Sat Sun\": expected days such as Mon-Fri, Sat or \
             Mon,Wed,Fri"
        ]
    );
    assert_eq!(
        problems(r#"schedule: {asleep: [{days: Sat, start: "10:00"}]}"#),
        vec!["schedule.asleep[0]: missing field `end`"]
    );
    assert_eq!(
        problems(r#"schedule: {except: [{from: 24.12.2026}]}"#),
        vec![
            "schedule.except[0].from: \"24.12.2026\": expected a date YYYY-MM-DD, e.g. 2026-12-24"
        ]
    );
    assert_eq!(
        problems("schedule: {prewarm: soon}"),
        vec![
            "schedule.prewarm: \"soon\" is not a prewarm value; use auto, off or a lead such as \
             90s or 2m"
        ]
    );
    assert_eq!(
        problems("schedule: 3"),
        vec![
            "schedule: invalid type: integer `3`, expected a schedule: a mapping (timeZone, \
             awake, asleep, except, prewarm) or one line such as \"Mon-Fri 08:00-18:00 \
             Europe/Berlin\""
        ]
    );
}

#[test]
fn unknown_fields_inside_a_schedule_are_found_by_the_manifest_reader() {
    // parse_manifests reports what serde_ignored finds: the mapping forms must pass it through.
    let yaml = r#"
schedule:
  timezone: Europe/Berlin
  awake: [{days: Mon, start: "08:00", end: "09:00", zone: UTC}]
"#;
    let mut ignored = Vec::new();
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    let _: Doc = serde_ignored::deserialize(de, |path| ignored.push(path.to_string())).unwrap();
    assert_eq!(ignored, vec!["schedule.timezone", "schedule.awake.0.zone"]);
}

#[test]
fn the_schema_accepts_both_forms() {
    let schema = serde_json::to_value(schemars::schema_for!(Schedule)).unwrap();
    let one_of = schema["oneOf"].as_array().expect("oneOf");
    assert_eq!(one_of[0]["type"], "string");
    assert_eq!(one_of[1]["type"], "object");
    assert_eq!(one_of[1]["additionalProperties"], false);
    assert!(
        schema["description"]
            .as_str()
            .unwrap()
            .starts_with("`spec.schedule`")
    );
    let window = &schema["$defs"]["Window"];
    assert_eq!(window["oneOf"][0]["type"], "string", "{window}");
    assert_eq!(
        window["oneOf"][1]["required"],
        serde_json::json!(["days", "start", "end"])
    );
}

// Validation.

#[test]
fn every_bad_input_is_reported_at_its_path() {
    for (yaml, expected) in [
        (
            "schedule: {timeZone: Europe/Berlln}",
            vec![
                "schedule.timeZone: \"Europe/Berlln\" is not a time zone of the IANA database; \
                 use a name such as Europe/Berlin, America/New_York or UTC",
            ],
        ),
        (
            "schedule: {awake: [Mon-Fri 08:00-18:00, Mon 25:00-26:00]}",
            vec![
                "schedule.awake[1]: \"Mon 25:00-26:00\": 25:00 is not a time of day; use 00:00 to \
                 23:59",
                "schedule.awake[1]: \"Mon 25:00-26:00\": 26:00 is not a time of day; use 00:00 to \
                 23:59, or 24:00 for the end of the day",
            ],
        ),
        (
            "schedule: {awake: [Mon 08:60-09:00, Mon 24:00-06:00]}",
            vec![
                "schedule.awake[0]: \"Mon 08:60-09:00\": 08:60 is not a time of day; use 00:00 to \
                 23:59",
                "schedule.awake[1]: \"Mon 24:00-06:00\": 24:00 is an end only; a window that \
                 starts at midnight starts at 00:00",
            ],
        ),
        (
            "schedule: {asleep: [Mon 08:00-08:00]}",
            vec![
                "schedule.asleep[0]: \"Mon 08:00-08:00\": the window is empty (it starts and ends \
                 at 08:00); for a whole day write 00:00-24:00",
            ],
        ),
        (
            "schedule: {awake: [Fri-Mon 22:00-06:00, Sat-Tue 10:00-11:00, Sun-Mon 10:00-11:00]}",
            vec![
                "schedule.awake[0]: \"Fri-Mon 22:00-06:00\": the day range Fri-Mon runs \
                 backwards (ranges do not wrap past Sun); write Mon,Fri-Sun",
                "schedule.awake[1]: \"Sat-Tue 10:00-11:00\": the day range Sat-Tue runs \
                 backwards (ranges do not wrap past Sun); write Mon-Tue,Sat-Sun",
                "schedule.awake[2]: \"Sun-Mon 10:00-11:00\": the day range Sun-Mon runs \
                 backwards (ranges do not wrap past Sun); write Mon,Sun",
            ],
        ),
        (
            "schedule: {awake: [\"Mon-Wed,Tue,Wed 08:00-09:00\"]}",
            vec![
                "schedule.awake[0]: \"Mon-Wed,Tue,Wed 08:00-09:00\": listed more than once: Tue, \
                 Wed",
            ],
        ),
        (
            "schedule: {awake: [Mon-Fri 08:00-18:00, Wed 17:00-19:00, Sat 10:00-11:00]}",
            vec![
                "schedule.awake[1]: \"Wed 17:00-19:00\" overlaps awake[0] (\"Mon-Fri \
                 08:00-18:00\") at Wed 17:00",
            ],
        ),
        (
            "schedule: {asleep: [Sun 22:00-06:00, Mon 05:00-07:00, Fri 23:00-24:00, Sat 00:00-01:00]}",
            vec![
                "schedule.asleep[1]: \"Mon 05:00-07:00\" overlaps asleep[0] (\"Sun 22:00-06:00\") \
                 at Mon 05:00",
            ],
        ),
        (
            "schedule: {awake: [Mon-Fri 08:00-18:00], asleep: [Mon-Sun 17:00-06:00]}",
            vec![
                "schedule.asleep[0]: \"Mon-Sun 17:00-06:00\" overlaps awake[0] (\"Mon-Fri \
                 08:00-18:00\") at Mon 17:00; quiet hours may not overlap an awake window",
            ],
        ),
        (
            "schedule: {awake: [Mon 00:30-01:00], asleep: [Sun 22:00-01:00]}",
            vec![
                "schedule.asleep[0]: \"Sun 22:00-01:00\" overlaps awake[0] (\"Mon 00:30-01:00\") \
                 at Mon 00:30; quiet hours may not overlap an awake window",
            ],
        ),
        (
            "schedule: {except: [{from: 2026-12-24, to: 2026-12-01}, {from: 2026-12-24, to: 2026-12-24}]}",
            vec!["schedule.except[0].to: 2026-12-01 is before from (2026-12-24)"],
        ),
        (
            "schedule: {prewarm: 2h}",
            vec![
                "schedule.prewarm: 2h is above the maximum of 1h; to keep the service awake \
                 longer, start the awake window earlier",
            ],
        ),
    ] {
        assert_eq!(problems(yaml), expected, "{yaml}");
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let yaml = r#"
schedule:
  timeZone: Nowhere/Special
  awake:
    - Mon-Fri 08:00-18:00
    - Fri-Mon 10:00-11:00
    - Mon 12:00-13:00
    - Tue 09:00-09:00
  asleep:
    - Mon-Sun 17:00-06:00
    - {days: Sat, start: "25:00", end: "06:00"}
  except:
    - {from: 2027-01-01, to: 2026-12-24}
  prewarm: 90m
"#;
    assert_eq!(
        problems(yaml),
        vec![
            "schedule.timeZone: \"Nowhere/Special\" is not a time zone of the IANA database; use \
             a name such as Europe/Berlin, America/New_York or UTC",
            "schedule.awake[1]: \"Fri-Mon 10:00-11:00\": the day range Fri-Mon runs backwards \
             (ranges do not wrap past Sun); write Mon,Fri-Sun",
            "schedule.awake[2]: \"Mon 12:00-13:00\" overlaps awake[0] (\"Mon-Fri 08:00-18:00\") \
             at Mon 12:00",
            "schedule.awake[3]: \"Tue 09:00-09:00\": the window is empty (it starts and ends at \
             09:00); for a whole day write 00:00-24:00",
            "schedule.asleep[1]: \"Sat 25:00-06:00\": 25:00 is not a time of day; use 00:00 to \
             23:59",
            "schedule.asleep[0]: \"Mon-Sun 17:00-06:00\" overlaps awake[0] (\"Mon-Fri \
             08:00-18:00\") at Mon 17:00; quiet hours may not overlap an awake window",
            "schedule.except[0].to: 2026-12-24 is before from (2027-01-01)",
            "schedule.prewarm: 1h 30m is above the maximum of 1h; to keep the service awake \
             longer, start the awake window earlier",
        ]
    );
}

#[test]
fn valid_edges_are_accepted() {
    for yaml in [
        "schedule: {awake: [Mon-Sun 00:00-24:00]}",
        "schedule: {awake: [Mon 08:00-12:00, Mon 12:00-18:00], asleep: [Mon 18:00-08:00]}",
        "schedule: {awake: [Sun 22:00-06:00, Mon 06:00-07:00]}",
        "schedule: {awake: [\"mon-WED,fri 08:00-18:00\"], timeZone: america/new_york}",
        "schedule: {except: [{from: 2026-12-24, to: 2026-12-24}], prewarm: off}",
        "schedule: {prewarm: 1h}",
    ] {
        assert_eq!(problems(yaml), Vec::<String>::new(), "{yaml}");
    }
    let lower = read("schedule: {awake: [\"mon-WED,fri 08:00-18:00\"]}");
    assert_eq!(lower.awake[0].to_string(), "Mon-Wed,Fri 08:00-18:00");
}

#[test]
fn the_example_of_the_docs_reports_these_problems() {
    // docs/operator-guide.md, "Schedules", "What is rejected".
    let yaml = r#"
schedule:
  timeZone: Europe/Berlln
  awake:
    - Mon-Fri 08:00-18:00
    - Wed 17:00-19:00
    - Mon 25:00-26:00
    - Fri-Mon 22:00-06:00
    - Sun 09:00-09:00
  asleep:
    - Mon-Sun 17:00-06:00
  except:
    - {from: 2026-12-24, to: 2026-12-01}
  prewarm: 2h
"#;
    let expected = r#"
schedule.timeZone: "Europe/Berlln" is not a time zone of the IANA database; use a name such as Europe/Berlin, America/New_York or UTC
schedule.awake[1]: "Wed 17:00-19:00" overlaps awake[0] ("Mon-Fri 08:00-18:00") at Wed 17:00
schedule.awake[2]: "Mon 25:00-26:00": 25:00 is not a time of day; use 00:00 to 23:59
schedule.awake[2]: "Mon 25:00-26:00": 26:00 is not a time of day; use 00:00 to 23:59, or 24:00 for the end of the day
schedule.awake[3]: "Fri-Mon 22:00-06:00": the day range Fri-Mon runs backwards (ranges do not wrap past Sun); write Mon,Fri-Sun
schedule.awake[4]: "Sun 09:00-09:00": the window is empty (it starts and ends at 09:00); for a whole day write 00:00-24:00
schedule.asleep[0]: "Mon-Sun 17:00-06:00" overlaps awake[0] ("Mon-Fri 08:00-18:00") at Mon 17:00; quiet hours may not overlap an awake window
schedule.asleep[0]: "Mon-Sun 17:00-06:00" overlaps awake[1] ("Wed 17:00-19:00") at Wed 17:00; quiet hours may not overlap an awake window
schedule.except[0].to: 2026-12-01 is before from (2026-12-24)
schedule.prewarm: 2h is above the maximum of 1h; to keep the service awake longer, start the awake window earlier
"#;
    assert_eq!(problems(yaml), expected.trim().lines().collect::<Vec<_>>());
}

#[test]
fn too_many_windows_unsafe_reasons_and_a_zero_lead_are_refused_quickly() {
    // 400 identical windows: one error, at once (comparing them all reported ~80,000 overlaps).
    let many = vec!["Mon 08:00-09:00"; 400].join("\", \"");
    let started = std::time::Instant::now();
    let p = problems(&format!("schedule: {{awake: [\"{many}\"]}}"));
    assert_eq!(
        p,
        [
            "schedule.awake: 400 windows; at most 32 allowed (a window may name several days, e.g. Mon-Fri)"
        ]
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Overlaps: each window reports its first only.
    let p = problems(
        "schedule: {awake: [\"Mon 08:00-09:00\", \"Mon 08:00-09:00\", \"Mon 08:00-09:00\"]}",
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(
        problems("schedule: {except: [{from: 2026-12-24, reason: \"x\\e[2Jy\"}]}"),
        ["schedule.except[0].reason: contains control or bidirectional-override characters"]
    );
    assert_eq!(
        problems("schedule: {except: [{from: 2026-12-24, reason: \"a\\u202Eb\"}]}").len(),
        1
    );
    let long = "x".repeat(201);
    assert_eq!(
        problems(&format!(
            "schedule: {{except: [{{from: 2026-12-24, reason: {long}}}]}}"
        )),
        ["schedule.except[0].reason: at most 200 characters"]
    );
    assert_eq!(
        problems("schedule: {prewarm: 0s}"),
        ["schedule.prewarm: 0s is below 1s; write off for no pre-warm"]
    );
}
