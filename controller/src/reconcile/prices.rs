//! The price table the ledger ([`super::ledger`]) turns task-seconds into US dollars with:
//! Fargate on-demand list prices for Linux tasks per region × architecture (per vCPU-hour and
//! per GB-hour) and the public IPv4 address charge per hour, each with its source and date.
//!
//! The table shipped with snooze is `controller/pricing/fargate.yaml`, compiled in
//! ([`DEFAULT_TABLE`]); a team overrides it with a file of the same shape named by
//! [`PRICE_TABLE_ENV`] (`SNOOZE_PRICE_TABLE`: the reconciler Lambda's environment,
//! `snoozectl reconcile --price-table`). The component that prices (the reconciler) loads it
//! once at start-up and takes its own region's row ([`load_rates`]). A bad file is a start-up
//! error naming the file (and line); so is a file the operator supplied without a row for the
//! region. A region the shipped table lacks is not an error: a warning names the region and
//! how to supply prices, and the ledger counts seconds only. Local targets are never priced.
//! Pure: no AWS crate.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::platform::{Arch, TaskSize};

/// The price table shipped with snooze (`controller/pricing/fargate.yaml`), used when
/// [`PRICE_TABLE_ENV`] names no file.
pub const DEFAULT_TABLE: &str = include_str!("../../pricing/fargate.yaml");

/// How errors name [`DEFAULT_TABLE`].
pub const DEFAULT_ORIGIN: &str = "controller/pricing/fargate.yaml (built in)";

/// The environment variable naming a price table file that replaces [`DEFAULT_TABLE`].
pub const PRICE_TABLE_ENV: &str = "SNOOZE_PRICE_TABLE";

/// A price table that could not be read or used. Every message names the file (`origin`);
/// parse errors also give the line and column.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("price table {path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid price table: YAML syntax, an unknown field, a row without
    /// `region`, a negative price, a region listed twice. `message` ends with serde_yaml_ng's
    /// `at line L column C`.
    #[error("price table {origin}: {message}")]
    Parse {
        /// The file (or [`DEFAULT_ORIGIN`]).
        origin: String,
        /// What is wrong, and where.
        message: String,
    },
    /// The table has no row for the region the reconciler runs in.
    #[error(
        "price table {origin}: no prices for region {region} (it has {known}); add a row for \
         it, or point {PRICE_TABLE_ENV} at a table that has one"
    )]
    MissingRegion {
        /// The file (or [`DEFAULT_ORIGIN`]).
        origin: String,
        /// The region asked for.
        region: String,
        /// The regions the table has, comma-separated.
        known: String,
    },
}

/// US dollars per hour for one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchPrices {
    /// Per vCPU-hour.
    #[serde(deserialize_with = "price")]
    pub vcpu_hour: f64,
    /// Per GB-hour of memory.
    #[serde(deserialize_with = "price")]
    pub gb_hour: f64,
}

/// The public IPv4 address charge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ipv4Price {
    /// US dollars per address-hour ($0.005 since 2024-02-01).
    #[serde(deserialize_with = "price")]
    pub per_hour: f64,
    /// Where the price was read (a URL).
    pub source: String,
    /// The date the price is as of.
    pub date: String,
}

/// One region's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionPrices {
    /// The AWS region, e.g. `us-east-1`.
    pub region: String,
    /// X86_64 tasks.
    #[serde(rename = "x86_64")]
    pub x86_64: ArchPrices,
    /// ARM64 (Graviton) tasks.
    pub arm64: ArchPrices,
    /// Where the prices were read (a URL).
    pub source: String,
    /// The date the prices are as of.
    pub date: String,
}

/// The file's shape.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Raw {
    public_ipv4: Ipv4Price,
    #[serde(deserialize_with = "unique_regions")]
    regions: Vec<RegionPrices>,
}

/// A parsed price table.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    /// Where it was read from: a path, or [`DEFAULT_ORIGIN`].
    pub origin: String,
    /// The public IPv4 charge (every region).
    pub public_ipv4: Ipv4Price,
    /// The rows by region.
    pub regions: BTreeMap<String, RegionPrices>,
}

/// One region's rates, what the ledger prices with ([`super::Reconciler::with_prices`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// X86_64 tasks.
    pub x86_64: ArchPrices,
    /// ARM64 tasks.
    pub arm64: ArchPrices,
    /// US dollars per public IPv4 address-hour.
    pub public_ipv4_hour: f64,
}

