//! Pure conversions from ECS/EC2 output into the platform's observation types.
//!
//! The SDK shapes are first reduced to small *views* ([`ServiceView`], [`TaskView`],
//! [`TaskDefinitionView`], [`EniView`]) that hold only the fields snooze reads. The views
//! deserialise from the APIs' own JSON (the output of `aws ecs describe-tasks`, `aws ec2
//! describe-network-interfaces`, ...), so the fixtures under `controller/tests/fixtures/ecs/`
//! are real API shapes, and they are built from the SDK types by the `From` impls below. All
//! decisions about that data (which ENI is the task's, which containers count for health,
//! which tasks belong to a service) are functions of the views alone.

use std::collections::HashMap;

use serde::Deserialize;

use crate::model::Timestamp;
use crate::platform::{
    Arch, DeploymentObservation, DeploymentStatus, Health, LoadBalancerObservation, Observed,
    RolloutState, ServiceObservation, TaskObservation, TaskSize, TaskStatus,
};

/// Attachment `type` of a task's awsvpc network interface.
pub const ENI_ATTACHMENT_TYPE: &str = "ElasticNetworkInterface";
/// Attachment detail that names the ENI id.
pub const ENI_ID_DETAIL: &str = "networkInterfaceId";
/// Attachment detail that carries the private IPv4 address (used when EC2 has not answered).
pub const PRIVATE_IP_DETAIL: &str = "privateIPv4Address";

/// The parts of an ECS `Service` (DescribeServices `services[]`) that snooze reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    /// `serviceName`, e.g. `demo-svc`.
    #[serde(default)]
    pub service_name: String,
    /// `status`: `ACTIVE`, `DRAINING` or `INACTIVE`.
    #[serde(default)]
    pub status: String,
    /// `desiredCount`.
    #[serde(default)]
    pub desired_count: i32,
    /// `runningCount`.
    #[serde(default)]
    pub running_count: i32,
    /// `pendingCount`.
    #[serde(default)]
    pub pending_count: i32,
    /// `deployments[]`.
    #[serde(default)]
    pub deployments: Vec<DeploymentView>,
    /// `loadBalancers[]`: the target groups ECS registers the tasks in.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancerView>,
    /// `taskDefinition`: the service's task definition ARN (the PRIMARY deployment's).
    #[serde(default)]
    pub task_definition: Option<String>,
}

/// One entry of an ECS service's `loadBalancers[]` (only target-group attachments: a Classic
/// Load Balancer's `loadBalancerName` is not read).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerView {
    /// `targetGroupArn`; absent for a Classic Load Balancer.
    #[serde(default)]
    pub target_group_arn: Option<String>,
    /// `containerPort`.
    #[serde(default)]
    pub container_port: Option<i32>,
}

/// The parts of an ECS `Deployment` (DescribeServices `services[].deployments[]`) that snooze
/// reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    /// `id`, e.g. `ecs-svc/1234567890123456789`.
    #[serde(default)]
    pub id: String,
    /// `status`: `PRIMARY`, `ACTIVE` or `INACTIVE`.
    #[serde(default)]
    pub status: String,
    /// `desiredCount`.
    #[serde(default)]
    pub desired_count: i32,
    /// `runningCount`.
    #[serde(default)]
    pub running_count: i32,
    /// `pendingCount`.
    #[serde(default)]
    pub pending_count: i32,
    /// `createdAt`.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// `updatedAt`.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// `rolloutState`: `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    #[serde(default)]
    pub rollout_state: Option<String>,
    /// `taskDefinition`: the ARN of the task definition this deployment runs.
    #[serde(default)]
    pub task_definition: Option<String>,
}

impl DeploymentView {
    /// The observation of this deployment; `None` when its status is not one ECS documents.
    pub fn observation(&self) -> Option<DeploymentObservation> {
        Some(DeploymentObservation {
            id: self.id.clone(),
            status: DeploymentStatus::parse(&self.status)?,
            desired_count: self.desired_count.max(0) as u32,
            running_count: self.running_count.max(0) as u32,
            pending_count: self.pending_count.max(0) as u32,
            created_at: self.created_at,
            updated_at: self.updated_at,
            rollout_state: self.rollout_state.as_deref().and_then(RolloutState::parse),
        })
    }
}

impl From<&aws_sdk_ecs::types::Deployment> for DeploymentView {
    fn from(d: &aws_sdk_ecs::types::Deployment) -> Self {
        Self {
            id: d.id().unwrap_or_default().to_owned(),
            status: d.status().unwrap_or_default().to_owned(),
            desired_count: d.desired_count(),
            running_count: d.running_count(),
            pending_count: d.pending_count(),
            created_at: sdk_time(d.created_at()),
            updated_at: sdk_time(d.updated_at()),
            rollout_state: d.rollout_state().map(|r| r.as_str().to_owned()),
            task_definition: d.task_definition().map(str::to_owned),
        }
    }
}

impl ServiceView {
    /// Whether the service has or wants tasks (`desiredCount`, `runningCount` or
    /// `pendingCount` above zero): only those are worth a ListTasks call.
    pub fn has_or_wants_tasks(&self) -> bool {
        self.desired_count > 0 || self.running_count > 0 || self.pending_count > 0
    }

    /// Whether the service's recently stopped tasks are listed (first page, for their stop
    /// reasons): only when it has fewer running tasks than desired (`runningCount <
    /// desiredCount`; [`crate::platform::listing::wants_stopped_listing`]). A service with all
    /// its tasks running makes no such call.
    pub fn wants_stopped_listing(&self) -> bool {
        crate::platform::listing::wants_stopped_listing(
            u64::try_from(self.desired_count).unwrap_or(0),
            u64::try_from(self.running_count).unwrap_or(0),
        )
    }

    /// `desiredCount`, `runningCount` and `pendingCount` (negative values read as 0), for the
    /// choice between per-service and per-cluster task listings
    /// ([`crate::platform::listing`]).
    pub fn counts(&self) -> crate::platform::listing::Counts {
        let n = |v: i32| u64::try_from(v).unwrap_or(0);
        crate::platform::listing::Counts {
            desired: n(self.desired_count),
            running: n(self.running_count),
            pending: n(self.pending_count),
        }
    }

