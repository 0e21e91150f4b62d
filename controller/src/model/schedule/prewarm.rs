//! Pre-warm: how early to wake before an awake window starts, so that the service is Ready at
//! the window's start ([`Prewarm`], resolved by [`super::Schedule::prewarm_lead`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::model::HumanDuration;

use super::Schedule;
use super::window::string_form;

/// The percentile of the recent wake durations that `prewarm: auto` uses: 90.
pub const PREWARM_PERCENTILE: u8 = 90;
/// How many recent wake durations `prewarm: auto` looks at, the newest: 10 (what
/// `status.recentWakeSeconds` keeps).
pub const PREWARM_SAMPLES: usize = 10;
/// The least lead `prewarm: auto` measures: 30 s.
pub const PREWARM_MIN: Duration = Duration::from_secs(30);
/// The most lead `prewarm: auto` measures: 10 min.
pub const PREWARM_MAX: Duration = Duration::from_secs(600);
/// The lead of `prewarm: auto` before the service has woken once: 60 s.
pub const PREWARM_DEFAULT: Duration = Duration::from_secs(60);
/// The largest fixed lead `spec.schedule.prewarm` accepts: 1 h (a longer one is an awake
/// window).
pub const PREWARM_FIXED_MAX: Duration = Duration::from_secs(3600);

/// `spec.schedule.prewarm`: `auto` (the default), `off`, or a fixed lead such as `90s` or `2m`
/// (humantime syntax, at most 1 h). Serialised as that string. Any other value is an error:
/// `"soon" is not a prewarm value; use auto, off or a lead such as 90s or 2m`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Prewarm {
    /// The [`PREWARM_PERCENTILE`]th percentile of the service's recent wake durations,
    /// clamped to [`PREWARM_MIN`]..=[`PREWARM_MAX`]; [`PREWARM_DEFAULT`] before any wake.
    #[default]
    Auto,
    /// No pre-warm: the service is woken at the window's start.
    Off,
    /// This lead.
    Lead(HumanDuration),
}

impl Prewarm {
    /// True for `auto` (then the field is not written).
    pub fn is_auto(&self) -> bool {
        *self == Prewarm::Auto
    }
}

impl fmt::Display for Prewarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prewarm::Auto => f.write_str("auto"),
            Prewarm::Off => f.write_str("off"),
            Prewarm::Lead(d) => d.fmt(f),
        }
    }
}

impl FromStr for Prewarm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Prewarm::Auto),
            "off" => Ok(Prewarm::Off),
            t => t.parse().map(Prewarm::Lead).map_err(|_| {
                format!("{s:?} is not a prewarm value; use auto, off or a lead such as 90s or 2m")
            }),
        }
    }
}

string_form!(
    Prewarm,
    "Prewarm",
    "auto (default: the 90th percentile of the service's recent wake durations, 30s to 10m; \
     60s before its first wake), off, or a fixed lead such as 90s (at most 1h)",
    ["auto", "off", "90s", "2m"]
);

/// The lead to wake with before an awake window starts, and where it came from
/// ([`Schedule::prewarm_lead`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrewarmLead {
    /// How long before the window's start the service is wanted awake; includes the runner's
    /// period (except for `off`, which is zero).
    pub lead: Duration,
    /// Where the lead came from.
    pub source: LeadSource,
}

/// Where a [`PrewarmLead`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadSource {
    /// `prewarm: off`.
    Off,
    /// A fixed lead written in `prewarm`.
    Fixed,
    /// `prewarm: auto` from the service's own wakes: the `percentile`th percentile of the last
    /// `samples` wake durations (clamped to 30 s..=10 min).
    Measured {
        /// The percentile, [`PREWARM_PERCENTILE`].
        percentile: u8,
        /// How many wake durations it was taken over (1..=[`PREWARM_SAMPLES`]).
        samples: usize,
    },
    /// `prewarm: auto` before the service has woken once: [`PREWARM_DEFAULT`].
    Default,
}

impl Schedule {
    /// The pre-warm lead of this schedule for a service whose recent wakes took
    /// `recent_wake_secs` seconds (`status.recentWakeSeconds`: newest last; only the last
    /// [`PREWARM_SAMPLES`] finite, non-negative values count), run by a runner that looks at
    /// it every `runner_period` (the reconciler Lambda: 60 s, as it is woken every minute;
    /// `snoozectl dev`: zero, as it requeues at the exact instant).
    ///
    /// `auto`: the [`PREWARM_PERCENTILE`]th percentile (nearest rank) of those durations,
    /// rounded up to whole seconds and clamped to [`PREWARM_MIN`]..=[`PREWARM_MAX`], or
    /// [`PREWARM_DEFAULT`] without any; plus `runner_period`. A fixed lead: it plus
    /// `runner_period`. `off`: zero.
    pub fn prewarm_lead(&self, recent_wake_secs: &[f64], runner_period: Duration) -> PrewarmLead {
        let (lead, source) = match self.prewarm {
            Prewarm::Off => {
                return PrewarmLead {
                    lead: Duration::ZERO,
                    source: LeadSource::Off,
                };
            }
            Prewarm::Lead(d) => (d.get(), LeadSource::Fixed),
            Prewarm::Auto => {
                let mut secs: Vec<f64> = recent_wake_secs
                    .iter()
                    .rev()
                    .copied()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .take(PREWARM_SAMPLES)
                    .collect();
                secs.sort_by(f64::total_cmp);
                let rank = (usize::from(PREWARM_PERCENTILE) * secs.len()).div_ceil(100);
                match rank.checked_sub(1).and_then(|i| secs.get(i)) {
                    Some(&p) => {
                        let whole = p.ceil().min(PREWARM_MAX.as_secs_f64());
                        (
                            Duration::from_secs_f64(whole).clamp(PREWARM_MIN, PREWARM_MAX),
                            LeadSource::Measured {
                                percentile: PREWARM_PERCENTILE,
                                samples: secs.len(),
                            },
                        )
                    }
                    None => (PREWARM_DEFAULT, LeadSource::Default),
                }
            }
        };
        PrewarmLead {
            lead: lead.saturating_add(runner_period),
            source,
        }
    }
}
