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
/// with no record at all is an error. `source` names the file in messages. A leading UTF-8 byte
/// order mark is ignored.
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<Record>, Vec<ManifestError>> {
    // A UTF-8 byte order mark (Windows editors, PowerShell's Out-File) is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut errors: Vec<ManifestError> = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        // The record types accept fields they do not know (a stored record written by a newer
        // snooze must still be read); a manifest may not have any: each one serde_ignored
        // reports is an error, at its key.
        let mut unknown: Vec<Vec<String>> = Vec::new();
        let read = {
            let mut found = |path: serde_ignored::Path| unknown.push(segments_of(&path));
            serde_path_to_error::deserialize::<_, Option<Record>>(serde_ignored::Deserializer::new(
                doc, &mut found,
            ))
        };
        unknown.retain(|path| strict(path));
        let unknown_error = |path: &[String]| ManifestError {
            source: source.to_string(),
            document,
            location: key_location(text, i, path),
            path: dotted(path),
            message: unknown_field_message(path),
        };
        match read {
            Ok(None) => {}
            Ok(Some(record)) => {
                errors.extend(unknown.iter().map(|path| unknown_error(path)));
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
                let (more, more_unknown) = value
                    .map(|v| further_problems(v, &first))
                    .unwrap_or_default();
                // Unknown fields before the first problem, in document order, then it.
                errors.extend(unknown.iter().map(|path| unknown_error(path)));
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
                // Unknown fields the first reading did not reach, in document order.
                let mut later: Vec<ManifestError> = more_unknown
                    .iter()
                    .filter(|path| !unknown.contains(path))
                    .map(|path| unknown_error(path))
                    .collect();
                later.sort_by_key(|e| e.location);
                errors.extend(later);
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
///
/// Also returns the unknown fields (path segments) met on the way, which the first reading may
/// not have reached.
fn further_problems(
    mut doc: serde_yaml_ng::Value,
    first: &Problem,
) -> (Vec<Problem>, Vec<Vec<String>>) {
    let placeholders: Vec<serde_yaml_ng::Value> = PLACEHOLDERS
        .iter()
        .filter_map(|p| serde_yaml_ng::from_str(p).ok())
        .collect();
    let mut problems: Vec<Problem> = Vec::new();
    let mut unknown: Vec<Vec<String>> = Vec::new();
    let mut removed: Vec<Vec<String>> = Vec::new();
    let mut replaced: Vec<Vec<String>> = Vec::new();
    let mut take_out = first_segments(&doc, first);
    if take_out.is_none() {
        return (problems, unknown);
    }
    for _ in 0..MAX_FURTHER_PROBLEMS {
        if let Some(at) = take_out.take() {
            if !remove_at(&mut doc, &at) {
                break;
            }
            removed.push(at);
        }
        let read = {
            let mut found = |path: serde_ignored::Path| {
                let path = segments_of(&path);
                if strict(&path) && !unknown.contains(&path) {
                    unknown.push(path);
                }
            };
            serde_path_to_error::deserialize::<_, Record>(serde_ignored::Deserializer::new(
                doc.clone(),
                &mut found,
            ))
        };
        let e = match read {
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
    (problems, unknown)
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
///
/// Fields this version does not know (outside `status`) are not errors: a newer snooze wrote
/// them. They are listed in [`Record::unknown_fields`] and the record is read without them.
pub fn parse_record_value(value: serde_json::Value) -> Result<Record, String> {
    match read_stored::<_, Record>(value) {
        Ok((mut record, unknown)) => {
            record.unknown_fields = unknown
                .iter()
                .filter(|p| strict(p))
                .map(|p| dotted(p))
                .collect();
            // Sorted, so the condition listing them does not change from one read to the next.
            record.unknown_fields.sort();
            Ok(record)
        }
        Err(e) => {
            let path = e.path().to_string();
            Err(if path.is_empty() || path == "." {
                e.into_inner().to_string()
            } else {
                format!("{path}: {}", e.into_inner())
            })
        }
    }
}

/// The segments of a field's path: mapping keys and `[index]`es, e.g. `["spec", "routing"]`.
pub type FieldPath = Vec<String>;

/// Reads a stored value of type `T` from any deserializer, the way every store reads its items:
/// unknown fields are skipped and returned (as path segments, e.g. `["spec", "routing"]`, in
/// the order met), any other problem is an error with its path. The caller picks which unknown
/// fields to report (a store's own bookkeeping attributes are not the record's fields).
pub fn read_stored<'de, D, T>(
    deserializer: D,
) -> Result<(T, Vec<FieldPath>), serde_path_to_error::Error<D::Error>>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut unknown = Vec::new();
    let mut found = |path: serde_ignored::Path| unknown.push(segments_of(&path));
    let value = serde_path_to_error::deserialize::<_, T>(serde_ignored::Deserializer::new(
        deserializer,
        &mut found,
    ))?;
    Ok((value, unknown))
}

/// The segments of a path serde_ignored reports: mapping keys and `[index]`es (the `Option`
/// and newtype steps it also names are not in the document).
fn segments_of(path: &serde_ignored::Path) -> Vec<String> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut s = segments_of(parent);
            s.push(format!("[{index}]"));
            s
        }
        Path::Map { parent, key } => {
            let mut s = segments_of(parent);
            s.push(key.clone());
            s
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments_of(parent),
    }
}

/// True for an unknown field that is an error in a manifest and reported in a stored record:
/// any outside `status`, which is the reconciler's own (rewritten by every pass, so a newer
/// version's status fields are neither kept nor worth a condition).
fn strict(path: &[String]) -> bool {
    path.first().is_some_and(|first| first != "status")
}

/// `spec.wake.ignoreUserAgents[0]` for its segments (as serde_path_to_error writes paths).
pub(crate) fn dotted(segments: &[String]) -> String {
    let mut out = String::new();
    for segment in segments {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

/// serde's own words for an unknown field (`unknown field `idleTimout`, expected one of
/// `endpoint`, ...`), with the fields known at its place taken from the record's JSON Schema.
fn unknown_field_message(path: &[String]) -> String {
    let Some((key, parent)) = path.split_last() else {
        return "unknown field".into();
    };
    let schema = super::json_schema();
    let mut nodes = vec![&schema];
    for segment in parent {
        nodes = nodes
            .into_iter()
            .flat_map(|n| schema_variants(&schema, n))
            .filter_map(|n| match index(segment) {
                Some(_) => n.get("items"),
                None => n.get("properties")?.get(segment.as_str()),
            })
            .collect();
    }
    let mut known: Vec<&str> = nodes
        .into_iter()
        .flat_map(|n| schema_variants(&schema, n))
        .filter_map(|n| n.get("properties")?.as_object())
        .flat_map(|props| props.keys().map(String::as_str))
        .collect();
    known.sort_unstable();
    known.dedup();
    let quoted: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    match quoted.as_slice() {
        [] => format!("unknown field `{key}`, there are no fields"),
        [one] => format!("unknown field `{key}`, expected {one}"),
        [a, b] => format!("unknown field `{key}`, expected {a} or {b}"),
        more => format!("unknown field `{key}`, expected one of {}", more.join(", ")),
    }
}

/// A schema node and, recursively, what it refers to (`$ref` into `$defs`) or is made of
/// (`oneOf`, `anyOf`, `allOf`).
fn schema_variants<'a>(
    root: &'a serde_json::Value,
    node: &'a serde_json::Value,
) -> Vec<&'a serde_json::Value> {
    let mut out = vec![node];
    if let Some(name) = node
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix("#/$defs/"))
        && let Some(def) = root.get("$defs").and_then(|d| d.get(name))
    {
        out.extend(schema_variants(root, def));
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        for member in node
            .get(combinator)
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
        {
            out.extend(schema_variants(root, member));
        }
    }
    out
}

/// The line and column of the key at `segments` in document `index` of `text`, where serde
/// would have placed an unknown-field error: serde_yaml_ng locates an error raised while a key
/// is read at that key ([`KeyAt`] raises one there).
fn key_location(text: &str, index: usize, segments: &[String]) -> Option<(usize, usize)> {
    use serde::de::DeserializeSeed as _;
    let doc = serde_yaml_ng::Deserializer::from_str(text).nth(index)?;
    match KeyAt(segments).deserialize(doc) {
        Err(e) => e.location().map(|l| (l.line(), l.column())),
        Ok(()) => None,
    }
}

/// Reads a YAML document down `self.0` and fails on reading its last key.
struct KeyAt<'a>(&'a [String]);

