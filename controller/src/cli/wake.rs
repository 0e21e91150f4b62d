//! `snoozectl wake NAME` and `snoozectl sleep NAME`: record an operator's wish in the
//! record's `desired` facts; the reconciler acts on it. Neither creates a record.
//!
//! NAME is a record (`NAME`, `service/NAME`) or a group (`group/NAME`): then the wish is
//! recorded on every member of the group (the records whose `spec.groups` contains NAME), in
//! start order, one output line per member, exactly as for a single record; the monthly
//! budget and quiet hours are checked per member (see [`run_wake`]).

use std::process::ExitCode;
use std::time::Duration;

use super::{Failure, GlobalArgs, GroupView, Ref};
use crate::model::{Entry, Mode, Record, Timestamp};
use crate::store::Store;

/// Arguments of `snoozectl sleep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record to put to sleep (`NAME` or `service/NAME`), or `group/NAME`: every member of
    /// group NAME.
    pub name: Ref,
}

/// Arguments of `snoozectl wake`.
#[derive(Debug, clap::Args)]
pub struct WakeArgs {
    /// The record to wake (`NAME` or `service/NAME`), or `group/NAME`: every member of group
    /// NAME.
    pub name: Ref,
    /// Wake it even inside quiet hours (`spec.schedule.asleep`) or after this month's cost
    /// reached `spec.budget`: also sets `desired.wakeForcedAt`, shown as a forced wake in
    /// `describe` (and, over the budget, counted in the month's `forcedOverBudget`). It stays awake until
    /// `idleTimeout` after the wake or later visits and activity, or until a `snoozectl sleep`.
    /// For a group: every member.
    #[arg(long)]
    pub force: bool,
}

/// Why `wake` did not wake `record` at `now` without `--force`: this month's budget
/// (`service/NAME reached its monthly budget of $10.00 (this month: $12.50); it can be woken
/// again on 2026-12-01 00:00 UTC`, precedence row 4) or its quiet hours (`service/NAME is in
/// its quiet hours until <local time>`, row 5); `None` when nothing keeps it.
fn refusal(record: &Record, now: Timestamp) -> Option<String> {
    if let Some(reached) = record.over_budget(now) {
        return Some(format!(
            "service/{} reached its monthly budget of {} (this month: {}); it can be woken again \
             on {}",
            record.metadata.name,
            crate::model::ledger::dollars(reached.budget),
            crate::model::ledger::dollars(reached.cost),
            reached.until_words()
        ));
    }
    crate::wake::quiet_until(record, now).map(|until| {
        format!(
            "service/{} is in its quiet hours until {until}",
            record.metadata.name
        )
    })
}

