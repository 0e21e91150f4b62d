//! Wire tests of the `alb` router against moto's ELBv2 (and EC2 for the VPC), through real SDK
//! calls: rules created with a free priority and tagged, weights switched both ways, a rule
//! changed or removed by someone else put back, rules of deleted records collected, the
//! listener's rules read over several pages, and a concurrent writer taking the chosen
//! priority (a proxy in front of moto plays that writer: it sends the same CreateRule for
//! another host just before ours reaches moto, so moto itself answers `PriorityInUse`).
//!
//! moto comes from `MOTO_ENDPOINT` (set by `scripts/test`) or is started from `.venv-moto`;
//! without either the tests FAIL, never skip. Every test builds its own VPC, load balancer,
//! listener and target groups, so they run in parallel on one moto.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2 as elb;
use elb::types::{
    Action, ActionTypeEnum, ForwardActionConfig, HostHeaderConditionConfig, ProtocolEnum,
    RuleCondition, TargetGroupTuple, TargetTypeEnum,
};
use snooze::platform::ecs::RetryPolicy;
use snooze::router::alb::AlbRouter;
use snooze::router::rules::{HOST_TAG, RECORD_TAG};
use snooze::router::{RouteTarget, Router};
use snooze_test_support::{moto_endpoint, unique};

const HOST: &str = "demo.example.com";

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .test_credentials()
        .load()
        .await
}

/// A load balancer with one HTTP listener whose default action forwards to the wake group,
/// and a service target group; `elb` talks to moto directly (the "console"), the router
/// through `router_endpoint`.
struct World {
    elb: elb::Client,
    listener: String,
    wake: String,
    service: String,
}

impl World {
    async fn new() -> World {
        let conf = sdk_config(moto_endpoint()).await;
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        let elb = elb::Client::new(&conf);
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap()
            .vpc_id
            .unwrap();
        let mut subnets = Vec::new();
        for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.0.{i}.0/24"))
                .availability_zone(*az)
                .send()
                .await
                .unwrap();
            subnets.push(s.subnet.unwrap().subnet_id.unwrap());
        }
        let lb = elb
            .create_load_balancer()
            .name(unique("snooze"))
            .set_subnets(Some(subnets))
            .send()
            .await
            .unwrap();
        let lb_arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string();
        let group = |name: String| {
            let elb = elb.clone();
            let vpc = vpc.clone();
            async move {
                elb.create_target_group()
                    .name(name)
                    .protocol(ProtocolEnum::Http)
                    .port(8080)
                    .vpc_id(vpc)
                    .target_type(TargetTypeEnum::Ip)
                    .send()
                    .await
                    .unwrap()
                    .target_groups()[0]
                    .target_group_arn()
                    .unwrap()
                    .to_string()
            }
        };
        let wake = group(unique("wake")).await;
        let service = group(unique("demo")).await;
        let listener = elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&wake)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .listeners()[0]
            .listener_arn()
            .unwrap()
            .to_string();
        World {
            elb,
            listener,
            wake,
            service,
        }
    }

    async fn router_at(&self, endpoint: &str) -> AlbRouter {
        AlbRouter::new(
            elb::Client::new(&sdk_config(endpoint).await),
            self.listener.clone(),
            self.wake.clone(),
        )
        .with_retry(RetryPolicy {
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            max_retries: 3,
            total_delay: Duration::from_secs(1),
        })
    }

    async fn router(&self) -> AlbRouter {
        self.router_at(moto_endpoint()).await
    }

    /// The listener's non-default rules: (priority, hosts, weights by group, tags).
    async fn rules(&self) -> Vec<(u32, Vec<String>, Vec<(String, i32)>, Vec<(String, String)>)> {
        let out = self
            .elb
            .describe_rules()
            .listener_arn(&self.listener)
            .send()
            .await
            .unwrap();
        let mut rules = Vec::new();
        for r in out.rules() {
            let Some(Ok(priority)) = r.priority().map(str::parse::<u32>) else {
                continue;
            };
            let hosts = r
                .conditions()
                .iter()
                .flat_map(|c| {
                    c.host_header_config()
                        .map(|h| h.values().to_vec())
                        .unwrap_or_default()
                })
                .collect();
            let weights = r.actions()[0]
                .forward_config()
                .map(|f| {
                    f.target_groups()
                        .iter()
                        .map(|t| {
                            (
                                t.target_group_arn().unwrap().to_string(),
                                t.weight().unwrap_or(1),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let tags = self
                .elb
                .describe_tags()
                .resource_arns(r.rule_arn().unwrap())
                .send()
                .await
                .unwrap()
                .tag_descriptions()[0]
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap().to_string(),
                        t.value().unwrap_or("").to_string(),
                    )
                })
                .collect();
            rules.push((priority, hosts, weights, tags));
        }
        rules.sort();
        rules
    }

    /// A rule of someone else's (no snooze tag) at `priority`.
    async fn foreign_rule(&self, priority: i32, host: &str) -> String {
        self.elb
            .create_rule()
            .listener_arn(&self.listener)
            .priority(priority)
            .conditions(
                RuleCondition::builder()
                    .field("host-header")
                    .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
                    .build(),
            )
            .actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&self.service)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .rules()[0]
            .rule_arn()
            .unwrap()
            .to_string()
    }

    fn weights(&self, wake: i32, service: i32) -> Vec<(String, i32)> {
        vec![(self.wake.clone(), wake), (self.service.clone(), service)]
    }
}

