//! Tests of a tiered full pass's paged read (issue 20): the table is read page by page (never
//! whole) and only what the pass acts on is kept or read again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::tests_pass::{World, world};
use super::*;
use crate::model::{Entry, Phase, Record};
use crate::platform::sim::Op;
use crate::store::Store;

/// Adds `n` records `svc-0000`... with their services to the pass tests' world
/// ([`super::tests_pass::world`]), and settles them Asleep with one full pass (every record is
/// new, so every one is observed).
async fn settled(w: &World, n: usize) {
    for i in 0..n {
        w.add(Record::test(&format!("svc-{i:04}")));
    }
    let first = w.reconciler.reconcile(Scope::All).await;
    assert_eq!(first.records.len(), n);
    assert!(first.records.iter().all(|r| r.error.is_none()), "{first:?}");
    assert!((0..n).all(
        |i| w.store.status(&format!("svc-{i:04}")).map(|s| s.phase) == Some(Phase::Asleep)
    ));
}

/// Zeroes the store's read counts and the simulated ECS's call counts.
fn reset(w: &World) {
    let reads = w.store.reads();
    for n in [&reads.gets, &reads.lists, &reads.pages] {
        n.store(0, Ordering::Relaxed);
    }
    w.sim.reset_counters();
}

#[tokio::test(start_paused = true)]
async fn a_tiered_full_pass_reads_the_table_page_by_page_and_again_only_what_it_observes() {
    const N: usize = 700; // three pages of 256
    let w = world();
    settled(&w, N).await;
    reset(&w);
    w.clock.advance(Duration::from_secs(60));
    let since = w.clock.now().sub(Duration::from_secs(60));
    let now = w.clock.now();
    let report = w.reconciler.reconcile(Scope::All).await;

    assert_eq!(report.error, None);
    assert_eq!(report.records.len(), N, "every record is reported");
    let reads = w.store.reads();
    assert_eq!(reads.pages.load(Ordering::Relaxed), 3, "three pages of 256");
    assert_eq!(
        reads.lists.load(Ordering::Relaxed),
        0,
        "never the whole table"
    );
    let period = tier::resync_period(N, &tier::TierOptions::default());
    assert_eq!(report.resync_period, Some(period));
    // The quiet Asleep records whose resync slot fell in the last minute, and only those, are
    // read again (consistent gets) and observed.
    let due: Vec<String> = (0..N)
        .map(|i| format!("svc-{i:04}"))
        .filter(|n| tier::slot_fell(n, since, now, period))
        .collect();
    assert!(!due.is_empty() && due.len() < N / 5, "{} due", due.len());
    let observed: Vec<&str> = report
        .records
        .iter()
        .filter(|r| !r.quiet)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(observed, due);
    assert_eq!(report.quiet, N - due.len());
    assert_eq!(reads.gets.load(Ordering::Relaxed), due.len() as u64);
    assert_eq!(
        w.sim.attempts(Op::DescribeServices),
        due.len().div_ceil(10) as u64
    );
    // Quiet records keep their phase and say why they were left alone.
    let quiet = report.records.iter().find(|r| r.quiet).unwrap();
    assert_eq!(
        (quiet.before, quiet.after, quiet.reason.as_str()),
        (Some(Phase::Asleep), Some(Phase::Asleep), pass::QUIET_REASON)
    );
    assert!(quiet.phase_since.is_some());
}