impl PriceTable {
    /// Parses a price table; `origin` (a path, or [`DEFAULT_ORIGIN`]) names it in errors.
    ///
    /// Errors ([`Error::Parse`], with line and column): not YAML, an unknown field, a missing
    /// field (a row without `region`), a negative or non-numeric price, a region listed twice.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let raw: Raw = serde_yaml_ng::from_str(text).map_err(|e| Error::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        Ok(Self {
            origin: origin.to_string(),
            public_ipv4: raw.public_ipv4,
            regions: (raw.regions.into_iter())
                .map(|r| (r.region.clone(), r))
                .collect(),
        })
    }

    /// The table shipped with snooze ([`DEFAULT_TABLE`]).
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_TABLE, DEFAULT_ORIGIN).expect("the shipped price table parses")
    }

    /// The table in the file at `path`, or the shipped one when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, Error> {
        let Some(path) = path else {
            return Ok(Self::builtin());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// The rates of `region`; [`Error::MissingRegion`] (naming the file) when it has no row.
    pub fn rates(&self, region: &str) -> Result<Rates, Error> {
        let Some(row) = self.regions.get(region) else {
            return Err(Error::MissingRegion {
                origin: self.origin.clone(),
                region: region.to_string(),
                known: (self.regions.keys().cloned())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        Ok(Rates {
            region: region.to_string(),
            x86_64: row.x86_64,
            arm64: row.arm64,
            public_ipv4_hour: self.public_ipv4.per_hour,
        })
    }
}

impl Rates {
    /// US dollars per hour for one task of `size` (plus the IPv4 charge when it has a public
    /// address): `vcpu × vcpuHour + memoryGb × gbHour (+ publicIpv4)`.
    pub fn hourly(&self, size: &TaskSize, public_ip: bool) -> f64 {
        let p = match size.arch {
            Arch::X86_64 => self.x86_64,
            Arch::Arm64 => self.arm64,
        };
        let ipv4 = if public_ip {
            self.public_ipv4_hour
        } else {
            0.0
        };
        size.vcpu * p.vcpu_hour + size.memory_gb * p.gb_hour + ipv4
    }

    /// [`Rates::hourly`] per second.
    pub fn per_second(&self, size: &TaskSize, public_ip: bool) -> f64 {
        self.hourly(size, public_ip) / 3600.0
    }
}

/// The rates the reconciler prices with in `region`, loaded once at start-up: the table in the
/// file at `path` (the operator's, [`PRICE_TABLE_ENV`] / `--price-table`), else the shipped
/// one ([`DEFAULT_TABLE`]).
///
/// `Ok(None)` when the shipped table has no row for `region` (e.g. `eu-north-1`): a warning,
/// logged here once, names the region and how to supply prices ([`PRICE_TABLE_ENV`], Terraform
/// `price_table_path`); the ledger then counts seconds only (no money, so no budget).
///
/// Errors, each naming the file (and line): the operator's file cannot be read or is not a
/// valid table ([`Error::Read`], [`Error::Parse`]); it has no row for `region`
/// ([`Error::MissingRegion`]).
pub fn load_rates(path: Option<&Path>, region: &str) -> Result<Option<Rates>, Error> {
    let table = PriceTable::load(path)?;
    match table.rates(region) {
        Ok(r) => Ok(Some(r)),
        Err(Error::MissingRegion { origin, known, .. }) if path.is_none() => {
            warn!(
                region,
                table = %origin,
                known = %known,
                "the shipped price table has no prices for region {region}: the ledger counts \
                 task-seconds only, without money (and spec.budget is never reached); to price \
                 it, point {PRICE_TABLE_ENV} (Terraform `price_table_path`, `snoozectl reconcile \
                 --price-table`) at a price table with a row for {region}"
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A price: a finite number of US dollars, not negative.
fn price<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() || v < 0.0 {
        return Err(de::Error::custom(format!(
            "a price must be a number of US dollars, 0 or more; got {v}"
        )));
    }
    Ok(v)
}

/// `regions`, each region once.
fn unique_regions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RegionPrices>, D::Error> {
    struct Rows;
    impl<'de> Visitor<'de> for Rows {
        type Value = Vec<RegionPrices>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of regions' prices")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut rows: Vec<RegionPrices> = Vec::new();
            while let Some(row) = seq.next_element::<RegionPrices>()? {
                if let Some(i) = rows.iter().position(|r| r.region == row.region) {
                    return Err(de::Error::custom(format!(
                        "region {} is listed twice (rows {} and {})",
                        row.region,
                        i + 1,
                        rows.len() + 1
                    )));
                }
                rows.push(row);
            }
            Ok(rows)
        }
    }
    d.deserialize_seq(Rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
publicIpv4: {perHour: 0.005, source: https://aws.amazon.com/vpc/pricing/, date: '2024-02-01'}
regions:
  - region: us-east-1
    x86_64: {vcpuHour: 0.04048, gbHour: 0.004445}
    arm64: {vcpuHour: 0.03238, gbHour: 0.00356}
    source: https://aws.amazon.com/fargate/pricing/
    date: '2025-01-01'
";

    fn err(text: &str) -> String {
        PriceTable::parse(text, "prices.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_shipped_table_parses_and_has_us_east_1() {
        let t = PriceTable::builtin();
        let r = t.rates("us-east-1").unwrap();
        assert_eq!(r.arm64.vcpu_hour, 0.03238);
        assert_eq!(r.arm64.gb_hour, 0.00356);
        assert_eq!(r.x86_64.vcpu_hour, 0.04048);
        assert_eq!(r.x86_64.gb_hour, 0.004445);
        assert_eq!(r.public_ipv4_hour, 0.005);
        for row in t.regions.values() {
            assert!(row.source.starts_with("https://aws.amazon.com/"), "{row:?}");
            assert!(!row.date.is_empty());
        }
    }

    #[test]
    fn money_per_hour() {
        let r = PriceTable::parse(GOOD, "p")
            .unwrap()
            .rates("us-east-1")
            .unwrap();
        let size = TaskSize {
            vcpu: 0.25,
            memory_gb: 0.5,
            arch: Arch::Arm64,
        };
        // docs/cost.md: 0.25 × 0.03238 + 0.5 × 0.00356 = $0.009875 an hour.
        assert!((r.hourly(&size, false) - 0.009875).abs() < 1e-12);
        assert!((r.hourly(&size, true) - 0.014875).abs() < 1e-12);
        assert!((r.per_second(&size, false) * 3600.0 - 0.009875).abs() < 1e-12);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        // A negative price, line 4.
        let e = err(&GOOD.replace("vcpuHour: 0.04048", "vcpuHour: -0.04048"));
        assert!(e.starts_with("price table prices.yaml: "), "{e}");
        assert!(e.contains("0 or more") && e.contains("line 4"), "{e}");
        // An unknown field, line 5.
        let e = err(&GOOD.replace("arm64: {vcpuHour", "arm64: {vcpuHours"));
        assert!(
            e.contains("unknown field `vcpuHours`") && e.contains("line 5"),
            "{e}"
        );
        // A row without a region (the row starts on line 3).
        let e = err(&GOOD.replace("  - region: us-east-1\n    x86_64", "  - x86_64"));
        assert!(
            e.contains("missing field `region`") && e.contains("line 3"),
            "{e}"
        );
        // A region listed twice: the second row is on line 8.
        let twice = format!("{GOOD}{}", &GOOD[GOOD.find("  - region").unwrap()..]);
        let e = err(&twice);
        assert!(e.contains("us-east-1 is listed twice"), "{e}");
        assert!(e.contains("line "), "{e}");
        // Not a number.
        let e = err(&GOOD.replace("gbHour: 0.00356", "gbHour: cheap"));
        assert!(e.contains("line 5"), "{e}");
    }

    #[test]
    fn a_missing_region_names_the_file() {
        let t = PriceTable::parse(GOOD, "/etc/snooze/prices.yaml").unwrap();
        let e = t.rates("eu-north-1").unwrap_err().to_string();
        assert!(e.contains("/etc/snooze/prices.yaml"), "{e}");
        assert!(e.contains("eu-north-1") && e.contains("us-east-1"), "{e}");
        assert!(e.contains(PRICE_TABLE_ENV), "{e}");
    }

    #[test]
    fn a_region_the_shipped_table_lacks_is_unpriced_but_an_operators_file_must_have_it() {
        // eu-north-1 is not in the shipped table (else this test would prove nothing).
        assert!(!PriceTable::builtin().regions.contains_key("eu-north-1"));
        // The shipped table: a warning, seconds only, the reconciler starts.
        assert_eq!(load_rates(None, "eu-north-1").unwrap(), None);
        let r = load_rates(None, "us-east-1").unwrap().unwrap();
        assert_eq!(r.arm64.vcpu_hour, 0.03238);
        // The operator's file: its missing row is a start-up error naming the file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("team-prices.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let e = load_rates(Some(&path), "eu-north-1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("team-prices.yaml") && e.contains("eu-north-1"),
            "{e}"
        );
        assert!(load_rates(Some(&path), "us-east-1").unwrap().is_some());
    }

    #[test]
    fn load_reads_a_file_or_the_shipped_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(PriceTable::load(Some(&path)).unwrap().regions.len(), 1);
        assert_eq!(PriceTable::load(None).unwrap(), PriceTable::builtin());
        let e = PriceTable::load(Some(&dir.path().join("nope.yaml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.yaml") && e.contains("cannot read"), "{e}");
    }
}
