//! The service record: `apiVersion: snooze/v1`, `kind: Service`.
//!
//! A record has four sections, each with one owner (DESIGN.md §2):
//!
//! | section    | owner                                   | type         |
//! |------------|-----------------------------------------|--------------|
//! | `metadata` | operators (`snoozectl apply/edit`)      | [`Metadata`] |
//! | `spec`     | operators                               | [`Spec`]     |
//! | `desired`  | wake endpoint, activity agent, `snoozectl wake/sleep` | [`Desired`] |
//! | `status`   | the reconciler only                     | [`Status`]   |
//!
//! Parsing ([`parse_manifests`]) and validation ([`validate`]) report every problem with its
//! path, e.g. `spec.idleTimeout: "15 mintues" is not a duration; try 15m, 90s or 1h`.

pub mod group;
pub mod ledger;
mod parse;
pub mod schedule;
mod time;
mod validate;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(feature = "aws")]
pub(crate) use parse::dotted;
pub use parse::{FieldPath, ManifestError, parse_manifests, parse_record_value, read_stored};
pub use time::{HumanDuration, Timestamp};
pub use validate::{FieldError, MAX_REPLICAS_CEILING, validate, validate_name};

/// The only `apiVersion` this version of snooze reads and writes.
pub const API_VERSION: &str = "snooze/v1";
/// The only `kind` of record.
pub const KIND: &str = "Service";

/// One managed service: the whole record as operators see it (`snoozectl get -o yaml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
#[schemars(title = "snooze Service record")]
pub struct Record {
    /// Always `snooze/v1`.
    pub api_version: String,
    /// Always `Service`.
    pub kind: String,
    /// Name, labels and the bookkeeping the store maintains.
    pub metadata: Metadata,
    /// What operators want. Validated before it is stored.
    pub spec: Spec,
    /// Timestamped facts written by the wake endpoint, the activity agent and `snoozectl wake/sleep`.
    #[serde(default, skip_serializing_if = "Desired::is_empty")]
    pub desired: Desired,
    /// What the reconciler last observed and decided. Absent until the first reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Fields of the stored item that this version does not know (dotted paths such as
    /// `spec.routing`, outside `status`), found when a store read it; never stored. A newer
    /// snooze wrote them: the record is managed on what this version understands and the
    /// reconciler reports them as the `UnknownFields` condition. Always empty for a manifest,
    /// where an unknown field is an error ([`parse_manifests`]).
    #[serde(skip)]
    pub unknown_fields: Vec<String>,
}

/// Identity and bookkeeping. `name` and `labels` come from the operator; the other fields
/// are maintained by the store and ignored on `apply`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Metadata {
    /// The record's key: a DNS label (`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`), at most 63 characters.
    pub name: String,
    /// Free-form key/value labels, e.g. `team: web`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Incremented by the store on every change of `spec` (starts at 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// Opaque version for compare-and-swap, incremented by the store on every spec write.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resource_version: u64,
    /// Version of `status`, incremented by the store on every status write (0 = no status
    /// written yet). The reconciler publishes a status only if this is still the version it
    /// read ([`crate::store::StatusGuard`]), so a pass that computed its status from an older
    /// read (an overlapping Lambda invocation, a second reconciler) cannot overwrite a newer
    /// one. Ignored on `apply`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub status_version: u64,
    /// When the record was first stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Timestamp>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// What an operator wants for one service. Unknown fields are errors in a manifest; in a stored
/// record (written by a newer snooze) they are kept and reported ([`Record::unknown_fields`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Spec {
    /// Where the service runs: exactly one of `ecs` or `local`, written as a one-key map
    /// (`target: {ecs: {cluster: c, service: s}}`).
    #[serde(with = "serde_yaml_ng::with::singleton_map")]
    #[schemars(with = "Target")]
    pub target: Target,
    /// `auto` (default): wake on request, sleep when idle; `on`: always awake; `off`: always asleep.
    #[serde(default)]
    pub mode: Mode,
    /// The ECS `desiredCount` while awake. Default 1; range 0..=`maxReplicas`.
    #[serde(default = "default_replicas", deserialize_with = "de_count")]
    pub replicas: u32,
    /// Upper bound for `replicas`. Default 10; raise it explicitly (up to 1000) for larger services.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_count"
    )]
    pub max_replicas: Option<u32>,
    /// Asleep after this long without a wake request or activity. Default `15m`; range 1m..=24h.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Phase `Failed` if not Ready this long after a wake. Default `5m`; range 30s..=30m.
    #[serde(default = "default_wake_timeout")]
    pub wake_timeout: HumanDuration,
    /// How visitors reach the task once it is Ready.
    #[serde(default)]
    pub endpoint: EndpointSpec,
    /// Extra readiness checks on top of ECS container health (which is always respected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// Behaviour of the wake endpoint for this service.
    #[serde(default)]
    pub wake: WakeSpec,
    /// The wait page's look.
    #[serde(default)]
    pub page: PageSpec,
    /// How visitors reach the service: by a redirect to the task's own address (default), or
    /// at one stable address that snooze routes ([`RoutingSpec`]).
    #[serde(default, skip_serializing_if = "RoutingSpec::is_default")]
    pub routing: RoutingSpec,
    /// When the service is kept awake (awake windows, woken early by the pre-warm lead so it is
    /// Ready at their start), when wake requests are refused (asleep windows, quiet hours) and
    /// on which dates the awake windows are off; in one IANA time zone. A mapping, or one line
    /// like `Mon-Fri 08:00-18:00 Europe/Berlin`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<crate::model::schedule::Schedule>,
    /// The groups this service belongs to (a preview environment, a stack): each a DNS label
    /// (`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`), no name twice. A wake request on any member,
    /// or activity on a member visitors reach (one no other member of that group depends on),
    /// keeps every member of that member's own groups awake (not transitively through a
    /// member's other groups; ADR 0009). Default: none (`[]`, not written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Names of records in one of this record's `groups` that must be Ready before this one is
    /// scaled up (and are scaled down only after it); transitively. Each a record name, not
    /// this record's own, no name twice, and only with `groups`. A name outside every shared
    /// group or a dependency cycle makes the record Invalid (reported by the reconciler, which
    /// sees the whole table); a name that is no record is waited for (never Ready). Default: none (`[]`, not written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// `true`: this member never holds its groups back: no other member waits for it to be
    /// Ready (to scale up or to send its visitors on), and its failure does not fail the group.
    /// Its own visitors still wait for it. Only with `groups`. Default `false` (not written).
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    /// Guardrail: the longest the service stays awake in one stretch, even with activity
    /// (row 8 of the precedence). When reached it is put to sleep with the `MaxAwake`
    /// condition, and only the next wake request (not activity) starts a new stretch. Awake
    /// windows of `spec.schedule`, `mode: on` and a forced wake are not capped. Range
    /// 1m..=31d. Default: off (not written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_awake: Option<HumanDuration>,
    /// Guardrail: the most the service may cost in one calendar month (UTC), in US dollars,
    /// e.g. `25` or `12.50` (row 4 of the precedence). Once this month's cost in
    /// `status.ledger` reaches it, the service sleeps and wake requests are refused until the
    /// next month (the wait page and JSON say so); `snoozectl wake --force` overrides it and is
    /// recorded. A number of 0 or more. Only priced targets (ECS) have a cost; on a local
    /// target it never applies. Default: none (not written).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_dollars"
    )]
    pub budget: Option<f64>,
}

