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
    let conflicts = target_conflicts(&records, &store.list().await?);
    if !conflicts.is_empty() {
        let what = "record{s} would manage a service another record manages";
        return Err(nothing_applied(what, conflicts).into());
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
