//! `snoozectl describe NAME`: one record in readable form: spec, desired facts (with "3m ago"),
//! status and a conditions table. A record failing validation lists every error; an item that
//! does not parse shows the parse error and the raw stored item. A record with `spec.groups`
//! gets a `Groups:` section (its groups, dependsOn, each group's start order in waves, what it
//! waits for and who holds its sleep from `status.group`, and every member's phase and step).
//!
//! `snoozectl describe group/NAME`: group NAME: its members in start order with wave, phase,
//! step, dependsOn and optional, the group's ETA and its problems (dependency cycles, missing
//! dependencies: [`Groups::problems`]).

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use super::render::{relative, table, when};
use super::{GlobalArgs, GroupView, Ref};
use crate::model::group::{Groups, remaining_wake_seconds};
use crate::model::{Access, Entry, Malformed, Mode, Phase, Record, Target, Timestamp, validate};
use crate::store::Error as StoreError;

/// Arguments of `snoozectl describe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record to describe (`NAME` or `service/NAME`), or `group/NAME`: group NAME.
    pub name: Ref,
}

/// Runs `snoozectl describe`. For a record with groups it reads the whole table (for the
/// start order and the members' phases).
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let now = Timestamp::now();
    let name = match args.name {
        Ref::Service(name) => name,
        Ref::Group(group) => {
            let view = GroupView::read(store.as_ref(), &group).await?;
            super::emit(describe_group(&view, now))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let entry = store
        .get(&name)
        .await
        .with_context(|| format!("cannot read service {name:?}"))?
        .ok_or_else(|| StoreError::NotFound(name.clone()))?;
    let table = match &entry {
        Entry::Record(r) if !r.spec.groups.is_empty() => {
            store.list().await.context("cannot list services")?
        }
        _ => Vec::new(),
    };
    super::emit(describe_in(&entry, &table, now))?;
    Ok(ExitCode::SUCCESS)
}

/// The text `describe` prints for `entry` at time `now`, without the rest of the table (a
/// record's `Groups:` section then shows only what the record itself holds).
pub fn describe(entry: &Entry, now: Timestamp) -> String {
    describe_in(entry, &[], now)
}

/// The text `describe` prints for `entry` at time `now`; `table` is every stored entry (from
/// `list`), used for the `Groups:` section of a record with `spec.groups`.
pub fn describe_in(entry: &Entry, table: &[Entry], now: Timestamp) -> String {
    match entry {
        Entry::Record(r) => describe_record(r, table, now),
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

fn describe_record(r: &Record, entries: &[Entry], now: Timestamp) -> String {
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
    if !r.spec.groups.is_empty() {
        describe_groups_of(&mut out, r, entries, now);
    }
    describe_guardrails(&mut out, r, now);

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

/// The `Guardrails:` section, only when `spec.maxAwake` or `spec.budget` is set:
///
/// ```text
/// Guardrails:
///   Max awake:          8h; this stretch began 2026-11-29T10:00:00.000Z (2h ago), capped at …
///   Budget:             $10.00 a month; this month (2026-11): $12.50, reached: wake requests
///                       refused until 2026-12-01 00:00 UTC (snoozectl wake --force overrides)
///   Forced over budget: 1 this month
/// ```
fn describe_guardrails(out: &mut String, r: &Record, now: Timestamp) {
    use crate::model::ledger::dollars;
    let s = &r.spec;
    if s.max_awake.is_none() && s.budget.is_none() {
        return;
    }
    out.push_str("Guardrails:\n");
    let status = r.status.as_ref();
    if let Some(max) = s.max_awake {
        let memo = status.map(|st| &st.memo);
        let stretch = match (
            memo.and_then(|m| m.awake_since),
            memo.and_then(|m| m.max_awake_at),
        ) {
            (_, Some(cap)) => format!(
                "; reached {}: asleep until the next wake request",
                when(Some(cap), now)
            ),
            (Some(since), None) => format!(
                "; this stretch began {}, capped at {}",
                when(Some(since), now),
                when(Some(since.add(max.get())), now)
            ),
            (None, None) => "; no stretch running".to_string(),
        };
        field(out, 2, "Max awake", format!("{max}{stretch}"));
    }
    if let Some(budget) = s.budget {
        let month = status.and_then(|st| st.ledger.month_of(now));
        let key = crate::model::ledger::month_key(now);
        let line = if matches!(s.target, crate::model::Target::Local(_)) {
            format!(
                "{} a month (never applies: a local target has no cost)",
                dollars(budget)
            )
        } else {
            let cost = match month.and_then(|m| m.cost) {
                Some(c) => format!("this month ({key}): {}", dollars(c)),
                None => format!("this month ({key}): no cost counted yet"),
            };
            let state = match (r.budget_reached(now), r.over_budget(now)) {
                (Some(b), Some(_)) => format!(
                    ", reached: wake requests refused until {} (snoozectl wake --force overrides)",
                    b.until_words()
                ),
                (Some(b), None) => format!(
                    ", reached (not enforced now: spec.mode is not auto or a forced wake holds; \
                     resets {})",
                    b.until_words()
                ),
                (None, _) => String::new(),
            };
            format!("{} a month; {cost}{state}", dollars(budget))
        };
        field(out, 2, "Budget", line);
        if let Some(n) = month.map(|m| m.forced_over_budget).filter(|n| *n > 0) {
            field(out, 2, "Forced over budget", format!("{n} this month"));
        }
    }
}

/// Every record of `table` that parses (malformed items are in no group).
fn records(table: &[Entry]) -> Vec<&Record> {
    table
        .iter()
        .filter_map(|e| match e {
            Entry::Record(r) => Some(r.as_ref()),
            Entry::Malformed(_) => None,
        })
        .collect()
}

/// A start order as one line: `1. api, db  2. web`; a last wave of members on (or behind) a
/// dependency cycle is `cycle: a, b`. `<none>` when empty.
pub fn waves_line(groups: &Groups, waves: &[Vec<String>]) -> String {
    if waves.is_empty() {
        return "<none>".into();
    }
    waves
        .iter()
        .enumerate()
        .map(|(i, wave)| {
            let names = wave.join(", ");
            match wave.first().map(|n| groups.wave(n)) {
                Some(None) => format!("cycle: {names}"),
                _ => format!("{}. {names}", i + 1),
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// A member's wave for people: 1-based, `cycle` when it is on (or behind) a dependency cycle.
fn wave_cell(groups: &Groups, name: &str) -> String {
    groups
        .wave(name)
        .map_or_else(|| "cycle".to_string(), |w| (w + 1).to_string())
}

/// `(phase, step, message)` of `record` for a members table: `-` before its first reconcile
/// and when it has no step; `Invalid` with the reason when it fails validation.
fn phase_step(record: Option<&Record>) -> (String, String, String) {
    let Some(r) = record else {
        return ("<missing>".into(), "-".into(), String::new());
    };
    let summary = super::render::summarise(&Entry::Record(Box::new(r.clone())));
    let step = r
        .status
        .as_ref()
        .and_then(|s| s.step)
        .map_or_else(|| "-".to_string(), |s| s.as_str().to_string());
    (summary.phase, step, summary.message)
}

/// The `Groups:` section of a grouped record: its groups and dependsOn, each group's start
/// order (from `table`), what it waits for, who holds its sleep and the group's ETA (from
/// `status.group`, as the reconciler last published it), then every member of its groups and
/// what they depend on, with wave, phase and step (from `table`; `status.group.members` when
/// `table` is empty).
fn describe_groups_of(out: &mut String, r: &Record, table: &[Entry], now: Timestamp) {
    let all = records(table);
    let groups = Groups::of(all.iter().copied());
    let list = |v: &[String]| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.join(", ")
        }
    };
    out.push_str("Groups:\n");
    field(out, 2, "Groups", r.spec.groups.join(", "));
    field(out, 2, "Depends on", list(&r.spec.depends_on));
    if r.spec.optional {
        field(out, 2, "Optional", "yes (nobody waits for it)");
    }
    if !all.is_empty() {
        out.push_str("  Start order:\n");
        for g in &r.spec.groups {
            let _ = writeln!(
                out,
                "    {g}: {}",
                waves_line(&groups, &groups.start_order(g))
            );
        }
    }
    let published = r.status.as_ref().and_then(|s| s.group.as_ref());
    match published {
        None => field(
            out,
            2,
            "Status",
            "<none> (not reconciled with its groups yet)",
        ),
        Some(g) => {
            field(out, 2, "Waiting for", list(&g.waiting_for));
            field(out, 2, "Held by", list(&g.held_by));
            if let Some(t) = g.ready_by {
                field(out, 2, "Group ready by", when(Some(t), now));
            }
        }
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    if all.is_empty() {
        for m in published.map(|g| g.members.as_slice()).unwrap_or_default() {
            rows.push(vec![
                (m.wave + 1).to_string(),
                m.name.clone(),
                m.phase.map_or_else(|| "-".to_string(), |p| p.to_string()),
                m.step
                    .map_or_else(|| "-".to_string(), |s| s.as_str().to_string()),
                m.message.clone(),
            ]);
        }
    } else {
        let mut names: Vec<String> = Vec::new();
        for g in groups.groups_of(&r.metadata.name) {
            for m in groups.members(g) {
                names.push(m.clone());
                names.extend(groups.dependencies(m));
            }
        }
        names.sort();
        names.dedup();
        names.sort_by_key(|n| (groups.wave(n).unwrap_or(usize::MAX), n.clone()));
        for n in names {
            let (phase, step, message) =
                phase_step(all.iter().copied().find(|x| x.metadata.name == n));
            rows.push(vec![wave_cell(&groups, &n), n, phase, step, message]);
        }
    }
    if !rows.is_empty() {
        out.push_str("  Members:\n");
        for line in table_lines(&["WAVE", "NAME", "PHASE", "STEP", "MESSAGE"], &rows) {
            let _ = writeln!(out, "    {line}");
        }
    }
}

fn table_lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    table(header, rows).lines().map(String::from).collect()
}

/// The text `describe group/NAME` prints at time `now`: the group's name, member count,
/// start order, ETA and problems, then one row per member in start order (wave, name, phase,
/// step, dependsOn, optional, message).
///
/// The ETA (`Ready by`) is computed like the reconciler's `status.group.readyBy`
/// ([`Groups::eta`] over the members' measured wake times, [`remaining_wake_seconds`]), shown
/// only while a member is Waking and no required (non-optional) member is Failed (then the
/// failed members are named instead); `unknown` when a member that is not Ready has no
/// measured wake yet.
pub fn describe_group(view: &GroupView, now: Timestamp) -> String {
    let mut out = String::new();
    let groups = &view.groups;
    let optional = view.members.iter().filter(|m| m.spec.optional).count();
    field(&mut out, 0, "Group", &view.name);
    field(
        &mut out,
        0,
        "Members",
        if optional > 0 {
            format!("{} ({optional} optional)", view.members.len())
        } else {
            view.members.len().to_string()
        },
    );
    field(
        &mut out,
        0,
        "Start order",
        waves_line(groups, &groups.start_order(&view.name)),
    );
    let member = |n: &str| view.members.iter().find(|m| m.metadata.name == n);
    let phase_of = |n: &str| member(n).and_then(|m| m.status.as_ref()).map(|s| s.phase);
    let waking = view
        .members
        .iter()
        .any(|m| phase_of(&m.metadata.name) == Some(Phase::Waking));
    let failed: Vec<&str> = view
        .members
        .iter()
        .filter(|m| !m.spec.optional && phase_of(&m.metadata.name) == Some(Phase::Failed))
        .map(|m| m.metadata.name.as_str())
        .collect();
    let ready_by = if !failed.is_empty() {
        format!("<none> (failed: {})", failed.join(", "))
    } else if waking {
        let eta = groups.eta(&view.name, &|n| phase_of(n) == Some(Phase::Ready), &|n| {
            let r = member(n)?;
            let s = r.status.as_ref()?;
            let elapsed = match (s.phase, s.wake_started_at) {
                (Phase::Waking, Some(t)) => Some(now.since(t)),
                _ => None,
            };
            remaining_wake_seconds(r, elapsed)
        });
        if eta.unmeasured.is_empty() {
            when(
                Some(now.add(std::time::Duration::from_secs_f64(eta.seconds))),
                now,
            )
        } else {
            format!(
                "unknown (no measured wake yet: {})",
                eta.unmeasured.join(", ")
            )
        }
    } else {
        "<none> (no member is waking)".to_string()
    };
    field(&mut out, 0, "Ready by", ready_by);
    let mut problems: Vec<String> = groups
        .problems()
        .into_iter()
        .filter(|(n, _)| member(n).is_some())
        .flat_map(|(n, errs)| errs.into_iter().map(move |e| format!("service/{n}: {e}")))
        .collect();
    // A dependency that is no record: not invalid (the member waits for it), but the group
    // cannot become Ready until it is applied or the dependsOn is edited.
    for r in &view.members {
        let n = r.name();
        for dep in groups.absent(n) {
            problems.push(format!(
                "service/{n}: spec.dependsOn: there is no record {dep:?}; {n} waits for it"
            ));
        }
    }
    if problems.is_empty() {
        field(&mut out, 0, "Problems", "<none>");
    } else {
        out.push_str("Problems:\n");
        for p in problems {
            let _ = writeln!(out, "  {p}");
        }
    }
    out.push_str("Members:\n");
    let rows: Vec<Vec<String>> = view
        .members
        .iter()
        .map(|m| {
            let (phase, step, message) = phase_step(Some(m));
            let depends = if m.spec.depends_on.is_empty() {
                "-".to_string()
            } else {
                m.spec.depends_on.join(",")
            };
            vec![
                wave_cell(groups, &m.metadata.name),
                m.metadata.name.clone(),
                phase,
                step,
                depends,
                if m.spec.optional { "yes" } else { "no" }.to_string(),
                message,
            ]
        })
        .collect();
    for line in table_lines(
        &[
            "WAVE",
            "NAME",
            "PHASE",
            "STEP",
            "DEPENDS-ON",
            "OPTIONAL",
            "MESSAGE",
        ],
        &rows,
    ) {
        let _ = writeln!(out, "  {line}");
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
    fn describe_shows_the_guardrails_with_this_months_cost_and_the_stretch() {
        use crate::model::ledger::LedgerMonth;
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let mut r = Record::test("demo").with_status(Status {
            phase: Phase::Asleep,
            ..Status::default()
        });
        let plain = describe(&Entry::Record(Box::new(r.clone())), now);
        assert!(!plain.contains("Guardrails"), "{plain}");
        r.spec.max_awake = Some(crate::model::HumanDuration::from_secs(8 * 3600));
        r.spec.budget = Some(10.0);
        let st = r.status.as_mut().unwrap();
        st.memo.awake_since = Some("2026-11-29T10:00:00Z".parse().unwrap());
        st.ledger.months.push(LedgerMonth {
            month: "2026-11".into(),
            cost: Some(12.5),
            forced_over_budget: 1,
            ..LedgerMonth::default()
        });
        let text = describe(&Entry::Record(Box::new(r.clone())), now);
        assert!(text.contains("Guardrails:\n"), "{text}");
        assert!(
            text.contains("Max awake:          8h; this stretch began 2026-11-29T10:00:00.000Z"),
            "{text}"
        );
        assert!(
            text.contains(
                "Budget:             $10.00 a month; this month (2026-11): $12.50, reached: wake \
                 requests refused until 2026-12-01 00:00 UTC"
            ),
            "{text}"
        );
        assert!(text.contains("Forced over budget: 1 this month"), "{text}");
        // Below the budget: the cost alone.
        r.status.as_mut().unwrap().ledger.months[0].cost = Some(2.0);
        let text = describe(&Entry::Record(Box::new(r)), now);
        assert!(
            text.contains("$10.00 a month; this month (2026-11): $2.00\n"),
            "{text}"
        );
    }

    /// A member of group `g` depending on `deps`, in `phase` (at step `scaling` when Waking).
    fn member(name: &str, deps: &[&str], phase: Phase) -> Record {
        let mut r = Record::test(name).with_status(Status {
            phase,
            step: (phase == Phase::Waking).then_some(crate::model::Step::Scaling),
            ..Status::default()
        });
        r.spec.groups = vec!["g".into()];
        r.spec.depends_on = deps.iter().map(|d| d.to_string()).collect();
        r
    }

    fn entries(records: Vec<Record>) -> Vec<Entry> {
        records
            .into_iter()
            .map(|r| Entry::Record(Box::new(r)))
            .collect()
    }

    #[test]
    fn describe_group_lists_members_in_start_order_with_problems() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let mut worker = member("worker", &["db"], Phase::Asleep);
        worker.spec.optional = true;
        let table = entries(vec![
            member("web", &["api"], Phase::Waking),
            member("api", &["db"], Phase::Waking),
            member("db", &[], Phase::Ready),
            worker,
            member("lost", &["gone"], Phase::Invalid),
        ]);
        let view = GroupView::of(&table, "g").unwrap();
        let text = describe_group(&view, now);
        assert!(
            text.contains("Members:            5 (1 optional)\n"),
            "{text}"
        );
        assert!(
            text.contains("Start order:        1. db, lost  2. api, worker  3. web\n"),
            "{text}"
        );
        assert!(
            text.contains("Ready by:           unknown (no measured wake yet: api, lost, web)"),
            "{text}"
        );
        assert!(
            text.contains(
                "Problems:\n  service/lost: spec.dependsOn: there is no record \"gone\"; lost waits for it\n"
            ),
            "{text}"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("WAVE"))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "WAVE",
                "NAME",
                "PHASE",
                "STEP",
                "DEPENDS-ON",
                "OPTIONAL",
                "MESSAGE"
            ]
        );
        assert_eq!(rows[1], ["1", "db", "Ready", "-", "-", "no"], "{text}");
        assert_eq!(
            rows[4],
            ["2", "worker", "Asleep", "-", "db", "yes"],
            "{text}"
        );
        assert_eq!(
            rows[5],
            ["3", "web", "Waking", "scaling", "api", "no"],
            "{text}"
        );
    }

    #[test]
    fn a_group_with_a_failed_member_has_no_eta() {
        let mut worker = member("worker", &["db"], Phase::Failed);
        worker.spec.optional = true;
        let table = entries(vec![
            member("db", &[], Phase::Failed),
            member("api", &["db"], Phase::Waking),
            worker,
        ]);
        let view = GroupView::of(&table, "g").unwrap();
        let text = describe_group(&view, Timestamp::now());
        assert!(
            text.contains("Ready by:           <none> (failed: db)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_cycle_is_its_own_last_wave() {
        let table = entries(vec![
            member("a", &["b"], Phase::Asleep),
            member("b", &["a"], Phase::Asleep),
            member("c", &[], Phase::Asleep),
        ]);
        let view = GroupView::of(&table, "g").unwrap();
        let text = describe_group(&view, Timestamp::now());
        assert!(
            text.contains("Start order:        1. c  cycle: a, b\n"),
            "{text}"
        );
        assert!(text.contains("dependency cycle a → b → a"), "{text}");
        assert!(
            text.contains("Ready by:           <none> (no member is waking)"),
            "{text}"
        );
    }

    #[test]
    fn a_grouped_record_has_a_groups_section() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let mut web = member("web", &["api"], Phase::Waking);
        web.spec.groups.push("front".into());
        if let Some(s) = web.status.as_mut() {
            s.group = Some(crate::model::GroupStatus {
                waiting_for: vec!["api".into()],
                ready_by: Some(now.add(Duration::from_secs(30))),
                ..Default::default()
            });
        }
        let table = entries(vec![
            web.clone(),
            member("api", &["db"], Phase::Waking),
            member("db", &[], Phase::Ready),
        ]);
        let text = describe_in(&Entry::Record(Box::new(web)), &table, now);
        let section: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "Groups:")
            .take_while(|l| *l != "Desired:")
            .collect();
        fn cells(l: &str) -> Vec<&str> {
            l.split_whitespace().collect()
        }
        assert_eq!(
            section[1..4],
            [
                "  Groups:             g, front",
                "  Depends on:         api",
                "  Start order:",
            ],
            "{text}"
        );
        assert_eq!(section[4], "    g: 1. db  2. api  3. web", "{text}");
        assert_eq!(section[5], "    front: 1. web", "{text}");
        assert_eq!(section[6], "  Waiting for:        api", "{text}");
        assert_eq!(section[7], "  Held by:            <none>", "{text}");
        assert!(
            section[8].starts_with("  Group ready by:     ") && section[8].ends_with("(in 30s)"),
            "{text}"
        );
        assert_eq!(
            cells(section[10]),
            ["WAVE", "NAME", "PHASE", "STEP", "MESSAGE"]
        );
        assert_eq!(cells(section[11]), ["1", "db", "Ready", "-"], "{text}");
        assert_eq!(
            cells(section[13]),
            ["3", "web", "Waking", "scaling"],
            "{text}"
        );
        // Not grouped: no section.
        let plain = describe(&Entry::Record(Box::new(Record::test("plain"))), now);
        assert!(!plain.contains("Groups:"), "{plain}");
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
