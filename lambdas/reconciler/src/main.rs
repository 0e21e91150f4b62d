//! `snooze-reconciler`: the reconciler Lambda (`provided.al2023`, arm64). Wiring only: JSON
//! logs, configuration from env ([`snooze_reconciler::config::Config`]), clients built once,
//! then the handler for every invocation.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use snooze::aws_calls::CallCounter;
use snooze::platform::ecs::{EcsPlatform, load_sdk_config};
use snooze::reconcile::events::{EventBridgeSink, EventSink, NoEvents};
use snooze::reconcile::{HttpProber, Reconciler, SystemClock};
use snooze::router::alb::AlbRouter;
use snooze::store::{ConnectOptions, DynamoStore};
use snooze_reconciler::config::Config;
use snooze_reconciler::handler::{App, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .without_time()
        .with_ansi(false)
        .init();

    let config = Config::from_env()?;
    let opts = ConnectOptions {
        region: None,
        endpoint_url: config.endpoint_url.clone(),
    };
    let store_calls = CallCounter::new();
    let store = Arc::new(DynamoStore::counted(&config.table, &opts, &store_calls).await);
    let sdk = load_sdk_config(None, config.endpoint_url.clone()).await;
    // The ledger's prices for the function's region: a bad table, or an operator's table
    // without the region, stops the cold start with an error naming the file; a region the
    // shipped table lacks is a warning, and the ledger counts seconds only.
    let region = sdk.region().map(|r| r.to_string());
    let rates = config.rates(region.as_deref())?;
    let platform = Arc::new(EcsPlatform::from_sdk_config(&sdk));
    let router_calls = CallCounter::new();
    let events_calls = CallCounter::new();
    let events: Arc<dyn EventSink> = match config.event_bus.clone() {
        Some(bus) => Arc::new(EventBridgeSink::from_sdk_config(
            &sdk,
            bus,
            Some(&events_calls),
        )),
        None => Arc::new(NoEvents),
    };
    let router = match (config.alb_listener_arn, config.wake_target_group_arn) {
        (Some(listener), Some(wake_group)) => Some(Arc::new(AlbRouter::from_sdk_config(
            &sdk,
            Some(&router_calls),
            listener,
            wake_group,
        ))),
        _ => None,
    };
    let counter = platform.clone();
    let calls = move || {
        let mut all = store_calls.snapshot();
        all.extend(router_calls.snapshot());
        all.extend(events_calls.snapshot());
        all.extend(
            counter
                .calls()
                .into_iter()
                .map(|(op, n)| (op.to_string(), n)),
        );
        all
    };
    let mut reconciler = Reconciler::new(
        store,
        platform,
        Arc::new(HttpProber::new()?),
        Arc::new(SystemClock),
    );
    if let Some(router) = router {
        reconciler = reconciler.with_router(router);
    }
    if let Some(rates) = rates {
        reconciler = reconciler.with_prices(rates);
    }
    reconciler.options.runner_period = config.schedule_period;
    // Tiered observation: its resync from the environment; a cold start looks back one
    // schedule period.
    reconciler.options.observe =
        snooze::reconcile::Observe::Tiered(config.tier.options(config.schedule_period));
    let app = App {
        reconciler,
        budget: config.budget,
        function: config.function,
        schedule_period: config.schedule_period,
        calls: Some(Arc::new(calls)),
        emit: Arc::new(|line| println!("{line}")),
        events,
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = event.context.deadline as i64;
        handle(app, event.payload, Some(deadline))
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
