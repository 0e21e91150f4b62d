//! [`Schedule::validate`]: every problem of a schedule at once, each at its path.

use std::time::Duration;

use crate::model::{FieldError, HumanDuration};

use super::window::{DAY_MINUTES, day_name};
use super::{PREWARM_FIXED_MAX, Prewarm, Schedule, Window, zone};

/// Minutes in a week: the grid windows are compared on, Monday 00:00 = 0.
const WEEK_MINUTES: u32 = 7 * DAY_MINUTES as u32;

/// A window's minutes on the weekly grid: half-open `[from, to)` intervals in local time.
type Grid = Vec<(u32, u32)>;

impl Schedule {
    /// Every problem of this schedule (empty when valid), each at its path under `path` (the
    /// schedule's own path, e.g. `spec.schedule`), all at once:
    ///
    /// - `{path}.timeZone`: not a zone of the bundled IANA database;
    /// - `{path}.awake[i]`, `{path}.asleep[i]`: a time outside `00:00`–`23:59` (`24:00` only as
    ///   an end), a day range that runs backwards (`Fri-Mon`), a day listed twice, an empty
    ///   window (start equals end), a window that overlaps an earlier one of the same list;
    /// - `{path}.asleep[i]`: a window that overlaps an awake one;
    /// - `{path}.except[i].to`: before `from`;
    /// - `{path}.prewarm`: a fixed lead above [`PREWARM_FIXED_MAX`].
    ///
    /// Overlaps are found on the weekly grid of local times, a window that crosses midnight
    /// running into the next day (and `Sun` into `Mon`). Messages quote the window, e.g.
    /// `spec.schedule.awake[1]: "Mon 25:00-26:00": 25:00 is not a time of day; use 00:00 to
    /// 23:59`. Strings that do not even have the right shape (`"Mon-Fri 8-18"`) are errors
    /// when the schedule is read, before this.
    pub fn validate(&self, path: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if zone(&self.time_zone).is_none() {
            errors.push(FieldError::new(
                format!("{path}.timeZone"),
                format!(
                    "{:?} is not a time zone of the IANA database; use a name such as \
                     Europe/Berlin, America/New_York or UTC",
                    self.time_zone
                ),
            ));
        }
        let before = errors.len();
        for (list, windows) in [("awake", &self.awake), ("asleep", &self.asleep)] {
            if windows.len() > MAX_WINDOWS {
                errors.push(FieldError::new(
                    format!("{path}.{list}"),
                    format!(
                        "{} windows; at most {MAX_WINDOWS} allowed (a window may name several \
                         days, e.g. Mon-Fri)",
                        windows.len()
                    ),
                ));
            }
        }
        if self.except.len() > MAX_EXCEPTIONS {
            errors.push(FieldError::new(
                format!("{path}.except"),
                format!(
                    "{} exceptions; at most {MAX_EXCEPTIONS} allowed (one may span many dates)",
                    self.except.len()
                ),
            ));
        }
        if errors.len() > before {
            // Too many to compare: report that alone rather than a flood of overlaps.
            return errors;
        }
        let awake = check_list(&mut errors, path, "awake", &self.awake);
        let asleep = check_list(&mut errors, path, "asleep", &self.asleep);
        for (j, quiet) in asleep.iter().enumerate() {
            for (i, wake) in awake.iter().enumerate() {
                if let (Some(quiet), Some(wake)) = (quiet, wake)
                    && let Some(at) = first_overlap(quiet, wake)
                {
                    // One overlap per quiet window is enough to fix it.
                    errors.push(FieldError::new(
                        format!("{path}.asleep[{j}]"),
                        format!(
                            "{:?} overlaps awake[{i}] ({:?}) at {}; quiet hours may not \
                             overlap an awake window",
                            self.asleep[j].to_string(),
                            self.awake[i].to_string(),
                            week_minute(at)
                        ),
                    ));
                }
                if errors.len() > MAX_OVERLAP_ERRORS {
                    break;
                }
            }
        }
        for (i, e) in self.except.iter().enumerate() {
            if let Some(to) = e.to
                && to < e.from
            {
                errors.push(FieldError::new(
                    format!("{path}.except[{i}].to"),
                    format!("{to} is before from ({})", e.from),
                ));
            }
        }
        if let Prewarm::Lead(lead) = self.prewarm
            && lead.get() < Duration::from_secs(1)
        {
            errors.push(FieldError::new(
                format!("{path}.prewarm"),
                format!("{lead} is below 1s; write off for no pre-warm"),
            ));
        }
        for (i, e) in self.except.iter().enumerate() {
            if e.reason.chars().count() > MAX_REASON_CHARS {
                errors.push(FieldError::new(
                    format!("{path}.except[{i}].reason"),
                    format!("at most {MAX_REASON_CHARS} characters"),
                ));
            } else if e
                .reason
                .chars()
                .any(|c| c.is_control() || is_bidi_control(c))
            {
                errors.push(FieldError::new(
                    format!("{path}.except[{i}].reason"),
                    "contains control or bidirectional-override characters",
                ));
            }
        }
        if let Prewarm::Lead(lead) = self.prewarm
            && lead.get() > PREWARM_FIXED_MAX
        {
            errors.push(FieldError::new(
                format!("{path}.prewarm"),
                format!(
                    "{lead} is above the maximum of {}; to keep the service awake longer, start \
                     the awake window earlier",
                    HumanDuration(PREWARM_FIXED_MAX)
                ),
            ));
        }
        errors
    }
}

