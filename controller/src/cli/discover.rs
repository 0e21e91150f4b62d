//! `snoozectl discover [--cluster NAME ...] [--tag KEY=VALUE ...] [--apply] [-o yaml]`: finds
//! the ECS services to onboard by tag and creates their missing records.
//!
//! Dry run by default: it prints what it would create (`service/NAME created (dry run)`) and
//! writes nothing; `--apply` creates. Per selected service (the opt-in tag
//! `snooze.enable=true` and every `--tag` match; a `--tag snooze.enable=VALUE` replaces the
//! opt-in, [`selectors`]):
//!
//! - its record is built from the service and its [tags](TAG_NAME): target `ecs: {cluster,
//!   service}`, name from `snooze.name` or [derived](derive_name) from the service name,
//!   `spec.idleTimeout` from `snooze.idle-timeout`, `spec.groups` from `snooze.group`,
//!   `spec.mode` from `snooze.mode`,
//!   `spec.replicas` the service's `desiredCount` when above 0 (so waking it restores what it
//!   runs now), `spec.maxReplicas` that count when it is above the default 10; everything else
//!   at its default. A tag value the record does not validate with, or an unknown `snooze.*`
//!   tag, skips the service (reported with its ARN and the tag);
//! - a stored record that already manages the service (the same target,
//!   [`crate::model::Spec::claims`]) is left alone: `unchanged`, with the record's name;
//! - a stored record of the same name that manages something else, or another selected
//!   service that gets the same name, is a problem: nothing is created for it (for neither of
//!   two colliding services);
//! - creation is the store's create-if-absent ([`crate::store::Store::apply`] with no expected
//!   version): a record created by someone else in the meantime is never overwritten.
//!
//! Exit code 1 when any service was skipped or not created for a problem (listed on stderr
//! after everything else was done), 0 otherwise. A second run creates nothing: every service
//! is `unchanged`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use super::GlobalArgs;
use crate::model::{EcsTarget, Entry, HumanDuration, Mode, Record, Spec, Target, validate};
use crate::platform::ecs::discover::DiscoveredService;
use crate::store::{Applied, Error as StoreError, Store};

/// The default selector: the tag that opts a service in.
pub const DEFAULT_SELECTOR: &str = "snooze.enable=true";
/// Tag: the record's name (a DNS label), instead of the one derived from the service name.
pub const TAG_NAME: &str = "snooze.name";
/// Tag: `spec.idleTimeout`, a duration such as `30m` (1m to 24h).
pub const TAG_IDLE_TIMEOUT: &str = "snooze.idle-timeout";
/// Tag: `spec.groups`, group names (DNS labels) separated by spaces (AWS tag values cannot
/// hold commas; commas are taken too).
pub const TAG_GROUP: &str = "snooze.group";
/// Tag: `spec.mode`, `auto`, `on` or `off` (e.g. `on` to onboard pinned on, as
/// docs/existing-service.md advises, and switch to `auto` later with `edit` or `apply`).
pub const TAG_MODE: &str = "snooze.mode";
/// The prefix of snooze's tags: a tag with it that is neither a selector key nor one of the
/// tags above is an error (a misspelt tag would otherwise be ignored and the record created
/// with a default for ever, since discover never changes a record).
pub const TAG_PREFIX: &str = "snooze.";

/// The tags a service must have: `tags`, plus the opt-in [`DEFAULT_SELECTOR`] unless `tags`
/// name its key (`--tag snooze.group=shop` narrows the opted-in services; it never selects
/// services that did not opt in).
pub fn selectors(tags: &[(String, String)]) -> Vec<(String, String)> {
    let (key, value) = DEFAULT_SELECTOR
        .split_once('=')
        .expect("the default selector is KEY=VALUE");
    let mut all = tags.to_vec();
    if !tags.iter().any(|(k, _)| k == key) {
        all.insert(0, (key.to_string(), value.to_string()));
    }
    all
}

