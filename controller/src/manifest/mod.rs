//! Manifests: reading them (files, directories, stdin) and parsing and validating them all at
//! once, every problem with its `file:line:col: path: message`. Used by `snoozectl apply`,
//! `snoozectl edit` and `snoozectl dev`.
//!
//! - [`read_sources`] — the text of every file a list of paths names;
//! - [`parse_all`] — every record of those sources, or every problem (parse and validation
//!   errors, names and targets defined twice);
//! - [`locate`] — the line and column of a field path in a YAML document.
//!
//! Writing a record to a store is [`crate::store::apply_one`].

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::model::{ManifestError, Record, parse_manifests};

pub mod locate;

/// One manifest source: its display name and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path as given (or `-` for stdin).
    pub name: String,
    /// The file's content.
    pub text: String,
}

/// Reads every source named by `paths`: files as given, directories' `*.yaml|*.yml|*.json` in
/// name order (subdirectories only with `recursive`, never `schema/` or hidden ones), `-` as
/// stdin. Returns what could be read and one message per path that could not.
pub fn read_sources(paths: &[PathBuf], recursive: bool) -> (Vec<Source>, Vec<String>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => sources.push(Source {
                    name: "-".into(),
                    text,
                }),
                Err(e) => errors.push(format!("-: cannot read stdin: {e}")),
            }
        } else if path.is_dir() {
            let before = sources.len();
            read_dir(path, recursive, &mut sources, &mut errors);
            if sources.len() == before {
                errors.push(format!(
                    "{}: no manifests (*.yaml, *.yml, *.json) in this directory{}",
                    path.display(),
                    if recursive {
                        " or below"
                    } else {
                        "; use -R to read subdirectories"
                    }
                ));
            }
        } else {
            match std::fs::read_to_string(path) {
                Ok(text) => sources.push(Source {
                    name: path.display().to_string(),
                    text,
                }),
                Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
            }
        }
    }
    (sources, errors)
}

fn read_dir(dir: &Path, recursive: bool, sources: &mut Vec<Source>, errors: &mut Vec<String>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(format!("{}: cannot read directory: {e}", dir.display()));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if recursive && name != "schema" {
                read_dir(&path, recursive, sources, errors);
            }
            continue;
        }
        let manifest = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if manifest {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push(Source {
                    name: path.display().to_string(),
                    text,
                }),
                Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
            }
        }
    }
}

/// Parses and validates every source. All records, or every problem: parse and validation
/// errors with file, line and column where known, and names defined more than once.
pub fn parse_all(sources: &[Source]) -> Result<Vec<Record>, Vec<String>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut targets: BTreeMap<String, (String, String)> = BTreeMap::new();
    for source in sources {
        match parse_located(&source.text, &source.name) {
            Ok(parsed) => {
                for record in parsed {
                    let name = record.name().to_string();
                    let claims = record.spec.claims();
                    let taken = claims
                        .iter()
                        .find_map(|(c, path)| targets.get(c).map(|owner| (c, *path, owner)));
                    if let Some(first) = seen.get(&name) {
                        errors.push(format!(
                            "{}: metadata.name: service {name:?} is also defined in {first}",
                            source.name
                        ));
                    } else if let Some((claim, path, (other, file))) = taken {
                        let what = match claim.strip_prefix("host:") {
                            Some(host) => format!(
                                "the address of service {other:?} ({file}): {host}; one address, one record"
                            ),
                            None => format!(
                                "the target of service {other:?} ({file}): {claim}; one service, one record"
                            ),
                        };
                        errors.push(format!(
                            "{}: {path}: service {name:?} has {what}",
                            source.name
                        ));
                    } else {
                        for (claim, _) in claims {
                            targets.insert(claim, (name.clone(), source.name.clone()));
                        }
                        seen.insert(name, source.name.clone());
                        records.push(record);
                    }
                }
            }
            Err(mut located) => {
                // In the order of the file: by document, then line and column (problems whose
                // place is unknown last in their document).
                located.sort_by_key(|e| (e.document, e.location.is_none(), e.location));
                errors.extend(located.iter().map(ToString::to_string));
            }
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// Parses and validates the manifests in `text` ([`parse_manifests`]; `source` names it in the
/// errors). Every problem carries a line and column where one can be found: a validation error
/// that knows only its field path gets the position of that path in its YAML document
/// ([`locate::find`]). Problems are in the order [`parse_manifests`] gives them.
fn parse_located(text: &str, source: &str) -> Result<Vec<Record>, Vec<ManifestError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    parse_manifests(text, source).map_err(|errs| {
        errs.into_iter()
            .map(|mut e| {
                if e.location.is_none() && !e.path.is_empty() {
                    e.location = locate::find(text, e.document, &e.path);
                }
                e
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: NAME\nspec:\n  target:\n    ecs: {cluster: c, service: s}\n";

    fn src(name: &str, text: &str) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn duplicate_names_across_files_are_errors() {
        let a = GOOD.replace("NAME", "demo");
        let errs = parse_all(&[src("a.yaml", &a), src("b.yaml", &a)]).unwrap_err();
        assert_eq!(
            errs,
            ["b.yaml: metadata.name: service \"demo\" is also defined in a.yaml"]
        );
    }

    #[test]
    fn errors_of_our_own_deserializers_point_at_the_value() {
        let bad = GOOD.replace("NAME", "a").replace(
            "ecs: {cluster: c, service: s}",
            "local: {command: app, port: 70000}",
        );
        let errs = parse_all(&[src("a.yaml", &bad)]).unwrap_err();
        assert_eq!(
            errs,
            ["a.yaml:7:33: spec.target.local.port: 70000 is not a port; use 1-65535"]
        );
    }

    #[test]
    fn two_records_for_one_service_are_errors() {
        let a = GOOD.replace("NAME", "a");
        let b = GOOD.replace("NAME", "b");
        let errs = parse_all(&[src("a.yaml", &a), src("b.yaml", &b)]).unwrap_err();
        assert_eq!(
            errs,
            [
                "b.yaml: spec.target: service \"b\" has the target of service \"a\" (a.yaml): \
              ecs:c/s; one service, one record"
            ]
        );
    }

    #[test]
    fn all_errors_of_all_files_are_listed() {
        let good = GOOD.replace("NAME", "good");
        let bad1 = GOOD.replace("NAME", "Bad");
        let bad2 = GOOD
            .replace("NAME", "ok")
            .replace("  target:", "  replicas: 99\n  target:");
        let errs = parse_all(&[
            src("1.yaml", &good),
            src("2.yaml", &bad1),
            src("3.yaml", &bad2),
        ])
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("2.yaml:4:9: metadata.name: \"Bad\" contains 'B'"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("3.yaml:6:13: spec.replicas: 99 is above"),
            "{errs:?}"
        );
    }
}
