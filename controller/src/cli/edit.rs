//! `snoozectl edit NAME`: edit a record's operator-owned view in `$VISUAL` / `$EDITOR`.
//!
//! The file holds `apiVersion`, `kind`, `metadata.name`, `metadata.labels` and `spec` (the
//! sections operators own). After the editor exits the file is parsed and validated (and its
//! target and groups checked against the other records as `apply` checks them: one service,
//! one record; no change that adds a `spec.dependsOn` problem to any record); on a
//! problem it is reopened with the errors as `#` comments at the top (kubectl style), until it
//! is valid or left unchanged ("Edit cancelled, no changes made."; exit 1 when the reopened file
//! with its problems is closed unchanged, as kubectl does). The save is a
//! compare-and-swap on the `resourceVersion` read before editing: when the record changed in
//! the meantime nothing is overwritten, and the edited file is kept so no work is lost.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::{Failure, GlobalArgs};
use crate::manifest::locate;
use crate::model::{Entry, Metadata, Record, parse_manifests};
use crate::store::{Applied, Error as StoreError};

/// Arguments of `snoozectl edit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record to edit (`NAME` or `service/NAME`; `group/NAME` is a usage error).
    #[arg(value_parser = super::parse_service)]
    pub name: String,
}

const HELP: &str = "\
# Edit the service record below and save. Lines beginning with '#' are ignored; an empty
# file or an unchanged one cancels the edit. Only metadata.labels and spec are saved:
# desired facts and status belong to the wake endpoint and the reconciler.
#";

