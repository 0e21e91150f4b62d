//! `snoozectl wake NAME` and `snoozectl sleep NAME`: record an operator's wish in the
//! record's `desired` facts; the reconciler acts on it. Neither creates a record.

use std::process::ExitCode;
use std::time::Duration;

use super::GlobalArgs;
use crate::model::Timestamp;

/// Arguments of `snoozectl wake` and `snoozectl sleep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record to wake or put to sleep.
    pub name: String,
}

/// Runs `snoozectl wake`: sets `desired.wakeRequestedAt` to now (no debounce). Prints
/// `service/NAME wake requested`. Errors when the record does not exist.
pub async fn run_wake(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    store
        .record_wake(&args.name, Timestamp::now(), Duration::ZERO)
        .await?;
    super::emit(format!("service/{} wake requested\n", args.name))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `snoozectl sleep`: sets `desired.sleepRequestedAt` to now, which wins over earlier
/// wakes and activity. Prints `service/NAME sleep requested`. Errors when the record does not
/// exist.
pub async fn run_sleep(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    store.request_sleep(&args.name, Timestamp::now()).await?;
    super::emit(format!("service/{} sleep requested\n", args.name))?;
    Ok(ExitCode::SUCCESS)
}
