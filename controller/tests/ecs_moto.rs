//! Wire tests of the `ecs` platform against moto (ECS + EC2 on 127.0.0.1), through real SDK
//! calls.
//!
//! moto comes from `MOTO_ENDPOINT` (set by `scripts/test`); when unset, the tests start one
//! from `.venv-moto` ([`snooze_test_support::moto_endpoint`]). Without either the tests FAIL;
//! they are never skipped.
//!
//! moto does not run services' tasks, so [`World::schedule`] plays the ECS scheduler: it
//! compares the service's desiredCount with its running tasks (matched by
//! `group: service:<name>`), starts the missing ones with RunTask (FARGATE, awsvpc) and
//! associates an Elastic IP to each new task ENI, and stops extra ones with StopTask.
//!
//! Tests share one moto and run in parallel, so every test gets its own cluster, VPC and
//! task-definition family with a unique suffix; nothing calls `/moto-api/reset`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::types::AttributeBooleanValue;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, DesiredStatus, HealthCheck,
    LaunchType, NetworkConfiguration,
};
use snooze::model::{EcsTarget, Target};
use snooze::platform::ecs::{EcsPlatform, RetryPolicy};
use snooze::platform::{
    Arch, Error, Health, Observed, Platform, ServiceObservation, TaskSize, TaskStatus,
};
use snooze_test_support::{moto_endpoint, unique};

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .test_credentials()
        .load()
        .await
}

/// Fast retries so throttling tests take milliseconds.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        max_retries: 4,
        total_delay: Duration::from_secs(2),
    }
}

// ---------------------------------------------------------------------------------------------
// the world: a VPC, a cluster, a task definition, services; and the scheduler moto lacks

struct World {
    /// The proxy in front of moto that every client of this test uses.
    endpoint: String,
    proxy: Arc<ProxyState>,
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    cluster: String,
    family: String,
    subnet: String,
    security_group: String,
}

impl World {
    async fn new(name: &str) -> World {
        let (endpoint, proxy) = start_proxy().await;
        // Without this, every DescribeTasks moves a task one status further (toward STOPPED).
        let r = reqwest::Client::new()
            .post(format!("{}/moto-api/state-manager/set-transition", moto_endpoint()))
            .json(&serde_json::json!({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000}}))
            .send()
            .await
            .expect("moto state manager");
        assert!(r.status().is_success(), "set-transition: {}", r.status());
        let conf = sdk_config(&endpoint).await;
        let ecs = aws_sdk_ecs::Client::new(&conf);
        let ec2 = aws_sdk_ec2::Client::new(&conf);

        let vpc = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
        // moto answers RunTask with HTTP 500 unless the VPC has DNS hostnames enabled.
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc_id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .unwrap();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.0.0.0/20")
            .send()
            .await
            .unwrap();
        let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_owned();
        let sg = ec2
            .create_security_group()
            .group_name(unique("sg"))
            .description("snooze test")
            .vpc_id(&vpc_id)
            .send()
            .await
            .unwrap();
        let security_group = sg.group_id().unwrap().to_owned();

        // moto matches clusters by substring in ListTasks: names must not contain each other.
        let cluster = unique(&format!("c-{name}"));
        ecs.create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .unwrap();
        let family = unique(&format!("td-{name}"));
        ecs.register_task_definition()
            .family(&family)
            .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
            .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .runtime_platform(
                aws_sdk_ecs::types::RuntimePlatform::builder()
                    .cpu_architecture(aws_sdk_ecs::types::CpuArchitecture::Arm64)
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image("demo:latest")
                    .memory(512) // moto needs a container-level memory
                    .essential(true)
                    .health_check(
                        HealthCheck::builder()
                            .command("CMD-SHELL")
                            .command("true")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        World {
            endpoint,
            proxy,
            ecs,
            ec2,
            cluster,
            family,
            subnet,
            security_group,
        }
    }

    /// From now on, answer matching requests with an AWS error.
    fn inject(&self, fault: Fault) {
        self.proxy.faults.lock().unwrap().push(fault);
    }

    fn injected(&self) -> usize {
        self.proxy.injected.load(Ordering::SeqCst)
    }

    /// The platform under test, built the way `snoozectl --endpoint-url` builds it.
    async fn platform(&self) -> EcsPlatform {
        EcsPlatform::from_options(None, Some(self.endpoint.clone())).await
    }

    /// The platform under test with millisecond retry delays.
    async fn quick_platform(&self) -> EcsPlatform {
        let conf = sdk_config(&self.endpoint).await;
        EcsPlatform::new(
            aws_sdk_ecs::Client::new(&conf),
            aws_sdk_ec2::Client::new(&conf),
        )
        .with_retry(quick_retry())
    }

    fn network(&self) -> NetworkConfiguration {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(&self.subnet)
                    .security_groups(&self.security_group)
                    .assign_public_ip(AssignPublicIp::Enabled)
                    .build()
                    .unwrap(),
            )
            .build()
    }

    fn target(&self, service: &str) -> Target {
        Target::Ecs(EcsTarget {
            cluster: self.cluster.clone(),
            service: service.to_owned(),
        })
    }

    async fn create_service(&self, name: &str, desired: i32) {
        self.ecs
            .create_service()
            .cluster(&self.cluster)
            .service_name(name)
            .task_definition(&self.family)
            .desired_count(desired)
            .launch_type(LaunchType::Fargate)
            .network_configuration(self.network())
            .send()
            .await
            .unwrap();
    }