/// Runs `snoozectl edit`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.connect().await?;
    let name = &args.name;
    let entry = store
        .get(name)
        .await
        .with_context(|| format!("cannot read service {name:?}"))?
        .ok_or_else(|| StoreError::NotFound(name.clone()))?;
    if let Entry::Record(r) = &entry
        && !r.unknown_fields.is_empty()
    {
        return Err(Failure::new(
            format!(
                "service {name:?} has fields this version of snoozectl does not know: {}",
                r.unknown_fields.join(", ")
            ),
            vec![
                "a newer snooze wrote them and saving here would drop them: edit it with that \
                 release, or apply a manifest (which replaces the whole spec)"
                    .into(),
            ],
        )
        .into());
    }
    let (body, version, problem) = match &entry {
        Entry::Record(r) => (operator_view(r)?, r.metadata.resource_version, None),
        Entry::Malformed(m) => (
            malformed_view(&m.raw),
            m.resource_version,
            Some(vec![format!(
                "the stored record does not parse: {}",
                m.error
            )]),
        ),
    };
    let editor = editor_command();
    let file = tempfile::Builder::new()
        .prefix(&format!("snoozectl-edit-{name}-"))
        .suffix(".yaml")
        .tempfile()
        .context("cannot create a temporary file to edit")?;
    let path = file.path().to_path_buf();

    let mut written = compose(name, problem.as_deref(), &body);
    // The problems of the last attempt, when the file was reopened with them.
    let mut last_errors: Option<Vec<String>> = None;
    let record = loop {
        std::fs::write(&path, &written)
            .with_context(|| format!("cannot write {}", path.display()))?;
        run_editor(&editor, &path).await?;
        let edited = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        // Unchanged means the record text after our header: a change of comments alone (the
        // header's problem lines included) changes nothing, else an editor that touches them
        // would reopen the file for ever.
        if strip_header(&edited) == strip_header(&written) {
            // Like kubectl: closing the reopened file unchanged leaves the problems unsolved.
            if let Some(errors) = last_errors {
                return Err(Failure::new(
                    format!("edit cancelled, no valid changes were saved to service {name:?}"),
                    errors,
                )
                .into());
            }
            eprintln!("Edit cancelled, no changes made.");
            return Ok(ExitCode::SUCCESS);
        }
        let body = strip_header(&edited);
        if body
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            eprintln!("Edit cancelled, saved file was empty.");
            return Ok(ExitCode::SUCCESS);
        }
        // Line numbers of the problems as they will read in the reopened file, whose header
        // (help and problems) may be longer or shorter than the one the user saw.
        let old_header = edited[..edited.len() - body.len()].lines().count();
        let checked = match check(&edited, name, 0) {
            Ok(record) => {
                let stored = store.list().await.context("cannot list records")?;
                let mut conflicts =
                    super::apply::target_conflicts(std::slice::from_ref(&record), &stored);
                // The same cross-record group checks as `apply`: nothing that adds a problem
                // to this record or another one.
                let groups =
                    super::apply::group_problems(std::slice::from_ref(&record), &stored, "edit");
                conflicts.extend(groups.added);
                if conflicts.is_empty() {
                    for note in &groups.notes {
                        eprintln!("note: {note}");
                    }
                    Ok(record)
                } else {
                    Err(conflicts)
                }
            }
            Err(errors) => Err(errors),
        };
        match checked {
            Ok(record) => break record,
            Err(errors) => {
                let new_header = compose(name, Some(&errors), "").lines().count();
                let shift = new_header as isize - old_header as isize;
                let errors = match check(&edited, name, shift) {
                    Err(shifted) if shifted.len() == errors.len() => shifted,
                    _ => errors,
                };
                written = compose(name, Some(&errors), body);
                last_errors = Some(errors);
            }
        }
    };

    match store.apply(&record, Some(version)).await {
        Ok(Applied::Unchanged(_)) => super::emit(format!("service/{name} unchanged\n"))?,
        Ok(_) => super::emit(format!("service/{name} edited\n"))?,
        Err(e @ (StoreError::Conflict { .. } | StoreError::NotFound(_))) => {
            // Keep the user's work: the temp file would be removed on drop.
            let kept = keep(file)?;
            return Err(Failure::new(
                format!("service {name:?} was not saved: it changed since it was read"),
                vec![
                    e.to_string(),
                    format!("your version is saved in {}", kept.display()),
                    format!(
                        "run `snoozectl edit {name}` again and copy your changes over, or \
                         `snoozectl apply -f {}` to overwrite",
                        kept.display()
                    ),
                ],
            )
            .into());
        }
        Err(e) => {
            let kept = keep(file)?;
            return Err(anyhow::Error::new(e).context(format!(
                "cannot save service {name:?}; your version is kept in {}",
                kept.display()
            )));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The YAML an operator edits: `apiVersion`, `kind`, `metadata` (name, labels) and `spec`.
pub fn operator_view(r: &Record) -> anyhow::Result<String> {
    let view = Record {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        metadata: Metadata {
            name: r.metadata.name.clone(),
            labels: r.metadata.labels.clone(),
            ..Metadata::default()
        },
        spec: r.spec.clone(),
        desired: Default::default(),
        status: None,
        unknown_fields: Vec::new(),
    };
    Ok(serde_yaml_ng::to_string(&view)?)
}

/// The editable part of an item that does not parse: its `apiVersion`, `kind`, `metadata`
/// (name, labels) and `spec` as stored, whatever their shape, so the operator can repair it.
fn malformed_view(raw: &serde_json::Value) -> String {
    let get = |k: &str| raw.get(k).cloned();
    let mut out = serde_json::Map::new();
    out.insert(
        "apiVersion".into(),
        get("apiVersion")
            .or(get("api_version"))
            .unwrap_or("snooze/v1".into()),
    );
    out.insert("kind".into(), get("kind").unwrap_or("Service".into()));
    let mut meta = serde_json::Map::new();
    let stored_meta = match get("metadata") {
        Some(serde_json::Value::String(s)) => serde_json::from_str(&s).ok(),
        other => other,
    };
    let name = stored_meta
        .as_ref()
        .and_then(|m| m.get("name").cloned())
        .or(get("name"))
        .unwrap_or_default();
    meta.insert("name".into(), name);
    if let Some(labels) = stored_meta.as_ref().and_then(|m| m.get("labels")) {
        meta.insert("labels".into(), labels.clone());
    }
    out.insert("metadata".into(), meta.into());
    let spec = match get("spec") {
        // The SQLite store keeps spec as JSON text; show it as structure when it parses.
        Some(serde_json::Value::String(s)) => {
            serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
        }
        Some(v) => v,
        None => serde_json::Value::Object(Default::default()),
    };
    out.insert("spec".into(), spec);
    // Keep the familiar order: apiVersion, kind, metadata, spec.
    let mut text = String::new();
    for key in ["apiVersion", "kind", "metadata", "spec"] {
        let one: serde_json::Map<_, _> =
            [(key.to_string(), out[key].clone())].into_iter().collect();
        text.push_str(&serde_yaml_ng::to_string(&one).unwrap_or_default());
    }
    text
}

/// The file content: help comment, the errors of the previous attempt (if any), the body.
fn compose(name: &str, errors: Option<&[String]>, body: &str) -> String {
    let mut out = String::from(HELP);
    out.push('\n');
    if let Some(errors) = errors {
        out.push_str(&format!("# service {name:?} was not saved:\n"));
        for e in errors {
            out.push_str(&format!("# * {e}\n"));
        }
        out.push_str("#\n");
    }
    out.push_str(body);
    out
}

/// The text after the leading block of `#` comment lines (our header).
fn strip_header(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with('#') {
            offset += line.len();
        } else {
            break;
        }
    }
    &text[offset..]
}

/// Parses and validates the edited text: exactly one record, named `name`. Line numbers in
/// the problems are those of `text` plus `line_shift` (the reopened file's header differs).
fn check(text: &str, name: &str, line_shift: isize) -> Result<Record, Vec<String>> {
    let mut records = parse_manifests(text, "edit").map_err(|errs| {
        errs.iter()
            .map(|e| {
                // Line numbers refer to the file as the user saw it.
                let location = e
                    .location
                    .or_else(|| locate::find(text, e.document, &e.path));
                let mut line = String::new();
                if let Some((l, c)) = location {
                    let l = l.saturating_add_signed(line_shift).max(1);
                    line.push_str(&format!("line {l}:{c}: "));
                }
                if !e.path.is_empty() && e.path != "." {
                    line.push_str(&format!("{}: ", e.path));
                }
                line.push_str(&e.message);
                line
            })
            .collect::<Vec<_>>()
    })?;
    if records.len() != 1 {
        return Err(vec![format!(
            "expected exactly one record, found {}",
            records.len()
        )]);
    }
    let record = records.remove(0);
    if record.name() != name {
        return Err(vec![format!(
            "metadata.name: cannot be changed (was {name:?}, now {:?}); use `snoozectl apply` to create another record",
            record.name()
        )]);
    }
    Ok(record)
}

/// `$VISUAL`, else `$EDITOR`, else `vi`. May contain arguments (`code --wait`).
fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".into())
}

