//! Classifying a request path into one of the wake endpoint's routes, tolerating an API Gateway
//! stage prefix, and computing the *relative* URLs the wait page uses.
//!
//! # Stage prefixes
//!
//! Behind API Gateway the handler may see `/{stage}/s/demo` (a named stage on the
//! `execute-api` host; `lambda_http` also adds the stage when a custom domain left it out) or
//! `/s/demo` (`$default` stage, local axum). So a path that matches no route is tried once more
//! without its first segment, when that segment looks like a stage name (`[A-Za-z0-9_-]+` and
//! not `s`, `api` or `healthz`). The browser's address bar may differ from what the handler
//! sees (custom domains, API mapping keys), so every URL the page itself uses is *relative*,
//! computed from the part of the path after the prefix: that part is the same in both views.
//!
//! Consequences worth knowing: a stage may not be named `s`, `api` or `healthz`; a lone
//! `/{segment}` (stage-like) is answered with a redirect to `{segment}/`, and `/{segment}/` is
//! the root, i.e. the default service's page when one is configured. Paths with a dot in the
//! first segment (`/favicon.ico`, `/robots.txt`) are never taken for a stage: 404.

/// The routes, as `(method, OpenAPI path template)`; `infra/api/openapi.yaml` describes the
/// same set (a test checks it) and [`super::router`] registers these paths.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/s/{name}"),
    ("HEAD", "/s/{name}"),
    ("GET", "/s/{name}/{proxy+}"),
    ("HEAD", "/s/{name}/{proxy+}"),
    ("GET", "/api/v1/services/{name}"),
    ("HEAD", "/api/v1/services/{name}"),
    ("POST", "/api/v1/services/{name}/wake"),
    ("GET", "/healthz"),
    ("HEAD", "/healthz"),
];

/// Which route a path selects. Names are raw path segments, not yet validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// `/`: the default service's page.
    Root,
    /// `/s/{name}[/{rest}]`; `rest` is the raw remainder, empty or starting with `/`.
    Page {
        /// The service name segment.
        name: &'a str,
        /// The path after `/s/{name}`, percent-encoded as received.
        rest: &'a str,
    },
    /// `/api/v1/services/{name}`.
    Status(&'a str),
    /// `/api/v1/services/{name}/wake`.
    Wake(&'a str),
    /// `/healthz`.
    Healthz,
    /// `/{stage}` alone (or `lambda_http`'s doubled `/{stage}/{stage}`): redirect to `{stage}/`
    /// so relative URLs resolve below the stage.
    StageRoot(&'a str),
    /// Nothing matches.
    NotFound,
}

/// A classified path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed<'a> {
    /// The stage segment that was stripped (without slashes), if any.
    pub prefix: Option<&'a str>,
    /// The path after the prefix (starts with `/`), as received.
    pub rel: &'a str,
    /// The route.
    pub target: Target<'a>,
}

fn is_stage_like(seg: &str) -> bool {
    !seg.is_empty()
        && seg.len() <= 128
        && seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(seg, "s" | "api" | "healthz")
}

fn match_rel(rel: &str) -> Option<Target<'_>> {
    let body = rel.strip_prefix('/')?;
    let segs: Vec<&str> = body.split('/').collect();
    match segs.as_slice() {
        [""] => Some(Target::Root),
        ["healthz"] => Some(Target::Healthz),
        ["s", name, ..] if !name.is_empty() => {
            let rest = &body[2 + name.len()..];
            Some(Target::Page { name, rest })
        }
        ["api", "v1", "services", name] => Some(Target::Status(name)),
        ["api", "v1", "services", name, "wake"] => Some(Target::Wake(name)),
        _ => None,
    }
}