    /// ARNs of the service's tasks with desiredStatus RUNNING (moto ignores `serviceName`, so
    /// by group).
    async fn running_tasks(&self, service: &str) -> Vec<aws_sdk_ecs::types::Task> {
        let arns = self
            .ecs
            .list_tasks()
            .cluster(&self.cluster)
            .desired_status(DesiredStatus::Running)
            .send()
            .await
            .unwrap()
            .task_arns()
            .to_vec();
        let mut out = Vec::new();
        for chunk in arns.chunks(100) {
            let d = self
                .ecs
                .describe_tasks()
                .cluster(&self.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            out.extend(
                d.tasks()
                    .iter()
                    .filter(|t| t.group() == Some(&format!("service:{service}")))
                    .cloned(),
            );
        }
        out
    }

    /// Plays the ECS scheduler once for `service`: RunTask up to desiredCount (with an Elastic
    /// IP on each new ENI when `public_ip`), StopTask above it. Returns (started, stopped).
    async fn schedule(&self, service: &str, public_ip: bool) -> (Vec<String>, Vec<String>) {
        let svc = self
            .ecs
            .describe_services()
            .cluster(&self.cluster)
            .services(service)
            .send()
            .await
            .unwrap();
        let desired = svc.services()[0].desired_count() as usize;
        let running = self.running_tasks(service).await;
        let (mut started, mut stopped) = (Vec::new(), Vec::new());
        let mut missing = desired.saturating_sub(running.len());
        while missing > 0 {
            let n = missing.min(10);
            let out = self
                .ecs
                .run_task()
                .cluster(&self.cluster)
                .task_definition(&self.family)
                .launch_type(LaunchType::Fargate)
                .group(format!("service:{service}"))
                .started_by("ecs-svc/moto-scheduler")
                .count(n as i32)
                .network_configuration(self.network())
                .send()
                .await
                .unwrap();
            for task in out.tasks() {
                if public_ip {
                    let eni = task
                        .attachments()
                        .iter()
                        .flat_map(|a| a.details())
                        .find(|d| d.name() == Some("networkInterfaceId"))
                        .and_then(|d| d.value())
                        .expect("moto gives awsvpc tasks an ENI")
                        .to_owned();
                    let eip = self
                        .ec2
                        .allocate_address()
                        .domain(aws_sdk_ec2::types::DomainType::Vpc)
                        .send()
                        .await
                        .unwrap();
                    self.ec2
                        .associate_address()
                        .allocation_id(eip.allocation_id().unwrap())
                        .network_interface_id(eni)
                        .send()
                        .await
                        .unwrap();
                }
                started.push(task.task_arn().unwrap().to_owned());
            }
            missing -= n;
        }
        for task in running.iter().skip(desired) {
            let arn = task.task_arn().unwrap().to_owned();
            self.stop(
                &arn,
                "Scaling activity initiated by (deployment ecs-svc/moto-scheduler)",
            )
            .await;
            stopped.push(arn);
        }
        (started, stopped)
    }

    async fn stop(&self, arn: &str, reason: &str) {
        self.ecs
            .stop_task()
            .cluster(&self.cluster)
            .task(arn)
            .reason(reason)
            .send()
            .await
            .unwrap();
    }

    async fn public_ip_of(&self, task_arn: &str) -> String {
        let d = self
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .tasks(task_arn)
            .send()
            .await
            .unwrap();
        let eni = d.tasks()[0]
            .attachments()
            .iter()
            .flat_map(|a| a.details())
            .find(|x| x.name() == Some("networkInterfaceId"))
            .and_then(|x| x.value())
            .unwrap()
            .to_owned();
        let n = self
            .ec2
            .describe_network_interfaces()
            .network_interface_ids(eni)
            .send()
            .await
            .unwrap();
        n.network_interfaces()[0]
            .association()
            .unwrap()
            .public_ip()
            .unwrap()
            .to_owned()
    }
}

fn found(o: &Observed) -> &ServiceObservation {
    match o {
        Observed::Found(s) => s,
        other => panic!("expected Found, got {other:?}"),
    }
}

fn calls(p: &EcsPlatform, op: &str) -> u64 {
    p.calls()[op]
}

// ---------------------------------------------------------------------------------------------
// observation

#[tokio::test]
async fn missing_service_and_missing_cluster_are_observations() {
    let w = World::new("missing").await;
    let p = w.platform().await;
    let nowhere = Target::Ecs(EcsTarget {
        cluster: unique("no-such-cluster"),
        service: "svc".into(),
    });
    let got = p
        .observe(&[w.target("nope"), nowhere.clone()])
        .await
        .unwrap();
    assert_eq!(
        got[0],
        Observed::Missing {
            message: format!("service nope not found in cluster {}", w.cluster)
        }
    );
    let Target::Ecs(EcsTarget { cluster, .. }) = &nowhere else {
        unreachable!()
    };
    assert_eq!(
        got[1],
        Observed::Missing {
            message: format!("cluster {cluster} not found")
        }
    );
    assert_eq!(calls(&p, "DescribeServices"), 2, "{:?}", p.calls());
    assert_eq!(calls(&p, "ListTasks"), 0);
}

#[tokio::test]
async fn service_with_zero_tasks_needs_no_task_calls() {
    let w = World::new("zero").await;
    w.create_service("idle", 0).await;
    let p = w.platform().await;
    let got = p.observe(&[w.target("idle")]).await.unwrap();
    let obs = found(&got[0]);
    assert_eq!(
        (
            obs.desired_count,
            obs.running_count,
            obs.pending_count,
            obs.tasks.len()
        ),
        (0, 0, 0, 0)
    );
    let c = p.calls();
    assert_eq!(
        (
            c["DescribeServices"],
            c["ListTasks"],
            c["DescribeTasks"],
            c["DescribeNetworkInterfaces"]
        ),
        (1, 0, 0, 0)
    );
}

#[tokio::test]
async fn scale_up_task_with_public_ip_then_scale_down() {
    let w = World::new("public").await;
    w.create_service("web", 0).await;
    let p = w.platform().await;
    let target = w.target("web");

    p.scale(&target, 1).await.unwrap();
    assert_eq!(calls(&p, "UpdateService"), 1);
    let svc = w
        .ecs
        .describe_services()
        .cluster(&w.cluster)
        .services("web")
        .send()
        .await
        .unwrap();
    assert_eq!(
        svc.services()[0].desired_count(),
        1,
        "UpdateService set desiredCount"
    );

    let (started, _) = w.schedule("web", true).await;
    assert_eq!(started.len(), 1);
    let eip = w.public_ip_of(&started[0]).await;

    let got = p.observe(std::slice::from_ref(&target)).await.unwrap();
    let obs = found(&got[0]);
    assert_eq!(obs.desired_count, 1);
    assert_eq!(obs.tasks.len(), 1, "{obs:?}");
    let t = &obs.tasks[0];
    assert_eq!(t.arn, started[0]);
    assert_eq!(
        (t.last_status, t.desired_status),
        (TaskStatus::Running, TaskStatus::Running)
    );
    assert_eq!(
        t.health,
        Some(Health::Healthy),
        "the essential web container defines a health check"
    );
    assert!(
        t.eni_id.as_deref().is_some_and(|e| e.starts_with("eni-")),
        "{t:?}"
    );
    assert_eq!(
        t.public_ip.as_deref(),
        Some(eip.as_str()),
        "address from ENI Association.PublicIp"
    );
    assert!(
        t.private_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("10.")),
        "{t:?}"
    );
    let c = p.calls();
    assert_eq!(
        (
            c["DescribeServices"],
            c["ListTasks"],
            c["DescribeTasks"],
            c["DescribeTaskDefinition"],
            c["DescribeNetworkInterfaces"]
        ),
        (1, 1, 1, 1, 1),
        "one call each; no stopped ListTasks for a service running all the tasks it wants \
         (moto's runningCount is the desiredCount of the last UpdateService): {c:?}"
    );

    // A task that dies is reported with its reason next to its replacement while the service
    // has fewer running tasks than desired. moto keeps runningCount at the last UpdateService's
    // desiredCount, so `dying` is created wanting 1 (moto: runningCount 0, pendingCount 1).
    w.create_service("dying", 1).await;
    let (first, _) = w.schedule("dying", true).await;
    w.stop(&first[0], "Essential container in task exited")
        .await;
    let (replaced, _) = w.schedule("dying", true).await;
    let got = p.observe(&[w.target("dying")]).await.unwrap();
    let obs = found(&got[0]);
    assert_eq!(obs.tasks.len(), 2, "{obs:?}");
    let dead = obs.tasks.iter().find(|t| t.arn == first[0]).unwrap();
    assert_eq!(dead.desired_status, TaskStatus::Stopped);
    assert_eq!(
        dead.stopped_reason.as_deref(),
        Some("Essential container in task exited")
    );
    let alive = obs.tasks.iter().find(|t| t.arn == replaced[0]).unwrap();
    assert_eq!(alive.desired_status, TaskStatus::Running);

    // `web`'s task dies too and its replacement runs: running all it wants again, it lists
    // only its running tasks (the dead one is still described by ARN for the ledger).
    w.stop(&started[0], "Essential container in task exited")
        .await;
    let (again, _) = w.schedule("web", true).await;
    let before = calls(&p, "ListTasks");
    let got = p.observe(std::slice::from_ref(&target)).await.unwrap();
    let obs = found(&got[0]);
    let arns: Vec<&str> = obs.tasks.iter().map(|t| t.arn.as_str()).collect();
    assert_eq!(arns, [again[0].as_str()]);
    assert_eq!(calls(&p, "ListTasks") - before, 1);
    assert_eq!(
        calls(&p, "DescribeTaskDefinition"),
        1,
        "task definition health checks are cached"
    );

    p.scale(&target, 0).await.unwrap();
    let (_, stopped) = w.schedule("web", true).await;
    assert_eq!(stopped, again);
    let got = p.observe(std::slice::from_ref(&target)).await.unwrap();
    let obs = found(&got[0]);
    assert_eq!((obs.desired_count, obs.running_count), (0, 0));
    assert!(
        obs.tasks.is_empty(),
        "a service that neither has nor wants tasks is not listed: {obs:?}"
    );
}

/// The World's task definition: 256 CPU units, 512 MiB, ARM64.
const WORLD_SIZE: TaskSize = TaskSize {
    vcpu: 0.25,
    memory_gb: 0.5,
    arch: Arch::Arm64,
};