/// Deserializes `spec.budget`: a number of dollars, or a string holding one (`"12.50"`, `"$12.50"`);
/// `null` (`budget: null`, `budget: ~` or an empty value) is no budget, as an absent field is;
/// anything else is `"abc" is not an amount of dollars; give a number such as 25 or 12.50`.
/// A negative amount passes here and is rejected by [`validate`] with its path.
fn de_opt_dollars<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Amount {
        Number(f64),
        Text(String),
    }
    let bad = |shown: &str| {
        serde::de::Error::custom(format!(
            "{shown} is not an amount of dollars; give a number such as 25 or 12.50"
        ))
    };
    let Some(amount) = Option::<Amount>::deserialize(d).map_err(|_| bad("the value"))? else {
        return Ok(None);
    };
    match amount {
        Amount::Number(n) if n.is_finite() => Ok(Some(n)),
        Amount::Number(n) => Err(bad(&n.to_string())),
        Amount::Text(t) => {
            let trimmed = t.trim();
            let digits = trimmed.strip_prefix('$').unwrap_or(trimmed).trim();
            match digits.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Some(n)),
                _ => Err(bad(&format!("{t:?}"))),
            }
        }
    }
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn default_replicas() -> u32 {
    1
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration::from_mins(15)
}
fn default_wake_timeout() -> HumanDuration {
    HumanDuration::from_mins(5)
}

impl Spec {
    /// `maxReplicas` or its default, 10.
    pub fn max_replicas(&self) -> u32 {
        self.max_replicas.unwrap_or(10)
    }

    /// The stable address of a route-mode record, normalised ([`normalize_host`]): `Some` only
    /// when `spec.routing.mode` is `route` and `spec.routing.host` is a DNS name.
    pub fn route_host(&self) -> Option<String> {
        match self.routing.mode {
            RoutingMode::Route => self.routing.host.as_deref().and_then(normalize_host),
            RoutingMode::Redirect => None,
        }
    }

    /// What this spec claims for itself alone, as `(identity, field path)`: its target
    /// ([`Target::identity`], at `spec.target`) and, in route mode, its stable address
    /// (`host:{host}`, at `spec.routing.host`). Two records with a claim in common would fight
    /// over it (scale one service against each other, or route one host to two services), so
    /// `apply` refuses the second and the reconciler reports it as Invalid.
    pub fn claims(&self) -> Vec<(String, &'static str)> {
        let mut claims = vec![(self.target.identity(), "spec.target")];
        if let Some(host) = self.route_host() {
            claims.push((format!("host:{host}"), "spec.routing.host"));
        }
        claims
    }

    /// The port visitors are sent to (and the readiness probe's default): `spec.endpoint.port`,
    /// else the local process's port for `spec.target.local`, else
    /// [`DEFAULT_ECS_ENDPOINT_PORT`] (80).
    pub fn endpoint_port(&self) -> u16 {
        self.endpoint.port.unwrap_or(match &self.target {
            Target::Local(t) => t.port,
            Target::Ecs(_) => DEFAULT_ECS_ENDPOINT_PORT,
        })
    }
}

/// Where a service runs. Serialised externally tagged: `{ecs: {...}}` or `{local: {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// An ECS service (Fargate, awsvpc).
    Ecs(EcsTarget),
    /// A local process run by `snoozectl dev`.
    Local(LocalTarget),
}

impl Target {
    /// What the target runs, for telling whether two records manage the same thing:
    /// `ecs:{cluster}/{service}` (cluster and service by name, an ARN reduced to its last
    /// segment) or `local:{port}`.
    pub fn identity(&self) -> String {
        let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        match self {
            Target::Ecs(t) => format!("ecs:{}/{}", last(&t.cluster), last(&t.service)),
            Target::Local(t) => format!("local:{}", t.port),
        }
    }
}

/// An ECS service by cluster and service name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct EcsTarget {
    /// Cluster name or ARN, e.g. `demo-cluster`.
    pub cluster: String,
    /// Service name (not ARN), e.g. `demo-svc`.
    pub service: String,
}

/// A process that `snoozectl dev` starts for "desiredCount 1" and stops for 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LocalTarget {
    /// Program to run; a relative path is resolved against `workingDir`, then `PATH`.
    pub command: String,
    /// Arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment; `PORT` is always set to `port`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory; default: the directory `snoozectl dev` runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// TCP port the process listens on (1–65535).
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
}

