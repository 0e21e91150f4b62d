//! `snoozectl apply -f FILE|DIR|- [-f ...] [-R]`: creates or updates records from manifests.
//!
//! Every file is read, parsed and validated first ([`parse_manifests`]); if anything is wrong,
//! every problem is printed (`file:line:col: path: message`) and nothing is applied. Then, per
//! record: absent → created; same spec and labels → `unchanged`; else a compare-and-swap update
//! on the `resourceVersion` just read → `configured`. Applying the same files twice changes
//! nothing. `desired` and `status` in a manifest are ignored (they belong to other writers).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{Failure, GlobalArgs};
use crate::model::{ManifestError, Record, parse_manifests};
use crate::store::{Applied, Store};

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

/// One manifest source: its display name and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path as given (or `-` for stdin).
    pub name: String,
    /// The file's content.
    pub text: String,
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

/// Records among `records` whose target ([`crate::model::Target::identity`]) a stored record
/// of another name already has, one message each (`service/copy: spec.target:
/// ecs:demo-cluster/web is already managed by service/web`). A stored record that `records`
/// replace counts with its new target. Two records on one service would scale it against each
/// other; the reconciler reports such a pair as Invalid too, this catches it before it lands.
pub fn target_conflicts(records: &[Record], stored: &[crate::model::Entry]) -> Vec<String> {
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    for entry in stored {
        if let crate::model::Entry::Record(r) = entry
            && !records.iter().any(|n| n.name() == r.name())
        {
            owners.insert(r.spec.target.identity(), r.name());
        }
    }
    records
        .iter()
        .filter_map(|r| {
            let owner = owners.get(&r.spec.target.identity())?;
            Some(format!(
                "service/{}: spec.target: {} is already managed by service/{owner}",
                r.name(),
                r.spec.target.identity()
            ))
        })
        .collect()
}

/// Creates or updates one record: `created`, `configured` or `unchanged`.
///
/// Reads the current version first and writes with compare-and-swap on it, so a concurrent
/// change between the read and the write is reported as a conflict, never overwritten.
pub async fn apply_one(store: &dyn Store, record: &Record) -> anyhow::Result<&'static str> {
    let expected = store.get(record.name()).await?.map(|entry| match entry {
        crate::model::Entry::Record(r) => r.metadata.resource_version,
        crate::model::Entry::Malformed(m) => m.resource_version,
    });
    Ok(match store.apply(record, expected).await? {
        Applied::Created(_) => "created",
        Applied::Configured(_) => "configured",
        Applied::Unchanged(_) => "unchanged",
    })
}

/// Reads every source named by `paths`: files as given, directories' `*.yaml|*.yml|*.json` in
/// name order (subdirectories only with `recursive`, never `schema/` or hidden ones), `-` as
/// stdin. Returns what could be read and one message per path that could not.
pub fn read_sources(paths: &[PathBuf], recursive: bool) -> (Vec<Source>, Vec<String>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => sources.push(Source {
                    name: "-".into(),
                    text,
                }),
                Err(e) => errors.push(format!("-: cannot read stdin: {e}")),
            }
        } else if path.is_dir() {
            let before = sources.len();
            read_dir(path, recursive, &mut sources, &mut errors);
            if sources.len() == before {
                errors.push(format!(
                    "{}: no manifests (*.yaml, *.yml, *.json) in this directory{}",
                    path.display(),
                    if recursive {
                        " or below"
                    } else {
                        "; use -R to read subdirectories"
                    }
                ));
            }
        } else {
            match std::fs::read_to_string(path) {
                Ok(text) => sources.push(Source {
                    name: path.display().to_string(),
                    text,
                }),
                Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
            }
        }
    }
    (sources, errors)
}

fn read_dir(dir: &Path, recursive: bool, sources: &mut Vec<Source>, errors: &mut Vec<String>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(format!("{}: cannot read directory: {e}", dir.display()));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if recursive && name != "schema" {
                read_dir(&path, recursive, sources, errors);
            }
            continue;
        }
        let manifest = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if manifest {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push(Source {
                    name: path.display().to_string(),
                    text,
                }),
                Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
            }
        }
    }
}

