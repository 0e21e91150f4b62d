//! The HTML pages: the wait page and the notices (not found, switched off, forbidden, ...).
//!
//! A page is data plus a template (STYLE.md §10): the handler fills a [`PageData`], [`render`]
//! turns it into a complete `String` with maud (which escapes every interpolated value), and
//! only then is the response built, so a template problem can never send half a page.
//!
//! The one stylesheet and the one script are constants, allowed by a per-response CSP nonce
//! ([`PageData::nonce`]); there are no inline `style=` attributes or event handlers. The script
//! only enhances: without JavaScript the page refreshes itself through
//! `<noscript><meta http-equiv="refresh"></noscript>`.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::status::{GroupView, MemberView, StatusView};
use crate::model::{Phase, Step, Theme};

/// Everything a page shows, rendered whole by [`render`].
#[derive(Clone, Debug, PartialEq)]
pub struct PageData {
    /// The document title (`<title>`), e.g. `Demo app is waking up`.
    pub title: String,
    /// Colour scheme: `spec.page.theme` for a known service, else [`Theme::Auto`]
    /// (follows `prefers-color-scheme`).
    pub theme: Theme,
    /// The CSP nonce of this response (hex, 128 random bits); the `<style>` and `<script>`
    /// elements carry it and the `Content-Security-Policy` header allows only it.
    pub nonce: String,
    /// What the card shows.
    pub content: Content,
}

/// The two kinds of page.
// One short-lived value per response: not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    /// The wait page for a service that is waking (or asleep, failed, going to sleep).
    Wait(WaitPage),
    /// A short notice: not found, forbidden, switched off, configuration error, bad request.
    Notice(Notice),
}

/// The wait page's data.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitPage {
    /// The service's display title: `spec.page.title`, else its name.
    pub service_title: String,
    /// The status as computed by [`super::status::view`].
    pub view: StatusView,
    /// Relative URL of the status JSON (`../api/v1/services/{name}` from `/s/{name}`), polled
    /// by the script with backoff 1 s → 5 s; `None` disables polling (nothing in progress, or
    /// a bot that did not wake the service).
    pub poll_url: Option<String>,
    /// `(seconds, relative URL)` for the no-JavaScript `<meta http-equiv="refresh">`;
    /// `None` when the page should not refresh (Failed, Asleep).
    pub refresh: Option<(u64, String)>,
    /// Relative URL that starts a fresh attempt after `Failed` (this page with `?retry=1`).
    pub retry_url: String,
}

/// A notice page's data.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// Heading, e.g. `This service is switched off`.
    pub heading: String,
    /// One or two plain sentences.
    pub text: String,
    /// Colour of the icon: informational or an error.
    pub tone: Tone,
}

/// A notice's tone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Neutral (switched off, asleep).
    Info,
    /// Something is wrong (not found, forbidden, invalid).
    Error,
}

