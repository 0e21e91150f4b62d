//! The status a visitor sees: a pure function from a stored record (and the time) to a
//! [`StatusView`], serialised as the status JSON of `GET /api/v1/services/{name}`.

use std::time::Duration;

use serde::Serialize;

use crate::model::{
    Entry, GroupMemberStatus, GroupStatus, Phase, Record, RouteTo, Step, Target, Timestamp,
};

/// What the wait page and the status JSON show for one service. Built by [`view`]; serialised
/// (camelCase) as the body of `GET /api/v1/services/{name}` and `POST .../wake`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// The record's name.
    pub name: String,
    /// The phase as a visitor should treat it: `status.phase`, except that a wake request the
    /// reconciler has not answered yet (newer than `status.wakeStartedAt`) shows as `Waking`
    /// (step `requested`) even while the published phase is still `Asleep`, `Sleeping` or
    /// `Failed`; a record that does not parse or validate is `Invalid`; `Ready` without a
    /// usable endpoint URL is `Waking` (step `healthy`).
    pub phase: Phase,
    /// True only when the service can be visited now: phase `Ready` with an endpoint URL and
    /// nothing in its groups to wait for ([`crate::model::Status::ready_for_visitors`]). A
    /// Ready record whose dependency is not Ready shows as `Waking` (step `healthy`) with the
    /// message "Waiting for … to be ready."
    pub ready: bool,
    /// Inside quiet hours (`spec.schedule.asleep`): when they end; wake requests are refused
    /// (409 `quiet_hours`) until then. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_until: Option<Timestamp>,
    /// This month's cost has reached `spec.budget` (and no operator's forced wake holds): the
    /// month's cost, the budget and when the next month begins; wake requests are refused
    /// (409 `over_budget`) until then. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_budget: Option<BudgetView>,
    /// The published endpoint (`status.endpoint.url`); present only when `ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Wake progress (`requested`, `scaling`, `provisioning`, `pending`, `running`, `healthy`,
    /// `ready`); `null` when no wake is in progress.
    pub step: Option<Step>,
    /// One plain sentence for people: the failure reason when `Failed`.
    pub message: String,
    /// When the current wake started (Waking), else when the phase began; `null` if unknown.
    pub since: Option<Timestamp>,
    /// Whole seconds from `since` to now; `null` when `since` is.
    pub elapsed_seconds: Option<u64>,
    /// Seconds until Ready, estimated as the median of `status.recentWakeSeconds` (or
    /// `status.lastWake.seconds`) minus `elapsedSeconds`, at least 0. Only while Waking and
    /// when past wakes are known; else `null`.
    pub eta_seconds: Option<u64>,
    /// That median wake duration in whole seconds (`null` when no wake has completed yet).
    pub typical_wake_seconds: Option<u64>,
    /// How long a client should wait before asking again: 1 s for the first 10 s of a wake,
    /// 2 s until 30 s, then 5 s. `null` when nothing changes without an action (Ready, Asleep,
    /// Failed, Invalid).
    pub retry_after_seconds: Option<u64>,
    /// Route mode only (`spec.routing.mode: route`): whether the stable address points at the
    /// service now (`status.route.to`). A route-mode record is `ready` only when it does; while
    /// Ready but not yet routed it shows as `Waking` at step `healthy`. Absent in redirect mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routed: Option<bool>,
    /// Route mode only: the stable address, e.g. `https://demo.example.com/` (filled by the
    /// wake endpoint, which knows its scheme and port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The record's groups as the reconciler's last pass saw them (`status.group`); absent for
    /// a record without groups, and for one that is Invalid (the pass writes no group for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupView>,
    /// Changes whenever anything a waiting visitor sees changes (phase, step, readiness,
    /// route, message, the group's members, what it waits for and when it should be ready):
    /// give it back as `?seen=` with `?wait=N` to hold the status request until it changes.
    pub change_key: String,
}

