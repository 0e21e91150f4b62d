//! `snoozectl get [NAME | group/NAME] [-o wide|yaml|json]`: lists records.
//!
//! The table has `NAME PHASE DESIRED/RUNNING ENDPOINT SLEEPS-IN AGE` (and `SCHEDULE`, the next
//! scheduled change, before `AGE` when a listed record has `spec.schedule`); `-o wide` adds `MODE`,
//! `TARGET`, `GROUP` (the record's `spec.groups`, comma-separated, `-` when none), `SAVED`
//! (this month's saving from `status.ledger`, as in `snoozectl cost`) and `MESSAGE`.
//! `group/NAME` lists the members of group NAME in start order (the same table; `-o yaml|json`
//! the member records as a stream or an array). `-o yaml` prints full records (several as a `---`-separated stream),
//! `-o json` one object for `NAME` or an array otherwise. Items that do not parse or validate
//! are listed too, as phase `Invalid` with the reason; they are never dropped.

use std::process::ExitCode;

use anyhow::Context as _;

use super::render::{self, short_duration, summarise, table, target_summary};
use super::{GlobalArgs, GroupView, Ref};
use crate::model::{Entry, Mode, Phase, Timestamp};
use crate::store::Error as StoreError;

/// Arguments of `snoozectl get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show only this record (`NAME` or `service/NAME`; exit 1 when it does not exist), or
    /// `group/NAME`: the members of group NAME in start order (exit 1 when it has none).
    pub name: Option<Ref>,
    /// Output format: a table (default), `wide` (more columns), `yaml` or `json` (full records).
    #[arg(short, long, value_enum)]
    pub output: Option<Output>,
}

/// `-o` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The table plus MODE, TARGET, GROUP, SAVED and MESSAGE.
    Wide,
    /// Full records as YAML documents.
    Yaml,
    /// Full records as JSON.
    Json,
}

