//! The pure half of the `alb` router: what a listener's rules say about each stable address,
//! which priority a new rule gets, and what forward a route target needs. No SDK types, no
//! I/O; `alb` converts the ELBv2 answers into [`RuleView`]s and sends what these functions
//! decide.
//!
//! A snooze rule (one per route-mode host) is found by its tag [`HOST_TAG`] (never by its
//! condition, which an operator may have edited), matches that host with a `host-header`
//! condition, and always forwards to **two** target groups with weights: the wake endpoint's
//! (the wake Lambda's group) and the service's. A target group no rule references gets no
//! health checks, so its targets never turn healthy; keeping the service's group in the rule
//! while the address points at the wake endpoint (weight 0) keeps it referenced.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::RouteTarget;

/// Tag key naming the host a rule serves (value: the normalised host). What makes a rule
/// snooze's.
pub const HOST_TAG: &str = "snooze:host";
/// Tag key naming the record a rule belongs to (value: the record name), for people reading
/// the console.
pub const RECORD_TAG: &str = "snooze:record";
/// The weight of the group that gets the traffic (the other one gets 0).
pub const FULL_WEIGHT: u32 = 100;
/// The highest priority a listener rule can have (ELBv2: 1..=50000).
pub const MAX_PRIORITY: u32 = 50_000;

/// One listener rule as the router reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleView {
    /// The rule's ARN.
    pub arn: String,
    /// Its priority; `None` for the listener's default rule.
    pub priority: Option<u32>,
    /// The values of its `host-header` conditions (lower-cased), in order.
    pub hosts: Vec<String>,
    /// What it does.
    pub action: ActionView,
    /// Its [`HOST_TAG`] value, when it has one.
    pub host_tag: Option<String>,
}

/// A rule's action, reduced to what the router compares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ActionView {
    /// A forward: target group ARN → weight (a plain `TargetGroupArn` forward is weight 1).
    Forward(Vec<(String, u32)>),
    /// Anything else (`fixed-response`, `redirect`, an authentication step first, several
    /// actions): the action types in order.
    #[default]
    Other,
}

/// The rules snooze owns, by host: those with a [`HOST_TAG`], lowest priority first (a second
/// rule for one host, left by a concurrent writer, comes after the one in effect).
pub fn owned(rules: &[RuleView]) -> BTreeMap<String, Vec<&RuleView>> {
    let mut by_host: BTreeMap<String, Vec<&RuleView>> = BTreeMap::new();
    for r in rules {
        if let (Some(host), Some(_)) = (&r.host_tag, r.priority) {
            by_host.entry(host.clone()).or_default().push(r);
        }
    }
    for v in by_host.values_mut() {
        v.sort_by_key(|r| r.priority);
    }
    by_host
}