/// Deserializes a TCP port and names the range when it is out of it (`70000 is not a port; use
/// 1-65535`, where serde alone says `expected u16`). 0 passes here; [`validate`] rejects it
/// with the same words.
fn de_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = i64::deserialize(d)?;
    u16::try_from(n)
        .map_err(|_| serde::de::Error::custom(format!("{n} is not a port; use 1-65535")))
}

/// Deserializes a task count and says what is wrong with a negative or huge one (`-1 is not a
/// task count; use 0 or more`, where serde alone says `expected u32`); [`validate`] checks the
/// upper bound.
fn de_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    u32::try_from(n)
        .map_err(|_| serde::de::Error::custom(format!("{n} is not a task count; use 0 or more")))
}

/// [`de_count`] for an optional count.
fn de_opt_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    de_count(d).map(Some)
}

/// [`de_port`] for an optional port.
fn de_opt_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    de_port(d).map(Some)
}

/// `spec.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Wake on request, sleep after `idleTimeout` without activity.
    #[default]
    Auto,
    /// Always awake (pinned on).
    On,
    /// Always asleep (pinned off); the wake endpoint says so and wakes nothing.
    Off,
}

/// `spec.endpoint`: the URL visitors are redirected to is
/// `{scheme}://{task address}:{port}{path}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct EndpointSpec {
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// Port on the task (1–65535). Default: `spec.target.local.port` for a local service,
    /// 80 for ECS ([`Spec::endpoint_port`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_port"
    )]
    pub port: Option<u16>,
    /// Path prefix, starting with `/`. Default `/`.
    #[serde(default = "default_path")]
    pub path: String,
    /// Which task address to publish: `public` (default; the ENI's public IP) or `private`.
    #[serde(default)]
    pub address: AddressKind,
}

impl Default for EndpointSpec {
    fn default() -> Self {
        Self {
            scheme: Scheme::Http,
            port: None,
            path: default_path(),
            address: AddressKind::Public,
        }
    }
}

/// `spec.routing`: how visitors reach the service.
///
/// `redirect` (the default): the wake endpoint redirects a visitor to the task's own address
/// (`status.endpoint.url`) once it is Ready; that address changes with every wake. `route`:
/// snooze owns one stable address for the service, `host`; while the service is not Ready,
/// requests to it reach the wake endpoint (wait page, or the JSON answer for API clients), and
/// once it is Ready the router points the same address at the service (`status.route` says
/// where it points now). Locally `snoozectl dev` is that router
/// (`http://{host}:{listen port}/`); on AWS a shared load balancer is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RoutingSpec {
    /// `redirect` (default) or `route`.
    #[serde(default)]
    pub mode: RoutingMode,
    /// The stable address: a DNS name such as `demo.example.com` (`demo.localhost` for
    /// `snoozectl dev`), at most 253 characters, labels of letters, digits and `-`; compared
    /// without case, port or trailing dot. Required for `route`; one record per host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl RoutingSpec {
    /// True for the default (`redirect`, no host): then the field is not written.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `spec.routing.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoutingMode {
    /// Redirect visitors to the task's own address once it is Ready.
    #[default]
    Redirect,
    /// Serve the service at `spec.routing.host`, switched between the wake endpoint and the
    /// service by the router.
    Route,
}

/// A host name as snooze compares it: the `Host` header or `spec.routing.host` without a port
/// (`demo.localhost:8080`), without a trailing dot, in lower case. `None` when what is left is
/// not a DNS name (1–253 characters; labels of 1–63 letters, digits and `-`, not starting or
/// ending with `-`), e.g. an IPv6 literal, an empty string or `a..b`.
pub fn normalize_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let without_port = match raw.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return None,
        None => raw,
    };
    let host = without_port.strip_suffix('.').unwrap_or(without_port);
    let host = host.to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (!host.is_empty() && host.len() <= 253 && host.split('.').all(label_ok)).then_some(host)
}

/// `spec.endpoint.port` when none is given for an ECS service.
pub const DEFAULT_ECS_ENDPOINT_PORT: u16 = 80;

fn default_path() -> String {
    "/".into()
}

/// URL scheme of the endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `http`
    #[default]
    Http,
    /// `https`
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Which address of the task's ENI to publish.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AddressKind {
    /// The ENI's public IP; a task without one is not Ready.
    #[default]
    Public,
    /// The ENI's private IP (for visitors inside the VPC or behind a VPN).
    Private,
}

/// `spec.readiness`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Readiness {
    /// An HTTP GET that must answer 2xx/3xx before the service is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGet>,
}

/// An HTTP readiness probe against the task's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HttpGet {
    /// Path, starting with `/`. Default `/`.
    #[serde(default = "default_path")]
    pub path: String,
    /// Port; default `spec.endpoint.port`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_port"
    )]
    pub port: Option<u16>,
    /// Per-probe timeout. Default `2s`; range 100ms..=30s.
    #[serde(default = "default_probe_timeout")]
    pub timeout: HumanDuration,
}

fn default_probe_timeout() -> HumanDuration {
    HumanDuration::from_secs(2)
}

/// `spec.wake`: how the wake endpoint treats this service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct WakeSpec {
    /// `false` switches the wake endpoint off for this service. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Append the visitor's path and query to the endpoint URL on redirect. Default `true`.
    #[serde(default = "default_true")]
    pub preserve_path: bool,
    /// `public` (default) or `token` (first visit needs `?token=`).
    #[serde(default)]
    pub access: Access,
    /// Lowercase hex SHA-256 of the access token; required when `access: token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    /// User-Agent substrings (case-insensitive) that get the page but never wake. Replaces the
    /// built-in list of bots, link unfurlers and uptime monitors when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_user_agents: Option<Vec<String>>,
}

impl Default for WakeSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            preserve_path: true,
            access: Access::Public,
            token_sha256: None,
            ignore_user_agents: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// `spec.wake.access`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone with the URL may wake the service.
    #[default]
    Public,
    /// A token (`?token=`, then a cookie) is needed.
    Token,
}

