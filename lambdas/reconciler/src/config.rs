//! The reconciler Lambda's configuration, read from the environment at cold start. Each setting
//! is a clap argument with its env var ([`snooze::config`]): declared once, with its default.

use std::time::Duration;

/// Configuration read from the environment at cold start ([`Config::from_env`]).
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct Config {
    /// DynamoDB table of the records (required).
    #[arg(long, env = "SNOOZE_TABLE", value_name = "TABLE")]
    pub table: String,
    /// How long one invocation keeps honouring requeues of records in transitional phases, a
    /// humantime duration such as `60s`; keep it well under the function timeout.
    #[arg(long = "pass-budget", env = "SNOOZE_PASS_BUDGET", value_name = "DURATION",
          default_value = "60s", value_parser = budget)]
    pub budget: Duration,
    /// Period of the EventBridge schedule that invokes the full pass (Terraform
    /// `schedule_period_seconds`, which must match `schedule_expression`), a humantime duration.
    /// Records that asked for no requeue are looked at again only this much later, so
    /// schedules' pre-warm leads grow by it (a service is Ready at a window's start). The
    /// scheduled event less than this after 00:00 UTC emits the daily `SavedDollarsThisMonth`
    /// metric ([`crate::metrics`]).
    #[arg(long = "schedule-period", env = "SNOOZE_SCHEDULE_PERIOD", value_name = "DURATION",
          default_value = "60s", value_parser = budget)]
    pub schedule_period: Duration,
    /// ARN of the shared load balancer's listener whose rules route mode switches (the `alb`
    /// router, ADR 0007); set by Terraform from its `alb_listener_arn`. Unset or empty: no
    /// router, and route-mode records report `Routed` False, `RouteFailed`.
    #[arg(
        long = "alb-listener-arn",
        env = "SNOOZE_ALB_LISTENER_ARN",
        value_name = "ARN",
        requires = "wake_target_group_arn"
    )]
    pub alb_listener_arn: Option<String>,
    /// ARN of the wake Lambda's target group on that listener (its default action, and one of
    /// the two groups of every route-mode rule); required with `SNOOZE_ALB_LISTENER_ARN`.
    #[arg(
        long = "wake-target-group-arn",
        env = "SNOOZE_WAKE_TARGET_GROUP_ARN",
        value_name = "ARN",
        requires = "alb_listener_arn"
    )]
    pub wake_target_group_arn: Option<String>,
    /// The EventBridge bus (name or ARN) that every phase change is published to as an event
    /// (source `snooze`, detail-type `Service Phase Changed`, docs/reference/events.md); set by
    /// Terraform from `event_bus_name` (default `default`, the account's default bus). Unset or
    /// empty: no events.
    #[arg(long = "event-bus", env = "SNOOZE_EVENT_BUS", value_name = "BUS")]
    pub event_bus: Option<String>,
    /// A price table file replacing the one shipped with snooze
    /// (`controller/pricing/fargate.yaml`, [`snooze::reconcile::prices`]): Fargate list prices
    /// per region and architecture the ledger turns task-seconds into money with. Unset or
    /// empty: the shipped table. Read at cold start; a bad file, or one without a row for the
    /// function's region, is a start-up error naming the file (and line). A region the shipped
    /// table lacks is a warning at cold start, and the ledger counts seconds only.
    #[arg(long = "price-table", env = "SNOOZE_PRICE_TABLE", value_name = "FILE")]
    pub price_table: Option<std::path::PathBuf>,
    /// The resync of tiered observation ([`snooze::reconcile::tier`]): `SNOOZE_RESYNC_FLOOR`,
    /// `SNOOZE_RESYNC_CALLS_PER_MINUTE`, `SNOOZE_AWAKE_RESYNC` (Terraform
    /// `resync_floor_minutes`, `resync_calls_per_minute`, `awake_resync_seconds`).
    #[command(flatten)]
    pub tier: snooze::reconcile::tier::TierArgs,
    /// Endpoint of an AWS emulator for all clients (tests only).
    #[arg(long, env = "SNOOZE_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The function name for the `Function` dimension of the metrics (set by Lambda).
    #[arg(
        long = "function",
        env = "AWS_LAMBDA_FUNCTION_NAME",
        value_name = "NAME",
        default_value = "snooze-reconciler"
    )]
    pub function: String,
}

impl Config {
    /// Reads [`Config`] from the process environment ([`snooze::config::from_env`]); unset and
    /// empty variables are the same.
    ///
    /// Errors: `SNOOZE_TABLE` unset or empty; `SNOOZE_PASS_BUDGET` not a duration (each message
    /// names the variable).
    pub fn from_env() -> Result<Self, snooze::config::Error> {
        snooze::config::from_env()
    }

    /// Like [`Config::from_env`], with the variables looked up through `get` (tests).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, snooze::config::Error> {
        snooze::config::from_lookup(get)
    }
}

impl Config {
    /// The ledger's prices for `region` (the function's, from the AWS config): the price table
    /// of [`Config::price_table`] (else the shipped one), its row for `region`
    /// ([`snooze::reconcile::prices::load_rates`]). `None` (with a warning) when the shipped
    /// table has no row for `region`: the ledger then counts seconds only.
    ///
    /// Errors, each naming the file (and line): the operator's file cannot be read or is not a
    /// valid table; it has no row for `region`; no region is known.
    pub fn rates(
        &self,
        region: Option<&str>,
    ) -> anyhow::Result<Option<snooze::reconcile::prices::Rates>> {
        let Some(region) = region else {
            anyhow::bail!("no AWS region (AWS_REGION) to price the ledger with");
        };
        Ok(snooze::reconcile::prices::load_rates(
            self.price_table.as_deref(),
            region,
        )?)
    }
}

