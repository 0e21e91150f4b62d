//! AWS faults that moto cannot produce, fed to the real ECS platform and DynamoDB store code
//! through a fake HTTP client (the SDKs' own `HttpClient` seam, `http_client_fn`): the SDK
//! serialises the real requests and parses the canned answers, so everything from the request
//! builders to the platform's retry, pagination guard and batch lookups runs as against AWS.
//!
//! - a `ListTasks` that returns the same `nextToken` again, or a new one for ever;
//! - a DynamoDB `Scan` whose `LastEvaluatedKey` repeats;
//! - an EC2 `DescribeNetworkInterfaces` batch failing with
//!   `InvalidNetworkInterfaceID.NotFound` for one of its members;
//! - ECS throttling reported as `ClientException: Rate exceeded`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};

use snooze::model::{EcsTarget, Target};
use snooze::platform::ecs::{EcsPlatform, RetryPolicy};
use snooze::platform::{Error, Observed, PaginationError, Platform, ServiceObservation};
use snooze::store::Store;
use snooze::store::dynamodb::DynamoStore;

/// One request as the fake server sees it: the operation (ECS/DynamoDB `X-Amz-Target` suffix or
/// EC2 `Action`), and the body.
#[derive(Clone, Debug)]
struct Req {
    op: String,
    body: String,
}

type Handler = dyn Fn(&Req) -> (u16, String) + Send + Sync;

struct Fake {
    handler: Box<Handler>,
    log: Mutex<Vec<Req>>,
}

impl std::fmt::Debug for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fake")
    }
}

#[derive(Clone, Debug)]
struct Conn(Arc<Fake>);

impl HttpConnector for Conn {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
        let op = match request.headers().get("x-amz-target") {
            Some(t) => t.rsplit('.').next().unwrap_or_default().to_string(),
            None => form_value(&body, "Action").unwrap_or_default(),
        };
        let req = Req { op, body };
        let (status, text) = (self.0.handler)(&req);
        self.0.log.lock().unwrap().push(req);
        let mut resp = HttpResponse::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::from(text),
        );
        resp.headers_mut().insert("x-amzn-requestid", "req-fake");
        HttpConnectorFuture::ready(Ok(resp))
    }
}

fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// The `network-interface-id` filter values of an EC2 form body.
fn filter_values(body: &str) -> Vec<String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| k.starts_with("Filter.1.Value."))
        .map(|(_, v)| v.to_string())
        .collect()
}

fn fake(
    handler: impl Fn(&Req) -> (u16, String) + Send + Sync + 'static,
) -> (SharedHttpClient, Arc<Fake>) {
    let f = Arc::new(Fake {
        handler: Box::new(handler),
        log: Mutex::new(Vec::new()),
    });
    let conn = Conn(f.clone());
    (
        http_client_fn(move |_, _| SharedHttpConnector::new(conn.clone())),
        f,
    )
}

fn calls(f: &Fake, op: &str) -> Vec<Req> {
    f.log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.op == op)
        .cloned()
        .collect()
}

fn platform(http: SharedHttpClient) -> EcsPlatform {
    let creds = aws_sdk_ecs::config::Credentials::new("test", "test", None, None, "test");
    let ecs = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("us-east-1"))
        .credentials_provider(creds.clone())
        .http_client(http.clone())
        .build();
    let ec2 = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .http_client(http)
        .build();
    EcsPlatform::new(
        aws_sdk_ecs::Client::from_conf(ecs),
        aws_sdk_ec2::Client::from_conf(ec2),
    )
    .with_retry(RetryPolicy {
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_retries: 3,
        total_delay: Duration::from_millis(50),
    })
}

fn target(service: &str) -> Target {
    Target::Ecs(EcsTarget {
        cluster: "c".into(),
        service: service.into(),
    })
}

fn task_arn(service: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/c/{service}0000000000000000000000000000")
}

fn eni_of(service: &str) -> String {
    format!("eni-0{}", if service == "s1" { "a1" } else { "b2" })
}

