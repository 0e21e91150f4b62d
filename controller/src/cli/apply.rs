//! `snoozectl apply -f FILE|DIR|- [-f ...] [-R]`: creates or updates records from manifests.
//!
//! Every file is read, parsed and validated first ([`crate::manifest`]); if anything is wrong,
//! every problem is printed (`file:line:col: path: message`) and nothing is applied. Then, per
//! record: absent → created; same spec and labels → `unchanged`; else a compare-and-swap update
//! on the `resourceVersion` just read → `configured`. Applying the same files twice changes
//! nothing. `desired` and `status` in a manifest are ignored (they belong to other writers).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{Failure, GlobalArgs};
use crate::manifest::{parse_all, read_sources};
use crate::model::Record;
use crate::store::apply_one;

/// Arguments of `snoozectl apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A manifest file, a directory of them (`*.yaml`, `*.yml`, `*.json`, in name order), or
    /// `-` for stdin. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    pub files: Vec<PathBuf>,
    /// Also read subdirectories of a DIR (never `schema/`, which holds the JSON Schema).
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// Runs `snoozectl apply`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let (sources, read_errors) = read_sources(&args.files, args.recursive);
    let records = match parse_all(&sources) {
        Ok(records) if read_errors.is_empty() => records,
        result => {
            let mut details = read_errors;
            if let Err(errors) = result {
                details.extend(errors);
            }
            return Err(nothing_applied("problem{s} in the manifests", details).into());
        }
    };
    let store = global.connect_or_create().await?;
    let stored = store.list().await?;
    let conflicts = target_conflicts(&records, &stored);
    if !conflicts.is_empty() {
        let what = "record{s} would manage a service another record manages";
        return Err(nothing_applied(what, conflicts).into());
    }
    let check = group_problems(&records, &stored, "apply");
    if !check.added.is_empty() {
        let what = "problem{s} with groups";
        return Err(nothing_applied(what, check.added).into());
    }
    for note in &check.notes {
        eprintln!("note: {note}");
    }
    let mut failures = Vec::new();
    for record in &records {
        match apply_one(store.as_ref(), record).await {
            Ok(outcome) => super::emit(format!("service/{} {}\n", record.name(), outcome))?,
            Err(e) => failures.push(format!("service/{}: {e:#}", record.name())),
        }
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let n = failures.len();
        Err(Failure::new(
            format!(
                "{n} of {} record{} not applied",
                records.len(),
                if records.len() == 1 { "" } else { "s" }
            ),
            failures,
        )
        .into())
    }
}

/// `{n} {what}; nothing was applied` with `{s}` in `what` made plural for `n` ≠ 1, and the
/// details one per line.
fn nothing_applied(what: &str, details: Vec<String>) -> Failure {
    let n = details.len();
    let what = what.replace("{s}", if n == 1 { "" } else { "s" });
    Failure::new(format!("{n} {what}; nothing was applied"), details)
}

/// Records among `records` with a claim ([`crate::model::Spec::claims`]: the target, or in
/// route mode the stable address) that a stored record of another name already has, one message each (`service/copy: spec.target:
/// ecs:demo-cluster/web is already managed by service/web`). A stored record that `records`
/// replace counts with its new target. Two records on one service would scale it against each
/// other; the reconciler reports such a pair as Invalid too, this catches it before it lands.
pub fn target_conflicts(records: &[Record], stored: &[crate::model::Entry]) -> Vec<String> {
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    for entry in stored {
        if let crate::model::Entry::Record(r) = entry
            && !records.iter().any(|n| n.name() == r.name())
        {
            for (claim, _) in r.spec.claims() {
                owners.insert(claim, r.name());
            }
        }
    }
    records
        .iter()
        .filter_map(|r| {
            r.spec.claims().into_iter().find_map(|(claim, path)| {
                let owner = owners.get(&claim)?;
                Some(match claim.strip_prefix("host:") {
                    Some(host) => format!(
                        "service/{}: {path}: {host} is already the address of service/{owner}",
                        r.name()
                    ),
                    None => format!(
                        "service/{}: {path}: {claim} is already managed by service/{owner}",
                        r.name()
                    ),
                })
            })
        })
        .collect()
}

