//! Groups (issue 18, ADR 0009): services that wake, become ready and sleep as one, as pure
//! rules over the whole table ([`Groups::of`]), and how a pass decides a group's members
//! together ([`decide_all`]).
//!
//! A record joins groups with `spec.groups`, orders its start with `spec.dependsOn` (records
//! of a group it shares) and may be `spec.optional`. The rules:
//!
//! - **Cross-record validation** ([`Groups::problems`]): a `dependsOn` naming a missing record
//!   or one that shares no group with the record, and dependency cycles (every record on a
//!   cycle, with the cycle in order). The pass makes exactly those records Invalid.
//! - **Wanted by the group** ([`Groups::wanted_by_groups`], [`Groups::widen`], all at once
//!   [`Groups::wants`]): row 9 of the precedence (DESIGN.md §10) widened. A wake request on any
//!   member, or activity on a member visitors reach ([`Groups::is_entry`]), counts for every
//!   member of *that member's own* groups, within that member's `idleTimeout`; not
//!   transitively through the receiving member's other groups. What a wanted member depends
//!   on (transitively, across groups) is wanted with it ([`Groups::needed_by_dependents`]),
//!   or it could never start. Rows above 9 (mode, forced wake, quiet hours, `replicas: 0`)
//!   still apply per record; a sleep request (row 6) wins only over signals older than it.
//! - **Start order** ([`Groups::may_scale_up`]): a member is scaled up once everything it
//!   depends on, transitively, is Ready; members without a dependency between them start in
//!   parallel. Nobody waits for an optional member.
//! - **Visitors** ([`Groups::ready_for_visitor`]): a member's visitor is sent on (redirect or
//!   route) once the member and everything it depends on, optional members excepted, are
//!   Ready. An optional member's own visitors wait for it.
//! - **Stop order** ([`Groups::may_scale_down`]): dependents are scaled down before what they
//!   depend on.
//! - **The group's ETA** ([`Groups::eta`]): the longest path, along the dependency order, of
//!   the remaining wake times of members not yet Ready.
//!
//! # Activity between members
//!
//! An API's connection pool to its database is not a visitor. The approach: **only activity
//! on members visitors reach spreads to the group**, where the members visitors reach are a
//! group's *entries*: the members no other member of that group depends
//! on ([`Groups::is_entry`]). A member that others call is declared as their dependency (which
//! it must be anyway to start first), so its incoming connections, which come from the group,
//! never keep the group awake; they still count for the member itself (its own row 9), as
//! they always did, and stop once its callers sleep. This is decided here, from the records,
//! so the activity agent, the local proxy and the shared load balancer need no change.
//! Excluding the group's own task addresses (`status.endpoint.ip`) was not chosen: that
//! address is the public one for most services while peers connect from the private one, on
//! AWS in route mode every connection (visitor or peer through the stable address) comes from
//! the load balancer (ADR 0008), locally everything comes from 127.0.0.1, and the agent would
//! need to read other records. Wake requests spread from every member: they come from
//! visitors and operators, never from a peer's connections.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use super::classify::{observed_service, want_in};
use super::decide::{Decision, GroupInput, decide_in_group};
use crate::model::group::GroupsBuilder;
use crate::model::{GroupMemberStatus, GroupStatus, Phase, Record, Status, Timestamp};
use crate::platform::{Observed, TaskStatus};
use crate::reconcile::{Want, Why};

pub use crate::model::group::{GroupEta, Groups, remaining_wake_seconds};

/// Why a member's groups want it awake ([`Groups::wanted_by_groups`],
/// [`Groups::needed_by_dependents`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A wake request or activity on another member of one of its groups.
    Member {
        /// The group they share.
        group: String,
        /// The member that was asked for or used.
        member: String,
        /// [`Why::WakeRequested`] or [`Why::Activity`].
        signal: Why,
    },
    /// A record that depends on it (directly or not) is wanted awake.
    Dependent {
        /// That record.
        member: String,
        /// Why it is wanted awake.
        why: Why,
    },
}

