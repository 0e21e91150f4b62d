//! Output helpers shared by the verbs: relative times for people, aligned tables, and the
//! YAML/JSON views of stored entries.
//!
//! Times: people see relative times (`3m ago`, `in 12m`, ages like kubectl's `5m`, `3h`,
//! `2d`); machines (`-o yaml|json`) see the stored RFC 3339 form.

use std::time::Duration;

use serde::Serialize;

use crate::model::{API_VERSION, Entry, KIND, Malformed, Phase, Record, Status, Target, Timestamp};

/// A short, kubectl-style rendering of a duration: `45s`, `3m20s`, `12m`, `5h3m`, `20h`,
/// `3d4h`, `12d`, `2y`.
pub fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (m, h, days) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if days < 8 {
        match h % 24 {
            0 => format!("{days}d"),
            hh => format!("{days}d{hh}h"),
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else {
        format!("{}y", days / 365)
    }
}

/// `t` relative to `now` for people: `3m ago`, `in 12m`, or `now` (within a second).
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    if t <= now {
        let d = now.since(t);
        if d < Duration::from_secs(1) {
            "now".into()
        } else {
            format!("{} ago", short_duration(d))
        }
    } else {
        let d = t.since(now);
        if d < Duration::from_secs(1) {
            "now".into()
        } else {
            format!("in {}", short_duration(d))
        }
    }
}

/// `2026-11-29T10:00:00.000Z (3m ago)`, or `<none>`.
pub fn when(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => format!("{t} ({})", relative(t, now)),
        None => "<none>".into(),
    }
}

/// Renders rows as left-aligned columns separated by three spaces (kubectl style); the last
/// column is not padded. Every row must have as many cells as `header`.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A one-line description of a target: `ecs demo-cluster/demo-svc` or `local app :8081`.
pub fn target_summary(t: &Target) -> String {
    match t {
        Target::Ecs(e) => format!("ecs {}/{}", e.cluster, e.service),
        Target::Local(l) => format!("local {} :{}", l.command, l.port),
    }
}

/// What a listing shows for one entry, whatever its state.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The record's name.
    pub name: String,
    /// The phase: the published one, `Invalid` for a record that fails validation or does not
    /// parse, `-` before the first reconcile.
    pub phase: String,
    /// A one-line message: validation or parse errors first, else `status.message`.
    pub message: String,
}

/// Summarises an entry: a malformed item or a record failing [`crate::model::validate`] is
/// `Invalid` with the reason as message.
pub fn summarise(entry: &Entry) -> Summary {
    match entry {
        Entry::Malformed(m) => Summary {
            name: m.name.clone(),
            phase: Phase::Invalid.to_string(),
            message: m.error.clone(),
        },
        Entry::Record(r) => {
            let errors = crate::model::validate(r);
            let status = r.status.as_ref();
            if !errors.is_empty() {
                let msg: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                return Summary {
                    name: r.metadata.name.clone(),
                    phase: Phase::Invalid.to_string(),
                    message: msg.join("; "),
                };
            }
            Summary {
                name: r.metadata.name.clone(),
                phase: status.map_or_else(|| "-".to_string(), |s| s.phase.to_string()),
                message: status.map(|s| s.message.clone()).unwrap_or_default(),
            }
        }
    }
}

/// The `-o yaml|json` view of a malformed item: the record's shape (so `.metadata.name` and
/// `.status.phase` work for every item), with the raw stored item and the parse error under
/// `malformed`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MalformedView<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: MalformedMeta<'a>,
    malformed: MalformedDetail<'a>,
    status: Status,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MalformedMeta<'a> {
    name: &'a str,
    resource_version: u64,
}

#[derive(Serialize)]
struct MalformedDetail<'a> {
    /// Why the item does not parse, with the field path.
    error: &'a str,
    /// The item as stored, converted to plain JSON.
    raw: &'a serde_json::Value,
}

