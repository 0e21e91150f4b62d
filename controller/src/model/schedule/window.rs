//! What a schedule is written in: days ([`Days`]), times of day ([`ClockTime`]), windows
//! ([`Window`]), dates ([`LocalDate`]), and the small grammar that reads them.
//!
//! ```text
//! window   = days SP time "-" time           e.g. Mon-Fri 08:00-18:00
//! one-line = window SP zone *("," [SP] window SP zone)
//! days     = item *("," item)                e.g. Mon-Wed,Fri (no spaces inside)
//! item     = day ["-" day]
//! day      = Mon | Tue | Wed | Thu | Fri | Sat | Sun   (any case)
//! time     = 2DIGIT ":" 2DIGIT
//! zone     = 1*(ALPHA / DIGIT / "/" / "_" / "-" / "+")
//! SP       = 1*(" " / TAB)
//! ```
//!
//! Reading checks the shape only. Ranges (`25:00`, `Fri-Mon`, an empty window) are checked by
//! [`super::Schedule::validate`], so that every such problem of a record is reported at once,
//! each at its own path.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use jiff::civil::Date;
use schemars::{JsonSchema, Schema, json_schema};
use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The day names as written and shown, Monday first (index 0) to Sunday (6).
pub(crate) const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Minutes in a day.
pub(crate) const DAY_MINUTES: u16 = 24 * 60;

/// The days of the week a window starts on, as written: ranges and single days separated by
/// commas, e.g. `Mon-Fri`, `Sat`, `Mon,Wed,Fri`, `Mon-Wed,Fri`. Names are `Mon` … `Sun` (read
/// in any case, shown as here).
///
/// Reading accepts any order; [`super::Schedule::validate`] rejects a range that runs
/// backwards (`Fri-Mon`: ranges do not wrap past Sunday) and a day listed twice. Serialised as
/// the string, e.g. `"Mon-Fri"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Days {
    /// `(first, last)` day indexes (0 = Monday) of each item, in written order; a single day
    /// has `first == last`.
    items: Vec<(u8, u8)>,
}

impl Days {
    /// Whether a window with these days starts on the day `index` (0 = Monday … 6 = Sunday).
    /// A backwards range (`Fri-Mon`, rejected by validation) contains no day.
    pub fn contains(&self, index: u8) -> bool {
        self.items.iter().any(|&(a, b)| a <= index && index <= b)
    }

    /// The items as written: `(first, last)` day indexes, 0 = Monday.
    pub(crate) fn items(&self) -> &[(u8, u8)] {
        &self.items
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(day_name(a))?;
            if a != b {
                write!(f, "-{}", day_name(b))?;
            }
        }
        Ok(())
    }
}

impl FromStr for Days {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = Cursor::new(s.trim());
        match c.days() {
            Ok(days) if c.is_empty() => Ok(days),
            Ok(_) | Err(Problem::Shape) => Err(format!(
                "{s:?}: expected days such as Mon-Fri, Sat or Mon,Wed,Fri"
            )),
            Err(Problem::Day(word)) => Err(format!("{s:?}: {}", not_a_day(&word))),
        }
    }
}

/// The name of day `index` (0 = Monday); `?` outside 0..=6.
pub(crate) fn day_name(index: u8) -> &'static str {
    DAY_NAMES.get(usize::from(index)).copied().unwrap_or("?")
}

/// A time of day `HH:MM` in the schedule's zone, as written (two digits each).
///
/// Reading checks the shape only; [`super::Schedule::validate`] checks the range: `00:00` to
/// `23:59`, and `24:00` as a window's end only (the end of its day). Serialised as the string,
/// e.g. `"08:00"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClockTime {
    /// Hour as written, 0–99 (valid: 0–23, or 24 with minute 0 as an end).
    pub hour: u8,
    /// Minute as written, 0–99 (valid: 0–59).
    pub minute: u8,
}

impl ClockTime {
    /// A time of day (not checked; see [`ClockTime`]).
    pub const fn new(hour: u8, minute: u8) -> Self {
        Self { hour, minute }
    }