/// The stylesheet (light and dark; `html[data-theme]` pins one).
pub const STYLE: &str = r#"
:root{--bg:#f3f4f8;--card:#ffffff;--text:#161b26;--muted:#576174;--line:#e2e5ec;--accent:#4f46e5;--on-accent:#ffffff;--accent-soft:#e9e8fd;--bad:#b42318;--bad-soft:#fdecea;--shadow:0 1px 2px rgba(16,24,40,.04),0 12px 32px rgba(16,24,40,.08);color-scheme:light}
html[data-theme=dark]{--bg:#0d1017;--card:#161a23;--text:#e8ebf2;--muted:#a1aab9;--line:#283040;--accent:#8d8bff;--on-accent:#0d1017;--accent-soft:#2a2a55;--bad:#ff8a80;--bad-soft:#3b1f1f;--shadow:0 1px 2px rgba(0,0,0,.3),0 12px 32px rgba(0,0,0,.35);color-scheme:dark}
@media (prefers-color-scheme:dark){html[data-theme=auto]{--bg:#0d1017;--card:#161a23;--text:#e8ebf2;--muted:#a1aab9;--line:#283040;--accent:#8d8bff;--on-accent:#0d1017;--accent-soft:#2a2a55;--bad:#ff8a80;--bad-soft:#3b1f1f;--shadow:0 1px 2px rgba(0,0,0,.3),0 12px 32px rgba(0,0,0,.35);color-scheme:dark}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:24px 16px;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans","Liberation Sans",Arial,sans-serif;-webkit-font-smoothing:antialiased}
.card{width:100%;max-width:440px;background:var(--card);border:1px solid var(--line);border-radius:18px;box-shadow:var(--shadow);padding:28px 30px 24px}
.brand{display:flex;align-items:center;gap:8px;color:var(--muted);font-size:12px;font-weight:650;letter-spacing:.08em;text-transform:uppercase}
.brand svg{width:16px;height:16px;color:var(--accent)}
h1{font-size:22px;line-height:1.3;margin:14px 0 6px;font-weight:700;letter-spacing:-.01em;overflow-wrap:anywhere}
.lead{margin:0 0 20px;color:var(--muted);overflow-wrap:anywhere}
progress{display:block;width:100%;height:6px;margin:0 0 18px;border:0;border-radius:99px;background:var(--line);overflow:hidden;appearance:none;-webkit-appearance:none}
progress::-webkit-progress-bar{background:var(--line);border-radius:99px}
progress::-webkit-progress-value{background:var(--accent);border-radius:99px;transition:width .4s ease}
progress::-moz-progress-bar{background:var(--accent);border-radius:99px}
ol.steps{list-style:none;margin:0;padding:0}
ol.steps li{position:relative;display:flex;align-items:center;gap:12px;padding:5px 0;color:var(--muted);font-size:15px}
ol.steps li:not(:last-child)::before{content:"";position:absolute;left:10px;top:27px;height:12px;width:2px;background:var(--line);border-radius:2px}
ol.steps li.done:not(:last-child)::before{background:var(--accent)}
.dot{flex:none;width:22px;height:22px;border-radius:50%;border:2px solid var(--line);display:flex;align-items:center;justify-content:center;background:var(--card)}
li.done .dot{background:var(--accent);border-color:var(--accent)}
li.done .dot::after{content:"";width:5px;height:9px;border:solid var(--on-accent);border-width:0 2px 2px 0;transform:translateY(-1px) rotate(45deg)}
ol.steps li.current{color:var(--text);font-weight:650}
li.current .dot{border-color:var(--accent);box-shadow:0 0 0 4px var(--accent-soft)}
li.current .dot::after{content:"";width:8px;height:8px;border-radius:50%;background:var(--accent);animation:pulse 1.4s ease-in-out infinite}
ol.steps li.failed{color:var(--bad);font-weight:650}
li.failed .dot{border-color:var(--bad);background:var(--bad-soft)}
li.failed .dot::after{content:"!";color:var(--bad);font-size:13px;font-weight:800;line-height:1}
@keyframes pulse{50%{opacity:.25;transform:scale(.7)}}
@media (prefers-reduced-motion:reduce){li.current .dot::after{animation:none}progress::-webkit-progress-value{transition:none}}
.detail{margin:14px 0 0;padding:10px 12px;border-radius:10px;background:var(--accent-soft);color:var(--text);font-size:14px;overflow-wrap:anywhere}
.alert{margin:0 0 18px;padding:12px 14px;border-radius:12px;background:var(--bad-soft);color:var(--bad);font-size:15px;overflow-wrap:anywhere}
.alert strong{display:block;margin-bottom:2px}
.meta{display:flex;justify-content:space-between;gap:12px;margin-top:18px;padding-top:14px;border-top:1px solid var(--line);color:var(--muted);font-size:14px;font-variant-numeric:tabular-nums}
.meta b{color:var(--text);font-weight:600}
.button{display:inline-flex;align-items:center;justify-content:center;gap:8px;padding:10px 18px;border-radius:10px;background:var(--accent);color:var(--on-accent);font-weight:650;font-size:15px;text-decoration:none;border:0;cursor:pointer}
.button:hover{filter:brightness(1.08)}
.button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:3px}
.actions{margin-top:18px}
.foot{margin:18px 0 0;color:var(--muted);font-size:13px}
.icon{width:44px;height:44px;border-radius:12px;display:flex;align-items:center;justify-content:center;background:var(--accent-soft);color:var(--accent);margin-top:18px}
.icon.error{background:var(--bad-soft);color:var(--bad)}
.icon svg{width:24px;height:24px}
.group{margin:18px 0 0;padding-top:14px;border-top:1px solid var(--line)}
.group h2{margin:0 0 6px;font-size:13px;font-weight:650;color:var(--muted);letter-spacing:.04em;text-transform:uppercase}
ul.members{list-style:none;margin:0;padding:0}
ul.members li{display:flex;flex-wrap:wrap;justify-content:space-between;gap:4px 12px;padding:4px 0;font-size:15px}
ul.members .name{font-weight:600;overflow-wrap:anywhere}
ul.members .state{color:var(--muted)}
ul.members li.ready .state{color:var(--accent)}
ul.members li.failed .state,ul.members li.invalid .state{color:var(--bad);font-weight:650}
ul.members .why{flex-basis:100%;color:var(--bad);font-size:14px;overflow-wrap:anywhere}
"#;

/// The script: asks for the status JSON with `?wait=20&seen={changeKey}`, which the server
/// holds until something changes (at most 20 s), and asks again at once; updates the steps,
/// elapsed time and ETA (a group's `etaSeconds` for a record with groups) and re-renders the
/// group's member list from the JSON (text only: `textContent`, never markup; a group that
/// appears or goes away reloads the page instead); reloads the page when the phase leaves Waking/Sleeping (the server
/// then redirects to the service when Ready, renders the failure, or, on a stable address,
/// proxies to the service). A server that answers at once without a change (or an error) is
/// asked again with backoff (1 s, ×1.5, at most 5 s).
pub const SCRIPT: &str = r#"
(function () {
  "use strict";
  var d = document.body.dataset;
  if (!d.poll) { return; }
  var order = ["requested", "scaling", "provisioning", "pending", "running", "healthy", "ready"];
  var delay = 1000, started = Date.now() - (Number(d.elapsed) || 0) * 1000;
  var typical = Number(d.typical) || 0, done = false;
  var grouped = d.group === "1", etaAt = d.groupEta ? Date.now() + Number(d.groupEta) * 1000 : 0;
  var labels = { requested: "wake requested", scaling: "scaling up", provisioning: "provisioning", pending: "starting containers", running: "running", healthy: "health checks passed", ready: "ready" };
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function fmt(s) { s = Math.max(0, Math.round(s)); var m = Math.floor(s / 60), r = s % 60; return m ? m + " min " + (r < 10 ? "0" : "") + r + " s" : s + " s"; }
  function tick() {
    if (done) { return; }
    var e = (Date.now() - started) / 1000;
    text("elapsed", fmt(e));
    if (grouped) {
      if (etaAt) { var g = (etaAt - Date.now()) / 1000; text("eta", g > 1 ? "about " + fmt(g) + " left" : "any moment now"); }
      else { text("eta", "no estimate yet"); }
    } else if (typical) { var left = typical - e; text("eta", left > 1 ? "about " + fmt(left) + " left" : "any moment now"); }
  }
  function memberState(m) {
    if (m.phase === "Ready") { return "ready"; }
    if (m.phase === "Failed") { return "failed"; }
    if (m.phase === "Invalid") { return "invalid"; }
    if (m.phase === "Waking") { return labels[m.step] || "waking"; }
    if (m.phase === "Sleeping") { return "going to sleep"; }
    if (m.phase === "Asleep") { return "asleep"; }
    return "unknown";
  }
  function renderGroup(g) {
    var list = document.getElementById("members");
    if (!list || !g) { return; }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    for (var i = 0; i < g.members.length; i++) {
      var m = g.members[i], li = document.createElement("li"), st = memberState(m);
      li.className = (m.phase || "unknown").toLowerCase();
      li.setAttribute("data-member", m.name);
      li.setAttribute("data-step", m.step || "");
      var n = document.createElement("span"); n.className = "name"; n.textContent = m.name + (m.optional ? " (optional)" : ""); li.appendChild(n);
      var s = document.createElement("span"); s.className = "state"; s.textContent = st; li.appendChild(s);
      if (m.phase === "Failed" && m.message) { var w = document.createElement("span"); w.className = "why"; w.textContent = m.message; li.appendChild(w); }
      list.appendChild(li);
    }
    etaAt = typeof g.etaSeconds === "number" ? Date.now() + g.etaSeconds * 1000 : 0;
  }
  function apply(s) {
    var at = order.indexOf(s.step || "requested");
    var items = document.querySelectorAll("ol.steps li");
    for (var i = 0; i < items.length; i++) {
      var li = items[i], k = order.indexOf(li.getAttribute("data-step"));
      li.className = k < at ? "done" : (k === at ? "current" : "");
      if (k === at) { li.setAttribute("aria-current", "step"); } else { li.removeAttribute("aria-current"); }
    }
    var bar = document.getElementById("bar"); if (bar) { bar.value = Math.max(at, 0); }
    text("message", s.message || "");
    if (typeof s.elapsedSeconds === "number") { started = Date.now() - s.elapsedSeconds * 1000; }
    if (typeof s.typicalWakeSeconds === "number") { typical = s.typicalWakeSeconds; }
    document.body.setAttribute("data-step", s.step || "");
    if (s.group) { grouped = true; renderGroup(s.group); }
    tick();
  }
  var key = d.key || "";
  function schedule() { setTimeout(poll, delay); delay = Math.min(5000, delay * 1.5); }
  function reload() { done = true; window.location.reload(); }
  function poll() {
    var asked = Date.now(), sent = key;
    var url = d.poll + (d.poll.indexOf("?") < 0 ? "?" : "&") + "wait=20&seen=" + encodeURIComponent(sent);
    fetch(url, { cache: "no-store", credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 403 || r.status === 404) { reload(); return null; }
        if (!r.ok) { throw new Error("status " + r.status); }
        return r.json();
      })
      .then(function (s) {
        if (!s) { return; }
        if (s.phase !== "Waking" && s.phase !== "Sleeping") { reload(); return; }
        // A group appeared or went away: the server renders the member list (or drops it).
        if (!s.group !== !document.getElementById("members")) { reload(); return; }
        if (s.changeKey) { key = s.changeKey; }
        apply(s);
        if (key !== sent || Date.now() - asked > 1000) { delay = 1000; setTimeout(poll, 0); } else { schedule(); }
      })
      .catch(function () { schedule(); });
  }
  setInterval(tick, 1000);
  tick();
  setTimeout(poll, 0);
})();
"#;

const MOON: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M20.5 14.6A8.5 8.5 0 0 1 9.4 3.5a.6.6 0 0 0-.8-.7A9.5 9.5 0 1 0 21.2 15.4a.6.6 0 0 0-.7-.8z"/></svg>"#;
const ICON_INFO: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><circle cx="12" cy="12" r="9"/><path d="M12 11v5M12 8h.01"/></svg>"#;
const ICON_ERROR: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><circle cx="12" cy="12" r="9"/><path d="M12 7v6M12 16.5h.01"/></svg>"#;

fn step_label(step: Step) -> &'static str {
    match step {
        Step::Requested => "Wake requested",
        Step::Scaling => "Scaling up",
        Step::Provisioning => "Provisioning",
        Step::Pending => "Starting containers",
        Step::Running => "Running",
        Step::Healthy => "Health checks passed",
        Step::Ready => "Ready",
    }
}

/// What the member list says of one member: its step while Waking (lower case, as in
/// [`step_label`]), else its phase; the script's `memberState` says the same.
fn member_state(m: &MemberView) -> String {
    match (m.phase, m.step) {
        (Some(Phase::Ready), _) => "ready".into(),
        (Some(Phase::Failed), _) => "failed".into(),
        (Some(Phase::Invalid), _) => "invalid".into(),
        (Some(Phase::Waking), Some(step)) => step_label(step).to_lowercase(),
        (Some(Phase::Waking), None) => "waking".into(),
        (Some(Phase::Sleeping), _) => "going to sleep".into(),
        (Some(Phase::Asleep), _) => "asleep".into(),
        (None, _) => "unknown".into(),
    }
}

/// The member list of a record with groups: every member in start order with its own state,
/// and, for a Failed member, why (an Invalid member's reasons are not shown).
fn group_list(g: &GroupView) -> Markup {
    html! {
        section.group aria-label="Services started together" {
            h2 { "Started together" }
            ul.members #members aria-live="polite" {
                @for m in &g.members {
                    li class=(m.phase.map_or("unknown", Phase::as_str).to_lowercase()) data-member=(m.name) data-step=(m.step.map_or("", Step::as_str)) {
                        span.name { (m.name) @if m.optional { " (optional)" } }
                        span.state { (member_state(m)) }
                        @if m.phase == Some(Phase::Failed) && !m.message.is_empty() {
                            span.why { (m.message) }
                        }
                    }
                }
            }
        }
    }
}

