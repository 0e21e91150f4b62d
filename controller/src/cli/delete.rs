//! `snoozectl delete NAME...`: removes records (also malformed ones).

use std::process::ExitCode;

use anyhow::Context as _;

use super::{Failure, GlobalArgs};
use crate::model::Entry;
use crate::store::Error as StoreError;

/// Arguments of `snoozectl delete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The records to delete.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

/// Runs `snoozectl delete`: for each name, reads the record, then deletes it with
/// compare-and-swap on the `resourceVersion` read (a concurrent spec change makes it fail
/// instead of deleting unseen work). Prints `service "NAME" deleted` per record; the names that
/// could not be deleted (missing, changed, store errors) are listed in one error at the end
/// (exit 1), after the others were deleted, as `kubectl delete` does.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
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
            Ok(()) => super::emit(format!("service {name:?} deleted\n"))?,
            Err(e) if args.names.len() == 1 => return Err(e),
            Err(e) => failed.push(format!("{name}: {}", crate::error_chain::chain(e.as_ref()))),
        }
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