/// `spec.page`: the wait page's look.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PageSpec {
    /// Title shown on the wait page; default: the record's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `auto` (default, follows `prefers-color-scheme`), `light` or `dark`.
    #[serde(default)]
    pub theme: Theme,
}

/// Wait page colour scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the browser's `prefers-color-scheme`.
    #[default]
    Auto,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// Facts with timestamps, written by the wake endpoint (`wakeRequestedAt`), the activity agent
/// (`lastActivityAt`) and `snoozectl wake/sleep`. Stored as top-level attributes so IAM
/// `dynamodb:Attributes` can scope each writer to its own attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Desired {
    /// Last wake request (wake endpoint, `snoozectl wake`), debounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_requested_at: Option<Timestamp>,
    /// Last observed use of the running task (activity agent, local stack), debounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<Timestamp>,
    /// Last explicit sleep request (`snoozectl sleep`). Wins over earlier wakes and activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_requested_at: Option<Timestamp>,
    /// Last forced wake (`snoozectl wake --force`, written together with `wakeRequestedAt`):
    /// awake even inside quiet hours (`spec.schedule.asleep`) until a newer sleep request, or
    /// until `idleTimeout` after it and any later activity. Only operators write it; the wake
    /// endpoint never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_forced_at: Option<Timestamp>,
}

impl Desired {
    /// True when no fact is set.
    pub fn is_empty(&self) -> bool {
        self.wake_requested_at.is_none()
            && self.last_activity_at.is_none()
            && self.sleep_requested_at.is_none()
            && self.wake_forced_at.is_none()
    }
    /// The latest of `wakeRequestedAt` and `lastActivityAt`: when the service was last wanted.
    pub fn last_wanted_at(&self) -> Option<Timestamp> {
        self.wake_requested_at.max(self.last_activity_at)
    }
}

/// The lifecycle phase the reconciler publishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// desiredCount 0 and no tasks running.
    #[default]
    Asleep,
    /// Awake wanted; scaling up, tasks starting, or waiting for health.
    Waking,
    /// A task is running, healthy, probed, and its address published.
    Ready,
    /// Scaled to 0; tasks still stopping.
    Sleeping,
    /// Not Ready within `wakeTimeout`, or tasks kept stopping. Scaled back to 0 until a new wake.
    Failed,
    /// The record does not parse or validate; nothing is done to its service.
    Invalid,
}

impl Phase {
    /// The name as stored and shown (`Asleep`, `Waking`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Asleep => "Asleep",
            Phase::Waking => "Waking",
            Phase::Ready => "Ready",
            Phase::Sleeping => "Sleeping",
            Phase::Failed => "Failed",
            Phase::Invalid => "Invalid",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Progress of a wake, in the order the wait page shows it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// A wake was recorded; the reconciler has not acted yet.
    Requested,
    /// `UpdateService(desiredCount)` sent; no task yet.
    Scaling,
    /// A task exists and is PROVISIONING (ENI being attached).
    Provisioning,
    /// The task is PENDING (image pull, container start).
    Pending,
    /// The task is RUNNING; container health or probe not yet passed.
    Running,
    /// Containers HEALTHY (and probe passed); waiting for the address to be published.
    Healthy,
    /// Ready: the endpoint is published.
    Ready,
}

impl Step {
    /// All steps in order.
    pub const ALL: [Step; 7] = [
        Step::Requested,
        Step::Scaling,
        Step::Provisioning,
        Step::Pending,
        Step::Running,
        Step::Healthy,
        Step::Ready,
    ];
    /// Lowercase name as in the status JSON (`requested`, ..., `ready`).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Requested => "requested",
            Step::Scaling => "scaling",
            Step::Provisioning => "provisioning",
            Step::Pending => "pending",
            Step::Running => "running",
            Step::Healthy => "healthy",
            Step::Ready => "ready",
        }
    }
}

/// What the reconciler observed and decided; written by the reconciler only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Current phase.
    pub phase: Phase,
    /// When `phase` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_since: Option<Timestamp>,
    /// `metadata.generation` of the spec this status was computed from.
    #[serde(default)]
    pub observed_generation: u64,
    /// Wake progress while Waking (and `ready` when Ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// desiredCount and task counts as last observed.
    #[serde(default)]
    pub replicas: ReplicaStatus,
    /// The published address; present only while its task is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointStatus>,
    /// Where the stable address points now (`spec.routing.mode: route` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteStatus>,
    /// When the service will be put to sleep if nothing else happens (`mode: auto` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleeps_at: Option<Timestamp>,
    /// The wake attempt in progress or last finished: the `wakeRequestedAt`/activity time it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_started_at: Option<Timestamp>,
    /// The last completed wake and how long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_wake: Option<LastWake>,
    /// The last failure (phase Failed): when it was first seen and why. Kept through the sleep
    /// that follows (when the phase and `message` no longer say it) until the next successful
    /// wake (phase Ready) clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<LastFailure>,
    /// Durations in seconds of the most recent completed wakes (newest last, at most 10); the
    /// wait page's ETA is their median.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_wake_seconds: Vec<f64>,
    /// The record's groups as the reconciler's last pass saw them (only for a record with
    /// `spec.groups`): every member with its phase and step, what this record waits for, and
    /// the group's ETA. Read by the wait page, the JSON status and `snoozectl describe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupStatus>,
    /// What the service was billed and saved, per calendar month (UTC), counted by the
    /// reconciler from the tasks it observes. Survives restarts; an
    /// operator's edit of the spec never resets it. Read by `snoozectl cost`, `get -o wide`
    /// (SAVED) and the budget guardrail.
    #[serde(default, skip_serializing_if = "ledger::Ledger::is_empty")]
    pub ledger: ledger::Ledger,
    /// Conditions, one per `type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// A one-line, human-readable summary (the failure reason when Failed or Invalid).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Reconciler bookkeeping that must survive between passes (drift back-off, failure
    /// latch, missing-service re-check). Not for display.
    #[serde(default, skip_serializing_if = "Memo::is_empty")]
    pub memo: Memo,
}