fn theme_attr(t: Theme) -> &'static str {
    match t {
        Theme::Auto => "auto",
        Theme::Light => "light",
        Theme::Dark => "dark",
    }
}

/// `12 s`, `1 min 05 s`.
pub fn human_seconds(s: u64) -> String {
    if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

fn layout(
    data: &PageData,
    refresh: Option<&(u64, String)>,
    body_attrs: BodyAttrs,
    card: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" data-theme=(theme_attr(data.theme)) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="robots" content="noindex, nofollow";
                @if let Some((secs, url)) = refresh {
                    noscript { meta http-equiv="refresh" content=(format!("{secs}; url={url}")); }
                }
                title { (data.title) }
                link rel="icon" href="data:,";
                style nonce=(data.nonce) { (PreEscaped(STYLE)) }
            }
            body data-poll=[body_attrs.poll] data-elapsed=[body_attrs.elapsed] data-typical=[body_attrs.typical] data-phase=[body_attrs.phase] data-step=[body_attrs.step] data-key=[body_attrs.key] data-group=[body_attrs.group.then_some("1")] data-group-eta=[body_attrs.group_eta] {
                main.card {
                    div.brand { (PreEscaped(MOON)) "snooze" }
                    (card)
                }
                @if body_attrs.script {
                    script nonce=(data.nonce) { (PreEscaped(SCRIPT)) }
                }
            }
        }
    }
}

