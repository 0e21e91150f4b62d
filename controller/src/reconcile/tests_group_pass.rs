//! Groups through the pass (ADR 0009), against the simulated ECS and the in-memory store: start
//! order, stop order, what keeps a group awake, a failed member, cycles, scoped passes.

use std::collections::BTreeMap;
use std::time::Duration;

use super::tests_pass::{World, world};
use super::*;
use crate::model::{Phase, Record};
use crate::store::Store;

/// A record in `groups`, depending on `deps`.
fn member(name: &str, groups: &[&str], deps: &[&str]) -> Record {
    let mut r = Record::test(name);
    r.spec.groups = groups.iter().map(|s| s.to_string()).collect();
    r.spec.depends_on = deps.iter().map(|s| s.to_string()).collect();
    r
}

/// `preview`: web → api → db, and worker → db (api and worker start together).
fn preview(w: &World) {
    w.add(member("db", &["preview"], &[]));
    w.add(member("api", &["preview"], &["db"]));
    w.add(member("worker", &["preview"], &["db"]));
    w.add(member("web", &["preview"], &["api"]));
}

/// What each record depends on, transitively, in `preview`.
fn needs(name: &str) -> &'static [&'static str] {
    match name {
        "api" | "worker" => &["db"],
        "web" => &["api", "db"],
        _ => &[],
    }
}

/// Runs passes 5 s apart until `done` (at most `max`), checking after each that every member
/// scaled up in it has all it depends on Ready, and that no member was scaled down while one
/// depending on it still ran. Returns the passes run and the scale calls `(pass, name, from,
/// to)` in order.
async fn run(
    w: &World,
    max: usize,
    done: impl Fn(&World) -> bool,
) -> (usize, Vec<(usize, String, u32, u32)>) {
    let mut scaled = Vec::new();
    for pass in 1..=max {
        let running_before: BTreeMap<String, bool> = ["db", "api", "worker", "web"]
            .iter()
            .map(|n| {
                let c = w.sim.desired_count("demo-cluster", &format!("{n}-svc"));
                (
                    n.to_string(),
                    c.unwrap_or(0) > 0
                        || !w
                            .sim
                            .running_tasks("demo-cluster", &format!("{n}-svc"))
                            .is_empty(),
                )
            })
            .collect();
        let r = w.pass().await;
        for rep in &r.records {
            let Some((from, to)) = rep.scaled else {
                continue;
            };
            if to > from {
                for dep in needs(&rep.name) {
                    assert_eq!(
                        w.phase(dep),
                        Some(Phase::Ready),
                        "pass {pass}: {} scaled up while {dep} is not Ready",
                        rep.name
                    );
                }
            } else {
                for (other, ran) in &running_before {
                    if *ran && needs(other).contains(&rep.name.as_str()) {
                        panic!(
                            "pass {pass}: {} scaled down while {other} still ran",
                            rep.name
                        );
                    }
                }
            }
            scaled.push((pass, rep.name.clone(), from, to));
        }
        if done(w) {
            return (pass, scaled);
        }
        w.advance(5);
    }
    panic!("not done after {max} passes; scaled: {scaled:?}");
}

fn all(w: &World, phase: Phase) -> bool {
    ["db", "api", "worker", "web"]
        .iter()
        .all(|n| w.phase(n) == Some(phase))
}

