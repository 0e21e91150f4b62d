//! `snoozectl reconcile [--once] [--watch] [--platform ecs|sim] [NAME...]`: run reconcile
//! passes from the command line against any store and platform.
//!
//! - `--once` (default): one pass, one line per record (`demo  Asleep → Waking (wake
//!   requested)`), exit 1 when any record had an error.
//! - `--watch`: passes until Ctrl-C; records that ask to be requeued are looked at again when
//!   due, and every record every `--resync` (default 60s).
//! - `--platform ecs` (default): AWS ECS and EC2 through the SDK (honours `--region` and
//!   `--endpoint-url`), real HTTP readiness probes.
//! - `--platform sim`: the in-process simulated ECS, in which every ECS target of the store
//!   exists (ACTIVE, at the desiredCount its record's status last published, as ECS would
//!   have kept it between two runs) and tasks start within seconds of wall time;
//!   probes always pass and nothing leaves the process. For trying snooze without AWS.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::GlobalArgs;
use crate::clock::SimClock;
use crate::model::{Entry, Target, Timestamp};
use crate::platform::Platform;
use crate::platform::sim::{SimConfig, SimPlatform};
use crate::reconcile::{
    Clock, Hooks, PassInfo, PassReport, Prober, Reconciler, Runtime, RuntimeOptions, Scope,
    StaticProber,
};
use crate::store::Store;

/// Which platform the passes act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformKind {
    /// AWS ECS (and EC2 for task addresses).
    Ecs,
    /// The in-process simulated ECS (no AWS needed; state lives only in this process).
    Sim,
}

/// Arguments of `snoozectl reconcile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run a single pass and exit (the default).
    #[arg(long, conflicts_with = "watch")]
    pub once: bool,
    /// Keep running passes: requeued records when due, every record every `--resync`.
    #[arg(long)]
    pub watch: bool,
    /// The platform: `ecs` (AWS; needs a snoozectl built with the cargo feature `aws`) or `sim`
    /// (simulated, in process).
    #[arg(long, value_enum, default_value = "ecs", env = "SNOOZE_PLATFORM")]
    pub platform: PlatformKind,
    /// Route mode on AWS: the shared load balancer's listener whose rules the passes switch
    /// (the `alb` router, as the reconciler Lambda's `SNOOZE_ALB_LISTENER_ARN`); needs
    /// `--wake-target-group-arn` and `--platform ecs`. Without it, route-mode records report
    /// `RouteFailed` and nothing else is done for them.
    #[arg(
        long,
        env = "SNOOZE_ALB_LISTENER_ARN",
        value_name = "ARN",
        requires = "wake_target_group_arn"
    )]
    pub alb_listener_arn: Option<String>,
    /// The wake Lambda's target group on that listener (`SNOOZE_WAKE_TARGET_GROUP_ARN`).
    #[arg(
        long,
        env = "SNOOZE_WAKE_TARGET_GROUP_ARN",
        value_name = "ARN",
        requires = "alb_listener_arn"
    )]
    pub wake_target_group_arn: Option<String>,
    /// A price table file replacing the one shipped with snooze (Fargate list prices per
    /// region and architecture; see docs/cost.md): the ledger prices ECS tasks with the row
    /// of the region (`--region` or the AWS SDK's; `us-east-1` for `--platform sim` without
    /// `--region`). A bad file, or this file without the region, is an error naming the file.
    /// Without this option, a region the shipped table lacks is a warning: the ledger counts
    /// seconds only.
    #[arg(long, env = "SNOOZE_PRICE_TABLE", value_name = "FILE")]
    pub price_table: Option<std::path::PathBuf>,
    /// With `--watch`: how often every record is reconciled, e.g. `60s`.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub resync: Duration,
    /// What a pass over all records observes: `all` (every record, every pass) or `tiered`
    /// (only what can have changed or is due, plus a slow resync of the quiet sleeping ones;
    /// see docs/runbooks/throttling.md). Default: `all` for a single pass, `tiered` with
    /// `--watch`.
    #[arg(long, value_enum, value_name = "MODE")]
    pub observe: Option<ObserveMode>,
    /// The resync of `--observe tiered` (`--resync-floor`, `--resync-calls-per-minute`,
    /// `--awake-resync`, or their env vars).
    #[command(flatten)]
    pub tier: crate::reconcile::tier::TierArgs,
    /// Only these records (default: all).
    pub names: Vec<String>,
}

/// `--observe`: what a pass over all records observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ObserveMode {
    /// Every record, every pass.
    All,
    /// Only what can have changed or is due, plus a slow resync.
    Tiered,
}