    /// Minutes since midnight: 0 for `00:00`, 1440 for `24:00`.
    pub fn minutes(self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }

    /// Whether this is a time of day: `00:00`–`23:59`, or `24:00` when `as_end`.
    pub fn is_valid(self, as_end: bool) -> bool {
        (self.hour < 24 && self.minute < 60) || (as_end && self.hour == 24 && self.minute == 0)
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = Cursor::new(s.trim());
        match c.time() {
            Some(t) if c.is_empty() => Ok(t),
            _ => Err(format!(
                "{s:?}: expected a time of day HH:MM, e.g. \"08:00\""
            )),
        }
    }
}

/// A weekly window: it starts on each of `days` at `start` and ends at `end`, both in the
/// schedule's zone. An `end` at or before `start` is on the next day: the window crosses
/// midnight and belongs to the day it starts (`Fri 22:00-06:00` runs into Saturday morning).
/// `24:00` as an end is the end of the start day.
///
/// Written either compactly, `"Mon-Fri 08:00-18:00"` (`DAYS HH:MM-HH:MM`), or structured,
/// `{days: Sat, start: "10:00", end: "12:00"}`; serialised compactly. A malformed string is an
/// error that names it and the expected form: `"Mon-Fri 8-18": expected DAYS HH:MM-HH:MM, e.g.
/// "Mon-Fri 08:00-18:00"`.
///
/// Daylight-saving time: a boundary at a local time that does not exist that day (inside the
/// hour skipped in spring) is at the first time that exists after it (the moment the clocks
/// change); a boundary at a local time that happens twice (in autumn) is at its first
/// occurrence. So a window `22:00-06:00` is 8 h long on an ordinary night and 7 h or 9 h on the
/// nights the clocks change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
// `remote = "Self"`: the derived reading of the structured form becomes the inherent
// `Window::deserialize`, which the `Deserialize` impl below calls for a mapping.
#[serde(remote = "Self", rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = window_schema)]
pub struct Window {
    /// The days it starts on, e.g. `Mon-Fri` ([`Days`]).
    pub days: Days,
    /// When it starts, `HH:MM` ([`ClockTime`]).
    pub start: ClockTime,
    /// When it ends, `HH:MM` or `24:00`; at or before `start` means the next day.
    pub end: ClockTime,
}

impl Window {
    /// Whether it ends on the day after the one it starts on (`end` at or before `start`).
    pub fn crosses_midnight(&self) -> bool {
        self.end.minutes() <= self.start.minutes()
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{}", self.days, self.start, self.end)
    }
}

/// What a window string is expected to look like, for messages.
const WINDOW_FORM: &str = "expected DAYS HH:MM-HH:MM, e.g. \"Mon-Fri 08:00-18:00\"";

impl FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = Cursor::new(s.trim());
        match c.window() {
            Ok(w) if c.is_empty() => Ok(w),
            Ok(_) if c.zone_follows() => Err(format!(
                "{s:?}: a window in a list names no zone (timeZone applies to all of them); \
                 {WINDOW_FORM}"
            )),
            Ok(_) | Err(Problem::Shape) => Err(format!("{s:?}: {WINDOW_FORM}")),
            Err(Problem::Day(word)) => Err(format!("{s:?}: {}; {WINDOW_FORM}", not_a_day(&word))),
        }
    }
}

/// What the one-line form of a whole schedule is expected to look like, for messages.
pub(crate) const ONE_LINE_FORM: &str = "expected DAYS HH:MM-HH:MM ZONE, several separated by \
     commas, e.g. \"Mon-Fri 08:00-18:00 Europe/Berlin, Sat 10:00-12:00 Europe/Berlin\"";