/// DescribeServices: every asked-for service ACTIVE with one task wanted and running.
fn describe_services(req: &Req) -> String {
    let asked: Value = serde_json::from_str(&req.body).unwrap();
    let services: Vec<Value> = asked["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!({"serviceName": s, "status": "ACTIVE", "desiredCount": 1, "runningCount": 1,
                   "pendingCount": 0, "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY",
                   "desiredCount": 1, "runningCount": 1, "pendingCount": 0,
                   "createdAt": 1795000000.0, "updatedAt": 1795000060.5,
                   "rolloutState": "COMPLETED"}]})
        })
        .collect();
    json!({"services": services, "failures": []}).to_string()
}

/// DescribeTasks: one RUNNING task per service, with its ENI attachment.
fn describe_tasks(req: &Req) -> String {
    let asked: Value = serde_json::from_str(&req.body).unwrap();
    let tasks: Vec<Value> = asked["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            let service = if a.contains("/s1") { "s1" } else { "s2" };
            json!({"taskArn": a, "group": format!("service:{service}"), "lastStatus": "RUNNING",
                   "desiredStatus": "RUNNING", "createdAt": 1795000000.0, "startedAt": 1795000030.0,
                   "attachments": [{"type": "ElasticNetworkInterface", "status": "ATTACHED",
                     "details": [{"name": "networkInterfaceId", "value": eni_of(service)},
                                 {"name": "privateIPv4Address", "value": format!("10.0.0.{}", &service[1..])}]}]})
        })
        .collect();
    json!({"tasks": tasks, "failures": []}).to_string()
}

fn list_tasks_of(req: &Req) -> (String, bool) {
    let asked: Value = serde_json::from_str(&req.body).unwrap();
    (
        asked["serviceName"].as_str().unwrap().to_string(),
        asked["desiredStatus"] == "STOPPED",
    )
}

fn enis_xml(ids: &[String]) -> String {
    let items: String = ids
        .iter()
        .map(|id| {
            let n = if id.ends_with("a1") { 1 } else { 2 };
            format!(
                "<item><networkInterfaceId>{id}</networkInterfaceId><privateIpAddress>10.0.0.{n}</privateIpAddress><association><publicIp>203.0.113.{n}</publicIp></association></item>"
            )
        })
        .collect();
    format!(
        "<DescribeNetworkInterfacesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><networkInterfaceSet>{items}</networkInterfaceSet></DescribeNetworkInterfacesResponse>"
    )
}

fn ec2_error(code: &str, message: &str) -> (u16, String) {
    (
        400,
        format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>"
        ),
    )
}

fn found(o: &Observed) -> &ServiceObservation {
    match o {
        Observed::Found(s) => s,
        other => panic!("expected Found, got {other:?}"),
    }
}

/// The usual answers; `list` answers ListTasks(RUNNING) for a service with the request,
/// `enis` DescribeNetworkInterfaces with the filter values.
fn world(
    list: impl Fn(&str, &Req) -> (u16, String) + Send + Sync + 'static,
    enis: impl Fn(&[String]) -> (u16, String) + Send + Sync + 'static,
) -> impl Fn(&Req) -> (u16, String) + Send + Sync + 'static {
    move |req: &Req| match req.op.as_str() {
        "DescribeServices" => (200, describe_services(req)),
        "ListTasks" => {
            let (service, stopped) = list_tasks_of(req);
            if stopped {
                (200, json!({"taskArns": []}).to_string())
            } else {
                list(&service, req)
            }
        }
        "DescribeTasks" => (200, describe_tasks(req)),
        "DescribeNetworkInterfaces" => enis(&filter_values(&req.body)),
        other => panic!("unexpected call {other}"),
    }
}

fn all_enis(ids: &[String]) -> (u16, String) {
    (200, enis_xml(ids))
}