/// Services report their size (their PRIMARY deployment's task definition) even asleep, and a
/// steady state over sleeping services reads that definition once for the platform's life.
/// Tasks report their size too; moto's tasks carry no `cpu`/`memory` (the definition's are
/// used) and no `pullStartedAt` (`None`: the ledger must fall back, see the report).
#[tokio::test]
async fn sizes_come_from_task_definitions_read_once_per_revision() {
    let w = World::new("size").await;
    for name in ["web", "sleepy-a", "sleepy-b"] {
        w.create_service(name, 0).await;
    }
    let p = w.platform().await;
    let targets = [w.target("web"), w.target("sleepy-a"), w.target("sleepy-b")];
    let got = p.observe(&targets).await.unwrap();
    for o in &got {
        assert_eq!(found(o).size, Some(WORLD_SIZE), "{o:?}");
    }
    assert_eq!(
        calls(&p, "DescribeTaskDefinition"),
        1,
        "one revision, one read: {:?}",
        p.calls()
    );
    let steady = p.calls();
    for _ in 0..3 {
        let again = p.observe(&targets).await.unwrap();
        assert_eq!(again, got);
    }
    let c = p.calls();
    assert_eq!(c["DescribeTaskDefinition"], 1, "{c:?}");
    assert_eq!(
        c["DescribeServices"] - steady["DescribeServices"],
        3,
        "a steady pass over sleeping services is one DescribeServices and nothing else: {c:?}"
    );
    for op in ["ListTasks", "DescribeTasks", "DescribeNetworkInterfaces"] {
        assert_eq!(c[op], steady[op], "{op}: {c:?}");
    }

    // Awake: the task has the definition's size and architecture.
    p.scale(&targets[0], 1).await.unwrap();
    let (started, _) = w.schedule("web", false).await;
    let got = p.observe(&targets[..1]).await.unwrap();
    let obs = found(&got[0]);
    assert_eq!(obs.tasks.len(), 1, "{obs:?}");
    let t = &obs.tasks[0];
    assert_eq!(t.arn, started[0]);
    assert_eq!(t.size, Some(WORLD_SIZE));
    // moto's Task has no pullStartedAt (nor createdAt/startedAt): only a real ECS says when
    // billing began.
    assert_eq!(
        t.pull_started_at, None,
        "moto now reports pullStartedAt: {t:?}"
    );
    assert_eq!(calls(&p, "DescribeTaskDefinition"), 1, "{:?}", p.calls());

    // A new revision is read once more.
    let family = w.family.clone();
    w.ecs
        .register_task_definition()
        .family(&family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("1024")
        .memory("2048")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image("demo:latest")
                .memory(2048)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // (moto's UpdateService does not start a new deployment with a new definition: a new
    // service runs the new revision instead.)
    w.create_service("fresh", 0).await;
    let fresh = [w.target("fresh")];
    let got = p.observe(&fresh).await.unwrap();
    assert_eq!(
        found(&got[0]).size,
        Some(TaskSize {
            vcpu: 1.0,
            memory_gb: 2.0,
            arch: Arch::X86_64
        }),
        "no runtimePlatform: X86_64"
    );
    p.observe(&fresh).await.unwrap();
    assert_eq!(calls(&p, "DescribeTaskDefinition"), 2, "{:?}", p.calls());
}

/// `describe_tasks` finds tasks by ARN whatever their state, 100 per call, and leaves out
/// ARNs ECS does not know and tasks of other services.
#[tokio::test]
async fn describe_tasks_finds_stopped_tasks_by_arn() {
    let w = World::new("describe").await;
    w.create_service("web", 101).await;
    w.create_service("other", 1).await;
    let (started, _) = w.schedule("web", false).await;
    let (other, _) = w.schedule("other", false).await;
    assert_eq!(started.len(), 101);
    w.stop(
        &started[0],
        "Scaling activity initiated by (deployment ecs-svc/x)",
    )
    .await;
    let p = w.quick_platform().await;
    w.inject(Fault {
        matches: "DescribeTasks",
        times: 1,
        status: 400,
        code: "ThrottlingException",
        message: "Rate exceeded",
    });
    let gone = started[0].replace(
        started[0].rsplit('/').next().unwrap(),
        "00000000000000000000000000000000",
    );
    let mut ask = started.clone();
    ask.push(gone.clone());
    ask.push(other[0].clone());
    ask.push(started[1].clone()); // asked twice, described once
    let got = p.describe_tasks(&w.target("web"), &ask).await.unwrap();
    assert_eq!(
        got.len(),
        101,
        "{:?}",
        got.iter().map(|t| &t.arn).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|t| t.arn != gone && t.arn != other[0]));
    let stopped = got.iter().find(|t| t.arn == started[0]).unwrap();
    assert_eq!(
        (stopped.last_status, stopped.desired_status),
        (TaskStatus::Stopped, TaskStatus::Stopped)
    );
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("Scaling activity initiated by (deployment ecs-svc/x)")
    );
    assert_eq!(stopped.size, Some(WORLD_SIZE));
    assert!(
        got.iter()
            .filter(|t| t.arn != started[0])
            .all(|t| t.last_status == TaskStatus::Running)
    );
    let c = p.calls();
    assert_eq!(
        c["DescribeTasks"], 3,
        "103 distinct ARNs, 100 per call, one throttled and retried: {c:?}"
    );
    assert_eq!(p.throttled()["DescribeTasks"], 1);
    assert_eq!(c["DescribeTaskDefinition"], 1, "{c:?}");
    assert_eq!(c["DescribeNetworkInterfaces"], 0, "{c:?}");
    assert!(matches!(
        p.describe_tasks(
            &Target::Local(snooze::model::LocalTarget {
                command: "demo".into(),
                args: Vec::new(),
                env: Default::default(),
                working_dir: None,
                port: 8080,
            }),
            &ask
        )
        .await,
        Err(Error::Unsupported(_))
    ));
}

#[tokio::test]
async fn many_services_and_tasks_are_batched() {
    let w = World::new("batch").await;
    w.create_service("big", 120).await;
    w.create_service("small", 2).await;
    for i in 0..10 {
        w.create_service(&format!("quiet-{i}"), 0).await;
    }
    let (big, _) = w.schedule("big", false).await;
    let (small, _) = w.schedule("small", false).await;
    assert_eq!((big.len(), small.len()), (120, 2));

    let p = w.platform().await;
    let mut targets = vec![w.target("big"), w.target("small")];
    targets.extend((0..10).map(|i| w.target(&format!("quiet-{i}"))));
    targets.push(w.target("big")); // a duplicate target gets the same answer
    let got = p.observe(&targets).await.unwrap();
    assert_eq!(got.len(), targets.len());
    let b = found(&got[0]);
    assert_eq!(b.tasks.len(), 120);
    let mut arns: Vec<&str> = b.tasks.iter().map(|t| t.arn.as_str()).collect();
    arns.sort();
    let mut want: Vec<&str> = big.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(
        arns, want,
        "tasks matched by group, not by the ListTasks that found them"
    );
    assert_eq!(found(&got[1]).tasks.len(), 2);
    for o in &got[2..12] {
        assert!(found(o).tasks.is_empty());
    }
    assert_eq!(got[12], got[0]);
    let c = p.calls();
    let want: BTreeMap<&str, u64> = BTreeMap::from([
        ("DescribeServices", 2),          // 12 services, 10 per call
        ("ListTasks", 4),                 // running + stopped for big and small
        ("DescribeTasks", 2),             // 122 tasks, 100 per call
        ("DescribeTaskDefinition", 1),    // one definition
        ("DescribeNetworkInterfaces", 1), // 122 ENIs, one filter
        ("UpdateService", 0),
    ]);
    assert_eq!(c, want);
}

/// A service that runs all the tasks it wants (moto's `runningCount` is the `desiredCount` of
/// the last UpdateService), with its task started: as snooze sees an awake, Ready service.
async fn awake_service(w: &World, name: &str) -> String {
    w.create_service(name, 0).await;
    w.ecs
        .update_service()
        .cluster(&w.cluster)
        .service(name)
        .desired_count(1)
        .send()
        .await
        .unwrap();
    let (started, _) = w.schedule(name, false).await;
    assert_eq!(started.len(), 1);
    started[0].clone()
}

