//! `snoozectl cost [NAME...] [--month YYYY-MM] [-o json|yaml]`: what each service was billed
//! and saved in one calendar month (UTC), from `status.ledger` (written by the reconciler only,
//! [`crate::model::ledger`]).
//!
//! The table has one row per service and a `TOTAL` row:
//!
//! ```text
//! NAME   AWAKE   COST    ALWAYS-ON   SAVED    WAKES   MEDIAN-WAKE
//! demo   10h     $0.15   $10.86      $10.71   12      41s
//! TOTAL  10h     $0.15   $10.86      $10.71   12      -
//! ```
//!
//! - `AWAKE`: billed task time (task-seconds; with `replicas: 2` two tasks count twice);
//! - `COST`, `ALWAYS-ON`: US dollars at list prices for that task time, and for running
//!   `spec.replicas` tasks all the time the ledger counted this month; `-` for a target with
//!   no price (a local process: seconds only);
//! - `SAVED`: `ALWAYS-ON − COST` in dollars, or for an unpriced target the task time saved
//!   (`always-on time − AWAKE`);
//! - `WAKES`, `MEDIAN-WAKE`: completed wakes and the median time from request to Ready.
//!
//! A service with nothing counted in the month shows `-` (and counts as 0 in the total). An
//! item that does not parse is listed with `-` and its name, never dropped. `-o json|yaml`
//! prints [`Report`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::GlobalArgs;
use super::render::{short_duration, table};
use crate::model::ledger::{LedgerMonth, dollars, month_key};
use crate::model::{Entry, Timestamp};
use crate::store::Error as StoreError;

/// Arguments of `snoozectl cost`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to show (`NAME` or `service/NAME`); default: every record. Exit 1 when one
    /// does not exist.
    #[arg(value_parser = super::parse_service)]
    pub names: Vec<String>,
    /// The calendar month (UTC) to show, `YYYY-MM`; default: the current month.
    #[arg(long, value_parser = parse_month)]
    pub month: Option<String>,
    /// Output format: a table (default), `yaml` or `json` (the figures unrounded).
    #[arg(short, long, value_enum)]
    pub output: Option<Output>,
}

/// `-o` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// [`Report`] as YAML.
    Yaml,
    /// [`Report`] as JSON.
    Json,
}

/// Parses `--month`: `YYYY-MM` (a real month, e.g. `2026-12`); anything else is `"2026-13" is
/// not a month; use YYYY-MM, e.g. 2026-12`.
pub fn parse_month(s: &str) -> Result<String, String> {
    let well_formed = s.len() == 7
        && s.as_bytes()[4] == b'-'
        && chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok();
    if well_formed {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a month; use YYYY-MM, e.g. 2026-12"))
    }
}

/// `snoozectl cost -o json|yaml`: one month's figures per service and their total.
///
/// JSON shape: `{"month": "2026-12", "services": [{"name": "demo", "taskSeconds": 36000.0,
/// "alwaysOnSeconds": 2628000.0, "cost": 0.15, "alwaysOnCost": 10.86, "saved": 10.71,
/// "savedSeconds": 2592000.0, "wakes": 12, "medianWakeSeconds": 41.0}], "total": {...}}`.
/// Money in US dollars; absent where unknown (an unpriced target).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The month shown, `YYYY-MM` (UTC).
    pub month: String,
    /// One row per service, in the order listed (by name).
    pub services: Vec<Row>,
    /// Sums over `services` (`name` is `TOTAL`; money sums priced services only).
    pub total: Row,
}

/// One service's month (or the total) in [`Report`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The record's name, or `TOTAL`.
    pub name: String,
    /// Billed task-seconds.
    pub task_seconds: f64,
    /// Task-seconds always on at `spec.replicas` over the counted time.
    pub always_on_seconds: f64,
    /// Always-on minus billed task-seconds, never below 0.
    pub saved_seconds: f64,
    /// Cost in US dollars (list prices); absent for an unpriced target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Always-on cost in US dollars; absent for an unpriced target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub always_on_cost: Option<f64>,
    /// `alwaysOnCost − cost` in US dollars; absent for an unpriced target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<f64>,
    /// Completed wakes.
    pub wakes: u32,
    /// Median seconds from wake request to Ready; absent without wakes (and in the total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_wake_seconds: Option<f64>,
    /// `spec.budget` in US dollars, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// Wakes forced past the budget (`snoozectl wake --force`) this month.
    #[serde(skip_serializing_if = "is_zero")]
    pub forced_over_budget: u32,
    /// False when the ledger has nothing for this month (the figures are then 0), or for an
    /// item that does not parse.
    pub counted: bool,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Row {
    fn of(name: &str, month: Option<&LedgerMonth>, budget: Option<f64>) -> Self {
        let Some(m) = month else {
            return Self {
                name: name.to_string(),
                budget,
                ..Self::default()
            };
        };
        Self {
            name: name.to_string(),
            task_seconds: m.task_seconds,
            always_on_seconds: m.always_on_seconds,
            saved_seconds: m.saved_seconds(),
            cost: m.cost,
            always_on_cost: m.always_on_cost,
            saved: m.saved(),
            wakes: m.wakes,
            median_wake_seconds: m.median_wake_seconds(),
            budget,
            forced_over_budget: m.forced_over_budget,
            counted: true,
        }
    }
}