#[tokio::test(start_paused = true)]
async fn a_wake_on_the_front_end_wakes_its_group_in_dependency_order() {
    let w = world();
    preview(&w);
    w.pass().await;
    assert!(all(&w, Phase::Asleep));

    w.wake("web").await;
    let (passes, scaled) = run(&w, 60, |w| all(w, Phase::Ready)).await;
    // db first; api and worker together once db is Ready; web once api is Ready. A task takes
    // 30 s in the sim (6 passes 5 s apart), so three waves after db's: pass 1 + 3 × 6 + 6.
    let order: Vec<(usize, &str)> = scaled.iter().map(|(p, n, _, _)| (*p, n.as_str())).collect();
    assert_eq!(
        order,
        vec![(1, "db"), (7, "api"), (7, "worker"), (13, "web")],
        "{scaled:?}"
    );
    assert_eq!(passes, 19);

    // While web waited, it said for what, and its group status listed every member in order.
    let s = w.store.status("web").unwrap();
    let g = s.group.as_ref().expect("status.group");
    let members: Vec<(&str, u32)> = g
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.wave))
        .collect();
    assert_eq!(
        members,
        vec![("db", 0), ("api", 1), ("worker", 1), ("web", 2)]
    );
    assert!(g.waiting_for.is_empty(), "{g:?}");
    assert!(
        g.members.iter().all(|m| m.phase == Some(Phase::Ready)),
        "{g:?}"
    );
    assert_eq!(g.ready_by, None, "no ETA once every member is Ready");
}

#[tokio::test(start_paused = true)]
async fn a_waiting_member_says_what_it_waits_for_and_the_group_has_an_eta_on_its_second_wake() {
    let w = world();
    preview(&w);
    w.wake("web").await;
    w.pass().await;
    let web = w.store.status("web").unwrap();
    assert_eq!(web.phase, Phase::Waking);
    assert_eq!(web.message, "waiting for api and db to be Ready");
    assert_eq!(web.wake_started_at, None, "no attempt before it is scaled");
    assert_eq!(
        web.group.as_ref().unwrap().waiting_for,
        vec!["api".to_string(), "db".to_string()]
    );
    assert_eq!(
        web.group.as_ref().unwrap().ready_by,
        None,
        "nothing measured yet"
    );
    run(&w, 60, |w| all(w, Phase::Ready)).await;

    // Sleep everything, then wake again: now each member has a measured wake (30 s), and
    // the ETA is the longest path: db, then api, then web: 90 s.
    w.advance(20 * 60);
    run(&w, 60, |w| all(w, Phase::Asleep)).await;
    w.wake("web").await;
    let t0 = w.clock.now();
    w.pass().await;
    let g = w.store.status("web").unwrap().group.unwrap();
    assert_eq!(g.ready_by, Some(t0.add(Duration::from_secs(90))), "{g:?}");
    // The same estimate in the next pass: no rewrite for a moving clock.
    w.advance(5);
    w.pass().await;
    let again = w.store.status("web").unwrap().group.unwrap();
    assert_eq!(again.ready_by, g.ready_by);
}

#[tokio::test(start_paused = true)]
async fn an_idle_group_sleeps_dependents_first() {
    let w = world();
    preview(&w);
    w.wake("web").await;
    run(&w, 60, |w| all(w, Phase::Ready)).await;
    w.advance(16 * 60);
    let (_, scaled) = run(&w, 60, |w| all(w, Phase::Asleep)).await;
    let downs: Vec<(usize, &str)> = scaled
        .iter()
        .filter(|(_, _, from, to)| to < from)
        .map(|(p, n, _, _)| (*p, n.as_str()))
        .collect();
    let when = |n: &str| downs.iter().find(|(_, m)| *m == n).unwrap().0;
    assert!(when("web") < when("api"), "{downs:?}");
    assert!(
        when("api") < when("db") && when("worker") < when("db"),
        "{downs:?}"
    );
    assert_eq!(downs.len(), 4, "one scale-down each: {downs:?}");
    // While held, db said why.
}