/// 12 awake services of one cluster (all their tasks running), 3 sleeping ones and 2 services
/// snooze does not manage (with tasks): one `ListTasks(cluster, RUNNING)` instead of 12, and
/// the very observation the per-service listings give.
#[tokio::test]
async fn many_awake_services_of_a_cluster_share_one_task_listing() {
    let w = World::new("shared").await;
    let mut targets = Vec::new();
    let mut own = Vec::new();
    for i in 0..12 {
        let name = format!("awake-{i:02}");
        own.push(awake_service(&w, &name).await);
        targets.push(w.target(&name));
    }
    for i in 0..3 {
        let name = format!("asleep-{i}");
        w.create_service(&name, 0).await;
        targets.push(w.target(&name));
    }
    for i in 0..2 {
        let name = format!("unmanaged-{i}");
        w.create_service(&name, 2).await;
        w.schedule(&name, false).await;
    }

    let per_service = w.quick_platform().await.with_cluster_listing(false);
    let alone = per_service.observe(&targets).await.unwrap();
    let shared = w.quick_platform().await;
    let got = shared.observe(&targets).await.unwrap();
    assert_eq!(got, alone, "the same observation either way");
    for (i, arn) in own.iter().enumerate() {
        let obs = found(&got[i]);
        let arns: Vec<&str> = obs.tasks.iter().map(|t| t.arn.as_str()).collect();
        assert_eq!(arns, [arn.as_str()], "awake-{i:02}: its own task only");
    }
    for o in &got[12..] {
        assert!(found(o).tasks.is_empty());
    }
    let (c, p) = (shared.calls(), per_service.calls());
    assert_eq!(
        (c["ListTasks"], p["ListTasks"]),
        (1, 12),
        "one cluster listing instead of one per awake service; no stopped listing for \
         services running all their tasks: {c:?} {p:?}"
    );
    assert_eq!(
        (c["DescribeServices"], c["DescribeTasks"]),
        (2, 1),
        "16 tasks (the unmanaged ones too) in one DescribeTasks: {c:?}"
    );
    assert_eq!(c["DescribeTasks"], p["DescribeTasks"]);
    assert_eq!(
        c["DescribeNetworkInterfaces"],
        p["DescribeNetworkInterfaces"]
    );
}

/// A task the cluster listing shows but DescribeTasks leaves out (MISSING) fails only a service
/// that may own it (ECS counts a task for it that was not described); a failing cluster
/// listing fails exactly the services that relied on it.
#[tokio::test]
async fn a_missing_or_failing_cluster_listing_touches_only_the_services_it_concerns() {
    let w = World::new("ghost").await;
    let mut targets = Vec::new();
    for i in 0..10 {
        let name = format!("awake-{i:02}");
        awake_service(&w, &name).await;
        targets.push(w.target(&name));
    }
    // Wants a task ECS counts as pending (moto: pendingCount = desiredCount at creation) and
    // has none described: the missing task may be its.
    w.create_service("starting", 1).await;
    targets.push(w.target("starting"));
    w.create_service("asleep", 0).await;
    targets.push(w.target("asleep"));
    let before = w.quick_platform().await.observe(&targets).await.unwrap();

    let ghost = format!(
        "arn:aws:ecs:us-east-1:123456789012:task/{}/ghost0000",
        w.cluster
    );
    w.proxy.ghost_tasks.lock().unwrap().push(ghost);
    let p = w.quick_platform().await;
    let got = p.observe(&targets).await.unwrap();
    assert_eq!(
        calls(&p, "ListTasks"),
        2,
        "the cluster listing + starting's stopped tasks"
    );
    assert_eq!(
        got[..10],
        before[..10],
        "services with all their tasks described stand"
    );
    match &got[10] {
        Observed::Error(Error::Call { code, message, .. }) => {
            assert_eq!(code, "MISSING");
            assert!(
                message.contains("ghost0000") && message.contains("starting"),
                "{message}"
            );
        }
        other => panic!("starting may own the missing task: {other:?}"),
    }
    assert_eq!(got[11], before[11]);
    w.proxy.ghost_tasks.lock().unwrap().clear();

    w.inject(Fault {
        matches: "ListTasks",
        times: 1,
        status: 400,
        code: "AccessDeniedException",
        message: "not allowed",
    });
    // Without `starting` (its stopped listing would be a second ListTasks): the cluster
    // listing is the only one.
    targets.remove(10);
    let p = w.quick_platform().await;
    let got = p.observe(&targets).await.unwrap();
    assert_eq!((w.injected(), calls(&p, "ListTasks")), (1, 1));
    for (i, o) in got.iter().enumerate() {
        match (i, o) {
            // The awake ones relied on the cluster listing, `asleep` did not need one.
            (0..=9, Observed::Error(e)) => assert_eq!(e.code(), "AccessDeniedException"),
            (10, Observed::Found(_)) => {}
            (i, o) => panic!("target {i}: {o:?}"),
        }
    }
}

/// A cluster listing that would cost more than the per-service listings (many tasks of a
/// service snooze does not manage) is abandoned after the pages it could afford; the services
/// are listed one by one in the same observation, and the platform keeps listing that cluster
/// per service (for `listing::CLUSTER_LISTING_BACKOFF`).
#[tokio::test]
async fn a_cluster_listing_dearer_than_per_service_ones_is_abandoned_and_remembered() {
    let w = World::new("dear").await;
    let mut targets = Vec::new();
    for i in 0..8 {
        let name = format!("awake-{i}");
        awake_service(&w, &name).await;
        targets.push(w.target(&name));
    }
    w.create_service("unmanaged", 10).await;
    w.schedule("unmanaged", false).await;
    // 18 running tasks, 4 a page: 5 pages. Per service: 8 ListTasks + 1 DescribeTasks = 9
    // calls, so the cluster listing may read 4 pages (4 × 2 < 9).
    w.proxy.page_sizes.lock().unwrap().insert("ListTasks", 4);

    let alone = w
        .quick_platform()
        .await
        .with_cluster_listing(false)
        .observe(&targets)
        .await
        .unwrap();
    let p = w.quick_platform().await;
    let got = p.observe(&targets).await.unwrap();
    assert_eq!(got, alone);
    // moto ignores serviceName: each per-service listing has the cluster's 5 pages.
    assert_eq!(
        calls(&p, "ListTasks"),
        4 + 8 * 5,
        "4 pages of the cluster listing, then the per-service listings"
    );
    let before = calls(&p, "ListTasks");
    assert_eq!(p.observe(&targets).await.unwrap(), alone);
    assert_eq!(
        calls(&p, "ListTasks") - before,
        8 * 5,
        "the cluster is remembered: per-service listings only"
    );
}