#[tokio::test]
async fn a_rule_is_created_tagged_switched_both_ways_and_collected() {
    let w = World::new().await;
    let router = w.router().await;
    let hosts = vec![HOST.to_string()];
    assert_eq!(
        router.observe(&hosts).await.unwrap(),
        vec![None],
        "no rule yet"
    );

    // Asleep: the rule is created, pointing at the wake group, the service's group referenced.
    router
        .point("demo", HOST, &RouteTarget::Wake, Some(&w.service))
        .await
        .unwrap();
    let rules = w.rules().await;
    assert_eq!(rules.len(), 1, "{rules:?}");
    let (priority, rule_hosts, weights, tags) = &rules[0];
    assert_eq!(
        (*priority, rule_hosts.as_slice()),
        (1, [HOST.to_string()].as_slice())
    );
    assert_eq!(*weights, w.weights(100, 0));
    assert!(tags.contains(&(HOST_TAG.into(), HOST.into())), "{tags:?}");
    assert!(
        tags.contains(&(RECORD_TAG.into(), "demo".into())),
        "{tags:?}"
    );
    assert_eq!(
        router.observe(&hosts).await.unwrap(),
        vec![Some(RouteTarget::Wake)]
    );

    // Ready: one ModifyRule moves the weight to the service.
    let to_service = RouteTarget::Service(w.service.clone());
    router
        .point("demo", HOST, &to_service, Some(&w.service))
        .await
        .unwrap();
    assert_eq!(w.rules().await[0].2, w.weights(0, 100));
    assert_eq!(
        router.observe(&hosts).await.unwrap(),
        vec![Some(to_service.clone())]
    );
    // Idle: back to the wake path (the decision knows the group from the observation; the
    // router also finds it in the rule when it is not given).
    router
        .point("demo", HOST, &RouteTarget::Wake, None)
        .await
        .unwrap();
    assert_eq!(w.rules().await[0].2, w.weights(100, 0));
    assert_eq!(w.rules().await.len(), 1, "switched, never re-created");

    // The record deleted: a full pass keeps nothing for it.
    let removed = router.retain(&BTreeSet::new()).await.unwrap();
    assert_eq!(removed, vec![HOST.to_string()]);
    assert!(w.rules().await.is_empty());
    assert_eq!(router.observe(&hosts).await.unwrap(), vec![None]);
}

