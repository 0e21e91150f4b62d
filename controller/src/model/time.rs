//! The two scalar types every record uses: [`Timestamp`] and [`HumanDuration`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, UTC, with millisecond precision.
///
/// **Stored form** (YAML, JSON, DynamoDB `S`, SQLite `TEXT`): RFC 3339 with exactly three
/// fractional digits and a `Z` suffix, e.g. `2026-11-29T10:00:00.000Z`. Because the form has a
/// fixed width, the lexicographic order of stored strings equals the chronological order; the
/// DynamoDB store relies on that for its debounce conditions (`#w < :threshold`).
///
/// Parsing accepts any RFC 3339 timestamp (other offsets, more or fewer fractional digits) and
/// normalises it to UTC milliseconds, so a hand-edited record still loads.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The wall clock now, truncated to milliseconds. Only edges (stores, handlers, the CLI)
    /// call this; `decide` receives `now` as an argument.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Wraps a chrono time, truncating it to milliseconds.
    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        Self::from_millis(t.timestamp_millis())
    }

    /// Milliseconds since the Unix epoch (UTC). Out-of-range values saturate to the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Self(Utc.timestamp_millis_opt(ms).single().unwrap_or_default())
    }

    /// Milliseconds since the Unix epoch (UTC).
    pub fn as_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The chrono value.
    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// This time plus `d` (saturating at chrono's range). A method rather than `impl Add`:
    /// it saturates instead of panicking, which `+` would hide.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, d: Duration) -> Self {
        Self::from_millis(self.as_millis().saturating_add(d.as_millis() as i64))
    }

    /// This time minus `d` (saturating, as [`Timestamp::add`]).
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, d: Duration) -> Self {
        Self::from_millis(self.as_millis().saturating_sub(d.as_millis() as i64))
    }

    /// How long after `earlier` this time is; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.as_millis().saturating_sub(earlier.as_millis()).max(0) as u64)
    }

    /// The stored form, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl FromStr for Timestamp {
    type Err = chrono::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_datetime(
            DateTime::parse_from_rfc3339(s.trim())?.with_timezone(&Utc),
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e| {
            serde::de::Error::custom(format!(
                "{s:?} is not an RFC 3339 timestamp ({e}); try 2026-11-29T10:00:00.000Z"
            ))
        })
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC timestamp with milliseconds, e.g. 2026-11-29T10:00:00.000Z"
        })
    }
}

/// A duration written the way people write it: `90s`, `15m`, `1h 30m`, `500ms`.
///
/// Parsed and printed with [`humantime`]; serialised as that string. A value that does not
/// parse is reported as `"15 mins" is not a duration; try 15m`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// From whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
    /// From whole minutes.
    pub const fn from_mins(m: u64) -> Self {
        Self(Duration::from_secs(m * 60))
    }
    /// The std value.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim())
            .map(Self)
            .map_err(|_| format!("{s:?} is not a duration; try 15m, 90s or 1h"))
    }
}

/// Whole days first (`100d`, `1d 2h`), then humantime's form for the rest (`15m`, `1h 30m`,
/// `1500ms` as `1s 500ms`): humantime alone prints months and years of 30.44 and 365.25 days
/// (`3months 8days 16h 19m 12s` for `100d`), which reads oddly next to what the user wrote.
impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAY: u64 = 86_400;
        let days = self.0.as_secs() / DAY;
        let rest = self.0 - Duration::from_secs(days * DAY);
        match (days, rest.is_zero()) {
            (0, _) => write!(f, "{}", humantime::format_duration(rest)),
            (_, true) => write!(f, "{days}d"),
            (_, false) => write!(f, "{days}d {}", humantime::format_duration(rest)),
        }
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HumanDuration({self})")
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as 90s, 15m, 1h 30m (humantime syntax)",
            "examples": ["90s", "15m", "1h"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_one_fixed_width_form() {
        let t: Timestamp = "2026-11-29T11:00:00+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-29T10:00:00.000Z");
        let later: Timestamp = "2026-11-29T10:00:00.5Z".parse().unwrap();
        assert_eq!(later.to_string(), "2026-11-29T10:00:00.500Z");
        assert!(t.to_string() < later.to_string());
        assert_eq!(later.since(t), Duration::from_millis(500));
        assert_eq!(t.since(later), Duration::ZERO);
    }

    #[test]
    fn durations_round_trip_in_human_form() {
        let d: HumanDuration = "15m".parse().unwrap();
        assert_eq!(d.get(), Duration::from_secs(900));
        assert_eq!(d.to_string(), "15m");
        assert_eq!(
            "1h 30m".parse::<HumanDuration>().unwrap().to_string(),
            "1h 30m"
        );
        for (written, shown) in [
            ("100d", "100d"),
            ("24h", "1d"),
            ("26h", "1d 2h"),
            ("90s", "1m 30s"),
        ] {
            let d: HumanDuration = written.parse().unwrap();
            assert_eq!(d.to_string(), shown, "{written}");
            assert_eq!(
                shown.parse::<HumanDuration>().unwrap(),
                d,
                "{shown} parses back"
            );
        }
        let err = "fifteen".parse::<HumanDuration>().unwrap_err();
        assert!(
            err.contains("\"fifteen\" is not a duration; try 15m"),
            "{err}"
        );
    }
}