/// ListTasks and DescribeNetworkInterfaces are read to the last page. moto answers both in one
/// page, so the proxy pages them (25 items a page, with its own `nextToken`).
#[tokio::test]
async fn list_tasks_and_network_interfaces_are_read_to_the_last_page() {
    let w = World::new("pages").await;
    w.create_service("paged", 60).await;
    let (started, _) = w.schedule("paged", true).await;
    assert_eq!(started.len(), 60);
    w.proxy
        .page_sizes
        .lock()
        .unwrap()
        .extend([("ListTasks", 25), ("DescribeNetworkInterfaces", 25)]);

    let p = w.platform().await;
    let got = p.observe(&[w.target("paged")]).await.unwrap();
    let obs = found(&got[0]);
    let mut arns: Vec<&str> = obs.tasks.iter().map(|t| t.arn.as_str()).collect();
    arns.sort();
    let mut want: Vec<&str> = started.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(arns, want, "every task of every ListTasks page");
    let mut ips: Vec<&str> = obs
        .tasks
        .iter()
        .map(|t| {
            t.public_ip
                .as_deref()
                .unwrap_or_else(|| panic!("no public IP (ENI page missed): {t:?}"))
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(
        ips.len(),
        60,
        "each task's own ENI, from every DescribeNetworkInterfaces page"
    );

    let c = p.calls();
    assert_eq!(
        (
            c["ListTasks"],
            c["DescribeTasks"],
            c["DescribeNetworkInterfaces"]
        ),
        (4, 1, 3),
        "3 pages of RUNNING tasks + 1 of STOPPED ones, 60 tasks in one DescribeTasks, 3 ENI pages: {c:?}"
    );
    let paged = w.proxy.paged.lock().unwrap().clone();
    let pages = |op: &str, status: &str| {
        paged
            .iter()
            .filter(|(o, s, _)| *o == op && s == status)
            .map(|(_, _, offset)| *offset)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pages("ListTasks", "RUNNING"),
        [0, 25, 50],
        "follow-ups carry nextToken: {paged:?}"
    );
    assert_eq!(
        pages("ListTasks", "STOPPED"),
        [0],
        "stopped tasks: the first page only (for stop reasons)"
    );
    assert_eq!(
        pages("DescribeNetworkInterfaces", ""),
        [0, 25, 50],
        "{paged:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// the proxy in front of moto: fixes moto's shapes, and answers chosen requests with AWS errors

/// An AWS error the proxy returns instead of forwarding.
#[derive(Clone)]
struct Fault {
    /// Substring of the `X-Amz-Target` header (ECS) or the form body (EC2 `Action=...`).
    matches: &'static str,
    /// How many matching requests get the error; then they go through.
    times: usize,
    status: u16,
    code: &'static str,
    message: &'static str,
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<Vec<Fault>>,
    injected: AtomicUsize,
    /// Operations answered in pages (moto never pages ListTasks or DescribeNetworkInterfaces):
    /// operation name → page size. See [`Paging`].
    page_sizes: Mutex<BTreeMap<&'static str, usize>>,
    /// Every paged request: (operation, ECS desiredStatus or "", offset asked for by the
    /// request's nextToken: 0 for a first page).
    paged: Mutex<Vec<(&'static str, String, usize)>>,
    /// Task ARNs added to every `ListTasks(desiredStatus RUNNING)` answer: tasks moto does not
    /// know, so DescribeTasks leaves them out (ECS's MISSING right after a start).
    ghost_tasks: Mutex<Vec<String>>,
}

/// Starts a proxy to moto on 127.0.0.1 (on the calling test's runtime) and returns its URL.
async fn start_proxy() -> (String, Arc<ProxyState>) {
    let state = Arc::new(ProxyState {
        upstream: moto_endpoint().to_owned(),
        client: reqwest::Client::new(),
        faults: Mutex::new(Vec::new()),
        injected: AtomicUsize::new(0),
        page_sizes: Mutex::new(BTreeMap::new()),
        paged: Mutex::new(Vec::new()),
        ghost_tasks: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

/// moto writes a task container's `cpu` and `memory` as JSON numbers; ECS (and so the Rust
/// SDK, which rejects the numbers) has them as strings. Rewrites them in place.
fn fix_moto_containers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "containers" {
                    for c in child.as_array_mut().into_iter().flatten() {
                        for field in ["cpu", "memory", "memoryReservation"] {
                            if let Some(n) = c
                                .get(field)
                                .filter(|x| x.is_number())
                                .map(|x| x.to_string())
                            {
                                c[field] = serde_json::Value::String(n);
                            }
                        }
                    }
                }
                fix_moto_containers(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fix_moto_containers),
        _ => {}
    }
}

async fn forward(
    axum::extract::State(st): axum::extract::State<Arc<ProxyState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let fault = {
        let mut faults = st.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|f| f.times > 0 && (target.contains(f.matches) || text.contains(f.matches)))
            .map(|f| {
                f.times -= 1;
                f.clone()
            })
    };
    if let Some(f) = fault {
        let n = st.injected.fetch_add(1, Ordering::SeqCst) + 1;
        let (content_type, body) = if target.is_empty() {
            let xml = format!(
                "<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors>\
                 <RequestID>fault-{n}</RequestID></Response>",
                f.code, f.message
            );
            ("text/xml", xml) // EC2 query protocol
        } else {
            (
                "application/x-amz-json-1.1",
                serde_json::json!({"__type": f.code, "message": f.message}).to_string(),
            )
        };
        return axum::response::Response::builder()
            .status(f.status)
            .header("content-type", content_type)
            .header("x-amzn-requestid", format!("fault-{n}"))
            .body(axum::body::Body::from(body))
            .unwrap();
    }
    let url = format!(
        "{}{}",
        st.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let paging = Paging::of(&st, &target, &text);
    let body = match &paging {
        Some(p) => p.request.clone().into(),
        None => body,
    };
    let mut up = st.client.request(parts.method, url).body(body);
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            up = up.header(k, v);
        }
    }
    let resp = up.send().await.expect("moto behind the proxy");
    let mut out = axum::response::Response::builder().status(resp.status());
    let json = resp
        .headers()
        .get("content-type")
        .is_some_and(|c| c.as_bytes().starts_with(b"application/x-amz-json"));
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v);
        }
    }
    let mut bytes = resp.bytes().await.unwrap().to_vec();
    if json
        && target.starts_with("AmazonEC2ContainerService")
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes)
    {
        fix_moto_containers(&mut v);
        bytes = serde_json::to_vec(&v).unwrap();
    }
    if let Some(p) = paging {
        bytes = p.page(&bytes);
    }
    let ghosts = st.ghost_tasks.lock().unwrap().clone();
    if target.ends_with(".ListTasks") && text.contains("RUNNING") && !ghosts.is_empty() {
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if let Some(arns) = v["taskArns"].as_array_mut() {
            arns.extend(ghosts.into_iter().map(serde_json::Value::from));
        }
        bytes = serde_json::to_vec(&v).unwrap();
    }
    out.body(axum::body::Body::from(bytes)).unwrap()
}

/// A request the proxy answers with one page of moto's whole answer. The page's `nextToken`
/// is `proxy-page:<offset of the next item>`; the follow-up request carrying it is sent to
/// moto without the token (and without `maxResults`), and its answer cut at that offset.
/// Pages hold `min(page size, maxResults)` items.
struct Paging {
    /// `ListTasks` (JSON) or `DescribeNetworkInterfaces` (EC2 query protocol, XML answer).
    operation: &'static str,
    offset: usize,
    size: usize,
    /// The request to send to moto.
    request: Vec<u8>,
}

const PAGE_TOKEN: &str = "proxy-page:";