/// What [`group_problems`] found: the problems a change would add (it is refused for them)
/// and the notes worth printing about problems it leaves as they were.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupCheck {
    /// Problems the change adds, to the changed records or to any other stored record, one
    /// message each (`service/web: spec.dependsOn: dependency cycle web → api → web; nothing on
    /// it is scaled up`; a record not being changed gets ` (caused by this <verb>)` appended).
    /// Non-empty means: refuse the change.
    pub added: Vec<String>,
    /// `note:` lines (without the prefix) for the changed records: problems they already had
    /// before the change, and dependencies on a record that is on a dependency cycle (they will
    /// wait until the cycle is broken).
    pub notes: Vec<String>,
}

/// The cross-record problems of `table` ([`crate::model::group::Groups::problems`]) as
/// `service/NAME: path: message` lines, keyed by record name, without the dependencies on a
/// record that is not in the table (they may be applied next, so they are never refused).
fn table_problems(table: &[&Record]) -> BTreeMap<String, Vec<String>> {
    let names: std::collections::BTreeSet<&str> = table.iter().map(|r| r.name()).collect();
    let problems = crate::model::group::Groups::of(table.iter().copied()).problems();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in table {
        for e in problems.get(r.name()).into_iter().flatten() {
            let missing = r.spec.depends_on.iter().enumerate().any(|(i, d)| {
                e.path == format!("spec.dependsOn[{i}]") && !names.contains(d.as_str())
            });
            if !missing {
                out.entry(r.name().to_string())
                    .or_default()
                    .push(format!("service/{}: {e}", r.name()));
            }
        }
    }
    out
}