fn malformed_view(m: &Malformed) -> MalformedView<'_> {
    let mut status = m.status.clone().unwrap_or_default();
    status.phase = Phase::Invalid;
    status.message = m.error.clone();
    MalformedView {
        api_version: API_VERSION,
        kind: KIND,
        metadata: MalformedMeta {
            name: &m.name,
            resource_version: m.resource_version,
        },
        malformed: MalformedDetail {
            error: &m.error,
            raw: &m.raw,
        },
        status,
    }
}

/// Either a full record or a malformed item's view, serialised as-is (timestamps RFC 3339).
#[derive(Serialize)]
#[serde(untagged)]
enum EntryView<'a> {
    Record(&'a Record),
    Malformed(Box<MalformedView<'a>>),
}

fn view(entry: &Entry) -> EntryView<'_> {
    match entry {
        Entry::Record(r) => EntryView::Record(r),
        Entry::Malformed(m) => EntryView::Malformed(Box::new(malformed_view(m))),
    }
}

/// One entry as a YAML document (no leading `---`), ending in a newline.
pub fn entry_yaml(entry: &Entry) -> anyhow::Result<String> {
    Ok(serde_yaml_ng::to_string(&view(entry))?)
}

/// Several entries as a YAML stream: documents separated by `---` lines.
pub fn entries_yaml(entries: &[Entry]) -> anyhow::Result<String> {
    let docs: Vec<String> = entries
        .iter()
        .map(entry_yaml)
        .collect::<anyhow::Result<_>>()?;
    Ok(docs.join("---\n"))
}

/// One entry as pretty JSON (an object).
pub fn entry_json(entry: &Entry) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&view(entry))?)
}

/// Several entries as a pretty JSON array.
pub fn entries_json(entries: &[Entry]) -> anyhow::Result<String> {
    let views: Vec<EntryView<'_>> = entries.iter().map(view).collect();
    Ok(serde_json::to_string_pretty(&views)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_read_like_kubectl() {
        let s = |n: u64| short_duration(Duration::from_secs(n));
        assert_eq!(s(0), "0s");
        assert_eq!(s(119), "119s");
        assert_eq!(s(200), "3m20s");
        assert_eq!(s(180), "3m");
        assert_eq!(s(12 * 60 + 5), "12m");
        assert_eq!(s(5 * 3600 + 3 * 60), "5h3m");
        assert_eq!(s(20 * 3600), "20h");
        assert_eq!(s(3 * 86_400 + 4 * 3600), "3d4h");
        assert_eq!(s(12 * 86_400), "12d");
        assert_eq!(s(800 * 86_400), "2y");
    }

    #[test]
    fn relative_times_say_ago_or_in() {
        let now = Timestamp::from_millis(1_000_000_000);
        assert_eq!(relative(now.sub(Duration::from_secs(180)), now), "3m ago");
        assert_eq!(relative(now.add(Duration::from_secs(720)), now), "in 12m");
        assert_eq!(relative(now, now), "now");
        assert_eq!(when(None, now), "<none>");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["NAME", "PHASE"],
            &[
                vec!["demo".into(), "Ready".into()],
                vec!["a-longer-name".into(), "-".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME            PHASE\ndemo            Ready\na-longer-name   -\n"
        );
    }

    #[test]
    fn malformed_entries_keep_raw_item_and_error() {
        let entry = Entry::Malformed(Malformed {
            name: "broken".into(),
            raw: serde_json::json!({"name": "broken", "spec": "{not json"}),
            error: "spec: stored column is not JSON".into(),
            status: None,
            resource_version: 3,
            status_version: 0,
        });
        let v: serde_json::Value = serde_json::from_str(&entry_json(&entry).unwrap()).unwrap();
        assert_eq!(v["metadata"]["name"], "broken");
        assert_eq!(v["status"]["phase"], "Invalid");
        assert_eq!(v["malformed"]["error"], "spec: stored column is not JSON");
        assert_eq!(v["malformed"]["raw"]["spec"], "{not json");
        assert_eq!(summarise(&entry).phase, "Invalid");
    }
}