/// `overBudget` in the status JSON (from [`Record::over_budget`]):
/// `{"month": "2026-11", "cost": 12.5, "budget": 10.0, "until": "2026-12-01T00:00:00.000Z"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// This month's cost so far, in US dollars (list prices).
    pub cost: f64,
    /// `spec.budget`, in US dollars.
    pub budget: f64,
    /// When the next month begins (UTC) and the service can be woken again.
    pub until: Timestamp,
}

/// `group` in the status JSON: what a visitor of one member sees of its groups, from
/// `status.group` ([`GroupStatus`]) and the time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    /// Every member of the record's groups and the records they depend on (the record itself
    /// included), in start order: by wave, then name.
    pub members: Vec<MemberView>,
    /// The dependencies this record's visitors still wait for (not Ready), sorted; empty when
    /// none. The record is `ready` only when this is empty.
    pub waiting_for: Vec<String>,
    /// Whole seconds from now until the whole group should be Ready (`readyBy` minus now,
    /// rounded, at least 0); `null` when `readyBy` is unknown (a member that is not Ready has
    /// no measured wake yet).
    pub eta_seconds: Option<u64>,
    /// When every required member should be Ready (`status.group.readyBy`); `null` when unknown.
    pub ready_by: Option<Timestamp>,
}

/// One member in [`GroupView::members`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// The member's record name.
    pub name: String,
    /// Its phase as the reconciler last saw it; `null` when it has no status yet.
    pub phase: Option<Phase>,
    /// Its wake progress (`ready` when Ready); `null` when no wake is in progress.
    pub step: Option<Step>,
    /// The first line of its status message (why it failed, what it waits for), trimmed;
    /// empty when none, and always empty for an `Invalid` member (its reasons are for
    /// operators, not for the public page).
    pub message: String,
    /// `spec.optional`: nobody waits for it.
    pub optional: bool,
    /// Its start wave: 0 for a member depending on nothing, else one more than the highest wave
    /// of what it depends on.
    pub wave: u32,
}

impl GroupView {
    /// The visitor's view of `g` at `now` (see the field docs for the rules).
    pub fn new(g: &GroupStatus, now: Timestamp) -> Self {
        let members = (g.members.iter())
            .map(|m| MemberView {
                name: m.name.clone(),
                phase: m.phase,
                step: m.step,
                message: if m.phase == Some(Phase::Invalid) {
                    String::new()
                } else {
                    m.message.lines().next().unwrap_or("").trim().to_string()
                },
                optional: m.optional,
                wave: m.wave,
            })
            .collect();
        let eta_seconds = g.ready_by.map(|t| {
            let ms = t.as_millis().saturating_sub(now.as_millis()).max(0);
            ((ms + 500) / 1000) as u64
        });
        GroupView {
            members,
            waiting_for: g.waiting_for.clone(),
            eta_seconds,
            ready_by: g.ready_by,
        }
    }
}

impl StatusView {
    /// True while something is changing on its own (Waking or Sleeping): the wait page polls.
    pub fn in_progress(&self) -> bool {
        matches!(self.phase, Phase::Waking | Phase::Sleeping)
    }
}

/// True when `record` has a wake request the reconciler has not answered yet: the
/// reconciler's own rule, [`Record::wake_unanswered`], so the page shows Waking exactly for the
/// records the reconciler will wake.
pub fn wake_pending(record: &Record) -> bool {
    record.wake_unanswered()
}

/// What the wait page says during a wake step, in the words of the record's platform (a local
/// process pulls no image and has no network interface).
fn step_message(step: Step, target: &Target, routed_mode: bool) -> &'static str {
    let local = matches!(target, Target::Local(_));
    if routed_mode && step == Step::Healthy {
        return "Healthy: pointing the address at the service.";
    }
    match step {
        Step::Requested => "Wake requested; waiting for the controller to start the service.",
        Step::Scaling if local => "Scaling up: starting the process.",
        Step::Scaling => "Scaling up: asking for a task.",
        Step::Provisioning if local => "Provisioning: starting the process.",
        Step::Provisioning => "Provisioning: attaching the task's network interface.",
        Step::Pending if local => "Pending: waiting for the process to listen on its port.",
        Step::Pending => "Pending: pulling the image and starting the containers.",
        Step::Running => "Running: waiting for the health checks to pass.",
        Step::Healthy => "Healthy: publishing the address.",
        Step::Ready => "Ready.",
    }
}

