//! `snooze-wake`: the wake endpoint Lambda behind an API Gateway HTTP API (`provided.al2023`,
//! arm64). Wiring only: JSON logs, configuration from env ([`snooze_wake::Config`]:
//! `SNOOZE_TABLE` and the `SNOOZE_*` variables of [`snooze::wake::WakeConfig`]), the store
//! client built once, then [`snooze_wake::handle_event`] for every event (the raw JSON, checked
//! before `lambda_http` converts it).

use std::sync::Arc;

use lambda_http::{LambdaEvent, service_fn};
use serde_json::Value;
use snooze::store::{ConnectOptions, connect};
use snooze::wake::WakeState;
use snooze_wake::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
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
        endpoint_url: config.endpoint_url,
    };
    let store = connect(&format!("dynamodb://{}", config.table), &opts).await?;
    let state = Arc::new(WakeState::new(store, config.wake));
    // The raw JSON, not lambda_http::run: its conversion panics on some malformed events
    // (snooze_wake::event), and an event it cannot deserialize would be an invocation error.
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move {
            Ok::<_, std::convert::Infallible>(snooze_wake::handle_event(&state, event).await)
        }
    }))
    .await
}
