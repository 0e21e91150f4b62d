//! Reading records from YAML manifests and from stored JSON, with precise error locations.

use std::fmt;

use serde::Deserialize;

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
                // A path with an unknown segment (`metadata.?`) is where the YAML parser gave
                // up: a syntax error too.
                let syntax = path.is_empty() || path == "." || path.contains('?');
                let path = if syntax { String::new() } else { path };
                // serde_yaml_ng places the errors of our own deserializers (durations, ports,
                // counts) at the enclosing mapping; leave those to be located by their path.
                let own = !syntax && !SERDE_MESSAGES.iter().any(|m| message.starts_with(m));
                let location = inner
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .filter(|_| !own);
                // After a syntax error the rest of the stream cannot be trusted (and the
                // document iterator would yield the same error forever).
                if syntax {
                    errors.push(ManifestError {
                        source: source.to_string(),
                        document,
                        location,
                        path,
                        message,
                    });
                    break;
                }
                // The same document as a plain YAML value, for `further_problems`.
                let value = serde_yaml_ng::Deserializer::from_str(text)
                    .nth(i)
                    .and_then(|doc| serde_yaml_ng::Value::deserialize(doc).ok());
                let first = Problem { path, message };
                let more = value
                    .map(|v| further_problems(v, &first))
                    .unwrap_or_default();
                errors.push(ManifestError {
                    source: source.to_string(),
                    document,
                    location,
                    path: first.path,
                    message: first.message,
                });
                errors.extend(more.into_iter().map(|p| ManifestError {
                    source: source.to_string(),
                    document,
                    location: None,
                    path: p.path,
                    message: p.message,
                }));
            }
        }
    }
    // The document iterator repeats a parser error that a document's own reading already
    // reported (with a path): keep the first.
    let mut unique: Vec<ManifestError> = Vec::with_capacity(errors.len());
    for e in errors {
        let repeated = e.path.is_empty()
            && unique
                .iter()
                .any(|u| u.document <= e.document && u.message == e.message);
        if !repeated {
            unique.push(e);
        }
    }
    let mut errors = unique;
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

/// One problem of a document: dotted path and message.
#[derive(Debug, PartialEq)]
struct Problem {
    path: String,
    message: String,
}

/// At most this many further problems are looked for in one document.
const MAX_FURTHER_PROBLEMS: usize = 32;

/// Valid stand-ins for the required fields of a record, put where an unreadable required value
/// was taken out so that reading can go on past it (tried in order, by path). They are never
/// reported: only the operator's own values are.
const PLACEHOLDERS: [&str; 2] = [
    "apiVersion: snooze/v1\nkind: Service\nmetadata: {name: placeholder}\nspec: {target: {ecs: {cluster: placeholder, service: placeholder}}}",
    "spec: {target: {local: {command: placeholder, port: 1}}}",
];

/// A document could not be read as a record because of `first`; finds its other problems, so
/// an operator sees them all at once. The offending value (or unknown key) is taken out and the
/// document read again, until it reads (then [`validate`] reports its range and name problems)
/// or a problem cannot be got past. What taking a value out causes (a required field now
/// missing, an enum left without its variant) is not reported: a valid stand-in from
/// [`PLACEHOLDERS`] takes the value's place instead.
fn further_problems(mut doc: serde_yaml_ng::Value, first: &Problem) -> Vec<Problem> {
    let placeholders: Vec<serde_yaml_ng::Value> = PLACEHOLDERS
        .iter()
        .filter_map(|p| serde_yaml_ng::from_str(p).ok())
        .collect();
    let mut problems: Vec<Problem> = Vec::new();
    let mut removed: Vec<Vec<String>> = Vec::new();
    let mut replaced: Vec<Vec<String>> = Vec::new();
    let mut take_out = first_segments(&doc, first);
    if take_out.is_none() {
        return problems;
    }
    for _ in 0..MAX_FURTHER_PROBLEMS {
        if let Some(at) = take_out.take() {
            if !remove_at(&mut doc, &at) {
                break;
            }
            removed.push(at);
        }
        let e = match serde_path_to_error::deserialize::<_, Record>(doc.clone()) {
            Ok(record) => {
                problems.extend(validate(&record).into_iter().map(|e| Problem {
                    path: e.path,
                    message: e.message,
                }));
                break;
            }
            Err(e) => e,
        };
        let (path, segments) = problem_at(&e);
        let Some(segments) = segments else { break };
        let message = clean_message(&e.inner().to_string(), &path);
        // Caused by a removal: a required field that was taken out, or a problem at an
        // ancestor of what was taken out. A stand-in goes there, and the document is read again.
        let caused = match backticked(&message, "missing field `") {
            Some(field) => {
                let missing = [segments.clone(), vec![field.to_string()]].concat();
                removed.contains(&missing).then_some(missing)
            }
            None => removed
                .iter()
                .any(|r| r.len() > segments.len() && r.starts_with(&segments))
                .then(|| segments.clone()),
        };
        if let Some(caused) = caused {
            let stand_in = placeholders.iter().find_map(|p| value_at(p, &caused));
            match stand_in {
                Some(v) if !replaced.contains(&caused) && set_at(&mut doc, &caused, v.clone()) => {
                    replaced.push(caused);
                    continue;
                }
                _ => break,
            }
        }
        let problem = Problem { path, message };
        if problems.contains(&problem) || problem == *first {
            break;
        }
        problems.push(problem);
        take_out = Some(segments);
    }
    problems
}

