//! Semantic validation of a parsed record: names, ranges, cross-field rules.

use std::fmt;
use std::time::Duration;

use super::{API_VERSION, Access, KIND, Record, RoutingMode, Target, normalize_host};

/// Highest value `spec.maxReplicas` may raise the replica limit to.
pub const MAX_REPLICAS_CEILING: u32 = 1000;

/// One problem with a record: the dotted path of the field and what is wrong with it.
///
/// Displays as `spec.idleTimeout: 30s is below the minimum of 1m`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, e.g. `spec.endpoint.port` or `metadata.name`.
    pub path: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl FieldError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Checks that `name` is a DNS label: 1–63 characters of `a-z`, `0-9` and `-`, starting and
/// ending with a letter or digit. Returns the reason when it is not.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if name.len() > 63 {
        return Err(format!(
            "{name:?} is {} characters; at most 63 allowed",
            name.len()
        ));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if let Some(bad) = name.chars().find(|c| !ok_char(*c)) {
        return Err(format!(
            "{name:?} contains {bad:?}; use lowercase letters, digits and '-' (a DNS label)"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "{name:?} must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// `spec.routing`: `route` needs a host; a host must be a DNS name without port, scheme or path.
fn check_routing(errors: &mut Vec<FieldError>, r: &Record) {
    let routing = &r.spec.routing;
    match (&routing.host, routing.mode) {
        (None, RoutingMode::Route) => errors.push(FieldError::new(
            "spec.routing.host",
            "mode route needs a host: the stable address, e.g. demo.example.com (demo.localhost \
             for snoozectl dev)",
        )),
        (None, RoutingMode::Redirect) => {}
        (Some(host), _) => {
            let bare = !host.contains(':') && !host.contains('/');
            if !bare || normalize_host(host).is_none() {
                errors.push(FieldError::new(
                    "spec.routing.host",
                    format!(
                        "{host:?} is not a DNS name; give a host name only (letters, digits, '-' \
                         and '.'), without scheme, port or path, e.g. demo.example.com"
                    ),
                ));
            }
        }
    }
}

fn check_range(
    errors: &mut Vec<FieldError>,
    path: &str,
    value: Duration,
    min: Duration,
    max: Duration,
) {
    let show = |d: Duration| super::HumanDuration(d).to_string();
    if value < min {
        errors.push(FieldError::new(
            path,
            format!("{} is below the minimum of {}", show(value), show(min)),
        ));
    } else if value > max {
        errors.push(FieldError::new(
            path,
            format!("{} is above the maximum of {}", show(value), show(max)),
        ));
    }
}

fn check_path(errors: &mut Vec<FieldError>, path: &str, value: &str) {
    if !value.starts_with('/') || value.starts_with("//") || value.contains('\\') {
        errors.push(FieldError::new(
            path,
            format!("{value:?} must start with a single '/'"),
        ));
    }
}

fn check_port(errors: &mut Vec<FieldError>, path: &str, port: u16) {
    if port == 0 {
        errors.push(FieldError::new(path, "0 is not a port; use 1-65535"));
    }
}

/// Validates a parsed record and returns every problem found (empty when valid).
///
/// Rules: `apiVersion: snooze/v1`, `kind: Service`, `metadata.name` a DNS label,
/// `spec.replicas` in 0..=`maxReplicas` (default 10, at most 1000), `idleTimeout` 1m–24h,
/// `wakeTimeout` 30s–30m, ports 1–65535, paths start with one `/`, `wake.access: token` needs a
/// 64-hex-digit `tokenSha256`, a readiness probe timeout of 100ms–30s, non-empty target fields,
/// group names and `dependsOn` names DNS labels listed once, no dependency on itself,
/// `dependsOn` and `optional` only with `groups`.
pub fn validate(r: &Record) -> Vec<FieldError> {
    let mut e = Vec::new();
    if r.api_version != API_VERSION {
        e.push(FieldError::new(
            "apiVersion",
            format!("{:?} is not supported; use {API_VERSION}", r.api_version),
        ));
    }
    if r.kind != KIND {
        e.push(FieldError::new(
            "kind",
            format!("{:?} is not supported; use {KIND}", r.kind),
        ));
    }
    if let Err(msg) = validate_name(&r.metadata.name) {
        e.push(FieldError::new("metadata.name", msg));
    }
    for key in r.metadata.labels.keys() {
        if key.is_empty() || key.len() > 63 {
            e.push(FieldError::new(
                format!("metadata.labels.{key}"),
                "label keys are 1-63 characters",
            ));
        }
    }
    let s = &r.spec;
    match &s.target {
        Target::Ecs(t) => {
            if t.cluster.trim().is_empty() {
                e.push(FieldError::new(
                    "spec.target.ecs.cluster",
                    "must not be empty",
                ));
            }
            if t.service.trim().is_empty() {
                e.push(FieldError::new(
                    "spec.target.ecs.service",
                    "must not be empty",
                ));
            }
        }
        Target::Local(t) => {
            if t.command.trim().is_empty() {
                e.push(FieldError::new(
                    "spec.target.local.command",
                    "must not be empty",
                ));
            }
            check_port(&mut e, "spec.target.local.port", t.port);
        }
    }
    let max = s.max_replicas();
    if max > MAX_REPLICAS_CEILING {
        e.push(FieldError::new(
            "spec.maxReplicas",
            format!("{max} is above the ceiling of {MAX_REPLICAS_CEILING}"),
        ));
    }
    if s.replicas > max {
        let hint = if s.max_replicas.is_none() {
            "; raise spec.maxReplicas explicitly to allow more"
        } else {
            ""
        };
        e.push(FieldError::new(
            "spec.replicas",
            format!("{} is above the maximum of {max}{hint}", s.replicas),
        ));
    }
    check_range(
        &mut e,
        "spec.idleTimeout",
        s.idle_timeout.get(),
        Duration::from_secs(60),
        Duration::from_secs(24 * 3600),
    );
    check_range(
        &mut e,
        "spec.wakeTimeout",
        s.wake_timeout.get(),
        Duration::from_secs(30),
        Duration::from_secs(30 * 60),
    );
    if let Some(max_awake) = s.max_awake {
        check_range(
            &mut e,
            "spec.maxAwake",
            max_awake.get(),
            Duration::from_secs(60),
            Duration::from_secs(31 * 24 * 3600),
        );
    }
    if let Some(budget) = s.budget
        && (budget.is_nan() || budget < 0.0)
    {
        e.push(FieldError::new(
            "spec.budget",
            format!("{budget} is negative; give the monthly budget in dollars, 0 or more"),
        ));
    }
    if let Some(port) = s.endpoint.port {
        check_port(&mut e, "spec.endpoint.port", port);
    }
    check_routing(&mut e, r);
    check_path(&mut e, "spec.endpoint.path", &s.endpoint.path);
    if let Some(get) = s.readiness.as_ref().and_then(|r| r.http_get.as_ref()) {
        check_path(&mut e, "spec.readiness.httpGet.path", &get.path);
        if let Some(p) = get.port {
            check_port(&mut e, "spec.readiness.httpGet.port", p);
        }
        check_range(
            &mut e,
            "spec.readiness.httpGet.timeout",
            get.timeout.get(),
            Duration::from_millis(100),
            Duration::from_secs(30),
        );
    }
    match (&s.wake.access, &s.wake.token_sha256) {
        (Access::Token, None) => e.push(FieldError::new(
            "spec.wake.tokenSha256",
            "required when spec.wake.access is token (lowercase hex SHA-256 of the token)",
        )),
        (_, Some(h)) if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) => {
            e.push(FieldError::new(
                "spec.wake.tokenSha256",
                "must be 64 hex digits (sha256sum of the token)",
            ))
        }
        _ => {}
    }
    if let Some(title) = &s.page.title
        && title.chars().count() > 200
    {
        e.push(FieldError::new("spec.page.title", "at most 200 characters"));
    }
    if let Some(schedule) = &s.schedule {
        e.extend(schedule.validate("spec.schedule"));
    }
    check_groups(&mut e, r);
    e
}

/// `spec.groups`, `spec.dependsOn`, `spec.optional`, as far as one record shows them: names
/// are DNS labels, none twice, no dependency on itself, `dependsOn` and `optional` only with
/// `groups`. What needs the other records (a dependency outside every shared group, a missing
/// one, a cycle) is checked by [`crate::reconcile::group::Groups::problems`].
fn check_groups(errors: &mut Vec<FieldError>, r: &Record) {
    let s = &r.spec;
    let mut names = |field: &str, list: &[String]| {
        for (i, name) in list.iter().enumerate() {
            let path = format!("spec.{field}[{i}]");
            if let Err(msg) = validate_name(name) {
                errors.push(FieldError::new(path, msg));
            } else if list[..i].contains(name) {
                errors.push(FieldError::new(path, format!("{name:?} is listed twice")));
            } else if field == "dependsOn" && *name == r.metadata.name {
                errors.push(FieldError::new(
                    path,
                    format!("{name:?} is this record; a record cannot depend on itself"),
                ));
            }
        }
    };
    names("groups", &s.groups);
    names("dependsOn", &s.depends_on);
    if s.groups.is_empty() {
        if !s.depends_on.is_empty() {
            errors.push(FieldError::new(
                "spec.dependsOn",
                "needs spec.groups: a record depends only on members of its own groups",
            ));
        }
        if s.optional {
            errors.push(FieldError::new(
                "spec.optional",
                "needs spec.groups: only a group member can be optional",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HumanDuration, Record};

    #[test]
    fn names_must_be_dns_labels() {
        assert!(validate_name("demo-1").is_ok());
        assert!(validate_name("a").is_ok());
        assert!(validate_name(&"a".repeat(63)).is_ok());
        assert!(
            validate_name(&"a".repeat(64))
                .unwrap_err()
                .contains("64 characters")
        );
        assert!(validate_name("Demo").unwrap_err().contains("'D'"));
        assert!(validate_name("a/b").unwrap_err().contains("'/'"));
        assert!(validate_name("-a").is_err());
        assert!(validate_name("").is_err());
    }

    #[test]
    fn group_fields_are_checked_with_paths() {
        let errs =
            |r: &Record| -> Vec<String> { validate(r).iter().map(|e| e.to_string()).collect() };
        let ok = Record::test("web")
            .in_groups(&["preview-1", "shared"])
            .depends_on(&["api", "db"])
            .optional(true);
        assert_eq!(errs(&ok), Vec::<String>::new());
        let bad = Record::test("web")
            .in_groups(&["preview-1", "Preview_2", "preview-1", ""])
            .depends_on(&["api", "web", "api", "-x"]);
        assert_eq!(
            errs(&bad),
            vec![
                "spec.groups[1]: \"Preview_2\" contains 'P'; use lowercase letters, digits and '-' (a DNS label)",
                "spec.groups[2]: \"preview-1\" is listed twice",
                "spec.groups[3]: name is empty",
                "spec.dependsOn[1]: \"web\" is this record; a record cannot depend on itself",
                "spec.dependsOn[2]: \"api\" is listed twice",
                "spec.dependsOn[3]: \"-x\" must start and end with a letter or digit",
            ]
        );
        let lonely = Record::test("web").depends_on(&["api"]).optional(true);
        assert_eq!(
            errs(&lonely),
            vec![
                "spec.dependsOn: needs spec.groups: a record depends only on members of its own groups",
                "spec.optional: needs spec.groups: only a group member can be optional",
            ]
        );
    }

    #[test]
    fn ranges_are_checked_with_paths() {
        let mut r = Record::test("demo");
        r.spec.replicas = 11;
        r.spec.idle_timeout = HumanDuration::from_secs(30);
        r.spec.wake_timeout = HumanDuration::from_mins(31);
        r.spec.endpoint.port = Some(0);
        let errs: Vec<String> = validate(&r).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "spec.replicas: 11 is above the maximum of 10; raise spec.maxReplicas explicitly to allow more",
                "spec.idleTimeout: 30s is below the minimum of 1m",
                "spec.wakeTimeout: 31m is above the maximum of 30m",
                "spec.endpoint.port: 0 is not a port; use 1-65535",
            ]
        );
        r.spec.max_replicas = Some(20);
        r.spec.idle_timeout = HumanDuration::from_mins(1);
        r.spec.wake_timeout = HumanDuration::from_secs(30);
        r.spec.endpoint.port = Some(65535);
        assert_eq!(validate(&r), vec![]);
    }
}
