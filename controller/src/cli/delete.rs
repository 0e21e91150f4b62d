//! `snoozectl delete NAME`: removes a record (also a malformed one).

use std::process::ExitCode;

use anyhow::Context as _;

use super::GlobalArgs;
use crate::model::Entry;
use crate::store::Error as StoreError;

/// Arguments of `snoozectl delete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record to delete.
    pub name: String,
}

/// Runs `snoozectl delete`: reads the record, then deletes it with compare-and-swap on the
/// `resourceVersion` read (a concurrent spec change makes it fail instead of deleting unseen
/// work). Prints `service "NAME" deleted`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let name = &args.name;
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
    super::emit(format!("service {name:?} deleted\n"))?;
    Ok(ExitCode::SUCCESS)
}
