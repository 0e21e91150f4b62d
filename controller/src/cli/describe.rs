//! `snoozectl describe NAME`: one record in readable form: spec, desired facts (with "3m ago"),
//! status and a conditions table. A record failing validation lists every error; an item that
//! does not parse shows the parse error and the raw stored item.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use super::GlobalArgs;
use super::render::{relative, table, when};
use crate::model::{Access, Entry, Malformed, Mode, Record, Target, Timestamp, validate};
use crate::store::Error as StoreError;

/// Arguments of `snoozectl describe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record to describe.
    pub name: String,
}

/// Runs `snoozectl describe`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let entry = store
        .get(&args.name)
        .await
        .with_context(|| format!("cannot read service {:?}", args.name))?
        .ok_or_else(|| StoreError::NotFound(args.name.clone()))?;
    super::emit(describe(&entry, Timestamp::now()))?;
    Ok(ExitCode::SUCCESS)
}

/// The text `describe` prints for `entry` at time `now`.
pub fn describe(entry: &Entry, now: Timestamp) -> String {
    match entry {
        Entry::Record(r) => describe_record(r, now),
        Entry::Malformed(m) => describe_malformed(m, now),
    }
}

fn field(out: &mut String, indent: usize, label: &str, value: impl std::fmt::Display) {
    let label = format!("{label}:");
    let _ = writeln!(out, "{:indent$}{label:<20}{value}", "");
}