/// Value parser of [`Config::budget`].
fn budget(v: &str) -> Result<Duration, String> {
    humantime::parse_duration(v.trim()).map_err(|e| format!("not a duration ({e}); try 60s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_price_table_must_have_the_functions_region() {
        let lookup = |file: Option<String>| {
            move |k: &str| match k {
                "SNOOZE_TABLE" => Some("t".to_string()),
                "SNOOZE_PRICE_TABLE" => file.clone(),
                _ => None,
            }
        };
        let c = Config::from_lookup(lookup(None)).unwrap();
        assert_eq!(
            c.rates(Some("us-east-1")).unwrap().unwrap().arm64.vcpu_hour,
            0.03238
        );
        // A region the shipped table lacks: the cold start goes on, seconds only.
        assert_eq!(c.rates(Some("eu-north-1")).unwrap(), None);
        assert!(
            c.rates(None)
                .unwrap_err()
                .to_string()
                .contains("AWS_REGION")
        );
        let path = std::env::temp_dir().join(format!("snooze-{}-prices.yaml", std::process::id()));
        std::fs::write(
            &path,
            "publicIpv4: {perHour: 0.005, source: s, date: d}\nregion: []\n",
        )
        .unwrap();
        let c = Config::from_lookup(lookup(Some(path.display().to_string()))).unwrap();
        let e = c.rates(Some("us-east-1")).unwrap_err().to_string();
        assert!(e.contains("prices.yaml") && e.contains("line 2"), "{e}");
        // The operator's file without the function's region: a start-up error naming it.
        std::fs::write(
            &path,
            "publicIpv4: {perHour: 0.005, source: s, date: d}\nregions:\n  - region: us-east-1\n    \
             x86_64: {vcpuHour: 0.04, gbHour: 0.004}\n    arm64: {vcpuHour: 0.03, gbHour: 0.003}\n    \
             source: s\n    date: d\n",
        )
        .unwrap();
        let c = Config::from_lookup(lookup(Some(path.display().to_string()))).unwrap();
        assert!(c.rates(Some("us-east-1")).unwrap().is_some());
        let e = c.rates(Some("eu-north-1")).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains("prices.yaml") && e.contains("eu-north-1"), "{e}");
    }

    #[test]
    fn config_from_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = Config::from_lookup(env(&[("SNOOZE_TABLE", "snooze")])).unwrap();
        assert_eq!(c.budget, Duration::from_secs(60));
        assert_eq!(c.function, "snooze-reconciler");
        let c = Config::from_lookup(env(&[("SNOOZE_TABLE", "t"), ("SNOOZE_PASS_BUDGET", "20s")]))
            .unwrap();
        assert_eq!(c.budget, Duration::from_secs(20));
        // The schedule's period, added to pre-warm leads: 60 s unless Terraform says otherwise.
        assert_eq!(c.schedule_period, Duration::from_secs(60));
        let c = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_SCHEDULE_PERIOD", "5m"),
        ]))
        .unwrap();
        assert_eq!(c.schedule_period, Duration::from_secs(300));
        let e = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_SCHEDULE_PERIOD", "hourly"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("SNOOZE_SCHEDULE_PERIOD"), "{e}");
        assert!(
            Config::from_lookup(env(&[]))
                .unwrap_err()
                .to_string()
                .contains("SNOOZE_TABLE")
        );
        let e = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_PASS_BUDGET", "soon"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("SNOOZE_PASS_BUDGET"), "{e}");
        // The alb router: both ARNs or neither; empty is unset (Terraform's default).
        let c = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_ALB_LISTENER_ARN", "arn:l"),
            ("SNOOZE_WAKE_TARGET_GROUP_ARN", "arn:g"),
        ]))
        .unwrap();
        assert_eq!(
            (
                c.alb_listener_arn.as_deref(),
                c.wake_target_group_arn.as_deref()
            ),
            (Some("arn:l"), Some("arn:g"))
        );
        let c = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_ALB_LISTENER_ARN", ""),
            ("SNOOZE_WAKE_TARGET_GROUP_ARN", ""),
        ]))
        .unwrap();
        assert_eq!(c.alb_listener_arn, None);
        // Events: off unless a bus is named; empty is unset.
        assert_eq!(c.event_bus, None);
        let c =
            Config::from_lookup(env(&[("SNOOZE_TABLE", "t"), ("SNOOZE_EVENT_BUS", "")])).unwrap();
        assert_eq!(c.event_bus, None);
        let c = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_EVENT_BUS", "default"),
        ]))
        .unwrap();
        assert_eq!(c.event_bus.as_deref(), Some("default"));
        // The price table: the shipped one unless a file is named.
        let c = Config::from_lookup(env(&[("SNOOZE_TABLE", "t")])).unwrap();
        assert_eq!(c.price_table, None);
        // Terraform's default `price_table_path` is empty: the shipped table.
        let c =
            Config::from_lookup(env(&[("SNOOZE_TABLE", "t"), ("SNOOZE_PRICE_TABLE", "")])).unwrap();
        assert_eq!(c.price_table, None);
        let c = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_PRICE_TABLE", "/opt/prices.yaml"),
        ]))
        .unwrap();
        assert_eq!(
            c.price_table.as_deref(),
            Some(std::path::Path::new("/opt/prices.yaml"))
        );
        let e = Config::from_lookup(env(&[
            ("SNOOZE_TABLE", "t"),
            ("SNOOZE_ALB_LISTENER_ARN", "arn:l"),
        ]))
        .unwrap_err();
        assert!(
            e.to_string().contains("SNOOZE_WAKE_TARGET_GROUP_ARN"),
            "{e}"
        );
    }
}