/// A record's groups want it awake: from `at` until `until`, because of `cause`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupWant {
    /// When the signal was given (a wake request or activity on the member; for a dependent,
    /// its latest wake request, activity or forced wake, or its group's signal). `None` for a
    /// dependent awake without any (pinned by `mode: on` or an awake window): then a sleep
    /// request on this record wins over it.
    pub at: Option<Timestamp>,
    /// Wanted until then (the member's signal plus the member's `idleTimeout`, or the
    /// dependent's `sleepsAt`); `None`: as long as the dependent stays awake (it has no end).
    pub until: Option<Timestamp>,
    /// Why.
    pub cause: Cause,
    /// The latest wake request that reaches this record through its groups
    /// ([`Groups::wakes_reaching`]; filled by [`Groups::wants`], `None` elsewhere): one newer
    /// than the moment `spec.maxAwake` capped the record starts a new stretch ([`Groups::widen`]).
    pub wake: Option<Timestamp>,
}

impl GroupWant {
    /// [`Why::Group`] for a member's signal, [`Why::Dependent`] for a dependent's need.
    pub fn why(&self) -> Why {
        match self.cause {
            Cause::Member { .. } => Why::Group,
            Cause::Dependent { .. } => Why::Dependent,
        }
    }

    /// Holds at `now`.
    fn holds(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    /// Lasts at least as long as `other` (no end beats any end).
    fn outlasts(&self, other: &GroupWant) -> bool {
        match (self.until, other.until) {
            (None, _) => other.until.is_some() || self.at > other.at,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a > b || (a == b && self.at > other.at),
        }
    }
}

impl fmt::Display for GroupWant {
    /// `wake requested on web (group preview-1)`, `activity on web (group preview-1)`, `needed
    /// by api (wanted by its group)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Member {
                group,
                member,
                signal,
            } => write!(f, "{signal} on {member} (group {group})"),
            Cause::Dependent { member, why } => write!(f, "needed by {member} ({why})"),
        }
    }
}

/// A record's want after its groups ([`Groups::wants`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDecision {
    /// The widened [`Want`]: the record's own, made awake or held longer by its groups.
    pub want: Want,
    /// What the groups changed, if anything (for the status message and the wait page).
    pub by: Option<GroupWant>,
}