#[tokio::test(start_paused = true)]
async fn activity_on_a_member_others_depend_on_keeps_only_it_awake() {
    let w = world();
    preview(&w);
    w.wake("web").await;
    run(&w, 60, |w| all(w, Phase::Ready)).await;
    // api's connection pool keeps talking to db: activity on db, not an entry of preview.
    for _ in 0..20 {
        w.advance(60);
        w.store
            .record_activity("db", w.clock.now(), Duration::ZERO)
            .await
            .unwrap();
        w.pass().await;
    }
    // 20 minutes on: web, api and worker went to sleep (web's idle timeout), db did not.
    for n in ["web", "api", "worker"] {
        assert!(
            matches!(w.phase(n), Some(Phase::Asleep | Phase::Sleeping)),
            "{n}: {:?}",
            w.phase(n)
        );
    }
    assert_eq!(w.phase("db"), Some(Phase::Ready));

    // Activity on the entry (web) keeps the whole group awake.
    w.wake("web").await;
    run(&w, 60, |w| all(w, Phase::Ready)).await;
    for _ in 0..20 {
        w.advance(60);
        w.store
            .record_activity("web", w.clock.now(), Duration::ZERO)
            .await
            .unwrap();
        w.pass().await;
    }
    assert!(all(&w, Phase::Ready));
}

#[tokio::test(start_paused = true)]
async fn a_failed_member_is_named_to_the_group_and_the_others_sleep_when_idle() {
    let w = world();
    preview(&w);
    w.sim.fail_task_starts(
        "demo-cluster",
        "db-svc",
        Some(("EssentialContainerExited", "exit 1")),
    );
    w.wake("web").await;
    let (_, scaled) = run(&w, 120, |w| w.phase("db") == Some(Phase::Failed)).await;
    assert!(
        scaled.iter().all(|(_, n, _, to)| n == "db" || *to == 0),
        "nothing but db was scaled up: {scaled:?}"
    );
    w.pass().await;
    let g = w.store.status("web").unwrap().group.unwrap();
    let db = g.members.iter().find(|m| m.name == "db").unwrap();
    assert_eq!(db.phase, Some(Phase::Failed));
    assert!(!db.message.is_empty(), "the failure's words: {db:?}");
    assert_eq!(w.phase("web"), Some(Phase::Waking));
    assert_eq!(g.ready_by, None, "no ETA with a failed member");

    // The others are not left waiting for ever: asleep once the wake is older than idleTimeout.
    w.advance(16 * 60);
    run(&w, 60, |w| {
        ["api", "worker", "web"]
            .iter()
            .all(|n| w.phase(n) == Some(Phase::Asleep))
    })
    .await;

    // Fixed, and woken again through web: db's latch is released by the group's wake.
    w.sim.fail_task_starts("demo-cluster", "db-svc", None);
    w.wake("web").await;
    run(&w, 60, |w| all(w, Phase::Ready)).await;
}

