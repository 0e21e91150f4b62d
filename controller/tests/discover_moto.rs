//! `snoozectl discover` end to end: the real binary against ECS on moto (through a proxy on
//! 127.0.0.1 that pages `ListServices` and `ListClusters`, which moto never pages, and counts
//! every request) and a temporary SQLite store.
//!
//! moto comes from `MOTO_ENDPOINT` (set by `scripts/test`); when unset, this binary starts one
//! from `.venv-moto` ([`snooze_test_support::moto_endpoint`]) and fails (never skips) when that
//! is missing. moto may be shared with other tests: every cluster name is unique, and the
//! selector tag's value is unique to the test, so a run over every cluster of the account
//! still selects only this test's services.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::types::Tag;
use futures::StreamExt as _;
use snooze::aws_calls::{Principal, declared};
use snooze::model::{Entry, Record, Target};
use snooze_test_support::{moto_endpoint, unique};

const BIN: &str = env!("CARGO_BIN_EXE_snoozectl");
/// Items per page the proxy answers ListServices and ListClusters with.
const PAGE: usize = 10;

// ---------------------------------------------------------------------------------------------
// the proxy: pages ListServices/ListClusters, counts requests by operation (and cluster)

#[derive(Default)]
struct Proxy {
    /// Every request: (operation, the request's `cluster` or "").
    requests: Mutex<Vec<(String, String)>>,
    /// ListServices answers every page with the same token (a pagination bug).
    stuck_token: std::sync::atomic::AtomicBool,
    /// The next this many DescribeServices requests are answered with throttling.
    throttle: AtomicUsize,
}

impl Proxy {
    /// Requests of `operation` for one of `clusters` (by name).
    fn count(&self, operation: &str, clusters: &[&str]) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(op, c)| op == operation && clusters.contains(&c.rsplit('/').next().unwrap()))
            .count()
    }

    fn operations(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (op, _) in self.requests.lock().unwrap().iter() {
            *out.entry(op.clone()).or_default() += 1;
        }
        out
    }

    fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