/// Runs the editor on `path` through `sh -c` (so the editor string may carry arguments),
/// with the terminal inherited. A non-zero exit is an error.
async fn run_editor(editor: &str, path: &Path) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("snoozectl-editor")
        .arg(path);
    let status = cmd
        .status()
        .await
        .with_context(|| format!("cannot run the editor {editor:?} (set VISUAL or EDITOR)"))?;
    if !status.success() {
        anyhow::bail!("the editor {editor:?} exited with {status}; nothing was saved");
    }
    Ok(())
}

fn keep(file: tempfile::NamedTempFile) -> anyhow::Result<PathBuf> {
    let (_, path) = file.keep().context("cannot keep the edited file")?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_view_has_only_operator_sections() {
        let r = Record::test("demo")
            .woken_at(crate::model::Timestamp::now())
            .asleep();
        let text = operator_view(&r).unwrap();
        assert!(
            text.starts_with(
                "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: demo\nspec:\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("desired") && !text.contains("status") && !text.contains("generation"),
            "{text}"
        );
    }

    #[test]
    fn errors_are_shown_as_comments_and_stripped_again() {
        let body = "apiVersion: snooze/v1\n";
        let text = compose(
            "demo",
            Some(&["line 6:13: spec.replicas: 99 is above the maximum of 10".into()]),
            body,
        );
        assert!(text.contains("# * line 6:13: spec.replicas"), "{text}");
        assert_eq!(strip_header(&text), body);
    }

    #[test]
    fn check_reports_locations_and_renames() {
        let good = "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: demo\nspec:\n  target:\n    ecs: {cluster: c, service: s}\n";
        assert!(check(good, "demo", 0).is_ok());
        let errs = check(
            &good.replace("spec:\n", "spec:\n  replicas: 99\n"),
            "demo",
            0,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("line 6:13: spec.replicas: 99 is above the maximum of 10"),
            "{errs:?}"
        );
        let errs = check(&good.replace("  replicas", "  replica"), "other", 0).unwrap_err();
        assert!(
            errs[0].starts_with("metadata.name: cannot be changed"),
            "{errs:?}"
        );
        let errs = check("kind: [\n", "demo", 0).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.starts_with("line 2:1: did not find expected")),
            "{errs:?}"
        );
    }

    #[test]
    fn malformed_items_are_editable() {
        let raw = serde_json::json!({"name": "demo", "api_version": "snooze/v1", "kind": "Service",
            "metadata": "{\"labels\":{\"team\":\"web\"}}", "spec": "{\"replicas\":\"many\"}"});
        let text = malformed_view(&raw);
        assert_eq!(
            text,
            "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  labels:\n    team: web\n  name: demo\nspec:\n  replicas: many\n"
        );
    }
}
