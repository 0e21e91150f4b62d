//! Table tests of the group rules and the cross-record validation.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::model::{LastWake, Mode, Status};
use crate::reconcile::want;

const T0: i64 = 1_795_946_400_000;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(T0).add(Duration::from_secs(secs))
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

/// A record in `groups` that depends on `deps`.
fn member(name: &str, groups: &[&str], deps: &[&str]) -> Record {
    Record::test(name).in_groups(groups).depends_on(deps)
}

/// preview: web → api → db, worker → api; cache optional, web → cache.
fn preview() -> Vec<Record> {
    vec![
        member("web", &["preview"], &["api", "cache"]),
        member("api", &["preview"], &["db"]),
        member("db", &["preview"], &[]),
        member("worker", &["preview"], &["api"]),
        member("cache", &["preview"], &[]).optional(true),
    ]
}

fn ready_set<'a>(names: &'a [&'a str]) -> impl Fn(&str) -> bool + 'a {
    move |n: &str| names.contains(&n)
}

/// (ready or running members, member, expected answer).
type Case<const N: usize> = [(
    &'static [&'static str],
    &'static str,
    Result<(), Vec<&'static str>>,
); N];

fn problems(records: &[Record]) -> BTreeMap<String, Vec<String>> {
    Groups::of(records)
        .problems()
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(|e| e.to_string()).collect()))
        .collect()
}

#[test]
fn membership_is_sorted_and_records_may_be_in_several_groups() {
    let records = vec![
        member("web", &["b", "a"], &[]),
        member("api", &["a"], &[]),
        Record::test("alone"),
    ];
    let g = Groups::of(&records);
    assert_eq!(g.names().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(g.members("a"), ["api", "web"]);
    assert_eq!(g.members("b"), ["web"]);
    assert!(g.members("nope").is_empty());
    assert_eq!(g.groups_of("web"), ["b", "a"]);
    assert!(g.groups_of("alone").is_empty());
    assert!(g.share_group("web", "api"));
    assert!(!g.share_group("web", "alone"));
}

#[test]
fn a_valid_table_has_no_problems() {
    assert_eq!(problems(&preview()), BTreeMap::new());
}

#[test]
fn a_dependency_outside_every_shared_group_is_named_and_a_missing_one_is_waited_for() {
    let records = vec![
        member("web", &["preview"], &["db", "ghost"]),
        member("db", &["shared"], &[]),
        Record::test("loner"),
        member("api", &["preview"], &["loner"]),
    ];
    let got = problems(&records);
    assert_eq!(
        got["web"],
        [
            "spec.dependsOn[0]: \"db\" shares no group with this record (it is in: shared; this \
             record is in: preview)",
        ]
    );
    // A missing dependency is not a problem: the record waits for it (never Ready), also
    // through what depends on it.
    let groups = Groups::of(records.iter());
    assert_eq!(groups.missing("web"), ["ghost"]);
    assert_eq!(
        groups.may_scale_up("web", &|_| true),
        Err(vec!["ghost".to_string()])
    );
    let mut chain = vec![
        member("front", &["p"], &["mid"]),
        member("mid", &["p"], &["gone"]),
    ];
    let g = Groups::of(chain.iter());
    assert_eq!(g.missing("front"), ["gone"]);
    assert_eq!(
        g.may_scale_up("front", &|_| true),
        Err(vec!["gone".to_string()])
    );
    assert!(problems(&chain).is_empty());
    // ... unless what brings it in is optional: nobody waits for an optional member.
    chain[1].spec.optional = true;
    assert_eq!(
        Groups::of(chain.iter()).missing("front"),
        Vec::<String>::new()
    );
    assert_eq!(Groups::of(chain.iter()).missing("mid"), ["gone"]);
    assert_eq!(
        got["api"],
        [
            "spec.dependsOn[0]: \"loner\" shares no group with this record (it is in: no group; \
          this record is in: preview)"
        ]
    );
    assert_eq!(got.len(), 2);
}

#[test]
fn every_record_on_a_cycle_is_invalid_with_the_cycle_from_itself() {
    // web → api → db is fine; db → web, applied later, closes the cycle. `side` depends on the
    // cycle without being on it: not invalid (it waits).
    let mut records = vec![
        member("web", &["p"], &["api"]),
        member("api", &["p"], &["db"]),
        member("db", &["p"], &[]),
        member("side", &["p"], &["web"]),
    ];
    assert!(problems(&records).is_empty());
    records[2] = member("db", &["p"], &["web"]);
    let got = problems(&records);
    let cycle = |s: &str| {
        vec![format!(
            "spec.dependsOn: dependency cycle {s}; nothing on it is scaled up"
        )]
    };
    assert_eq!(got["web"], cycle("web → api → db → web"));
    assert_eq!(got["api"], cycle("api → db → web → api"));
    assert_eq!(got["db"], cycle("db → web → api → db"));
    assert_eq!(got.len(), 3);
    // A two-record cycle across two groups both share.
    let two = vec![
        member("a", &["x", "y"], &["b"]),
        member("b", &["y"], &["a"]),
    ];
    assert_eq!(problems(&two)["a"], cycle("a → b → a"));
    // The shortest cycle through a record is listed.
    let more = vec![
        member("a", &["p"], &["b", "c"]),
        member("b", &["p"], &["c"]),
        member("c", &["p"], &["a"]),
    ];
    assert_eq!(problems(&more)["a"], cycle("a → c → a"));
}

#[test]
fn a_self_dependency_and_a_bad_group_name_are_per_record_errors() {
    let r = member("web", &["Preview"], &["web"]);
    let errs: Vec<String> = crate::model::validate(&r)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        errs,
        [
            "spec.groups[0]: \"Preview\" contains 'P'; use lowercase letters, digits and '-' (a \
             DNS label)",
            "spec.dependsOn[0]: \"web\" is this record; a record cannot depend on itself",
        ]
    );
    // The table check neither repeats it nor calls it a cycle.
    assert!(problems(&[r]).is_empty());
}