/// Arguments of `snoozectl discover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An ECS cluster to search, by name or ARN. Repeatable. Default: every cluster of the
    /// account and region (ListClusters).
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
    /// Only services with this tag too (`KEY=VALUE`; `KEY=` for an empty value). Repeatable: a
    /// service must have all of them, and the opt-in tag `snooze.enable=true` unless a
    /// `--tag snooze.enable=VALUE` replaces it (the value must match exactly).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_selector)]
    pub tags: Vec<(String, String)>,
    /// Create the missing records. Without it nothing is written (a dry run).
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,
    /// Only show what would be created, write nothing. The default; kept so a script can say
    /// so.
    #[arg(long)]
    pub dry_run: bool,
    /// `yaml`: print the manifests of the records it creates (or would create), as
    /// multi-document YAML that `snoozectl apply -f` takes, instead of one line per service
    /// (the `unchanged` lines then go to stderr as notes).
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<Output>,
}

/// Output formats of `discover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The manifests of the records to create.
    Yaml,
}

/// Parses `KEY=VALUE` (the value may be empty; the key may not).
pub fn parse_selector(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE, e.g. {DEFAULT_SELECTOR}")),
    }
}

/// The record name derived from an ECS service name, and what had to change to make it a DNS
/// label (empty when nothing did): lowercased, `_` and every other character that is not a
/// letter, digit or `-` replaced by `-`, runs of `-` made one, `-` trimmed at both ends, cut to
/// 63 characters. `None` when nothing is left (a name of symbols only).
pub fn derive_name(service: &str) -> Option<(String, Vec<&'static str>)> {
    let mut changes = Vec::new();
    if service.chars().any(|c| c.is_ascii_uppercase()) {
        changes.push("lowercased");
    }
    if service.contains('_') {
        changes.push("'_' replaced by '-'");
    }
    if service
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        changes.push("other characters replaced by '-'");
    }
    let replaced: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if replaced.contains("--") {
        changes.push("runs of '-' made one");
    }
    let mut name = String::with_capacity(replaced.len());
    for c in replaced.chars() {
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    let trimmed = name.trim_matches('-');
    if trimmed.len() != name.len() {
        changes.push("'-' trimmed at the ends");
    }
    let mut name = trimmed.to_string();
    if name.len() > 63 {
        name.truncate(63);
        name = name.trim_end_matches('-').to_string();
        changes.push("cut to 63 characters");
    }
    (!name.is_empty()).then_some((name, changes))
}

/// What discover does about one selected service.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// No record manages it and its name is free: create this record. `notes`: how the name
    /// was derived, when it had to change.
    Create {
        /// The record to create.
        record: Box<Record>,
        /// Notes for stderr, e.g. `service/billing-api: name derived from ECS service
        /// "Billing_API" (lowercased, '_' replaced by '-')`.
        notes: Vec<String>,
    },
    /// A stored record already manages the service: left alone.
    Unchanged {
        /// The stored record's name.
        name: String,
        /// Why, e.g. `ecs:prod/web is already managed by service/web`.
        reason: String,
    },
    /// Nothing is created for the service, for this reason (a bad tag, a name taken): the
    /// line to report, starting with the service's ARN.
    Problem(String),
}