#[derive(Default)]
struct BodyAttrs {
    poll: Option<String>,
    elapsed: Option<u64>,
    typical: Option<u64>,
    phase: Option<&'static str>,
    step: Option<&'static str>,
    key: Option<String>,
    /// The record has groups: the ETA is the group's.
    group: bool,
    /// The group's `etaSeconds` when known.
    group_eta: Option<u64>,
    script: bool,
}

fn wait_card(w: &WaitPage) -> Markup {
    let v = &w.view;
    let title = &w.service_title;
    let failed = v.phase == Phase::Failed;
    let current = v.step;
    let at = current.map(|s| Step::ALL.iter().position(|x| *x == s).unwrap_or(0));
    // Route mode: this page is at the service's own address and turns into the service.
    let same_address = v.routed.is_some();
    let (heading, lead) = match v.phase {
        Phase::Waking if same_address => (
            format!("{title} is waking up"),
            "It was asleep to save resources. This page turns into it as soon as it is ready.",
        ),
        Phase::Waking => (
            format!("{title} is waking up"),
            "It was asleep to save resources. You will be taken there as soon as it is ready.",
        ),
        Phase::Ready if same_address => (format!("{title} is ready"), "Opening it now."),
        Phase::Ready => (format!("{title} is ready"), "Taking you there now."),
        Phase::Failed => (
            format!("{title} could not be started"),
            "The last attempt to wake it failed.",
        ),
        Phase::Sleeping => (
            format!("{title} is going to sleep"),
            "It was idle. Reload this page to wake it again.",
        ),
        Phase::Asleep => (
            format!("{title} is asleep"),
            "Open this link in a browser to wake it.",
        ),
        Phase::Invalid => (format!("{title} cannot be woken"), ""),
    };
    html! {
        h1 { (heading) }
        p.lead { (lead) }
        @if failed {
            div.alert role="alert" {
                strong { "Reason" }
                span #message { (v.message) }
            }
        }
        @if let (Some(at), false) = (at, failed) {
            progress #bar max="6" value=(at) aria-label="Wake progress" {}
        }
        ol.steps aria-label="Wake progress" {
            @for (i, step) in Step::ALL.iter().enumerate() {
                @let class = match at {
                    Some(a) if i < a => "done",
                    Some(a) if i == a && failed => "failed",
                    Some(a) if i == a => "current",
                    _ => "",
                };
                li class=(class) data-step=(step.as_str()) aria-current=[(class == "current" || class == "failed").then_some("step")] {
                    span.dot {}
                    span { (step_label(*step)) }
                }
            }
        }
        @if !failed && v.phase == Phase::Waking {
            p.detail aria-live="polite" #message { (v.message) }
        }
        @if v.phase == Phase::Waking {
            div.meta {
                span { "Elapsed " b #elapsed { (human_seconds(v.elapsed_seconds.unwrap_or(0))) } }
                span #eta {
                    @match (&v.group, v.eta_seconds) {
                        (Some(g), _) => @match g.eta_seconds {
                            Some(eta) if eta > 1 => { "about " (human_seconds(eta)) " left" }
                            Some(_) => { "any moment now" }
                            None => { "no estimate yet" }
                        },
                        (None, Some(eta)) if eta > 1 => { "about " (human_seconds(eta)) " left" }
                        (None, Some(_)) => { "any moment now" }
                        (None, None) => { "first wake: no estimate yet" }
                    }
                }
            }
        }
        @if let Some(g) = &v.group {
            (group_list(g))
        }
        @if failed {
            div.actions { a.button href=(w.retry_url) { "Try again" } }
        }
        @if v.phase == Phase::Waking {
            p.foot { "This page updates by itself. Keep it open." }
        }
    }
}