#[test]
fn scale_up_waits_for_every_required_dependency_transitively() {
    let records = preview();
    let g = Groups::of(&records);
    // (ready, member, expected)
    let cases: Case<9> = [
        (&[], "db", Ok(())),
        (&[], "cache", Ok(())),
        (&[], "api", Err(vec!["db"])),
        (&[], "web", Err(vec!["api", "db"])),
        (&["db"], "web", Err(vec!["api"])),
        (&["db"], "api", Ok(())),
        (&["db"], "worker", Err(vec!["api"])),
        // The optional cache is never waited for.
        (&["db", "api"], "web", Ok(())),
        (&["db", "api"], "worker", Ok(())),
    ];
    for (ready, name, want) in cases {
        let want = want.map_err(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            g.may_scale_up(name, &ready_set(ready)),
            want,
            "{name} with {ready:?}"
        );
    }
}

#[test]
fn a_visitor_waits_for_the_member_and_its_required_dependencies() {
    let records = preview();
    let g = Groups::of(&records);
    let cases: Case<6> = [
        (&[], "web", Err(vec!["api", "db", "web"])),
        (&["db", "api"], "web", Err(vec!["web"])),
        // The optional cache is not Ready: web's visitor does not wait for it.
        (&["db", "api", "web"], "web", Ok(())),
        // The cache's own visitor waits for the cache.
        (&["db", "api", "web"], "cache", Err(vec!["cache"])),
        (&["cache"], "cache", Ok(())),
        (&["web", "api"], "web", Err(vec!["db"])),
    ];
    for (ready, name, want) in cases {
        let want = want.map_err(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            g.ready_for_visitor(name, &ready_set(ready)),
            want,
            "{name} with {ready:?}"
        );
    }
}

#[test]
fn scale_down_waits_for_running_dependents_optional_ones_too() {
    let mut records = preview();
    records.push(member("metrics", &["preview"], &["cache"]).optional(true));
    let g = Groups::of(&records);
    let cases: Case<6> = [
        (
            &["web", "api", "db", "worker"],
            "db",
            Err(vec!["api", "web", "worker"]),
        ),
        (&["api", "db"], "db", Err(vec!["api"])),
        (&["db"], "db", Ok(())),
        (&["web", "api"], "web", Ok(())),
        (&["web", "cache"], "cache", Err(vec!["web"])),
        (&["metrics", "cache"], "cache", Err(vec!["metrics"])),
    ];
    for (running, name, want) in cases {
        let want = want.map_err(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            g.may_scale_down(name, &ready_set(running)),
            want,
            "{name} with {running:?}"
        );
    }
}

