//! The dependency graph of groups (issue 18, ADR 0009), pure over the whole table: membership,
//! cross-record problems, start order and waves, what a member waits for and who holds its
//! sleep, and a group's ETA. Used by the reconciler ([`crate::reconcile::group`], which adds how
//! groups widen wants and how a pass decides members together) and by `snoozectl` (`get`,
//! `describe`, `wake`, `apply`), which must not reach the reconciler's code (its IAM contract).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::model::{FieldError, Record, Timestamp};

/// What one record contributes to the groups it is in.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    /// `spec.groups`, as written.
    pub(crate) groups: Vec<String>,
    /// `spec.dependsOn`, as written.
    pub(crate) depends_on: Vec<String>,
    /// `spec.optional`.
    pub(crate) optional: bool,
    /// `desired.wakeRequestedAt`, when newer than its own sleep request.
    pub(crate) wake: Option<Timestamp>,
    /// `desired.lastActivityAt`, when newer than its own sleep request.
    pub(crate) activity: Option<Timestamp>,
    /// `desired.sleepRequestedAt`.
    pub(crate) sleep: Option<Timestamp>,
    /// The latest of `wakeRequestedAt`, `lastActivityAt`, `wakeForcedAt` (unfiltered).
    pub(crate) last_signal: Option<Timestamp>,
    /// `spec.idleTimeout`.
    pub(crate) idle: Duration,
    /// `spec.replicas` is 0: never awake by its groups.
    pub(crate) replicas_zero: bool,
}

/// Group membership and the dependency graph of a whole table ([`Groups::of`]).
#[derive(Clone, Debug, Default)]
pub struct Groups {
    pub(crate) members: BTreeMap<String, Member>,
    /// Group name → its members' names, sorted.
    pub(crate) groups: BTreeMap<String, Vec<String>>,
    /// Record → the records it depends on, sorted, only the usable edges (the other record is
    /// in the table and shares a group with it).
    pub(crate) edges: BTreeMap<String, Vec<String>>,
    /// The reverse of `edges`.
    pub(crate) reverse: BTreeMap<String, Vec<String>>,
    /// Record → the names in its `dependsOn` that are no record of the table (deleted, or not
    /// applied yet), sorted: never Ready, so the record waits for them ([`Groups::missing`]).
    pub(crate) absent: BTreeMap<String, Vec<String>>,
}

/// The ETA of a group's wake ([`Groups::eta`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupEta {
    /// Seconds until every required member is Ready: the longest path, along the dependency
    /// order, of the remaining wake times of members not yet Ready. 0 when all are Ready.
    pub seconds: f64,
    /// Members not Ready without a measured wake time (counted as 0 s), sorted.
    pub unmeasured: Vec<String>,
}

/// Builds [`Groups`] one record at a time, for a reader that does not hold the whole table
/// (a pass's paged listing): [`GroupsBuilder::add`] every record that parses, then
/// [`GroupsBuilder::build`]. [`Groups::of`] is this over an iterator.
#[derive(Clone, Debug, Default)]
pub struct GroupsBuilder(Groups);

impl GroupsBuilder {
    /// Adds one record's membership, dependencies and signals (a name added twice keeps the
    /// first).
    pub fn add(&mut self, r: &Record) {
        let name = r.metadata.name.clone();
        if self.0.members.contains_key(&name) {
            return;
        }
        let d = &r.desired;
        let newer =
            |t: Option<Timestamp>| t.filter(|t| d.sleep_requested_at.is_none_or(|s| s < *t));
        let member = Member {
            groups: dedup(&r.spec.groups),
            depends_on: r.spec.depends_on.clone(),
            optional: r.spec.optional,
            wake: newer(d.wake_requested_at),
            activity: newer(d.last_activity_at),
            sleep: d.sleep_requested_at,
            last_signal: d.last_wanted_at().max(d.wake_forced_at),
            idle: r.spec.idle_timeout.get(),
            replicas_zero: r.spec.replicas == 0,
        };
        for group in &member.groups {
            self.0
                .groups
                .entry(group.clone())
                .or_default()
                .push(name.clone());
        }
        self.0.members.insert(name, member);
    }

    /// True when some record added so far is in a group.
    pub fn has_groups(&self) -> bool {
        !self.0.groups.is_empty()
    }

