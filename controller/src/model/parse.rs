//! Reading records from YAML manifests and from stored JSON, with precise error locations.

use std::fmt;

use super::{Record, validate};

/// A problem in a manifest file: where it is and what is wrong.
///
/// Displays as `manifests/demo.yaml:12:5: spec.idleTimeout: "15 mins" is not a duration; try 15m`
/// (line and column when the YAML parser knows them, else the document number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// File name or `-` for stdin.
    pub source: String,
    /// 1-based document index within the file (`---` separated).
    pub document: usize,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// Dotted field path (empty for syntax errors).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, col)) => write!(f, "{}:{line}:{col}: ", self.source)?,
            None => write!(f, "{} (document {}): ", self.source, self.document)?,
        }
        if !self.path.is_empty() && self.path != "." {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Strips serde_yaml_ng's own " at line X column Y" suffix and its (shorter) path prefix; we
/// print the location and the full path ourselves.
fn clean_message(msg: &str, path: &str) -> String {
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    match msg.split_once(": ") {
        Some((prefix, rest)) if !prefix.is_empty() && path.starts_with(prefix) => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// How serde's own errors start (their locations are exact); other messages come from our
/// deserializers.
const SERDE_MESSAGES: [&str; 7] = [
    "invalid type",
    "invalid value",
    "invalid length",
    "unknown field",
    "unknown variant",
    "missing field",
    "duplicate field",
];

/// Parses every `---`-separated YAML document in `text` as a record and validates it.
///
/// Returns all records, or every error found (syntax errors with line and column, type errors and
/// unknown fields with their path, and [`validate`] errors). Empty documents are skipped; a file
/// with no record at all is an error. `source` names the file in messages.
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<Record>, Vec<ManifestError>> {
    let mut records = Vec::new();
    let mut errors: Vec<ManifestError> = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        match serde_path_to_error::deserialize::<_, Option<Record>>(doc) {
            Ok(None) => {}
            Ok(Some(record)) => {
                for e in validate(&record) {
                    errors.push(ManifestError {
                        source: source.to_string(),
                        document,
                        location: None,
                        path: e.path,
                        message: e.message,
                    });
                }
                records.push(record);
            }
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = clean_message(&inner.to_string(), &path);
                let syntax = path.is_empty() || path == ".";
                // serde_yaml_ng places the errors of our own deserializers (durations, ports,
                // counts) at the enclosing mapping; leave those to be located by their path.
                let own = !syntax && !SERDE_MESSAGES.iter().any(|m| message.starts_with(m));
                let location = inner
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .filter(|_| !own);
                errors.push(ManifestError {
                    source: source.to_string(),
                    document,
                    location,
                    path,
                    message,
                });
                // After a syntax error the rest of the stream cannot be trusted (and the
                // document iterator would yield the same error forever).
                if syntax {
                    break;
                }
            }
        }
    }
    if records.is_empty() && errors.is_empty() {
        errors.push(ManifestError {
            source: source.to_string(),
            document: 1,
            location: None,
            path: String::new(),
            message: "no records found (the file is empty)".into(),
        });
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// Parses a stored record (plain JSON, as converted from a DynamoDB item or a SQLite row).
/// The error names the path of the offending field. Does not [`validate`].
pub fn parse_record_value(value: serde_json::Value) -> Result<Record, String> {
    serde_path_to_error::deserialize::<_, Record>(value).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: demo\nspec:\n  target:\n    ecs: {cluster: c, service: s}\n";

    fn errors(text: &str) -> Vec<String> {
        parse_manifests(text, "f.yaml")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn good_manifest_parses_with_defaults() {
        let r = parse_manifests(GOOD, "f.yaml").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].spec.idle_timeout.to_string(), "15m");
        assert_eq!(r[0].spec.replicas, 1);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let errs = errors("apiVersion: snooze/v1\nkind: [Service\n");
        assert!(
            errs.iter()
                .any(|e| e.starts_with("f.yaml:3:1: did not find expected")),
            "{errs:?}"
        );
    }

    #[test]
    fn bad_duration_and_unknown_field_have_paths() {
        let errs = errors(&GOOD.replace("  target:", "  idleTimeout: 15 mintues\n  target:"));
        assert!(
            errs[0].contains("spec.idleTimeout: \"15 mintues\" is not a duration; try 15m"),
            "{errs:?}"
        );
        let errs = errors(&GOOD.replace("  target:", "  idleTimout: 15m\n  target:"));
        assert!(errs[0].contains("unknown field `idleTimout`"), "{errs:?}");
        assert!(errs[0].contains("f.yaml:6:"), "{errs:?}");
    }

    #[test]
    fn wrong_type_and_range_are_reported() {
        let errs = errors(&GOOD.replace("  target:", "  replicas: many\n  target:"));
        assert!(errs[0].contains("spec.replicas"), "{errs:?}");
        let errs = errors(&GOOD.replace("  target:", "  replicas: 11\n  target:"));
        assert!(
            errs[0].contains("spec.replicas: 11 is above the maximum of 10"),
            "{errs:?}"
        );
        let local = "  target:\n    local: {command: app, port: 70000}\n";
        let errs = errors(&GOOD.replace("  target:\n    ecs: {cluster: c, service: s}\n", local));
        // Located by its path later (`snoozectl apply`): serde_yaml_ng would name the mapping.
        assert_eq!(
            errs,
            ["f.yaml (document 1): spec.target.local.port: 70000 is not a port; use 1-65535"]
        );
        let errs = errors(&GOOD.replace("  target:", "  replicas: -1\n  target:"));
        assert!(
            errs[0].contains("spec.replicas: -1 is not a task count; use 0 or more"),
            "{errs:?}"
        );
        let errs = errors(&GOOD.replace("  target:", "  endpoint: {port: -1}\n  target:"));
        assert!(
            errs[0].contains("spec.endpoint.port: -1 is not a port; use 1-65535"),
            "{errs:?}"
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(errors("")[0].contains("no records"));
        assert!(errors("# just a comment\n")[0].contains("no records"));
    }

    #[test]
    fn several_documents_report_all_errors() {
        let text = format!(
            "{GOOD}---\n{}---\n{}",
            GOOD.replace("demo", "Bad/Name"),
            GOOD.replace("ecs:", "ec2:")
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("metadata.name"), "{errs:?}");
        assert!(errs[1].contains("spec.target"), "{errs:?}");
    }
}
