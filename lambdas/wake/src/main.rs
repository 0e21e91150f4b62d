//! `snooze-wake`: the wake endpoint Lambda behind an API Gateway HTTP API (`provided.al2023`,
//! arm64). Wiring only: JSON logs, configuration from env ([`snooze_wake::Config`]:
//! `SNOOZE_TABLE` and the `SNOOZE_*` variables of [`snooze::wake::WakeConfig`]), the store
//! client built once, then [`snooze_wake::serve`] for every request.

use std::sync::Arc;

use lambda_http::{Request, service_fn};
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
    lambda_http::run(service_fn(move |req: Request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(snooze_wake::serve(&state, req).await) }
    }))
    .await
}
