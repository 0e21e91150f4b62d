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
    let problems = group_problems(&records, &stored);
    if !problems.is_empty() {
        let what = "problem{s} with groups";
        return Err(nothing_applied(what, problems).into());
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

/// Problems of `spec.dependsOn` across records that applying `records` over `stored` would
/// create ([`crate::reconcile::group::Groups::problems`] on the table as it would be), for the
/// applied records only, one message each (`service/web: spec.dependsOn: dependency cycle web →
/// api → web; nothing on it is scaled up`). A dependency on a record that does not exist yet is
/// not one of them: it may be applied next (until then the record is Invalid, with the reason,
/// and nothing of it is scaled). Records already stored keep what they have: the reconciler
/// reports those.
pub fn group_problems(records: &[Record], stored: &[crate::model::Entry]) -> Vec<String> {
    let table: Vec<&Record> = records
        .iter()
        .chain(stored.iter().filter_map(|e| match e {
            crate::model::Entry::Record(r) if !records.iter().any(|n| n.name() == r.name()) => {
                Some(r.as_ref())
            }
            _ => None,
        }))
        .collect();
    let names: std::collections::BTreeSet<&str> = table.iter().map(|r| r.name()).collect();
    let problems = crate::reconcile::group::Groups::of(table.iter().copied()).problems();
    records
        .iter()
        .flat_map(|r| {
            problems
                .get(r.name())
                .into_iter()
                .flatten()
                .filter(|e| {
                    // "no record X in the table": may come next.
                    !r.spec.depends_on.iter().enumerate().any(|(i, d)| {
                        e.path == format!("spec.dependsOn[{i}]") && !names.contains(d.as_str())
                    })
                })
                .map(move |e| format!("service/{}: {e}", r.name()))
        })
        .collect()
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
            group_problems(&[member("db", &["p"], &["web"])], &stored),
            vec![
                "service/db: spec.dependsOn: dependency cycle db → web → api → db; nothing on it \
                 is scaled up"
            ]
        );
        // The stored records on the cycle are not named: they are not being applied.
        // Replacing a stored record with one that breaks the cycle is fine.
        let fixed = member("web", &["p"], &[]);
        assert!(group_problems(&[member("db", &["p"], &["web"]), fixed], &stored).is_empty());
    }

    #[test]
    fn a_dependency_outside_the_group_is_refused_and_one_not_there_yet_is_not() {
        let stored = vec![Entry::Record(Box::new(member("db", &["shared"], &[])))];
        assert_eq!(
            group_problems(&[member("api", &["p"], &["db", "cache"])], &stored),
            vec![
                "service/api: spec.dependsOn[0]: \"db\" shares no group with this record (it \
                 is in: shared; this record is in: p)"
            ]
        );
    }
}