#[test]
fn the_start_order_comes_in_waves() {
    let records = preview();
    let g = Groups::of(&records);
    assert_eq!(
        g.start_order("preview"),
        [vec!["cache", "db"], vec!["api"], vec!["web", "worker"]]
    );
    let cyclic = vec![
        member("a", &["p"], &["b"]),
        member("b", &["p"], &["a"]),
        member("c", &["p"], &[]),
    ];
    assert_eq!(
        Groups::of(&cyclic).start_order("p"),
        [vec!["c"], vec!["a", "b"]]
    );
}

#[test]
fn the_eta_is_the_longest_remaining_path_of_required_members() {
    let records = preview();
    let g = Groups::of(&records);
    let secs = |n: &str| match n {
        "db" => Some(20.0),
        "api" => Some(30.0),
        "web" => Some(10.0),
        "worker" => Some(50.0),
        "cache" => Some(500.0),
        _ => None,
    };
    // Nothing Ready: db 20 + api 30 + worker 50 (the optional cache's 500 s is not waited for).
    let eta = g.eta("preview", &ready_set(&[]), &secs);
    assert_eq!(
        eta,
        GroupEta {
            seconds: 100.0,
            unmeasured: vec![]
        }
    );
    // db Ready: api 30 + worker 50.
    assert_eq!(g.eta("preview", &ready_set(&["db"]), &secs).seconds, 80.0);
    // All required Ready: 0.
    assert_eq!(
        g.eta(
            "preview",
            &ready_set(&["db", "api", "web", "worker"]),
            &secs
        )
        .seconds,
        0.0
    );
    // An unmeasured member counts 0 and is named.
    let partly = |n: &str| if n == "api" { None } else { secs(n) };
    assert_eq!(
        g.eta("preview", &ready_set(&["db"]), &partly),
        GroupEta {
            seconds: 50.0,
            unmeasured: vec!["api".into()]
        }
    );
    // The remaining time of one record: its median wake minus what has elapsed.
    let r = Record::test("x").with_status(Status {
        recent_wake_seconds: vec![40.0, 30.0, 100.0],
        ..Status::default()
    });
    assert_eq!(remaining_wake_seconds(&r, None), Some(40.0));
    assert_eq!(
        remaining_wake_seconds(&r, Some(Duration::from_secs(15))),
        Some(25.0)
    );
    assert_eq!(remaining_wake_seconds(&r, Some(mins(5))), Some(0.0));
    let last = Record::test("y").with_status(Status {
        last_wake: Some(LastWake {
            requested_at: t(0),
            ready_at: t(42),
            seconds: 42.0,
        }),
        ..Status::default()
    });
    assert_eq!(remaining_wake_seconds(&last, None), Some(42.0));
    assert_eq!(remaining_wake_seconds(&Record::test("z"), None), None);
}

#[test]
fn entries_are_the_members_no_member_of_that_group_depends_on() {
    // db is in two stacks; in each, the api depends on it. `ops` only reads the db.
    let records = vec![
        member("web", &["a"], &["api"]),
        member("api", &["a"], &["db"]),
        member("db", &["a", "b", "ops"], &[]),
        member("api-b", &["b"], &["db"]),
        member("console", &["ops"], &[]),
    ];
    let g = Groups::of(&records);
    assert!(g.is_entry("web", "a"));
    assert!(!g.is_entry("api", "a"));
    assert!(!g.is_entry("db", "a"));
    assert!(!g.is_entry("db", "b"));
    assert!(g.is_entry("db", "ops"));
    assert!(!g.is_entry("web", "b"));
}

/// Own wants (from `want`) for `records` at `now`.
fn own_wants(records: &[Record], now: Timestamp) -> BTreeMap<String, Want> {
    records
        .iter()
        .map(|r| (r.metadata.name.clone(), want(r, None, now)))
        .collect()
}

/// (name, awake, why) for every record after the group rules.
fn decided(records: &[Record], now: Timestamp) -> Vec<(String, bool, Why)> {
    Groups::of(records)
        .wants(&own_wants(records, now), now)
        .into_iter()
        .map(|(n, d)| (n, d.want.awake, d.want.why))
        .collect()
}

fn row(name: &str, awake: bool, why: Why) -> (String, bool, Why) {
    (name.to_string(), awake, why)
}