/// Where `rule` (the rule of `host`) sends visitors, given the wake endpoint's group
/// `wake_group`:
/// - [`RouteTarget::Wake`] when only the wake group has weight and the rule still references
///   a service group (weight 0);
/// - [`RouteTarget::Service`]`(group)` when only that (non-wake) group has weight;
/// - anything else (a split, no weight at all, another action, a condition that no longer
///   matches exactly `host`, the service group dropped) is reported as a `Service` with a
///   description that matches no target snooze wants, so `decide` sets it back and reports the
///   change.
pub fn observed(rule: &RuleView, host: &str, wake_group: &str) -> RouteTarget {
    let foreign = |what: String| RouteTarget::Service(format!("({what})"));
    if rule.hosts != [host.to_string()] {
        return foreign(format!("a rule matching {:?}", rule.hosts));
    }
    let ActionView::Forward(groups) = &rule.action else {
        return foreign("an action other than a forward".into());
    };
    let live: Vec<&(String, u32)> = groups.iter().filter(|(_, w)| *w > 0).collect();
    match live.as_slice() {
        [(g, _)] if g == wake_group => {
            if groups.iter().any(|(other, _)| other != wake_group) {
                RouteTarget::Wake
            } else {
                foreign("the wake endpoint without the service's target group".into())
            }
        }
        [(g, _)] => RouteTarget::Service(g.clone()),
        [] => foreign("a forward with every weight 0".into()),
        split => foreign(format!(
            "a split forward: {}",
            split
                .iter()
                .map(|(g, w)| format!("{g}={w}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The service's target group a rule references (the first non-wake group of its forward).
pub fn service_group<'a>(rule: &'a RuleView, wake_group: &str) -> Option<&'a str> {
    match &rule.action {
        ActionView::Forward(groups) => groups
            .iter()
            .map(|(g, _)| g.as_str())
            .find(|g| *g != wake_group),
        ActionView::Other => None,
    }
}

/// The forward a rule needs for `target`: `[(wake_group, w), (service_group, w)]` with the
/// full weight on the side the address points to and 0 on the other. `service_group` must be
/// the service's group (for [`RouteTarget::Service`], the target's own backend).
pub fn forward_for(
    target: &RouteTarget,
    wake_group: &str,
    service_group: &str,
) -> Vec<(String, u32)> {
    let (wake, service) = match target {
        RouteTarget::Wake => (FULL_WEIGHT, 0),
        RouteTarget::Service(_) => (0, FULL_WEIGHT),
    };
    vec![
        (wake_group.to_string(), wake),
        (service_group.to_string(), service),
    ]
}

/// The lowest priority no rule of the listener uses (1..=[`MAX_PRIORITY`]); `None` when all
/// are taken.
pub fn free_priority(rules: &[RuleView]) -> Option<u32> {
    let used: BTreeSet<u32> = rules.iter().filter_map(|r| r.priority).collect();
    (1..=MAX_PRIORITY).find(|p| !used.contains(p))
}

/// Whether `s` looks like an ELBv2 target group ARN (`arn:…:elasticloadbalancing:…:targetgroup/…`).
pub fn is_target_group_arn(s: &str) -> bool {
    s.starts_with("arn:") && s.contains(":elasticloadbalancing:") && s.contains(":targetgroup/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAKE: &str = "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/snooze-wake/a";
    const SVC: &str = "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/demo/b";

    fn rule(priority: u32, host: &str, groups: &[(&str, u32)]) -> RuleView {
        RuleView {
            arn: format!("rule-{priority}"),
            priority: Some(priority),
            hosts: vec![host.into()],
            action: ActionView::Forward(groups.iter().map(|(g, w)| (g.to_string(), *w)).collect()),
            host_tag: Some(host.into()),
        }
    }

    #[test]
    fn weights_say_where_the_address_points_and_anything_else_is_foreign() {
        let h = "demo.example.com";
        let at = |groups: &[(&str, u32)]| observed(&rule(1, h, groups), h, WAKE);
        assert_eq!(at(&[(WAKE, 100), (SVC, 0)]), RouteTarget::Wake);
        assert_eq!(
            at(&[(WAKE, 0), (SVC, 100)]),
            RouteTarget::Service(SVC.into())
        );
        for foreign in [
            at(&[(WAKE, 50), (SVC, 50)]),
            at(&[(WAKE, 0), (SVC, 0)]),
            at(&[(WAKE, 100)]),
        ] {
            let RouteTarget::Service(what) = &foreign else {
                panic!("{foreign:?}")
            };
            assert!(what.starts_with('('), "{what}");
        }
        let mut edited = rule(1, h, &[(WAKE, 100), (SVC, 0)]);
        edited.hosts = vec!["other.example.com".into()];
        assert_ne!(observed(&edited, h, WAKE), RouteTarget::Wake);
        edited.hosts = vec![h.into()];
        edited.action = ActionView::Other;
        assert_ne!(observed(&edited, h, WAKE), RouteTarget::Wake);
    }

    #[test]
    fn the_forward_keeps_both_groups_and_moves_the_weight() {
        assert_eq!(
            forward_for(&RouteTarget::Wake, WAKE, SVC),
            vec![(WAKE.to_string(), 100), (SVC.to_string(), 0)]
        );
        assert_eq!(
            forward_for(&RouteTarget::Service(SVC.into()), WAKE, SVC),
            vec![(WAKE.to_string(), 0), (SVC.to_string(), 100)]
        );
        let r = rule(3, "a", &[(WAKE, 100), (SVC, 0)]);
        assert_eq!(service_group(&r, WAKE), Some(SVC));
    }

    #[test]
    fn priorities_come_from_the_free_ones_and_only_tagged_rules_are_owned() {
        let mut rules = vec![
            rule(1, "a", &[]),
            rule(2, "b", &[]),
            rule(4, "a", &[]),
            RuleView {
                priority: None,
                ..Default::default()
            },
        ];
        assert_eq!(free_priority(&rules), Some(3));
        rules[1].host_tag = None; // someone else's rule
        let owned = owned(&rules);
        assert_eq!(owned.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(
            owned["a"].iter().map(|r| r.priority).collect::<Vec<_>>(),
            vec![Some(1), Some(4)]
        );
        let full: Vec<RuleView> = (1..=MAX_PRIORITY).map(|p| rule(p, "x", &[])).collect();
        assert_eq!(free_priority(&full), None);
    }

    #[test]
    fn target_group_arns_are_told_from_task_addresses() {
        assert!(is_target_group_arn(SVC));
        assert!(!is_target_group_arn("203.0.113.10:80"));
    }
}