impl Groups {
    /// Row 9 widened by record `name`'s groups: `own` (its [`crate::reconcile::want_in`]) with
    /// `group` applied at `now`.
    ///
    /// - An awake `own` stays awake for its own reason; when the group holds longer, `sleepsAt`
    ///   moves to the group's end (`None` when the group has none).
    /// - An asleep `own` becomes awake ([`Why::Group`] or [`Why::Dependent`], until the group's
    ///   end) when it is asleep for row 6 (a sleep request: `group` only exists when its signal
    ///   is newer, see [`GroupWant::at`]), idle or never asked for. Rows 1, 4, 5 and
    ///   `replicas: 0` keep it asleep (also a `replicas: 0` record asleep for lack of wanting):
    ///   they apply per record.
    /// - Capped by `spec.maxAwake` (row 8, [`Want::max_awake_at`]): it stays asleep, unless
    ///   [`GroupWant::wake`] is newer than the cap: a wake request on its group (visitors'
    ///   land on the front member) or on a record that needs it starts a new stretch, as its
    ///   own wake request would. Activity does not.
    /// - A `group` that no longer holds at `now` changes nothing.
    pub fn widen(&self, name: &str, own: Want, group: Option<&GroupWant>, now: Timestamp) -> Want {
        let Some(g) = group.filter(|g| g.holds(now)) else {
            return own;
        };
        if own.awake {
            let sleeps_at = match (own.sleeps_at, g.until) {
                // Pinned (mode on): no end to move.
                (None, _) => None,
                (Some(_), None) => None,
                (Some(s), Some(u)) => Some(s.max(u)),
            };
            return Want { sleeps_at, ..own };
        }
        // A wake request on the group (or on a dependent) newer than the cap starts a new
        // stretch, as the record's own would; activity does not.
        let new_stretch = g
            .wake
            .zip(own.max_awake_at)
            .is_some_and(|(wake, cap)| wake > cap);
        match own.why {
            Why::MaxAwake if new_stretch => Want {
                awake: true,
                why: g.why(),
                sleeps_at: g.until,
                contested: false,
                quiet_until: None,
                budget_until: None,
                max_awake_at: None,
            },
            // Per record, ahead of row 9 in the precedence: a group does not lift them.
            Why::ModeOff
            | Why::ReplicasZero
            | Why::QuietHours
            | Why::MaxAwake
            | Why::OverBudget => own,
            Why::SleepRequested | Why::Idle | Why::NoWakeRequest
                if self.members.get(name).is_some_and(|m| m.replicas_zero) =>
            {
                own
            }
            Why::SleepRequested | Why::Idle | Why::NoWakeRequest => Want {
                awake: true,
                why: g.why(),
                sleeps_at: g.until,
                contested: false,
                quiet_until: None,
                budget_until: None,
                max_awake_at: None,
            },
            // Reasons for awake: an asleep want never carries them.
            Why::ModeOn
            | Why::WakeRequested
            | Why::Activity
            | Why::TaskStarted
            | Why::ScaledUp
            | Why::Forced
            | Why::AwakeWindow
            | Why::Prewarm
            | Why::Group
            | Why::Dependent => own,
        }
    }

    /// For every record whose groups want it awake at `now` by a member's signal: a wake
    /// request on another member of one of its groups, or activity on another member that is
    /// an entry of that group ([`Groups::is_entry`]), within that member's `idleTimeout`,
    /// newer than the member's own sleep request and than this record's. The latest-ending one
    /// (ties: the later signal, then the first group and member by name). Records wanted by no
    /// group are absent. Not transitive: a record wanted this way passes nothing on to its
    /// other groups ([`Groups::needed_by_dependents`] brings in what it depends on).
    pub fn wanted_by_groups(&self, now: Timestamp) -> BTreeMap<String, GroupWant> {
        let mut out: BTreeMap<String, GroupWant> = BTreeMap::new();
        for (name, r) in &self.members {
            for group in &r.groups {
                for other in self.members(group) {
                    if other == name {
                        continue;
                    }
                    let Some(m) = self.members.get(other) else {
                        continue;
                    };
                    let entry = self.is_entry(other, group);
                    let signals = [
                        (m.wake, Why::WakeRequested),
                        (m.activity.filter(|_| entry), Why::Activity),
                    ];
                    for (at, signal) in signals {
                        let Some(at) = at else { continue };
                        if r.sleep.is_some_and(|s| s >= at) {
                            continue;
                        }
                        let want = GroupWant {
                            at: Some(at),
                            until: Some(at.add(m.idle)),
                            cause: Cause::Member {
                                group: group.clone(),
                                member: other.clone(),
                                signal,
                            },
                            wake: None,
                        };
                        if want.holds(now) && out.get(name).is_none_or(|b| want.outlasts(b)) {
                            out.insert(name.clone(), want);
                        }
                    }
                }
            }
        }
        out
    }