/// Runs `snoozectl wake`: sets `desired.wakeRequestedAt` to now (no debounce) and, with
/// `--force`, `desired.wakeForcedAt`. Prints `service/NAME wake requested` (`... (forced)`).
/// Errors when the record does not exist, and (without `--force`) when this month's cost
/// reached its `spec.budget` or it is in its quiet hours ([`refusal`]).
///
/// For `group/NAME`: the same for every member, in start order, one line each. A member over
/// its budget or in its quiet hours is not woken (without `--force`): a `note:` line on stderr names it and
/// why; so is an Invalid member (its status says Invalid, or the group's problems name it),
/// with or without `--force`. The others are woken (exit 0). When no member was woken the
/// command fails (exit 1)
/// listing each member and why; also when no record is in the group.
pub async fn run_wake(global: &GlobalArgs, args: WakeArgs) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let now = Timestamp::now();
    let name = match args.name {
        Ref::Service(name) => name,
        Ref::Group(group) => return wake_group(store.as_ref(), &group, args.force, now).await,
    };
    if !args.force
        && let Ok(Some(Entry::Record(r))) = store.get(&name).await
        && let Some(reason) = refusal(&r, now)
    {
        anyhow::bail!("{reason}: not woken (snoozectl wake --force {name} wakes it anyway)");
    }
    wake_one(store.as_ref(), &name, args.force, now).await?;
    if let Ok(entries) = store.list().await {
        for note in dependency_notes(&entries, std::slice::from_ref(&name), &[], now) {
            eprintln!("{note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `note:` lines for what the records `woken` depend on (transitively, optional ones
/// excepted, by the groups of the whole table `entries`) that is not among `woken` or `except`
/// and will not wake without `--force` ([`refusal`]): the woken record waits for it (Waking)
/// until then.
/// `note: service/web waits for service/db, which will not wake: service/db reached its monthly
/// budget of $0.00 (this month: $0.00); it can be woken again on 2026-12-01 00:00 UTC
/// (snoozectl wake --force db wakes it anyway)`. One line per dependency and dependent.
fn dependency_notes(
    entries: &[Entry],
    woken: &[String],
    except: &[String],
    now: Timestamp,
) -> Vec<String> {
    let records: Vec<&Record> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Record(r) => Some(r.as_ref()),
            Entry::Malformed(_) => None,
        })
        .collect();
    let groups = crate::model::group::Groups::of(records.iter().copied());
    let mut notes = Vec::new();
    for name in woken {
        for dep in groups.dependencies(name) {
            if woken.contains(&dep) || except.contains(&dep) || groups.is_optional(&dep) {
                continue;
            }
            let Some(reason) = records
                .iter()
                .find(|r| r.metadata.name == dep)
                .and_then(|r| refusal(r, now))
            else {
                continue;
            };
            notes.push(format!(
                "note: service/{name} waits for service/{dep}, which will not wake: {reason} \
                 (snoozectl wake --force {dep} wakes it anyway)"
            ));
        }
    }
    notes
}

/// Records the wake on record `name` (and the forced wake with `force`), prints its line and
/// the note of [`warn_pinned`].
async fn wake_one(
    store: &dyn Store,
    name: &str,
    force: bool,
    now: Timestamp,
) -> anyhow::Result<()> {
    store.record_wake(name, now, Duration::ZERO).await?;
    if force {
        store.force_wake(name, now).await?;
        super::emit(format!("service/{name} wake requested (forced)\n"))?;
    } else {
        super::emit(format!("service/{name} wake requested\n"))?;
    }
    warn_pinned(store, name, Mode::Off, "stays asleep").await;
    Ok(())
}

/// Why member `record` of a group cannot be woken: it is Invalid, by its last status
/// (`status.phase` Invalid, with `status.message`) or by the group's problems as the table is
/// now (`problems`, from [`crate::model::group::Groups::problems`]: the reconciler reports
/// those as Invalid on its next pass). `service/NAME is Invalid: <reason>`; `None` when valid.
fn invalid_reason(
    record: &Record,
    problems: &std::collections::BTreeMap<String, Vec<crate::model::FieldError>>,
) -> Option<String> {
    let name = &record.metadata.name;
    if let Some(errors) = problems.get(name).filter(|e| !e.is_empty()) {
        let reasons: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        return Some(format!("service/{name} is Invalid: {}", reasons.join("; ")));
    }
    match &record.status {
        Some(status) if status.phase == crate::model::Phase::Invalid => Some(format!(
            "service/{name} is Invalid: {}",
            if status.message.is_empty() {
                "see snoozectl describe"
            } else {
                &status.message
            }
        )),
        _ => None,
    }
}

/// `wake group/NAME`: see [`run_wake`]. Invalid members ([`invalid_reason`]) are skipped like
/// members over their budget or in their quiet hours, even with `--force`.
async fn wake_group(
    store: &dyn Store,
    group: &str,
    force: bool,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let view = GroupView::read(store, group).await?;
    let problems = view.groups.problems();
    let hint = format!("snoozectl wake --force group/{group} wakes it anyway");
    // (reason, whether --force would wake it)
    let mut skipped: Vec<(String, bool)> = Vec::new();
    let mut woken: Vec<String> = Vec::new();
    for member in &view.members {
        let name = &member.metadata.name;
        if let Some(reason) = invalid_reason(member, &problems) {
            skipped.push((format!("{reason}: not woken"), false));
        } else if let Some(reason) = refusal(member, now).filter(|_| !force) {
            skipped.push((format!("{reason}: not woken"), true));
        } else {
            wake_one(store, name, force, now).await?;
            woken.push(name.clone());
        }
    }
    if skipped.len() == view.members.len() {
        let summary = if skipped.iter().any(|(_, forcible)| *forcible) {
            format!(
                "no member of group/{group} was woken (snoozectl wake --force group/{group} \
                 wakes them anyway)"
            )
        } else {
            format!("no member of group/{group} was woken: every member is Invalid")
        };
        return Err(Failure::new(summary, skipped.into_iter().map(|(r, _)| r).collect()).into());
    }
    for (line, forcible) in skipped {
        if forcible {
            eprintln!("note: {line} ({hint})");
        } else {
            eprintln!("note: {line}");
        }
    }
    // Members skipped above have their note; a dependency outside the group gets one here.
    let members: Vec<String> = view
        .members
        .iter()
        .map(|m| m.metadata.name.clone())
        .collect();
    if let Ok(entries) = store.list().await {
        for note in dependency_notes(&entries, &woken, &members, now) {
            eprintln!("{note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr when the record's `spec.mode` overrides the request just recorded (`mode:
/// off` for a wake, `mode: on` for a sleep); the request is still recorded and counts once the
/// mode is `auto` again.
async fn warn_pinned(store: &dyn Store, name: &str, pinned: Mode, what: &str) {
    if let Ok(Some(Entry::Record(r))) = store.get(name).await
        && r.spec.mode == pinned
    {
        let mode = if pinned == Mode::On { "on" } else { "off" };
        eprintln!(
            "note: service/{name} has spec.mode {mode}, so it {what}; the request counts once \
             the mode is auto (snoozectl edit {name})"
        );
    }
}

/// Runs `snoozectl sleep`: sets `desired.sleepRequestedAt` to now, which wins over earlier
/// wakes and activity. Prints `service/NAME sleep requested`. Errors when the record does not
/// exist. For `group/NAME`: the same for every member, in start order, one line each; errors
/// when no record is in the group.
pub async fn run_sleep(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let now = Timestamp::now();
    let names = match args.name {
        Ref::Service(name) => vec![name],
        Ref::Group(group) => GroupView::read(store.as_ref(), &group)
            .await?
            .members
            .into_iter()
            .map(|r| r.metadata.name)
            .collect(),
    };
    for name in &names {
        store.request_sleep(name, now).await?;
        super::emit(format!("service/{name} sleep requested\n"))?;
        warn_pinned(store.as_ref(), name, Mode::On, "stays awake").await;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::group::Groups;
    use crate::model::{Phase, Status};

    fn member(name: &str, deps: &[&str]) -> Record {
        let mut r = Record::test(name);
        r.spec.groups = vec!["g".into()];
        r.spec.depends_on = deps.iter().map(|d| d.to_string()).collect();
        r
    }

    #[test]
    fn a_member_is_invalid_by_the_groups_problems_or_its_status() {
        let (xa, xb, xc) = (
            member("xa", &["xb"]),
            member("xb", &["xa"]),
            member("xc", &[]),
        );
        let problems = Groups::of([&xa, &xb, &xc]).problems();
        assert_eq!(
            invalid_reason(&xa, &problems).as_deref(),
            Some(
                "service/xa is Invalid: spec.dependsOn: dependency cycle xa → xb → xa; nothing \
                 on it is scaled up"
            )
        );
        assert_eq!(invalid_reason(&xc, &problems), None);
        let reported = xc.clone().with_status(Status {
            phase: Phase::Invalid,
            message: "spec.target: claimed twice".into(),
            ..Status::default()
        });
        assert_eq!(
            invalid_reason(&reported, &problems).as_deref(),
            Some("service/xc is Invalid: spec.target: claimed twice")
        );
    }
}