#[tokio::test]
async fn a_rule_changed_by_someone_else_is_seen_and_put_back() {
    let w = World::new().await;
    let router = w.router().await;
    let hosts = vec![HOST.to_string()];
    router
        .point("demo", HOST, &RouteTarget::Wake, Some(&w.service))
        .await
        .unwrap();
    let arn = w
        .elb
        .describe_rules()
        .listener_arn(&w.listener)
        .send()
        .await
        .unwrap()
        .rules()
        .iter()
        .find(|r| r.is_default() != Some(true))
        .unwrap()
        .rule_arn()
        .unwrap()
        .to_string();
    // Someone splits the traffic in the console.
    let split = ForwardActionConfig::builder()
        .target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(&w.wake)
                .weight(50)
                .build(),
        )
        .target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(&w.service)
                .weight(50)
                .build(),
        )
        .build();
    w.elb
        .modify_rule()
        .rule_arn(&arn)
        .actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(split)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let seen = router.observe(&hosts).await.unwrap();
    let Some(RouteTarget::Service(what)) = &seen[0] else {
        panic!("{seen:?}")
    };
    assert!(what.contains("split"), "{what}");
    assert_ne!(seen[0], Some(RouteTarget::Service(w.service.clone())));
    // decide wants Wake: the router puts the rule back.
    router
        .point("demo", HOST, &RouteTarget::Wake, None)
        .await
        .unwrap();
    assert_eq!(w.rules().await[0].2, w.weights(100, 0));
    assert_eq!(
        router.observe(&hosts).await.unwrap(),
        vec![Some(RouteTarget::Wake)]
    );

    // Someone deletes the rule: observed as absent, and created again by the next point.
    w.elb.delete_rule().rule_arn(&arn).send().await.unwrap();
    assert_eq!(router.observe(&hosts).await.unwrap(), vec![None]);
    router
        .point("demo", HOST, &RouteTarget::Wake, Some(&w.service))
        .await
        .unwrap();
    assert_eq!(w.rules().await.len(), 1);
}

#[tokio::test]
async fn priorities_come_from_the_free_ones_over_pages_and_others_rules_are_left_alone() {
    let w = World::new().await;
    // Someone else's rules at 1, 2 and 4; the router reads 2 rules per page.
    for (p, h) in [
        (1, "a.example.com"),
        (2, "b.example.com"),
        (4, "c.example.com"),
    ] {
        w.foreign_rule(p, h).await;
    }
    let router = w.router().await.with_page_size(2);
    router
        .point("demo", HOST, &RouteTarget::Wake, Some(&w.service))
        .await
        .unwrap();
    router
        .point(
            "api",
            "api.example.com",
            &RouteTarget::Wake,
            Some(&w.service),
        )
        .await
        .unwrap();
    let mine: Vec<(u32, Vec<String>)> = w
        .rules()
        .await
        .into_iter()
        .filter(|r| r.3.iter().any(|(k, _)| k == HOST_TAG))
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(
        mine,
        vec![
            (3, vec![HOST.to_string()]),
            (5, vec!["api.example.com".to_string()])
        ]
    );
    // Observed across pages (6 rules with the default one, 2 per page).
    let hosts = vec!["api.example.com".to_string(), HOST.to_string()];
    assert_eq!(
        router.observe(&hosts).await.unwrap(),
        vec![Some(RouteTarget::Wake), Some(RouteTarget::Wake)]
    );
    // Collecting keeps what is claimed and never touches rules without the snooze tag.
    let keep = BTreeSet::from([HOST.to_string()]);
    assert_eq!(
        router.retain(&keep).await.unwrap(),
        vec!["api.example.com".to_string()]
    );
    let left: Vec<u32> = w.rules().await.into_iter().map(|r| r.0).collect();
    assert_eq!(left, vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn a_service_without_a_target_group_is_a_clear_error() {
    let w = World::new().await;
    let router = w.router().await;
    let e = router
        .point("demo", HOST, &RouteTarget::Wake, None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("no load balancer target group"),
        "{e}"
    );
    let e = router
        .point(
            "demo",
            HOST,
            &RouteTarget::Service("203.0.113.10:80".into()),
            None,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("203.0.113.10:80"), "{e}");
    assert!(w.rules().await.is_empty(), "nothing half-made");
}

// ---- a concurrent writer, played by a proxy in front of moto ------------------------------

/// What the proxy does with the next CreateRule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Race {
    /// Another writer creates a rule for another host at the same priority first.
    OtherHost,
    /// Another writer (a second reconciler) creates this very rule first.
    SameRule,
}

struct Proxy {
    client: reqwest::Client,
    race: std::sync::Mutex<Option<Race>>,
    creates: AtomicUsize,
}

async fn start_proxy(race: Race) -> (String, Arc<Proxy>) {
    let state = Arc::new(Proxy {
        client: reqwest::Client::new(),
        race: std::sync::Mutex::new(Some(race)),
        creates: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

async fn forward(
    axum::extract::State(st): axum::extract::State<Arc<Proxy>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    let url = format!(
        "{}{}",
        moto_endpoint(),
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let send = |body: String| {
        let mut up = st.client.request(parts.method.clone(), &url).body(body);
        for (k, v) in &parts.headers {
            if k != "host" && k != "content-length" {
                up = up.header(k, v);
            }
        }
        up.send()
    };
    if text.contains("Action=CreateRule") {
        st.creates.fetch_add(1, Ordering::SeqCst);
        let race = st.race.lock().unwrap().take();
        match race {
            Some(Race::OtherHost) => {
                let other = text
                    .replace("demo.example.com", "intruder.example.com")
                    .replace("snooze%3Ahost", "team%3Ahost");
                send(other).await.unwrap();
            }
            Some(Race::SameRule) => {
                send(text.clone()).await.unwrap();
            }
            None => {}
        }
    }
    let resp = send(text).await.expect("moto behind the proxy");
    let mut out = axum::response::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v);
        }
    }
    out.body(axum::body::Body::from(resp.bytes().await.unwrap()))
        .unwrap()
}

#[tokio::test]
async fn a_priority_taken_meanwhile_is_chosen_again_from_a_fresh_read() {
    let w = World::new().await;
    let (endpoint, proxy) = start_proxy(Race::OtherHost).await;
    let router = w.router_at(&endpoint).await;
    router
        .point("demo", HOST, &RouteTarget::Wake, Some(&w.service))
        .await
        .unwrap();
    assert_eq!(
        proxy.creates.load(Ordering::SeqCst),
        2,
        "one PriorityInUse, one create"
    );
    let rules = w.rules().await;
    let summary: Vec<(u32, &str)> = rules.iter().map(|r| (r.0, r.1[0].as_str())).collect();
    assert_eq!(summary, vec![(1, "intruder.example.com"), (2, HOST)]);
}

#[tokio::test]
async fn a_rule_created_meanwhile_by_another_writer_is_modified_not_duplicated() {
    let w = World::new().await;
    let (endpoint, _proxy) = start_proxy(Race::SameRule).await;
    let router = w.router_at(&endpoint).await;
    router
        .point(
            "demo",
            HOST,
            &RouteTarget::Service(w.service.clone()),
            Some(&w.service),
        )
        .await
        .unwrap();
    let rules = w.rules().await;
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].2, w.weights(0, 100));
}