    /// For every record that a record wanted awake (in `wants`: the wants widened by
    /// [`Groups::wanted_by_groups`]) depends on, directly or not: held awake as long as that
    /// dependent is (its `sleepsAt`, none when it has none), unless this record's own sleep
    /// request is newer than the dependent's latest signal (`spread`: the dependent's group
    /// signal, if any). The longest-lasting one; records needed by none are absent.
    pub fn needed_by_dependents(
        &self,
        wants: &BTreeMap<String, Want>,
        spread: &BTreeMap<String, GroupWant>,
    ) -> BTreeMap<String, GroupWant> {
        let mut out: BTreeMap<String, GroupWant> = BTreeMap::new();
        for (name, want) in wants.iter().filter(|(_, w)| w.awake) {
            let own = self.members.get(name).and_then(|m| m.last_signal);
            let at = own.max(spread.get(name).and_then(|g| g.at));
            for dep in self.dependencies(name) {
                let Some(d) = self.members.get(&dep) else {
                    continue;
                };
                if d.sleep.is_some_and(|s| at.is_none_or(|a| s >= a)) {
                    continue;
                }
                let need = GroupWant {
                    at,
                    until: want.sleeps_at,
                    cause: Cause::Dependent {
                        member: name.clone(),
                        why: want.why,
                    },
                    wake: None,
                };
                if out.get(&dep).is_none_or(|b| need.outlasts(b)) {
                    out.insert(dep, need);
                }
            }
        }
        out
    }

    /// For every record reached by one: the latest wake request on a member of its groups
    /// (itself included) or of the groups of a record that depends on it (directly or not),
    /// newer than the record's own sleep request. What [`GroupWant::wake`] holds: it lifts a
    /// `spec.maxAwake` cap older than it ([`Groups::widen`]).
    pub fn wakes_reaching(&self) -> BTreeMap<String, Timestamp> {
        let in_groups = |name: &str| {
            self.groups_of(name)
                .iter()
                .flat_map(|g| self.members(g))
                .filter_map(|m| self.members.get(m).and_then(|m| m.wake))
                .max()
        };
        self.members
            .iter()
            .filter_map(|(name, m)| {
                let wake = self
                    .dependents(name)
                    .iter()
                    .map(|d| in_groups(d))
                    .fold(in_groups(name).max(m.wake), Option::max)?;
                m.sleep
                    .is_none_or(|s| s < wake)
                    .then(|| (name.clone(), wake))
            })
            .collect()
    }

    /// Every record's want with its groups, from each record's own want (`own`: name →
    /// [`crate::reconcile::want_in`] of that record): [`Groups::wanted_by_groups`] widens the
    /// own wants ([`Groups::widen`]), then [`Groups::needed_by_dependents`] widens them again. Records
    /// absent from `own` are absent from the answer. `by` is what the groups changed: the
    /// dependent's need if it changed the want, else the member's signal if that did.
    pub fn wants(
        &self,
        own: &BTreeMap<String, Want>,
        now: Timestamp,
    ) -> BTreeMap<String, GroupDecision> {
        let wakes = self.wakes_reaching();
        let with_wake = |mut m: BTreeMap<String, GroupWant>| {
            for (n, g) in &mut m {
                g.wake = wakes.get(n).copied();
            }
            m
        };
        let spread = with_wake(self.wanted_by_groups(now));
        let first: BTreeMap<String, Want> = own
            .iter()
            .map(|(n, w)| (n.clone(), self.widen(n, *w, spread.get(n), now)))
            .collect();
        let pulled = with_wake(self.needed_by_dependents(&first, &spread));
        first
            .iter()
            .map(|(n, w1)| {
                let w2 = self.widen(n, *w1, pulled.get(n), now);
                let by = if w2 != *w1 {
                    pulled.get(n).cloned()
                } else if own.get(n) != Some(w1) {
                    spread.get(n).cloned()
                } else {
                    None
                };
                (n.clone(), GroupDecision { want: w2, by })
            })
            .collect()
    }
}

/// The table as a pass read it, for the group rules of that pass: every record's groups and
/// the stored status of each member of a group (for the members the pass does not decide
/// itself).
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Membership and dependencies of every record read ([`Groups::of`]).
    pub groups: Groups,
    /// Name of each record in a group (`spec.groups` not empty) → its stored status (`None`:
    /// not reconciled yet), without its `ledger` (no group rule reads it; it is the largest
    /// part of a status). Records outside groups are not kept: a dependency is always a
    /// member of a group the dependent shares.
    pub stored: BTreeMap<String, Option<Status>>,
}