/// The path segments of the first problem, read again from the plain document.
fn first_segments(doc: &serde_yaml_ng::Value, first: &Problem) -> Option<Vec<String>> {
    match serde_path_to_error::deserialize::<_, Record>(doc.clone()) {
        Err(e) if e.path().to_string() == first.path => problem_at(&e).1,
        _ => None,
    }
}

/// The dotted path of a problem and the segments of what to take out for it: the unknown key
/// itself for an unknown field, else the value at the path (empty: the whole document). `None`
/// when the path is not known.
fn problem_at(
    e: &serde_path_to_error::Error<serde_yaml_ng::Error>,
) -> (String, Option<Vec<String>>) {
    use serde_path_to_error::Segment;
    let mut segments = Vec::new();
    for segment in e.path().iter() {
        match segment {
            Segment::Map { key } => segments.push(key.clone()),
            Segment::Enum { variant } => segments.push(variant.clone()),
            Segment::Seq { index } => segments.push(format!("[{index}]")),
            Segment::Unknown => return (e.path().to_string(), None),
        }
    }
    let message = e.inner().to_string();
    if let Some(key) = backticked(&message, "unknown field `")
        && segments.last().is_none_or(|last| last != key)
    {
        segments.push(key.to_string());
    }
    let path = e.path().to_string();
    (path, Some(segments))
}

/// The name in backticks after `prefix` at the start of `message`.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// The node at `segments` (mapping keys and `[index]`es) in `doc`.
fn node_at<'a>(
    doc: &'a mut serde_yaml_ng::Value,
    segments: &[String],
) -> Option<&'a mut serde_yaml_ng::Value> {
    let mut node = doc;
    for segment in segments {
        node = match (index(segment), node) {
            (Some(i), serde_yaml_ng::Value::Sequence(items)) => items.get_mut(i)?,
            (None, serde_yaml_ng::Value::Mapping(map)) => map.get_mut(segment.as_str())?,
            _ => return None,
        };
    }
    Some(node)
}

/// `3` for the segment `[3]`.
fn index(segment: &str) -> Option<usize> {
    segment.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The value at `segments` in `doc`.
fn value_at<'a>(
    doc: &'a serde_yaml_ng::Value,
    segments: &[String],
) -> Option<&'a serde_yaml_ng::Value> {
    let mut node = doc;
    for segment in segments {
        node = match index(segment) {
            Some(i) => node.get(i)?,
            None => node.get(segment.as_str())?,
        };
    }
    Some(node)
}

/// Takes the value at `segments` out of `doc`; false when there is nothing there.
fn remove_at(doc: &mut serde_yaml_ng::Value, segments: &[String]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    match (index(last), node_at(doc, parents)) {
        (Some(i), Some(serde_yaml_ng::Value::Sequence(items))) if i < items.len() => {
            items.remove(i);
            true
        }
        (None, Some(serde_yaml_ng::Value::Mapping(map))) => map.remove(last.as_str()).is_some(),
        _ => false,
    }
}

/// Puts `value` at `segments` in `doc` (a mapping key, or the whole node); false when the
/// parent is not there.
fn set_at(
    doc: &mut serde_yaml_ng::Value,
    segments: &[String],
    value: serde_yaml_ng::Value,
) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    match (index(last), node_at(doc, parents)) {
        (None, Some(serde_yaml_ng::Value::Mapping(map))) => {
            map.insert(last.as_str().into(), value);
            true
        }
        (Some(i), Some(serde_yaml_ng::Value::Sequence(items))) if i < items.len() => {
            items[i] = value;
            true
        }
        _ => false,
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
    fn every_problem_of_a_document_is_reported_at_once() {
        let text = GOOD.replace(
            "  target:",
            "  idleTimout: 15m\n  replicas: 99\n  wakeTimeout: 1s\n  mode: sometimes\n  target:",
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("f.yaml:6:"), "{errs:?}");
        assert!(errs[0].contains("unknown field `idleTimout`"), "{errs:?}");
        assert!(
            errs[1].contains("spec.mode: unknown variant `sometimes`"),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("spec.replicas: 99 is above the maximum of 10")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("spec.wakeTimeout")),
            "{errs:?}"
        );
        // A required field that is unreadable is reported once, not again as missing.
        let errs = errors(
            &GOOD
                .replace("name: demo", "name: [demo]")
                .replace("  target:", "  replicas: many\n  target:"),
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("metadata.name"), "{errs:?}");
        assert!(errs[1].contains("spec.replicas"), "{errs:?}");
        // A field that really is missing is reported.
        let errs = errors(
            &GOOD
                .replace("kind: Service\n", "")
                .replace("  target:", "  replicas: many\n  target:"),
        );
        assert!(
            errs.iter().any(|e| e.contains("missing field `kind`")),
            "{errs:?}"
        );
        assert!(errs.iter().any(|e| e.contains("spec.replicas")), "{errs:?}");
    }

    #[test]
    fn a_syntax_error_inside_a_document_is_reported_once() {
        for (text, message) in [
            (
                GOOD.replace("  name: demo\n", "  name: demo\n   bad: [\n"),
                "mapping values",
            ),
            (
                GOOD.replace("  name: demo", "\tname: demo"),
                "cannot start any token",
            ),
        ] {
            let errs = errors(&text);
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].contains(message), "{errs:?}");
            assert!(!errs[0].contains('?'), "no unknown path segment: {errs:?}");
        }
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