/// `status.group`: a member's view of its groups, written by the reconciler (ADR 0009).
///
/// Shape (JSON, camelCase): `{"waitingFor": ["db"], "heldBy": [], "readyBy": "2026-…Z",
/// "members": [{"name": "db", "wave": 0, "phase": "Waking", "step": "running", "message": "…"},
/// …]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// What this record's visitors wait for besides the record itself: its dependencies
    /// (`spec.dependsOn`, transitively, optional members excepted) that are not Ready, sorted.
    /// While it is not empty the record is not scaled up (phase Waking) and, when Ready, its
    /// visitors are not sent on. Empty (not written) when nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
    /// Records that depend on this one and still run: it is scaled down only after they
    /// stop, sorted. Empty (not written) when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_by: Vec<String>,
    /// When every required member of the record's groups should be Ready: now plus the
    /// longest path, along the dependency order, of the members' remaining wake times (each a
    /// member's median `recentWakeSeconds` minus what has elapsed of its wake), whole seconds.
    /// `None` while a member that is not Ready has no measured wake; the pass's time when all
    /// are Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_by: Option<Timestamp>,
    /// The members of the record's groups and the records they depend on (itself included), in
    /// start order: by `wave`, then name.
    #[serde(default)]
    pub members: Vec<GroupMemberStatus>,
}

/// One member in [`GroupStatus::members`], as the pass decided it (or as stored, for a
/// member the pass did not decide).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMemberStatus {
    /// The member's record name.
    pub name: String,
    /// Its start wave: 0 for a member depending on nothing, else one more than the highest wave
    /// of what it depends on; members on a dependency cycle get the last wave plus one.
    #[serde(default)]
    pub wave: u32,
    /// Its phase; `None` (not written) when it has no status yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Its wake progress while Waking (`ready` when Ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// Its status message (why it failed, what it waits for), one line; empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// `spec.optional`: nobody waits for it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
}

/// `status.memo`: what the reconciler must remember between passes, written by it alone.
///
/// Stored as a JSON object with these keys (all optional; absent when unset):
///
/// | key                | value     | meaning                                              |
/// |--------------------|-----------|------------------------------------------------------|
/// | `lastSet`          | number    | the desiredCount snooze last set or adopted          |
/// | `failedAt`         | timestamp | when the current `Failed` latch was set              |
/// | `driftCorrections` | number    | drift corrections in the current drift episode       |
/// | `driftCorrectedAt` | timestamp | when the last drift correction was sent              |
/// | `missingCheckedAt` | timestamp | when the service was last seen MISSING/INACTIVE      |
/// | `scaledDownAt`     | timestamp | when snooze last sent a scale-down to 0              |
/// | `scaledUpAt`       | timestamp | when someone else last raised desiredCount           |
/// | `contestedSince`   | timestamp | since when another writer undoes snooze's scale-downs |
/// | `contestRounds`    | number    | rounds of that contest                               |
/// | `awakeSince`       | timestamp | when the current awake stretch began (`spec.maxAwake`) |
/// | `maxAwakeAt`       | timestamp | when `spec.maxAwake` last ended a stretch            |
/// | `forcedOverBudgetAt` | timestamp | the forced wake last counted past the budget       |
///
/// Keys this version does not know (written by a newer one) are kept as they are in
/// [`Memo::other`], so a rewrite never drops them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Memo {
    /// The desiredCount snooze last set or adopted (drift is a difference from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_set: Option<u32>,
    /// When the current `Failed` latch was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Timestamp>,
    /// Drift corrections sent in the current drift episode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_corrections: Option<u32>,
    /// When the last drift correction was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_corrected_at: Option<Timestamp>,
    /// When the service was last seen MISSING/INACTIVE (its re-check is due 10 minutes later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_checked_at: Option<Timestamp>,
    /// When snooze last sent a scale-down to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaled_down_at: Option<Timestamp>,
    /// When someone else last raised desiredCount (the PRIMARY deployment's `updatedAt`); it
    /// counts as activity, so a deploy's start is never taken for drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaled_up_at: Option<Timestamp>,
    /// Since when another writer keeps raising desiredCount right after snooze's scale-downs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contested_since: Option<Timestamp>,
    /// Rounds of that contest so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contest_rounds: Option<u32>,
    /// When the current awake stretch began (the pass that first wanted the service awake
    /// after it was asleep); `spec.maxAwake` counts from here. Cleared when it is asleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awake_since: Option<Timestamp>,
    /// When `spec.maxAwake` last ended a stretch: until a wake request newer than this, the
    /// service stays asleep (activity alone does not start a new stretch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_awake_at: Option<Timestamp>,
    /// The forced wake (`desired.wakeForcedAt`) last counted in the month's
    /// `status.ledger` `forcedOverBudget`, so that the passes of one forced wake count it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_over_budget_at: Option<Timestamp>,
    /// Keys of a newer version, kept unchanged.
    #[serde(flatten)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Memo {
    /// True when no key is set (the memo is then not stored at all).
    pub fn is_empty(&self) -> bool {
        self.last_set.is_none()
            && self.failed_at.is_none()
            && self.drift_corrections.is_none()
            && self.drift_corrected_at.is_none()
            && self.missing_checked_at.is_none()
            && self.scaled_down_at.is_none()
            && self.scaled_up_at.is_none()
            && self.contested_since.is_none()
            && self.contest_rounds.is_none()
            && self.awake_since.is_none()
            && self.max_awake_at.is_none()
            && self.forced_over_budget_at.is_none()
            && self.other.is_empty()
    }
}