    /// The groups of everything added, with the dependency edges between members.
    pub fn build(self) -> Groups {
        let mut g = self.0;
        for members in g.groups.values_mut() {
            members.sort();
        }
        let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut reverse: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, m) in &g.members {
            for dep in dedup(&m.depends_on) {
                if dep != *name && !g.members.contains_key(&dep) {
                    g.absent.entry(name.clone()).or_default().push(dep.clone());
                }
                if dep != *name && g.share_group(name, &dep) {
                    edges.entry(name.clone()).or_default().push(dep.clone());
                    reverse.entry(dep).or_default().push(name.clone());
                }
            }
        }
        for v in (edges.values_mut().chain(reverse.values_mut())).chain(g.absent.values_mut()) {
            v.sort();
        }
        g.edges = edges;
        g.reverse = reverse;
        g
    }
}

/// How long this record's wake has left, in seconds: its typical wake
/// ([`crate::model::Status::typical_wake_seconds`]) minus `elapsed` since the wake started (not
/// below 0); `None` before its first completed wake. The `remaining` of [`Groups::eta`].
pub fn remaining_wake_seconds(record: &Record, elapsed: Option<Duration>) -> Option<f64> {
    let typical = record.status.as_ref()?.typical_wake_seconds()?;
    Some((typical - elapsed.map_or(0.0, |e| e.as_secs_f64())).max(0.0))
}

