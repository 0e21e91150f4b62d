//! What the dashboard shows about the machine: memory, load average, CPU count and hostname,
//! read from Linux `/proc`. Parsing is pure and fixture-tested; reading is at the edge
//! ([`SystemSnapshot::read`]). On a system without `/proc` the values are `null`.

use serde::Serialize;

/// Memory figures, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Resident set size of this process (`VmRSS` of `/proc/self/status`).
    pub rss_bytes: Option<u64>,
    /// Total memory of the machine or container VM (`MemTotal` of `/proc/meminfo`).
    pub system_total_bytes: Option<u64>,
    /// Memory available for new work (`MemAvailable` of `/proc/meminfo`).
    pub system_available_bytes: Option<u64>,
}

/// Load averages over 1, 5 and 15 minutes (`/proc/loadavg`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadAverage {
    /// Over the last minute.
    pub one: f64,
    /// Over the last 5 minutes.
    pub five: f64,
    /// Over the last 15 minutes.
    pub fifteen: f64,
}

/// One reading of the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemSnapshot {
    /// Host name (`/proc/sys/kernel/hostname`, else env `HOSTNAME`, else `unknown`).
    pub hostname: String,
    /// CPUs this process may use (`std::thread::available_parallelism`).
    pub cpu_count: usize,
    /// Memory figures.
    pub memory: Memory,
    /// Load averages; `None` without `/proc/loadavg`.
    pub load_average: Option<LoadAverage>,
}

impl SystemSnapshot {
    /// Reads `/proc` now. Never fails: what cannot be read is `None`.
    pub fn read() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let meminfo = read("/proc/meminfo")
            .map(|s| parse_meminfo(&s))
            .unwrap_or_default();
        let hostname = read("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        SystemSnapshot {
            hostname,
            cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: Memory {
                rss_bytes: read("/proc/self/status").and_then(|s| parse_status_rss(&s)),
                ..meminfo
            },
            load_average: read("/proc/loadavg").and_then(|s| parse_loadavg(&s)),
        }
    }
}

/// The value in bytes of a `Key:   1234 kB` line of a `/proc` file.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") => Some(value * 1024),
            None => Some(value),
            Some(_) => None,
        }
    })
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Memory {
    Memory {
        rss_bytes: None,
        system_total_bytes: kib_field(text, "MemTotal"),
        system_available_bytes: kib_field(text, "MemAvailable"),
    }
}

/// `VmRSS` of `/proc/self/status` text, in bytes.
pub fn parse_status_rss(text: &str) -> Option<u64> {
    kib_field(text, "VmRSS")
}

/// The three load averages of `/proc/loadavg` text (`0.52 0.58 0.59 1/467 12345`).
pub fn parse_loadavg(text: &str) -> Option<LoadAverage> {
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>());
    Some(LoadAverage {
        one: it.next()?.ok()?,
        five: it.next()?.ok()?,
        fifteen: it.next()?.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:        8029180 kB\nMemFree:          421964 kB\nMemAvailable:    5123456 kB\nBuffers:          123456 kB\n";
    const STATUS: &str = "Name:\tsnooze-demo-app\nVmPeak:\t  123456 kB\nVmRSS:\t    9876 kB\nRssAnon:\t    5000 kB\n";

    #[test]
    fn meminfo_fields_in_bytes() {
        let m = parse_meminfo(MEMINFO);
        assert_eq!(m.system_total_bytes, Some(8029180 * 1024));
        assert_eq!(m.system_available_bytes, Some(5123456 * 1024));
        assert_eq!(parse_meminfo("garbage\n").system_total_bytes, None);
    }

    #[test]
    fn rss_from_status() {
        assert_eq!(parse_status_rss(STATUS), Some(9876 * 1024));
        // `VmRSSx` is not `VmRSS`.
        assert_eq!(parse_status_rss("VmRSSx: 1 kB\n"), None);
    }

    #[test]
    fn loadavg_three_numbers() {
        let l = parse_loadavg("0.52 1.58 2.59 1/467 12345\n").unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (0.52, 1.58, 2.59));
        assert!(parse_loadavg("0.5 x").is_none());
        assert!(parse_loadavg("").is_none());
    }

    #[test]
    fn reading_this_machine_works() {
        let s = SystemSnapshot::read();
        assert!(s.cpu_count >= 1);
        assert!(!s.hostname.is_empty());
        if cfg!(target_os = "linux") {
            assert!(s.memory.rss_bytes.unwrap() > 0);
            assert!(
                s.memory.system_total_bytes.unwrap() >= s.memory.system_available_bytes.unwrap()
            );
            assert!(s.load_average.is_some());
        }
    }
}
