//! `snoozectl schema`: prints the JSON Schema of a record (the committed copy lives at
//! `manifests/schema/service.schema.json`).

use std::process::ExitCode;

use super::GlobalArgs;

/// Arguments of `snoozectl schema` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints [`crate::model::json_schema`] as pretty JSON with a trailing newline.
pub async fn run(_global: &GlobalArgs, _args: Args) -> anyhow::Result<ExitCode> {
    println!("{}", schema_text());
    Ok(ExitCode::SUCCESS)
}

/// The schema as committed: pretty-printed JSON (without the trailing newline).
pub fn schema_text() -> String {
    serde_json::to_string_pretty(&crate::model::json_schema()).expect("schema serialises")
}