    /// Whether the service is ACTIVE (neither DRAINING nor INACTIVE).
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("ACTIVE")
    }

    /// The ARN of the task definition the service runs: its PRIMARY deployment's
    /// `taskDefinition`, else the service's own `taskDefinition` (services without the ECS
    /// deployment controller report no deployments). `None` when ECS named neither.
    pub fn primary_task_definition(&self) -> Option<&str> {
        self.deployments
            .iter()
            .find(|d| d.status.eq_ignore_ascii_case("PRIMARY"))
            .and_then(|d| d.task_definition.as_deref())
            .or(self.task_definition.as_deref())
            .filter(|d| !d.is_empty())
    }
}

impl From<&aws_sdk_ecs::types::Service> for ServiceView {
    fn from(s: &aws_sdk_ecs::types::Service) -> Self {
        Self {
            service_name: s.service_name().unwrap_or_default().to_owned(),
            status: s.status().unwrap_or_default().to_owned(),
            desired_count: s.desired_count(),
            running_count: s.running_count(),
            pending_count: s.pending_count(),
            deployments: s.deployments().iter().map(DeploymentView::from).collect(),
            load_balancers: s
                .load_balancers()
                .iter()
                .map(|lb| LoadBalancerView {
                    target_group_arn: lb.target_group_arn().map(str::to_owned),
                    container_port: lb.container_port(),
                })
                .collect(),
            task_definition: s.task_definition().map(str::to_owned),
        }
    }
}

/// One entry of DescribeServices `failures[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureView {
    /// The ARN ECS built for the name asked about, e.g.
    /// `arn:aws:ecs:eu-west-1:123456789012:service/demo-cluster/gone-svc`.
    #[serde(default)]
    pub arn: Option<String>,
    /// e.g. `MISSING`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Optional detail.
    #[serde(default)]
    pub detail: Option<String>,
}

impl FailureView {
    /// The service name the failure is about: the last `/`-separated segment of `arn`.
    pub fn service_name(&self) -> Option<&str> {
        self.arn
            .as_deref()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
    }
}

impl From<&aws_sdk_ecs::types::Failure> for FailureView {
    fn from(f: &aws_sdk_ecs::types::Failure) -> Self {
        Self {
            arn: f.arn().map(str::to_owned),
            reason: f.reason().map(str::to_owned),
            detail: f.detail().map(str::to_owned),
        }
    }
}

/// A DescribeServices answer for one cluster, as views.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServicesView {
    /// `services[]`.
    #[serde(default)]
    pub services: Vec<ServiceView>,
    /// `failures[]`.
    #[serde(default)]
    pub failures: Vec<FailureView>,
}

/// What DescribeServices says about one service, before its tasks are looked at.
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceState {
    /// ACTIVE: list its tasks if it has or wants any.
    Active(ServiceView),
    /// Not an ACTIVE service; the final observation.
    Gone(Observed),
}

/// Classifies DescribeServices output for `service` in `cluster`: ACTIVE, MISSING (under
/// `failures`, or absent from both lists), DRAINING or INACTIVE.
pub fn service_state(cluster: &str, service: &str, answer: &DescribeServicesView) -> ServiceState {
    if let Some(s) = answer.services.iter().find(|s| s.service_name == service) {
        if s.is_active() {
            return ServiceState::Active(s.clone());
        }
        let status = s.status.to_ascii_uppercase();
        let what = if status == "DRAINING" {
            "being deleted"
        } else {
            "deleted"
        };
        return ServiceState::Gone(Observed::Inactive {
            message: format!("service {service} in cluster {cluster} is {status} ({what})"),
            status,
        });
    }
    let failure = answer
        .failures
        .iter()
        .find(|f| f.service_name() == Some(service));
    let message = match failure {
        Some(f)
            if f.reason
                .as_deref()
                .is_some_and(|r| !r.eq_ignore_ascii_case("MISSING")) =>
        {
            let reason = f.reason.as_deref().unwrap_or_default();
            match f.detail.as_deref() {
                Some(d) if !d.is_empty() => {
                    format!(
                        "service {service} in cluster {cluster} cannot be described: {reason}: {d}"
                    )
                }
                _ => {
                    format!("service {service} in cluster {cluster} cannot be described: {reason}")
                }
            }
        }
        _ => format!("service {service} not found in cluster {cluster}"),
    };
    ServiceState::Gone(Observed::Missing { message })
}

/// The parts of an ECS `Task` (DescribeTasks `tasks[]`) that snooze reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// `taskArn`.
    #[serde(default)]
    pub task_arn: String,
    /// `taskDefinitionArn`: the key of the container health-check lookup.
    #[serde(default)]
    pub task_definition_arn: Option<String>,
    /// `group`, `service:<name>` for a service's tasks.
    #[serde(default)]
    pub group: Option<String>,
    /// `lastStatus`.
    #[serde(default)]
    pub last_status: Option<String>,
    /// `desiredStatus`.
    #[serde(default)]
    pub desired_status: Option<String>,
    /// `createdAt`.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// `pullStartedAt`: when the image pull began (Fargate bills from here). moto never
    /// reports it.
    #[serde(default)]
    pub pull_started_at: Option<Timestamp>,
    /// `cpu`: the task's CPU units as a string (`"256"` = 0.25 vCPU). moto never reports it
    /// (the task definition's is used then).
    #[serde(default)]
    pub cpu: Option<String>,
    /// `memory`: the task's memory in MiB as a string (`"512"`). moto never reports it.
    #[serde(default)]
    pub memory: Option<String>,
    /// `startedAt`.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// `stoppedAt`.
    #[serde(default)]
    pub stopped_at: Option<Timestamp>,
    /// `stopCode`.
    #[serde(default)]
    pub stop_code: Option<String>,
    /// `stoppedReason`.
    #[serde(default)]
    pub stopped_reason: Option<String>,
    /// `containers[]` (name and health only).
    #[serde(default)]
    pub containers: Vec<ContainerView>,
    /// `attachments[]`.
    #[serde(default)]
    pub attachments: Vec<AttachmentView>,
}