#[tokio::test]
async fn list_tasks_repeating_its_next_token_is_a_pagination_error_for_that_service_only() {
    let (http, f) = fake(world(
        |service, _| {
            let arns = vec![task_arn(service)];
            if service == "s1" {
                // Page 1 says "more after tok-A"; page 2 (asked with tok-A) says tok-A again.
                (
                    200,
                    json!({"taskArns": arns, "nextToken": "tok-A"}).to_string(),
                )
            } else {
                (200, json!({"taskArns": arns}).to_string())
            }
        },
        all_enis,
    ));
    let p = platform(http);
    let got = p.observe(&[target("s1"), target("s2")]).await.unwrap();
    match &got[0] {
        Observed::Error(Error::Pagination(PaginationError::RepeatedToken {
            operation,
            token,
            page,
            first_seen,
        })) => {
            assert_eq!(
                (*operation, token.as_str(), *page, *first_seen),
                ("ListTasks", "\"tok-A\"", 2, 1)
            );
        }
        other => panic!("s1 should fail with a repeated token, got {other:?}"),
    }
    if let Observed::Error(e) = &got[0] {
        assert_eq!(e.code(), "PaginationRepeatedToken");
        assert!(
            e.to_string()
                .contains("ListTasks returned the continuation token")
        );
    }
    // The other service of the pass is observed as usual.
    let s2 = found(&got[1]);
    assert_eq!(s2.tasks.len(), 1);
    assert_eq!(s2.tasks[0].public_ip.as_deref(), Some("203.0.113.2"));
    assert_eq!(
        s2.primary_deployment()
            .map(|d| d.updated_at.unwrap().to_string()),
        Some("2026-11-18T11:07:40.500Z".to_string())
    );
    let s1_lists = calls(&f, "ListTasks")
        .into_iter()
        .filter(|r| r.body.contains("\"s1\"") && r.body.contains("RUNNING"))
        .count();
    assert_eq!(s1_lists, 2, "stopped at the second page");
}

#[tokio::test]
async fn list_tasks_with_endless_new_tokens_stops_at_the_page_limit() {
    let n = Arc::new(Mutex::new(0u64));
    let m = n.clone();
    let (http, _f) = fake(world(
        move |service, _| {
            let mut n = m.lock().unwrap();
            *n += 1;
            (
                200,
                json!({"taskArns": [task_arn(service)], "nextToken": format!("tok-{n}")})
                    .to_string(),
            )
        },
        all_enis,
    ));
    let p = platform(http);
    let got = p.observe(&[target("s1")]).await.unwrap();
    assert_eq!(
        got[0],
        Observed::Error(Error::Pagination(PaginationError::TooManyPages {
            operation: "ListTasks",
            limit: snooze::pages::LIST_TASKS_MAX_PAGES,
        }))
    );
    assert_eq!(
        *n.lock().unwrap(),
        snooze::pages::LIST_TASKS_MAX_PAGES as u64
    );
}

#[tokio::test]
async fn an_eni_ec2_does_not_know_yet_does_not_hide_the_other_members_of_its_batch() {
    let (http, f) = fake(world(
        |service, _| (200, json!({"taskArns": [task_arn(service)]}).to_string()),
        |ids: &[String]| {
            if ids.iter().any(|i| i == "eni-0b2") {
                ec2_error(
                    "InvalidNetworkInterfaceID.NotFound",
                    "The networkInterface ID 'eni-0b2' does not exist",
                )
            } else {
                all_enis(ids)
            }
        },
    ));
    let p = platform(http);
    let got = p.observe(&[target("s1"), target("s2")]).await.unwrap();
    let s1 = &found(&got[0]).tasks[0];
    assert_eq!(s1.public_ip.as_deref(), Some("203.0.113.1"));
    assert!(!s1.address_unknown);
    let s2 = &found(&got[1]).tasks[0];
    assert_eq!(
        (
            s2.public_ip.as_deref(),
            s2.private_ip.as_deref(),
            s2.address_unknown
        ),
        (None, Some("10.0.0.2"), true)
    );
    let asked: Vec<Vec<String>> = calls(&f, "DescribeNetworkInterfaces")
        .iter()
        .map(|r| filter_values(&r.body))
        .collect();
    assert_eq!(
        asked,
        vec![
            vec!["eni-0a1".to_string(), "eni-0b2".to_string()],
            vec!["eni-0a1".to_string()]
        ]
    );
}