/// Runs `snoozectl get`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let entries = match &args.name {
        Some(Ref::Service(name)) => {
            let entry = store
                .get(name)
                .await
                .with_context(|| format!("cannot read service {name:?}"))?;
            vec![entry.ok_or_else(|| StoreError::NotFound(name.clone()))?]
        }
        Some(Ref::Group(group)) => GroupView::read(store.as_ref(), group)
            .await?
            .members
            .into_iter()
            .map(|r| Entry::Record(Box::new(r)))
            .collect(),
        None => store.list().await.context("cannot list services")?,
    };
    let single = matches!(args.name, Some(Ref::Service(_)));
    let now = Timestamp::now();
    match args.output {
        Some(Output::Yaml) if single => super::emit(render::entry_yaml(&entries[0])?)?,
        Some(Output::Yaml) => super::emit(render::entries_yaml(&entries)?)?,
        Some(Output::Json) if single => {
            super::emit(format!("{}\n", render::entry_json(&entries[0])?))?
        }
        Some(Output::Json) => super::emit(format!("{}\n", render::entries_json(&entries)?))?,
        None | Some(Output::Wide) if entries.is_empty() => {
            eprintln!("No services found in {}.", global.store);
        }
        Some(Output::Wide) => super::emit(render_table(&entries, now, true))?,
        None => super::emit(render_table(&entries, now, false))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `get` table for `entries` at time `now`; `wide` adds MODE, TARGET, GROUP (the record's
/// `spec.groups` joined with `,`, `-` when none), SAVED (this month's saving in dollars from
/// `status.ledger`, or the task time saved for an unpriced target; `-` when nothing was
/// counted this month) and MESSAGE (the status message, else the
/// kept `lastFailure` with its age). ENDPOINT is the task's URL, or
/// for a route-mode record its stable address with `(routed)` or `(wait page)`.
pub fn render_table(entries: &[Entry], now: Timestamp, wide: bool) -> String {
    let mut header = vec![
        "NAME",
        "PHASE",
        "DESIRED/RUNNING",
        "ENDPOINT",
        "SLEEPS-IN",
        "AGE",
    ];
    let scheduled = entries
        .iter()
        .any(|e| matches!(e, Entry::Record(r) if r.spec.schedule.is_some()));
    if scheduled {
        header.insert(5, "SCHEDULE");
    }
    if wide {
        header.extend(["MODE", "TARGET", "GROUP", "SAVED", "MESSAGE"]);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut cells = row(e, now, wide);
            if scheduled {
                cells.insert(5, schedule_cell(e, now));
            }
            cells
        })
        .collect();
    table(&header, &rows)
}

/// The SCHEDULE cell: the next scheduled change (`awake in 2h`, `quiet ends in 40m`); for a
/// schedule that never changes, where it always is (`awake`, `quiet`, else `-`); `-` for a
/// record without a schedule.
fn schedule_cell(entry: &Entry, now: Timestamp) -> String {
    let Entry::Record(r) = entry else {
        return "-".into();
    };
    let Some(schedule) = &r.spec.schedule else {
        return "-".into();
    };
    match schedule.next_change(now) {
        Some((at, what)) => format!("{what} in {}", short_duration(at.since(now))),
        None => {
            let state = schedule.state(now);
            match (state.awake, state.asleep) {
                (Some(_), _) => "awake".into(),
                (_, Some(_)) => "quiet".into(),
                _ => "-".into(),
            }
        }
    }
}

fn row(entry: &Entry, now: Timestamp, wide: bool) -> Vec<String> {
    let summary = summarise(entry);
    let dash = || "-".to_string();
    let mut cells = vec![summary.name, summary.phase];
    match entry {
        Entry::Malformed(_) => {
            cells.extend([dash(), dash(), dash(), dash()]);
            if wide {
                cells.extend([dash(), dash(), dash(), dash(), summary.message]);
            }
        }
        Entry::Record(r) => {
            let status = r.status.as_ref();
            cells.push(status.map_or_else(dash, |s| {
                format!("{}/{}", s.replicas.desired, s.replicas.running)
            }));
            // Route mode: the stable address and where it points; else the task's own URL.
            cells.push(match r.spec.route_host() {
                Some(host) => match status.and_then(|s| s.route.as_ref()) {
                    Some(rt) if rt.to == crate::model::RouteTo::Service => {
                        format!("{host} (routed)")
                    }
                    _ => format!("{host} (wait page)"),
                },
                None => status
                    .and_then(|s| s.endpoint.as_ref())
                    .map_or_else(dash, |e| e.url.clone()),
            });
            cells.push(match r.spec.mode {
                Mode::On => "never".into(),
                Mode::Off => dash(),
                // Only an awake (or waking) service has a sleep ahead of it.
                Mode::Auto => {
                    match status.filter(|s| matches!(s.phase, Phase::Ready | Phase::Waking)) {
                        Some(s) => match s.sleeps_at {
                            Some(t) if t > now => short_duration(t.since(now)),
                            Some(_) => "due".into(),
                            None => dash(),
                        },
                        None => dash(),
                    }
                }
            });
            cells.push(
                r.metadata
                    .creation_timestamp
                    .map_or_else(dash, |t| short_duration(now.since(t))),
            );
            if wide {
                let mode = match r.spec.mode {
                    Mode::Auto => "auto",
                    Mode::On => "on",
                    Mode::Off => "off",
                };
                // Once the phase no longer says it (asleep again after a failed wake), the
                // message shows the failure kept in `lastFailure`.
                let message = match status.and_then(|s| s.last_failure.as_ref()) {
                    Some(f) if summary.message.is_empty() => format!(
                        "last failure {} ago: {}",
                        short_duration(now.since(f.at)),
                        f.message
                    ),
                    _ => summary.message,
                };
                let groups = if r.spec.groups.is_empty() {
                    dash()
                } else {
                    r.spec.groups.join(",")
                };
                let month = crate::model::ledger::month_key(now);
                let saved = status
                    .and_then(|s| s.ledger.month(&month))
                    .map_or_else(dash, |m| match m.saved() {
                        Some(saved) => crate::model::ledger::dollars(saved),
                        None => super::cost::time(m.saved_seconds()),
                    });
                cells.extend([
                    mode.to_string(),
                    target_summary(&r.spec.target),
                    groups,
                    saved,
                    message,
                ]);
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{EndpointStatus, Malformed, Record, ReplicaStatus, Status};

    #[test]
    fn table_shows_ready_record_and_malformed_item() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let mut ready = Record::test("demo").with_status(Status {
            phase: Phase::Ready,
            replicas: ReplicaStatus {
                desired: 1,
                running: 1,
                pending: 0,
            },
            endpoint: Some(EndpointStatus {
                ip: "203.0.113.10".into(),
                url: "http://203.0.113.10:80/".into(),
                task_arn: "arn:task".into(),
            }),
            sleeps_at: Some(now.add(Duration::from_secs(12 * 60))),
            ..Status::default()
        });
        ready.metadata.creation_timestamp = Some(now.sub(Duration::from_secs(3 * 3600)));
        let broken = Entry::Malformed(Malformed {
            name: "broken".into(),
            raw: serde_json::json!({}),
            error: "spec.replicas: invalid type".into(),
            status: None,
            resource_version: 1,
            status_version: 0,
        });
        let entries = vec![Entry::Record(Box::new(ready)), broken];
        let out = render_table(&entries, now, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "NAME",
                "PHASE",
                "DESIRED/RUNNING",
                "ENDPOINT",
                "SLEEPS-IN",
                "AGE"
            ]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "demo",
                "Ready",
                "1/1",
                "http://203.0.113.10:80/",
                "12m",
                "3h"
            ]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["broken", "Invalid", "-", "-", "-", "-"]
        );
        let wide = render_table(&entries, now, true);
        assert!(
            wide.lines()
                .nth(1)
                .unwrap()
                .contains("auto   ecs demo-cluster/demo-svc"),
            "{wide}"
        );
        assert!(
            wide.lines()
                .nth(2)
                .unwrap()
                .ends_with("spec.replicas: invalid type"),
            "{wide}"
        );
    }

    #[test]
    fn wide_output_has_group_and_saved_columns() {
        use crate::model::ledger::{Ledger, LedgerMonth, month_key};
        let now = Timestamp::from_millis(1_800_000_000_000);
        let month = |m: &str| LedgerMonth {
            month: m.into(),
            task_seconds: 3600.0,
            always_on_seconds: 86_400.0,
            cost: Some(0.05),
            always_on_cost: Some(1.15),
            ..LedgerMonth::default()
        };
        let mut web = Record::test("web").with_status(Status {
            ledger: Ledger {
                // Last month's figures are not this month's saving.
                months: vec![month("2000-01"), month(&month_key(now))],
                ..Ledger::default()
            },
            ..Status::default()
        });
        web.spec.groups = vec!["preview-1".into(), "front".into()];
        let plain = Record::test("plain");
        let entries = vec![Entry::Record(Box::new(web)), Entry::Record(Box::new(plain))];
        let wide = render_table(&entries, now, true);
        let lines: Vec<Vec<&str>> = wide
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0][6..],
            ["MODE", "TARGET", "GROUP", "SAVED", "MESSAGE"],
            "{wide}"
        );
        assert_eq!(
            lines[1][lines[1].len() - 2..],
            ["preview-1,front", "$1.10"],
            "{wide}"
        );
        assert_eq!(lines[2][lines[2].len() - 2..], ["-", "-"], "{wide}");
        let narrow = render_table(&entries, now, false);
        assert!(
            !narrow.contains("GROUP") && !narrow.contains("preview-1"),
            "{narrow}"
        );
    }

    #[test]
    fn a_schedule_column_appears_when_a_record_has_a_schedule() {
        use crate::model::schedule::Schedule;
        // Monday 2026-11-30 07:00 UTC.
        let now: Timestamp = "2026-11-30T07:00:00Z".parse().unwrap();
        let mut office = Record::test("office");
        office.spec.schedule = Some(
            Schedule::test("Europe/Berlin")
                .awake("Mon-Fri 09:00-17:00")
                .asleep("Mon-Sun 22:00-06:00"),
        );
        let mut always = Record::test("always");
        always.spec.schedule = Some(Schedule::test("UTC").awake("Mon-Sun 00:00-24:00"));
        let plain = Record::test("plain");
        let rec = |r: Record| Entry::Record(Box::new(r));
        let out = render_table(&[rec(office), rec(always), rec(plain.clone())], now, false);
        let cells = |i: usize| -> Vec<String> {
            out.lines()
                .nth(i)
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        assert_eq!(cells(0)[5], "SCHEDULE", "{out}");
        // 09:00 CET is 08:00 UTC: an hour from now.
        assert_eq!(cells(1)[5..8], ["awake", "in", "60m"], "{out}");
        // A window that ends as the next begins never changes.
        assert_eq!(cells(2)[5], "awake", "{out}");
        assert_eq!(cells(3)[5], "-", "{out}");
        // Without any scheduled record the column is not there.
        let out = render_table(&[rec(plain)], now, false);
        assert!(!out.contains("SCHEDULE"), "{out}");
    }
}
