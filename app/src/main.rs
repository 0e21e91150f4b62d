//! `snooze-demo-app`: serves the demo dashboard (configuration from env, see `Config`), or
//! with `--healthcheck` probes a running instance and exits 0 (healthy) or 1.

use clap::Parser;
use snooze_demo_app::{Config, healthcheck, init_tracing, run, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if config.healthcheck {
        std::process::exit(if healthcheck(&config).await { 0 } else { 1 });
    }
    init_tracing(config.log_format);
    run(config, shutdown_signal()).await?;
    Ok(())
}