/// A task's container: name and `healthStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    /// `name`, as in the task definition.
    #[serde(default)]
    pub name: String,
    /// `healthStatus`: `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    #[serde(default)]
    pub health_status: Option<String>,
}

/// A task attachment (`ElasticNetworkInterface`, `Service Connect`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    /// `type`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `status`, e.g. `PRECREATED`, `ATTACHED`, `DELETED`.
    #[serde(default)]
    pub status: Option<String>,
    /// `details[]`, name/value pairs in no promised order.
    #[serde(default)]
    pub details: Vec<DetailView>,
}

/// One name/value pair of an attachment's details.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DetailView {
    /// e.g. `networkInterfaceId`.
    #[serde(default)]
    pub name: String,
    /// e.g. `eni-0a1b2c3d4e5f60001`.
    #[serde(default)]
    pub value: String,
}

/// A DescribeTasks answer, as views (fixture form).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DescribeTasksView {
    /// `tasks[]`.
    #[serde(default)]
    pub tasks: Vec<TaskView>,
}

fn sdk_time(t: Option<&aws_smithy_types::DateTime>) -> Option<Timestamp> {
    t.and_then(|t| t.to_millis().ok())
        .map(Timestamp::from_millis)
}

impl From<&aws_sdk_ecs::types::Task> for TaskView {
    fn from(t: &aws_sdk_ecs::types::Task) -> Self {
        Self {
            task_arn: t.task_arn().unwrap_or_default().to_owned(),
            task_definition_arn: t.task_definition_arn().map(str::to_owned),
            group: t.group().map(str::to_owned),
            last_status: t.last_status().map(str::to_owned),
            desired_status: t.desired_status().map(str::to_owned),
            created_at: sdk_time(t.created_at()),
            pull_started_at: sdk_time(t.pull_started_at()),
            cpu: t.cpu().map(str::to_owned),
            memory: t.memory().map(str::to_owned),
            started_at: sdk_time(t.started_at()),
            stopped_at: sdk_time(t.stopped_at()),
            stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
            stopped_reason: t.stopped_reason().map(str::to_owned),
            containers: t
                .containers()
                .iter()
                .map(|c| ContainerView {
                    name: c.name().unwrap_or_default().to_owned(),
                    health_status: c.health_status().map(|h| h.as_str().to_owned()),
                })
                .collect(),
            attachments: t
                .attachments()
                .iter()
                .map(|a| AttachmentView {
                    kind: a.r#type().unwrap_or_default().to_owned(),
                    status: a.status().map(str::to_owned),
                    details: a
                        .details()
                        .iter()
                        .map(|d| DetailView {
                            name: d.name().unwrap_or_default().to_owned(),
                            value: d.value().unwrap_or_default().to_owned(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl TaskView {
    /// The group a task of ECS service `service` has: `service:<name>`.
    pub fn service_group(service: &str) -> String {
        format!("service:{service}")
    }

    /// Whether this task was started by ECS for `service` (`group == "service:<name>"`).
    pub fn belongs_to(&self, service: &str) -> bool {
        self.group
            .as_deref()
            .and_then(|g| g.strip_prefix("service:"))
            == Some(service)
    }

    fn eni_attachment(&self) -> Option<&AttachmentView> {
        self.attachments
            .iter()
            .find(|a| a.kind == ENI_ATTACHMENT_TYPE)
    }

    fn detail(&self, name: &str) -> Option<&str> {
        self.eni_attachment()?
            .details
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The task's own ENI id: the `networkInterfaceId` detail of the attachment of type
    /// `ElasticNetworkInterface`, wherever both sit in their lists. `None` while the ENI is
    /// still being created (PROVISIONING).
    pub fn eni_id(&self) -> Option<&str> {
        self.detail(ENI_ID_DETAIL)
    }

    /// The `privateIPv4Address` detail of the task's ENI attachment.
    pub fn attachment_private_ip(&self) -> Option<&str> {
        self.detail(PRIVATE_IP_DETAIL)
    }
}

/// The parts of a task definition that decide health: the names of its essential
/// containers that define a health check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthChecked {
    /// Container names, in definition order.
    pub essential_with_check: Vec<String>,
}

/// What snooze keeps of one task definition revision (cached per ARN by the platform for
/// its lifetime: a revision never changes): which containers decide health, the CPU
/// architecture, and the task-level size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DefinitionFacts {
    /// The essential containers that define a health check.
    pub health: HealthChecked,
    /// `runtimePlatform.cpuArchitecture`; `X86_64` when the definition names none (Fargate's
    /// default) or names one snooze does not know.
    pub arch: Arch,
    /// The definition's task-level `cpu`/`memory` with [`DefinitionFacts::arch`]; `None` when
    /// either is absent or unreadable (EC2-only definitions may leave them out).
    pub size: Option<TaskSize>,
}

/// A task definition as DescribeTaskDefinition returns it (fixture form).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionView {
    /// `taskDefinitionArn`.
    #[serde(default)]
    pub task_definition_arn: String,
    /// `containerDefinitions[]`.
    #[serde(default)]
    pub container_definitions: Vec<ContainerDefinitionView>,
    /// Task-level `cpu`, CPU units as a string (`"256"`).
    #[serde(default)]
    pub cpu: Option<String>,
    /// Task-level `memory`, MiB as a string (`"512"`).
    #[serde(default)]
    pub memory: Option<String>,
    /// `runtimePlatform`.
    #[serde(default)]
    pub runtime_platform: Option<RuntimePlatformView>,
}

/// A task definition's `runtimePlatform`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatformView {
    /// `cpuArchitecture`: `X86_64` or `ARM64`.
    #[serde(default)]
    pub cpu_architecture: Option<String>,
}

/// vCPUs of an ECS `cpu` value: CPU units (`"256"` = 0.25 vCPU), or the `"0.25 vCPU"` form
/// task definitions accept at registration. `None` for anything else, zero or negative.
pub fn parse_vcpu(cpu: &str) -> Option<f64> {
    let s = cpu.trim();
    let lower = s.to_ascii_lowercase();
    let v = match lower.strip_suffix("vcpu") {
        Some(n) => n.trim().parse::<f64>().ok()?,
        None => s.parse::<f64>().ok()? / 1024.0,
    };
    (v.is_finite() && v > 0.0).then_some(v)
}

/// GB (GiB, as Fargate prices memory) of an ECS `memory` value: MiB (`"512"` = 0.5), or the
/// `"0.5 GB"` form task definitions accept at registration. `None` for anything else, zero or
/// negative.
pub fn parse_memory_gb(memory: &str) -> Option<f64> {
    let s = memory.trim();
    let lower = s.to_ascii_lowercase();
    let v = match lower.strip_suffix("gb") {
        Some(n) => n.trim().parse::<f64>().ok()?,
        None => s.parse::<f64>().ok()? / 1024.0,
    };
    (v.is_finite() && v > 0.0).then_some(v)
}

/// The size of `cpu`/`memory` (ECS strings) with `arch`; `None` unless both parse.
pub fn task_size(cpu: Option<&str>, memory: Option<&str>, arch: Arch) -> Option<TaskSize> {
    Some(TaskSize {
        vcpu: parse_vcpu(cpu?)?,
        memory_gb: parse_memory_gb(memory?)?,
        arch,
    })
}

/// One container definition: name, `essential` (default true), whether it has a `healthCheck`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinitionView {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `essential`; ECS treats an absent value as `true`.
    #[serde(default)]
    pub essential: Option<bool>,
    /// `healthCheck`, only its presence matters.
    #[serde(default)]
    pub health_check: Option<serde_json::Value>,
}

impl TaskDefinitionView {
    /// What the platform caches of this revision: health-check containers, architecture, size.
    pub fn facts(&self) -> DefinitionFacts {
        let arch = self
            .runtime_platform
            .as_ref()
            .and_then(|r| r.cpu_architecture.as_deref())
            .and_then(Arch::parse)
            .unwrap_or_default();
        DefinitionFacts {
            health: self.health_checked(),
            arch,
            size: task_size(self.cpu.as_deref(), self.memory.as_deref(), arch),
        }
    }

    /// The essential containers that define a health check.
    pub fn health_checked(&self) -> HealthChecked {
        HealthChecked {
            essential_with_check: self
                .container_definitions
                .iter()
                .filter(|c| c.essential.unwrap_or(true) && c.health_check.is_some())
                .map(|c| c.name.clone())
                .collect(),
        }
    }
}

impl From<&aws_sdk_ecs::types::TaskDefinition> for TaskDefinitionView {
    fn from(d: &aws_sdk_ecs::types::TaskDefinition) -> Self {
        Self {
            task_definition_arn: d.task_definition_arn().unwrap_or_default().to_owned(),
            container_definitions: d
                .container_definitions()
                .iter()
                .map(|c| ContainerDefinitionView {
                    name: c.name().unwrap_or_default().to_owned(),
                    essential: c.essential(),
                    // Only presence matters; the SDK shape has no serde, so mark it.
                    health_check: c.health_check().map(|_| serde_json::Value::Bool(true)),
                })
                .collect(),
            cpu: d.cpu().map(str::to_owned),
            memory: d.memory().map(str::to_owned),
            runtime_platform: d.runtime_platform().map(|r| RuntimePlatformView {
                cpu_architecture: r.cpu_architecture().map(|a| a.as_str().to_owned()),
            }),
        }
    }
}

/// The health of a task: the combined `healthStatus` of the essential containers that define a
/// health check. Healthy only if all of them are HEALTHY; Unhealthy if any is UNHEALTHY;
/// otherwise Unknown (a container not reported yet is Unknown). `None` when no essential
/// container defines a health check.
pub fn task_health(task: &TaskView, checked: &HealthChecked) -> Option<Health> {
    if checked.essential_with_check.is_empty() {
        return None;
    }
    let mut combined = Health::Healthy;
    for name in &checked.essential_with_check {
        let health = task
            .containers
            .iter()
            .find(|c| &c.name == name)
            .and_then(|c| c.health_status.as_deref())
            .map(|h| match h.to_ascii_uppercase().as_str() {
                "HEALTHY" => Health::Healthy,
                "UNHEALTHY" => Health::Unhealthy,
                _ => Health::Unknown,
            })
            .unwrap_or(Health::Unknown);
        match health {
            Health::Unhealthy => return Some(Health::Unhealthy),
            Health::Unknown => combined = Health::Unknown,
            Health::Healthy => {}
        }
    }
    Some(combined)
}

/// The parts of an EC2 `NetworkInterface` that snooze reads (DescribeNetworkInterfaces
/// `NetworkInterfaces[]`; EC2 JSON is PascalCase).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EniView {
    /// `NetworkInterfaceId`.
    #[serde(default)]
    pub network_interface_id: String,
    /// `PrivateIpAddress` (the primary private IPv4 address).
    #[serde(default)]
    pub private_ip_address: Option<String>,
    /// `Association` (present when a public IP or Elastic IP is associated).
    #[serde(default)]
    pub association: Option<EniAssociationView>,
}

/// `Association` of an ENI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EniAssociationView {
    /// `PublicIp`.
    #[serde(default)]
    pub public_ip: Option<String>,
}

impl EniView {
    /// `Association.PublicIp`, if any.
    pub fn public_ip(&self) -> Option<&str> {
        self.association
            .as_ref()?
            .public_ip
            .as_deref()
            .filter(|s| !s.is_empty())
    }
}

impl From<&aws_sdk_ec2::types::NetworkInterface> for EniView {
    fn from(n: &aws_sdk_ec2::types::NetworkInterface) -> Self {
        Self {
            network_interface_id: n.network_interface_id().unwrap_or_default().to_owned(),
            private_ip_address: n.private_ip_address().map(str::to_owned),
            association: n.association().map(|a| EniAssociationView {
                public_ip: a.public_ip().map(str::to_owned),
            }),
        }
    }
}

/// A DescribeNetworkInterfaces answer, as views (fixture form).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkInterfacesView {
    /// `NetworkInterfaces[]`.
    #[serde(default)]
    pub network_interfaces: Vec<EniView>,
}

/// One task as an observation. `facts` is its task definition's (`None`: unknown definition,
/// then health and size are `None`); `eni` is its ENI as EC2 described it (`None`: not
/// described (yet), then only the attachment's private IP is known). The size is the task's
/// own `cpu`/`memory` (what Fargate bills), else its definition's task-level ones (moto
/// reports no task-level size), with the definition's architecture. Returns `None` for a task
/// whose statuses are missing or not ECS statuses.
pub fn task_observation(
    task: &TaskView,
    facts: Option<&DefinitionFacts>,
    eni: Option<&EniView>,
) -> Option<TaskObservation> {
    let last = TaskStatus::parse(&task.last_status.as_deref()?.to_ascii_uppercase())?;
    let desired = TaskStatus::parse(&task.desired_status.as_deref()?.to_ascii_uppercase())?;
    let mut obs = TaskObservation::new(task.task_arn.clone(), last, desired);
    obs.health = facts.and_then(|f| task_health(task, &f.health));
    obs.size = facts
        .and_then(|f| task_size(task.cpu.as_deref(), task.memory.as_deref(), f.arch).or(f.size));
    obs.created_at = task.created_at;
    obs.pull_started_at = task.pull_started_at;
    obs.started_at = task.started_at;
    obs.stopped_at = task.stopped_at;
    obs.stop_code = task.stop_code.clone().filter(|s| !s.is_empty());
    obs.stopped_reason = task.stopped_reason.clone().filter(|s| !s.is_empty());
    obs.eni_id = task.eni_id().map(str::to_owned);
    // An ENI that EC2 describes under another id is not this task's ENI.
    let eni = eni.filter(|e| Some(e.network_interface_id.as_str()) == task.eni_id());
    obs.public_ip = eni.and_then(|e| e.public_ip()).map(str::to_owned);
    obs.private_ip = eni
        .and_then(|e| e.private_ip_address.as_deref())
        .filter(|s| !s.is_empty())
        .or_else(|| task.attachment_private_ip())
        .map(str::to_owned);
    Some(obs)
}

/// The observation of ACTIVE service `svc`: its counts and those of `tasks` whose group is
/// `service:<name>` (others are dropped; duplicates by ARN are kept once), newest first
/// (`createdAt`, then `startedAt`, descending; unknown times last). `facts` holds the task
/// definitions known, by ARN: the tasks' (health, size) and the PRIMARY deployment's (the
/// service's size; `None` when it is not in `facts`).
pub fn service_observation(
    svc: &ServiceView,
    tasks: &[&TaskView],
    facts: &HashMap<String, DefinitionFacts>,
    enis: &HashMap<String, EniView>,
) -> ServiceObservation {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<TaskObservation> = tasks
        .iter()
        .filter(|t| t.belongs_to(&svc.service_name))
        .filter(|t| seen.insert(t.task_arn.as_str()))
        .filter_map(|t| {
            let c = t.task_definition_arn.as_deref().and_then(|d| facts.get(d));
            let eni = t.eni_id().and_then(|id| enis.get(id));
            task_observation(t, c, eni)
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |t: &TaskObservation| t.created_at.or(t.started_at);
        // Some(_) > None, so descending order puts unknown times last.
        key(b).cmp(&key(a))
    });
    ServiceObservation {
        desired_count: svc.desired_count.max(0) as u32,
        running_count: svc.running_count.max(0) as u32,
        pending_count: svc.pending_count.max(0) as u32,
        tasks: out,
        deployments: svc
            .deployments
            .iter()
            .filter_map(DeploymentView::observation)
            .collect(),
        load_balancers: svc
            .load_balancers
            .iter()
            .filter_map(|lb| {
                Some(LoadBalancerObservation {
                    target_group_arn: lb.target_group_arn.clone()?,
                    container_port: lb.container_port.and_then(|p| u16::try_from(p).ok()),
                })
            })
            .collect(),
        route: Default::default(),
        size: svc
            .primary_task_definition()
            .and_then(|d| facts.get(d))
            .and_then(|f| f.size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &str = include_str!("../../../tests/fixtures/ecs/describe-services.json");
    const TASKS: &str = include_str!("../../../tests/fixtures/ecs/describe-tasks.json");
    const TASK_DEF: &str =
        include_str!("../../../tests/fixtures/ecs/describe-task-definition.json");
    const ENIS: &str = include_str!("../../../tests/fixtures/ecs/describe-network-interfaces.json");

    const DEMO_DEF: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/demo:7";

    fn arn(id: &str) -> String {
        format!(
            "arn:aws:ecs:eu-west-1:123456789012:task/demo-cluster/0000000000000000000000000000{id}"
        )
    }

    fn services() -> DescribeServicesView {
        serde_json::from_str(SERVICES).unwrap()
    }
    fn tasks() -> Vec<TaskView> {
        serde_json::from_str::<DescribeTasksView>(TASKS)
            .unwrap()
            .tasks
    }
    fn task_def() -> TaskDefinitionView {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Out {
            task_definition: TaskDefinitionView,
        }
        serde_json::from_str::<Out>(TASK_DEF)
            .unwrap()
            .task_definition
    }
    fn checked() -> HashMap<String, DefinitionFacts> {
        let def = task_def();
        HashMap::from([(def.task_definition_arn.clone(), def.facts())])
    }
    fn enis() -> HashMap<String, EniView> {
        serde_json::from_str::<DescribeNetworkInterfacesView>(ENIS)
            .unwrap()
            .network_interfaces
            .into_iter()
            .map(|e| (e.network_interface_id.clone(), e))
            .collect()
    }
    fn demo() -> ServiceObservation {
        let ServiceState::Active(svc) = service_state("demo-cluster", "demo-svc", &services())
        else {
            panic!("demo-svc is ACTIVE in the fixture")
        };
        let tasks = tasks();
        let refs: Vec<&TaskView> = tasks.iter().collect();
        service_observation(&svc, &refs, &checked(), &enis())
    }

    #[test]
    fn active_service_counts() {
        let obs = demo();
        assert_eq!(
            (obs.desired_count, obs.running_count, obs.pending_count),
            (1, 1, 0)
        );
    }

    #[test]
    fn deployments_in_ecs_order_unknown_status_left_out() {
        use crate::platform::{DeploymentObservation, DeploymentStatus, RolloutState};
        let obs = demo();
        assert_eq!(
            obs.deployments,
            vec![
                DeploymentObservation {
                    id: "ecs-svc/4000000000000000002".into(),
                    status: DeploymentStatus::Primary,
                    desired_count: 1,
                    running_count: 1,
                    pending_count: 0,
                    created_at: Some("2026-11-29T09:59:58.125Z".parse().unwrap()),
                    updated_at: Some("2026-11-29T10:04:59.500Z".parse().unwrap()),
                    rollout_state: Some(RolloutState::Completed),
                },
                DeploymentObservation {
                    id: "ecs-svc/4000000000000000001".into(),
                    status: DeploymentStatus::Active,
                    desired_count: 0,
                    running_count: 0,
                    pending_count: 0,
                    created_at: Some("2026-11-28T18:00:00Z".parse().unwrap()),
                    updated_at: Some("2026-11-29T10:00:40.500Z".parse().unwrap()),
                    rollout_state: None,
                },
            ]
        );
        assert_eq!(
            obs.primary_deployment().map(|d| d.id.as_str()),
            Some("ecs-svc/4000000000000000002")
        );
    }

    #[test]
    fn sdk_deployment_converts_like_its_json() {
        use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};
        let svc = Service::builder()
            .service_name("demo-svc")
            .status("ACTIVE")
            .desired_count(1)
            .deployments(
                Deployment::builder()
                    .id("ecs-svc/1")
                    .status("PRIMARY")
                    .desired_count(1)
                    .pending_count(1)
                    .created_at(aws_smithy_types::DateTime::from_millis(1_795_000_000_000))
                    .updated_at(aws_smithy_types::DateTime::from_millis(1_795_000_060_250))
                    .rollout_state(DeploymentRolloutState::InProgress)
                    .build(),
            )
            .build();
        let view = ServiceView::from(&svc);
        let obs = service_observation(&view, &[], &HashMap::new(), &HashMap::new());
        let d = obs.primary_deployment().expect("PRIMARY deployment");
        assert_eq!(
            (d.desired_count, d.running_count, d.pending_count),
            (1, 0, 1)
        );
        assert_eq!(
            d.updated_at,
            Some(Timestamp::from_millis(1_795_000_060_250))
        );
        assert_eq!(
            d.created_at,
            Some(Timestamp::from_millis(1_795_000_000_000))
        );
        assert_eq!(
            d.rollout_state,
            Some(crate::platform::RolloutState::InProgress)
        );
    }

    #[test]
    fn missing_service_under_failures_is_missing_with_plain_message() {
        assert_eq!(
            service_state("demo-cluster", "gone-svc", &services()),
            ServiceState::Gone(Observed::Missing {
                message: "service gone-svc not found in cluster demo-cluster".into()
            })
        );
    }

    #[test]
    fn service_absent_from_both_lists_is_missing() {
        assert!(matches!(
            service_state("demo-cluster", "never-asked", &services()),
            ServiceState::Gone(Observed::Missing { .. })
        ));
    }

    #[test]
    fn failure_other_than_missing_keeps_its_reason() {
        let answer = DescribeServicesView {
            services: vec![],
            failures: vec![FailureView {
                arn: Some("arn:aws:ecs:eu-west-1:1:service/c/s".into()),
                reason: Some("AccessDenied".into()),
                detail: Some("not allowed".into()),
            }],
        };
        let ServiceState::Gone(Observed::Missing { message }) = service_state("c", "s", &answer)
        else {
            panic!()
        };
        assert_eq!(
            message,
            "service s in cluster c cannot be described: AccessDenied: not allowed"
        );
    }

    #[test]
    fn draining_and_inactive_are_inactive() {
        for (name, status) in [("draining-svc", "DRAINING"), ("old-svc", "INACTIVE")] {
            let ServiceState::Gone(Observed::Inactive { status: s, message }) =
                service_state("demo-cluster", name, &services())
            else {
                panic!("{name} should be inactive")
            };
            assert_eq!(s, status);
            assert!(
                message.starts_with(&format!(
                    "service {name} in cluster demo-cluster is {status}"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn which_services_list_tasks() {
        let s = services();
        let get = |n: &str| {
            s.services
                .iter()
                .find(|x| x.service_name == n)
                .unwrap()
                .clone()
        };
        // demo-svc runs all the tasks it wants: listed, but no stopped tasks to report.
        assert!(get("demo-svc").has_or_wants_tasks() && !get("demo-svc").wants_stopped_listing());
        let mut short = get("demo-svc");
        short.running_count = 0;
        short.pending_count = 1;
        assert!(short.wants_stopped_listing(), "its task is still starting");
        assert!(!get("idle-svc").has_or_wants_tasks() && !get("idle-svc").wants_stopped_listing());
        assert!(
            get("draining-svc").has_or_wants_tasks()
                && !get("draining-svc").wants_stopped_listing()
        );
        assert_eq!(
            short.counts(),
            crate::platform::listing::Counts {
                desired: 1,
                running: 0,
                pending: 1
            }
        );
    }

    #[test]
    fn only_tasks_of_the_service_group_newest_first() {
        let arns: Vec<String> = demo().tasks.into_iter().map(|t| t.arn).collect();
        // aaa2 created 10:05, aaa3 10:04, aaa1 10:00, aaa4 09:50; bbb1 (idle-svc) and ccc1
        // (family:demo, started by hand) are not demo-svc's.
        assert_eq!(
            arns,
            vec![arn("aaa2"), arn("aaa3"), arn("aaa1"), arn("aaa4")]
        );
    }

    #[test]
    fn eni_found_by_attachment_type_and_detail_name_not_position() {
        let t = tasks()
            .into_iter()
            .find(|t| t.task_arn == arn("aaa1"))
            .unwrap();
        // The first attachment is a Service Connect decoy with its own networkInterfaceId, and
        // networkInterfaceId is the fourth detail of the ENI attachment.
        assert_eq!(t.eni_id(), Some("eni-0a1b2c3d4e5f60001"));
        let obs = demo()
            .tasks
            .into_iter()
            .find(|t| t.arn == arn("aaa1"))
            .unwrap();
        assert_eq!(obs.eni_id.as_deref(), Some("eni-0a1b2c3d4e5f60001"));
        assert_eq!(obs.public_ip.as_deref(), Some("203.0.113.10"));
        assert_eq!(obs.private_ip.as_deref(), Some("10.0.1.23"));
        assert_eq!(obs.last_status, TaskStatus::Running);
        assert_eq!(obs.desired_status, TaskStatus::Running);
        assert_eq!(
            obs.created_at,
            Some("2026-11-29T10:00:01.250Z".parse().unwrap())
        );
        assert_eq!(
            obs.started_at,
            Some("2026-11-29T10:00:40.500Z".parse().unwrap())
        );
    }

    #[test]
    fn health_counts_only_essential_containers_with_a_check() {
        let obs = demo();
        let health = |id: &str| obs.tasks.iter().find(|t| t.arn == arn(id)).unwrap().health;
        // aaa1: web HEALTHY; the UNHEALTHY log-router is not essential, the UNKNOWN agent has
        // no health check, and the task-level healthStatus (UNHEALTHY) is not used.
        assert_eq!(health("aaa1"), Some(Health::Healthy));
        assert_eq!(health("aaa2"), Some(Health::Unknown));
        assert_eq!(health("aaa3"), Some(Health::Unhealthy));
    }

    #[test]
    fn health_none_without_checks_and_unknown_for_unreported_container() {
        let t = TaskView {
            containers: vec![ContainerView {
                name: "web".into(),
                health_status: Some("HEALTHY".into()),
            }],
            ..Default::default()
        };
        assert_eq!(task_health(&t, &HealthChecked::default()), None);
        let two = HealthChecked {
            essential_with_check: vec!["web".into(), "api".into()],
        };
        assert_eq!(task_health(&t, &two), Some(Health::Unknown));
        // A task whose definition could not be read has no health information.
        let mut t = t;
        t.last_status = Some("RUNNING".into());
        t.desired_status = Some("RUNNING".into());
        assert_eq!(task_observation(&t, None, None).unwrap().health, None);
    }

    #[test]
    fn provisioning_task_without_eni_has_no_address() {
        let obs = demo();
        let t = obs.tasks.iter().find(|t| t.arn == arn("aaa2")).unwrap();
        assert_eq!(t.last_status, TaskStatus::Provisioning);
        assert_eq!(
            (
                t.eni_id.as_deref(),
                t.public_ip.as_deref(),
                t.private_ip.as_deref()
            ),
            (None, None, None)
        );
    }

    #[test]
    fn eni_not_yet_described_falls_back_to_attachment_private_ip() {
        let obs = demo();
        let t = obs.tasks.iter().find(|t| t.arn == arn("aaa3")).unwrap();
        assert_eq!(t.eni_id.as_deref(), Some("eni-0a1b2c3d4e5f60003"));
        assert_eq!(t.public_ip, None);
        assert_eq!(t.private_ip.as_deref(), Some("10.0.3.7"));
    }

    #[test]
    fn stopped_task_keeps_stop_code_and_reason() {
        let obs = demo();
        let t = obs.tasks.iter().find(|t| t.arn == arn("aaa4")).unwrap();
        assert_eq!(
            (t.last_status, t.desired_status),
            (TaskStatus::Stopped, TaskStatus::Stopped)
        );
        assert_eq!(t.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(
            t.stopped_reason.as_deref(),
            Some("Essential container in task exited")
        );
        assert_eq!(t.stopped_at, Some("2026-11-29T09:52:10Z".parse().unwrap()));
        assert_eq!(t.private_ip.as_deref(), Some("10.0.2.45"));
        assert_eq!(t.public_ip, None);
    }

    #[test]
    fn an_eni_described_under_another_id_is_ignored() {
        let t = tasks()
            .into_iter()
            .find(|t| t.task_arn == arn("aaa1"))
            .unwrap();
        let decoy = enis().remove("eni-0decoy0000000000").unwrap();
        let obs = task_observation(&t, None, Some(&decoy)).unwrap();
        assert_eq!(obs.public_ip, None);
        assert_eq!(obs.private_ip.as_deref(), Some("10.0.1.23"));
    }

    #[test]
    fn empty_stop_reason_is_none_and_unknown_status_is_skipped() {
        // moto reports stoppedReason "" for running tasks.
        let t = TaskView {
            task_arn: "a".into(),
            last_status: Some("RUNNING".into()),
            desired_status: Some("RUNNING".into()),
            stopped_reason: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(
            task_observation(&t, None, None).unwrap().stopped_reason,
            None
        );
        let odd = TaskView {
            last_status: Some("LEVITATING".into()),
            ..t
        };
        assert_eq!(task_observation(&odd, None, None), None);
    }

    fn size(vcpu: f64, memory_gb: f64, arch: Arch) -> Option<TaskSize> {
        Some(TaskSize {
            vcpu,
            memory_gb,
            arch,
        })
    }

    #[test]
    fn task_definition_facts_read_size_and_architecture() {
        let f = task_def().facts();
        assert_eq!(f.arch, Arch::Arm64);
        assert_eq!(f.size, size(0.25, 0.5, Arch::Arm64));
        assert_eq!(f.health.essential_with_check, vec!["web".to_string()]);
        // No runtimePlatform: Fargate's default, X86_64; no task-level size: unknown.
        let bare = TaskDefinitionView {
            cpu: Some("2048".into()),
            memory: Some("4096".into()),
            ..Default::default()
        };
        assert_eq!(bare.facts().size, size(2.0, 4.0, Arch::X86_64));
        let ec2_only = TaskDefinitionView {
            memory: Some("4096".into()),
            ..Default::default()
        };
        assert_eq!(ec2_only.facts().size, None);
    }

    #[test]
    fn cpu_and_memory_strings_parse_in_both_forms() {
        assert_eq!(parse_vcpu("256"), Some(0.25));
        assert_eq!(parse_vcpu("4096"), Some(4.0));
        assert_eq!(parse_vcpu(" 0.5 vCPU"), Some(0.5));
        assert_eq!(parse_vcpu("1 vcpu"), Some(1.0));
        assert_eq!(parse_memory_gb("512"), Some(0.5));
        assert_eq!(parse_memory_gb("3072"), Some(3.0));
        assert_eq!(parse_memory_gb("2 GB"), Some(2.0));
        for bad in ["", "lots", "-256", "0", "NaN", "inf"] {
            assert_eq!(parse_vcpu(bad), None, "{bad:?}");
            assert_eq!(parse_memory_gb(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tasks_report_pull_start_and_their_own_size() {
        let obs = demo();
        let t = |id: &str| obs.tasks.iter().find(|t| t.arn == arn(id)).unwrap().clone();
        let running = t("aaa1");
        assert_eq!(
            running.pull_started_at,
            Some("2026-11-29T10:00:09.750Z".parse().unwrap())
        );
        // Size from the task's cpu/memory, architecture from its definition's runtimePlatform.
        assert_eq!(running.size, size(0.25, 0.5, Arch::Arm64));
        // A task started with a larger size (overrides) is billed by its own size.
        let big = t("aaa3");
        assert_eq!(big.size, size(1.0, 3.0, Arch::Arm64));
        assert_eq!(
            big.pull_started_at,
            Some("2026-11-29T10:04:12Z".parse().unwrap())
        );
        // Before its pull (PROVISIONING) a task has no pullStartedAt.
        assert_eq!(t("aaa2").pull_started_at, None);
        let stopped = t("aaa4");
        assert_eq!(
            (stopped.pull_started_at, stopped.stopped_at),
            (
                Some("2026-11-29T09:50:08.500Z".parse().unwrap()),
                Some("2026-11-29T09:52:10Z".parse().unwrap())
            )
        );
    }

    #[test]
    fn task_without_own_size_takes_its_definition_and_unknown_definition_has_none() {
        // moto reports no task-level cpu/memory.
        let mut t = tasks()
            .into_iter()
            .find(|t| t.task_arn == arn("aaa1"))
            .unwrap();
        t.cpu = None;
        t.memory = None;
        let facts = task_def().facts();
        let obs = task_observation(&t, Some(&facts), None).unwrap();
        assert_eq!(obs.size, size(0.25, 0.5, Arch::Arm64));
        assert_eq!(task_observation(&t, None, None).unwrap().size, None);
    }

    #[test]
    fn service_size_is_its_primary_deployments_definition() {
        let obs = demo();
        assert_eq!(obs.size, size(0.25, 0.5, Arch::Arm64));
        let s = services();
        let idle = s
            .services
            .iter()
            .find(|x| x.service_name == "idle-svc")
            .unwrap();
        assert_eq!(
            idle.primary_task_definition(),
            Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/idle:2")
        );
        // Its definition was not read: size unknown.
        assert_eq!(
            service_observation(idle, &[], &checked(), &HashMap::new()).size,
            None
        );
        // The PRIMARY deployment's definition wins over the ACTIVE (older) one's.
        let demo_svc = s
            .services
            .iter()
            .find(|x| x.service_name == "demo-svc")
            .unwrap();
        assert_eq!(
            demo_svc.primary_task_definition(),
            Some(DEMO_DEF),
            "{:?}",
            demo_svc.deployments
        );
    }

    #[test]
    fn sdk_shapes_convert_to_the_same_views() {
        use aws_sdk_ecs::types::{
            Attachment, Container, ContainerDefinition, HealthCheck, HealthStatus, KeyValuePair,
            Task, TaskDefinition,
        };
        let task = Task::builder()
            .task_arn(arn("aaa1"))
            .group("service:demo-svc")
            .last_status("RUNNING")
            .desired_status("RUNNING")
            .created_at(aws_smithy_types::DateTime::from_millis(1_795_000_000_250))
            .pull_started_at(aws_smithy_types::DateTime::from_millis(1_795_000_009_000))
            .cpu("512")
            .memory("1024")
            .containers(
                Container::builder()
                    .name("web")
                    .health_status(HealthStatus::Healthy)
                    .build(),
            )
            .attachments(
                Attachment::builder()
                    .r#type("ElasticNetworkInterface")
                    .details(
                        KeyValuePair::builder()
                            .name("privateIPv4Address")
                            .value("10.0.1.23")
                            .build(),
                    )
                    .details(
                        KeyValuePair::builder()
                            .name("networkInterfaceId")
                            .value("eni-1")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let view = TaskView::from(&task);
        assert_eq!(view.eni_id(), Some("eni-1"));
        assert_eq!(
            view.created_at,
            Some(Timestamp::from_millis(1_795_000_000_250))
        );
        assert_eq!(view.containers[0].health_status.as_deref(), Some("HEALTHY"));
        assert_eq!(
            view.pull_started_at,
            Some(Timestamp::from_millis(1_795_000_009_000))
        );
        let def = TaskDefinition::builder()
            .task_definition_arn(DEMO_DEF)
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
                    .health_check(HealthCheck::builder().command("true").build().unwrap())
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("agent")
                    .essential(true)
                    .build(),
            )
            .build();
        let checked = TaskDefinitionView::from(&def).facts();
        assert_eq!(checked.health.essential_with_check, vec!["web".to_string()]);
        assert_eq!(task_health(&view, &checked.health), Some(Health::Healthy));
        let eni = aws_sdk_ec2::types::NetworkInterface::builder()
            .network_interface_id("eni-1")
            .private_ip_address("10.0.1.23")
            .association(
                aws_sdk_ec2::types::NetworkInterfaceAssociation::builder()
                    .public_ip("203.0.113.10")
                    .build(),
            )
            .build();
        assert_eq!(checked.size, size(0.25, 0.5, Arch::Arm64));
        let obs = task_observation(&view, Some(&checked), Some(&EniView::from(&eni))).unwrap();
        assert_eq!(obs.public_ip.as_deref(), Some("203.0.113.10"));
        assert_eq!(obs.size, size(0.5, 1.0, Arch::Arm64));
        assert_eq!(
            obs.pull_started_at,
            Some(Timestamp::from_millis(1_795_000_009_000))
        );
    }
}
