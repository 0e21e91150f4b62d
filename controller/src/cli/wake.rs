//! `snoozectl wake NAME` and `snoozectl sleep NAME`: record an operator's wish in the
//! record's `desired` facts; the reconciler acts on it. Neither creates a record.

use std::process::ExitCode;
use std::time::Duration;

use super::GlobalArgs;
use crate::model::{Entry, Mode, Timestamp};
use crate::store::Store;

/// Arguments of `snoozectl sleep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record to put to sleep.
    pub name: String,
}

/// Arguments of `snoozectl wake`.
#[derive(Debug, clap::Args)]
pub struct WakeArgs {
    /// The record to wake.
    pub name: String,
    /// Wake it even inside quiet hours (`spec.schedule.asleep`): also sets
    /// `desired.wakeForcedAt`, shown as a forced wake in `describe`. It stays awake until
    /// `idleTimeout` after the wake or later visits and activity, or until a `snoozectl sleep`.
    #[arg(long)]
    pub force: bool,
}

/// Runs `snoozectl wake`: sets `desired.wakeRequestedAt` to now (no debounce) and, with
/// `--force`, `desired.wakeForcedAt`. Prints `service/NAME wake requested` (`... (forced)`).
/// Errors when the record does not exist.
pub async fn run_wake(global: &GlobalArgs, args: WakeArgs) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let now = Timestamp::now();
    if !args.force
        && let Ok(Some(Entry::Record(r))) = store.get(&args.name).await
        && let Some(until) = crate::wake::quiet_until(&r, now)
    {
        anyhow::bail!(
            "service/{} is in its quiet hours until {until}: not woken (snoozectl wake --force {} wakes it anyway)",
            args.name,
            args.name
        );
    }
    store.record_wake(&args.name, now, Duration::ZERO).await?;
    if args.force {
        store.force_wake(&args.name, now).await?;
        super::emit(format!("service/{} wake requested (forced)\n", args.name))?;
    } else {
        super::emit(format!("service/{} wake requested\n", args.name))?;
    }
    warn_pinned(store.as_ref(), &args.name, Mode::Off, "stays asleep").await;
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
/// exist.
pub async fn run_sleep(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    store.request_sleep(&args.name, Timestamp::now()).await?;
    super::emit(format!("service/{} sleep requested\n", args.name))?;
    warn_pinned(store.as_ref(), &args.name, Mode::On, "stays awake").await;
    Ok(ExitCode::SUCCESS)
}