/// The month's figures for `entries` (every entry, in order) and their total.
pub fn report(entries: &[Entry], month: &str) -> Report {
    let services: Vec<Row> = entries
        .iter()
        .map(|e| match e {
            Entry::Record(r) => Row::of(
                r.name(),
                r.status.as_ref().and_then(|s| s.ledger.month(month)),
                r.spec.budget,
            ),
            Entry::Malformed(m) => Row::of(&m.name, None, None),
        })
        .collect();
    let sum = |f: fn(&Row) -> Option<f64>| -> Option<f64> {
        let priced: Vec<f64> = services.iter().filter_map(f).collect();
        (!priced.is_empty()).then(|| priced.iter().sum())
    };
    let total = Row {
        name: "TOTAL".into(),
        task_seconds: services.iter().map(|r| r.task_seconds).sum(),
        always_on_seconds: services.iter().map(|r| r.always_on_seconds).sum(),
        saved_seconds: services.iter().map(|r| r.saved_seconds).sum(),
        cost: sum(|r| r.cost),
        always_on_cost: sum(|r| r.always_on_cost),
        saved: sum(|r| r.saved),
        wakes: services.iter().fold(0, |n, r| n.saturating_add(r.wakes)),
        median_wake_seconds: None,
        budget: None,
        forced_over_budget: (services.iter())
            .fold(0, |n, r| n.saturating_add(r.forced_over_budget)),
        counted: services.iter().any(|r| r.counted),
    };
    Report {
        month: month.to_string(),
        services,
        total,
    }
}

/// Seconds for a table cell (`short_duration`); negative or NaN as `0s`, beyond what a
/// `Duration` holds (a hand-edited status) as `invalid`.
pub fn time(seconds: f64) -> String {
    match Duration::try_from_secs_f64(seconds.max(0.0)) {
        Ok(d) => short_duration(d),
        Err(_) => "invalid".into(),
    }
}

/// The table (see the module docs) for `report`.
pub fn render_table(report: &Report) -> String {
    let header = [
        "NAME",
        "AWAKE",
        "COST",
        "ALWAYS-ON",
        "SAVED",
        "WAKES",
        "MEDIAN-WAKE",
    ];
    let dash = || "-".to_string();
    let cells = |r: &Row| -> Vec<String> {
        if !r.counted {
            return vec![
                r.name.clone(),
                dash(),
                dash(),
                dash(),
                dash(),
                dash(),
                dash(),
            ];
        }
        vec![
            r.name.clone(),
            time(r.task_seconds),
            r.cost.map_or_else(dash, dollars),
            r.always_on_cost.map_or_else(dash, dollars),
            r.saved.map_or_else(|| time(r.saved_seconds), dollars),
            r.wakes.to_string(),
            r.median_wake_seconds.map_or_else(dash, time),
        ]
    };
    let mut rows: Vec<Vec<String>> = report.services.iter().map(cells).collect();
    rows.push(cells(&report.total));
    table(&header, &rows)
}