#[tokio::test]
async fn an_unnamed_not_found_is_resolved_member_by_member() {
    let (http, _f) = fake(world(
        |service, _| (200, json!({"taskArns": [task_arn(service)]}).to_string()),
        |ids: &[String]| {
            if ids.iter().any(|i| i == "eni-0b2") {
                ec2_error("InvalidNetworkInterfaceID.NotFound", "not found")
            } else {
                all_enis(ids)
            }
        },
    ));
    let p = platform(http);
    let got = p.observe(&[target("s1"), target("s2")]).await.unwrap();
    assert_eq!(
        found(&got[0]).tasks[0].public_ip.as_deref(),
        Some("203.0.113.1")
    );
    assert!(found(&got[1]).tasks[0].address_unknown);
}

#[tokio::test]
async fn ecs_rate_exceeded_as_client_exception_is_retried_as_throttling() {
    let first = Arc::new(Mutex::new(true));
    let (http, _f) = fake(move |req: &Req| match req.op.as_str() {
        "DescribeServices" if std::mem::replace(&mut *first.lock().unwrap(), false) => (
            400,
            json!({"__type": "ClientException", "message": "Rate exceeded"}).to_string(),
        ),
        "DescribeServices" => (200, describe_services(req)),
        "ListTasks" => (200, json!({"taskArns": []}).to_string()),
        other => panic!("unexpected {other}"),
    });
    let p = platform(http);
    let got = p.observe(&[target("s1")]).await.unwrap();
    assert_eq!(found(&got[0]).desired_count, 1);
    assert_eq!(p.throttled()["DescribeServices"], 1);
    assert_eq!(p.calls()["DescribeServices"], 2);
}

#[tokio::test]
async fn a_scan_whose_last_evaluated_key_repeats_is_an_error_not_a_loop() {
    let (http, f) = fake(|req: &Req| {
        assert_eq!(req.op, "Scan");
        (
            200,
            json!({"Items": [], "Count": 0, "ScannedCount": 0,
                   "LastEvaluatedKey": {"name": {"S": "same"}}})
            .to_string(),
        )
    });
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .http_client(http)
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), "snooze");
    let e = store.list().await.unwrap_err();
    assert_eq!(e.code(), "PaginationRepeatedToken");
    assert!(
        e.to_string()
            .contains("Scan returned the continuation token"),
        "{e}"
    );
    assert_eq!(calls(&f, "Scan").len(), 2);
}

#[tokio::test]
async fn a_listed_task_that_describe_tasks_reports_missing_fails_only_its_service() {
    let base = world(
        |service, _| (200, json!({"taskArns": [task_arn(service)]}).to_string()),
        all_enis,
    );
    let (http, _f) = fake(move |req: &Req| {
        if req.op == "DescribeTasks" {
            // ECS right after a task starts: listed, but not described yet.
            let mut v: Value = serde_json::from_str(&describe_tasks(req)).unwrap();
            v["tasks"]
                .as_array_mut()
                .unwrap()
                .retain(|t| !t["taskArn"].as_str().unwrap().contains("/s2"));
            v["failures"] = json!([{"arn": task_arn("s2"), "reason": "MISSING"}]);
            return (200, v.to_string());
        }
        base(req)
    });
    let p = platform(http);
    let got = p.observe(&[target("s1"), target("s2")]).await.unwrap();
    assert_eq!(found(&got[0]).tasks.len(), 1, "the other service is whole");
    match &got[1] {
        // Not a service without its task (a Ready record would leave Ready): unobserved.
        Observed::Error(e) => assert!(e.to_string().contains("MISSING"), "{e}"),
        other => panic!("expected an error for s2, got {other:?}"),
    }
}