impl Groups {
    /// Membership and dependencies of `records`: the whole table as a pass lists it. Give every
    /// record that parses, also those failing validation, so that a dependency on one of them
    /// is not reported missing (it is simply never Ready). A name given twice keeps the first.
    /// [`GroupsBuilder`] builds the same one record at a time.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut b = GroupsBuilder::default();
        for r in records {
            b.add(r);
        }
        b.build()
    }

    /// The names of the groups, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// The members of `group`, sorted (empty for an unknown group).
    pub fn members(&self, group: &str) -> &[String] {
        self.groups.get(group).map_or(&[], Vec::as_slice)
    }

    /// The groups of record `name` (`spec.groups`, without repeats; empty when it has none or
    /// is not in the table).
    pub fn groups_of(&self, name: &str) -> &[String] {
        self.members.get(name).map_or(&[], |m| m.groups.as_slice())
    }

    /// True when records `a` and `b` are both in the table and share a group.
    pub fn share_group(&self, a: &str, b: &str) -> bool {
        match (self.members.get(a), self.members.get(b)) {
            (Some(a), Some(b)) => a.groups.iter().any(|g| b.groups.contains(g)),
            _ => false,
        }
    }

    /// True when `member` is one of `group`'s entries, the members visitors reach: in the
    /// group, and no other member of the group depends on it (directly). Only an entry's
    /// activity spreads to the group (see the module docs).
    pub fn is_entry(&self, member: &str, group: &str) -> bool {
        self.members(group).iter().any(|m| m == member)
            && !self.reverse.get(member).is_some_and(|ds| {
                ds.iter()
                    .any(|d| self.groups_of(d).iter().any(|g| g == group))
            })
    }

    /// What record `name` depends on, directly or not (the usable `dependsOn` edges only),
    /// sorted; without itself even on a cycle.
    pub fn dependencies(&self, name: &str) -> Vec<String> {
        closure(&self.edges, name)
    }

    /// What depends on record `name`, directly or not, sorted; without itself.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        closure(&self.reverse, name)
    }

    /// Every record whose groups or dependencies are wrong given the other records, with each
    /// problem as the pass reports it (`Valid=False`, reason `ValidationFailed`):
    ///
    /// - `spec.dependsOn[i]: "db" shares no group with this record (it is in: shared; this
    ///   record is in: preview-1)`;
    /// - `spec.dependsOn: dependency cycle web → api → web; nothing on it is scaled up`, for
    ///   every record on a cycle (each listing the cycle from itself; the shortest through it).
    ///
    /// A dependency on a name that is no record of the table is not a problem: the record is
    /// valid and waits for it ([`Groups::missing`]), so its idle and sleep rules still apply
    /// (a deleted dependency must not leave its dependents running unmanaged).
    /// Records without problems are absent. Per-record rules (names, self-dependency) are
    /// [`crate::model::validate`]'s.
    pub fn problems(&self) -> BTreeMap<String, Vec<FieldError>> {
        let mut out: BTreeMap<String, Vec<FieldError>> = BTreeMap::new();
        for (name, m) in &self.members {
            for (i, dep) in m.depends_on.iter().enumerate() {
                let path = format!("spec.dependsOn[{i}]");
                if dep == name || m.depends_on[..i].contains(dep) {
                    continue;
                }
                match self.members.get(dep) {
                    None => {}
                    Some(other) if !self.share_group(name, dep) => {
                        let list = |gs: &[String]| {
                            if gs.is_empty() {
                                "no group".to_string()
                            } else {
                                gs.join(", ")
                            }
                        };
                        out.entry(name.clone()).or_default().push(FieldError::new(
                            path,
                            format!(
                                "{dep:?} shares no group with this record (it is in: {}; this \
                                 record is in: {})",
                                list(&other.groups),
                                list(&m.groups)
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
            if let Some(cycle) = self.cycle_through(name) {
                out.entry(name.clone()).or_default().push(FieldError::new(
                    "spec.dependsOn",
                    format!(
                        "dependency cycle {}; nothing on it is scaled up",
                        cycle.join(" → ")
                    ),
                ));
            }
        }
        out
    }

    /// The shortest dependency cycle through `name`, from `name` back to it, if any.
    fn cycle_through(&self, name: &str) -> Option<Vec<String>> {
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue: VecDeque<&str> = VecDeque::from([name]);
        while let Some(at) = queue.pop_front() {
            for next in self.edges.get(at).into_iter().flatten() {
                if next == name {
                    // Back from `at` to `name` along the BFS tree, then turned around.
                    let mut path = vec![name.to_string(), at.to_string()];
                    let mut cur = at;
                    while cur != name {
                        let Some(p) = parent.get(cur) else { break };
                        cur = p;
                        path.push(cur.to_string());
                    }
                    path.reverse();
                    return Some(path);
                }
                if !parent.contains_key(next.as_str()) {
                    parent.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// Whether record `name` may be scaled up now: `Ok` once everything it depends on,
    /// transitively, is Ready (`ready(name)`), optional members excepted; else the names it
    /// waits for (not Ready), sorted. Members without a dependency between them never wait
    /// for each other, so they start in parallel.
    pub fn may_scale_up(
        &self,
        name: &str,
        ready: &dyn Fn(&str) -> bool,
    ) -> Result<(), Vec<String>> {
        let waiting: BTreeSet<String> = (self.dependencies(name).into_iter())
            .filter(|d| !self.is_optional(d) && !ready(d))
            .chain(self.missing(name))
            .collect();
        let waiting: Vec<String> = waiting.into_iter().collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting)
        }
    }

    /// The names in record `name`'s own `dependsOn` that are no record of the table, sorted.
    pub fn absent(&self, name: &str) -> &[String] {
        self.absent.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// The dependencies record `name` waits for that are no record of the table: names in
    /// its own `dependsOn` or in that of a record it depends on (transitively, optional
    /// members' own dependencies excepted) with no record of that name, sorted. They count as
    /// never Ready in [`Groups::may_scale_up`].
    pub fn missing(&self, name: &str) -> Vec<String> {
        let from = std::iter::once(name.to_string())
            .chain((self.dependencies(name).into_iter()).filter(|d| !self.is_optional(d)));
        let out: BTreeSet<String> = from
            .flat_map(|n| self.absent.get(&n).cloned().unwrap_or_default())
            .collect();
        out.into_iter().collect()
    }

    /// Whether record `name`'s visitor may be sent on (redirected or routed): `Ok` once it and
    /// everything it depends on, optional members excepted, are Ready; else the names not
    /// Ready, sorted (itself included). An optional member's own visitor waits for it.
    pub fn ready_for_visitor(
        &self,
        name: &str,
        ready: &dyn Fn(&str) -> bool,
    ) -> Result<(), Vec<String>> {
        let mut waiting = match self.may_scale_up(name, ready) {
            Ok(()) => Vec::new(),
            Err(w) => w,
        };
        if !ready(name) {
            waiting.push(name.to_string());
            waiting.sort();
        }
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting)
        }
    }

    /// Whether record `name` may be scaled down now: `Ok` once nothing that depends on it,
    /// directly or not, is still running (`running(name)`: desiredCount above 0 or tasks
    /// not yet stopped); else those dependents, sorted. Optional dependents count too: they
    /// stop first like any other.
    pub fn may_scale_down(
        &self,
        name: &str,
        running: &dyn Fn(&str) -> bool,
    ) -> Result<(), Vec<String>> {
        let waiting: Vec<String> = self
            .dependents(name)
            .into_iter()
            .filter(|d| running(d))
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting)
        }
    }

    /// The start order of `group` for `snoozectl describe`: its members in waves, each wave
    /// the members whose longest chain of dependencies (within the table) has that length, so
    /// a wave starts when the ones before it are Ready; names sorted in a wave. Members on a
    /// cycle, or depending on one, come in a last wave of their own.
    pub fn start_order(&self, group: &str) -> Vec<Vec<String>> {
        let mut depth: BTreeMap<String, Option<usize>> = BTreeMap::new();
        let mut waves: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut cyclic = Vec::new();
        for m in self.members(group) {
            match self.depth(m, &mut depth, &mut BTreeSet::new()) {
                Some(d) => waves.entry(d).or_default().push(m.clone()),
                None => cyclic.push(m.clone()),
            }
        }
        let mut out: Vec<Vec<String>> = waves.into_values().collect();
        if !cyclic.is_empty() {
            out.push(cyclic);
        }
        out
    }

    /// The start wave of record `name`: the length of its longest chain of dependencies (0
    /// when it depends on nothing); `None` when it is on a dependency cycle or depends on one.
    pub fn wave(&self, name: &str) -> Option<usize> {
        self.depth(name, &mut BTreeMap::new(), &mut BTreeSet::new())
    }

    /// The length of the longest dependency chain below `name`; `None` on a cycle.
    fn depth(
        &self,
        name: &str,
        memo: &mut BTreeMap<String, Option<usize>>,
        path: &mut BTreeSet<String>,
    ) -> Option<usize> {
        if let Some(d) = memo.get(name) {
            return *d;
        }
        if !path.insert(name.to_string()) {
            return None;
        }
        let mut d = Some(0);
        for dep in self.edges.get(name).into_iter().flatten() {
            d = match (d, self.depth(dep, memo, path)) {
                (Some(a), Some(b)) => Some(a.max(b + 1)),
                _ => None,
            };
        }
        path.remove(name);
        memo.insert(name.to_string(), d);
        d
    }

    /// The ETA of `group`'s wake: for each required member (all members when every one is
    /// optional), its remaining wake time (`remaining(name)`, 0 once `ready(name)`; see
    /// [`remaining_wake_seconds`]) plus the longest such sum over what it waits for
    /// (non-optional dependencies, transitively, also outside the group); the largest of them.
    pub fn eta(
        &self,
        group: &str,
        ready: &dyn Fn(&str) -> bool,
        remaining: &dyn Fn(&str) -> Option<f64>,
    ) -> GroupEta {
        let members = self.members(group);
        let required: Vec<&String> = members.iter().filter(|m| !self.is_optional(m)).collect();
        let counted: Vec<&String> = if required.is_empty() {
            members.iter().collect()
        } else {
            required
        };
        let mut memo: BTreeMap<String, f64> = BTreeMap::new();
        let mut unmeasured = BTreeSet::new();
        let mut seconds: f64 = 0.0;
        for m in counted {
            let f = self.finish(
                m,
                ready,
                remaining,
                &mut memo,
                &mut unmeasured,
                &mut BTreeSet::new(),
            );
            seconds = seconds.max(f);
        }
        GroupEta {
            seconds,
            unmeasured: unmeasured.into_iter().collect(),
        }
    }

    /// When `name` is Ready, in seconds from now, if its dependencies start it as soon as they
    /// are Ready. A cycle's back edge counts 0.
    fn finish(
        &self,
        name: &str,
        ready: &dyn Fn(&str) -> bool,
        remaining: &dyn Fn(&str) -> Option<f64>,
        memo: &mut BTreeMap<String, f64>,
        unmeasured: &mut BTreeSet<String>,
        path: &mut BTreeSet<String>,
    ) -> f64 {
        if let Some(f) = memo.get(name) {
            return *f;
        }
        if ready(name) || !path.insert(name.to_string()) {
            return 0.0;
        }
        let own = remaining(name).unwrap_or_else(|| {
            unmeasured.insert(name.to_string());
            0.0
        });
        let mut before: f64 = 0.0;
        for dep in self.edges.get(name).into_iter().flatten() {
            if !self.is_optional(dep) {
                before = before.max(self.finish(dep, ready, remaining, memo, unmeasured, path));
            }
        }
        path.remove(name);
        let f = before + own;
        memo.insert(name.to_string(), f);
        f
    }

    /// `spec.optional` of record `name` (false when not in the table).
    pub fn is_optional(&self, name: &str) -> bool {
        self.members.get(name).is_some_and(|m| m.optional)
    }
}

/// `list` without repeats, in its order.
pub(crate) fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in list {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// Everything reachable from `start` along `graph`, sorted, without `start`.
pub(crate) fn closure(graph: &BTreeMap<String, Vec<String>>, start: &str) -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<&str> = vec![start];
    while let Some(at) = stack.pop() {
        for next in graph.get(at).into_iter().flatten() {
            if next != start && seen.insert(next.clone()) {
                stack.push(next);
            }
        }
    }
    seen.into_iter().collect()
}

/// Names as the status messages and the wait page say them (`waiting for a, b and c to be
/// Ready`): `a`, `a and b`, `a, b and c`; empty for none.
pub fn words_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