/// Builds a [`Table`] one record at a time ([`TableBuilder::add`], then
/// [`TableBuilder::build`]), for a pass that reads the table page by page and keeps only what
/// it will act on; [`Table::of`] is this over an iterator.
#[derive(Clone, Debug, Default)]
pub struct TableBuilder {
    groups: GroupsBuilder,
    stored: BTreeMap<String, Option<Status>>,
}

impl TableBuilder {
    /// Adds one record that parses (valid or not; a name added twice keeps the first).
    pub fn add(&mut self, r: &Record) {
        self.groups.add(r);
        if !r.spec.groups.is_empty() && !self.stored.contains_key(&r.metadata.name) {
            let status = r.status.as_ref().map(|s| Status {
                ledger: Default::default(),
                ..s.clone()
            });
            self.stored.insert(r.metadata.name.clone(), status);
        }
    }

    /// True when some record added so far is in a group.
    pub fn has_groups(&self) -> bool {
        self.groups.has_groups()
    }

    /// The table of everything added.
    pub fn build(self) -> Table {
        Table {
            groups: self.groups.build(),
            stored: self.stored,
        }
    }
}

impl Table {
    /// The table of `records` (every record that parses, valid or not).
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut b = TableBuilder::default();
        for r in records {
            b.add(r);
        }
        b.build()
    }

    /// True when some record of the table is in a group.
    pub fn has_groups(&self) -> bool {
        self.groups.names().next().is_some()
    }

    /// The records a pass over `names` must decide with them: their groups' members, and what
    /// those depend on or is depended on by them (transitively), sorted, `names` included.
    pub fn closure(&self, names: &[String]) -> Vec<String> {
        let mut out: BTreeSet<String> = names.iter().cloned().collect();
        for n in names {
            for g in self.groups.groups_of(n) {
                out.extend(self.groups.members(g).iter().cloned());
            }
        }
        let firsts: Vec<String> = out.iter().cloned().collect();
        for n in firsts {
            out.extend(self.groups.dependencies(&n));
            out.extend(self.groups.dependents(&n));
        }
        out.into_iter().collect()
    }
}

