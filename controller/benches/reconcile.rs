//! Benchmark: one full reconcile pass over N records on the simulated ECS with 20 ms latency
//! per API call and the documented ECS token buckets. Prints wall time, calls per operation
//! and peak RSS (VmHWM), each size in a fresh process.
//!
//! ```text
//! cargo bench -p snooze --bench reconcile                 # 100, 1,000 and 10,000 records
//! cargo bench -p snooze --bench reconcile -- --sizes 1000 # chosen sizes
//! ```
//!
//! Under `cargo test` (no `--bench` argument) it runs one small size as a smoke test and
//! checks the call-count bounds, so the benchmark cannot silently rot.
//!
//! The scenario per size N, in 10 clusters: 10% of the services are awake and stay awake
//! (fresh activity), 0.5% get a wake request (scale up), 0.5% went idle (scale down), the rest
//! are asleep. Records and services are first brought to that state without latency or
//! throttling; then the measured pass runs with latency and buckets on.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use snooze::clock::SimClock;
use snooze::model::{EcsTarget, Record, Target};
use snooze::platform::sim::{BucketConfig, Op, SimConfig, SimPlatform};
use snooze::reconcile::{Reconciler, Scope, StaticProber};
use snooze::store::{MemoryStore, Store};

const CLUSTERS: usize = 10;
const LATENCY: Duration = Duration::from_millis(20);

