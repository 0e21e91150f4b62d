//! Tests of the simulated ECS: lifecycle timing, the scheduler, faults, buckets, call pattern.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::{EcsTarget, LocalTarget, Target};

fn target(service: &str) -> Target {
    Target::Ecs(EcsTarget {
        cluster: "c".into(),
        service: service.into(),
    })
}

fn sim(config: SimConfig) -> (Arc<SimClock>, SimPlatform) {
    let clock = SimClock::default_start();
    let sim = SimPlatform::new(clock.clone(), config);
    sim.add_service("c", "s");
    (clock, sim)
}

async fn one(sim: &SimPlatform, service: &str) -> Observed {
    sim.observe(&[target(service)]).await.unwrap().remove(0)
}

async fn tasks(sim: &SimPlatform) -> Vec<TaskObservation> {
    match one(sim, "s").await {
        Observed::Found(s) => s.tasks,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn tasks_move_through_their_lifecycle_on_the_clock() {
    let (clock, sim) = sim(SimConfig {
        health_check: Some(Duration::from_secs(10)),
        eni_delay: Duration::from_secs(5),
        ..SimConfig::default()
    });
    sim.scale(&target("s"), 1).await.unwrap();
    let t0 = clock.now();
    let steps: Vec<(u64, TaskStatus, bool, bool, Option<Health>)> = vec![
        // (seconds, lastStatus, has ENI, has public IP, health)
        (0, TaskStatus::Provisioning, false, false, None),
        (10, TaskStatus::Pending, true, false, None),
        (15, TaskStatus::Pending, true, true, None),
        (30, TaskStatus::Running, true, true, Some(Health::Unknown)),
        (40, TaskStatus::Running, true, true, Some(Health::Healthy)),
    ];
    for (secs, last, eni, public, health) in steps {
        clock.set(t0.add(Duration::from_secs(secs)));
        let ts = tasks(&sim).await;
        assert_eq!(ts.len(), 1);
        let t = &ts[0];
        assert_eq!(
            (
                t.last_status,
                t.eni_id.is_some(),
                t.public_ip.is_some(),
                t.health
            ),
            (last, eni, public, health),
            "at {secs}s"
        );
        assert_eq!(t.desired_status, TaskStatus::Running);
        assert_eq!(t.created_at, Some(t0));
        assert_eq!(t.started_at.is_some(), secs >= 30, "at {secs}s");
    }
    // Scale in: ECS still counts the task as running while it stops (ListTasks with
    // desiredStatus RUNNING no longer returns it); 15 s later it is gone.
    sim.scale(&target("s"), 0).await.unwrap();
    match one(&sim, "s").await {
        Observed::Found(s) => {
            assert_eq!((s.desired_count, s.running_count, s.tasks.len()), (0, 1, 0))
        }
        other => panic!("{other:?}"),
    }
    clock.advance(Duration::from_secs(15));
    match one(&sim, "s").await {
        Observed::Found(s) => {
            assert_eq!((s.desired_count, s.running_count, s.tasks.len()), (0, 0, 0))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn failed_starts_are_replaced_until_the_fault_is_cleared() {
    let (clock, sim) = sim(SimConfig::default());
    sim.fail_task_starts(
        "c",
        "s",
        Some((
            "TaskFailedToStart",
            "CannotPullContainerError: no such image",
        )),
    );
    sim.scale(&target("s"), 1).await.unwrap();
    clock.advance(Duration::from_secs(95)); // three 30 s attempts
    let ts = tasks(&sim).await;
    let stopped: Vec<_> = ts
        .iter()
        .filter(|t| t.last_status == TaskStatus::Stopped)
        .collect();
    assert_eq!(stopped.len(), 3, "{ts:#?}");
    assert!(
        stopped
            .iter()
            .all(|t| t.stop_code.as_deref() == Some("TaskFailedToStart") && t.started_at.is_none())
    );
    assert_eq!(
        ts.iter()
            .filter(|t| t.desired_status == TaskStatus::Running)
            .count(),
        1,
        "the fourth attempt"
    );
    sim.fail_task_starts("c", "s", None);
    clock.advance(Duration::from_secs(30)); // the fourth still fails (started under the fault)
    clock.advance(Duration::from_secs(30));
    let ts = tasks(&sim).await;
    assert!(
        ts.iter().any(
            |t| t.last_status == TaskStatus::Running && t.desired_status == TaskStatus::Running
        ),
        "{ts:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn killed_tasks_stop_with_a_reason_and_are_replaced() {
    let (clock, sim) = sim(SimConfig::default());
    sim.scale(&target("s"), 1).await.unwrap();
    clock.advance(Duration::from_secs(40));
    let first = sim.running_tasks("c", "s");
    assert_eq!(first.len(), 1);
    sim.kill_tasks("c", "s", "Essential container in task exited");
    let ts = tasks(&sim).await;
    let dead = ts.iter().find(|t| t.arn == first[0]).unwrap();
    assert_eq!(dead.desired_status, TaskStatus::Stopped);
    assert_eq!(dead.stop_code.as_deref(), Some("EssentialContainerExited"));
    let replacement = ts.iter().find(|t| t.arn != first[0]).unwrap();
    assert_eq!(replacement.last_status, TaskStatus::Provisioning);
}

#[tokio::test(start_paused = true)]
async fn missing_inactive_drift_and_unsupported_targets() {
    let (_clock, sim) = sim(SimConfig::default());
    sim.add_service("c", "gone");
    sim.set_service_status("c", "gone", "INACTIVE");
    let local = Target::Local(LocalTarget {
        command: "x".into(),
        args: vec![],
        env: BTreeMap::new(),
        working_dir: None,
        port: 1,
    });
    let got = sim
        .observe(&[target("nope"), target("gone"), local.clone(), target("s")])
        .await
        .unwrap();
    assert_eq!(
        got[0],
        Observed::Missing {
            message: "service nope not found in cluster c".into()
        }
    );
    assert!(matches!(&got[1], Observed::Inactive { status, .. } if status == "INACTIVE"));
    assert!(matches!(&got[2], Observed::Error(Error::Unsupported(_))));
    assert!(matches!(&got[3], Observed::Found(_)));
    let e = sim.scale(&target("nope"), 1).await.unwrap_err();
    assert!(
        matches!(e, Error::Call { ref code, retryable: false, .. } if code == "ServiceNotFoundException"),
        "{e}"
    );
    let e = sim.scale(&target("gone"), 1).await.unwrap_err();
    assert!(
        matches!(e, Error::Call { ref code, .. } if code == "ServiceNotActiveException"),
        "{e}"
    );
    assert!(sim.scale(&local, 1).await.is_err());
    // Drift by someone else: the count changes and tasks start, without an API call of ours.
    sim.set_desired_count_externally("c", "s", 2);
    assert_eq!(sim.desired_count("c", "s"), Some(2));
    assert_eq!(
        sim.attempts(Op::UpdateService),
        2,
        "the local target never reached the API"
    );
    assert_eq!(sim.scale_calls(), 0);
    match one(&sim, "s").await {
        Observed::Found(s) => {
            assert_eq!((s.desired_count, s.pending_count, s.tasks.len()), (2, 2, 2))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn token_buckets_throttle_and_retries_wait_for_refill() {
    let (_clock, sim) = sim(SimConfig {
        buckets: BTreeMap::from([(
            Op::DescribeServices,
            BucketConfig {
                burst: 2.0,
                per_second: 1.0,
            },
        )]),
        ..SimConfig::default()
    });
    let started = tokio::time::Instant::now();
    for _ in 0..4 {
        assert!(matches!(one(&sim, "s").await, Observed::Found(_)));
    }
    let c = sim.counters()[&Op::DescribeServices];
    assert_eq!(c.ok(), 4);
    assert!(c.throttled >= 2, "{c:?}");
    // Two calls beyond the burst need about two seconds of refill (tokio's paused clock).
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    // Retries exhausted: the error is reported per target, with its code.
    sim.fail_next(Op::DescribeServices, 20, Fault::Throttle);
    match one(&sim, "s").await {
        Observed::Error(Error::Throttled { operation, message }) => {
            assert_eq!(operation, "DescribeServices");
            assert_eq!(message, "ThrottlingException: Rate exceeded");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn latency_is_added_per_call_and_calls_run_concurrently() {
    let (_clock, sim) = sim(SimConfig {
        latency: Duration::from_millis(20),
        max_in_flight: 4,
        ..SimConfig::default()
    });
    for i in 0..40 {
        sim.add_service("c", &format!("s{i}"));
    }
    let targets: Vec<Target> = (0..40).map(|i| target(&format!("s{i}"))).collect();
    let started = tokio::time::Instant::now();
    sim.observe(&targets).await.unwrap();
    // 4 DescribeServices calls, 4 in flight: one round of 20 ms.
    assert_eq!(sim.attempts(Op::DescribeServices), 4);
    assert_eq!(started.elapsed(), Duration::from_millis(20));
}

fn found(o: Observed) -> ServiceObservation {
    match o {
        Observed::Found(s) => s,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn primary_deployment_moves_with_every_desired_count_change() {
    let (clock, sim) = sim(SimConfig::default());
    let created = clock.now();
    let d = found(one(&sim, "s").await).deployments;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].status, DeploymentStatus::Primary);
    assert_eq!(
        (d[0].created_at, d[0].updated_at),
        (Some(created), Some(created))
    );
    assert_eq!(d[0].rollout_state, Some(RolloutState::Completed));

    clock.advance(Duration::from_secs(60));
    sim.set_desired_count_externally("c", "s", 1);
    let obs = found(one(&sim, "s").await);
    let p = obs.primary_deployment().unwrap();
    assert_eq!(p.id, d[0].id, "a scaling-only change keeps the deployment");
    assert_eq!(
        (p.created_at, p.updated_at),
        (Some(created), Some(clock.now()))
    );
    assert_eq!((p.desired_count, p.pending_count), (1, 1));
    assert_eq!(p.rollout_state, Some(RolloutState::InProgress));

    // Observing again, or an UpdateService to the same count, does not move updatedAt.
    let changed = clock.now();
    clock.advance(Duration::from_secs(60));
    sim.scale(&target("s"), 1).await.unwrap();
    let p = found(one(&sim, "s").await).deployments.remove(0);
    assert_eq!(p.updated_at, Some(changed));
    assert_eq!(
        (p.running_count, p.rollout_state),
        (1, Some(RolloutState::Completed))
    );
    sim.scale(&target("s"), 0).await.unwrap();
    let p = found(one(&sim, "s").await).deployments.remove(0);
    assert_eq!(p.updated_at, Some(clock.now()));
}

#[tokio::test(start_paused = true)]
async fn rate_exceeded_client_exception_is_throttling_and_retried() {
    let (_clock, sim) = sim(SimConfig::default());
    sim.fail_next(Op::DescribeServices, 2, Fault::RateExceeded);
    assert!(matches!(one(&sim, "s").await, Observed::Found(_)));
    let c = sim.counters()[&Op::DescribeServices];
    assert_eq!((c.attempts, c.throttled), (3, 2));
}

#[tokio::test(start_paused = true)]
async fn listings_whose_tokens_do_not_end_are_pagination_errors() {
    let (_clock, sim) = sim(SimConfig::default());
    sim.scale(&target("s"), 1).await.unwrap();
    sim.fail_next(Op::ListTasks, 1, Fault::RepeatToken);
    match one(&sim, "s").await {
        Observed::Error(Error::Pagination(crate::platform::PaginationError::RepeatedToken {
            operation: "ListTasks",
            page: 2,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    sim.fail_next(Op::ListTasks, 1, Fault::EndlessTokens);
    let e = one(&sim, "s").await;
    assert!(
        matches!(&e, Observed::Error(e) if e.code() == "PaginationPageLimit"),
        "{e:?}"
    );
    // One fault per listing: the next pass observes normally.
    assert!(matches!(one(&sim, "s").await, Observed::Found(_)));
}

#[tokio::test(start_paused = true)]
async fn an_eni_ec2_does_not_know_yet_is_unknown_only_for_its_own_task() {
    let clock = SimClock::default_start();
    let sim = SimPlatform::new(
        clock.clone(),
        SimConfig {
            eni_not_found: Duration::from_secs(20),
            ..SimConfig::default()
        },
    );
    sim.add_service("c", "old");
    sim.add_service("c", "new");
    sim.scale(&target("old"), 1).await.unwrap();
    clock.advance(Duration::from_secs(60));
    sim.scale(&target("new"), 1).await.unwrap();
    clock.advance(Duration::from_secs(15)); // new's ENI attached 5 s ago, EC2 does not know it
    let got = sim.observe(&[target("old"), target("new")]).await.unwrap();
    let old = &found(got[0].clone()).tasks[0];
    assert!(old.public_ip.is_some() && !old.address_unknown);
    let new = &found(got[1].clone()).tasks[0];
    assert!(new.public_ip.is_none() && new.address_unknown && new.private_ip.is_some());
    // One batch failed, then the same batch without the unknown ENI.
    assert_eq!(sim.attempts(Op::DescribeNetworkInterfaces), 2);
    clock.advance(Duration::from_secs(20));
    let got = sim.observe(&[target("new")]).await.unwrap();
    let new = &found(got[0].clone()).tasks[0];
    assert!(new.public_ip.is_some() && !new.address_unknown);
}

#[tokio::test(start_paused = true)]
async fn tasks_appear_after_the_start_delay_the_deployment_at_once() {
    let (clock, sim) = sim(SimConfig {
        task_start_delay: Duration::from_secs(5),
        ..SimConfig::default()
    });
    sim.set_desired_count_externally("c", "s", 1);
    let obs = found(one(&sim, "s").await);
    assert_eq!(
        (obs.desired_count, obs.tasks.len(), obs.pending_count),
        (1, 0, 0)
    );
    assert_eq!(
        obs.primary_deployment().unwrap().updated_at,
        Some(clock.now())
    );
    clock.advance(Duration::from_secs(5));
    let obs = found(one(&sim, "s").await);
    assert_eq!((obs.tasks.len(), obs.pending_count), (1, 1));
    // Scaled back in before its task appeared: the task never appears.
    sim.set_desired_count_externally("c", "s", 2);
    sim.set_desired_count_externally("c", "s", 1);
    clock.advance(Duration::from_secs(10));
    assert_eq!(found(one(&sim, "s").await).tasks.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn another_writer_puts_desired_count_back_after_its_delay() {
    let (clock, sim) = sim(SimConfig::default());
    sim.scale(&target("s"), 1).await.unwrap();
    sim.set_other_writer(
        "c",
        "s",
        Some(OtherWriter {
            min: 1,
            after: Duration::from_secs(30),
        }),
    );
    clock.advance(Duration::from_secs(60));
    sim.scale(&target("s"), 0).await.unwrap();
    let down = clock.now();
    clock.advance(Duration::from_secs(29));
    assert_eq!(found(one(&sim, "s").await).desired_count, 0);
    clock.advance(Duration::from_secs(1));
    let obs = found(one(&sim, "s").await);
    assert_eq!(obs.desired_count, 1);
    assert_eq!(
        obs.primary_deployment().unwrap().updated_at,
        Some(down.add(Duration::from_secs(30)))
    );
    assert_eq!(
        obs.tasks.len(),
        2,
        "the scaled-in task stopping, a new one starting"
    );
    assert_eq!(sim.other_writes("c", "s"), 1);
    assert_eq!(
        sim.scale_calls(),
        2,
        "the other writer's write is not snooze's call"
    );
}

#[tokio::test(start_paused = true)]
async fn tasks_report_pull_start_and_size_between_provisioning_and_running() {
    let (clock, sim) = sim(SimConfig::default());
    let t0 = clock.now();
    sim.scale(&target("s"), 1).await.unwrap();
    let Observed::Found(obs) = one(&sim, "s").await else {
        panic!()
    };
    assert_eq!(obs.size, Some(SimConfig::DEFAULT_TASK_SIZE));
    assert_eq!(
        obs.tasks[0].pull_started_at, None,
        "PROVISIONING: no pull yet"
    );
    assert_eq!(obs.tasks[0].size, Some(SimConfig::DEFAULT_TASK_SIZE));
    // Default timing: PROVISIONING 10 s, PENDING 20 s.
    clock.set(t0.add(Duration::from_secs(12)));
    let t = tasks(&sim).await.remove(0);
    assert_eq!(t.last_status, TaskStatus::Pending);
    assert_eq!(t.pull_started_at, Some(t0.add(Duration::from_secs(10))));
    clock.set(t0.add(Duration::from_secs(40)));
    let t = tasks(&sim).await.remove(0);
    assert_eq!(t.started_at, Some(t0.add(Duration::from_secs(30))));
    assert!(t.created_at < t.pull_started_at && t.pull_started_at < t.started_at);

    // A new size applies to the service and to tasks started from then on.
    let big = TaskSize {
        vcpu: 1.0,
        memory_gb: 2.0,
        arch: Arch::X86_64,
    };
    sim.set_task_size("c", "s", big);
    sim.scale(&target("s"), 2).await.unwrap();
    let Observed::Found(obs) = one(&sim, "s").await else {
        panic!()
    };
    assert_eq!(obs.size, Some(big));
    let mut sizes: Vec<Option<TaskSize>> = obs.tasks.iter().map(|t| t.size).collect();
    sizes.sort_by(|a, b| a.map(|s| s.vcpu).partial_cmp(&b.map(|s| s.vcpu)).unwrap());
    assert_eq!(sizes, vec![Some(SimConfig::DEFAULT_TASK_SIZE), Some(big)]);
}

#[tokio::test(start_paused = true)]
async fn a_task_stopped_while_provisioning_never_pulled() {
    let (clock, sim) = sim(SimConfig::default());
    sim.scale(&target("s"), 1).await.unwrap();
    let arn = tasks(&sim).await.remove(0).arn;
    clock.advance(Duration::from_secs(5));
    sim.scale(&target("s"), 0).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let got = sim.describe_tasks(&target("s"), &[arn]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].last_status, TaskStatus::Stopped);
    assert_eq!(got[0].pull_started_at, None);
}

#[tokio::test(start_paused = true)]
async fn stopped_tasks_are_described_by_arn_for_an_hour_after_their_stop() {
    let (clock, sim) = sim(SimConfig::default());
    sim.add_service("c", "other");
    sim.scale(&target("s"), 1).await.unwrap();
    sim.scale(&target("other"), 1).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let arn = tasks(&sim).await.remove(0).arn;
    let other = match one(&sim, "other").await {
        Observed::Found(o) => o.tasks[0].arn.clone(),
        o => panic!("{o:?}"),
    };
    sim.scale(&target("s"), 0).await.unwrap();
    let stop_at = clock.now();
    clock.advance(Duration::from_secs(20));
    // No longer listed with the service (it neither has nor wants tasks) ...
    assert!(tasks(&sim).await.is_empty());
    sim.reset_counters();
    // ... but described by ARN, with its stop; unknown ARNs and other services' are left out.
    let ask = vec![
        arn.clone(),
        "arn:aws:ecs:us-east-1:123456789012:task/c/ffff".to_string(),
        other,
        arn.clone(),
    ];
    let got = sim.describe_tasks(&target("s"), &ask).await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let t = &got[0];
    assert_eq!(t.arn, arn);
    assert_eq!(
        (t.last_status, t.desired_status),
        (TaskStatus::Stopped, TaskStatus::Stopped)
    );
    assert_eq!(t.stopped_at, Some(stop_at.add(Duration::from_secs(15))));
    assert!(t.pull_started_at.is_some() && t.size.is_some());
    assert_eq!(sim.attempts(Op::DescribeTasks), 1);
    // 100 ARNs per call.
    let many: Vec<String> = (0..250).map(|i| format!("arn:x:{i}")).collect();
    sim.describe_tasks(&target("s"), &many).await.unwrap();
    assert_eq!(sim.attempts(Op::DescribeTasks), 4);
    // An hour after the stop it is forgotten.
    clock.set(stop_at.add(Duration::from_secs(15 + 3600)));
    assert!(
        sim.describe_tasks(&target("s"), std::slice::from_ref(&arn))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn stopped_tasks_beyond_the_listed_few_are_still_described() {
    let (clock, sim) = sim(SimConfig::default());
    sim.scale(&target("s"), 1).await.unwrap();
    let mut dead = Vec::new();
    for _ in 0..(MAX_STOPPED_KEPT + 5) {
        clock.advance(Duration::from_secs(40));
        let t = tasks(&sim)
            .await
            .into_iter()
            .find(|t| t.desired_status == TaskStatus::Running)
            .unwrap();
        dead.push(t.arn);
        sim.kill_tasks("c", "s", "Essential container in task exited");
    }
    clock.advance(Duration::from_secs(60));
    let got = sim.describe_tasks(&target("s"), &dead).await.unwrap();
    assert_eq!(got.len(), dead.len());
    assert!(
        got.iter()
            .all(|t| t.last_status == TaskStatus::Stopped && t.stopped_at.is_some())
    );
}

#[tokio::test]
async fn describe_tasks_of_a_local_target_is_unsupported() {
    let (_clock, sim) = sim(SimConfig::default());
    let local = Target::Local(LocalTarget {
        command: "x".into(),
        args: vec![],
        env: Default::default(),
        working_dir: None,
        port: 1,
    });
    assert!(matches!(
        sim.describe_tasks(&local, &["a".into()]).await,
        Err(Error::Unsupported(_))
    ));
}

// Per-cluster task listings (`platform::listing`).

fn in_cluster(cluster: &str, service: &str) -> Target {
    Target::Ecs(EcsTarget {
        cluster: cluster.into(),
        service: service.into(),
    })
}

fn attempts(sim: &SimPlatform, op: Op) -> u64 {
    sim.counters().get(&op).map_or(0, |c| c.attempts)
}

/// Cluster `c` with `awake` services `a00`.. running one task each (RUNNING, all their tasks:
/// no stopped listing), `asleep` services `z00`.. without tasks, and an unobserved service
/// `other` running `other_tasks` tasks. Returns the targets of the awake and sleeping ones.
async fn fleet(
    awake: usize,
    asleep: usize,
    other_tasks: u32,
    config: SimConfig,
) -> (Arc<SimClock>, SimPlatform, Vec<Target>) {
    let clock = SimClock::default_start();
    let sim = SimPlatform::new(clock.clone(), config);
    let mut targets = Vec::new();
    for i in 0..awake {
        let name = format!("a{i:02}");
        sim.add_service("c", &name);
        sim.set_desired_count_externally("c", &name, 1);
        targets.push(in_cluster("c", &name));
    }
    for i in 0..asleep {
        let name = format!("z{i:02}");
        sim.add_service("c", &name);
        targets.push(in_cluster("c", &name));
    }
    sim.add_service("c", "other");
    sim.set_desired_count_externally("c", "other", other_tasks);
    clock.advance(Duration::from_secs(60)); // everything RUNNING
    (clock, sim, targets)
}

#[tokio::test(start_paused = true)]
async fn many_awake_services_of_a_cluster_share_one_listing_with_the_same_observation() {
    let (_clock, sim, targets) = fleet(12, 5, 3, SimConfig::default()).await;
    let shared = sim.observe(&targets).await.unwrap();
    let c = sim.counters();
    assert_eq!(
        attempts(&sim, Op::ListTasks),
        1,
        "one cluster listing, no stopped listing for services running all their tasks: {c:?}"
    );
    assert_eq!(
        attempts(&sim, Op::DescribeTasks),
        1,
        "12 + 3 tasks (the unobserved service's too)"
    );
    assert_eq!(
        attempts(&sim, Op::DescribeNetworkInterfaces),
        1,
        "12 ENIs, only the observed services' tasks"
    );

    sim.reconfigure(|c| c.cluster_listing = false);
    sim.reset_counters();
    let alone = sim.observe(&targets).await.unwrap();
    assert_eq!(
        shared, alone,
        "per-service and per-cluster listings observe the same"
    );
    assert_eq!(
        attempts(&sim, Op::ListTasks),
        12,
        "one listing per awake service"
    );
    for (o, t) in shared.iter().zip(&targets) {
        let Target::Ecs(t) = t else { unreachable!() };
        let Observed::Found(s) = o else {
            panic!("{o:?}")
        };
        let want = usize::from(t.service.starts_with('a'));
        assert_eq!(s.tasks.len(), want, "{}: only its own tasks", t.service);
    }
}

#[tokio::test(start_paused = true)]
async fn few_awake_services_are_listed_one_by_one() {
    let (_clock, sim, targets) = fleet(
        listing::CLUSTER_LISTING_MIN_SERVICES - 1,
        20,
        0,
        SimConfig::default(),
    )
    .await;
    sim.observe(&targets).await.unwrap();
    assert_eq!(
        attempts(&sim, Op::ListTasks),
        listing::CLUSTER_LISTING_MIN_SERVICES as u64 - 1
    );
}

#[tokio::test(start_paused = true)]
async fn stopped_tasks_are_listed_only_for_services_missing_running_tasks() {
    let (clock, sim) = sim(SimConfig::default());
    sim.scale(&target("s"), 1).await.unwrap();
    one(&sim, "s").await;
    assert_eq!(
        attempts(&sim, Op::ListTasks),
        2,
        "starting: running + stopped listings"
    );
    clock.advance(Duration::from_secs(60));
    sim.reset_counters();
    one(&sim, "s").await;
    assert_eq!(
        attempts(&sim, Op::ListTasks),
        1,
        "all its tasks running: no stopped listing"
    );
    // Its task dies: until the replacement runs, its stop reason is listed.
    sim.kill_tasks("c", "s", "Essential container in task exited");
    sim.reset_counters();
    let ts = tasks(&sim).await;
    assert_eq!(attempts(&sim, Op::ListTasks), 2);
    assert!(
        ts.iter()
            .any(|t| t.stopped_reason.as_deref() == Some("Essential container in task exited")),
        "{ts:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cluster_full_of_other_tasks_is_abandoned_then_listed_per_service_for_a_while() {
    // 10 awake services: per service 10 ListTasks + 1 DescribeTasks = 11 calls, so the cluster
    // listing may read 5 pages; the unobserved service runs 600 tasks (7 pages).
    let (clock, sim, targets) = fleet(10, 0, 600, SimConfig::default()).await;
    let first = sim.observe(&targets).await.unwrap();
    assert_eq!(
        attempts(&sim, Op::ListTasks),
        5 + 10,
        "5 pages of the cluster, then one listing per service"
    );
    assert_eq!(
        attempts(&sim, Op::DescribeTasks),
        1,
        "only the services' own 10 tasks are described"
    );
    assert!(
        first
            .iter()
            .all(|o| matches!(o, Observed::Found(s) if s.tasks.len() == 1))
    );

    sim.reset_counters();
    let again = sim.observe(&targets).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(attempts(&sim, Op::ListTasks), 10, "remembered: per service");

    clock.advance(listing::CLUSTER_LISTING_BACKOFF);
    sim.reset_counters();
    sim.observe(&targets).await.unwrap();
    assert_eq!(
        attempts(&sim, Op::ListTasks),
        15,
        "after the backoff the cluster listing is tried again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_cluster_listing_fails_exactly_the_services_that_relied_on_it() {
    let (_clock, sim, mut targets) = fleet(12, 3, 0, SimConfig::default()).await;
    sim.add_service("d", "elsewhere");
    sim.set_desired_count_externally("d", "elsewhere", 1);
    targets.push(in_cluster("d", "elsewhere"));
    sim.fail_next(Op::ListTasks, 1, Fault::AccessDenied);
    let got = sim.observe(&targets).await.unwrap();
    for (o, t) in got.iter().zip(&targets) {
        let Target::Ecs(t) = t else { unreachable!() };
        match (t.service.starts_with('a'), o) {
            (true, Observed::Error(e)) => assert_eq!(e.code(), "AccessDeniedException"),
            (false, Observed::Found(_)) => {}
            (relied, o) => panic!("{} (relied on the listing: {relied}): {o:?}", t.service),
        }
    }
}