#[tokio::test(start_paused = true)]
async fn an_operators_sleep_on_a_dependency_is_not_held_and_its_dependents_visitors_wait() {
    let w = world();
    preview(&w);
    w.wake("web").await;
    run(&w, 60, |w| all(w, Phase::Ready)).await;
    w.advance(60);
    w.store.request_sleep("db", w.clock.now()).await.unwrap();
    let r = w.pass().await;
    assert_eq!(
        r.record("db").unwrap().scaled,
        Some((1, 0)),
        "not held for api and web"
    );
    w.advance(5);
    w.pass().await;
    // web is still up (its own wake), but its visitors wait for db again.
    assert_eq!(w.phase("web"), Some(Phase::Ready));
    let g = w.store.status("web").unwrap().group.unwrap();
    assert_eq!(g.waiting_for, vec!["db".to_string()]);
    // The next visitor's wake brings db back.
    w.wake("web").await;
    run(&w, 60, |w| all(w, Phase::Ready)).await;
    assert!(
        w.store
            .status("web")
            .unwrap()
            .group
            .unwrap()
            .waiting_for
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn a_deleted_dependency_is_waited_for_and_its_running_dependents_still_sleep_when_idle() {
    let w = world();
    preview(&w);
    w.wake("web").await;
    run(&w, 60, |w| all(w, Phase::Ready)).await;
    // The operator deletes db while web, api and worker run (its service stays as it is: the
    // record is gone, so nothing manages it).
    w.store.delete("db", None).await.unwrap();
    w.advance(5);
    w.pass().await;
    for n in ["api", "worker", "web"] {
        assert_eq!(
            w.phase(n),
            Some(Phase::Ready),
            "{n}: not Invalid, still managed"
        );
    }
    let web = w.store.status("web").unwrap();
    assert_eq!(
        web.group.unwrap().waiting_for,
        vec!["db".to_string()],
        "visitors wait"
    );
    // An explicit sleep works on a member whose dependency is gone...
    w.store
        .request_sleep("worker", w.clock.now())
        .await
        .unwrap();
    w.advance(5);
    let r = w.pass().await;
    assert_eq!(r.record("worker").unwrap().scaled, Some((1, 0)));
    // ... and the others sleep after idleTimeout, dependents first.
    w.advance(16 * 60);
    let mut order = Vec::new();
    for _ in 0..20 {
        let r = w.pass().await;
        order.extend(
            (r.records.iter())
                .filter(|x| x.scaled.is_some_and(|(_, to)| to == 0))
                .map(|x| x.name.clone()),
        );
        w.advance(5);
    }
    assert_eq!(order, ["web", "api"]);
    // A new wake waits for db and says that there is no such record; nothing is scaled up.
    w.wake("web").await;
    let calls = w.sim.scale_calls();
    for _ in 0..3 {
        w.pass().await;
        w.advance(5);
    }
    assert_eq!(w.sim.scale_calls(), calls);
    assert_eq!(w.phase("api"), Some(Phase::Waking));
    assert_eq!(
        w.store.status("api").unwrap().message,
        "waiting for db to be Ready (there is no record db)"
    );
    assert_eq!(
        w.store.status("web").unwrap().message,
        "waiting for api and db to be Ready (there is no record db)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dependency_cycle_makes_its_records_invalid_and_scales_nothing() {
    let w = world();
    w.add(member("a", &["g"], &["b"]));
    w.add(member("b", &["g"], &["a"]));
    w.add(member("c", &["g"], &["a"]));
    w.wake("a").await;
    w.wake("c").await;
    for _ in 0..3 {
        w.pass().await;
        w.advance(5);
    }
    assert_eq!(w.phase("a"), Some(Phase::Invalid));
    assert_eq!(w.phase("b"), Some(Phase::Invalid));
    assert_eq!(
        w.store.status("a").unwrap().message,
        "spec.dependsOn: dependency cycle a → b → a; nothing on it is scaled up"
    );
    assert_eq!(
        w.store.status("b").unwrap().message,
        "spec.dependsOn: dependency cycle b → a → b; nothing on it is scaled up"
    );
    // c is not on the cycle: it waits for a (and b, through a), which are never Ready.
    assert_eq!(w.phase("c"), Some(Phase::Waking));
    assert_eq!(
        w.store.status("c").unwrap().message,
        "waiting for a and b to be Ready"
    );
    assert_eq!(w.sim.scale_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_pass_for_one_member_reconciles_its_group() {
    let w = world();
    preview(&w);
    w.add(Record::test("other"));
    w.wake("web").await;
    let r = w
        .reconciler
        .reconcile(Scope::Names(vec!["web".into()]))
        .await;
    let names: Vec<&str> = r.records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["api", "db", "web", "worker"]);
    assert_eq!(r.record("db").unwrap().scaled, Some((0, 1)));
    assert_eq!(w.phase("other"), None, "not in the group: not looked at");
}

#[tokio::test(start_paused = true)]
async fn a_group_of_twenty_with_a_chain_of_depth_three_wakes_in_the_expected_passes() {
    // 20 members: 5 chains base_i ← mid_i ← top_i ← entry_i (depth 3), all in one group; one
    // wake on an entry wakes them all. Four waves of 30 s tasks, passes 5 s apart: every
    // wave's members are scaled in the same pass, Ready 6 passes later, so the last wave is
    // Ready in pass 1 + 4 × 6 = 25.
    let w = world();
    let mut names = Vec::new();
    for i in 0..5 {
        let chain = [
            format!("base{i}"),
            format!("mid{i}"),
            format!("top{i}"),
            format!("entry{i}"),
        ];
        for (k, n) in chain.iter().enumerate() {
            let deps: Vec<&str> = if k == 0 {
                vec![]
            } else {
                vec![chain[k - 1].as_str()]
            };
            w.add(member(n, &["big"], &deps));
            names.push(n.clone());
        }
    }
    w.wake("entry0").await;
    let mut passes = 0;
    let mut scale_passes: BTreeMap<String, usize> = BTreeMap::new();
    while passes < 60 {
        passes += 1;
        let r = w.pass().await;
        for rep in &r.records {
            if let Some((0, _)) = rep.scaled {
                scale_passes.insert(rep.name.clone(), passes);
            }
        }
        if names.iter().all(|n| w.phase(n) == Some(Phase::Ready)) {
            break;
        }
        w.advance(5);
    }
    assert_eq!(passes, 25, "passes until all 20 are Ready");
    for i in 0..5 {
        assert_eq!(scale_passes[&format!("base{i}")], 1);
        assert_eq!(scale_passes[&format!("mid{i}")], 7);
        assert_eq!(scale_passes[&format!("top{i}")], 13);
        assert_eq!(scale_passes[&format!("entry{i}")], 19);
    }
    assert_eq!(w.sim.scale_calls(), 20, "one scale-up each");
}

/// Runs passes 5 s apart until `done` (at most `max`); panics with every phase otherwise.
async fn until(w: &World, names: &[&str], max: usize, done: impl Fn(&World) -> bool) {
    for _ in 0..max {
        w.pass().await;
        if done(w) {
            return;
        }
        w.advance(5);
    }
    let state: Vec<_> = names
        .iter()
        .map(|n| {
            (
                n,
                w.phase(n),
                w.store.status(n).map(|s| (s.message, s.memo)),
            )
        })
        .collect();
    panic!("not done after {max} passes: {state:?}");
}

#[tokio::test(start_paused = true)]
async fn a_dependent_says_why_and_until_when_a_dependency_over_its_budget_will_not_be_ready() {
    let w = world();
    // db's budget of 0 is reached from the start of the month: it never wakes for visitors.
    let mut db = member("db", &["g"], &[]);
    db.spec.budget = Some(0.0);
    w.add(db);
    w.add(member("web", &["g"], &["db"]));
    w.pass().await;
    w.wake("web").await;
    for _ in 0..3 {
        w.pass().await;
        w.advance(5);
    }
    assert_eq!(w.phase("db"), Some(Phase::Asleep));
    assert_eq!(w.phase("web"), Some(Phase::Waking));
    let s = w.store.status("web").unwrap();
    assert_eq!(
        s.message,
        "waiting for db to be Ready (db is over its monthly budget until 2026-12-01 00:00 UTC)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_has_no_eta_while_a_dependency_is_over_its_budget() {
    let w = world();
    w.add(member("db", &["g"], &[]));
    w.add(member("web", &["g"], &["db"]));
    let names = ["db", "web"];
    let all = |phase: Phase| move |w: &World| names.iter().all(|n| w.phase(n) == Some(phase));
    // A first wake measures both (so the group could have an ETA), then both sleep.
    w.wake("web").await;
    until(&w, &names, 40, all(Phase::Ready)).await;
    w.advance(20 * 60);
    until(&w, &names, 40, all(Phase::Asleep)).await;
    // db gets a budget of 0: reached, so it will not wake before next month.
    let Some(crate::model::Entry::Record(mut db)) = w.store.get("db").await.unwrap() else {
        panic!("no db");
    };
    db.spec.budget = Some(0.0);
    w.store.put(*db);
    w.wake("web").await;
    for _ in 0..3 {
        w.pass().await;
        w.advance(5);
    }
    let s = w.store.status("web").unwrap();
    assert_eq!(s.phase, Phase::Waking, "{s:?}");
    assert!(s.message.contains("db is over its monthly budget"), "{s:?}");
    assert_eq!(
        s.group.unwrap().ready_by,
        None,
        "no ETA for a wait that will not end"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wake_on_the_front_member_starts_a_new_stretch_for_its_dependency_capped_by_max_awake() {
    let w = world();
    let capped = |mut r: Record| {
        r.spec.max_awake = Some(crate::model::HumanDuration::from_mins(10));
        r
    };
    // web → db, both capped at 10 min (below their 15 min idleTimeout).
    w.add(capped(member("db", &["g"], &[])));
    w.add(capped(member("web", &["g"], &["db"])));
    let names = ["db", "web"];
    let all = |phase: Phase| move |w: &World| names.iter().all(|n| w.phase(n) == Some(phase));
    w.pass().await;
    w.wake("web").await;
    until(&w, &names, 40, all(Phase::Ready)).await;
    // maxAwake ends the stretch of both.
    w.advance(10 * 60);
    until(&w, &names, 40, all(Phase::Asleep)).await;
    for n in names {
        let s = w.store.status(n).unwrap();
        assert!(s.memo.max_awake_at.is_some(), "{n}: {:?}", s.memo);
    }
    // A visitor's wake request lands on the front member, web: it starts a new stretch for db
    // too (before, db kept its cap and web waited for it forever).
    w.advance(60);
    w.wake("web").await;
    until(&w, &names, 40, all(Phase::Ready)).await;
    for n in names {
        let s = w.store.status(n).unwrap();
        assert_eq!(s.memo.max_awake_at, None, "{n}");
        assert!(s.memo.awake_since.is_some(), "{n}: {:?}", s.memo);
        assert!(
            s.conditions.iter().all(|c| c.type_ != decide::MAX_AWAKE),
            "{n}: {:?}",
            s.conditions
        );
    }
}

mod prop {
    //! Property test of groups through the pass: random acyclic dependencies among five
    //! members of one group, random wakes and activity on random members at random times,
    //! passes every 5 s; then no input until everything sleeps.

    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use proptest::prelude::*;

    use super::super::group::Groups;
    use super::super::tests_pass::world;
    use super::*;
    use crate::model::{Phase, Record, Timestamp};
    use crate::store::Store;

    const N: usize = 5;
    const IDLE: Duration = Duration::from_secs(120);

    #[derive(Clone, Debug)]
    enum Input {
        Wake(usize),
        Activity(usize),
    }

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            (0..N).prop_map(Input::Wake),
            (0..N).prop_map(Input::Activity),
        ]
    }

    fn name(i: usize) -> String {
        format!("m{i}")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn groups_keep_their_order_and_converge(
            edges in proptest::collection::vec(any::<bool>(), N * (N - 1) / 2),
            inputs in proptest::collection::vec((input(), 1u64..40), 1..10),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(check(edges, inputs))?;
        }
    }

    async fn check(edges: Vec<bool>, inputs: Vec<(Input, u64)>) -> Result<(), TestCaseError> {
        let w = world();
        let mut k = 0;
        let mut records = Vec::new();
        for i in 0..N {
            let mut r = Record::test(&name(i)).idle_timeout(IDLE);
            r.spec.groups = vec!["g".into()];
            for j in 0..i {
                if edges[k] {
                    r.spec.depends_on.push(name(j));
                }
                k += 1;
            }
            records.push(r.clone());
            w.add(r);
        }
        let groups = Groups::of(&records);
        let entries: BTreeSet<String> = (0..N)
            .map(name)
            .filter(|n| groups.is_entry(n, "g"))
            .collect();
        // Latest time the group was in use (a wake on any member, activity on an entry).
        let mut in_use_until: Option<Timestamp> = None;
        // Latest input on anything.
        let mut last_input: Option<Timestamp> = None;
        let mut scaled_down_at: BTreeMap<String, Timestamp> = BTreeMap::new();
        let running = |n: &str| {
            w.sim
                .desired_count("demo-cluster", &format!("{n}-svc"))
                .unwrap_or(0)
                > 0
                || !w
                    .sim
                    .running_tasks("demo-cluster", &format!("{n}-svc"))
                    .is_empty()
        };

        let pass = async |w: &World,
                          in_use_until: Option<Timestamp>,
                          last_input: Option<Timestamp>,
                          scaled_down_at: &mut BTreeMap<String, Timestamp>|
               -> Result<(), TestCaseError> {
            let before: BTreeMap<String, bool> =
                (0..N).map(|i| (name(i), running(&name(i)))).collect();
            let now = w.clock.now();
            let r = w.pass().await;
            for rep in &r.records {
                let Some((from, to)) = rep.scaled else {
                    continue;
                };
                if to > from {
                    for dep in groups.dependencies(&rep.name) {
                        prop_assert_eq!(
                            w.phase(&dep),
                            Some(Phase::Ready),
                            "{} scaled up at {} while {} is not Ready",
                            rep.name,
                            now,
                            dep
                        );
                    }
                    if let Some(down) = scaled_down_at.get(&rep.name) {
                        prop_assert!(
                            last_input.is_some_and(|t| t > *down),
                            "{} scaled down at {} and up again at {} with no input between",
                            rep.name,
                            down,
                            now
                        );
                    }
                } else {
                    prop_assert!(
                        in_use_until.is_none_or(|u| now >= u),
                        "{} scaled down at {} while the group is in use until {:?}",
                        rep.name,
                        now,
                        in_use_until
                    );
                    for d in groups.dependents(&rep.name) {
                        prop_assert!(
                            !before[&d],
                            "{} scaled down at {} while {} still ran",
                            rep.name,
                            now,
                            d
                        );
                    }
                    scaled_down_at.insert(rep.name.clone(), now);
                }
            }
            Ok(())
        };

        for (inp, steps) in inputs {
            let now = w.clock.now();
            match inp {
                Input::Wake(i) => {
                    w.wake(&name(i)).await;
                    in_use_until = in_use_until.max(Some(now.add(IDLE)));
                }
                Input::Activity(i) => {
                    w.store
                        .record_activity(&name(i), now, Duration::ZERO)
                        .await
                        .unwrap();
                    if entries.contains(&name(i)) {
                        in_use_until = in_use_until.max(Some(now.add(IDLE)));
                    }
                }
            }
            last_input = Some(now);
            for _ in 0..steps {
                pass(&w, in_use_until, last_input, &mut scaled_down_at).await?;
                w.advance(5);
            }
        }
        // No more input: everything is asleep within the idle timeout plus the wakes and
        // stops in progress (at most 5 waves of 30 s, and stops of 20 s each).
        for _ in 0..((IDLE.as_secs() + 8 * 60) / 5) {
            pass(&w, in_use_until, last_input, &mut scaled_down_at).await?;
            if (0..N).all(|i| w.phase(&name(i)) == Some(Phase::Asleep)) {
                for i in 0..N {
                    prop_assert_eq!(
                        w.sim
                            .desired_count("demo-cluster", &format!("{}-svc", name(i))),
                        Some(0)
                    );
                }
                return Ok(());
            }
            w.advance(5);
        }
        let phases: Vec<_> = (0..N).map(|i| (name(i), w.phase(&name(i)))).collect();
        prop_assert!(
            false,
            "not all asleep after the inputs stopped: {:?}",
            phases
        );
        Ok(())
    }
}