#[tokio::test]
async fn target_health_is_read_per_group_and_a_missing_group_is_an_error() {
    let w = World::new().await;
    w.elb
        .register_targets()
        .target_group_arn(&w.service)
        .targets(
            elb::types::TargetDescription::builder()
                .id("10.0.0.5")
                .port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let router = w.router().await;
    let health = router
        .target_health(&[w.service.clone(), w.wake.clone()])
        .await
        .unwrap()
        .expect("the alb router reports target health");
    assert_eq!(health.len(), 2);
    let task = &health[0]["10.0.0.5"];
    assert!(task.is_healthy(), "{task:?}");
    assert!(health[1].is_empty(), "no targets in the wake group here");
    let gone = w.service.replace("/demo-", "/gone-");
    let e = router.target_health(&[gone]).await.unwrap_err();
    assert!(e.to_string().contains("TargetGroupNotFound"), "{e}");
}

/// The ELBv2 operations the reconciler declares (snooze::aws_calls::OPERATIONS, which the IAM
/// contract test reads) are exactly the ones the router makes over a rule's whole life.
#[tokio::test]
async fn the_operations_the_reconciler_declares_are_the_ones_the_router_calls() {
    let w = World::new().await;
    let counter = snooze::aws_calls::CallCounter::new();
    let router = AlbRouter::from_sdk_config(
        &sdk_config(moto_endpoint()).await,
        Some(&counter),
        w.listener.clone(),
        w.wake.clone(),
    );
    let hosts = vec![HOST.to_string()];
    router.observe(&hosts).await.unwrap();
    router
        .point("demo", HOST, &RouteTarget::Wake, Some(&w.service))
        .await
        .unwrap();
    router
        .target_health(std::slice::from_ref(&w.service))
        .await
        .unwrap();
    router
        .point("demo", HOST, &RouteTarget::Service(w.service.clone()), None)
        .await
        .unwrap();
    router.retain(&BTreeSet::new()).await.unwrap();
    let made: BTreeSet<String> = counter
        .snapshot()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(op, _)| op)
        .collect();
    let declared: BTreeSet<String> = snooze::aws_calls::declared(
        snooze::aws_calls::Principal::Reconciler,
        &["elasticloadbalancing"],
    )
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(
        made, declared,
        "update snooze::aws_calls::OPERATIONS (and infra/aws-operations.json, the IAM policy)"
    );
}