/// Builds the record of one service from its tags; `Err` is the problem line (ARN, tag,
/// message).
fn record_of(
    svc: &DiscoveredService,
    selector_keys: &BTreeSet<&str>,
) -> Result<(Record, Vec<String>), String> {
    let problem = |tag: &str, value: &str, message: &str| {
        format!("{}: tag {tag}={value:?}: {message}", svc.arn)
    };
    for key in svc.tags.keys() {
        let known = [TAG_NAME, TAG_IDLE_TIMEOUT, TAG_GROUP, TAG_MODE].contains(&key.as_str());
        if key.starts_with(TAG_PREFIX) && !known && !selector_keys.contains(key.as_str()) {
            return Err(problem(
                key,
                &svc.tags[key],
                &format!(
                    "unknown snooze tag; known: {TAG_NAME}, {TAG_IDLE_TIMEOUT}, {TAG_GROUP}, \
                     {TAG_MODE} (and the --tag selector keys)"
                ),
            ));
        }
    }
    let mut notes = Vec::new();
    let name = match svc.tags.get(TAG_NAME) {
        Some(n) => n.trim().to_string(),
        None => {
            let (name, changes) = derive_name(&svc.name).ok_or_else(|| {
                format!(
                    "{}: no record name can be derived from the service name {:?}; set the tag \
                     {TAG_NAME}",
                    svc.arn, svc.name
                )
            })?;
            if !changes.is_empty() {
                notes.push(format!(
                    "service/{name}: name derived from ECS service {:?} ({})",
                    svc.name,
                    changes.join(", ")
                ));
            }
            name
        }
    };
    let mut spec = Spec::new(Target::Ecs(EcsTarget {
        cluster: svc.cluster.clone(),
        service: svc.name.clone(),
    }));
    if let Some(v) = svc.tags.get(TAG_IDLE_TIMEOUT) {
        spec.idle_timeout = v
            .parse::<HumanDuration>()
            .map_err(|e| problem(TAG_IDLE_TIMEOUT, v, &e))?;
    }
    if let Some(v) = svc.tags.get(TAG_MODE) {
        spec.mode = match v.trim() {
            "auto" => Mode::Auto,
            "on" => Mode::On,
            "off" => Mode::Off,
            _ => return Err(problem(TAG_MODE, v, "not a mode; use auto, on or off")),
        };
    }
    if let Some(v) = svc.tags.get(TAG_GROUP) {
        // AWS tag values cannot hold commas: groups are separated by spaces (commas are taken
        // too, for tags written elsewhere).
        spec.groups = v
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
    }
    if let Ok(count) = u32::try_from(svc.desired_count)
        && count > 0
    {
        spec.replicas = count;
        if count > spec.max_replicas() {
            spec.max_replicas = Some(count);
        }
    }
    let record = Record::new(name, spec);
    let errors = validate(&record);
    if let Some(e) = errors.first() {
        let tag = if e.path == "metadata.name" {
            svc.tags.contains_key(TAG_NAME).then_some(TAG_NAME)
        } else if e.path.starts_with("spec.idleTimeout") {
            Some(TAG_IDLE_TIMEOUT)
        } else if e.path.starts_with("spec.groups") {
            Some(TAG_GROUP)
        } else {
            None
        };
        return Err(match tag {
            Some(tag) => problem(tag, &svc.tags[tag], &e.to_string()),
            None => format!("{}: {e}", svc.arn),
        });
    }
    Ok((record, notes))
}

/// Whether `svc` has every `selectors` tag with its value.
pub fn selected(svc: &DiscoveredService, selectors: &[(String, String)]) -> bool {
    selectors
        .iter()
        .all(|(k, v)| svc.tags.get(k).is_some_and(|t| t == v))
}

/// Plans every selected service of `found` (in that order) against the `stored` records; see
/// the module docs. Services that are not ACTIVE (draining, deleted) are left out.
pub fn plan(
    found: &[DiscoveredService],
    selectors: &[(String, String)],
    stored: &[Entry],
) -> Vec<(DiscoveredService, Plan)> {
    let keys: BTreeSet<&str> = selectors.iter().map(|(k, _)| k.as_str()).collect();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for entry in stored {
        match entry {
            Entry::Record(r) => {
                for (claim, _) in r.spec.claims() {
                    owners.insert(claim, r.name().to_string());
                }
                names.insert(r.name().to_string(), r.spec.target.identity());
            }
            Entry::Malformed(m) => {
                names.insert(m.name.clone(), "a malformed item".into());
            }
        }
    }
    let mut plans: Vec<(DiscoveredService, Plan)> = found
        .iter()
        .filter(|s| s.status == "ACTIVE" && selected(s, selectors))
        .map(|svc| {
            let identity = Target::Ecs(EcsTarget {
                cluster: svc.cluster.clone(),
                service: svc.name.clone(),
            })
            .identity();
            let plan = if let Some(owner) = owners.get(&identity) {
                Plan::Unchanged {
                    name: owner.clone(),
                    reason: format!("{identity} is already managed by service/{owner}"),
                }
            } else {
                match record_of(svc, &keys) {
                    Err(p) => Plan::Problem(p),
                    Ok((record, _)) if names.contains_key(record.name()) => Plan::Problem(format!(
                        "{}: the record name {:?} is taken: service/{} manages {}; nothing \
                         created (set the tag {TAG_NAME} to choose another name)",
                        svc.arn,
                        record.name(),
                        record.name(),
                        names[record.name()]
                    )),
                    Ok((record, notes)) => Plan::Create {
                        record: Box::new(record),
                        notes,
                    },
                }
            };
            (svc.clone(), plan)
        })
        .collect();
    // Two services that would get one name: neither is created.
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (svc, p) in &plans {
        if let Plan::Create { record, .. } = p {
            by_name
                .entry(record.name().to_string())
                .or_default()
                .push(svc.arn.clone());
        }
    }
    for (svc, p) in &mut plans {
        if let Plan::Create { record, .. } = p
            && let Some(arns) = by_name.get(record.name()).filter(|a| a.len() > 1)
        {
            let others: Vec<&str> = arns
                .iter()
                .filter(|a| **a != svc.arn)
                .map(String::as_str)
                .collect();
            *p = Plan::Problem(format!(
                "{}: the record name {:?} would also be given to {}; neither is created (set \
                 the tag {TAG_NAME} on one of them)",
                svc.arn,
                record.name(),
                others.join(", ")
            ));
        }
    }
    plans
}

