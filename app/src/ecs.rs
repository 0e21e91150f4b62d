//! ECS task metadata: which cluster, task, task definition and container this app runs as,
//! read once from the task metadata endpoint v4 that the ECS agent serves to every container
//! (`ECS_CONTAINER_METADATA_URI_V4`, `GET ${uri}/task` and `GET ${uri}`).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};

/// Errors of reading the metadata endpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be built.
    #[error("building the metadata http client")]
    Client(#[source] reqwest::Error),
    /// The request failed, timed out, answered non-2xx or with a body that is not the
    /// expected JSON.
    #[error("reading ecs metadata from {url}")]
    Request {
        /// The URL requested.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
}

/// What the app shows about its ECS task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskMetadata {
    /// Cluster name or ARN (`Cluster` of `/task`).
    pub cluster: String,
    /// Task ARN (`TaskARN`).
    pub task_arn: String,
    /// Task definition family (`Family`).
    pub family: String,
    /// Task definition revision (`Revision`, a string in v4).
    pub revision: String,
    /// This container's name in the task definition (`Name` of the container document).
    pub container_name: String,
    /// Availability zone (`AvailabilityZone`), when the agent reports it.
    pub availability_zone: Option<String>,
    /// `FARGATE` or `EC2` (`LaunchType`), when the agent reports it.
    pub launch_type: Option<String>,
}

impl TaskMetadata {
    /// The cluster's name: the part after `cluster/` of an ARN, else `cluster` as is.
    pub fn cluster_name(&self) -> &str {
        self.cluster
            .rsplit_once(":cluster/")
            .map_or(&self.cluster, |(_, name)| name)
    }

    /// The task's id: the last path segment of its ARN.
    pub fn task_id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }
}

/// The state of the metadata as shown in `/api/metrics` under `ecs`, tagged by `state`:
/// `{"state":"not_configured"}`, `{"state":"pending"}`, `{"state":"loaded","cluster":...}`,
/// `{"state":"failed","error":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EcsMetadata {
    /// `ECS_CONTAINER_METADATA_URI_V4` is unset: not running on ECS.
    NotConfigured,
    /// The first read has not finished yet.
    Pending,
    /// Read successfully.
    Loaded(TaskMetadata),
    /// Every attempt failed; the error chain as text.
    Failed {
        /// Why, e.g. `reading ecs metadata from http://...: operation timed out`.
        error: String,
    },
}

#[derive(Deserialize)]
struct TaskDoc {
    #[serde(rename = "Cluster")]
    cluster: String,
    #[serde(rename = "TaskARN")]
    task_arn: String,
    #[serde(rename = "Family")]
    family: String,
    #[serde(rename = "Revision")]
    revision: String,
    #[serde(rename = "AvailabilityZone", default)]
    availability_zone: Option<String>,
    #[serde(rename = "LaunchType", default)]
    launch_type: Option<String>,
}

#[derive(Deserialize)]
struct ContainerDoc {
    #[serde(rename = "Name")]
    name: String,
}

/// Reads `${base_uri}/task` and `${base_uri}` once each, every request bounded by `timeout`.
///
/// Errors: [`Error::Request`] when either request fails, times out, answers non-2xx, or its
/// body lacks a required field.
pub async fn fetch(base_uri: &str, timeout: Duration) -> Result<TaskMetadata, Error> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(Error::Client)?;
    let base = base_uri.trim_end_matches('/');
    let task: TaskDoc = get_json(&client, &format!("{base}/task")).await?;
    let container: ContainerDoc = get_json(&client, base).await?;
    Ok(TaskMetadata {
        cluster: task.cluster,
        task_arn: task.task_arn,
        family: task.family,
        revision: task.revision,
        container_name: container.name,
        availability_zone: task.availability_zone,
        launch_type: task.launch_type,
    })
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    client: &reqwest::Client,
    url: &str,
) -> Result<T, Error> {
    let wrap = |source| Error::Request {
        url: url.to_owned(),
        source,
    };
    client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(wrap)?
        .json()
        .await
        .map_err(wrap)
}

/// [`fetch`] with up to `attempts` tries, backing off exponentially from 200 ms. The ECS
/// agent may not answer in the first moments of a task. Returns the state to show.
pub async fn load(base_uri: Option<&str>, timeout: Duration, attempts: usize) -> EcsMetadata {
    let Some(base) = base_uri else {
        return EcsMetadata::NotConfigured;
    };
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_times(attempts.saturating_sub(1));
    match (|| fetch(base, timeout)).retry(policy).await {
        Ok(meta) => EcsMetadata::Loaded(meta),
        Err(e) => EcsMetadata::Failed {
            error: error_chain(&e),
        },
    }
}

/// `error: cause: cause` on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_state_json_is_tagged() {
        let v = serde_json::to_value(EcsMetadata::NotConfigured).unwrap();
        assert_eq!(v, serde_json::json!({"state": "not_configured"}));
        let v = serde_json::to_value(EcsMetadata::Failed { error: "x".into() }).unwrap();
        assert_eq!(v, serde_json::json!({"state": "failed", "error": "x"}));
    }

    #[test]
    fn short_names_from_arns() {
        let t = TaskMetadata {
            cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/demo".into(),
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/demo/abc123".into(),
            family: "f".into(),
            revision: "1".into(),
            container_name: "app".into(),
            availability_zone: None,
            launch_type: None,
        };
        assert_eq!((t.cluster_name(), t.task_id()), ("demo", "abc123"));
        let plain = TaskMetadata {
            cluster: "default".into(),
            task_arn: "xyz".into(),
            ..t
        };
        assert_eq!((plain.cluster_name(), plain.task_id()), ("default", "xyz"));
    }

    #[tokio::test]
    async fn unset_uri_is_not_configured() {
        assert_eq!(
            load(None, Duration::from_millis(10), 3).await,
            EcsMetadata::NotConfigured
        );
    }
}
