//! `snooze-wake`: the wake endpoint Lambda behind an API Gateway HTTP API (`provided.al2023`,
//! arm64). Wiring only: JSON logs, configuration from env (`SNOOZE_TABLE`, and the
//! `SNOOZE_*` variables of [`snooze::wake::WakeConfig::from_env`]), the store client built once,
//! then [`snooze_wake::serve`] for every request.

use std::sync::Arc;

use anyhow::Context;
use lambda_http::{Request, service_fn};
use snooze::store::{ConnectOptions, connect};
use snooze::wake::{WakeConfig, WakeState};

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

    let table = std::env::var("SNOOZE_TABLE")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .context("SNOOZE_TABLE is not set: name the DynamoDB table of records")?;
    let opts = ConnectOptions {
        region: None,
        endpoint_url: std::env::var("SNOOZE_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty()),
    };
    let store = connect(&format!("dynamodb://{table}"), &opts).await?;
    let state = Arc::new(WakeState::new(store, WakeConfig::from_env()?));
    lambda_http::run(service_fn(move |req: Request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(snooze_wake::serve(&state, req).await) }
    }))
    .await
}
