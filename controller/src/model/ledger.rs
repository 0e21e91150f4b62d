//! `status.ledger`: what a service was billed and what it saved, per calendar month (UTC).
//!
//! The reconciler is the ledger's only writer (it is part of `status`, published with the
//! status compare-and-swap), so an operator's edit of the spec never resets it. It counts the
//! way Fargate bills: per task, from the start of the image pull (`pullStartedAt`) until the
//! task stops, per second with a one-minute minimum; beside it, for the same stretch of time,
//! what the service would have cost always on at `spec.replicas` ("always-on"). Saved is the
//! difference. Seconds are kept for every target; money only for priced targets (ECS, with a
//! price from the shipped price table), never for local processes.
//!
//! Shape (JSON, camelCase), months oldest first, at most [`RETENTION_MONTHS`]:
//!
//! ```json
//! {"countedUntil": "2026-12-04T10:00:00.000Z",
//!  "months": [{"month": "2026-12", "taskSeconds": 5400, "alwaysOnSeconds": 86400,
//!              "cost": 0.07, "alwaysOnCost": 1.17, "wakes": 3, "wakeSeconds": [41.2, 38.0]}],
//!  "tasks": [{"arn": "arn:aws:ecs:…:task/c/0a1b…", "billedFrom": "…", "countedUntil": "…"}]}
//! ```
//!
//! A month may also carry `unaccountedTasks` (tasks that vanished before their stop was seen),
//! `unpricedTaskSeconds` and `unpricedAlwaysOnSeconds` (seconds counted without a price, left
//! out of `cost` / `alwaysOnCost`), and the budget guardrail's `forcedOverBudget` and
//! `budgetReachedAt`. The counting itself is `reconcile::ledger` (method and limits:
//! docs/cost.md, "The ledger: what snooze saved").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Months kept in `status.ledger.months` (the current one and the twelve before it); older
/// months are dropped so a record stays far below DynamoDB's 400 KB item limit.
pub const RETENTION_MONTHS: usize = 13;

/// Wake durations kept per month for the median (`wakeSeconds`), the newest.
pub const WAKE_SECONDS_KEPT: usize = 50;

/// `status.ledger` ([`super::Status::ledger`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// Until when the always-on comparison has been counted: the `now` of the last pass that
    /// counted. The next pass counts always-on time from here to its own `now`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_until: Option<Timestamp>,
    /// One entry per calendar month (UTC) with anything counted, oldest first, at most 13 (the
    /// current month and the twelve before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<LedgerMonth>,
    /// Tasks being counted, and stopped tasks ECS may still list (kept until it forgets
    /// them, so that none is counted twice).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<LedgerTask>,
}

/// One calendar month (UTC) of a service's ledger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerMonth {
    /// The month, `YYYY-MM` (UTC), e.g. `2026-12`.
    pub month: String,
    /// Task-seconds billed in this month: every task's seconds from `pullStartedAt` until it
    /// stopped (or until the last pass while it runs), Fargate's one-minute minimum added at its
    /// stop (ECS tasks; a local process counts its real seconds).
    #[serde(default)]
    pub task_seconds: f64,
    /// Task-seconds the service would have run always on at `spec.replicas`, over the same
    /// time the ledger counted in this month.
    #[serde(default)]
    pub always_on_seconds: f64,
    /// What `taskSeconds` cost, in US dollars at the price table's list prices; absent for an
    /// unpriced target (local) or when no price was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// What `alwaysOnSeconds` would have cost, in US dollars; absent like `cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_on_cost: Option<f64>,
    /// Wakes completed in this month (phase Ready reached after a wake).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wakes: u32,
    /// Durations of this month's completed wakes in seconds, the newest 50; their median is
    /// `snoozectl cost`'s wake time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wake_seconds: Vec<f64>,
    /// Wakes forced past the budget this month (`snoozectl wake --force` while `spec.budget`
    /// was reached).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forced_over_budget: u32,
    /// When this month's cost first reached `spec.budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_reached_at: Option<Timestamp>,
    /// Tasks the ledger was counting that vanished in this month: the service was observed,
    /// but the task was neither listed with it nor known to a lookup by ARN (ECS had forgotten
    /// it, e.g. after the reconciler did not run for over an hour). Each was closed at the last
    /// second counted for it, without the one-minute minimum: its true stop is unknown, so
    /// `taskSeconds` may be short by up to the time between two passes. A warning is logged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unaccounted_tasks: u32,
    /// Of `taskSeconds`, the seconds counted without a price (no price table row, or the
    /// task's size unknown): `cost` leaves them out. 0 on an ECS target with a known size.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub unpriced_task_seconds: f64,
    /// Of `alwaysOnSeconds`, the seconds counted without a price (the service's size unknown
    /// at the time): `alwaysOnCost` leaves them out.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub unpriced_always_on_seconds: f64,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// A task the ledger is counting or has counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerTask {
    /// The task's ARN (or a local id such as `local:8082:30629`), as the platform reports it;
    /// a task that vanished from observation is looked up by it.
    pub arn: String,
    /// When billing began: `pullStartedAt`, else `startedAt` (a platform that does not report
    /// the pull).
    pub billed_from: Timestamp,
    /// Until when its seconds have been counted.
    pub counted_until: Timestamp,
    /// True once its stop was counted (with the one-minute minimum for an ECS task); kept until
    /// ECS no longer lists it, then dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
    /// True once the task was seen with a public IPv4 address: its seconds (the one-minute
    /// minimum included) are then priced with the public IPv4 charge until it stops, although
    /// a stopping task has no network interface (no address) left. Default false (omitted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_ip: bool,
}

