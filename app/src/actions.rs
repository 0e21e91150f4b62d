//! The demo actions behind the dashboard's buttons (`POST /action`). They change only a
//! small in-memory model of a service, except `p95-report`, which reports the real latency of
//! the requests this process served.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// Simulated replica bounds for `scale-up` / `scale-down`.
pub const MIN_REPLICAS: u32 = 1;
/// Upper simulated replica bound.
pub const MAX_REPLICAS: u32 = 10;
/// Request latencies kept for `p95-report`.
pub const LATENCY_WINDOW: usize = 1000;

/// A demo action. Its wire name is kebab-case: `deploy`, `scale-up`, `scale-down`,
/// `clear-cache`, `rotate-keys`, `p95-report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Simulates rolling out the running version as a new release.
    Deploy,
    /// Adds one simulated replica (at most [`MAX_REPLICAS`]).
    ScaleUp,
    /// Removes one simulated replica (at least [`MIN_REPLICAS`]).
    ScaleDown,
    /// Empties the simulated response cache (one entry per request since the last clear).
    ClearCache,
    /// Issues a new simulated signing key.
    RotateKeys,
    /// Reports p50/p95/p99 of the latencies of the last [`LATENCY_WINDOW`] requests.
    P95Report,
}

impl Action {
    /// Every action, in the dashboard's order.
    pub const ALL: [Action; 6] = [
        Action::Deploy,
        Action::ScaleUp,
        Action::ScaleDown,
        Action::ClearCache,
        Action::RotateKeys,
        Action::P95Report,
    ];