/// Problems of `spec.dependsOn` across records that writing `records` over `stored` would
/// add: the problems of the whole table ([`crate::model::group::Groups::problems`]) are
/// compared before (the stored records) and after (the stored records with `records`
/// substituted or added), and every problem that is new after, on any record, changed or not,
/// is in [`GroupCheck::added`]; `verb` (`apply`, `edit`) names the change in the message of a
/// record that is not being changed. Problems that existed before are not the change's fault:
/// they are only noted. A dependency on a record that does not exist yet is never a problem
/// here: it may be applied next.
pub fn group_problems(
    records: &[Record],
    stored: &[crate::model::Entry],
    verb: &str,
) -> GroupCheck {
    let before: Vec<&Record> = stored
        .iter()
        .filter_map(|e| match e {
            crate::model::Entry::Record(r) => Some(r.as_ref()),
            crate::model::Entry::Malformed(_) => None,
        })
        .collect();
    let changed = |name: &str| records.iter().any(|n| n.name() == name);
    let after: Vec<&Record> = records
        .iter()
        .chain(before.iter().copied().filter(|r| !changed(r.name())))
        .collect();
    let old = table_problems(&before);
    let new = table_problems(&after);
    let mut check = GroupCheck::default();
    for (name, lines) in &new {
        let had = old.get(name);
        for line in lines {
            if had.is_some_and(|h| h.contains(line)) {
                if changed(name) {
                    check
                        .notes
                        .push(format!("{line} (already so before this {verb})"));
                }
            } else if changed(name) {
                check.added.push(line.clone());
            } else {
                check.added.push(format!("{line} (caused by this {verb})"));
            }
        }
    }
    // A record that depends on a cycle is not Invalid itself, but it waits for ever.
    let groups = crate::model::group::Groups::of(after.iter().copied());
    for r in records {
        let on_cycle: Vec<String> = groups
            .dependencies(r.name())
            .into_iter()
            .filter(|d| {
                new.get(d)
                    .is_some_and(|ls| ls.iter().any(|l| l.contains("dependency cycle")))
            })
            .collect();
        if !on_cycle.is_empty() && !new.contains_key(r.name()) {
            check.notes.push(format!(
                "service/{}: depends on {}, on a dependency cycle: it will wait until the cycle \
                 is broken",
                r.name(),
                on_cycle.join(", ")
            ));
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;

    fn member(name: &str, groups: &[&str], deps: &[&str]) -> Record {
        let mut r = Record::test(name);
        r.spec.groups = groups.iter().map(|s| s.to_string()).collect();
        r.spec.depends_on = deps.iter().map(|s| s.to_string()).collect();
        r
    }

    #[test]
    fn a_cycle_closed_by_the_applied_record_is_refused_with_the_cycle() {
        let stored = vec![
            Entry::Record(Box::new(member("api", &["p"], &["db"]))),
            Entry::Record(Box::new(member("web", &["p"], &["api"]))),
        ];
        assert_eq!(
            group_problems(&[member("db", &["p"], &["web"])], &stored, "apply").added,
            vec![
                "service/api: spec.dependsOn: dependency cycle api → db → web → api; nothing on \
                 it is scaled up (caused by this apply)",
                "service/db: spec.dependsOn: dependency cycle db → web → api → db; nothing on it \
                 is scaled up",
                "service/web: spec.dependsOn: dependency cycle web → api → db → web; nothing on \
                 it is scaled up (caused by this apply)",
            ]
        );
        // The stored records on the cycle are named too: the apply puts them on it.
        // Replacing a stored record with one that breaks the cycle is fine.
        let fixed = member("web", &["p"], &[]);
        assert_eq!(
            group_problems(&[member("db", &["p"], &["web"]), fixed], &stored, "apply"),
            GroupCheck::default()
        );
    }

    #[test]
    fn a_dependency_outside_the_group_is_refused_and_one_not_there_yet_is_not() {
        let stored = vec![Entry::Record(Box::new(member("db", &["shared"], &[])))];
        assert_eq!(
            group_problems(&[member("api", &["p"], &["db", "cache"])], &stored, "apply").added,
            vec![
                "service/api: spec.dependsOn[0]: \"db\" shares no group with this record (it \
                 is in: shared; this record is in: p)"
            ]
        );
    }

    #[test]
    fn a_problem_added_to_a_record_not_applied_is_refused_and_names_it() {
        let stored = vec![
            Entry::Record(Box::new(member("xa", &["xg"], &["xb"]))),
            Entry::Record(Box::new(member("xb", &["xg"], &[]))),
        ];
        // Moving xb out of xg leaves xa depending on a record it shares no group with.
        assert_eq!(
            group_problems(&[member("xb", &["yg"], &[])], &stored, "apply").added,
            vec![
                "service/xa: spec.dependsOn[0]: \"xb\" shares no group with this record (it \
                 is in: yg; this record is in: xg) (caused by this apply)"
            ]
        );
        // Closing a cycle names both records; the one not applied says why.
        assert_eq!(
            group_problems(&[member("xb", &["xg"], &["xa"])], &stored, "edit").added,
            vec![
                "service/xa: spec.dependsOn: dependency cycle xa → xb → xa; nothing on it is \
                 scaled up (caused by this edit)",
                "service/xb: spec.dependsOn: dependency cycle xb → xa → xb; nothing on it is \
                 scaled up",
            ]
        );
    }

    #[test]
    fn problems_that_were_there_before_are_only_noted() {
        // A cycle xa ↔ xb already stored (written before apply checked it).
        let stored = vec![
            Entry::Record(Box::new(member("xa", &["xg"], &["xb"]))),
            Entry::Record(Box::new(member("xb", &["xg"], &["xa"]))),
        ];
        let check = group_problems(&[member("xc", &["xg"], &["xa"])], &stored, "apply");
        assert_eq!(check.added, Vec::<String>::new());
        assert_eq!(
            check.notes,
            vec![
                "service/xc: depends on xa, xb, on a dependency cycle: it will wait until the \
                 cycle is broken"
            ]
        );
        // Re-applying a record on the cycle unchanged is not refused either, only noted.
        let check = group_problems(&[member("xa", &["xg"], &["xb"])], &stored, "apply");
        assert_eq!(check.added, Vec::<String>::new());
        assert_eq!(check.notes.len(), 1, "{check:?}");
        assert!(check.notes[0].ends_with("(already so before this apply)"));
    }
}