impl Ledger {
    /// True when nothing was counted yet (the ledger is then not stored).
    pub fn is_empty(&self) -> bool {
        self.counted_until.is_none() && self.months.is_empty() && self.tasks.is_empty()
    }

    /// The entry of `month` (`YYYY-MM`), if anything was counted in it. Does not rely on the
    /// months' order; the reconciler keeps one entry per month (a hand-edited ledger with two
    /// is merged at its next count), and until then the first entry is found.
    pub fn month(&self, month: &str) -> Option<&LedgerMonth> {
        self.months.iter().find(|m| m.month == month)
    }

    /// The entry of the month `at` falls in (UTC).
    pub fn month_of(&self, at: Timestamp) -> Option<&LedgerMonth> {
        self.month(&month_key(at))
    }
}

impl LedgerMonth {
    /// Always-on minus billed seconds (what sleeping avoided), never below 0.
    pub fn saved_seconds(&self) -> f64 {
        (self.always_on_seconds - self.task_seconds).max(0.0)
    }

    /// Always-on cost minus cost, in US dollars; `None` when either is unknown. May be
    /// negative (a month that ran more tasks than `spec.replicas`).
    pub fn saved(&self) -> Option<f64> {
        Some(self.always_on_cost? - self.cost?)
    }

    /// The median of `wakeSeconds`, `None` without wakes.
    pub fn median_wake_seconds(&self) -> Option<f64> {
        median_seconds(&self.wake_seconds)
    }
}

/// The median of durations in seconds (non-finite and negative values ignored; the mean of
/// the two middle ones for an even count); `None` when none is left. Used for a month's wake
/// time here and for a service's typical wake (`Status::typical_wake_seconds`).
pub fn median_seconds(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = (values.iter().copied())
        .filter(|x| x.is_finite() && *x >= 0.0)
        .collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The budget guardrail (`spec.budget`) reached: this month's cost in `status.ledger` is at or
/// above it ([`super::Record::budget_reached`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetReached {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// This month's cost so far, in US dollars (`LedgerMonth.cost`).
    pub cost: f64,
    /// `spec.budget`, in US dollars.
    pub budget: f64,
    /// When the budget resets: the start of the next month (UTC) ([`next_month_start`]).
    pub until: Timestamp,
}

impl BudgetReached {
    /// `this month's cost $12.31 reached the monthly budget of $12.00`.
    pub fn words(&self) -> String {
        format!(
            "this month's cost {} reached the monthly budget of {}",
            dollars(self.cost),
            dollars(self.budget)
        )
    }

    /// When it resets, for people: `2027-01-01 00:00 UTC` ([`utc_words`]).
    pub fn until_words(&self) -> String {
        utc_words(self.until)
    }
}

/// A moment for people, in UTC: `2027-01-01 00:00 UTC`.
pub fn utc_words(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An amount of US dollars for people (messages, tables): `$12.00`, `$0.07`; below a cent
/// `<$0.01` (but `$0.00` for exactly 0); negative as `-$0.40`; a value no ledger can hold (not
/// finite, or a trillion dollars and more: a hand-edited status) as `invalid`.
pub fn dollars(amount: f64) -> String {
    if !amount.is_finite() || amount.abs() >= 1e12 {
        return "invalid".into();
    }
    if amount < 0.0 {
        return format!("-{}", dollars(-amount));
    }
    if amount > 0.0 && amount < 0.005 {
        return "<$0.01".into();
    }
    format!("${amount:.2}")
}

/// The calendar month (UTC) `at` falls in, as `YYYY-MM`.
pub fn month_key(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m").to_string()
}

/// The start of the calendar month (UTC) after the one `at` falls in: when a month's budget
/// resets.
pub fn next_month_start(at: Timestamp) -> Timestamp {
    use chrono::{Datelike, TimeZone, Utc};
    let d = at.as_datetime();
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    let start = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight UTC exists");
    Timestamp::from_datetime(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_key(at("2026-12-31T23:59:59.999Z")), "2026-12");
        assert_eq!(month_key(at("2027-01-01T00:00:00.000Z")), "2027-01");
        assert_eq!(
            next_month_start(at("2026-12-31T23:59:59.999Z")),
            at("2027-01-01T00:00:00.000Z")
        );
        assert_eq!(
            next_month_start(at("2027-02-10T08:00:00.000Z")),
            at("2027-03-01T00:00:00.000Z")
        );
    }

    #[test]
    fn saved_and_median() {
        let m = LedgerMonth {
            month: "2026-12".into(),
            task_seconds: 3600.0,
            always_on_seconds: 86_400.0,
            cost: Some(0.05),
            always_on_cost: Some(1.20),
            wake_seconds: vec![40.0, 30.0, 50.0, 20.0],
            ..LedgerMonth::default()
        };
        assert_eq!(m.saved_seconds(), 82_800.0);
        assert!((m.saved().unwrap() - 1.15).abs() < 1e-9);
        assert_eq!(m.median_wake_seconds(), Some(35.0));
        assert_eq!(LedgerMonth::default().saved(), None);
    }
}
