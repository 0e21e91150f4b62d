//! `snoozectl schema`: prints the JSON Schema of a record (the committed copy lives at
//! `manifests/schema/service.schema.json`).

use std::process::ExitCode;

use super::GlobalArgs;

/// Arguments of `snoozectl schema` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints [`crate::model::json_schema`] as pretty JSON with a trailing newline.
pub async fn run(_global: &GlobalArgs, _args: Args) -> anyhow::Result<ExitCode> {
    super::emit(format!("{}\n", schema_text()))?;
    Ok(ExitCode::SUCCESS)
}

/// The schema as committed: pretty-printed JSON (without the trailing newline).
pub fn schema_text() -> String {
    serde_json::to_string_pretty(&crate::model::json_schema()).expect("schema serialises")
}

#[cfg(test)]
mod tests {
    /// The committed schema must match the types (STYLE.md §7: generated, then checked).
    #[test]
    fn committed_schema_is_up_to_date() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../manifests/schema/service.schema.json"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let generated = format!("{}\n", super::schema_text());
        assert!(
            committed == generated,
            "manifests/schema/service.schema.json is stale (or missing); regenerate it with\n\n    \
             cargo run -p snooze --bin snoozectl -- schema > manifests/schema/service.schema.json\n"
        );
    }
}