impl Status {
    /// How long a wake of this service typically takes, in seconds: the median of
    /// `recentWakeSeconds` (non-finite and negative values ignored), else `lastWake.seconds`;
    /// `None` before the first completed wake. The wait page's ETA and a group's ETA
    /// ([`crate::reconcile::group::Groups::eta`]) start from it.
    pub fn typical_wake_seconds(&self) -> Option<f64> {
        ledger::median_seconds(&self.recent_wake_seconds).or(self
            .last_wake
            .as_ref()
            .map(|w| w.seconds)
            .filter(|s| s.is_finite() && *s >= 0.0))
    }

    /// True when visitors may be let in: the phase is `Ready` and the record waits for no
    /// member of its groups (`status.group.waitingFor` empty or no `status.group`). A Ready
    /// record whose dependency is not Ready (again) keeps its visitors on the wait page; the
    /// wake endpoint decides "ready" (redirect, the page's ready state) with this alone.
    pub fn ready_for_visitors(&self) -> bool {
        self.phase == Phase::Ready && self.group.as_ref().is_none_or(|g| g.waiting_for.is_empty())
    }

    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// desiredCount and task counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// The desiredCount the reconciler wants (and last set).
    pub desired: u32,
    /// Tasks RUNNING.
    pub running: u32,
    /// Tasks not yet RUNNING (PROVISIONING, PENDING, ACTIVATING).
    pub pending: u32,
}

/// Where a Ready service can be reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    /// The task's address (public or private IP, or 127.0.0.1 locally).
    pub ip: String,
    /// `{scheme}://{ip}:{port}{path}`.
    pub url: String,
    /// The task this address belongs to; withdrawn when that task stops.
    pub task_arn: String,
}

/// Where a route-mode record's stable address points ([`Status::route`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// The stable address (`spec.routing.host`, normalised).
    pub host: String,
    /// `wake` (the wake endpoint answers: wait page, JSON) or `service`.
    pub to: RouteTo,
    /// The service address the route forwards to while `to` is `service`, `{ip}:{port}`
    /// (`127.0.0.1:8081` locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// When the address was pointed there (kept while it stays).
    pub since: Timestamp,
}

/// What a stable address points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteTo {
    /// The wake endpoint: asleep, waking, or going to sleep.
    Wake,
    /// The service itself: it is Ready.
    Service,
}

impl RouteTo {
    /// `wake` or `service`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteTo::Wake => "wake",
            RouteTo::Service => "service",
        }
    }
}

/// Where a stable address points, as a router sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// The wake endpoint (wait page, JSON answer, wake request).
    Wake,
    /// The service, at its backend: the service's load balancer target group ARN when ECS
    /// reports one for the endpoint port (the `alb` router), else the task's `{ip}:{port}`
    /// (`127.0.0.1:8081` locally).
    Service(String),
}

/// What a router saw of one stable address ([`crate::router::Router::observe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RouteObservation {
    /// Not observed: the record is not in route mode, or observing failed. `decide` then goes
    /// by what `status.route` says was set.
    #[default]
    Unknown,
    /// The router has no route for the host: never created, or removed by someone else.
    Absent,
    /// The route exists and points here.
    At(RouteTarget),
}

impl RouteTarget {
    /// `wake` or `service {backend}`, for messages.
    pub fn describe(&self) -> String {
        match self {
            RouteTarget::Wake => "the wake endpoint".into(),
            RouteTarget::Service(b) => format!("the service at {b}"),
        }
    }
}

/// Timing of a completed wake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastWake {
    /// The wake request (or activity) the attempt answered.
    pub requested_at: Timestamp,
    /// When the service was first seen Ready.
    pub ready_at: Timestamp,
    /// `readyAt - requestedAt` in seconds.
    pub seconds: f64,
}

/// A failure kept after its phase ended ([`Status::last_failure`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastFailure {
    /// When the failure was first decided (the phase became Failed with this message).
    pub at: Timestamp,
    /// Why, in the words `status.message` had, e.g. `not ready within 5m (stuck at pending:
    /// task is PENDING)` or `tasks keep stopping (3 since ...): ...`.
    pub message: String,
}

/// A Kubernetes-style condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// e.g. `Ready`, `Drift`, `ServiceFound`, `Valid`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// CamelCase machine-readable reason, e.g. `TaskHealthy`.
    pub reason: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Timestamp,
}

/// Condition truth value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// Holds.
    True,
    /// Does not hold.
    False,
    /// Not known yet.
    Unknown,
}

/// Anything the store returns from `list`: a record, or an item that does not parse.
// Malformed items are rare and keep their raw item inline; only the common variant is boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A record that parsed (it may still fail [`validate`]).
    Record(Box<Record>),
    /// An item that does not parse as a record (e.g. broken in the DynamoDB console).
    Malformed(Malformed),
}

impl Entry {
    /// The record, when the entry parsed (`None` for [`Entry::Malformed`]).
    pub fn record(&self) -> Option<&Record> {
        match self {
            Entry::Record(r) => Some(r),
            Entry::Malformed(_) => None,
        }
    }

    /// The record's name (the key), whichever the variant.
    pub fn name(&self) -> &str {
        match self {
            Entry::Record(r) => &r.metadata.name,
            Entry::Malformed(m) => &m.name,
        }
    }
}

/// A stored item that is not a valid record, kept with its raw content and the parse error.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    /// The item's key.
    pub name: String,
    /// The raw item as JSON (DynamoDB attribute values converted to plain JSON).
    pub raw: serde_json::Value,
    /// Why it does not parse, with the path of the offending field.
    pub error: String,
    /// The status, if that part still parses (the reconciler reports `Invalid` there).
    pub status: Option<Status>,
    /// The store's version, for `delete`.
    pub resource_version: u64,
    /// The status's version ([`Metadata::status_version`]), for the reconciler's guarded
    /// status write; 0 when unknown.
    pub status_version: u64,
}