/// Most windows in `awake` or in `asleep` (one window may name several days).
pub const MAX_WINDOWS: usize = 32;
/// Most entries in `except` (one may span many dates).
pub const MAX_EXCEPTIONS: usize = 64;
/// Longest `except[].reason`, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// Overlap errors reported before the rest are left out (each window reports its first).
const MAX_OVERLAP_ERRORS: usize = 50;

/// Unicode bidirectional controls (U+202A..U+202E, U+2066..U+2069), which can make text shown
/// in a terminal read differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks each window of `list` on its own and against the earlier ones; returns the grid of
/// each window (`None` for one with problems of its own, which is not compared).
fn check_list(
    errors: &mut Vec<FieldError>,
    path: &str,
    list: &str,
    windows: &[Window],
) -> Vec<Option<Grid>> {
    let mut grids: Vec<Option<Grid>> = Vec::with_capacity(windows.len());
    for (j, w) in windows.iter().enumerate() {
        let at = format!("{path}.{list}[{j}]");
        let quoted = w.to_string();
        let problems = problems(w);
        let grid = problems.is_empty().then(|| grid(w));
        errors.extend(
            problems
                .into_iter()
                .map(|p| FieldError::new(&at, format!("{quoted:?}: {p}"))),
        );
        if let Some(grid) = &grid {
            for (i, earlier) in grids.iter().enumerate() {
                if let Some(minute) = earlier.as_ref().and_then(|e| first_overlap(grid, e)) {
                    errors.push(FieldError::new(
                        &at,
                        format!(
                            "{quoted:?} overlaps {list}[{i}] ({:?}) at {}",
                            windows[i].to_string(),
                            week_minute(minute)
                        ),
                    ));
                    // The first overlap of a window is enough to fix it.
                    break;
                }
            }
        }
        grids.push(grid);
    }
    grids
}

/// What is wrong with one window on its own.
fn problems(w: &Window) -> Vec<String> {
    let mut out = Vec::new();
    if !w.start.is_valid(false) {
        out.push(if w.start.is_valid(true) {
            "24:00 is an end only; a window that starts at midnight starts at 00:00".to_string()
        } else {
            format!("{} is not a time of day; use 00:00 to 23:59", w.start)
        });
    }
    if !w.end.is_valid(true) {
        out.push(format!(
            "{} is not a time of day; use 00:00 to 23:59, or 24:00 for the end of the day",
            w.end
        ));
    }
    for &(a, b) in w.days.items() {
        if a > b {
            let head = if b == 0 {
                "Mon".to_string()
            } else {
                format!("Mon-{}", day_name(b))
            };
            let tail = if a == 6 {
                "Sun".to_string()
            } else {
                format!("{}-Sun", day_name(a))
            };
            out.push(format!(
                "the day range {}-{} runs backwards (ranges do not wrap past Sun); write \
                 {head},{tail}",
                day_name(a),
                day_name(b)
            ));
        }
    }
    let twice: Vec<&str> = (0..7u8)
        .filter(|&d| {
            let covering = w.days.items().iter().filter(|&&(a, b)| a <= d && d <= b);
            covering.count() > 1
        })
        .map(day_name)
        .collect();
    if !twice.is_empty() {
        out.push(format!("listed more than once: {}", twice.join(", ")));
    }
    if w.start.is_valid(false) && w.end.is_valid(true) && w.start == w.end {
        out.push(format!(
            "the window is empty (it starts and ends at {}); for a whole day write 00:00-24:00",
            w.start
        ));
    }
    out
}

/// The minutes of a valid window on the weekly grid; one that runs past Sunday midnight
/// continues at Monday 00:00.
fn grid(w: &Window) -> Grid {
    let start = u32::from(w.start.minutes());
    let end = u32::from(w.end.minutes());
    let day = u32::from(DAY_MINUTES);
    let length = if end > start {
        end - start
    } else {
        end + day - start
    };
    let mut out = Vec::new();
    for d in (0..7u8).filter(|&d| w.days.contains(d)) {
        let from = u32::from(d) * day + start;
        let to = from + length;
        if to <= WEEK_MINUTES {
            out.push((from, to));
        } else {
            out.push((from, WEEK_MINUTES));
            out.push((0, to - WEEK_MINUTES));
        }
    }
    out
}

/// The first minute of the week that both grids cover.
fn first_overlap(a: &[(u32, u32)], b: &[(u32, u32)]) -> Option<u32> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (x, y)))
        .filter_map(|(x, y)| {
            let from = x.0.max(y.0);
            (from < x.1.min(y.1)).then_some(from)
        })
        .min()
}

/// A minute of the weekly grid for people: `Mon 09:00`.
fn week_minute(m: u32) -> String {
    let day = u32::from(DAY_MINUTES);
    let weekday = u8::try_from(m / day).unwrap_or(u8::MAX);
    format!("{} {:02}:{:02}", day_name(weekday), (m % day) / 60, m % 60)
}
