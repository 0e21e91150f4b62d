//! The dashboard page: [`PageData`] rendered whole by a maud template (auto-escaped). Script
//! and styles are separate static files (`/static/app.js`, `/static/app.css`), so the page
//! runs under a strict Content-Security-Policy with no inline code.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::actions::Action;
use crate::api::ApiAnswer;
use crate::ecs::EcsMetadata;
use crate::logs::LogEntry;
use crate::system::SystemSnapshot;

/// Everything the dashboard shows, gathered before rendering.
#[derive(Debug, Clone)]
pub struct PageData {
    /// `APP_NAME`.
    pub app_name: String,
    /// `APP_ENV`.
    pub app_env: String,
    /// `APP_VERSION`.
    pub app_version: String,
    /// `GIT_SHA`, cut to 12 characters.
    pub git_sha: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
    /// This process's id.
    pub pid: u32,
    /// Machine reading.
    pub system: SystemSnapshot,
    /// ECS task metadata state.
    pub ecs: EcsMetadata,
    /// Recent log entries, oldest first (the SSE snapshot replaces them when the script runs).
    pub logs: Vec<LogEntry>,
    /// The API's answer for this page load (`API_URL`); None when `API_URL` is unset (no card).
    pub api: Option<ApiAnswer>,
}

/// `3d 4h`, `2h 5m`, `4m 12s`, `9s`.
pub fn format_uptime(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// `512 B`, `12.3 MiB`, `7.66 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ if value >= 100.0 => format!("{value:.0} {}", UNITS[unit]),
        _ if value >= 10.0 => format!("{value:.1} {}", UNITS[unit]),
        _ => format!("{value:.2} {}", UNITS[unit]),
    }
}

const ICON_SUN: &str = r#"<svg class="icon icon-sun" viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.93 4.93l1.41 1.41M17.66 17.66l1.41 1.41M2 12h2M20 12h2M4.93 19.07l1.41-1.41M17.66 6.34l1.41-1.41"/></svg>"#;
const ICON_MOON: &str = r#"<svg class="icon icon-moon" viewBox="0 0 24 24" aria-hidden="true"><path d="M21 12.79A9 9 0 1 1 11.21 3 7 7 0 0 0 21 12.79z"/></svg>"#;

fn action_icon(action: Action) -> &'static str {
    match action {
        Action::Deploy => {
            r#"<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 19V5M5 12l7-7 7 7"/></svg>"#
        }
        Action::ScaleUp => {
            r#"<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 5v14M5 12h14"/></svg>"#
        }
        Action::ScaleDown => {
            r#"<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M5 12h14"/></svg>"#
        }
        Action::ClearCache => {
            r#"<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6"/></svg>"#
        }
        Action::RotateKeys => {
            r#"<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M21 2l-2 2m-7.6 7.6a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78zM15.5 7.5l3 3L22 7l-3-3"/></svg>"#
        }
        Action::P95Report => {
            r#"<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M3 3v18h18M7 15l4-4 3 3 5-6"/></svg>"#
        }
    }
}

fn stat(label: &str, id: &str, value: &str, sub: Option<(&str, &str)>) -> Markup {
    html! {
        div.card.stat {
            div.stat-label { (label) }
            div.stat-value id=(id) { (value) }
            @if let Some((sub_id, sub)) = sub {
                div.stat-sub id=(sub_id) { (sub) }
            }
        }
    }
}

/// One log line, shaped like the ones the script adds from the SSE stream.
fn log_line(e: &LogEntry) -> Markup {
    let (level, source) = (e.level.as_str(), e.source.as_str());
    html! {
        li.log-line data-seq=(e.seq) data-level=(level) {
            time datetime=(e.at.to_rfc3339()) { (e.at.format("%H:%M:%S")) }
            span.badge.(format!("src-{source}")) { (source) }
            span.msg { (e.message) }
        }
    }
}