impl Paging {
    fn of(st: &ProxyState, target: &str, body: &str) -> Option<Paging> {
        let sizes = st.page_sizes.lock().unwrap();
        let offset_of = |token: Option<&str>| {
            token
                .and_then(|t| t.strip_prefix(PAGE_TOKEN))
                .map_or(0, |n| n.parse::<usize>().expect("our own page token"))
        };
        let paging = if target.ends_with(".ListTasks") {
            let size = *sizes.get("ListTasks")?;
            let mut req: serde_json::Value = serde_json::from_str(body).unwrap();
            let offset = offset_of(req["nextToken"].as_str());
            let max = req["maxResults"]
                .as_u64()
                .map_or(usize::MAX, |m| m as usize);
            let status = req["desiredStatus"].as_str().unwrap_or("").to_owned();
            let obj = req.as_object_mut().unwrap();
            obj.remove("nextToken");
            obj.remove("maxResults");
            st.paged.lock().unwrap().push(("ListTasks", status, offset));
            Paging {
                operation: "ListTasks",
                offset,
                size: size.min(max),
                request: serde_json::to_vec(&req).unwrap(),
            }
        } else if target.is_empty() && body.contains("Action=DescribeNetworkInterfaces") {
            let size = *sizes.get("DescribeNetworkInterfaces")?;
            let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let offset = offset_of(get("NextToken"));
            let max = get("MaxResults").map_or(usize::MAX, |m| m.parse().unwrap());
            let request = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    form.iter()
                        .filter(|(n, _)| n != "NextToken" && n != "MaxResults"),
                )
                .finish()
                .into_bytes();
            st.paged
                .lock()
                .unwrap()
                .push(("DescribeNetworkInterfaces", String::new(), offset));
            Paging {
                operation: "DescribeNetworkInterfaces",
                offset,
                size: size.min(max),
                request,
            }
        } else {
            return None;
        };
        Some(paging)
    }

    /// The token of the page after `[offset, offset + size)` of `total` items.
    fn next_token(&self, total: usize) -> Option<String> {
        let next = self.offset + self.size;
        (next < total).then(|| format!("{PAGE_TOKEN}{next}"))
    }

    /// Cuts moto's whole answer down to this page.
    fn page(&self, whole: &[u8]) -> Vec<u8> {
        if self.operation == "ListTasks" {
            let mut v: serde_json::Value = serde_json::from_slice(whole).unwrap();
            let arns = v["taskArns"].as_array().cloned().unwrap_or_default();
            let page: Vec<_> = arns
                .iter()
                .skip(self.offset)
                .take(self.size)
                .cloned()
                .collect();
            v["taskArns"] = serde_json::Value::Array(page);
            if let Some(t) = self.next_token(arns.len()) {
                v["nextToken"] = t.into();
            }
            return serde_json::to_vec(&v).unwrap();
        }
        // EC2: <networkInterfaceSet><item>…</item>…</networkInterfaceSet> (items nest <item>s).
        let xml = String::from_utf8(whole.to_vec()).unwrap();
        let (open, close) = ("<networkInterfaceSet>", "</networkInterfaceSet>");
        let (Some(start), Some(end)) = (xml.find(open), xml.find(close)) else {
            return whole.to_vec(); // no ENIs (or an error): nothing to page
        };
        let inner = &xml[start + open.len()..end];
        let mut items = Vec::new();
        let (mut depth, mut from, mut i) = (0usize, 0usize, 0usize);
        while i < inner.len() {
            if inner[i..].starts_with("<item>") {
                if depth == 0 {
                    from = i;
                }
                depth += 1;
                i += "<item>".len();
            } else if inner[i..].starts_with("</item>") {
                depth -= 1;
                i += "</item>".len();
                if depth == 0 {
                    items.push(&inner[from..i]);
                }
            } else {
                i += inner[i..].chars().next().unwrap().len_utf8();
            }
        }
        let page: String = items
            .iter()
            .skip(self.offset)
            .take(self.size)
            .copied()
            .collect();
        let token = self
            .next_token(items.len())
            .map(|t| format!("<nextToken>{t}</nextToken>"))
            .unwrap_or_default();
        format!(
            "{}{open}{page}{close}{token}{}",
            &xml[..start],
            &xml[end + close.len()..]
        )
        .into_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// errors

#[tokio::test]
async fn throttling_by_message_is_retried_until_it_passes() {
    let w = World::new("throttle").await;
    w.create_service("web", 1).await;
    w.schedule("web", true).await;
    // ECS's way: a ClientException whose message says it is throttling.
    w.inject(Fault {
        matches: "DescribeServices",
        times: 3,
        status: 400,
        code: "ClientException",
        message: "Rate exceeded",
    });
    w.inject(Fault {
        matches: "DescribeTasks",
        times: 1,
        status: 400,
        code: "ThrottlingException",
        message: "Rate exceeded",
    });
    w.inject(Fault {
        matches: "Action=DescribeNetworkInterfaces",
        times: 2,
        status: 503,
        code: "RequestLimitExceeded",
        message: "Request limit exceeded.",
    });
    w.inject(Fault {
        matches: "ListTasks",
        times: 1,
        status: 500,
        code: "ServerException",
        message: "Service unavailable. Try again later.",
    });
    let p = w.quick_platform().await;
    let got = p.observe(&[w.target("web")]).await.unwrap();
    let obs = found(&got[0]);
    assert_eq!(obs.tasks.len(), 1);
    assert!(obs.tasks[0].public_ip.is_some(), "{obs:?}");
    assert_eq!(w.injected(), 7);
    let c = p.calls();
    assert_eq!(c["DescribeServices"], 4, "3 throttled + 1: {c:?}");
    assert_eq!(c["DescribeTasks"], 2, "{c:?}");
    assert_eq!(c["DescribeNetworkInterfaces"], 3, "{c:?}");
    assert_eq!(
        c["ListTasks"], 3,
        "running (after one 500) + stopped: {c:?}"
    );
    let t = p.throttled();
    assert_eq!(
        (
            t["DescribeServices"],
            t["DescribeTasks"],
            t["DescribeNetworkInterfaces"],
            t["ListTasks"]
        ),
        (3, 1, 2, 0)
    );
}

#[tokio::test]
async fn endless_throttling_gives_up_as_throttled_within_bounds() {
    let w = World::new("endless").await;
    w.create_service("web", 0).await;
    w.inject(Fault {
        matches: "DescribeServices",
        times: usize::MAX,
        status: 400,
        code: "ClientException",
        message: "Rate exceeded",
    });
    let p = w.quick_platform().await;
    let got = p.observe(&[w.target("web")]).await.unwrap();
    match &got[0] {
        Observed::Error(Error::Throttled { operation, message }) => {
            assert_eq!(*operation, "DescribeServices");
            assert!(
                message.starts_with("ClientException: Rate exceeded (request id fault-"),
                "{message}"
            );
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(
        calls(&p, "DescribeServices"),
        5,
        "first attempt + max_retries"
    );
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let w = World::new("denied").await;
    w.create_service("web", 0).await;
    let denied = "User: arn:aws:sts::123456789012:assumed-role/snooze/reconciler is not authorized to perform: ecs:DescribeServices";
    w.inject(Fault {
        matches: "DescribeServices",
        times: usize::MAX,
        status: 400,
        code: "AccessDeniedException",
        message: denied,
    });
    w.inject(Fault {
        matches: "UpdateService",
        times: usize::MAX,
        status: 400,
        code: "InvalidParameterException",
        message: "desiredCount is invalid",
    });
    let p = w.quick_platform().await;
    let got = p.observe(&[w.target("web")]).await.unwrap();
    match &got[0] {
        Observed::Error(Error::Call {
            operation,
            code,
            message,
            retryable,
        }) => {
            assert_eq!(
                (*operation, code.as_str(), *retryable),
                ("DescribeServices", "AccessDeniedException", false)
            );
            assert!(
                message.starts_with(denied) && message.contains("(request id fault-1)"),
                "{message}"
            );
        }
        other => panic!("expected a permanent Call error, got {other:?}"),
    }
    let e = p.scale(&w.target("web"), 1).await.unwrap_err();
    assert!(
        matches!(&e, Error::Call { code, retryable: false, .. } if code == "InvalidParameterException"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "UpdateService failed: InvalidParameterException: desiredCount is invalid (request id fault-2)"
    );
    let c = p.calls();
    assert_eq!((c["DescribeServices"], c["UpdateService"]), (1, 1), "{c:?}");
    assert_eq!(w.injected(), 2);

    // moto's own answer: a service that does not exist cannot be scaled, and is not retried.
    w.proxy.faults.lock().unwrap().clear();
    let p = w.platform().await;
    let e = p.scale(&w.target("nope"), 1).await.unwrap_err();
    assert!(
        matches!(&e, Error::Call { code, retryable: false, .. } if code == "ServiceNotFoundException"),
        "{e:?}"
    );
    assert_eq!(calls(&p, "UpdateService"), 1);
}

#[tokio::test]
async fn unreachable_endpoint_is_retried_then_reported_retryable() {
    // A port nobody listens on: connection refused on every attempt.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = sdk_config(&format!("http://127.0.0.1:{port}")).await;
    let p = EcsPlatform::new(
        aws_sdk_ecs::Client::new(&conf),
        aws_sdk_ec2::Client::new(&conf),
    )
    .with_retry(quick_retry());
    let target = Target::Ecs(EcsTarget {
        cluster: "c".into(),
        service: "s".into(),
    });
    let got = p.observe(std::slice::from_ref(&target)).await.unwrap();
    match &got[0] {
        Observed::Error(Error::Call {
            code,
            message,
            retryable: true,
            ..
        }) => {
            assert_eq!(code, "DispatchFailure");
            assert!(
                message.contains("dispatch failure"),
                "the SDK's error chain: {message}"
            );
        }
        other => panic!("expected a retryable Call error, got {other:?}"),
    }
    assert_eq!(
        calls(&p, "DescribeServices"),
        5,
        "first attempt + 4 retries"
    );
    assert_eq!(p.throttled()["DescribeServices"], 0);
}

#[tokio::test]
async fn an_eni_ec2_does_not_know_yet_means_no_address_not_an_error() {
    let w = World::new("eni").await;
    w.create_service("web", 1).await;
    let (started, _) = w.schedule("web", true).await;
    let ip = w.public_ip_of(&started[0]).await;
    let p = w.quick_platform().await;

    // Right after a task starts EC2 may not describe its ENI yet.
    w.inject(Fault {
        matches: "Action=DescribeNetworkInterfaces",
        times: 1,
        status: 400,
        code: "InvalidNetworkInterfaceID.NotFound",
        message: "The networkInterface ID 'eni-0a1b2c3d4e5f60001' does not exist",
    });
    let got = p.observe(&[w.target("web")]).await.unwrap();
    let t = &found(&got[0]).tasks[0];
    assert!(t.eni_id.is_some(), "{t:?}");
    assert_eq!(t.public_ip, None, "no address yet: {t:?}");
    assert!(
        t.private_ip.is_some(),
        "the attachment's privateIPv4Address: {t:?}"
    );
    assert_eq!(
        calls(&p, "DescribeNetworkInterfaces"),
        1,
        "not retried within the pass"
    );

    // The next pass finds it.
    let got = p.observe(&[w.target("web")]).await.unwrap();
    assert_eq!(
        found(&got[0]).tasks[0].public_ip.as_deref(),
        Some(ip.as_str())
    );

    // An ENI EC2 no longer has at all is simply absent from the filtered answer.
    let eni = found(&got[0]).tasks[0].eni_id.clone().unwrap();
    let assoc = w
        .ec2
        .describe_network_interfaces()
        .network_interface_ids(&eni)
        .send()
        .await
        .unwrap();
    let assoc = assoc.network_interfaces()[0]
        .association()
        .unwrap()
        .association_id()
        .unwrap()
        .to_owned();
    w.ec2
        .disassociate_address()
        .association_id(assoc)
        .send()
        .await
        .unwrap();
    w.ec2
        .delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap();
    let got = p.observe(&[w.target("web")]).await.unwrap();
    let t = &found(&got[0]).tasks[0];
    assert_eq!(
        (t.eni_id.as_deref(), t.public_ip.as_deref()),
        (Some(eni.as_str()), None),
        "{t:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// end to end: DynamoDB store + ECS + EC2 on one moto, through the reconcile pass

fn entry_status(e: Option<snooze::model::Entry>) -> snooze::model::Status {
    match e {
        Some(snooze::model::Entry::Record(r)) => {
            r.status.clone().expect("a reconciled record has a status")
        }
        other => panic!("expected the record, got {other:?}"),
    }
}

#[tokio::test]
async fn wake_ready_idle_asleep_end_to_end() {
    use snooze::clock::SimClock;
    use snooze::model::{Phase, Record, Timestamp};
    use snooze::reconcile::{Reconciler, Scope, StaticProber};

    let w = World::new("e2e").await;
    w.create_service("demo-svc", 0).await;

    // The store: a fresh table on the same moto (DynamoDB needs no proxy).
    let store = fresh_store("snooze-e2e").await;

    let platform = Arc::new(w.platform().await);
    let clock = SimClock::new(Timestamp::now());
    let reconciler = Reconciler::new(
        store.clone(),
        platform.clone(),
        Arc::new(StaticProber::new()),
        clock.clone(),
    );

    let mut record = Record::test("demo").idle_timeout(Duration::from_secs(60));
    record.spec.target = w.target("demo-svc");
    store.apply(&record, None).await.unwrap();
    let pass = || async {
        let report = reconciler.reconcile(Scope::All).await;
        assert!(report.error.is_none(), "{report:?}");
        let r = report
            .record("demo")
            .expect("the pass looked at demo")
            .clone();
        eprintln!(
            "pass: {:?} -> {:?} ({}) scaled {:?}",
            r.before, r.after, r.reason, r.scaled
        );
        assert!(r.error.is_none(), "{r:?}");
        r
    };
    let desired_count = || async {
        let d = w
            .ecs
            .describe_services()
            .cluster(&w.cluster)
            .services("demo-svc")
            .send()
            .await
            .unwrap();
        d.services()[0].desired_count()
    };

    // Nobody asked: asleep, nothing scaled.
    let r = pass().await;
    assert_eq!(r.after, Some(Phase::Asleep), "{r:?}");
    assert_eq!(platform.calls()["UpdateService"], 0);

    // A wake request → UpdateService(1).
    store
        .record_wake("demo", clock.now(), Duration::ZERO)
        .await
        .unwrap();
    let r = pass().await;
    assert_eq!(r.after, Some(Phase::Waking), "{r:?}");
    assert_eq!(r.scaled, Some((0, 1)), "{r:?}");
    assert_eq!(platform.calls()["UpdateService"], 1);
    assert_eq!(desired_count().await, 1);

    // The "ECS scheduler" starts the task and gives its ENI a public IP; passes until Ready.
    let (started, _) = w.schedule("demo-svc", true).await;
    assert_eq!(started.len(), 1);
    let ip = w.public_ip_of(&started[0]).await;
    let mut phase = None;
    for _ in 0..5 {
        clock.advance(Duration::from_secs(5));
        phase = pass().await.after;
        if phase == Some(Phase::Ready) {
            break;
        }
    }
    assert_eq!(phase, Some(Phase::Ready));
    let status = entry_status(store.get("demo").await.unwrap());
    let endpoint = status
        .endpoint
        .expect("a Ready record publishes its endpoint");
    assert_eq!(endpoint.ip, ip, "the EIP on the task's ENI");
    assert_eq!(endpoint.url, format!("http://{ip}:80/"));
    assert_eq!(endpoint.task_arn, started[0]);
    assert_eq!(
        platform.calls()["UpdateService"],
        1,
        "no UpdateService while awake"
    );

    // Idle past idleTimeout (1m) → UpdateService(0).
    clock.advance(Duration::from_secs(90));
    let r = pass().await;
    assert_eq!(r.scaled, Some((1, 0)), "{r:?}");
    assert_eq!(
        r.after,
        Some(Phase::Sleeping),
        "the task is still running: {r:?}"
    );
    assert_eq!(platform.calls()["UpdateService"], 2);
    assert_eq!(desired_count().await, 0);

    // The "ECS scheduler" stops the task; passes until Asleep, endpoint withdrawn.
    let (_, stopped) = w.schedule("demo-svc", true).await;
    assert_eq!(stopped, started);
    let mut phase = r.after;
    for _ in 0..5 {
        if phase == Some(Phase::Asleep) {
            break;
        }
        clock.advance(Duration::from_secs(5));
        phase = pass().await.after;
    }
    assert_eq!(phase, Some(Phase::Asleep));
    let status = entry_status(store.get("demo").await.unwrap());
    assert_eq!(
        status.endpoint, None,
        "the endpoint is withdrawn once its task stopped"
    );
    assert_eq!(
        platform.calls()["UpdateService"],
        2,
        "exactly one scale-up and one scale-down"
    );
    // The ECS and EC2 operations the reconciler declares (snooze::aws_calls::OPERATIONS, which
    // the IAM contract test reads) are exactly the ones this wake and sleep made.
    let made: std::collections::BTreeSet<&str> = platform
        .calls()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(op, _)| op)
        .collect();
    assert_eq!(
        made,
        snooze::aws_calls::declared(snooze::aws_calls::Principal::Reconciler, &["ecs", "ec2"]),
        "update snooze::aws_calls::OPERATIONS (and infra/aws-operations.json, the IAM policy)"
    );
}

/// Route mode on a shared load balancer, end to end on moto (ECS, EC2, ELBv2, DynamoDB): the
/// listener rule is created at the wake endpoint with the service's target group referenced;
/// a visit to the stable address (as a load balancer event reaches the wake Lambda) wakes the
/// service; it is not Ready until its task is a healthy target; then the rule forwards to the
/// service; idle, the rule goes back to the wake endpoint and the service to 0; Asleep.
#[tokio::test]
async fn route_mode_on_a_shared_load_balancer_end_to_end() {
    use aws_sdk_elasticloadbalancingv2 as elb;
    use snooze::clock::SimClock;
    use snooze::model::{Phase, Record, RouteTo, Timestamp};
    use snooze::reconcile::{Reconciler, Scope, StaticProber};
    use snooze::router::alb::AlbRouter;
    use snooze::wake::{WakeConfig, WakeState, handle_by_host};

    const HOST: &str = "demo.example.com";
    let w = World::new("route").await;

    // The shared load balancer: a listener whose default action is the wake group, and the
    // service's target group, which the ECS service registers its tasks in.
    let conf = sdk_config(moto_endpoint()).await;
    let lb = elb::Client::new(&conf);
    let vpc = w
        .ec2
        .describe_subnets()
        .subnet_ids(&w.subnet)
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    let lb_arn = lb
        .create_load_balancer()
        .name(unique("alb"))
        .subnets(&w.subnet)
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let group = |name: String| {
        let lb = lb.clone();
        let vpc = vpc.clone();
        async move {
            lb.create_target_group()
                .name(name)
                .protocol(elb::types::ProtocolEnum::Http)
                .port(80)
                .vpc_id(vpc)
                .target_type(elb::types::TargetTypeEnum::Ip)
                .send()
                .await
                .unwrap()
                .target_groups()[0]
                .target_group_arn()
                .unwrap()
                .to_string()
        }
    };
    let wake_group = group(unique("wake")).await;
    let service_group = group(unique("svc")).await;
    let listener = lb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(elb::types::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            elb::types::Action::builder()
                .r#type(elb::types::ActionTypeEnum::Forward)
                .target_group_arn(&wake_group)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_string();
    w.ecs
        .create_service()
        .cluster(&w.cluster)
        .service_name("demo-svc")
        .task_definition(&w.family)
        .desired_count(0)
        .launch_type(LaunchType::Fargate)
        .network_configuration(w.network())
        .load_balancers(
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn(&service_group)
                .container_name("web")
                .container_port(80)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let weights = || {
        let lb = lb.clone();
        let listener = listener.clone();
        async move {
            let rules = lb
                .describe_rules()
                .listener_arn(&listener)
                .send()
                .await
                .unwrap();
            let rule = rules
                .rules()
                .iter()
                .find(|r| r.is_default() != Some(true))
                .expect("the host's rule");
            rule.actions()[0]
                .forward_config()
                .unwrap()
                .target_groups()
                .iter()
                .map(|t| {
                    (
                        t.target_group_arn().unwrap().to_string(),
                        t.weight().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };

    // The store and the reconciler with the alb router.
    let store = fresh_store("snooze-route").await;
    let platform = Arc::new(w.platform().await);
    let router = Arc::new(AlbRouter::from_sdk_config(
        &conf,
        None,
        listener.clone(),
        wake_group.clone(),
    ));
    let clock = SimClock::new(Timestamp::now());
    let reconciler = Reconciler::new(
        store.clone(),
        platform.clone(),
        Arc::new(StaticProber::new()),
        clock.clone(),
    )
    .with_router(router.clone());
    let mut record = Record::test("demo")
        .idle_timeout(Duration::from_secs(60))
        .routed_at(HOST);
    record.spec.target = w.target("demo-svc");
    store.apply(&record, None).await.unwrap();
    let pass = || async {
        let report = reconciler.reconcile(Scope::All).await;
        let r = report.record("demo").expect("demo").clone();
        eprintln!(
            "pass: {:?} -> {:?} ({}) scaled {:?} error {:?}",
            r.before, r.after, r.reason, r.scaled, r.error
        );
        assert!(r.error.is_none(), "{r:?}");
        r
    };

    // Asleep: the rule exists, at the wake endpoint, the service's group kept referenced.
    assert_eq!(pass().await.after, Some(Phase::Asleep));
    assert_eq!(
        weights().await,
        vec![(wake_group.clone(), 100), (service_group.clone(), 0)]
    );

    // A visitor opens the stable address: the load balancer sends it to the wake endpoint.
    let wake = WakeState::new(store.clone(), WakeConfig::default());
    let visit = http::Request::builder()
        .uri("/dashboard")
        .header("host", "Demo.Example.com")
        .header("accept", "text/html")
        .header("user-agent", "Mozilla/5.0")
        .body(bytes::Bytes::new())
        .unwrap();
    let page = handle_by_host(&wake, visit).await;
    assert_eq!(page.status(), 200);
    let r = pass().await;
    assert_eq!(
        (r.after, r.scaled),
        (Some(Phase::Waking), Some((0, 1))),
        "{r:?}"
    );

    // The task runs, but is not a target yet: not Ready, the rule still at the wake endpoint.
    let (started, _) = w.schedule("demo-svc", true).await;
    assert_eq!(started.len(), 1);
    for _ in 0..2 {
        clock.advance(Duration::from_secs(5));
        assert_eq!(pass().await.after, Some(Phase::Waking));
    }
    let status = entry_status(store.get("demo").await.unwrap());
    assert!(
        status.message.contains("load balancer health check"),
        "{}",
        status.message
    );
    assert_eq!(weights().await[0].1, 100);

    // ECS registers the task (its private address) in the group, which reports it healthy.
    let observed = platform.observe(&[w.target("demo-svc")]).await.unwrap();
    let Observed::Found(s) = &observed[0] else {
        panic!("{observed:?}")
    };
    assert_eq!(
        s.target_group_for(80),
        Some(service_group.as_str()),
        "ECS reports the service's load balancer"
    );
    let ip = s.tasks[0].private_ip.clone().expect("a private address");
    lb.register_targets()
        .target_group_arn(&service_group)
        .targets(
            elb::types::TargetDescription::builder()
                .id(&ip)
                .port(80)
                .build(),
        )
        .send()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(5));
    assert_eq!(pass().await.after, Some(Phase::Ready));
    assert_eq!(
        weights().await,
        vec![(wake_group.clone(), 0), (service_group.clone(), 100)],
        "the stable address reaches the service"
    );
    let route = entry_status(store.get("demo").await.unwrap())
        .route
        .unwrap();
    assert_eq!(
        (route.to, route.backend.as_deref()),
        (RouteTo::Service, Some(service_group.as_str()))
    );

    // Idle: the rule goes back to the wake endpoint in the pass that scales to 0.
    clock.advance(Duration::from_secs(90));
    let r = pass().await;
    assert_eq!(r.scaled, Some((1, 0)), "{r:?}");
    assert_eq!(
        weights().await,
        vec![(wake_group.clone(), 100), (service_group.clone(), 0)]
    );
    let (_, stopped) = w.schedule("demo-svc", true).await;
    assert_eq!(stopped, started);
    let mut phase = r.after;
    for _ in 0..5 {
        if phase == Some(Phase::Asleep) {
            break;
        }
        clock.advance(Duration::from_secs(5));
        phase = pass().await.after;
    }
    assert_eq!(phase, Some(Phase::Asleep));
}

/// A record store over a fresh DynamoDB table (`{prefix}-…`) on the same moto (DynamoDB needs no
/// proxy).
async fn fresh_store(prefix: &str) -> Arc<dyn snooze::store::Store> {
    use snooze::store::{ConnectOptions, DynamoStore};
    let table = unique(prefix);
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto_endpoint().to_owned()),
    };
    DynamoStore::new(snooze::store::dynamo_client(&opts).await, &table)
        .create_table()
        .await
        .unwrap();
    snooze::store::connect(&format!("dynamodb://{table}"), &opts)
        .await
        .unwrap()
}