/// Decides every record of a pass that was observed (`records`: each with its observation),
/// with its groups: the wants widened by the groups ([`Groups::wants`]), then each record in
/// start order (by [`Groups::wave`], so a dependency that becomes Ready in this pass lets its
/// dependents be scaled up in the same pass) with what it waits for
/// ([`Groups::may_scale_up`], on the phases decided so far and, for records the pass does not
/// decide, the stored ones) and who holds its sleep ([`Groups::may_scale_down`], on the
/// observations); then every grouped record's `status.group` gets its members and the ETA.
/// Returns, in the order of `records`, each decision with the [`GroupInput`] it was made with
/// (for a decision made again later in the pass). Records without groups, or a `table`
/// without any, are decided exactly as [`super::decide::decide_valid`] decides them.
pub fn decide_all(
    records: &[(&Record, &Observed)],
    table: Option<&Table>,
    now: Timestamp,
    runner_period: Duration,
) -> Vec<(Decision, GroupInput)> {
    let Some(table) = table.filter(|t| t.has_groups()) else {
        return records
            .iter()
            .map(|(r, o)| {
                let input = GroupInput::default();
                (decide_in_group(r, o, now, runner_period, &input), input)
            })
            .collect();
    };
    let groups = &table.groups;
    let own: BTreeMap<String, Want> = records
        .iter()
        .filter_map(|(r, o)| {
            let service = observed_service(o).ok()?;
            Some((
                r.metadata.name.clone(),
                want_in(r, Some(service), now, runner_period),
            ))
        })
        .collect();
    let wants = groups.wants(&own, now);
    let spread = groups.wanted_by_groups(now);
    // Running by its observation (or, not observed in this pass, by its stored status).
    let observed_running: BTreeMap<&str, bool> = records
        .iter()
        .map(|(r, o)| {
            let running = match o {
                Observed::Found(s) => {
                    s.desired_count > 0
                        || s.running_count + s.pending_count > 0
                        || s.tasks.iter().any(|t| t.last_status != TaskStatus::Stopped)
                }
                _ => false,
            };
            (r.metadata.name.as_str(), running)
        })
        .collect();
    let running = |n: &str| match observed_running.get(n) {
        Some(r) => *r,
        None => table
            .stored
            .get(n)
            .and_then(Option::as_ref)
            .is_some_and(|s| {
                s.replicas.desired > 0
                    || s.replicas.running > 0
                    || matches!(s.phase, Phase::Waking | Phase::Ready | Phase::Sleeping)
            }),
    };
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&i| {
        let name = &records[i].0.metadata.name;
        (groups.wave(name).unwrap_or(usize::MAX), name.clone())
    });
    let mut decided: BTreeMap<String, Status> = BTreeMap::new();
    let mut out: Vec<Option<(Decision, GroupInput)>> = vec![None; records.len()];
    for i in order {
        let (record, observed) = records[i];
        let name = record.metadata.name.as_str();
        let ready = |n: &str| {
            decided
                .get(n)
                .or_else(|| table.stored.get(n).and_then(Option::as_ref))
                .is_some_and(|s| s.phase == Phase::Ready)
        };
        let input = if record.spec.groups.is_empty() && groups.dependents(name).is_empty() {
            GroupInput::default()
        } else {
            let waiting_for = groups.may_scale_up(name, &ready).err().unwrap_or_default();
            GroupInput {
                want: wants.get(name).map(|d| d.want),
                member_wake: spread.get(name).and_then(|g| match &g.cause {
                    Cause::Member {
                        signal: Why::WakeRequested,
                        ..
                    } => g.at,
                    _ => None,
                }),
                missing: groups.missing(name),
                blocked: waiting_for
                    .iter()
                    .filter_map(|dep| blocked_by(dep, wants.get(dep).map(|d| &d.want)))
                    .collect(),
                waiting_for,
                held_by: groups
                    .may_scale_down(name, &running)
                    .err()
                    .unwrap_or_default(),
            }
        };
        let d = decide_in_group(record, observed, now, runner_period, &input);
        decided.insert(name.to_string(), d.status.clone());
        out[i] = Some((d, input));
    }
    let mut out: Vec<(Decision, GroupInput)> = out.into_iter().flatten().collect();
    // Dependencies that will not be Ready for a while (over budget, quiet hours): no ETA.
    let blocked: BTreeSet<String> = out
        .iter()
        .flat_map(|(_, input)| input.waiting_for.iter())
        .filter(|n| blocked_by(n, wants.get(*n).map(|d| &d.want)).is_some())
        .cloned()
        .collect();
    for (i, (d, _)) in out.iter_mut().enumerate() {
        let record = records[i].0;
        if let Some(mut g) = d.status.group.take() {
            summarize(table, &decided, &blocked, record, &mut g, now);
            d.status.group = Some(g);
        }
    }
    out
}

/// Why dependency `name` will not be Ready for a while, by its want in this pass (`want`,
/// widened by its groups; `None`: not decided in this pass, nothing is said): asleep over its
/// monthly budget (`NAME is over its monthly budget until 2027-01-01 00:00 UTC`, row 4) or in
/// its quiet hours (`NAME is in its quiet hours until 2026-12-07 07:00 UTC`, row 5); `None`
/// otherwise. Its dependents wait for it until then ([`GroupInput::blocked`]).
pub fn blocked_by(name: &str, want: Option<&Want>) -> Option<String> {
    let want = want.filter(|w| !w.awake)?;
    let (what, until) = match want.why {
        Why::OverBudget => ("is over its monthly budget", want.budget_until?),
        Why::QuietHours => ("is in its quiet hours", want.quiet_until?),
        _ => return None,
    };
    Some(format!(
        "{name} {what} until {}",
        crate::model::ledger::utc_words(until)
    ))
}