/// Parses and validates every source. All records, or every problem: parse and validation
/// errors with file, line and column where known, and names defined more than once.
pub fn parse_all(sources: &[Source]) -> Result<Vec<Record>, Vec<String>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut targets: BTreeMap<String, (String, String)> = BTreeMap::new();
    for source in sources {
        match parse_manifests(&source.text, &source.name) {
            Ok(parsed) => {
                for record in parsed {
                    let name = record.name().to_string();
                    let target = record.spec.target.identity();
                    if let Some(first) = seen.get(&name) {
                        errors.push(format!(
                            "{}: metadata.name: service {name:?} is also defined in {first}",
                            source.name
                        ));
                    } else if let Some((other, file)) = targets.get(&target) {
                        errors.push(format!(
                            "{}: spec.target: service {name:?} has the target of service \
                             {other:?} ({file}): {target}; one service, one record",
                            source.name
                        ));
                    } else {
                        targets.insert(target, (name.clone(), source.name.clone()));
                        seen.insert(name, source.name.clone());
                        records.push(record);
                    }
                }
            }
            Err(errs) => {
                // In the order of the file: by document, then line and column (problems whose
                // place is unknown last in their document).
                let mut located: Vec<ManifestError> =
                    errs.iter().map(|e| locate(e, &source.text)).collect();
                located.sort_by_key(|e| (e.document, e.location.is_none(), e.location));
                errors.extend(located.iter().map(ToString::to_string));
            }
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// Adds a line and column to a validation error that has only a path, by looking the path up
/// in the YAML document it came from ([`super::locate::find`]).
fn locate(e: &ManifestError, text: &str) -> ManifestError {
    let mut e = e.clone();
    if e.location.is_none() && !e.path.is_empty() {
        e.location = super::locate::find(text, e.document, &e.path);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: NAME\nspec:\n  target:\n    ecs: {cluster: c, service: s}\n";

    fn src(name: &str, text: &str) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn duplicate_names_across_files_are_errors() {
        let a = GOOD.replace("NAME", "demo");
        let errs = parse_all(&[src("a.yaml", &a), src("b.yaml", &a)]).unwrap_err();
        assert_eq!(
            errs,
            ["b.yaml: metadata.name: service \"demo\" is also defined in a.yaml"]
        );
    }

    #[test]
    fn errors_of_our_own_deserializers_point_at_the_value() {
        let bad = GOOD.replace("NAME", "a").replace(
            "ecs: {cluster: c, service: s}",
            "local: {command: app, port: 70000}",
        );
        let errs = parse_all(&[src("a.yaml", &bad)]).unwrap_err();
        assert_eq!(
            errs,
            ["a.yaml:7:33: spec.target.local.port: 70000 is not a port; use 1-65535"]
        );
    }

    #[test]
    fn two_records_for_one_service_are_errors() {
        let a = GOOD.replace("NAME", "a");
        let b = GOOD.replace("NAME", "b");
        let errs = parse_all(&[src("a.yaml", &a), src("b.yaml", &b)]).unwrap_err();
        assert_eq!(
            errs,
            [
                "b.yaml: spec.target: service \"b\" has the target of service \"a\" (a.yaml): \
              ecs:c/s; one service, one record"
            ]
        );
    }

    #[test]
    fn all_errors_of_all_files_are_listed() {
        let good = GOOD.replace("NAME", "good");
        let bad1 = GOOD.replace("NAME", "Bad");
        let bad2 = GOOD
            .replace("NAME", "ok")
            .replace("  target:", "  replicas: 99\n  target:");
        let errs = parse_all(&[
            src("1.yaml", &good),
            src("2.yaml", &bad1),
            src("3.yaml", &bad2),
        ])
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("2.yaml:4:9: metadata.name: \"Bad\" contains 'B'"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("3.yaml:6:13: spec.replicas: 99 is above"),
            "{errs:?}"
        );
    }
}