/// Runs `snoozectl cost`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let mut entries = Vec::new();
    if args.names.is_empty() {
        entries = store.list().await.context("cannot list services")?;
    } else {
        // `demo service/demo` is one service, counted once in the total.
        let mut seen = std::collections::BTreeSet::new();
        for name in args.names.iter().filter(|n| seen.insert(n.as_str())) {
            let entry = store
                .get(name)
                .await
                .with_context(|| format!("cannot read service {name:?}"))?;
            entries.push(entry.ok_or_else(|| StoreError::NotFound(name.clone()))?);
        }
    }
    let month = args.month.unwrap_or_else(|| month_key(Timestamp::now()));
    let report = report(&entries, &month);
    match args.output {
        Some(Output::Json) => super::emit(format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        Some(Output::Yaml) => super::emit(serde_yaml_ng::to_string(&report)?)?,
        None if entries.is_empty() => eprintln!("No services found in {}.", global.store),
        None => super::emit(render_table(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ledger::Ledger;
    use crate::model::{Record, Status};

    fn with_month(name: &str, m: LedgerMonth) -> Entry {
        let r = Record::test(name).with_status(Status {
            ledger: Ledger {
                months: vec![m],
                ..Ledger::default()
            },
            ..Status::default()
        });
        Entry::Record(Box::new(r))
    }

    /// The worked example of docs/cost.md: the demo task (0.25 vCPU, 0.5 GB, arm64, public
    /// IPv4) costs 0.25 · 0.03238 + 0.5 · 0.00356 + 0.005 = $0.014875 an hour; awake 10 task-hours
    /// in a 730-hour month.
    #[test]
    fn table_of_the_cost_doc_example() {
        let rate = 0.25 * 0.03238 + 0.5 * 0.00356 + 0.005;
        let demo = LedgerMonth {
            month: "2026-12".into(),
            task_seconds: 10.0 * 3600.0,
            always_on_seconds: 730.0 * 3600.0,
            cost: Some(10.0 * rate),
            always_on_cost: Some(730.0 * rate),
            wakes: 12,
            wake_seconds: vec![41.0, 39.0, 44.0],
            ..LedgerMonth::default()
        };
        let local = LedgerMonth {
            month: "2026-12".into(),
            task_seconds: 95.0,
            always_on_seconds: 3600.0,
            wakes: 1,
            wake_seconds: vec![1.5],
            ..LedgerMonth::default()
        };
        let older = LedgerMonth {
            month: "2026-11".into(),
            task_seconds: 1.0,
            ..LedgerMonth::default()
        };
        let entries = vec![
            with_month("demo", demo),
            with_month("local", local),
            with_month("quiet", older),
        ];
        let r = report(&entries, "2026-12");
        assert_eq!(r.total.cost, Some(10.0 * rate));
        assert!((r.total.saved.unwrap() - 720.0 * rate).abs() < 1e-9);
        assert_eq!(r.total.wakes, 13);
        assert_eq!(
            render_table(&r),
            "NAME    AWAKE   COST    ALWAYS-ON   SAVED    WAKES   MEDIAN-WAKE\n\
             demo    10h     $0.15   $10.86      $10.71   12      41s\n\
             local   95s     -       -           58m      1       1s\n\
             quiet   -       -       -           -        -       -\n\
             TOTAL   10h     $0.15   $10.86      $10.71   13      -\n"
        );
    }

    #[test]
    fn months_are_checked() {
        assert_eq!(parse_month("2026-12"), Ok("2026-12".into()));
        for bad in [
            "2026-13",
            "2026-1",
            "26-12",
            "2026/12",
            "december",
            "2026-12-01",
        ] {
            let e = parse_month(bad).unwrap_err();
            assert!(e.contains("is not a month; use YYYY-MM"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_hand_edited_ledger_is_shown_not_panicked_on() {
        let wild = LedgerMonth {
            month: "2026-12".into(),
            task_seconds: 1e308,
            always_on_seconds: f64::NAN,
            cost: Some(1e300),
            always_on_cost: Some(-1.0),
            wakes: u32::MAX,
            wake_seconds: vec![1e300],
            forced_over_budget: u32::MAX,
            ..LedgerMonth::default()
        };
        let entries = vec![with_month("a", wild.clone()), with_month("b", wild)];
        let r = report(&entries, "2026-12");
        assert_eq!(r.total.wakes, u32::MAX);
        let table = render_table(&r);
        let a = table.lines().nth(1).unwrap();
        assert_eq!(
            a.split_whitespace().collect::<Vec<_>>(),
            [
                "a",
                "invalid",
                "invalid",
                "-$1.00",
                "invalid",
                "4294967295",
                "invalid"
            ],
            "{table}"
        );
        assert_eq!(time(-5.0), "0s");
        assert_eq!(time(f64::NAN), "0s");
    }

    #[test]
    fn dollars_are_rounded_for_people() {
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(0.004), "<$0.01");
        assert_eq!(dollars(10.855), "$10.86");
        assert_eq!(dollars(-0.4), "-$0.40");
    }
}