fn ecs_rows(ecs: &EcsMetadata) -> Markup {
    html! {
        @match ecs {
            EcsMetadata::Loaded(t) => {
                dl.kv id="ecs" data-state="loaded" {
                    dt { "Cluster" } dd id="ecs-cluster" title=(t.cluster) { (t.cluster_name()) }
                    dt { "Task" } dd.mono id="ecs-task" title=(t.task_arn) { (t.task_id()) }
                    dt { "Task definition" } dd id="ecs-family" { (t.family) ":" (t.revision) }
                    dt { "Container" } dd id="ecs-container" { (t.container_name) }
                    @if let Some(az) = &t.availability_zone { dt { "Zone" } dd { (az) } }
                    @if let Some(lt) = &t.launch_type { dt { "Launch type" } dd { (lt) } }
                }
            }
            EcsMetadata::NotConfigured => {
                p.muted id="ecs" data-state="not_configured" { "Not running on ECS: " code { "ECS_CONTAINER_METADATA_URI_V4" } " is not set." }
            }
            EcsMetadata::Pending => {
                p.muted id="ecs" data-state="pending" { "Reading task metadata…" }
            }
            EcsMetadata::Failed { error } => {
                p.error id="ecs" data-state="failed" { "Task metadata unavailable: " (error) }
            }
        }
    }
}

/// The API card's body: the greeting and who served it, or the error line.
fn api_rows(api: &ApiAnswer) -> Markup {
    html! {
        @match api {
            ApiAnswer::Answered { url, greeting } => {
                dl.kv id="api" data-state="answered" {
                    dt { "Greeting" } dd id="api-greeting" { (greeting.greeting) }
                    dt { "Served by" } dd id="api-served-by" { (greeting.served_by) }
                    dt { "Called" } dd.mono id="api-url" { (url) }
                }
            }
            ApiAnswer::Failed { url, error } => {
                p.error id="api" data-state="failed" {
                    "The API at " code { (url) } " did not give a greeting: " span id="api-error" { (error) }
                }
            }
        }
    }
}