async fn start_proxy() -> (String, Arc<Proxy>) {
    let state = Arc::new(Proxy::default());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

const PAGE_TOKEN: &str = "proxy-page:";

async fn forward(
    axum::extract::State(st): axum::extract::State<Arc<Proxy>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    if operation == "DescribeServices"
        && st
            .throttle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        st.requests
            .lock()
            .unwrap()
            .push(("DescribeServices (throttled)".into(), String::new()));
        return axum::response::Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.1")
            .body(axum::body::Body::from(
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ))
            .unwrap();
    }
    let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    st.requests.lock().unwrap().push((
        operation.clone(),
        json["cluster"].as_str().unwrap_or_default().to_owned(),
    ));
    // Paged here: the request goes to moto without token and limit, its answer is cut.
    let list_key = match operation.as_str() {
        "ListServices" => Some("serviceArns"),
        "ListClusters" => Some("clusterArns"),
        _ => None,
    };
    let mut page = None;
    let body = match list_key {
        Some(key) => {
            let offset = json["nextToken"]
                .as_str()
                .and_then(|t| t.strip_prefix(PAGE_TOKEN))
                .map_or(0, |n| n.parse::<usize>().expect("our own token"));
            let size = json["maxResults"]
                .as_u64()
                .map_or(PAGE, |m| PAGE.min(m as usize));
            let obj = json.as_object_mut().unwrap();
            obj.remove("nextToken");
            obj.remove("maxResults");
            page = Some((key, offset, size));
            serde_json::to_vec(&json).unwrap().into()
        }
        None => body,
    };
    let url = format!(
        "{}{}",
        moto_endpoint(),
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut up = reqwest::Client::new().request(parts.method, url).body(body);
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            up = up.header(k, v);
        }
    }
    let resp = up.send().await.expect("moto behind the proxy");
    let mut out = axum::response::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v);
        }
    }
    let mut bytes = resp.bytes().await.unwrap().to_vec();
    if let Some((key, offset, size)) = page
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(all) = v[key].as_array().cloned()
    {
        v[key] = all.iter().skip(offset).take(size).cloned().collect();
        if offset + size < all.len() {
            v["nextToken"] = format!("{PAGE_TOKEN}{}", offset + size).into();
        }
        if key == "serviceArns" && st.stuck_token.load(Ordering::SeqCst) {
            v["nextToken"] = format!("{PAGE_TOKEN}0").into();
        }
        bytes = serde_json::to_vec(&v).unwrap();
    }
    out.body(axum::body::Body::from(bytes)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// the fleet

struct Fleet {
    endpoint: String,
    proxy: Arc<Proxy>,
    ecs: aws_sdk_ecs::Client,
    clusters: [String; 2],
    /// The selector, `snooze.enable=<unique value>`.
    selector: String,
    dir: tempfile::TempDir,
}

impl Fleet {
    /// `n` services over two clusters (`svc-000`, ... alternately), every other pair tagged
    /// with the selector (`i % 4 < 2`: about half of them, 63 in each cluster).
    async fn new(n: usize) -> Fleet {
        let (endpoint, proxy) = start_proxy().await;
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(moto_endpoint())
            .test_credentials()
            .load()
            .await;
        let ecs = aws_sdk_ecs::Client::new(&conf);
        // moto matches clusters by substring: equally long unique names never contain each other.
        let clusters = [unique("disc-a"), unique("disc-b")];
        for c in &clusters {
            ecs.create_cluster().cluster_name(c).send().await.unwrap();
        }
        let family = unique("td-disc");
        ecs.register_task_definition()
            .family(&family)
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image("nginx")
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let value = unique("run");
        let jobs: Vec<usize> = (0..n).collect();
        futures::stream::iter(jobs)
            .map(|i| {
                let (ecs, family, clusters, value) = (&ecs, &family, &clusters, &value);
                async move {
                    let mut req = ecs
                        .create_service()
                        .cluster(&clusters[i % 2])
                        .service_name(format!("svc-{i:03}"))
                        .task_definition(family)
                        .desired_count(0);
                    if i % 4 < 2 {
                        req = req.tags(Tag::builder().key("snooze.enable").value(value).build());
                    }
                    req.send().await.unwrap();
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
        Fleet {
            endpoint,
            proxy,
            ecs,
            clusters,
            selector: format!("snooze.enable={value}"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn store_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("snooze.db").display())
    }

    fn arn(&self, i: usize) -> String {
        format!(
            "arn:aws:ecs:us-east-1:123456789012:service/{}/svc-{i:03}",
            self.clusters[i % 2]
        )
    }

    /// Runs `snoozectl --store ... --endpoint-url PROXY discover --tag SELECTOR <args>`.
    fn discover(&self, args: &[&str]) -> Out {
        let mut all = vec!["discover", "--tag", &self.selector];
        all.extend_from_slice(args);
        self.ctl(&all)
    }

    fn ctl(&self, args: &[&str]) -> Out {
        let out = Command::new(BIN)
            .args([
                "--store",
                &self.store_url(),
                "--endpoint-url",
                &self.endpoint,
            ])
            .args(["--region", "us-east-1"])
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("SNOOZE_STORE")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run snoozectl");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn records(&self) -> BTreeMap<String, Record> {
        let store = snooze::store::connect(&self.store_url(), &Default::default())
            .await
            .unwrap();
        store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|e| match e {
                Entry::Record(r) => (r.name().to_string(), *r),
                Entry::Malformed(m) => panic!("malformed {m:?}"),
            })
            .collect()
    }
}

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn lines_ending(&self, suffix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.ends_with(suffix))
            .collect()
    }
}

fn operator_manifest(cluster: &str) -> String {
    format!(
        "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: frontend-op\nspec:\n  target:\n    \
         ecs:\n      cluster: {cluster}\n      service: svc-000\n  replicas: 3\n  idleTimeout: 2h\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_of_250_is_onboarded_once_and_an_operators_record_is_left_alone() {
    let fleet = Fleet::new(250).await;
    let [a, b] = [fleet.clusters[0].as_str(), fleet.clusters[1].as_str()];
    // 126 tagged: svc-000 has the operator's record, svc-001 a bad idle timeout.
    let manifest = fleet.dir.path().join("op.yaml");
    std::fs::write(&manifest, operator_manifest(a)).unwrap();
    let applied = fleet.ctl(&["apply", "-f", manifest.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:#?}");
    fleet
        .ecs
        .tag_resource()
        .resource_arn(fleet.arn(1))
        .tags(
            Tag::builder()
                .key("snooze.idle-timeout")
                .value("soon")
                .build(),
        )
        .send()
        .await
        .unwrap();

    // 1. Dry run (the default) over every cluster of the account: lists exactly the tagged
    // services, writes nothing.
    fleet.proxy.clear();
    let dry = fleet.discover(&[]);
    assert_eq!(dry.code, 1, "a service was skipped: {dry:#?}");
    let would = dry.lines_ending(" created (dry run)");
    assert_eq!(would.len(), 124, "{dry:#?}");
    let expected: Vec<String> = (2..250)
        .filter(|i| i % 4 < 2)
        .map(|i| format!("service/svc-{i:03} created (dry run)"))
        .collect();
    let mut got: Vec<String> = would.iter().map(|s| s.to_string()).collect();
    got.sort();
    assert_eq!(got, expected);
    assert!(
        dry.stdout.contains(&format!(
            "service/frontend-op unchanged (ecs:{a}/svc-000 is already managed by service/frontend-op)"
        )),
        "{dry:#?}"
    );
    assert!(
        dry.stderr.contains(&format!(
            "{}: tag snooze.idle-timeout=\"soon\": \"soon\" is not a duration",
            fleet.arn(1)
        )),
        "{dry:#?}"
    );
    assert_eq!(fleet.records().await.len(), 1, "a dry run writes nothing");
    // Pagination: 125 services per cluster in pages of 10 is 13 ListServices calls each, and 13
    // DescribeServices calls of 10.
    assert_eq!(fleet.proxy.count("ListServices", &[a]), 13);
    assert_eq!(fleet.proxy.count("ListServices", &[b]), 13);
    assert_eq!(fleet.proxy.count("DescribeServices", &[a, b]), 26);
    assert!(fleet.proxy.count("ListClusters", &[""]) >= 1);
    // Every operation it called is declared for the operator (infra/aws-operations.json).
    let ops = fleet.proxy.operations();
    let allowed = declared(Principal::Operator, &["ecs"]);
    for op in ops.keys() {
        assert!(
            allowed.contains(op.as_str()),
            "{op} is not declared: {ops:?}"
        );
    }
    assert_eq!(
        allowed,
        ["DescribeServices", "ListClusters", "ListServices"].into()
    );

    // 2. -o yaml prints the manifests, which `snoozectl apply -f` takes.
    let yaml = fleet.discover(&["--cluster", a, "--cluster", b, "-o", "yaml"]);
    assert_eq!(yaml.code, 1, "{yaml:#?}");
    let records =
        snooze::model::parse_manifests(&yaml.stdout, "discover -o yaml").expect("valid manifests");
    assert_eq!(records.len(), 124);
    assert!(yaml.stderr.contains("note: service/frontend-op unchanged"));

    // 3. --apply creates them; the operator's record is untouched.
    fleet.proxy.clear();
    let applied = fleet.discover(&["--cluster", a, "--cluster", b, "--apply"]);
    assert_eq!(applied.code, 1, "{applied:#?}");
    assert_eq!(applied.lines_ending(" created").len(), 124, "{applied:#?}");
    assert_eq!(
        fleet.proxy.count("ListClusters", &[""]),
        0,
        "--cluster lists no clusters"
    );
    let stored = fleet.records().await;
    assert_eq!(stored.len(), 125);
    let op = &stored["frontend-op"];
    assert_eq!(
        (op.spec.replicas, op.spec.idle_timeout.to_string().as_str()),
        (3, "2h")
    );
    assert!(!stored.contains_key("svc-000") && !stored.contains_key("svc-001"));
    let Target::Ecs(t) = &stored["svc-004"].spec.target else {
        panic!()
    };
    assert_eq!((t.cluster.as_str(), t.service.as_str()), (a, "svc-004"));

    // 4. A second run creates nothing: every service is unchanged.
    let again = fleet.discover(&["--cluster", a, "--cluster", b, "--apply"]);
    assert_eq!(again.code, 1, "still the bad tag: {again:#?}");
    assert_eq!(again.lines_ending(" created").len(), 0, "{again:#?}");
    assert_eq!(again.lines_ending(")").len(), 125, "{again:#?}");
    assert_eq!(fleet.records().await.len(), 125);

    // 5. The tag fixed, its service is created, and then everything is unchanged: exit 0.
    fleet
        .ecs
        .tag_resource()
        .resource_arn(fleet.arn(1))
        .tags(
            Tag::builder()
                .key("snooze.idle-timeout")
                .value("20m")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let fixed = fleet.discover(&["--cluster", a, "--cluster", b, "--apply"]);
    assert_eq!(fixed.code, 0, "{fixed:#?}");
    assert_eq!(fixed.lines_ending(" created"), ["service/svc-001 created"]);
    assert_eq!(
        fleet.records().await["svc-001"]
            .spec
            .idle_timeout
            .to_string(),
        "20m"
    );
    let last = fleet.discover(&["--cluster", a, "--cluster", b, "--apply"]);
    assert_eq!(last.code, 0, "{last:#?}");
    assert!(
        last.stdout.lines().all(|l| l.contains(" unchanged (")),
        "{last:#?}"
    );
    assert_eq!(last.stdout.lines().count(), 126);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_is_retried_and_an_endless_listing_stops_with_nothing_created() {
    let fleet = Fleet::new(24).await;
    let [a, b] = [fleet.clusters[0].as_str(), fleet.clusters[1].as_str()];
    let init = fleet.ctl(&["init"]);
    assert_eq!(init.code, 0, "{init:#?}");

    // Throttled DescribeServices calls are retried: the run still sees every tagged service.
    fleet.proxy.throttle.store(2, Ordering::SeqCst);
    let dry = fleet.discover(&["--cluster", a, "--cluster", b]);
    assert_eq!(dry.code, 0, "{dry:#?}");
    assert_eq!(dry.lines_ending(" created (dry run)").len(), 12, "{dry:#?}");
    assert_eq!(fleet.proxy.operations()["DescribeServices (throttled)"], 2);
    assert!(
        dry.stderr.contains("DescribeServices 6"),
        "4 calls + 2 retries: {dry:#?}"
    );

    // One cluster named twice, by name and by ARN: each service once.
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{a}");
    let twice = fleet.discover(&["--cluster", a, "--cluster", &arn]);
    assert_eq!(twice.code, 0, "{twice:#?}");
    assert_eq!(
        twice.lines_ending(" created (dry run)").len(),
        6,
        "{twice:#?}"
    );

    // ListServices that never ends (its token comes back): an error naming the call, and
    // nothing created from a partial list.
    fleet.proxy.stuck_token.store(true, Ordering::SeqCst);
    let stuck = fleet.discover(&["--cluster", a, "--apply"]);
    assert_eq!(stuck.code, 1, "{stuck:#?}");
    assert!(
        stuck
            .stderr
            .contains(&format!("cannot list the services of ECS cluster {a}"))
            && stuck
                .stderr
                .contains("PaginationRepeatedToken: ListServices"),
        "{stuck:#?}"
    );
    assert!(fleet.records().await.is_empty());
}