struct Figures {
    size: usize,
    wall: Duration,
    calls: Vec<(Op, u64, u64)>,
    scaled_up: usize,
    scaled_down: usize,
    errors: usize,
    peak_rss_kib: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(n) = value("--size") {
        let n: usize = n.parse().expect("--size N");
        let f = run(n, LATENCY, true);
        print_machine(&f);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test`: a small smoke run that checks the bounds.
        let f = run(200, Duration::ZERO, true);
        check(&f);
        println!(
            "reconcile bench smoke: {} records, {} DescribeServices calls, {} errors: ok",
            f.size,
            f.calls
                .iter()
                .find(|c| c.0 == Op::DescribeServices)
                .unwrap()
                .1,
            f.errors
        );
        return;
    }
    let sizes: Vec<usize> = value("--sizes")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().parse().expect("--sizes 100,1000"))
                .collect()
        })
        .unwrap_or_else(|| vec![100, 1_000, 10_000]);
    let exe = std::env::current_exe().expect("current exe");
    println!(
        "reconcile pass on sim: {CLUSTERS} clusters, {} ms latency per call, ECS token buckets (burst/sustained: \
         DescribeServices, ListTasks, DescribeTasks, DescribeNetworkInterfaces 100/20 per s; UpdateService 50/5 per s)",
        LATENCY.as_millis()
    );
    println!(
        "{:>7} {:>9} {:>17} {:>10} {:>14} {:>26} {:>14} {:>9} {:>6} {:>9}",
        "records",
        "wall s",
        "DescribeServices",
        "ListTasks",
        "DescribeTasks",
        "DescribeNetworkInterfaces",
        "UpdateService",
        "throttled",
        "errors",
        "peak MiB"
    );
    for n in sizes {
        let out = Command::new(&exe)
            .args(["--size", &n.to_string()])
            .output()
            .expect("run a size in a fresh process");
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            eprintln!("size {n} failed: {}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        let get = |k: &str| -> String {
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_string))
                .unwrap_or_default()
        };
        let limit = n.div_ceil(CLUSTERS).div_ceil(10) * CLUSTERS;
        println!(
            "{:>7} {:>9} {:>17} {:>10} {:>14} {:>26} {:>14} {:>9} {:>6} {:>9}",
            n,
            get("wall_s"),
            format!("{} (≤{limit})", get("DescribeServices")),
            get("ListTasks"),
            get("DescribeTasks"),
            get("DescribeNetworkInterfaces"),
            get("UpdateService"),
            get("throttled"),
            get("errors"),
            get("peak_mib"),
        );
    }
}

fn print_machine(f: &Figures) {
    let mut line = format!("size={} wall_s={:.2}", f.size, f.wall.as_secs_f64());
    let mut throttled = 0;
    for (op, ok, thr) in &f.calls {
        line.push_str(&format!(" {}={ok}", op.as_str()));
        throttled += thr;
    }
    line.push_str(&format!(
        " throttled={throttled} up={} down={} errors={} peak_mib={:.1}",
        f.scaled_up,
        f.scaled_down,
        f.errors,
        f.peak_rss_kib as f64 / 1024.0
    ));
    println!("{line}");
}

fn check(f: &Figures) {
    let per_cluster = f.size.div_ceil(CLUSTERS);
    let describe = f
        .calls
        .iter()
        .find(|c| c.0 == Op::DescribeServices)
        .unwrap()
        .1;
    assert!(
        describe as usize <= per_cluster.div_ceil(10) * CLUSTERS,
        "DescribeServices {describe} > ⌈{per_cluster}/10⌉ × {CLUSTERS}"
    );
    assert_eq!(f.errors, 0, "no record failed");
    assert_eq!(f.scaled_up, f.size / 200, "wakes scaled up");
    assert_eq!(f.scaled_down, f.size / 200, "idle services scaled down");
}

fn record(i: usize) -> Record {
    let mut r = Record::test(&format!("svc-{i:05}"));
    r.spec.target = Target::Ecs(EcsTarget {
        cluster: format!("cluster-{}", (i / 10) % CLUSTERS),
        service: format!("svc-{i:05}"),
    });
    r
}

fn run(n: usize, latency: Duration, buckets: bool) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let clock = SimClock::default_start();
        let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
        let store = Arc::new(MemoryStore::new());
        let reconciler = Reconciler::new(
            store.clone(),
            sim.clone(),
            Arc::new(StaticProber::new()),
            clock.clone(),
        );
        let awake = |i: usize| i.is_multiple_of(10); // stays awake
        let to_sleep = |i: usize| i % 200 == 5; // awake, then idle
        let to_wake = |i: usize| i % 200 == 7; // asleep, then woken
        for i in 0..n {
            let r = record(i);
            if let Target::Ecs(t) = &r.spec.target {
                sim.add_service(&t.cluster, &t.service);
            }
            store.put(r);
            if awake(i) || to_sleep(i) {
                store
                    .record_wake(&format!("svc-{i:05}"), clock.now(), Duration::ZERO)
                    .await
                    .unwrap();
            }
        }
        // Bring everything to steady state: scale up, tasks running, Ready.
        reconciler.reconcile(Scope::All).await;
        clock.advance(Duration::from_secs(60));
        reconciler.reconcile(Scope::All).await;
        // 16 minutes later: the awake ones had fresh activity, the idle ones did not, and some
        // sleeping ones were just woken.
        clock.advance(Duration::from_secs(16 * 60));
        for i in 0..n {
            let name = format!("svc-{i:05}");
            if awake(i) {
                store
                    .record_activity(&name, clock.now(), Duration::ZERO)
                    .await
                    .unwrap();
            }
            if to_wake(i) {
                store
                    .record_wake(&name, clock.now(), Duration::ZERO)
                    .await
                    .unwrap();
            }
        }
        sim.reset_counters();
        sim.reconfigure(|c| {
            c.latency = latency;
            c.buckets = if buckets {
                BucketConfig::ecs_documented()
            } else {
                Default::default()
            };
            c.client_pacing = true;
        });
        let started = Instant::now();
        let report = reconciler.reconcile(Scope::All).await;
        let wall = started.elapsed();
        let counters = sim.counters();
        let calls = Op::ALL
            .iter()
            .map(|op| {
                let c = counters.get(op).copied().unwrap_or_default();
                (*op, c.ok(), c.throttled)
            })
            .collect();
        let _ = store.list().await.unwrap().len();
        Figures {
            size: n,
            wall,
            calls,
            scaled_up: report
                .records
                .iter()
                .filter(|r| matches!(r.scaled, Some((0, _))))
                .count(),
            scaled_down: report
                .records
                .iter()
                .filter(|r| matches!(r.scaled, Some((_, 0))))
                .count(),
            errors: report.errors().count(),
            peak_rss_kib: peak_rss_kib(),
        }
    })
}

/// VmHWM (peak resident set size) of this process in KiB, 0 where /proc is not available.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