fn notice_card(n: &Notice) -> Markup {
    html! {
        div.icon.error[n.tone == Tone::Error] {
            (PreEscaped(if n.tone == Tone::Error { ICON_ERROR } else { ICON_INFO }))
        }
        h1 { (n.heading) }
        p.lead { (n.text) }
    }
}

/// Renders a whole page. Every interpolated value is escaped by maud.
pub fn render(data: &PageData) -> String {
    match &data.content {
        Content::Wait(w) => {
            let attrs = BodyAttrs {
                poll: w.poll_url.clone(),
                elapsed: w.view.elapsed_seconds,
                typical: w.view.typical_wake_seconds,
                phase: Some(w.view.phase.as_str()),
                step: w.view.step.map(|s| s.as_str()),
                key: Some(w.view.change_key.clone()),
                group: w.view.group.is_some(),
                group_eta: w.view.group.as_ref().and_then(|g| g.eta_seconds),
                script: w.poll_url.is_some(),
            };
            layout(data, w.refresh.as_ref(), attrs, wait_card(w)).into_string()
        }
        Content::Notice(n) => {
            layout(data, None, BodyAttrs::default(), notice_card(n)).into_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(phase: Phase, step: Option<Step>, message: &str) -> StatusView {
        StatusView {
            name: "demo".into(),
            phase,
            ready: false,
            quiet_until: None,
            over_budget: None,
            url: None,
            step,
            message: message.into(),
            since: None,
            elapsed_seconds: Some(12),
            eta_seconds: Some(30),
            typical_wake_seconds: Some(42),
            retry_after_seconds: Some(2),
            routed: None,
            address: None,
            group: None,
            change_key: "Waking.pending.0.-.00000000".into(),
        }
    }

    fn wait(v: StatusView, title: &str) -> PageData {
        PageData {
            title: format!("{title} is waking up"),
            theme: Theme::Auto,
            nonce: "abc123".into(),
            content: Content::Wait(WaitPage {
                service_title: title.into(),
                view: v,
                poll_url: Some("../api/v1/services/demo".into()),
                refresh: Some((2, "./demo?a=1&b=<x>".into())),
                retry_url: "./demo?retry=1".into(),
            }),
        }
    }

    #[test]
    fn the_wait_page_highlights_the_current_step() {
        let html = render(&wait(
            view(Phase::Waking, Some(Step::Pending), "Pulling"),
            "Demo",
        ));
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(
            html.contains(r#"<li class="current" data-step="pending" aria-current="step">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<li class="done" data-step="provisioning">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<li class="" data-step="running">"#),
            "{html}"
        );
        assert!(html.contains(r#"data-poll="../api/v1/services/demo""#));
        assert!(html.contains(r#"<noscript><meta http-equiv="refresh" content="2; url=./demo?a=1&amp;b=&lt;x&gt;"></noscript>"#), "{html}");
        assert!(html.contains(r#"<script nonce="abc123">"#));
        assert!(html.contains(r#"<style nonce="abc123">"#));
        assert!(html.contains("about 30 s left"));
        assert!(!html.contains("style=\""), "no inline style attributes");
        assert!(!html.contains("Try again"));
    }

    #[test]
    fn failed_shows_the_reason_and_try_again_but_does_not_poll() {
        let mut d = wait(
            view(
                Phase::Failed,
                Some(Step::Running),
                "<script>alert(1)</script> exited",
            ),
            "Demo",
        );
        if let Content::Wait(w) = &mut d.content {
            w.poll_url = None;
            w.refresh = None;
        }
        let html = render(&d);
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt; exited"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
        assert!(
            html.contains(r#"<a class="button" href="./demo?retry=1">Try again</a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<li class="failed" data-step="running" aria-current="step">"#),
            "{html}"
        );
        assert!(!html.contains("<script"), "no script when not polling");
        assert!(!html.contains("http-equiv"));
    }

    #[test]
    fn titles_and_notices_are_escaped() {
        let html = render(&wait(
            view(Phase::Waking, None, "m"),
            "<img src=x onerror=alert(1)>",
        ));
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; is waking up"));
        let html = render(&PageData {
            title: "x".into(),
            theme: Theme::Dark,
            nonce: "n".into(),
            content: Content::Notice(Notice {
                heading: "No service \"<b>\"".into(),
                text: "a & b".into(),
                tone: Tone::Error,
            }),
        });
        assert!(html.contains(r#"data-theme="dark""#));
        assert!(
            html.contains("No service &quot;&lt;b&gt;&quot;")
                || html.contains("No service \"&lt;b&gt;\""),
            "{html}"
        );
        assert!(html.contains("a &amp; b"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn a_group_lists_every_member_with_its_step_and_one_eta() {
        use super::super::status::MemberView;
        let m = |name: &str, phase: Phase, step: Option<Step>, message: &str| MemberView {
            name: name.into(),
            phase: Some(phase),
            step,
            message: message.into(),
            optional: false,
            wave: 0,
        };
        let mut v = view(
            Phase::Waking,
            Some(Step::Healthy),
            "Waiting for api to be ready.",
        );
        v.group = Some(GroupView {
            members: vec![
                m("api", Phase::Waking, Some(Step::Running), ""),
                m("db", Phase::Failed, Some(Step::Pending), "<b>exit 1</b>"),
                // GroupView::new blanks an Invalid member's message; the page shows none anyway.
                m("cache", Phase::Invalid, None, ""),
                m("web", Phase::Ready, Some(Step::Ready), ""),
            ],
            waiting_for: vec!["api".into(), "db".into()],
            eta_seconds: Some(95),
            ready_by: None,
        });
        let html = render(&wait(v, "Web"));
        assert!(
            html.contains(r#"<li class="waking" data-member="api" data-step="running"><span class="name">api</span><span class="state">running</span></li>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span class="state">failed</span><span class="why">&lt;b&gt;exit 1&lt;/b&gt;</span>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-member="cache" data-step=""><span class="name">cache</span><span class="state">invalid</span></li>"#),
            "{html}"
        );
        assert!(html.contains(r#"<span class="state">ready</span>"#));
        assert!(
            html.contains("about 1 min 35 s left"),
            "the group's ETA: {html}"
        );
        assert!(!html.contains("about 30 s left"), "not the record's own");
        assert!(
            html.contains(r#"data-group="1" data-group-eta="95""#),
            "{html}"
        );
        assert!(html.contains("Waiting for api to be ready."));
    }
}