/// Renders the whole dashboard page.
pub fn render(d: &PageData) -> Markup {
    let mem = &d.system.memory;
    let sys_mem = match (mem.system_total_bytes, mem.system_available_bytes) {
        (Some(total), Some(avail)) => {
            let used = total.saturating_sub(avail);
            let pct = (used as f64 / total.max(1) as f64 * 100.0).round() as u64;
            (
                format_bytes(used),
                format!("of {} · {pct}% used", format_bytes(total)),
                pct,
            )
        }
        _ => ("n/a".to_owned(), String::new(), 0),
    };
    let load = d
        .system
        .load_average
        .map_or("n/a".to_owned(), |l| format!("{:.2}", l.one));
    let load_sub = d.system.load_average.map_or(String::new(), |l| {
        format!("5m {:.2} · 15m {:.2}", l.five, l.fifteen)
    });
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (d.app_name) " · " (d.app_env) }
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" {}
            }
            body {
                header.topbar {
                    div.brand {
                        span.logo aria-hidden="true" {}
                        div {
                            h1 id="app-name" { (d.app_name) }
                            div.meta {
                                span.chip.env id="app-env" data-env=(d.app_env) { (d.app_env) }
                                span.chip.mono id="app-version" { (d.app_version) }
                                span.chip.mono id="git-sha" title="git commit" { (d.git_sha) }
                            }
                        }
                    }
                    div.top-actions {
                        span.live id="live" data-state="connecting" { span.dot {} span.live-text { "connecting" } }
                        button.theme-toggle id="theme-toggle" type="button" aria-label="Switch between light and dark theme" title="Toggle theme" {
                            (PreEscaped(ICON_SUN)) (PreEscaped(ICON_MOON))
                        }
                    }
                }
                main.container {
                    section.stats aria-label="Runtime" {
                        (stat("Uptime", "uptime", &format_uptime(d.uptime_seconds), Some(("started", "since start"))))
                        (stat("Process memory", "rss", &mem.rss_bytes.map_or("n/a".into(), format_bytes), Some(("rss-sub", "resident set size"))))
                        div.card.stat {
                            div.stat-label { "System memory" }
                            div.stat-value id="sysmem" { (sys_mem.0) }
                            div.stat-sub id="sysmem-sub" { (sys_mem.1) }
                            div.bar { div.bar-fill id="sysmem-bar" data-pct=(sys_mem.2) {} }
                        }
                        (stat("Load average", "load", &load, Some(("load-sub", &load_sub))))
                        (stat("CPUs", "cpus", &d.system.cpu_count.to_string(), Some(("cpus-sub", "usable cores"))))
                        (stat("Host", "hostname", &d.system.hostname, Some(("pid", &format!("pid {}", d.pid)))))
                    }
                    div.columns {
                        div.left {
                            section.card aria-labelledby="actions-title" {
                                div.card-head {
                                    h2 id="actions-title" { "Actions" }
                                    span.muted.small { "POST /action" }
                                }
                                div.actions {
                                    @for a in Action::ALL {
                                        button.action type="button" data-action=(a.name()) {
                                            (PreEscaped(action_icon(a)))
                                            span { (a.label()) }
                                        }
                                    }
                                }
                                div.result id="action-result" role="status" aria-live="polite" data-state="idle" {
                                    "Fire an action: it is logged and streamed to every open dashboard."
                                }
                            }
                            @if let Some(api) = &d.api {
                                section.card aria-labelledby="api-title" {
                                    div.card-head {
                                        h2 id="api-title" { "API" }
                                        span.muted.small { "GET /api/greeting, server side" }
                                    }
                                    (api_rows(api))
                                }
                            }
                            section.card aria-labelledby="ecs-title" {
                                div.card-head { h2 id="ecs-title" { "ECS task" } }
                                (ecs_rows(&d.ecs))
                            }
                        }
                        section.card.log-card aria-labelledby="log-title" {
                            div.card-head {
                                h2 id="log-title" { "Live log" }
                                span.muted.small id="log-count" { (d.logs.len()) " entries" }
                            }
                            ol.log id="log" aria-live="polite" {
                                @for e in &d.logs { (log_line(e)) }
                            }
                        }
                    }
                }
                footer.footer {
                    "Served by " code { "snooze-demo-app" } " · "
                    a href="/api/metrics" { "metrics" } " · "
                    a href="/api/logs" { "logs" } " · "
                    a href="/health" { "health" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Level, LogBook, Source};
    use crate::system::Memory;

    fn data() -> PageData {
        let book = LogBook::new();
        book.push(Level::Info, Source::Action, "<script>alert(1)</script>");
        PageData {
            app_name: "demo <b>".into(),
            app_env: "prod".into(),
            app_version: "1.2.3".into(),
            git_sha: "abcdef123456".into(),
            uptime_seconds: 3725,
            pid: 42,
            system: SystemSnapshot {
                hostname: "ip-10-0-0-1".into(),
                cpu_count: 2,
                memory: Memory {
                    rss_bytes: Some(12 << 20),
                    system_total_bytes: Some(4 << 30),
                    system_available_bytes: Some(1 << 30),
                },
                load_average: None,
            },
            ecs: EcsMetadata::NotConfigured,
            logs: book.last(200),
            api: None,
        }
    }

    #[test]
    fn page_escapes_and_shows_the_figures() {
        let html = render(&data()).into_string();
        assert!(html.contains("demo &lt;b&gt;"));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("1h 2m"));
        assert!(html.contains("12.0 MiB"));
        assert!(html.contains("3.00 GiB") && html.contains("of 4.00 GiB · 75% used"));
        assert!(html.contains("data-action=\"p95-report\""));
        assert!(html.contains("ECS_CONTAINER_METADATA_URI_V4"));
        // No inline script or style: everything is under /static.
        assert!(
            !html.contains("<script>") && !html.contains("<style") && !html.contains("style=\"")
        );
    }

    #[test]
    fn the_api_card_shows_the_greeting_or_the_error_and_is_absent_without_api_url() {
        let html = render(&data()).into_string();
        assert!(!html.contains("id=\"api\""), "no API_URL, no card");
        let mut d = data();
        d.api = Some(ApiAnswer::Answered {
            url: "http://127.0.0.1:8082/api/greeting".into(),
            greeting: crate::api::Greeting {
                greeting: "Hello from <api>".into(),
                served_by: "api (pid 7 on h)".into(),
            },
        });
        let html = render(&d).into_string();
        assert!(html.contains(r#"id="api" data-state="answered""#), "{html}");
        assert!(html.contains("Hello from &lt;api&gt;") && html.contains("api (pid 7 on h)"));
        d.api = Some(ApiAnswer::Failed {
            url: "http://127.0.0.1:8082/api/greeting".into(),
            error: "the API did not answer: connection refused".into(),
        });
        let html = render(&d).into_string();
        assert!(html.contains(r#"id="api" data-state="failed""#), "{html}");
        assert!(html.contains("the API did not answer: connection refused"));
    }

    #[test]
    fn uptime_and_bytes_formats() {
        assert_eq!(format_uptime(9), "9s");
        assert_eq!(format_uptime(252), "4m 12s");
        assert_eq!(format_uptime(7500), "2h 5m");
        assert_eq!(format_uptime(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.50 KiB");
        assert_eq!(format_bytes(123 << 20), "123 MiB");
    }
}