/// An absolute `http`/`https` URL with a host, or `None`. The only redirect targets are
/// built from URLs that pass this check.
pub fn usable_endpoint(url: &str) -> Option<http::Uri> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.authority().is_some_and(|a| !a.host().is_empty());
    (scheme_ok && host_ok).then_some(uri)
}

/// The view of a stored entry at `now`. A malformed entry is `Invalid`.
pub fn view(entry: &Entry, now: Timestamp) -> StatusView {
    match entry {
        Entry::Record(r) => view_record(r, now),
        Entry::Malformed(m) => StatusView {
            name: m.name.clone(),
            phase: Phase::Invalid,
            ready: false,
            quiet_until: None,
            over_budget: None,
            url: None,
            step: None,
            message: INVALID_MESSAGE.into(),
            since: m.status.as_ref().and_then(|s| s.phase_since),
            elapsed_seconds: None,
            eta_seconds: None,
            typical_wake_seconds: None,
            retry_after_seconds: None,
            routed: None,
            address: None,
            group: None,
            change_key: change_key(Phase::Invalid, None, false, None, INVALID_MESSAGE, None),
        },
    }
}

/// [`StatusView::change_key`]: `{phase}.{step}.{ready}.{routed}.{hash}`, the hash over the
/// message and, for a record with groups, the group's members (name, phase, step, message),
/// `waitingFor` and `readyBy` (not `etaSeconds`, which changes with the clock alone).
fn change_key(
    phase: Phase,
    step: Option<Step>,
    ready: bool,
    routed: Option<bool>,
    message: &str,
    group: Option<&GroupView>,
) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(message.as_bytes());
    if let Some(g) = group {
        for m in &g.members {
            hash.update(b"\0member\0");
            for part in [
                m.name.as_str(),
                m.phase.map_or("-", Phase::as_str),
                m.step.map_or("-", Step::as_str),
                m.message.as_str(),
            ] {
                hash.update(part.as_bytes());
                hash.update(b"\0");
            }
        }
        hash.update(b"\0waiting\0");
        hash.update(g.waiting_for.join(",").as_bytes());
        hash.update(b"\0readyBy\0");
        hash.update(
            g.ready_by
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    let digest = hash.finalize();
    format!(
        "{}.{}.{}.{}.{}",
        phase.as_str(),
        step.map_or("-", Step::as_str),
        u8::from(ready),
        routed.map_or("-", |r| if r { "1" } else { "0" }),
        hex::encode(&digest[..4])
    )
}

/// `v` as a route-mode visitor at the wake endpoint sees it while the address is still being
/// pointed at the service: `Waking` at step `healthy`, not ready.
pub fn not_yet_routed(mut v: StatusView, r: &Record) -> StatusView {
    v.phase = Phase::Waking;
    v.step = Some(Step::Healthy);
    v.ready = false;
    v.url = None;
    v.routed = Some(false);
    v.message = step_message(Step::Healthy, &r.spec.target, true).to_string();
    v.retry_after_seconds = Some(1);
    v.change_key = change_key(
        v.phase,
        v.step,
        v.ready,
        v.routed,
        &v.message,
        v.group.as_ref(),
    );
    v
}

/// The required members `status` waits for (`status.group.waitingFor`) whose phase is
/// `Failed`, in start order: its visitors' wait cannot end until one of them is retried (a new
/// wake on any member does it; the wake endpoint writes it without the usual debounce,
/// [`super::wake_debounce`]).
pub fn failed_dependencies(status: &crate::model::Status) -> Vec<&GroupMemberStatus> {
    let Some(g) = status.group.as_ref() else {
        return Vec::new();
    };
    (g.members.iter())
        .filter(|m| m.phase == Some(Phase::Failed) && g.waiting_for.contains(&m.name))
        .collect()
}

/// What a member's visitor reads while it waits for `waiting_for`: `Waiting for api to be
/// ready.`; when a dependency failed, which one and why, and that a reload tries again
/// (`Waiting for db, which failed: not ready within 5m (...). Reload this page to try again.`);
/// when one is Invalid, that an operator must fix it (without its message, which is for
/// operators).
fn waiting_message(status: &crate::model::Status, waiting_for: &[String]) -> String {
    let failed = failed_dependencies(status);
    if let Some(m) = failed.first() {
        let why = m.message.lines().next().unwrap_or("").trim();
        let why = if why.is_empty() {
            "its last wake attempt failed"
        } else {
            why
        };
        return format!(
            "Waiting for {}, which failed: {why}. Reload this page to try again.",
            m.name
        );
    }
    let invalid: Vec<String> = (status.group.iter().flat_map(|g| g.members.iter()))
        .filter(|m| m.phase == Some(Phase::Invalid) && waiting_for.contains(&m.name))
        .map(|m| m.name.clone())
        .collect();
    if !invalid.is_empty() {
        return format!(
            "Waiting for {} to be ready; the configuration of {} has errors, so an operator \
             must fix it first.",
            crate::model::group::words_list(waiting_for),
            crate::model::group::words_list(&invalid)
        );
    }
    format!(
        "Waiting for {} to be ready.",
        crate::model::group::words_list(waiting_for)
    )
}

/// What visitors read for a record that does not parse or validate. The details (paths,
/// values) are for operators (`snoozectl get`), not for the public page.
pub const INVALID_MESSAGE: &str =
    "This service's configuration has errors, so it cannot be woken. An operator must fix it.";

/// The view of a parsed record at `now` (see [`StatusView::phase`] for the rules).
pub fn view_record(r: &Record, now: Timestamp) -> StatusView {
    let status = r.status.clone().unwrap_or_default();
    let published = r.status.as_ref().map(|s| s.phase);
    let pending = wake_pending(r);
    let endpoint = status
        .endpoint
        .as_ref()
        .filter(|e| usable_endpoint(&e.url).is_some())
        .map(|e| e.url.clone());
    let invalid = published == Some(Phase::Invalid) || !crate::model::validate(r).is_empty();
    let route_mode = r.spec.route_host().is_some();
    let routed = route_mode.then(|| {
        status.route.as_ref().is_some_and(|rt| {
            rt.to == RouteTo::Service && Some(&rt.host) == r.spec.route_host().as_ref()
        })
    });

    let group = status.group.as_ref().map(|g| GroupView::new(g, now));
    let waiting_for = group.as_ref().map_or(&[][..], |g| &g.waiting_for[..]);
    let (phase, step, since) = if invalid {
        (Phase::Invalid, None, status.phase_since)
    } else {
        match status.phase {
            Phase::Ready
                if endpoint.is_some() && routed != Some(false) && status.ready_for_visitors() =>
            {
                (Phase::Ready, Some(Step::Ready), status.phase_since)
            }
            Phase::Ready => (
                Phase::Waking,
                Some(Step::Healthy),
                status.wake_started_at.or(status.phase_since),
            ),
            Phase::Waking => (
                Phase::Waking,
                Some(
                    status
                        .step
                        .filter(|s| *s != Step::Ready)
                        .unwrap_or(Step::Requested),
                ),
                status
                    .wake_started_at
                    .or(r.desired.wake_requested_at)
                    .or(status.phase_since),
            ),
            Phase::Asleep | Phase::Sleeping | Phase::Failed if pending => (
                Phase::Waking,
                Some(Step::Requested),
                r.desired.wake_requested_at,
            ),
            Phase::Failed => (Phase::Failed, status.step, status.phase_since),
            p => (p, None, status.phase_since),
        }
    };
    let ready = phase == Phase::Ready;
    let elapsed = since.map(|s| now.since(s));
    let typical = status.typical_wake_seconds();
    let waking = phase == Phase::Waking;
    // Quiet hours (precedence row 5), for a service that is not up.
    let quiet = (!invalid && matches!(phase, Phase::Asleep | Phase::Sleeping))
        .then(|| r.quiet_until(now, Duration::ZERO))
        .flatten();
    // This month's budget reached (precedence row 4), for a service that is not up.
    let broke = (!invalid && matches!(phase, Phase::Asleep | Phase::Sleeping))
        .then(|| r.over_budget(now))
        .flatten();
    let eta = match (waking, typical, elapsed) {
        (true, Some(t), Some(e)) => Some((t - e.as_secs_f64()).max(0.0).round() as u64),
        (true, Some(t), None) => Some(t.round() as u64),
        _ => None,
    };
    let retry_after = match phase {
        Phase::Waking => Some(match elapsed.unwrap_or_default() {
            e if e < Duration::from_secs(10) => 1,
            e if e < Duration::from_secs(30) => 2,
            _ => 5,
        }),
        Phase::Sleeping => Some(5),
        _ => None,
    };
    let message = match phase {
        Phase::Invalid => INVALID_MESSAGE.to_string(),
        Phase::Ready => "Ready.".to_string(),
        Phase::Failed if !status.message.trim().is_empty() => status.message.trim().to_string(),
        Phase::Failed => "The last wake attempt failed.".to_string(),
        Phase::Waking if !waiting_for.is_empty() => waiting_message(&status, waiting_for),
        Phase::Waking => {
            step_message(step.unwrap_or(Step::Requested), &r.spec.target, route_mode).to_string()
        }
        Phase::Asleep => match (&broke, quiet, r.spec.schedule.as_ref()) {
            (Some(reached), _, _) => super::budget_sentence(r.title(), reached),
            (None, Some(until), Some(s)) => format!(
                "Asleep until {} (quiet hours); it cannot be woken before then.",
                s.local_time(until)
            ),
            _ => "Asleep.".to_string(),
        },
        Phase::Sleeping => match &broke {
            Some(reached) => super::budget_sentence(r.title(), reached),
            None => "Going to sleep; a new request wakes it again.".to_string(),
        },
    };
    StatusView {
        change_key: change_key(phase, step, ready, routed, &message, group.as_ref()),
        group,
        name: r.metadata.name.clone(),
        phase,
        ready,
        quiet_until: quiet,
        over_budget: broke.map(|b| BudgetView {
            month: b.month,
            cost: b.cost,
            budget: b.budget,
            until: b.until,
        }),
        routed,
        address: None,
        url: if ready && !route_mode { endpoint } else { None },
        step,
        message,
        since,
        elapsed_seconds: elapsed.map(|e| e.as_secs()),
        eta_seconds: eta,
        typical_wake_seconds: typical.map(|t| t.round() as u64),
        retry_after_seconds: retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointStatus, GroupMemberStatus, LastWake, Status};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_fresh_wake_on_an_asleep_record_is_requested() {
        let now = t("2026-11-29T10:00:05Z");
        let r = Record::test("demo")
            .asleep()
            .woken_at(t("2026-11-29T10:00:00Z"));
        let v = view_record(&r, now);
        assert_eq!(
            (v.phase, v.step, v.ready),
            (Phase::Waking, Some(Step::Requested), false)
        );
        assert_eq!(v.elapsed_seconds, Some(5));
        assert_eq!(v.retry_after_seconds, Some(1));
        assert_eq!(v.url, None);
    }

    #[test]
    fn ready_needs_a_usable_endpoint_and_only_then_shows_the_url() {
        let now = t("2026-11-29T10:01:00Z");
        let mut s = Status {
            phase: Phase::Ready,
            step: Some(Step::Ready),
            endpoint: Some(EndpointStatus {
                ip: "203.0.113.10".into(),
                url: "http://203.0.113.10:80/".into(),
                task_arn: "arn:task".into(),
            }),
            ..Status::default()
        };
        let v = view_record(&Record::test("demo").with_status(s.clone()), now);
        assert!(v.ready);
        assert_eq!(v.url.as_deref(), Some("http://203.0.113.10:80/"));
        assert_eq!(v.retry_after_seconds, None);
        s.endpoint.as_mut().unwrap().url = "javascript:alert(1)".into();
        let v = view_record(&Record::test("demo").with_status(s.clone()), now);
        assert!(!v.ready);
        assert_eq!(
            (v.phase, v.step, v.url),
            (Phase::Waking, Some(Step::Healthy), None)
        );
        s.endpoint = None;
        assert!(!view_record(&Record::test("demo").with_status(s), now).ready);
    }

    #[test]
    fn eta_is_the_median_of_past_wakes_minus_elapsed() {
        let now = t("2026-11-29T10:00:10Z");
        let s = Status {
            phase: Phase::Waking,
            step: Some(Step::Pending),
            wake_started_at: Some(t("2026-11-29T10:00:00Z")),
            recent_wake_seconds: vec![40.0, 30.0, 100.0, f64::NAN],
            ..Status::default()
        };
        let v = view_record(&Record::test("demo").with_status(s), now);
        assert_eq!(v.typical_wake_seconds, Some(40));
        assert_eq!(v.eta_seconds, Some(30));
        assert_eq!(v.step, Some(Step::Pending));
        assert_eq!(v.retry_after_seconds, Some(2));
    }

    #[test]
    fn waking_steps_are_told_in_the_platforms_words() {
        let now = t("2026-11-29T10:00:10Z");
        let pending = Status {
            phase: Phase::Waking,
            step: Some(Step::Pending),
            wake_started_at: Some(t("2026-11-29T10:00:00Z")),
            ..Status::default()
        };
        let ecs = view_record(&Record::test("demo").with_status(pending.clone()), now);
        assert!(ecs.message.contains("pulling the image"), "{}", ecs.message);
        let mut local = Record::test("demo").with_status(pending);
        local.spec.target = Target::Local(crate::model::LocalTarget {
            command: "app".into(),
            args: vec![],
            env: Default::default(),
            working_dir: None,
            port: 8081,
        });
        let v = view_record(&local, now);
        assert_eq!(
            v.message,
            "Pending: waiting for the process to listen on its port."
        );
    }

    #[test]
    fn failed_keeps_its_reason_until_a_newer_wake_arrives() {
        let started = t("2026-11-29T10:00:00Z");
        let s = Status {
            phase: Phase::Failed,
            step: Some(Step::Running),
            wake_started_at: Some(started),
            message: "  task stopped: Essential container in task exited (exit code 1) ".into(),
            last_wake: Some(LastWake {
                requested_at: started,
                ready_at: started,
                seconds: 20.0,
            }),
            ..Status::default()
        };
        let r = Record::test("demo").with_status(s).woken_at(started);
        let v = view_record(&r, t("2026-11-29T10:05:00Z"));
        assert_eq!(v.phase, Phase::Failed);
        assert_eq!(
            v.message,
            "task stopped: Essential container in task exited (exit code 1)"
        );
        assert_eq!(v.retry_after_seconds, None);
        assert!(!wake_pending(&r));
        let r = r.woken_at(t("2026-11-29T10:05:00Z"));
        assert!(wake_pending(&r));
        let v = view_record(&r, t("2026-11-29T10:05:01Z"));
        assert_eq!((v.phase, v.step), (Phase::Waking, Some(Step::Requested)));
        assert_eq!(v.eta_seconds, Some(19));
    }

    #[test]
    fn invalid_records_say_so_without_details() {
        let mut r = Record::test("demo");
        r.spec.replicas = 500;
        let v = view_record(&r, Timestamp::now());
        assert_eq!(v.phase, Phase::Invalid);
        assert_eq!(v.message, INVALID_MESSAGE);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["ready"], false);
        assert!(json.get("url").is_none());
        assert!(json["etaSeconds"].is_null());
    }

    #[test]
    fn an_old_wake_does_not_make_a_sleeping_record_pending() {
        let s = Status {
            phase: Phase::Asleep,
            phase_since: Some(t("2026-11-29T11:00:00Z")),
            ..Status::default()
        };
        let r = Record::test("demo")
            .with_status(s)
            .woken_at(t("2026-11-29T10:00:00Z"));
        assert!(!wake_pending(&r));
        let v = view_record(&r, t("2026-11-29T12:00:00Z"));
        assert_eq!(
            (v.phase, v.step, v.retry_after_seconds),
            (Phase::Asleep, None, None)
        );
    }

    fn member(name: &str, wave: u32, phase: Phase, step: Step, message: &str) -> GroupMemberStatus {
        GroupMemberStatus {
            name: name.into(),
            wave,
            phase: Some(phase),
            step: Some(step),
            message: message.into(),
            optional: false,
        }
    }

    /// `web` (Ready, endpoint published) in a group with `api` (wave 0, still waking).
    fn web_waiting_for_api(ready_by: Option<&str>) -> Status {
        Status {
            phase: Phase::Ready,
            step: Some(Step::Ready),
            phase_since: Some(t("2026-11-29T10:00:20Z")),
            endpoint: Some(EndpointStatus {
                ip: "203.0.113.10".into(),
                url: "http://203.0.113.10:80/".into(),
                task_arn: "arn:task".into(),
            }),
            group: Some(GroupStatus {
                waiting_for: vec!["api".into()],
                held_by: vec![],
                ready_by: ready_by.map(t),
                members: vec![
                    member(
                        "api",
                        0,
                        Phase::Waking,
                        Step::Pending,
                        "Pending.\nsecond line",
                    ),
                    member("web", 1, Phase::Ready, Step::Ready, ""),
                ],
            }),
            ..Status::default()
        }
    }

    #[test]
    fn the_status_json_shows_the_group_in_start_order_with_one_eta() {
        let now = t("2026-11-29T10:00:30Z");
        let r = Record::test("web").with_status(web_waiting_for_api(Some("2026-11-29T10:00:55Z")));
        let json = serde_json::to_value(view_record(&r, now)).unwrap();
        assert_eq!(
            json["group"],
            serde_json::json!({
                "members": [
                    {"name": "api", "phase": "Waking", "step": "pending", "message": "Pending.",
                     "optional": false, "wave": 0},
                    {"name": "web", "phase": "Ready", "step": "ready", "message": "",
                     "optional": false, "wave": 1},
                ],
                "waitingFor": ["api"],
                "etaSeconds": 25,
                "readyBy": "2026-11-29T10:00:55.000Z",
            })
        );
        // readyBy in the past: 0, never negative; unknown: null.
        let json = serde_json::to_value(view_record(&r, t("2026-11-29T10:01:30Z"))).unwrap();
        assert_eq!(json["group"]["etaSeconds"], 0);
        let r = Record::test("web").with_status(web_waiting_for_api(None));
        let json = serde_json::to_value(view_record(&r, now)).unwrap();
        assert!(json["group"]["etaSeconds"].is_null(), "{json}");
        assert!(json["group"]["readyBy"].is_null(), "{json}");
        // A record without groups has no `group` key at all.
        let json = serde_json::to_value(view_record(&Record::test("demo").asleep(), now)).unwrap();
        assert!(json.get("group").is_none(), "{json}");
    }

    #[test]
    fn a_ready_member_whose_dependency_is_not_ready_keeps_its_visitors_waiting() {
        let now = t("2026-11-29T10:00:30Z");
        let s = web_waiting_for_api(None);
        assert!(!s.ready_for_visitors());
        let v = view_record(&Record::test("web").with_status(s.clone()), now);
        assert_eq!(
            (v.phase, v.step, v.ready, v.url.as_deref()),
            (Phase::Waking, Some(Step::Healthy), false, None)
        );
        assert_eq!(v.message, "Waiting for api to be ready.");
        assert!(v.in_progress(), "the page keeps polling");
        // api Ready: nothing to wait for, visitors are let in.
        let mut done = s;
        let g = done.group.as_mut().unwrap();
        g.waiting_for.clear();
        g.members[0] = member("api", 0, Phase::Ready, Step::Ready, "");
        assert!(done.ready_for_visitors());
        let v2 = view_record(&Record::test("web").with_status(done), now);
        assert!(v2.ready);
        assert_eq!(v2.phase, Phase::Ready);
        assert_eq!(v2.url.as_deref(), Some("http://203.0.113.10:80/"));
        assert_ne!(v.change_key, v2.change_key);
    }

    #[test]
    fn the_change_key_covers_the_group() {
        let now = t("2026-11-29T10:00:30Z");
        let s = web_waiting_for_api(Some("2026-11-29T10:00:55Z"));
        let key =
            |s: &Status| view_record(&Record::test("web").with_status(s.clone()), now).change_key;
        let before = key(&s);
        let mut moved = s.clone();
        moved.group.as_mut().unwrap().members[0].step = Some(Step::Running);
        assert_ne!(key(&moved), before, "a member's step");
        let mut later = s.clone();
        later.group.as_mut().unwrap().ready_by = Some(t("2026-11-29T10:01:10Z"));
        assert_ne!(key(&later), before, "readyBy");
        // The clock alone (etaSeconds) does not change it.
        let r = Record::test("web").with_status(s);
        assert_eq!(
            view_record(&r, t("2026-11-29T10:00:31Z")).change_key,
            before
        );
    }

    #[test]
    fn an_invalid_member_shows_invalid_without_its_reasons() {
        let mut s = web_waiting_for_api(None);
        s.group.as_mut().unwrap().members[0] = GroupMemberStatus {
            name: "api".into(),
            wave: 0,
            phase: Some(Phase::Invalid),
            step: None,
            message: "spec.target.cluster: arn:aws:ecs:secret".into(),
            optional: false,
        };
        let v = view_record(
            &Record::test("web").with_status(s),
            t("2026-11-29T10:00:30Z"),
        );
        let g = v.group.unwrap();
        assert_eq!(g.members[0].phase, Some(Phase::Invalid));
        assert_eq!(g.members[0].message, "");
        assert_eq!(
            v.message,
            "Waiting for api to be ready; the configuration of api has errors, so an operator \
             must fix it first."
        );
    }

    #[test]
    fn a_failed_dependency_is_named_with_its_reason_and_a_reload_retries() {
        let mut s = web_waiting_for_api(None);
        assert!(failed_dependencies(&s).is_empty());
        s.group.as_mut().unwrap().members[0] = member(
            "api",
            0,
            Phase::Failed,
            Step::Pending,
            "not ready within 5m (stuck at pending: task is PENDING)\nsecond line",
        );
        assert_eq!(failed_dependencies(&s).len(), 1);
        let v = view_record(
            &Record::test("web").with_status(s.clone()),
            t("2026-11-29T10:00:30Z"),
        );
        assert_eq!(
            v.message,
            "Waiting for api, which failed: not ready within 5m (stuck at pending: task is \
             PENDING). Reload this page to try again."
        );
        // An optional member is never waited for: its failure is not this record's wait.
        s.group.as_mut().unwrap().waiting_for.clear();
        assert!(failed_dependencies(&s).is_empty());
    }
}
