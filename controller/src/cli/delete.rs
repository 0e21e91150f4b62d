//! `snoozectl delete NAME...`: removes records (also malformed ones).

use std::process::ExitCode;

use anyhow::Context as _;

use super::{Failure, GlobalArgs};
use crate::model::Entry;
use crate::store::Error as StoreError;

/// Arguments of `snoozectl delete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The records to delete (`NAME` or `service/NAME`; `group/NAME` is a usage error).
    #[arg(required = true, value_name = "NAME", value_parser = super::parse_service)]
    pub names: Vec<String>,
}

/// Runs `snoozectl delete`: for each name, reads the record, then deletes it with
/// compare-and-swap on the `resourceVersion` read (a concurrent spec change makes it fail
/// instead of deleting unseen work). Prints `service "NAME" deleted` per record; the names that
/// could not be deleted (missing, changed, store errors) are listed in one error at the end
/// (exit 1), after the others were deleted, as `kubectl delete` does.
///
/// A deleted record that others still name in `spec.dependsOn` is deleted all the same; a
/// `note:` line on stderr per dependent (sorted) says it will wait (see [`dependents_notes`]).
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let before = store.list().await.context("cannot list services")?;
    let mut deleted_names = Vec::new();
    let mut failed = Vec::new();
    for name in &args.names {
        let deleted = async {
            let version = match store
                .get(name)
                .await
                .with_context(|| format!("cannot read service {name:?}"))?
            {
                Some(Entry::Record(r)) => r.metadata.resource_version,
                Some(Entry::Malformed(m)) => m.resource_version,
                None => return Err(StoreError::NotFound(name.clone()).into()),
            };
            store.delete(name, Some(version)).await?;
            anyhow::Ok(())
        }
        .await;
        match deleted {
            Ok(()) => {
                super::emit(format!("service {name:?} deleted\n"))?;
                deleted_names.push(name.clone());
            }
            Err(e) if args.names.len() == 1 => {
                for note in dependents_notes(&before, &deleted_names) {
                    eprintln!("note: {note}");
                }
                return Err(e);
            }
            Err(e) => failed.push(format!("{name}: {}", crate::error_chain::chain(e.as_ref()))),
        }
    }
    for note in dependents_notes(&before, &deleted_names) {
        eprintln!("note: {note}");
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure::new(
            format!(
                "{} of {} services not deleted",
                failed.len(),
                args.names.len()
            ),
            failed,
        )
        .into())
    }
}

/// One line per record of `before` (the table before the deletion) not itself deleted that
/// names a `deleted` record in `spec.dependsOn`, sorted by dependent, then deleted name:
/// `service/pw depends on pa (spec.dependsOn); it will wait for pa until pa exists again or its
/// dependsOn is edited`.
pub fn dependents_notes(before: &[Entry], deleted: &[String]) -> Vec<String> {
    let mut notes = std::collections::BTreeSet::new();
    for entry in before {
        let Entry::Record(r) = entry else { continue };
        if deleted.contains(&r.metadata.name) {
            continue;
        }
        for dep in r.spec.depends_on.iter().filter(|d| deleted.contains(d)) {
            notes.insert((r.metadata.name.clone(), dep.clone()));
        }
    }
    notes
        .into_iter()
        .map(|(name, dep)| {
            format!(
                "service/{name} depends on {dep} (spec.dependsOn); it will wait for {dep} until \
                 {dep} exists again or its dependsOn is edited"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Record;

    #[test]
    fn dependents_of_a_deleted_record_are_noted_sorted() {
        let with_deps = |name: &str, deps: &[&str]| {
            let mut r = Record::test(name);
            r.spec.depends_on = deps.iter().map(|d| d.to_string()).collect();
            Entry::Record(Box::new(r))
        };
        let before = vec![
            with_deps("pz", &["pa"]),
            with_deps("pw", &["pa", "pb"]),
            with_deps("pa", &[]),
            with_deps("pb", &["pa"]),
        ];
        assert_eq!(
            dependents_notes(&before, &["pa".into()]),
            vec![
                "service/pb depends on pa (spec.dependsOn); it will wait for pa until pa exists \
                 again or its dependsOn is edited",
                "service/pw depends on pa (spec.dependsOn); it will wait for pa until pa exists \
                 again or its dependsOn is edited",
                "service/pz depends on pa (spec.dependsOn); it will wait for pa until pa exists \
                 again or its dependsOn is edited",
            ]
        );
        // Deleted together: pb is gone, so it is not noted; pw still waits for both.
        let notes = dependents_notes(&before, &["pa".into(), "pb".into()]);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            notes[0].starts_with("service/pw depends on pa"),
            "{notes:?}"
        );
        assert!(
            notes[1].starts_with("service/pw depends on pb"),
            "{notes:?}"
        );
        assert!(dependents_notes(&before, &["pw".into()]).is_empty());
    }
}
