//! Property tests of the start and stop order over random dependency graphs: up to 8 members
//! in one or two groups, edges only between members sharing a group. The checks read the
//! records' own `dependsOn` (direct, as written), not [`Groups`]' graph.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

/// A random table: member `i` is `m{i}`, in groups by `mask` (bit 0: `g0`, bit 1: `g1`),
/// depending on lower-numbered members it shares a group with (`edge` bits), so acyclic;
/// `optional` flags.
fn table(masks: &[u8], edges: &[bool], optional: &[bool]) -> Vec<Record> {
    let n = masks.len();
    let mut k = 0;
    (0..n)
        .map(|i| {
            let groups: Vec<&str> = [(1, "g0"), (2, "g1")]
                .iter()
                .filter(|(bit, _)| masks[i] & bit != 0)
                .map(|(_, g)| *g)
                .collect();
            let mut deps = Vec::new();
            for j in 0..i {
                let e = edges.get(k).copied().unwrap_or(false);
                k += 1;
                if e && masks[i] & masks[j] != 0 {
                    deps.push(format!("m{j}"));
                }
            }
            let mut r = Record::test(&format!("m{i}")).in_groups(&groups);
            r.spec.depends_on = deps;
            r.spec.optional = optional.get(i).copied().unwrap_or(false);
            r
        })
        .collect()
}

fn arb_table() -> impl Strategy<Value = Vec<Record>> {
    (1usize..=8).prop_flat_map(|n| {
        (
            prop::collection::vec(1u8..=3, n),
            prop::collection::vec(any::<bool>(), n * n),
            prop::collection::vec(prop::bool::weighted(0.2), n),
        )
            .prop_map(|(m, e, o)| table(&m, &e, &o))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Scaling up whatever `may_scale_up` allows, with members becoming Ready in a random
    /// order: no member starts before its required direct dependencies are Ready, and all of
    /// them start and become Ready.
    #[test]
    fn scale_up_follows_dependencies_and_completes(
        records in arb_table(),
        picks in prop::collection::vec(any::<u32>(), 64),
    ) {
        let g = Groups::of(&records);
        prop_assert!(g.problems().is_empty(), "{:?}", g.problems());
        let mut started: BTreeSet<String> = BTreeSet::new();
        let mut ready: BTreeSet<String> = BTreeSet::new();
        let mut pick = picks.iter().cycle();
        for _ in 0..=2 * records.len() {
            for r in &records {
                let name = r.name();
                if started.contains(name) {
                    continue;
                }
                let is_ready = |n: &str| ready.contains(n);
                if g.may_scale_up(name, &is_ready).is_ok() {
                    for dep in &r.spec.depends_on {
                        prop_assert!(
                            g.is_optional(dep) || ready.contains(dep),
                            "{name} started before {dep} was Ready"
                        );
                    }
                    started.insert(name.to_string());
                }
            }
            let waking: Vec<&String> = started.difference(&ready).collect();
            if waking.is_empty() {
                break;
            }
            let p = *pick.next().unwrap_or(&0) as usize % waking.len();
            let next = waking[p].clone();
            ready.insert(next);
        }
        prop_assert_eq!(started.len(), records.len(), "not every member could start");
        prop_assert_eq!(ready.len(), records.len());
    }

    /// Stopping members in a random order whenever `may_scale_down` allows: no dependency
    /// stops while a direct dependent still runs, and all of them stop.
    #[test]
    fn scale_down_stops_dependents_first_and_completes(
        records in arb_table(),
        picks in prop::collection::vec(any::<u32>(), 64),
    ) {
        let g = Groups::of(&records);
        let mut running: BTreeSet<String> = records.iter().map(|r| r.name().to_string()).collect();
        let mut pick = picks.iter().cycle();
        while !running.is_empty() {
            let is_running = |n: &str| running.contains(n);
            let can: Vec<String> = running
                .iter()
                .filter(|n| g.may_scale_down(n, &is_running).is_ok())
                .cloned()
                .collect();
            prop_assert!(!can.is_empty(), "stuck with {running:?} running");
            let p = *pick.next().unwrap_or(&0) as usize % can.len();
            let stop = &can[p];
            for r in &records {
                if r.spec.depends_on.contains(stop) {
                    prop_assert!(
                        !running.contains(r.name()),
                        "{stop} stopped while its dependent {} runs", r.name()
                    );
                }
            }
            running.remove(stop);
        }
    }

    /// With arbitrary edges (cycles allowed), exactly the records that can reach themselves
    /// along `dependsOn` (within shared groups) are reported on a cycle, and the cycle listed
    /// starts and ends with the record and follows `dependsOn` edges.
    #[test]
    fn exactly_the_records_on_a_cycle_are_reported(
        masks in prop::collection::vec(1u8..=3, 1..=6),
        edges in prop::collection::vec(prop::collection::vec(any::<bool>(), 6), 6),
    ) {
        let n = masks.len();
        let mut records = table(&masks, &[], &[]);
        for (i, record) in records.iter_mut().enumerate() {
            for (j, e) in edges[i].iter().enumerate().take(n) {
                if i != j && *e {
                    record.spec.depends_on.push(format!("m{j}"));
                }
            }
        }
        let g = Groups::of(&records);
        let problems = g.problems();
        // Reference: reachability over the written edges between records sharing a group.
        let shares = |a: usize, b: usize| masks[a] & masks[b] != 0;
        for i in 0..n {
            let mut seen = BTreeSet::new();
            let mut stack = vec![i];
            let mut on_cycle = false;
            while let Some(a) = stack.pop() {
                for (b, e) in edges[a].iter().enumerate().take(n) {
                    if a != b && *e && shares(a, b) {
                        if b == i {
                            on_cycle = true;
                        }
                        if seen.insert(b) {
                            stack.push(b);
                        }
                    }
                }
            }
            let name = format!("m{i}");
            let listed = problems
                .get(&name)
                .and_then(|ps| ps.iter().find(|p| p.message.starts_with("dependency cycle")));
            prop_assert_eq!(listed.is_some(), on_cycle, "{}", name);
            if let Some(p) = listed {
                let text = p.message.trim_start_matches("dependency cycle ");
                let text = text.split(';').next().unwrap_or_default();
                let path: Vec<&str> = text.split(" → ").collect();
                prop_assert_eq!(path.first(), Some(&name.as_str()));
                prop_assert_eq!(path.last(), Some(&name.as_str()));
                for w in path.windows(2) {
                    let a: usize = w[0][1..].parse().unwrap_or(usize::MAX);
                    let b: usize = w[1][1..].parse().unwrap_or(usize::MAX);
                    prop_assert!(a < n && b < n && edges[a][b] && shares(a, b), "{}", text);
                }
            }
        }
    }
}