/// Reads the one-line form of a schedule (kube-downscaler's): awake windows, each followed by
/// its zone, separated by commas. Returns the zone (the same for all) and the windows.
pub(crate) fn parse_one_line(s: &str) -> Result<(String, Vec<Window>), String> {
    let mut c = Cursor::new(s.trim());
    let mut zone: Option<&str> = None;
    let mut windows = Vec::new();
    loop {
        let window = c.window().map_err(|p| match p {
            Problem::Shape => format!("{s:?}: {ONE_LINE_FORM}"),
            Problem::Day(word) => format!("{s:?}: {}; {ONE_LINE_FORM}", not_a_day(&word)),
        })?;
        let this = (c.spaces() && !c.is_empty())
            .then(|| c.zone())
            .filter(|z| !z.is_empty())
            .ok_or_else(|| format!("{s:?}: {ONE_LINE_FORM}"))?;
        match zone {
            Some(z) if z != this => {
                return Err(format!(
                    "{s:?}: every window of the one-line form names the same zone, found {z} and \
                     {this}; use the structured form, with one timeZone"
                ));
            }
            _ => zone = Some(this),
        }
        windows.push(window);
        c.spaces();
        if c.is_empty() {
            break;
        }
        if !c.eat(',') {
            return Err(format!("{s:?}: {ONE_LINE_FORM}"));
        }
        c.spaces();
    }
    Ok((zone.unwrap_or("UTC").to_string(), windows))
}

fn not_a_day(word: &str) -> String {
    format!("{word:?} is not a day (use {})", DAY_NAMES.join(", "))
}

/// Why a piece did not read.
enum Problem {
    /// Not the expected shape.
    Shape,
    /// A word where a day name belongs that is not one.
    Day(String),
}

/// A position in the text being read (see the grammar in the module docs).
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self { rest: s }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Takes `c` if it is next.
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Takes the longest run of characters matching `pred` (possibly empty).
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !pred(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    /// Takes spaces and tabs; true when there was at least one.
    fn spaces(&mut self) -> bool {
        !self.take_while(|c| c == ' ' || c == '\t').is_empty()
    }

    fn day(&mut self) -> Result<u8, Problem> {
        let word = self.take_while(|c| c.is_ascii_alphabetic());
        if word.is_empty() {
            return Err(Problem::Shape);
        }
        DAY_NAMES
            .iter()
            .position(|name| name.eq_ignore_ascii_case(word))
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| Problem::Day(word.to_string()))
    }

    fn days(&mut self) -> Result<Days, Problem> {
        let mut items = Vec::new();
        loop {
            let first = self.day()?;
            let last = if self.eat('-') { self.day()? } else { first };
            items.push((first, last));
            // A comma followed by a letter continues the days; in the one-line form a comma
            // after a zone separates windows, and never comes here.
            if !self.rest.starts_with(',') {
                return Ok(Days { items });
            }
            self.eat(',');
        }
    }

    fn two_digits(&mut self) -> Option<u8> {
        let digits = self
            .rest
            .get(..2)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
        self.rest = &self.rest[2..];
        digits.parse().ok()
    }

    fn time(&mut self) -> Option<ClockTime> {
        let hour = self.two_digits()?;
        if !self.eat(':') {
            return None;
        }
        let minute = self.two_digits()?;
        Some(ClockTime { hour, minute })
    }

    fn window(&mut self) -> Result<Window, Problem> {
        let days = self.days()?;
        if !self.spaces() {
            return Err(Problem::Shape);
        }
        let start = self.time().ok_or(Problem::Shape)?;
        if !self.eat('-') {
            return Err(Problem::Shape);
        }
        let end = self.time().ok_or(Problem::Shape)?;
        Ok(Window { days, start, end })
    }

    fn zone(&mut self) -> &'a str {
        self.take_while(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
    }

    /// Whether what is left is spaces and then a zone-like word, and nothing else.
    fn zone_follows(&mut self) -> bool {
        self.spaces() && !self.zone().is_empty() && self.is_empty()
    }
}

/// A calendar date in the schedule's zone, `YYYY-MM-DD` (e.g. `2026-12-24`). Serialised as
/// that string. A string of another shape, or a day that does not exist (`2026-02-30`), is an
/// error: `"24.12.2026": expected a date YYYY-MM-DD, e.g. 2026-12-24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDate(pub(crate) Date);