#[tokio::test(start_paused = true)]
async fn quiet_records_whose_triage_needs_the_whole_table_are_read_again() {
    let w = world();
    settled(&w, 300).await;
    // Two quiet records come to claim one service (as restored from a backup: statuses
    // stored, nothing new to observe): the younger is a conflict, found only once the whole
    // table has been listed.
    let mut twin = match w.store.get("svc-0007").await.unwrap() {
        Some(Entry::Record(r)) => *r,
        other => panic!("{other:?}"),
    };
    twin.metadata.name = "svc-twin".into();
    twin.metadata.creation_timestamp = Some(w.clock.now());
    w.store.put(twin);
    // A quiet record whose dependsOn names a record outside its group.
    let mut lonely = match w.store.get("svc-0011").await.unwrap() {
        Some(Entry::Record(r)) => *r,
        other => panic!("{other:?}"),
    };
    lonely.spec.groups = vec!["g".into()];
    lonely.spec.depends_on = vec!["svc-0012".into()];
    w.store.put(lonely);
    reset(&w);
    w.clock.advance(Duration::from_secs(60));
    let report = w.reconciler.reconcile(Scope::All).await;

    let twin = report.record("svc-twin").unwrap();
    assert!(!twin.quiet, "{twin:?}");
    assert!(
        w.store
            .status("svc-twin")
            .unwrap()
            .message
            .contains("is already managed by record svc-0007"),
        "{:?}",
        w.store.status("svc-twin")
    );
    assert_ne!(
        w.store.status("svc-0007").unwrap().phase,
        Phase::Failed,
        "the owner stays as it was"
    );
    let lonely = report.record("svc-0011").unwrap();
    assert!(!lonely.quiet, "{lonely:?}");
    assert!(
        w.store
            .status("svc-0011")
            .unwrap()
            .message
            .contains("\"svc-0012\" shares no group with this record"),
        "{:?}",
        w.store.status("svc-0011")
    );
}

/// The index of which records manage which ECS service (for the Lambda's ECS events) is built
/// by a full pass and kept current by passes that read records by name, as a stream record's
/// pass does: a record created, re-pointed or deleted after the full pass is found where it is
/// now, and nowhere else.
#[tokio::test(start_paused = true)]
async fn the_service_index_follows_records_read_by_name() {
    let w = world();
    let arn = "arn:aws:ecs:us-east-1:123456789012:cluster/demo-cluster";
    let age = Duration::from_secs(120);
    let find = |svc: &str| {
        w.reconciler
            .records_of_service(arn, "demo-cluster", svc, age)
    };
    assert_eq!(find("svc-0000-svc"), None, "no full pass yet: unknown");
    settled(&w, 3).await;
    assert_eq!(find("svc-0001-svc"), Some(vec!["svc-0001".to_string()]));
    assert_eq!(find("nobody-svc"), Some(vec![]));

    // Created after the full pass, then read by its stream record's pass.
    let fresh = Record::test("fresh");
    if let crate::model::Target::Ecs(t) = &fresh.spec.target {
        w.sim.add_service(&t.cluster, &t.service);
    }
    w.store.put(fresh);
    assert_eq!(find("fresh-svc"), Some(vec![]), "not read yet");
    w.reconciler
        .reconcile(Scope::Names(vec!["fresh".into()]))
        .await;
    assert_eq!(find("fresh-svc"), Some(vec!["fresh".to_string()]));

    // Re-pointed to another service of the same cluster (by ARN).
    let mut moved = match w.store.get("svc-0001").await.unwrap() {
        Some(Entry::Record(r)) => *r,
        other => panic!("{other:?}"),
    };
    moved.spec.target = crate::model::Target::Ecs(crate::model::EcsTarget {
        cluster: arn.into(),
        service: "elsewhere".into(),
    });
    w.store.put(moved);
    w.reconciler
        .reconcile(Scope::Names(vec!["svc-0001".into()]))
        .await;
    assert_eq!(find("svc-0001-svc"), Some(vec![]));
    assert_eq!(find("elsewhere"), Some(vec!["svc-0001".to_string()]));

    // Deleted.
    w.store.delete("fresh", None).await.unwrap();
    w.reconciler
        .reconcile(Scope::Names(vec!["fresh".into()]))
        .await;
    assert_eq!(find("fresh-svc"), Some(vec![]));

    // Two schedule periods without a full pass: unknown again.
    w.clock.advance(Duration::from_secs(121));
    assert_eq!(find("svc-0002-svc"), None);
}