/// Creates one planned record with the store's create-if-absent ([`Store::apply`] without an
/// expected version), so a record someone else created since the plan was made (same name) is
/// never overwritten. `Err` is the problem line: `service/NAME: created by another writer
/// meanwhile; left alone ...`, or the store's error.
pub async fn create(store: &dyn Store, record: &Record) -> Result<(), String> {
    match store.apply(record, None).await {
        Ok(Applied::Created(_)) => Ok(()),
        Ok(other) => Err(format!(
            "service/{}: the store answered {other} to a create",
            record.name()
        )),
        Err(StoreError::AlreadyExists(_)) => Err(format!(
            "service/{}: created by another writer meanwhile; left alone (run discover again to \
             see whether it manages {})",
            record.name(),
            record.spec.target.identity()
        )),
        Err(e) => Err(format!("service/{}: not created: {e:#}", record.name())),
    }
}

/// Runs `snoozectl discover`.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    #[cfg(feature = "aws")]
    {
        run_aws(global, args).await
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (global, args);
        anyhow::bail!(crate::without_aws("snoozectl discover"))
    }
}

#[cfg(feature = "aws")]
async fn run_aws(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;

    use crate::platform::ecs::discover::Discovery;

    // The store first: a wrong --store fails before any ECS call.
    let store = if args.apply {
        global.connect_or_create().await?
    } else {
        global.connect().await?
    };
    let discovery =
        Discovery::from_options(global.region.clone(), global.endpoint_url.clone()).await;
    let clusters = if args.clusters.is_empty() {
        discovery
            .clusters()
            .await
            .context("cannot list the ECS clusters")?
    } else {
        args.clusters.clone()
    };
    let mut found = Vec::new();
    for cluster in &clusters {
        found.extend(
            discovery
                .services(cluster)
                .await
                .with_context(|| format!("cannot list the services of ECS cluster {cluster}"))?,
        );
    }
    // A cluster named twice (`--cluster prod --cluster arn:...:cluster/prod`): each service once.
    let mut seen = BTreeSet::new();
    found.retain(|s| seen.insert(s.arn.clone()));
    let stored = store.list().await.context("cannot list the records")?;
    let plans = plan(&found, &selectors(&args.tags), &stored);
    let yaml = args.output == Some(Output::Yaml);
    let dry = if args.apply { "" } else { " (dry run)" };
    let mut problems = Vec::new();
    let (mut created, mut unchanged) = (0usize, 0usize);
    for (_, p) in plans {
        match p {
            Plan::Problem(line) => problems.push(line),
            Plan::Unchanged { name, reason } => {
                unchanged += 1;
                let line = format!("service/{name} unchanged ({reason})");
                if yaml {
                    eprintln!("note: {line}");
                } else {
                    super::emit(format!("{line}\n"))?;
                }
            }
            Plan::Create { record, notes } => {
                for n in &notes {
                    eprintln!("note: {n}");
                }
                if args.apply
                    && let Err(problem) = create(store.as_ref(), &record).await
                {
                    problems.push(problem);
                    continue;
                }
                created += 1;
                if yaml {
                    let text = serde_yaml_ng::to_string(record.as_ref())
                        .context("cannot render a record as YAML")?;
                    super::emit(format!("---\n{text}"))?;
                } else {
                    super::emit(format!("service/{} created{dry}\n", record.name()))?;
                }
            }
        }
    }
    let calls: Vec<String> = discovery
        .calls()
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    eprintln!(
        "discover: {} services in {} cluster{}; {created} created{dry}, {unchanged} unchanged, \
         {} not created; ECS calls: {}",
        found.len(),
        clusters.len(),
        if clusters.len() == 1 { "" } else { "s" },
        problems.len(),
        calls.join(", ")
    );
    if problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let n = problems.len();
        Err(super::Failure::new(
            format!(
                "{n} service{} not onboarded; the others were{}",
                if n == 1 { "" } else { "s" },
                if args.apply { "" } else { " planned" }
            ),
            problems,
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(cluster: &str, name: &str, tags: &[(&str, &str)]) -> DiscoveredService {
        DiscoveredService {
            cluster: cluster.into(),
            name: name.into(),
            arn: format!("arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{name}"),
            status: "ACTIVE".into(),
            desired_count: 0,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn selectors() -> Vec<(String, String)> {
        super::selectors(&[])
    }

    /// `--tag` narrows the opted-in services; only a `--tag snooze.enable=VALUE` replaces the
    /// opt-in. Groups are separated by spaces (AWS tag values hold no commas) or commas.
    #[test]
    fn a_tag_narrows_the_opted_in_services_and_never_widens_them() {
        let t = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(selectors(), [t("snooze.enable", "true")]);
        let shop = [t("snooze.group", "shop")];
        assert_eq!(
            super::selectors(&shop),
            [t("snooze.enable", "true"), t("snooze.group", "shop")]
        );
        assert_eq!(
            super::selectors(&[t("snooze.enable", "yes")]),
            [t("snooze.enable", "yes")]
        );
        let found = vec![
            svc(
                "c",
                "in",
                &[("snooze.enable", "true"), ("snooze.group", "shop")],
            ),
            svc("c", "out", &[("snooze.group", "shop")]),
            svc(
                "c",
                "two",
                &[("snooze.enable", "true"), ("snooze.group", "a,b")],
            ),
        ];
        let plans = plan(&found, &super::selectors(&shop), &[]);
        let names: Vec<&str> = plans.iter().map(|(s, _)| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["in"],
            "a service that did not opt in is never selected"
        );
        let plans = plan(&found[2..], &selectors(), &[]);
        let Plan::Create { record, .. } = &plans[0].1 else {
            panic!("{plans:?}")
        };
        assert_eq!(record.spec.groups, ["a", "b"]);
    }

    #[test]
    fn names_are_derived_as_dns_labels_and_say_what_changed() {
        assert_eq!(derive_name("web"), Some(("web".into(), vec![])));
        assert_eq!(
            derive_name("Billing_API"),
            Some((
                "billing-api".into(),
                vec!["lowercased", "'_' replaced by '-'"]
            ))
        );
        assert_eq!(
            derive_name("_a__b_").unwrap().0,
            "a-b",
            "runs of separators become one dash and the ends are trimmed"
        );
        assert!(
            derive_name("_a__b_")
                .unwrap()
                .1
                .contains(&"'-' trimmed at the ends")
        );
        let long = "x".repeat(70);
        let (name, changes) = derive_name(&long).unwrap();
        assert_eq!(name.len(), 63);
        assert_eq!(changes, vec!["cut to 63 characters"]);
        // Cut where a dash falls on the 63rd character: no dash at the end.
        let (name, _) = derive_name(&format!("{}-{}", "a".repeat(62), "b".repeat(9))).unwrap();
        assert_eq!(name, "a".repeat(62));
        assert_eq!(derive_name("___"), None);
        for n in ["Billing_API", "a--b", "-x-", "UPPER"] {
            let (name, _) = derive_name(n).unwrap();
            assert_eq!(crate::model::validate_name(&name), Ok(()), "{n} → {name}");
        }
    }

    #[test]
    fn only_tagged_active_services_are_planned_with_their_tags() {
        let mut draining = svc("c", "old", &[("snooze.enable", "true")]);
        draining.status = "DRAINING".into();
        let mut big = svc(
            "c",
            "api",
            &[
                ("snooze.enable", "true"),
                ("snooze.idle-timeout", "30m"),
                ("snooze.group", "shop checkout"),
            ],
        );
        big.desired_count = 12;
        let found = vec![
            big,
            svc("c", "off", &[("snooze.enable", "false")]),
            svc("c", "untagged", &[]),
            draining,
        ];
        let plans = plan(&found, &selectors(), &[]);
        assert_eq!(plans.len(), 1, "{plans:?}");
        let Plan::Create { record, notes } = &plans[0].1 else {
            panic!("{plans:?}")
        };
        assert!(notes.is_empty());
        assert_eq!(record.name(), "api");
        assert_eq!(record.spec.idle_timeout, HumanDuration::from_mins(30));
        assert_eq!(record.spec.groups, ["shop", "checkout"]);
        assert_eq!(
            (record.spec.replicas, record.spec.max_replicas),
            (12, Some(12))
        );
        assert_eq!(record.spec.target.identity(), "ecs:c/api");
    }

    #[test]
    fn bad_tag_values_skip_the_service_naming_its_arn_and_the_tag() {
        let on = ("snooze.enable", "true");
        let found = vec![
            svc("c", "a", &[on, ("snooze.idle-timeout", "soon")]),
            svc("c", "b", &[on, ("snooze.idle-timeout", "30s")]),
            svc("c", "c", &[on, ("snooze.group", "Shop")]),
            svc("c", "d", &[on, ("snooze.name", "D!")]),
            svc("c", "e", &[on, ("snooze.idletimeout", "5m")]),
            svc("c", "f", &[on, ("snooze.mode", "sleepy")]),
            svc("c", "ok", &[on, ("snooze.mode", "on")]),
        ];
        let plans = plan(&found, &selectors(), &[]);
        let problems: Vec<&str> = plans
            .iter()
            .filter_map(|(_, p)| match p {
                Plan::Problem(l) => Some(l.as_str()),
                _ => None,
            })
            .collect();
        let arn = "arn:aws:ecs:us-east-1:123456789012:service/c";
        assert_eq!(
            problems,
            vec![
                format!(
                    "{arn}/a: tag snooze.idle-timeout=\"soon\": \"soon\" is not a duration; try \
                     15m, 90s or 1h"
                ),
                format!(
                    "{arn}/b: tag snooze.idle-timeout=\"30s\": spec.idleTimeout: 30s is below \
                     the minimum of 1m"
                ),
                format!(
                    "{arn}/c: tag snooze.group=\"Shop\": spec.groups[0]: \"Shop\" contains 'S'; \
                     use lowercase letters, digits and '-' (a DNS label)"
                ),
                format!(
                    "{arn}/d: tag snooze.name=\"D!\": metadata.name: \"D!\" contains 'D'; use \
                     lowercase letters, digits and '-' (a DNS label)"
                ),
                format!(
                    "{arn}/e: tag snooze.idletimeout=\"5m\": unknown snooze tag; known: \
                     snooze.name, snooze.idle-timeout, snooze.group, snooze.mode (and the --tag \
                     selector keys)"
                ),
                format!("{arn}/f: tag snooze.mode=\"sleepy\": not a mode; use auto, on or off"),
            ]
        );
        let Plan::Create { record, .. } = &plans.last().unwrap().1 else {
            panic!("{plans:?}")
        };
        assert_eq!(record.spec.mode, Mode::On);
    }

    #[test]
    fn an_operators_record_is_never_replaced_and_collisions_create_nothing() {
        let on = ("snooze.enable", "true");
        // The operator's record manages c/web under another name and spec.
        let mut theirs = Record::test("frontend");
        theirs.spec = Spec::new(Target::Ecs(EcsTarget {
            cluster: "c".into(),
            service: "web".into(),
        }));
        theirs.spec.replicas = 3;
        // And a record named "api" manages something else.
        let mut api = Record::test("api");
        api.spec = Spec::new(Target::Ecs(EcsTarget {
            cluster: "other".into(),
            service: "api".into(),
        }));
        let stored = vec![
            Entry::Record(Box::new(theirs)),
            Entry::Record(Box::new(api)),
        ];
        let found = vec![
            svc("c", "web", &[on]),
            svc("c", "api", &[on]),
            svc("c", "Shop_Cart", &[on]),
            svc("d", "shop-cart", &[on]),
        ];
        let plans = plan(&found, &selectors(), &stored);
        assert_eq!(
            plans[0].1,
            Plan::Unchanged {
                name: "frontend".into(),
                reason: "ecs:c/web is already managed by service/frontend".into()
            }
        );
        let Plan::Problem(p) = &plans[1].1 else {
            panic!("{plans:?}")
        };
        assert!(
            p.ends_with(
                "service/c/api: the record name \"api\" is taken: service/api manages \
                 ecs:other/api; nothing created (set the tag snooze.name to choose another name)"
            ),
            "{p}"
        );
        for (i, other) in [(2, "service/d/shop-cart"), (3, "service/c/Shop_Cart")] {
            let Plan::Problem(p) = &plans[i].1 else {
                panic!("{plans:?}")
            };
            assert!(
                p.contains("the record name \"shop-cart\" would also be given to"),
                "{p}"
            );
            assert!(p.contains(other), "{p}");
        }
        // A name tag resolves the collision.
        let found = vec![
            svc("c", "Shop_Cart", &[on, ("snooze.name", "cart-c")]),
            svc("d", "shop-cart", &[on]),
        ];
        let plans = plan(&found, &selectors(), &stored);
        assert!(
            plans.iter().all(|(_, p)| matches!(p, Plan::Create { .. })),
            "{plans:?}"
        );
    }

    #[tokio::test]
    async fn a_record_created_after_the_plan_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path().join("s.db")).unwrap();
        let found = vec![svc("c", "web", &[("snooze.enable", "true")])];
        let plans = plan(&found, &selectors(), &[]);
        let Plan::Create { record, .. } = &plans[0].1 else {
            panic!("{plans:?}")
        };
        // Meanwhile an operator creates "web" for another service, with their own spec.
        let mut theirs = Record::test("web");
        theirs.spec.replicas = 3;
        crate::store::apply_one(&store, &theirs).await.unwrap();
        let problem = create(&store, record).await.unwrap_err();
        assert_eq!(
            problem,
            "service/web: created by another writer meanwhile; left alone (run discover again \
             to see whether it manages ecs:c/web)"
        );
        let Some(Entry::Record(kept)) = store.get("web").await.unwrap() else {
            panic!()
        };
        assert_eq!(kept.spec, theirs.spec);
        // Without the race, it is created.
        let plans = plan(
            &[svc("c", "api", &[("snooze.enable", "true")])],
            &selectors(),
            &[],
        );
        let Plan::Create { record, .. } = &plans[0].1 else {
            panic!("{plans:?}")
        };
        assert_eq!(create(&store, record).await, Ok(()));
    }

    #[test]
    fn selectors_parse_and_all_must_match() {
        assert_eq!(
            parse_selector("team=web"),
            Ok(("team".into(), "web".into()))
        );
        assert_eq!(parse_selector("flag="), Ok(("flag".into(), String::new())));
        assert!(parse_selector("=x").is_err());
        assert!(parse_selector("novalue").is_err());
        let s = svc("c", "a", &[("snooze.enable", "true"), ("team", "web")]);
        let both = vec![
            ("snooze.enable".to_string(), "true".to_string()),
            ("team".to_string(), "web".to_string()),
        ];
        assert!(selected(&s, &both));
        let other = vec![("team".to_string(), "api".to_string())];
        assert!(!selected(&s, &other));
    }
}