    /// The wire name (`scale-up`).
    pub fn name(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::ScaleUp => "scale-up",
            Action::ScaleDown => "scale-down",
            Action::ClearCache => "clear-cache",
            Action::RotateKeys => "rotate-keys",
            Action::P95Report => "p95-report",
        }
    }

    /// The button label (`Scale up`).
    pub fn label(self) -> &'static str {
        match self {
            Action::Deploy => "Deploy",
            Action::ScaleUp => "Scale up",
            Action::ScaleDown => "Scale down",
            Action::ClearCache => "Clear cache",
            Action::RotateKeys => "Rotate keys",
            Action::P95Report => "p95 report",
        }
    }

    /// Every wire name, for error messages.
    pub fn allowed() -> Vec<&'static str> {
        Action::ALL.iter().map(|a| a.name()).collect()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An action name that is not one of [`Action::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Requests measured.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// Nearest-rank percentiles of `samples`; `None` when empty.
pub fn percentiles(samples: impl IntoIterator<Item = Duration>) -> Option<Percentiles> {
    let mut ms: Vec<f64> = samples
        .into_iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| ms[((p / 100.0 * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    Some(Percentiles {
        samples: ms.len(),
        p50_ms: rank(50.0),
        p95_ms: rank(95.0),
        p99_ms: rank(99.0),
        max_ms: ms[ms.len() - 1],
    })
}

/// The simulated service the actions act on, plus the latency window.
#[derive(Debug)]
pub struct DemoState {
    release: u64,
    replicas: u32,
    cache_entries: u64,
    key_generation: u64,
    latencies: VecDeque<Duration>,
}

impl Default for DemoState {
    fn default() -> Self {
        DemoState {
            release: 0,
            replicas: MIN_REPLICAS,
            cache_entries: 0,
            key_generation: 1,
            latencies: VecDeque::new(),
        }
    }
}

/// What an action did: the JSON body of a `POST /action` answer and the text of its log entry.
///
/// JSON: `{"action":"scale-up","ok":true,"message":"scaled up to 3 replicas","details":{"replicas":3}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    /// The action's wire name.
    pub action: &'static str,
    /// `false` when the action changed nothing (already at a replica bound, no samples yet).
    pub ok: bool,
    /// One line for people, also added to the log.
    pub message: String,
    /// Machine-readable figures, specific to the action.
    pub details: serde_json::Value,
}

impl DemoState {
    /// Records a served request: its latency (for `p95-report`) and one simulated cache entry.
    pub fn record_request(&mut self, latency: Duration) {
        if self.latencies.len() == LATENCY_WINDOW {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency);
        self.cache_entries += 1;
    }

    /// Simulated replica count.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// Performs `action`. `version` is the running version (`APP_VERSION`), `key_id` the
    /// identifier of a newly rotated key (random in the app, fixed in tests).
    pub fn perform(&mut self, action: Action, version: &str, key_id: &str) -> ActionResult {
        use serde_json::json;
        let (ok, message, details) = match action {
            Action::Deploy => {
                self.release += 1;
                (
                    true,
                    format!("deployed {version} as release #{}", self.release),
                    json!({"release": self.release, "version": version}),
                )
            }
            Action::ScaleUp | Action::ScaleDown => {
                let before = self.replicas;
                self.replicas = match action {
                    Action::ScaleUp => (before + 1).min(MAX_REPLICAS),
                    _ => before.saturating_sub(1).max(MIN_REPLICAS),
                };
                let direction = if action == Action::ScaleUp {
                    "up"
                } else {
                    "down"
                };
                let replicas = |n: u32| {
                    if n == 1 {
                        "1 replica".to_owned()
                    } else {
                        format!("{n} replicas")
                    }
                };
                let message = if before == self.replicas {
                    format!(
                        "already at {}, not scaling {direction}",
                        replicas(self.replicas)
                    )
                } else {
                    format!(
                        "scaled {direction} from {before} to {}",
                        replicas(self.replicas)
                    )
                };
                (
                    before != self.replicas,
                    message,
                    json!({"replicas": self.replicas, "previous": before}),
                )
            }
            Action::ClearCache => {
                let cleared = std::mem::take(&mut self.cache_entries);
                (
                    true,
                    format!("cleared {cleared} cache entries"),
                    json!({"cleared": cleared}),
                )
            }
            Action::RotateKeys => {
                self.key_generation += 1;
                (
                    true,
                    format!(
                        "rotated signing key to {key_id} (generation {})",
                        self.key_generation
                    ),
                    json!({"key_id": key_id, "generation": self.key_generation}),
                )
            }
            Action::P95Report => match percentiles(self.latencies.iter().copied()) {
                Some(p) => (
                    true,
                    format!(
                        "latency over {} requests: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
                        p.samples, p.p50_ms, p.p95_ms, p.p99_ms
                    ),
                    serde_json::to_value(p).unwrap_or_default(),
                ),
                None => (
                    false,
                    "no requests measured yet".to_owned(),
                    json!({"samples": 0}),
                ),
            },
        };
        ActionResult {
            action: action.name(),
            ok,
            message,
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>().unwrap(), a);
        }
        assert_eq!("nuke".parse::<Action>(), Err(UnknownAction("nuke".into())));
        assert_eq!(
            UnknownAction("x".into()).to_string(),
            "unknown action \"x\""
        );
    }

    #[test]
    fn scaling_stays_within_bounds() {
        let mut s = DemoState::default();
        let r = s.perform(Action::ScaleDown, "v1", "k");
        assert!(!r.ok);
        assert_eq!(r.message, "already at 1 replica, not scaling down");
        assert_eq!(s.replicas(), MIN_REPLICAS);
        for _ in 0..20 {
            s.perform(Action::ScaleUp, "v1", "k");
        }
        assert_eq!(s.replicas(), MAX_REPLICAS);
        let r = s.perform(Action::ScaleDown, "v1", "k");
        assert_eq!(r.message, "scaled down from 10 to 9 replicas");
        assert_eq!(r.details["replicas"], 9);
    }

    #[test]
    fn deploy_counts_releases_and_cache_clears_counted_requests() {
        let mut s = DemoState::default();
        assert_eq!(
            s.perform(Action::Deploy, "v1.2", "k").message,
            "deployed v1.2 as release #1"
        );
        assert_eq!(s.perform(Action::Deploy, "v1.2", "k").details["release"], 2);
        for _ in 0..3 {
            s.record_request(Duration::from_millis(1));
        }
        assert_eq!(
            s.perform(Action::ClearCache, "v", "k").details["cleared"],
            3
        );
        assert_eq!(
            s.perform(Action::ClearCache, "v", "k").details["cleared"],
            0
        );
        let r = s.perform(Action::RotateKeys, "v", "key-abc");
        assert_eq!(
            r.details,
            serde_json::json!({"key_id": "key-abc", "generation": 2})
        );
    }

    #[test]
    fn percentiles_nearest_rank() {
        assert!(percentiles([]).is_none());
        let p = percentiles((1..=100).map(Duration::from_millis)).unwrap();
        assert_eq!(
            (p.samples, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
        let one = percentiles([Duration::from_micros(1500)]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (1.5, 1.5));
    }

    #[test]
    fn report_uses_the_window() {
        let mut s = DemoState::default();
        assert!(!s.perform(Action::P95Report, "v", "k").ok);
        for i in 0..(LATENCY_WINDOW + 10) {
            s.record_request(Duration::from_millis(if i < 10 { 1000 } else { 2 }));
        }
        let r = s.perform(Action::P95Report, "v", "k");
        assert_eq!(r.details["samples"], LATENCY_WINDOW);
        // The ten slow requests fell out of the window.
        assert_eq!(r.details["max_ms"], 2.0);
    }
}