/// Fills `g` (a grouped record's `status.group` as decided) with the members of the record's
/// groups and what they depend on (`decided` statuses first, else stored ones), in start
/// order, and the group's ETA ([`GroupStatus::ready_by`]): only while a member is Waking, no
/// required member is Failed and none is `blocked` (a dependency waited for that will not be
/// Ready for a while: [`blocked_by`]), and only when every member not Ready has a measured
/// wake.
/// Once the ETA has passed, the one published before is kept (the page then says it takes
/// longer than usual), so a late wake does not rewrite the status on every pass.
fn summarize(
    table: &Table,
    decided: &BTreeMap<String, Status>,
    blocked: &BTreeSet<String>,
    record: &Record,
    g: &mut GroupStatus,
    now: Timestamp,
) {
    let groups = &table.groups;
    let name = record.metadata.name.as_str();
    let status_of = |n: &str| {
        decided
            .get(n)
            .or_else(|| table.stored.get(n).and_then(Option::as_ref))
    };
    let mut names: BTreeSet<String> = BTreeSet::new();
    for group in groups.groups_of(name) {
        for m in groups.members(group) {
            names.insert(m.clone());
            names.extend(groups.dependencies(m));
        }
    }
    let waves: BTreeMap<&str, Option<usize>> =
        names.iter().map(|n| (n.as_str(), groups.wave(n))).collect();
    let after_last = waves.values().flatten().max().map_or(0, |w| w + 1);
    let mut members: Vec<GroupMemberStatus> = names
        .iter()
        .map(|n| {
            let s = status_of(n);
            GroupMemberStatus {
                name: n.clone(),
                wave: waves[n.as_str()].unwrap_or(after_last) as u32,
                phase: s.map(|s| s.phase),
                step: s.and_then(|s| s.step),
                message: s.map(|s| s.message.clone()).unwrap_or_default(),
                optional: groups.is_optional(n),
            }
        })
        .collect();
    members.sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
    g.members = members;
    g.ready_by = None;
    let waking = g.members.iter().any(|m| m.phase == Some(Phase::Waking));
    let failed = g
        .members
        .iter()
        .any(|m| !m.optional && m.phase == Some(Phase::Failed));
    let stuck = g.members.iter().any(|m| blocked.contains(&m.name));
    if !waking || failed || stuck {
        return;
    }
    let ready = |n: &str| status_of(n).is_some_and(|s| s.phase == Phase::Ready);
    let remaining = |n: &str| {
        let s = status_of(n)?;
        let elapsed = match (s.phase, s.wake_started_at) {
            (Phase::Waking, Some(t)) => Some(now.since(t)),
            _ => None,
        };
        let typical = s.typical_wake_seconds()?;
        Some((typical - elapsed.map_or(0.0, |e| e.as_secs_f64())).max(0.0))
    };
    let mut seconds: f64 = 0.0;
    for group in groups.groups_of(name) {
        let eta = groups.eta(group, &ready, &remaining);
        if !eta.unmeasured.is_empty() {
            return;
        }
        seconds = seconds.max(eta.seconds);
    }
    let prev = record
        .status
        .as_ref()
        .and_then(|s| s.group.as_ref())
        .and_then(|g| g.ready_by);
    g.ready_by = match prev {
        // Overdue: keep the ETA that passed.
        Some(p) if seconds == 0.0 && p <= now => Some(p),
        _ => {
            // Whole seconds of an absolute time (started + typical), so the same estimate
            // gives the same value in every pass.
            let at = now.as_millis() as f64 + seconds * 1000.0;
            Some(Timestamp::from_millis(
                ((at / 1000.0).round() * 1000.0) as i64,
            ))
        }
    };
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prop;
