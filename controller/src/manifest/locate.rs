//! Finds the line and column of a field path (`spec.endpoint.port`) in a YAML document, so that
//! validation errors, which know only the path, can be printed as `file:line:col: path: message`.
//!
//! It uses the YAML parser itself: the document is deserialised with a seed that walks down the
//! path and fails on purpose at the target value; serde_yaml_ng attaches the position of the
//! value it was reading to that error. When the last segments do not exist (a missing field),
//! the position of the deepest existing ancestor is returned.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path: a map key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Splits `a.b[2].c` into segments. Keys containing dots cannot be told apart from nesting; such
/// a path simply resolves to an ancestor.
fn segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while let Some(end) = rest.find(']') {
            // `get`, not slicing: a key may hold `]` right after another one, or a multi-byte
            // character before it (issue 13: `labels.{{}}[[]]` panicked here).
            if let Some(n) = rest.get(1..end).and_then(|i| i.parse().ok()) {
                out.push(Seg::Index(n));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// 1-based `(line, column)` of the value at `path` in the `document`-th (1-based) YAML document of
/// `text`, or of its deepest existing ancestor; `None` when the document cannot be read.
pub fn find(text: &str, document: usize, path: &str) -> Option<(usize, usize)> {
    let doc = serde_yaml_ng::Deserializer::from_str(text).nth(document.checked_sub(1)?)?;
    let segs = segments(path);
    match (Walk { path: &segs }).deserialize(doc) {
        Ok(()) => None,
        Err(e) => e.location().map(|l| (l.line(), l.column())),
    }
}

/// Walks down `path`; fails (on purpose) at the target value or where the path stops existing.
struct Walk<'p> {
    path: &'p [Seg],
}

const HERE: &str = "located";

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(HERE));
        };
        while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
            let matches = match &key {
                serde_yaml_ng::Value::String(s) => s == want,
                other => serde_yaml_ng::to_string(other).is_ok_and(|s| s.trim() == want),
            };
            if matches {
                return map.next_value_seed(Walk { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom(HERE))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(HERE));
        };
        let mut i = 0;
        loop {
            if i == *want {
                return match seq.next_element_seed(Walk { path: rest })? {
                    Some(()) => Ok(()),
                    None => Err(de::Error::custom(HERE)),
                };
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom(HERE));
            }
            i += 1;
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(HERE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 (found by `controller/tests/fuzz_input.rs`): label keys with brackets, a `]`
    /// right after another, or a multi-byte character before one panicked in `segments`.
    #[test]
    fn odd_bracketed_keys_do_not_panic() {
        for path in [
            "metadata.labels.{{}}[[]]",
            "a.]é]",
            "a[]]",
            "x[é]",
            "[",
            "]",
            "a[1]é]",
        ] {
            let _ = segments(path);
            let _ = find(DOC, 1, path);
        }
        assert!(matches!(segments("a[1]")[..], [Seg::Key(_), Seg::Index(1)]));
    }

    const DOC: &str = "\
apiVersion: snooze/v1
kind: Service
metadata:
  name: Bad
spec:
  replicas: 99
  endpoint:
    port: 0
  wake:
    ignoreUserAgents: [a, b]
---
apiVersion: snooze/v1
metadata: {name: second}
";

    #[test]
    fn finds_values_by_path() {
        assert_eq!(find(DOC, 1, "metadata.name"), Some((4, 9)));
        assert_eq!(find(DOC, 1, "spec.replicas"), Some((6, 13)));
        assert_eq!(find(DOC, 1, "spec.endpoint.port"), Some((8, 11)));
        assert_eq!(
            find(DOC, 1, "spec.wake.ignoreUserAgents[1]"),
            Some((10, 27))
        );
        assert_eq!(find(DOC, 2, "metadata.name"), Some((13, 18)));
    }

    #[test]
    fn missing_fields_resolve_to_the_nearest_ancestor() {
        // `spec.wake.tokenSha256` is absent: point at the `wake` mapping.
        let (line, _) = find(DOC, 1, "spec.wake.tokenSha256").unwrap();
        assert_eq!(line, 10);
        assert_eq!(find(DOC, 3, "metadata.name"), None);
    }

    #[test]
    fn paths_split_into_keys_and_indices() {
        assert_eq!(
            segments("a.b[2].c"),
            [
                Seg::Key("a".into()),
                Seg::Key("b".into()),
                Seg::Index(2),
                Seg::Key("c".into())
            ]
        );
    }
}