/// The `Schedule:` section: zone, windows, exceptions, where `now` is, the next three
/// transitions in the record's zone and in UTC, and the pre-warm lead with its source (for a
/// runner that requeues exactly; the Lambda adds its schedule period).
fn describe_schedule(out: &mut String, r: &Record, now: Timestamp) {
    let Some(s) = &r.spec.schedule else { return };
    out.push_str("Schedule:\n");
    field(out, 2, "Time zone", &s.time_zone);
    let list = |ws: &[crate::model::schedule::Window]| {
        if ws.is_empty() {
            "<none>".to_string()
        } else {
            ws.iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    field(out, 2, "Awake", list(&s.awake));
    field(out, 2, "Asleep (quiet)", list(&s.asleep));
    if !s.except.is_empty() {
        let except = s
            .except
            .iter()
            .map(|e| {
                let range = if e.last() == e.from {
                    e.from.to_string()
                } else {
                    format!("{} to {}", e.from, e.last())
                };
                if e.reason.is_empty() {
                    range
                } else {
                    format!("{range} ({})", e.reason)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        field(out, 2, "Except", except);
    }
    let Some(view) = crate::model::schedule::schedule_view(r, now, std::time::Duration::ZERO)
    else {
        return;
    };
    let state = view.state;
    let now_text = if let Some(o) = state.quiet() {
        format!("quiet hours until {}", s.local_time(o.end))
    } else if let Some(o) = state.awake {
        format!("inside awake[{}] until {}", o.window, s.local_time(o.end))
    } else if let Some(o) = state.prewarming {
        format!(
            "pre-warming for awake[{}] at {}",
            o.window,
            s.local_time(o.start)
        )
    } else {
        "outside every window".to_string()
    };
    field(out, 2, "Now", now_text);
    let lead = view.lead;
    let source = match lead.source {
        crate::model::schedule::LeadSource::Off => "prewarm: off".to_string(),
        crate::model::schedule::LeadSource::Fixed => "fixed in spec.schedule.prewarm".to_string(),
        crate::model::schedule::LeadSource::Measured {
            percentile,
            samples,
        } => format!("p{percentile} of the last {samples} wake(s)"),
        crate::model::schedule::LeadSource::Default => "default (no wake measured yet)".to_string(),
    };
    field(
        out,
        2,
        "Pre-warm lead",
        format!(
            "{}: {source}; the reconciler Lambda adds its schedule period",
            humantime::format_duration(lead.lead)
        ),
    );
    let transitions = s.transitions(now, 3);
    if transitions.is_empty() {
        field(out, 2, "Next transitions", "<none>");
        return;
    }
    out.push_str("  Next transitions:\n");
    for t in transitions {
        let what = t
            .changes
            .iter()
            .map(|c| match c {
                crate::model::schedule::Change::AwakeStarts { window, .. } => {
                    format!("awake[{window}] starts")
                }
                crate::model::schedule::Change::AwakeEnds { window } => {
                    format!("awake[{window}] ends")
                }
                crate::model::schedule::Change::AsleepStarts { window, .. } => {
                    format!("asleep[{window}] starts")
                }
                crate::model::schedule::Change::AsleepEnds { window } => {
                    format!("asleep[{window}] ends")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "    {} ({} UTC, in {}): {what}",
            s.local_time(t.at),
            t.at.to_rfc3339()
                .get(..16)
                .unwrap_or_default()
                .replace('T', " "),
            super::render::short_duration(t.at.since(now)),
        );
    }
}

fn describe_record(r: &Record, now: Timestamp) -> String {
    let mut out = String::new();
    let m = &r.metadata;
    field(&mut out, 0, "Name", &m.name);
    let labels: Vec<String> = m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    field(
        &mut out,
        0,
        "Labels",
        if labels.is_empty() {
            "<none>".into()
        } else {
            labels.join(", ")
        },
    );
    let observed = r.status.as_ref().map(|s| s.observed_generation);
    field(
        &mut out,
        0,
        "Generation",
        match observed {
            Some(o) => format!("{} (status observed {o})", m.generation),
            None => format!("{} (not reconciled yet)", m.generation),
        },
    );
    field(&mut out, 0, "Resource version", m.resource_version);
    field(&mut out, 0, "Created", when(m.creation_timestamp, now));

    let errors = validate(r);
    if !errors.is_empty() {
        out.push_str("Validation errors (nothing is done to this service until they are fixed):\n");
        for e in &errors {
            let _ = writeln!(out, "  {e}");
        }
    }

    let s = &r.spec;
    out.push_str("Spec:\n");
    match &s.target {
        Target::Ecs(e) => field(
            &mut out,
            2,
            "Target",
            format!("ECS service {} in cluster {}", e.service, e.cluster),
        ),
        Target::Local(l) => {
            let mut cmd = l.command.clone();
            for a in &l.args {
                cmd.push(' ');
                cmd.push_str(a);
            }
            field(
                &mut out,
                2,
                "Target",
                format!("local process `{cmd}` on port {}", l.port),
            );
            if let Some(dir) = &l.working_dir {
                field(&mut out, 2, "Working dir", dir);
            }
            if !l.env.is_empty() {
                let env: Vec<String> = l.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                field(&mut out, 2, "Environment", env.join(", "));
            }
        }
    }
    field(
        &mut out,
        2,
        "Mode",
        match s.mode {
            Mode::Auto => "auto (wake on request, sleep when idle)",
            Mode::On => "on (always awake)",
            Mode::Off => "off (always asleep)",
        },
    );
    field(
        &mut out,
        2,
        "Replicas",
        format!("{} (max {})", s.replicas, s.max_replicas()),
    );
    field(&mut out, 2, "Idle timeout", s.idle_timeout);
    field(&mut out, 2, "Wake timeout", s.wake_timeout);
    let e = &s.endpoint;
    field(
        &mut out,
        2,
        "Endpoint",
        format!(
            "{}://{}:{}{}",
            e.scheme.as_str(),
            match (&s.target, e.address) {
                (crate::model::Target::Local(_), _) => "127.0.0.1",
                (_, crate::model::AddressKind::Public) => "<public address>",
                (_, crate::model::AddressKind::Private) => "<private address>",
            },
            s.endpoint_port(),
            e.path
        ),
    );
    match (s.routing.mode, s.routing.host.as_deref()) {
        (crate::model::RoutingMode::Route, Some(host)) => {
            field(&mut out, 2, "Routing", format!("route at {host}"))
        }
        _ => field(&mut out, 2, "Routing", "redirect to the task's address"),
    }
    match s.readiness.as_ref().and_then(|r| r.http_get.as_ref()) {
        Some(g) => {
            let port = g.port.map(|p| format!(" on port {p}")).unwrap_or_default();
            field(
                &mut out,
                2,
                "Readiness",
                format!("HTTP GET {}{port}, timeout {}", g.path, g.timeout),
            )
        }
        None => field(
            &mut out,
            2,
            "Readiness",
            match s.target {
                crate::model::Target::Local(_) => "the process listens on its port",
                crate::model::Target::Ecs(_) => "ECS container health only",
            },
        ),
    }
    let w = &s.wake;
    let mut wake = vec![
        if w.enabled { "enabled" } else { "disabled" }.to_string(),
        if w.preserve_path {
            "preserves path"
        } else {
            "drops path"
        }
        .to_string(),
        match w.access {
            Access::Public => "public".to_string(),
            Access::Token => "token required".to_string(),
        },
    ];
    if let Some(agents) = &w.ignore_user_agents {
        wake.push(format!("ignores user agents: {}", agents.join(", ")));
    }
    field(&mut out, 2, "Wake", wake.join(", "));
    field(
        &mut out,
        2,
        "Page",
        format!(
            "title {:?}, theme {}",
            r.title(),
            format!("{:?}", s.page.theme).to_lowercase()
        ),
    );

    if r.spec.schedule.is_some() {
        describe_schedule(&mut out, r, now);
    }

    let d = &r.desired;
    out.push_str("Desired:\n");
    field(
        &mut out,
        2,
        "Wake requested",
        when(d.wake_requested_at, now),
    );
    field(&mut out, 2, "Last activity", when(d.last_activity_at, now));
    field(
        &mut out,
        2,
        "Sleep requested",
        when(d.sleep_requested_at, now),
    );
    if d.wake_forced_at.is_some() {
        field(&mut out, 2, "Wake forced", when(d.wake_forced_at, now));
    }

    match &r.status {
        None => out.push_str("Status:               <none> (not reconciled yet)\n"),
        Some(st) => {
            out.push_str("Status:\n");
            let since = st
                .phase_since
                .map(|t| format!(" (since {})", relative(t, now)));
            field(
                &mut out,
                2,
                "Phase",
                format!("{}{}", st.phase, since.unwrap_or_default()),
            );
            if let Some(step) = st.step {
                field(&mut out, 2, "Step", step.as_str());
            }
            field(
                &mut out,
                2,
                "Replicas",
                format!(
                    "desired {}, running {}, pending {}",
                    st.replicas.desired, st.replicas.running, st.replicas.pending
                ),
            );
            match &st.endpoint {
                Some(e) => field(
                    &mut out,
                    2,
                    "Endpoint",
                    format!("{} (task {})", e.url, e.task_arn),
                ),
                None => field(&mut out, 2, "Endpoint", "<none>"),
            }
            if let Some(rt) = &st.route {
                let to = match (rt.to, &rt.backend) {
                    (crate::model::RouteTo::Service, Some(b)) => format!("the service at {b}"),
                    (crate::model::RouteTo::Service, None) => "the service".to_string(),
                    (crate::model::RouteTo::Wake, _) => "the wake endpoint".to_string(),
                };
                field(
                    &mut out,
                    2,
                    "Route",
                    format!("{} → {to} (since {})", rt.host, when(Some(rt.since), now)),
                );
            }
            if let Some(t) = st.sleeps_at {
                field(&mut out, 2, "Sleeps at", when(Some(t), now));
            }
            if let Some(t) = st.wake_started_at {
                field(&mut out, 2, "Wake started", when(Some(t), now));
            }
            if let Some(lw) = &st.last_wake {
                field(
                    &mut out,
                    2,
                    "Last wake",
                    format!(
                        "took {:.1}s, ready {}",
                        lw.seconds,
                        relative(lw.ready_at, now)
                    ),
                );
            }
            if !st.message.is_empty() {
                field(&mut out, 2, "Message", &st.message);
            }
            if let Some(f) = &st.last_failure {
                field(
                    &mut out,
                    2,
                    "Last failure",
                    format!("{} ({})", f.message, relative(f.at, now)),
                );
            }
            if st.conditions.is_empty() {
                out.push_str("Conditions:           <none>\n");
            } else {
                out.push_str("Conditions:\n");
                let rows: Vec<Vec<String>> = st
                    .conditions
                    .iter()
                    .map(|c| {
                        vec![
                            c.type_.clone(),
                            format!("{:?}", c.status),
                            c.reason.clone(),
                            relative(c.last_transition_time, now),
                            c.message.clone(),
                        ]
                    })
                    .collect();
                for line in table(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], &rows).lines()
                {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    }
    out
}

fn describe_malformed(m: &Malformed, now: Timestamp) -> String {
    let mut out = String::new();
    field(&mut out, 0, "Name", &m.name);
    field(
        &mut out,
        0,
        "Phase",
        "Invalid (the stored item does not parse as a record)",
    );
    field(&mut out, 0, "Error", &m.error);
    field(&mut out, 0, "Resource version", m.resource_version);
    if let Some(st) = &m.status {
        field(&mut out, 0, "Last status", format!("{}", st.phase));
        if let Some(t) = st.phase_since {
            field(&mut out, 0, "Phase since", when(Some(t), now));
        }
    }
    out.push_str("Stored item:\n");
    let raw = serde_yaml_ng::to_string(&m.raw).unwrap_or_else(|e| format!("<unprintable: {e}>\n"));
    for line in raw.lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "Fix it with `snoozectl edit {0}` or `snoozectl apply -f FILE`, or remove it with `snoozectl delete {0}`.",
        m.name
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{Condition, ConditionStatus, Phase, Status};

    #[test]
    fn describe_shows_facts_status_and_conditions() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let r = Record::test("demo")
            .woken_at(now.sub(Duration::from_secs(180)))
            .with_status(Status {
                phase: Phase::Waking,
                observed_generation: 1,
                conditions: vec![Condition {
                    type_: "Ready".into(),
                    status: ConditionStatus::False,
                    reason: "TaskPending".into(),
                    message: "task is PENDING".into(),
                    last_transition_time: now.sub(Duration::from_secs(60)),
                }],
                ..Status::default()
            });
        let text = describe(&Entry::Record(Box::new(r)), now);
        assert!(
            text.contains("Target:             ECS service demo-svc in cluster demo-cluster"),
            "{text}"
        );
        assert!(text.contains("(3m ago)"), "{text}");
        assert!(text.contains("Phase:              Waking"), "{text}");
        let cond = text
            .lines()
            .find(|l| l.trim_start().starts_with("Ready"))
            .unwrap();
        assert_eq!(
            cond.split_whitespace().collect::<Vec<_>>(),
            [
                "Ready",
                "False",
                "TaskPending",
                "60s",
                "ago",
                "task",
                "is",
                "PENDING"
            ]
        );
    }

    #[test]
    fn describe_lists_validation_errors() {
        let mut r = Record::test("demo");
        r.spec.replicas = 50;
        let text = describe(&Entry::Record(Box::new(r)), Timestamp::now());
        assert!(text.contains("Validation errors"), "{text}");
        assert!(text.contains("spec.replicas"), "{text}");
    }
}