impl<'de> serde::de::DeserializeSeed<'de> for KeyAt<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyAt<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::IgnoredAny;
        let split = self.0.split_first();
        loop {
            let key = match split {
                Some((first, rest)) => map.next_key_seed(Key {
                    name: first,
                    last: rest.is_empty(),
                })?,
                None => map.next_key::<IgnoredAny>()?.map(|_| false),
            };
            match (key, split) {
                (None, _) => return Ok(()),
                (Some(true), Some((_, rest))) => map.next_value_seed(KeyAt(rest))?,
                (Some(_), _) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let split = self.0.split_first();
        let target = split.and_then(|(first, _)| index(first));
        let mut i = 0;
        loop {
            let more = match (target, split) {
                (Some(t), Some((_, rest))) if t == i => seq.next_element_seed(KeyAt(rest))?,
                _ => seq.next_element::<serde::de::IgnoredAny>()?.map(|_| ()),
            };
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }
}

/// A mapping key: `Ok(true)` when it is `name` (an error instead when it is the `last` one
/// looked for), `Ok(false)` for any other.
struct Key<'a> {
    name: &'a str,
    last: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.name, self.last) {
            (true, true) => Err(E::custom("the key looked for")),
            (found, _) => Ok(found),
        }
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_byte_order_mark_is_not_content() {
        let text = "\u{feff}apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: demo\n\
                    spec:\n  target:\n    ecs: {cluster: c, service: s}\n";
        let records = parse_manifests(text, "bom.yaml").expect("parses");
        assert_eq!(records[0].metadata.name, "demo");
    }

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
    fn guardrails_parse_in_their_forms_and_bad_ones_name_the_file_and_path() {
        for (given, want) in [
            ("25", 25.0),
            ("12.50", 12.5),
            ("\"$12.50\"", 12.5),
            ("0", 0.0),
        ] {
            let text = format!("{GOOD}  budget: {given}\n  maxAwake: 8h\n");
            let r = parse_manifests(&text, "f.yaml").unwrap_or_else(|e| panic!("{given}: {e:?}"));
            assert_eq!(r[0].spec.budget, Some(want), "{given}");
            assert_eq!(
                r[0].spec.max_awake.map(|d| d.get()),
                Some(std::time::Duration::from_secs(8 * 3600))
            );
        }
        // null (in each of its YAML spellings) is no budget, as an absent field is.
        for given in ["null", "~", ""] {
            let text = format!("{GOOD}  budget: {given}\n");
            let r = parse_manifests(&text, "f.yaml").unwrap_or_else(|e| panic!("{given}: {e:?}"));
            assert_eq!(r[0].spec.budget, None, "{given:?}");
        }
        for (extra, want) in [
            (
                "  budget: -0.01\n",
                "spec.budget: -0.01 is negative; give the monthly budget in dollars, \
                 0 or more",
            ),
            (
                "  budget: twelve\n",
                "spec.budget: \"twelve\" is not an amount of dollars; give a number \
                 such as 25 or 12.50",
            ),
            (
                "  budget: [1]\n",
                "spec.budget: the value is not an amount of dollars; give a number \
                 such as 25 or 12.50",
            ),
            (
                "  maxAwake: 59s\n",
                "spec.maxAwake: 59s is below the minimum of 1m",
            ),
            (
                "  maxAwake: 745h\n",
                "spec.maxAwake: 31d 1h is above the maximum of 31d",
            ),
            (
                "  maxAwake: forever\n",
                "spec.maxAwake: \"forever\" is not a duration",
            ),
        ] {
            let errs = errors(&format!("{GOOD}{extra}"));
            assert_eq!(errs.len(), 1, "{extra}: {errs:?}");
            // The file here; `snoozectl apply` adds the line of the path (tests/cli.rs).
            assert!(errs[0].starts_with("f.yaml"), "{extra}: {errs:?}");
            assert!(errs[0].contains(want), "{extra}: {errs:?}");
        }
    }

    #[test]
    fn unknown_fields_are_errors_at_their_key_wherever_they_are() {
        // Nested, inside an externally tagged enum, and one after a problem that stops reading.
        let text = GOOD
            .replace(
                "    ecs: {cluster: c, service: s}
",
                "    ecs: {cluster: c, service: s, capacity: 2}
",
            )
            .replace(
                "  target:",
                "  wake:
    enabled: true
    pinned: yes
  replicas: many
  lifecycle: {host: a}
  target:",
            );
        let errs = errors(&text);
        assert_eq!(
            errs,
            [
                "f.yaml:8:5: spec.wake.pinned: unknown field `pinned`, expected one of \
                 `access`, `enabled`, `ignoreUserAgents`, `preservePath`, `tokenSha256`",
                "f.yaml:9:13: spec.replicas: invalid type: string \"many\", expected i64",
                "f.yaml:10:3: spec.lifecycle: unknown field `lifecycle`, expected one of \
                 `budget`, `dependsOn`, `endpoint`, `groups`, `idleTimeout`, `maxAwake`, \
                 `maxReplicas`, `mode`, `optional`, `page`, `readiness`, `replicas`, `routing`, \
                 `schedule`, `target`, \
                 `wake`, `wakeTimeout`",
                "f.yaml:12:35: spec.target.ecs.capacity: unknown field `capacity`, expected \
                 `cluster` or `service`",
            ],
            "{errs:#?}"
        );
        // The reconciler's own section is not checked (as before).
        assert!(
            parse_manifests(
                &format!("{GOOD}status: {{phase: Asleep, later: 1}}\n"),
                "f.yaml"
            )
            .is_ok()
        );
    }

    #[test]
    fn a_stored_record_with_unknown_fields_is_read_and_they_are_listed() {
        let stored = serde_json::json!({
            "apiVersion": "snooze/v1",
            "kind": "Service",
            "metadata": {"name": "demo", "generation": 2, "group": "web"},
            "spec": {
                "target": {"ecs": {"cluster": "c", "service": "s"}},
                "replicas": 2,
                "lifecycle": {"host": "demo.example.com"},
                "wake": {"enabled": false, "schedule": {"timezone": "UTC"}},
            },
            "status": {"phase": "Asleep", "newerStatusField": 1},
        });
        let r = parse_record_value(stored).unwrap();
        assert_eq!(r.spec.replicas, 2);
        assert!(!r.spec.wake.enabled, "what it knows is read");
        assert_eq!(
            r.unknown_fields,
            ["metadata.group", "spec.lifecycle", "spec.wake.schedule"],
            "status is the reconciler's own and not listed"
        );
        // A known field of the wrong type is still an error.
        let bad = serde_json::json!({"apiVersion": "snooze/v1", "kind": "Service",
            "metadata": {"name": "demo"}, "spec": {"target": {"ecs": {"cluster": "c", "service": "s"}},
            "replicas": "many", "lifecycle": {}}});
        assert!(
            parse_record_value(bad)
                .unwrap_err()
                .starts_with("spec.replicas: ")
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