#[test]
fn a_wake_on_any_member_wakes_its_groups_but_not_their_other_groups() {
    // g1: web, api (api → db in g2); g2: api, db, batch. A wake on web wakes g1 (api), and db
    // because api needs it; not batch (g2 is api's other group).
    let records = vec![
        member("web", &["g1"], &[]).woken_at(t(0)),
        member("api", &["g1", "g2"], &["db"]),
        member("db", &["g2"], &[]),
        member("batch", &["g2"], &[]),
        Record::test("stranger"),
    ];
    assert_eq!(
        decided(&records, t(60)),
        [
            row("api", true, Why::Group),
            row("batch", false, Why::NoWakeRequest),
            row("db", true, Why::Dependent),
            row("stranger", false, Why::NoWakeRequest),
            row("web", true, Why::WakeRequested),
        ]
    );
    // Explanations.
    let d = Groups::of(&records).wants(&own_wants(&records, t(60)), t(60));
    let by = |n: &str| d[n].by.as_ref().map(|b| b.to_string());
    assert_eq!(
        by("api").as_deref(),
        Some("wake requested on web (group g1)")
    );
    assert_eq!(
        by("db").as_deref(),
        Some("needed by api (wanted by its group)")
    );
    assert_eq!(by("web"), None);
    // Held for web's idleTimeout (15m), then all asleep.
    assert_eq!(d["api"].want.sleeps_at, Some(t(0).add(mins(15))));
    assert_eq!(d["db"].want.sleeps_at, Some(t(0).add(mins(15))));
    assert!(
        decided(&records, t(0).add(mins(15)))
            .iter()
            .all(|(_, awake, _)| !awake)
    );
}

#[test]
fn a_wake_on_a_dependency_wakes_the_group_too() {
    let records = vec![
        member("web", &["g"], &["api"]),
        member("api", &["g"], &[]).woken_at(t(0)),
    ];
    assert_eq!(
        decided(&records, t(1)),
        [
            row("api", true, Why::WakeRequested),
            row("web", true, Why::Group)
        ]
    );
}

#[test]
fn only_activity_on_an_entry_spreads() {
    // The api's connections come from web (its dependent): they keep the api awake itself, not
    // the group. Activity on web keeps both.
    let inner = vec![
        member("web", &["g"], &["api"]),
        member("api", &["g"], &[]).active_at(t(0)),
    ];
    assert_eq!(
        decided(&inner, t(60)),
        [
            row("api", true, Why::Activity),
            row("web", false, Why::NoWakeRequest)
        ]
    );
    let outer = vec![
        member("web", &["g"], &["api"]).active_at(t(0)),
        member("api", &["g"], &[]),
    ];
    assert_eq!(
        decided(&outer, t(60)),
        [
            row("api", true, Why::Group),
            row("web", true, Why::Activity)
        ]
    );
}

#[test]
fn rows_above_nine_still_apply_per_record() {
    let wake = |name: &str| member(name, &["g"], &[]).woken_at(t(0));
    let records = vec![
        wake("web"),
        member("off", &["g"], &[]).mode(Mode::Off),
        member("on", &["g"], &[]).mode(Mode::On),
        {
            let mut r = member("zero", &["g"], &[]);
            r.spec.replicas = 0;
            r
        },
        // Slept after the wake on web: its own sleep wins.
        member("slept-after", &["g"], &[]).sleep_requested_at(t(10)),
        // Slept before the wake on web: the newer wake wins.
        member("slept-before", &["g"], &[]).sleep_requested_at(t(0).sub(mins(1))),
    ];
    assert_eq!(
        decided(&records, t(60)),
        [
            row("off", false, Why::ModeOff),
            row("on", true, Why::ModeOn),
            row("slept-after", false, Why::NoWakeRequest),
            row("slept-before", true, Why::Group),
            row("web", true, Why::WakeRequested),
            row("zero", false, Why::NoWakeRequest),
        ]
    );
}

#[test]
fn a_members_own_sleep_cancels_its_signal_for_the_group() {
    // web was woken, then slept (`snoozectl sleep web`): its wake no longer holds the others.
    let records = vec![
        member("web", &["g"], &[])
            .woken_at(t(0))
            .sleep_requested_at(t(5)),
        member("api", &["g"], &[]),
    ];
    assert_eq!(
        decided(&records, t(60)),
        [
            row("api", false, Why::NoWakeRequest),
            row("web", false, Why::SleepRequested)
        ]
    );
}

