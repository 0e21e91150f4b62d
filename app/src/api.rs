//! The demo app's second role (`APP_ROLE=api`): a tiny JSON API the dashboard depends on, so
//! the local demo is a group of two services that wake in order (the API, then the
//! dashboard). Also the dashboard's side of it: [`fetch_greeting`] calls the API at `API_URL`
//! and [`ApiAnswer`] is what the dashboard's API card shows.
//!
//! | route (role `api`) | answer |
//! |---|---|
//! | `GET /api/greeting` | `200` [`Greeting`]: `{"greeting": "Hello from <APP_NAME>", "servedBy": "<APP_NAME> (pid N on HOST)"}` |
//! | `GET /health` | `200 {"status":"ok"}` |
//! | anything else | `404 {"error":"not found"}` |

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::App;
use crate::ecs::error_chain;
use crate::system::SystemSnapshot;

/// The JSON of `GET /api/greeting` (camelCase on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Greeting {
    /// `Hello from <APP_NAME>`.
    pub greeting: String,
    /// Which process answered: `<APP_NAME> (pid N on HOSTNAME)`.
    pub served_by: String,
}

impl Greeting {
    /// The greeting of the process configured with `app_name`.
    pub fn of(app_name: &str) -> Self {
        Greeting {
            greeting: format!("Hello from {app_name}"),
            served_by: format!(
                "{app_name} (pid {} on {})",
                std::process::id(),
                SystemSnapshot::read().hostname
            ),
        }
    }
}

/// What the dashboard got from the API at `API_URL` for one page load: shown in its API card,
/// and returned by the dashboard's own `GET /api/greeting` (200 with the [`Greeting`], or 502
/// `{"error": ..., "url": ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAnswer {
    /// The API answered 200 with a greeting.
    Answered {
        /// The URL called (`{API_URL}/api/greeting`).
        url: String,
        /// What it said.
        greeting: Greeting,
    },
    /// The API did not answer, answered an error status, or answered something that is not a
    /// greeting.
    Failed {
        /// The URL called.
        url: String,
        /// One line saying what went wrong (`the API did not answer: ... Connection refused`).
        error: String,
    },
}

/// Calls `GET url` with `client` (whose timeout bounds the call) and reads a [`Greeting`].
/// Never fails: every problem is an [`ApiAnswer::Failed`] with a one-line reason.
pub async fn fetch_greeting(client: &reqwest::Client, url: String) -> ApiAnswer {
    let failed = |error: String| ApiAnswer::Failed {
        url: url.clone(),
        error,
    };
    let response = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return failed("the API did not answer in time".into()),
        Err(e) => return failed(format!("the API did not answer: {}", error_chain(&e))),
    };
    let status = response.status();
    if status != StatusCode::OK {
        return failed(format!("the API answered {status}"));
    }
    match response.json::<Greeting>().await {
        Ok(greeting) => ApiAnswer::Answered {
            url: url.clone(),
            greeting,
        },
        Err(e) => failed(format!(
            "the API's answer is not a greeting: {}",
            error_chain(&e)
        )),
    }
}

impl IntoResponse for ApiAnswer {
    fn into_response(self) -> Response {
        match self {
            ApiAnswer::Answered { greeting, .. } => Json(greeting).into_response(),
            ApiAnswer::Failed { url, error } => (
                StatusCode::BAD_GATEWAY,
                Json(json!({"error": error, "url": url})),
            )
                .into_response(),
        }
    }
}

/// The routes of role `api` (see the module docs), without the shared layers.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/greeting", get(greeting))
        .route("/health", get(crate::health))
}

async fn greeting(State(app): State<Arc<App>>) -> Json<Greeting> {
    Json(Greeting::of(&app.config().app_name))
}