/// Runs `snoozectl reconcile`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let Wiring {
        platform,
        prober,
        clock,
        sim,
    } = match args.platform {
        #[cfg(not(feature = "aws"))]
        PlatformKind::Ecs => anyhow::bail!(crate::without_aws("--platform ecs")),
        #[cfg(feature = "aws")]
        PlatformKind::Ecs => {
            let ecs = crate::platform::ecs::EcsPlatform::from_options(
                global.region.clone(),
                global.endpoint_url.clone(),
            )
            .await;
            Wiring {
                platform: Arc::new(ecs),
                prober: Arc::new(crate::reconcile::HttpProber::new()?),
                clock: Arc::new(crate::reconcile::SystemClock),
                sim: None,
            }
        }
        PlatformKind::Sim => {
            let sim_clock = SimClock::new(Timestamp::now());
            let sim = Arc::new(SimPlatform::new(sim_clock.clone(), quick_sim()));
            Wiring {
                platform: sim.clone(),
                prober: Arc::new(StaticProber::new()),
                clock: Arc::new(WallSimClock(sim_clock)),
                sim: Some(sim),
            }
        }
    };
    let region = match args.platform {
        PlatformKind::Sim => Some(global.region.clone().unwrap_or("us-east-1".into())),
        PlatformKind::Ecs => sdk_region(global).await,
    };
    let Some(region) = region else {
        anyhow::bail!("no AWS region to price the ledger with: pass --region or set AWS_REGION");
    };
    // A region the shipped table lacks: a warning, seconds only; an operator's table without
    // it: an error naming the file.
    let rates = crate::reconcile::prices::load_rates(args.price_table.as_deref(), &region)?;
    let mut reconciler = Reconciler::new(store.clone(), platform, prober, clock);
    if let Some(rates) = rates {
        reconciler = reconciler.with_prices(rates);
    }
    if let (Some(listener), Some(wake_group)) =
        (&args.alb_listener_arn, &args.wake_target_group_arn)
    {
        if args.platform != PlatformKind::Ecs {
            anyhow::bail!("--alb-listener-arn needs --platform ecs (the load balancer is in AWS)");
        }
        reconciler = reconciler.with_router(alb_router(global, listener, wake_group).await?);
    }
    let observe = args.observe.unwrap_or(if args.watch {
        ObserveMode::Tiered
    } else {
        ObserveMode::All
    });
    if observe == ObserveMode::All
        && crate::config::from_lookup::<crate::reconcile::tier::TierArgs>(|_| None)
            .is_ok_and(|defaults| defaults != args.tier)
    {
        eprintln!(
            "note: --resync-floor, --resync-calls-per-minute and --awake-resync apply to \
             --observe tiered (the default with --watch); this pass observes every record"
        );
    }
    reconciler.options.observe = match observe {
        ObserveMode::All => crate::reconcile::Observe::All,
        // A first full pass looks back one resync period (`--resync`).
        ObserveMode::Tiered => crate::reconcile::Observe::Tiered(args.tier.options(args.resync)),
    };
    let scope = if args.names.is_empty() {
        Scope::All
    } else {
        Scope::Names(args.names.clone())
    };

    if !args.watch {
        if let Some(sim) = &sim {
            seed_sim(store.as_ref(), sim).await?;
            eprintln!(
                "note: --platform sim simulates ECS inside this process only: tasks it starts are \
                 gone when it exits, so a wake never reaches Ready with --once; use --watch"
            );
        }
        let report = reconciler.reconcile(scope).await;
        print_report(&report, true);
        if let Some(e) = &report.error {
            anyhow::bail!("reconcile pass failed: {e}");
        }
        let errors = report.errors().count();
        return Ok(if errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    // --watch: the runtime runs the passes; this only prints them (and keeps the simulation's
    // services in step with the store before every resync).
    let runtime = Runtime::with_options(
        reconciler,
        RuntimeOptions {
            resync: args.resync.max(Duration::from_secs(1)),
            resync_scope: scope,
            requeues: true,
            min_requeue: Duration::from_secs(1),
            transition_poll: None,
        },
    );
    // The simulation must know the store's services before the first pass (a failure here
    // ends the command, as before; later resyncs report it and go on).
    if let Some(sim) = &sim {
        seed_sim(store.as_ref(), sim).await?;
    }
    let hooks = WatchHooks {
        store: store.clone(),
        sim,
    };
    // No trigger source: passes come from the resync and the requeues.
    let (_triggers, none) = tokio::sync::mpsc::unbounded_channel();
    runtime
        .run(none, &hooks, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(ExitCode::SUCCESS)
}

/// What `reconcile --watch` does around passes: seed the simulation before a resync, print
/// changed and failed records after every pass.
struct WatchHooks {
    store: Arc<dyn Store>,
    sim: Option<Arc<SimPlatform>>,
}

#[async_trait]
impl Hooks for WatchHooks {
    async fn before_pass(&self, pass: &PassInfo) {
        if let (true, Some(sim)) = (pass.full, &self.sim)
            && let Err(e) = seed_sim(self.store.as_ref(), sim).await
        {
            eprintln!("cannot add the store's services to the simulation: {e:#}");
        }
    }
    async fn after_pass(&self, _pass: &PassInfo, report: &PassReport) {
        print_report(report, false);
    }
}

/// Prints one line per record (`all`) or only changed and failed ones, then a summary.
fn print_report(report: &PassReport, all: bool) {
    for r in &report.records {
        if all || r.changed() || r.error.is_some() || r.scaled.is_some() {
            println!("{r}");
        }
    }
    if all || report.changed().next().is_some() || report.errors().next().is_some() {
        println!(
            "{} records, {} changed, {} errors in {} ms",
            report.records.len(),
            report.changed().count(),
            report.errors().count(),
            report.duration.as_millis()
        );
    }
}

/// What the passes run against, per `--platform`.
struct Wiring {
    platform: Arc<dyn Platform>,
    prober: Arc<dyn Prober>,
    clock: Arc<dyn Clock>,
    /// The simulation, to add the store's services to it (`--platform sim` only).
    sim: Option<Arc<SimPlatform>>,
}

/// Simulated ECS with wall-time delays short enough to watch: tasks RUNNING after 5 s.
fn quick_sim() -> SimConfig {
    SimConfig {
        provisioning: Duration::from_secs(2),
        pending: Duration::from_secs(3),
        stopping: Duration::from_secs(3),
        ..SimConfig::default()
    }
}

/// Adds every ECS target of the store that the simulation does not have yet, ACTIVE at the
/// desiredCount its record's status last published (0 without a status), as ECS keeps a
/// service's desiredCount between two runs of `snoozectl reconcile`: starting every service at
/// 0 would make each new run see (and report) drift for every awake service.
async fn seed_sim(store: &dyn Store, sim: &SimPlatform) -> anyhow::Result<()> {
    for e in store.list().await? {
        if let Entry::Record(r) = e
            && let Target::Ecs(t) = &r.spec.target
            && sim.desired_count(&t.cluster, &t.service).is_none()
        {
            sim.add_service(&t.cluster, &t.service);
            let desired = r.status.as_ref().map_or(0, |s| s.replicas.desired);
            if desired > 0 {
                sim.set_desired_count_externally(&t.cluster, &t.service, desired);
            }
        }
    }
    Ok(())
}

/// The simulation's clock following the wall clock, so `--platform sim` runs in real time.
struct WallSimClock(Arc<SimClock>);

#[async_trait]
impl Clock for WallSimClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        self.0.set(now);
        now
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// The region the AWS SDK resolves (`--region`, `AWS_REGION`, the profile).
#[cfg(feature = "aws")]
async fn sdk_region(global: &GlobalArgs) -> Option<String> {
    let conf =
        crate::platform::ecs::load_sdk_config(global.region.clone(), global.endpoint_url.clone())
            .await;
    conf.region().map(|r| r.to_string())
}

/// Without the cargo feature `aws`: `--region` only (`--platform ecs` is refused anyway).
#[cfg(not(feature = "aws"))]
async fn sdk_region(global: &GlobalArgs) -> Option<String> {
    global.region.clone()
}

/// The `alb` router for `--alb-listener-arn` (needs the cargo feature `aws`).
#[cfg(feature = "aws")]
async fn alb_router(
    global: &GlobalArgs,
    listener: &str,
    wake_group: &str,
) -> anyhow::Result<Arc<dyn crate::router::Router>> {
    let conf =
        crate::platform::ecs::load_sdk_config(global.region.clone(), global.endpoint_url.clone())
            .await;
    Ok(Arc::new(crate::router::alb::AlbRouter::from_sdk_config(
        &conf,
        None,
        listener.to_string(),
        wake_group.to_string(),
    )))
}

/// Without the cargo feature `aws`: the one line that says how to get a build with it.
#[cfg(not(feature = "aws"))]
async fn alb_router(
    _global: &GlobalArgs,
    _listener: &str,
    _wake_group: &str,
) -> anyhow::Result<Arc<dyn crate::router::Router>> {
    anyhow::bail!(crate::without_aws("--alb-listener-arn"))
}