impl LocalDate {
    /// The date `year-month-day`, if it exists.
    pub fn new(year: i16, month: i8, day: i8) -> Option<Self> {
        Date::new(year, month, day).ok().map(Self)
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            self.0.month(),
            self.0.day()
        )
    }
}

impl FromStr for LocalDate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let shape = t.len() == 10
            && t.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        let number = |r: std::ops::Range<usize>| t.get(r).and_then(|n| n.parse::<i16>().ok());
        let small = |r| number(r).and_then(|n| i8::try_from(n).ok());
        let parts = shape
            .then(|| Some((number(0..4)?, small(5..7)?, small(8..10)?)))
            .flatten();
        match parts {
            Some((y, m, d)) => {
                Self::new(y, m, d).ok_or_else(|| format!("{s:?} is not a day of the calendar"))
            }
            None => Err(format!(
                "{s:?}: expected a date YYYY-MM-DD, e.g. 2026-12-24"
            )),
        }
    }
}

/// Serialises a value as its `Display` string and reads it back with its `FromStr`, whose
/// message is the error; the schema is a string described by `$description`.
macro_rules! string_form {
    ($ty:ty, $name:literal, $description:literal, $examples:expr) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as ::serde::Deserialize>::deserialize(d)?
                    .parse()
                    .map_err(::serde::de::Error::custom)
            }
        }

        impl ::schemars::JsonSchema for $ty {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!({
                    "type": "string",
                    "description": $description,
                    "examples": $examples,
                })
            }
        }
    };
}
pub(crate) use string_form;

string_form!(
    Days,
    "ScheduleDays",
    "Days of the week a window starts on: Mon..Sun, ranges (no wrap past Sun) and lists",
    ["Mon-Fri", "Sat", "Mon,Wed,Fri", "Mon-Wed,Fri"]
);
string_form!(
    ClockTime,
    "ScheduleTime",
    "A time of day HH:MM in the schedule's zone, 00:00-23:59; 24:00 as an end only",
    ["08:00", "18:30", "24:00"]
);
string_form!(
    LocalDate,
    "ScheduleDate",
    "A calendar date YYYY-MM-DD in the schedule's zone",
    ["2026-12-24"]
);

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringOrMap::<Window>(PhantomData))
    }
}

impl ReadStringOrMap for Window {
    const EXPECTING: &'static str =
        "a window: \"DAYS HH:MM-HH:MM\" or a mapping with days, start and end";
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        // The derived reading of the structured form (`remote = "Self"`).
        Window::deserialize(MapAccessDeserializer::new(map))
    }
}

/// A type written either as a string (its `FromStr`) or as a mapping (its derived reading).
pub(crate) trait ReadStringOrMap: FromStr<Err = String> {
    /// What the value is, for serde's "invalid type" message.
    const EXPECTING: &'static str;
    /// Reads the mapping form.
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// The visitor of [`ReadStringOrMap`] types.
pub(crate) struct StringOrMap<T>(pub(crate) PhantomData<T>);

impl<'de, T: ReadStringOrMap> Visitor<'de> for StringOrMap<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        s.parse().map_err(E::custom)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

/// Makes a derived object schema `{"oneOf": [<a string>, <the object>]}`, keeping the
/// description outside.
pub(crate) fn string_or_object(schema: &mut Schema, string: serde_json::Value) {
    let mut object = schema.clone();
    let description = object.remove("description");
    object.remove("title");
    let mut outer = json_schema!({ "oneOf": [string, object] });
    if let Some(d) = description {
        outer.insert("description".into(), d);
    }
    *schema = outer;
}

fn window_schema(schema: &mut Schema) {
    string_or_object(
        schema,
        serde_json::json!({
            "type": "string",
            "description": "DAYS HH:MM-HH:MM",
            "pattern": "^\\s*[A-Za-z]{3}(-[A-Za-z]{3})?(,[A-Za-z]{3}(-[A-Za-z]{3})?)*[ \\t]+\\d\\d:\\d\\d-\\d\\d:\\d\\d\\s*$",
            "examples": ["Mon-Fri 08:00-18:00", "Fri 22:00-06:00"],
        }),
    );
}
