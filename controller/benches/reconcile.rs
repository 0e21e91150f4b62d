//! Benchmark: the reconciler's ECS calls in steady state, old mode (`observe all`: every
//! record observed every pass) and new mode (tiered observation, `reconcile::tier`) side by
//! side in one run, each size and mode in a fresh process. Prints per size: calls per minute
//! by operation, the share of each ECS sustained read budget (20/s; `UpdateService` 5/s), the
//! scheduled pass's time, and peak RSS.
//!
//! ```text
//! cargo bench -p snooze --bench reconcile                          # 1,000, 10,000 and 50,000 records
//! cargo bench -p snooze --bench reconcile -- --sizes 1000,10000    # chosen sizes
//! cargo bench -p snooze --bench reconcile -- --modes tiered        # one mode (all, tiered)
//! ```
//!
//! Under `cargo test` (no `--bench` argument) it runs one small size in both modes as a smoke
//! test and checks the bounds, so the benchmark cannot silently rot.
//!
//! The scenario per size N, run as the reconciler Lambda runs (a scheduled full pass a minute
//! with `Runtime::settle`, a scoped pass per stream record, one pass without lingering so that
//! the simulated clock, which a lingering invocation moves, stays on the minute; the woken
//! record is then followed by the scheduled invocations): 10 clusters; every record is a
//! large one (a schedule with quiet hours and an exception, a 13-month ledger with wake times
//! and stopped tasks; one record in 10 in a group of 10); 1 % are awake and kept awake by
//! activity; a trickle of one wake and one sleep request a minute per 10,000 records (at
//! least one); the rest sleep. The fleet starts warm (statuses stored Asleep); a first
//! reconciler process wakes the awake ones (minutes 0 and 1), then a new one takes over at
//! minute 2 (a cold start of the Lambda: "cold pass", with its `DescribeServices` calls), and
//! minutes 3 to 12 are measured. All on the simulated ECS with 20 ms latency per call, the
//! documented ECS token buckets and client pacing.
//!
//! Time is tokio's paused clock, so a run takes seconds: "pass s" is the scheduled
//! invocation's simulated time (latency, pacing and throttling waits) plus the CPU time it
//! took (the real clock), its first pass and any requeue passes of records it woke.
//!
//! Memory: "peak MiB" is the process's peak RSS (it also holds the in-memory store and the
//! simulated ECS, which the Lambda does not), "pass MiB" the most heap a scheduled invocation
//! allocated on top of the heap live before it (a counting allocator: what the reconciler
//! Lambda needs for a pass beyond its baseline), "table MiB" the heap one listing of all the
//! table's records takes (what a pass that held the table whole would need at least).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use snooze::clock::SimClock;
use snooze::model::ledger::{Ledger, LedgerMonth, LedgerTask};
use snooze::model::schedule::Schedule;
use snooze::model::{EcsTarget, Phase, Record, Status, Target, Timestamp};
use snooze::platform::sim::{BucketConfig, Op, SimConfig, SimPlatform};
use snooze::reconcile::{Observe, Reason, Reconciler, Runtime, Scope, StaticProber};
use snooze::store::{MemoryStore, Store};

const CLUSTERS: usize = 10;
const LATENCY: Duration = Duration::from_millis(20);
const MINUTE: Duration = Duration::from_secs(60);
const SETTLE_MINUTES: u64 = 3;
/// The minute of the measured process's first (cold) scheduled pass.
const COLD_MINUTE: u64 = 2;
const MEASURED_MINUTES: u64 = 10;
/// The sustained rate of the ECS read buckets (and of EC2's DescribeNetworkInterfaces), per
/// minute; `UpdateService`'s is 5/s.
const READ_PER_MINUTE: f64 = 20.0 * 60.0;
const WRITE_PER_MINUTE: f64 = 5.0 * 60.0;

/// Heap measurement by a counting global allocator ([`peak_alloc`]): [`mark`] resets the heap
/// peak and returns the heap in use; [`above`] is the peak since then above it: what a pass
/// allocated at its most on top of what was live before it (this process also holds the
/// in-memory store and the simulated ECS, which the Lambda does not; the pass's copies of
/// records it reads count, as a `Scan` page's would). Peak RSS is kept too ([`RSS_PEAK`]).
#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

/// Resets the heap peak; the heap in use, in KiB.
fn mark() -> u64 {
    RSS_PEAK.fetch_max(proc_status_kib("VmHWM:"), Ordering::Relaxed);
    HEAP.reset_peak_usage();
    HEAP.current_usage() as u64 / 1024
}

/// The heap peak since [`mark`] above `base`, in KiB.
fn above(base: u64) -> u64 {
    (HEAP.peak_usage() as u64 / 1024).saturating_sub(base)
}

