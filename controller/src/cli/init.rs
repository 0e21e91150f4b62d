//! `snoozectl init`: prepares the store named by `--store`. For `dynamodb://TABLE` it creates
//! the table (key `name`, on-demand, stream with old and new images) and waits until it is
//! ACTIVE; for `sqlite://PATH` it creates the file and its tables. An existing table or file
//! is fine: running `init` twice changes nothing.

use std::process::ExitCode;

use super::GlobalArgs;
use crate::store::StoreUrl;

/// Arguments of `snoozectl init` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `snoozectl init`.
pub async fn run(global: &GlobalArgs, _args: Args) -> anyhow::Result<ExitCode> {
    match StoreUrl::parse(&global.store)? {
        StoreUrl::Sqlite(path) => {
            let existed = path.exists();
            global.connect_or_create().await?;
            let what = if existed { "already exists" } else { "created" };
            super::emit(format!("sqlite store {} {what}\n", path.display()))?;
        }
        #[cfg(feature = "aws")]
        StoreUrl::Dynamo(table) => {
            use crate::store::{self, DynamoStore};
            use anyhow::Context as _;
            let client = store::dynamo_client(&global.connect_options()).await;
            let created = DynamoStore::new(client, table.clone())
                .create_table()
                .await
                .with_context(|| format!("cannot create DynamoDB table {table:?}"))?;
            let what = if created { "created" } else { "already exists" };
            super::emit(format!("dynamodb table {table} {what}\n"))?;
        }
        #[cfg(not(feature = "aws"))]
        StoreUrl::Dynamo(table) => {
            anyhow::bail!(crate::without_aws(&format!("store dynamodb://{table}")))
        }
    }
    Ok(ExitCode::SUCCESS)
}