impl Record {
    /// True when `record` has a wake request that no pass has acted on yet: `spec.mode` is
    /// `auto`, it is neither awake nor waking (no status yet, or phase Asleep, Sleeping or Failed),
    /// and its `wakeRequestedAt` is later than `status.phaseSince` (when it entered that phase),
    /// than `status.wakeStartedAt` (the attempt a Failed status answered, where set) and than any
    /// `sleepRequestedAt`. A status with neither time counts only when Asleep.
    ///
    /// One rule for the reconciler (`reconcile::classify::wake_unanswered`) and the wake endpoint's
    /// pending-wake view.
    pub fn wake_unanswered(&self) -> bool {
        let record = self;
        let Some(wake) = record.desired.wake_requested_at else {
            return false;
        };
        if record.spec.mode != Mode::Auto
            || record.desired.sleep_requested_at.is_some_and(|s| s >= wake)
        {
            return false;
        }
        match &record.status {
            None => true,
            Some(s) => {
                let resting = matches!(s.phase, Phase::Asleep | Phase::Sleeping | Phase::Failed);
                match (s.phase_since, s.wake_started_at) {
                    // Since when is unknown (a status not written by `decide`): only a record
                    // known to be Asleep is taken to wait for its wake.
                    (None, None) => s.phase == Phase::Asleep,
                    (since, started) => {
                        resting
                            && since.is_none_or(|since| wake > since)
                            && started.is_none_or(|started| wake > started)
                    }
                }
            }
        }
    }

    /// A record with the given name and spec, everything else default.
    pub fn new(name: impl Into<String>, spec: Spec) -> Self {
        Self {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: Metadata {
                name: name.into(),
                ..Metadata::default()
            },
            spec,
            desired: Desired::default(),
            status: None,
            unknown_fields: Vec::new(),
        }
    }

    /// The record's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Row 3 of the precedence (`crate::reconcile::want_in`): while an operator's forced wake
    /// (`desired.wakeForcedAt`) is newer than every sleep request, the time it holds until: the
    /// latest of the forced wake, `lastActivityAt` and `wakeRequestedAt` (visitors let in
    /// during the forced wake keep it going), plus `spec.idleTimeout`. `None` without one, or
    /// when a sleep request came after it. (It may lie in the past.)
    pub fn forced_until(&self) -> Option<Timestamp> {
        let d = &self.desired;
        let forced = d.wake_forced_at?;
        if d.sleep_requested_at.is_some_and(|s| s >= forced) {
            return None;
        }
        let last = forced
            .max(d.last_activity_at.unwrap_or(forced))
            .max(d.wake_requested_at.unwrap_or(forced));
        Some(last.add(self.spec.idle_timeout.get()))
    }

    /// Quiet hours as a visitor meets them (rows 1–5 of the precedence): `mode: auto`, no
    /// forced wake holding at `now`, and `now` inside an asleep window of `spec.schedule` whose
    /// end is not cut short by an awake window's pre-warm lead: when they end. The wake
    /// endpoint and `snoozectl wake` refuse wakes until then; the reconciler keeps the service
    /// asleep. `runner_period` as in [`schedule::schedule_view`].
    pub fn quiet_until(
        &self,
        now: Timestamp,
        runner_period: std::time::Duration,
    ) -> Option<Timestamp> {
        if self.spec.mode != Mode::Auto || self.forced_until().is_some_and(|t| now < t) {
            return None;
        }
        let schedule = self.spec.schedule.as_ref()?;
        schedule::schedule_view(self, now, runner_period)?.quiet_until(schedule, now)
    }

    /// Row 4 of the precedence, the budget guardrail, by itself: `spec.budget` is set, the
    /// target is priced (ECS; a local target has no cost, so never), and the cost of the month
    /// `now` falls in (`status.ledger`, UTC) is known and at or above the budget. Ignores
    /// `spec.mode` and forced wakes (see [`Record::over_budget`]). Nothing counted yet this
    /// month is a cost of 0, so a budget of 0 is reached from the month's start (the service
    /// is never woken by visitors, only by `snoozectl wake --force`) and any other budget is
    /// not. `None` otherwise.
    pub fn budget_reached(&self, now: Timestamp) -> Option<ledger::BudgetReached> {
        let budget = self.spec.budget?;
        if matches!(self.spec.target, Target::Local(_)) {
            return None;
        }
        // Nothing counted yet this month is a cost of 0: a budget of 0 is reached from the
        // start of the month (no billed wake at all), any other budget is not.
        let cost = self
            .status
            .as_ref()
            .and_then(|s| s.ledger.month_of(now))
            .and_then(|m| m.cost)
            .filter(|c| c.is_finite())
            .unwrap_or(0.0);
        if cost < budget {
            return None;
        }
        Some(ledger::BudgetReached {
            month: ledger::month_key(now),
            cost,
            budget,
            until: ledger::next_month_start(now),
        })
    }

    /// The budget guardrail as a visitor meets it (rows 1–4 of the precedence): `mode: auto`,
    /// no forced wake holding at `now`, and [`Record::budget_reached`]. The wake endpoint and
    /// `snoozectl wake` refuse wakes until [`ledger::BudgetReached::until`]; the reconciler
    /// keeps the service asleep (`crate::reconcile::want_in`, row 4).
    pub fn over_budget(&self, now: Timestamp) -> Option<ledger::BudgetReached> {
        if self.spec.mode != Mode::Auto || self.forced_until().is_some_and(|t| now < t) {
            return None;
        }
        self.budget_reached(now)
    }

    /// The wait page title: `spec.page.title`, else the name.
    pub fn title(&self) -> &str {
        self.spec
            .page
            .title
            .as_deref()
            .unwrap_or(&self.metadata.name)
    }
}