#[test]
fn the_group_holds_a_member_as_long_as_the_signal_lasts() {
    // api's own wake ends at 5m (idle 5m); web's activity at 1m with idle 15m holds it to 16m.
    let records = vec![
        member("web", &["g"], &[]).active_at(t(60)),
        member("api", &["g"], &[])
            .woken_at(t(0))
            .idle_timeout(mins(5)),
    ];
    let now = t(120);
    let d = Groups::of(&records).wants(&own_wants(&records, now), now);
    assert_eq!(d["api"].want.why, Why::WakeRequested);
    assert_eq!(d["api"].want.sleeps_at, Some(t(60).add(mins(15))));
    assert_eq!(
        d["api"].by.as_ref().map(|b| b.to_string()).as_deref(),
        Some("activity on web (group g)")
    );
    let later = t(10 * 60);
    assert_eq!(
        decided(&records, later),
        [
            row("api", true, Why::Group),
            row("web", true, Why::Activity)
        ]
    );
}

#[test]
fn a_pinned_dependent_holds_its_dependencies_without_end() {
    let records = vec![
        member("web", &["g"], &["api"]).mode(Mode::On),
        member("api", &["g"], &["db"]),
        member("db", &["g"], &[]).sleep_requested_at(t(0)),
    ];
    let now = t(60);
    let d = Groups::of(&records).wants(&own_wants(&records, now), now);
    assert_eq!(
        (
            d["api"].want.awake,
            d["api"].want.why,
            d["api"].want.sleeps_at
        ),
        (true, Why::Dependent, None)
    );
    // A pinned dependent gives no signal time: an explicit sleep of the dependency wins.
    assert_eq!(
        (d["db"].want.awake, d["db"].want.why),
        (false, Why::NoWakeRequest)
    );
}

#[test]
fn widen_keeps_the_own_reason_and_only_extends() {
    let records = vec![member("api", &["g"], &[]), {
        let mut r = member("zero", &["g"], &[]);
        r.spec.replicas = 0;
        r
    }];
    let g = Groups::of(&records);
    let widen = |own, group, now| g.widen("api", own, group, now);
    let group = GroupWant {
        at: Some(t(0)),
        until: Some(t(100)),
        cause: Cause::Member {
            group: "g".into(),
            member: "web".into(),
            signal: Why::WakeRequested,
        },
        wake: None,
    };
    let own = |awake, why, sleeps_at| Want {
        awake,
        why,
        sleeps_at,
        contested: false,
        quiet_until: None,
        budget_until: None,
        max_awake_at: None,
    };
    // Expired: nothing changes.
    let idle = own(false, Why::Idle, None);
    assert_eq!(widen(idle, Some(&group), t(100)), idle);
    assert_eq!(widen(idle, None, t(1)), idle);
    // Asleep for lack of wanting: awake by the group until its end.
    assert_eq!(
        widen(idle, Some(&group), t(1)),
        own(true, Why::Group, Some(t(100)))
    );
    // Awake on its own: sleeps at the later of the two, for its own reason.
    let awake = own(true, Why::Activity, Some(t(50)));
    assert_eq!(
        widen(awake, Some(&group), t(1)),
        own(true, Why::Activity, Some(t(100)))
    );
    let longer = own(true, Why::Activity, Some(t(500)));
    assert_eq!(widen(longer, Some(&group), t(1)), longer);
    // Quiet hours stay.
    let quiet = Want {
        quiet_until: Some(t(900)),
        ..own(false, Why::QuietHours, None)
    };
    assert_eq!(widen(quiet, Some(&group), t(1)), quiet);
    // So do the guardrails (rows 4 and 8): a cap unless a wake request on the group is newer
    // than it (then a new stretch begins, as with the record's own wake request).
    let capped = Want {
        max_awake_at: Some(t(10)),
        ..own(false, Why::MaxAwake, None)
    };
    assert_eq!(widen(capped, Some(&group), t(1)), capped);
    for (wake, lifted) in [(t(5), false), (t(10), false), (t(20), true)] {
        let woken = GroupWant {
            wake: Some(wake),
            ..group.clone()
        };
        let want = g.widen("api", capped, Some(&woken), t(30));
        let expected = if lifted {
            own(true, Why::Group, Some(t(100)))
        } else {
            capped
        };
        assert_eq!(want, expected, "wake at {wake:?}");
    }
    let broke = Want {
        budget_until: Some(t(5000)),
        ..own(false, Why::OverBudget, None)
    };
    assert_eq!(widen(broke, Some(&group), t(1)), broke);
    // `replicas: 0` is never woken by its group.
    assert_eq!(g.widen("zero", idle, Some(&group), t(1)), idle);
}