/// Classifies `path` (the request URI's path, percent-encoded as received).
pub fn route(path: &str) -> Routed<'_> {
    if let Some(target) = match_rel(path) {
        return Routed {
            prefix: None,
            rel: path,
            target,
        };
    }
    let Some(body) = path.strip_prefix('/') else {
        return Routed {
            prefix: None,
            rel: path,
            target: Target::NotFound,
        };
    };
    let first = body.split('/').next().unwrap_or_default();
    if !is_stage_like(first) {
        return Routed {
            prefix: None,
            rel: path,
            target: Target::NotFound,
        };
    }
    let rel = &body[first.len()..];
    if rel.is_empty() || rel == format!("/{first}") {
        return Routed {
            prefix: Some(first),
            rel,
            target: Target::StageRoot(first),
        };
    }
    match match_rel(rel) {
        Some(target) => Routed {
            prefix: Some(first),
            rel,
            target,
        },
        None => Routed {
            prefix: Some(first),
            rel,
            target: Target::NotFound,
        },
    }
}

/// `../` repeated so that, from a document at `rel` (the path after any stage prefix), a
/// relative reference reaches the root of the wake API (`""` at the root).
pub fn up_to_root(rel: &str) -> String {
    let depth = rel
        .trim_start_matches('/')
        .split('/')
        .count()
        .saturating_sub(1);
    "../".repeat(depth)
}

/// The relative URL of the status route for `name`, seen from a document at `rel`.
pub fn status_url(rel: &str, name: &str) -> String {
    format!("{}api/v1/services/{name}", up_to_root(rel))
}

/// The relative URL of the wake route for `name`, seen from a document at `rel`.
pub fn wake_url(rel: &str, name: &str) -> String {
    format!("{}api/v1/services/{name}/wake", up_to_root(rel))
}

/// A relative URL for the document at `rel` itself, with `query` (raw, without `?`):
/// `./{last segment}[?query]`. The `./` keeps a segment containing `:` from reading as a scheme.
pub fn self_url(rel: &str, query: &str) -> String {
    let last = rel.rsplit('/').next().unwrap_or("");
    if query.is_empty() {
        format!("./{last}")
    } else {
        format!("./{last}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_and_without_a_stage_prefix() {
        let r = route("/s/demo/a/b");
        assert_eq!(
            r.target,
            Target::Page {
                name: "demo",
                rest: "/a/b"
            }
        );
        assert_eq!((r.prefix, r.rel), (None, "/s/demo/a/b"));
        let r = route("/prod/s/demo");
        assert_eq!(
            r.target,
            Target::Page {
                name: "demo",
                rest: ""
            }
        );
        assert_eq!((r.prefix, r.rel), (Some("prod"), "/s/demo"));
        assert_eq!(
            route("/s/demo/").target,
            Target::Page {
                name: "demo",
                rest: "/"
            }
        );
        assert_eq!(route("/").target, Target::Root);
        assert_eq!(route("/prod/").target, Target::Root);
        assert_eq!(route("/prod").target, Target::StageRoot("prod"));
        assert_eq!(route("/prod/prod").target, Target::StageRoot("prod"));
        assert_eq!(route("/healthz").target, Target::Healthz);
        assert_eq!(route("/v1/healthz").target, Target::Healthz);
        assert_eq!(
            route("/api/v1/services/demo").target,
            Target::Status("demo")
        );
        assert_eq!(
            route("/dev/api/v1/services/demo/wake").target,
            Target::Wake("demo")
        );
        for nf in [
            "/s",
            "/s/",
            "/favicon.ico",
            "/a/b/s/demo",
            "/api/v1/services",
            "",
            "*",
            "/prod/x",
        ] {
            assert_eq!(route(nf).target, Target::NotFound, "{nf}");
        }
    }

    #[test]
    fn relative_urls_depend_only_on_the_path_after_the_prefix() {
        assert_eq!(status_url("/s/demo", "demo"), "../api/v1/services/demo");
        assert_eq!(status_url("/s/demo/", "demo"), "../../api/v1/services/demo");
        assert_eq!(
            status_url("/s/demo/a/b", "demo"),
            "../../../api/v1/services/demo"
        );
        assert_eq!(status_url("/", "demo"), "api/v1/services/demo");
        assert_eq!(wake_url("/s/demo", "demo"), "../api/v1/services/demo/wake");
        assert_eq!(self_url("/s/demo", ""), "./demo");
        assert_eq!(self_url("/s/demo/", "a=1"), "./?a=1");
        assert_eq!(self_url("/s/demo/x:y", "a=1"), "./x:y?a=1");
        assert_eq!(self_url("/", ""), "./");
    }
}