impl Spec {
    /// A spec for `target` with every other field at its default.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            mode: Mode::default(),
            replicas: default_replicas(),
            max_replicas: None,
            idle_timeout: default_idle_timeout(),
            wake_timeout: default_wake_timeout(),
            endpoint: EndpointSpec::default(),
            readiness: None,
            wake: WakeSpec::default(),
            page: PageSpec::default(),
            routing: RoutingSpec::default(),
            schedule: None,
            groups: Vec::new(),
            depends_on: Vec::new(),
            optional: false,
            max_awake: None,
            budget: None,
        }
    }
}

/// The JSON Schema of a record, as committed in `manifests/schema/service.schema.json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Record)).expect("schema is JSON")
}

/// Test-data builders (STYLE.md §8): `Record::test("demo").asleep().woken_at(t0)`.
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    impl Record {
        /// A valid record for an ECS service `{name}-svc` in `demo-cluster`, `mode: auto`,
        /// idle 15m, wake timeout 5m, generation 1.
        pub fn test(name: &str) -> Self {
            let mut r = Record::new(
                name,
                Spec::new(Target::Ecs(EcsTarget {
                    cluster: "demo-cluster".into(),
                    service: format!("{name}-svc"),
                })),
            );
            r.metadata.generation = 1;
            r.metadata.resource_version = 1;
            r
        }
        /// Sets `status.phase` to Asleep.
        pub fn asleep(mut self) -> Self {
            self.status = Some(Status {
                phase: Phase::Asleep,
                observed_generation: self.metadata.generation,
                ..Status::default()
            });
            self
        }
        /// Sets `desired.wakeRequestedAt`.
        pub fn woken_at(mut self, t: Timestamp) -> Self {
            self.desired.wake_requested_at = Some(t);
            self
        }
        /// Sets `desired.lastActivityAt`.
        pub fn active_at(mut self, t: Timestamp) -> Self {
            self.desired.last_activity_at = Some(t);
            self
        }
        /// Sets `desired.sleepRequestedAt`.
        pub fn sleep_requested_at(mut self, t: Timestamp) -> Self {
            self.desired.sleep_requested_at = Some(t);
            self
        }
        /// Sets `desired.wakeForcedAt` and `desired.wakeRequestedAt` (`snoozectl wake --force`).
        pub fn forced_at(mut self, t: Timestamp) -> Self {
            self.desired.wake_forced_at = Some(t);
            self.desired.wake_requested_at = Some(t);
            self
        }
        /// Sets `spec.mode`.
        pub fn mode(mut self, m: Mode) -> Self {
            self.spec.mode = m;
            self
        }
        /// Sets `spec.idleTimeout`.
        pub fn idle_timeout(mut self, d: std::time::Duration) -> Self {
            self.spec.idle_timeout = HumanDuration(d);
            self
        }
        /// Sets `spec.wakeTimeout`.
        pub fn wake_timeout(mut self, d: std::time::Duration) -> Self {
            self.spec.wake_timeout = HumanDuration(d);
            self
        }
        /// Sets `spec.routing` to `route` at `host`.
        pub fn routed_at(mut self, host: &str) -> Self {
            self.spec.routing = RoutingSpec {
                mode: RoutingMode::Route,
                host: Some(host.into()),
            };
            self
        }
        /// Sets `spec.groups`.
        pub fn in_groups(mut self, groups: &[&str]) -> Self {
            self.spec.groups = groups.iter().map(|g| g.to_string()).collect();
            self
        }
        /// Sets `spec.dependsOn`.
        pub fn depends_on(mut self, names: &[&str]) -> Self {
            self.spec.depends_on = names.iter().map(|n| n.to_string()).collect();
            self
        }
        /// Sets `spec.optional`.
        pub fn optional(mut self, optional: bool) -> Self {
            self.spec.optional = optional;
            self
        }
        /// Replaces the status.
        pub fn with_status(mut self, s: Status) -> Self {
            self.status = Some(s);
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitors_are_let_in_only_when_ready_and_waiting_for_nothing() {
        let ready = Status {
            phase: Phase::Ready,
            ..Status::default()
        };
        assert!(ready.ready_for_visitors(), "no groups");
        let mut grouped = ready.clone();
        grouped.group = Some(GroupStatus::default());
        assert!(grouped.ready_for_visitors(), "a group, nothing to wait for");
        grouped.group.as_mut().unwrap().waiting_for = vec!["api".into()];
        assert!(!grouped.ready_for_visitors(), "waiting for api");
        let waking = Status {
            phase: Phase::Waking,
            ..Status::default()
        };
        assert!(!waking.ready_for_visitors());
    }

    #[test]
    fn a_target_is_the_same_by_name_or_by_arn() {
        let ecs = |cluster: &str, service: &str| {
            Target::Ecs(EcsTarget {
                cluster: cluster.into(),
                service: service.into(),
            })
            .identity()
        };
        assert_eq!(ecs("demo", "web"), "ecs:demo/web");
        assert_eq!(
            ecs(
                "arn:aws:ecs:eu-west-1:123456789012:cluster/demo",
                "arn:aws:ecs:eu-west-1:123456789012:service/demo/web"
            ),
            "ecs:demo/web"
        );
        assert_ne!(ecs("demo", "web"), ecs("other", "web"));
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    #[test]
    fn the_endpoint_port_defaults_to_the_local_port_or_80() {
        let doc = |target: &str, endpoint: &str| {
            let text = format!(
                "apiVersion: snooze/v1\nkind: Service\nmetadata: {{name: a}}\n\
                 spec:\n  target: {target}\n{endpoint}"
            );
            parse_manifests(&text, "t.yaml").unwrap().remove(0).spec
        };
        let local = "{local: {command: app, port: 8081}}";
        assert_eq!(doc(local, "").endpoint_port(), 8081);
        assert_eq!(
            doc(local, "  endpoint: {port: 9000}\n").endpoint_port(),
            9000
        );
        let ecs = "{ecs: {cluster: c, service: s}}";
        assert_eq!(doc(ecs, "").endpoint_port(), 80);
        assert_eq!(doc(ecs, "  endpoint: {port: 8080}\n").endpoint_port(), 8080);
    }
}