struct Figures {
    size: usize,
    mode: &'static str,
    /// Calls (attempts) per minute by operation, and throttled attempts in all.
    per_minute: Vec<(Op, f64)>,
    throttled: u64,
    /// The longest scheduled pass: simulated ECS time + CPU time, seconds.
    pass_max_s: f64,
    /// The mean scheduled pass, seconds.
    pass_mean_s: f64,
    /// The cold start's first scheduled pass, seconds.
    cold_s: f64,
    /// DescribeServices of the cold start's first pass.
    cold_describe: u64,
    errors: u64,
    peak_rss_kib: u64,
    /// The most resident memory a scheduled invocation added (the cold one included), KiB.
    pass_heap: u64,
    /// The resident memory one listing of the table's records added, KiB.
    table_heap: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let (Some(n), Some(mode)) = (value("--size"), value("--mode")) {
        let n: usize = n.parse().expect("--size N");
        let f = run(n, mode == "all");
        print_machine(&f);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test`: a small smoke run of both modes that checks the bounds.
        let old = run(500, true);
        let new = run(500, false);
        check(&old, &new);
        println!(
            "reconcile bench smoke: 500 records, DescribeServices/min {:.1} (all) vs {:.1} (tiered): ok",
            get(&old, Op::DescribeServices),
            get(&new, Op::DescribeServices),
        );
        return;
    }
    let sizes: Vec<usize> = value("--sizes")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().parse().expect("--sizes 1000,10000"))
                .collect()
        })
        .unwrap_or_else(|| vec![1_000, 10_000, 50_000]);
    let modes: Vec<String> = value("--modes")
        .map(|s| s.split(',').map(|m| m.trim().to_string()).collect())
        .unwrap_or_else(|| vec!["all".into(), "tiered".into()]);
    let exe = std::env::current_exe().expect("current exe");
    println!(
        "steady state on sim, {MEASURED_MINUTES} min after {SETTLE_MINUTES}: {CLUSTERS} clusters, 1 % awake, \
         1 wake + 1 sleep a minute per 10,000 records, {} ms per call, ECS token buckets, client pacing",
        LATENCY.as_millis()
    );
    println!(
        "calls per minute (share of the sustained budget: reads 20/s, UpdateService 5/s); pass s = simulated ECS time + CPU"
    );
    println!(
        "{:>7} {:>6} {:>17} {:>15} {:>15} {:>15} {:>13} {:>5} {:>15} {:>17} {:>8} {:>9} {:>9}",
        "records",
        "mode",
        "DescribeServices",
        "ListTasks",
        "DescribeTasks",
        "DescribeENIs",
        "UpdateService",
        "thr",
        "pass s mean/max",
        "cold pass s (DS)",
        "peak MiB",
        "pass MiB",
        "table MiB"
    );
    for n in sizes {
        for mode in &modes {
            let out = Command::new(&exe)
                .args(["--size", &n.to_string(), "--mode", mode])
                .output()
                .expect("run a size in a fresh process");
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                eprintln!(
                    "size {n} mode {mode} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::process::exit(1);
            }
            let kv = |k: &str| -> String {
                text.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_string))
                    .unwrap_or_default()
            };
            let share = |op: &str, budget: f64| {
                let v: f64 = kv(op).parse().unwrap_or(0.0);
                format!("{v:.1} ({:.1}%)", 100.0 * v / budget)
            };
            println!(
                "{:>7} {:>6} {:>17} {:>15} {:>15} {:>15} {:>13} {:>5} {:>15} {:>17} {:>8} {:>9} {:>9}",
                n,
                mode,
                share("DescribeServices", READ_PER_MINUTE),
                share("ListTasks", READ_PER_MINUTE),
                share("DescribeTasks", READ_PER_MINUTE),
                share("DescribeNetworkInterfaces", READ_PER_MINUTE),
                share("UpdateService", WRITE_PER_MINUTE),
                kv("throttled"),
                format!("{}/{}", kv("pass_mean_s"), kv("pass_max_s")),
                format!("{} ({})", kv("cold_s"), kv("cold_describe")),
                kv("peak_mib"),
                kv("pass_heap_mib"),
                kv("table_mib"),
            );
        }
    }
}

fn get(f: &Figures, op: Op) -> f64 {
    f.per_minute
        .iter()
        .find(|(o, _)| *o == op)
        .map_or(0.0, |(_, v)| *v)
}

fn print_machine(f: &Figures) {
    let mut line = format!("size={} mode={}", f.size, f.mode);
    for (op, v) in &f.per_minute {
        line.push_str(&format!(" {}={v:.1}", op.as_str()));
    }
    line.push_str(&format!(
        " throttled={} pass_mean_s={:.2} pass_max_s={:.2} cold_s={:.2} cold_describe={} errors={} peak_mib={:.1} pass_heap_mib={:.1} table_mib={:.1}",
        f.throttled,
        f.pass_mean_s,
        f.pass_max_s,
        f.cold_s,
        f.cold_describe,
        f.errors,
        f.peak_rss_kib as f64 / 1024.0,
        f.pass_heap as f64 / 1024.0,
        f.table_heap as f64 / 1024.0,
    ));
    println!("{line}");
}

/// The smoke run's bounds: no failure in either mode; the old mode describes every service
/// every minute; the tiered mode far fewer, within 5 % of the read budget at this size.
fn check(old: &Figures, new: &Figures) {
    assert_eq!((old.errors, new.errors), (0, 0), "no record failed");
    let (o, n) = (
        get(old, Op::DescribeServices),
        get(new, Op::DescribeServices),
    );
    assert!(o >= (old.size / 10) as f64, "old mode describes all: {o}");
    assert!(n * 2.0 < o, "tiered describes far fewer: {n} vs {o}");
    for op in [Op::DescribeServices, Op::ListTasks, Op::DescribeTasks] {
        assert!(get(new, op) <= 60.0, "{op:?} {} > 60/min", get(new, op));
    }
    assert_eq!(
        get(old, Op::UpdateService),
        get(new, Op::UpdateService),
        "the same real changes in both modes"
    );
}

fn name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// The cluster of record `i`: runs of 7 records, round the clusters, so that the awake ones
/// (every 100th) spread over all clusters.
fn cluster(i: usize) -> String {
    format!("cluster-{}", (i / 7) % CLUSTERS)
}

/// A large record, as schedules, groups and the ledger make them: a schedule with quiet hours
/// and an exception, a 13-month ledger with wake times and two stopped tasks, and (one in 10)
/// a group. Stored Asleep, as a warm fleet is.
fn record(i: usize, now: Timestamp) -> Record {
    let mut r = Record::test(&name(i));
    r.spec.target = Target::Ecs(EcsTarget {
        cluster: cluster(i),
        service: name(i),
    });
    r.spec.schedule = Some(
        Schedule::test("Europe/Berlin")
            .asleep("Sat-Sun 01:00-05:00")
            .except("2026-12-24", "2027-01-01"),
    );
    if i % 10 == 3 {
        r.spec.groups = vec![format!("team-{:04}", i / 100)];
    }
    let months = (0..13)
        .map(|k| LedgerMonth {
            month: format!("{}-{:02}", 2025 + (k + 10) / 12, (k + 10) % 12 + 1),
            task_seconds: 36_000.0,
            always_on_seconds: 0.0,
            cost: Some(1.23),
            always_on_cost: Some(0.0),
            wakes: 20,
            wake_seconds: vec![31.5; 20],
            ..LedgerMonth::default()
        })
        .collect();
    let tasks = (0..2)
        .map(|k| LedgerTask {
            arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:task/{}/{i:05}{k:027}",
                cluster(i)
            ),
            billed_from: now.sub(Duration::from_secs(7200)),
            counted_until: now.sub(Duration::from_secs(3600)),
            stopped: true,
            public_ip: true,
        })
        .collect();
    r.status = Some(Status {
        phase: Phase::Asleep,
        phase_since: Some(now.sub(Duration::from_secs(86_400))),
        observed_generation: r.metadata.generation,
        recent_wake_seconds: vec![31.5; 10],
        ledger: Ledger {
            counted_until: Some(now.sub(Duration::from_secs(600))),
            months,
            tasks,
        },
        ..Status::default()
    });
    r
}

fn awake(i: usize) -> bool {
    i.is_multiple_of(100)
}

fn run(n: usize, observe_all: bool) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let clock = SimClock::default_start();
        let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
        let store = Arc::new(MemoryStore::new());
        let mut reconciler = Reconciler::new(
            store.clone(),
            sim.clone(),
            Arc::new(StaticProber::new()),
            clock.clone(),
        );
        reconciler.options.runner_period = MINUTE;
        if observe_all {
            reconciler.options.observe = Observe::All;
        }
        // Minute 0 and 1 run in a first process (waking the awake ones); the measured one
        // starts cold at minute 2 (new memory: a new Lambda container).
        let first = Runtime::new(reconciler.clone());
        let cold = Reconciler {
            tier: Default::default(),
            ..reconciler
        };
        let runtime = Runtime::new(cold);
        let start = clock.now();
        for i in 0..n {
            sim.add_service(&cluster(i), &name(i));
            store.put(record(i, start));
        }
        sim.reconfigure(|c| {
            c.latency = LATENCY;
            c.buckets = BucketConfig::ecs_documented();
            c.client_pacing = true;
        });
        for i in (0..n).filter(|i| awake(*i)) {
            store
                .record_wake(&name(i), clock.now(), Duration::ZERO)
                .await
                .unwrap();
        }
        let budget = Duration::from_secs(50);
        let mut pass_heap = 0u64;
        let table_heap = {
            let base = mark();
            let list = store.list().await.unwrap();
            let bytes = above(base);
            drop(list);
            bytes
        };
        let mut errors = 0u64;
        let mut passes: Vec<f64> = Vec::new();
        let mut cold = (0.0, 0);
        let trickle = n.div_ceil(10_000);
        let mut slept: Vec<usize> = Vec::new();
        let mut next_wake = 50;
        let mut next_sleep = 0;
        for m in 0..SETTLE_MINUTES + MEASURED_MINUTES {
            if m == SETTLE_MINUTES {
                sim.reset_counters();
            }
            let measured = m >= SETTLE_MINUTES;
            if m > 0 {
                for i in (0..n).filter(|i| awake(*i) && !slept.contains(i)) {
                    store
                        .record_activity(&name(i), clock.now(), Duration::ZERO)
                        .await
                        .unwrap();
                }
            }
            if measured {
                for _ in 0..trickle {
                    let w = next_wake % n;
                    next_wake += 100;
                    store
                        .record_wake(&name(w), clock.now(), Duration::ZERO)
                        .await
                        .unwrap();
                    let s = runtime
                        .settle(Scope::Names(vec![name(w)]), Reason::Stream, Duration::ZERO)
                        .await;
                    errors += s.error_codes.values().sum::<u64>();
                    let z = next_sleep % n;
                    next_sleep += 100;
                    slept.push(z);
                    store.request_sleep(&name(z), clock.now()).await.unwrap();
                    let s = runtime
                        .settle(Scope::Names(vec![name(z)]), Reason::Stream, Duration::ZERO)
                        .await;
                    errors += s.error_codes.values().sum::<u64>();
                }
            }
            let at = start.add(MINUTE * m as u32);
            if at > clock.now() {
                let d = at.since(clock.now());
                clock.advance(d);
                tokio::time::advance(d).await;
            }
            let before = sim.counters();
            let base = mark();
            let (virt, real) = (tokio::time::Instant::now(), Instant::now());
            let runner = if m < COLD_MINUTE { &first } else { &runtime };
            let s = runner.settle(Scope::All, Reason::Schedule, budget).await;
            // The invocation's time: its simulated waits (latency, pacing, throttling: tokio's
            // paused clock) plus its CPU (the real clock; nothing else waits for real).
            let secs = virt.elapsed().as_secs_f64() + real.elapsed().as_secs_f64();
            if m >= COLD_MINUTE {
                pass_heap = pass_heap.max(above(base));
            }
            if m == COLD_MINUTE {
                let ds = sim
                    .counters()
                    .get(&Op::DescribeServices)
                    .map_or(0, |c| c.attempts)
                    - before.get(&Op::DescribeServices).map_or(0, |c| c.attempts);
                cold = (secs, ds);
            }
            if measured {
                passes.push(secs);
                errors += s.error_codes.values().sum::<u64>();
            }
        }
        let counters = sim.counters();
        let per_minute = Op::ALL
            .iter()
            .map(|op| {
                let c = counters.get(op).copied().unwrap_or_default();
                (*op, c.attempts as f64 / MEASURED_MINUTES as f64)
            })
            .collect();
        let throttled = counters.values().map(|c| c.throttled).sum();
        Figures {
            size: n,
            mode: if observe_all { "all" } else { "tiered" },
            per_minute,
            throttled,
            pass_max_s: passes.iter().copied().fold(0.0, f64::max),
            pass_mean_s: passes.iter().sum::<f64>() / passes.len().max(1) as f64,
            cold_s: cold.0,
            cold_describe: cold.1,
            errors,
            peak_rss_kib: peak_rss_kib(),
            pass_heap,
            table_heap,
        }
    })
}

/// The peak resident set size of this process over the whole run, in KiB ([`mark`] keeps the
/// peak of each stretch before it resets the kernel's).
fn peak_rss_kib() -> u64 {
    RSS_PEAK
        .load(Ordering::Relaxed)
        .max(proc_status_kib("VmHWM:"))
}

/// The largest `VmHWM` seen before a reset ([`mark`]).
static RSS_PEAK: AtomicU64 = AtomicU64::new(0);

/// A `kB` field of `/proc/self/status` (`VmHWM:`, `VmRSS:`), 0 where /proc is not available.
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
