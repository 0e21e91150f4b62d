//! Counting the AWS operations an SDK client sends, for the reconciler Lambda's "AWS calls by
//! operation" metric: an SDK interceptor ([`CallCounter`]) added to a client's config counts each
//! operation once per call (retries of the same call are not counted again), by the operation
//! name the SDK itself uses (`Scan`, `GetItem`, `UpdateItem`, ...), so no call site can be
//! forgotten.
//!
//! ```no_run
//! # async fn f(sdk: &aws_config::SdkConfig) {
//! let calls = snooze::aws_calls::CallCounter::new();
//! let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
//!     .interceptor(calls.clone())
//!     .build();
//! let client = aws_sdk_dynamodb::Client::from_conf(conf);
//! // ... calls.snapshot() → {"GetItem": 1, "Scan": 3}
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// An SDK interceptor that counts operations by name; cheap to clone (shared counts).
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    /// A counter with every count at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Operations sent so far: operation name → number of calls since this counter was made.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "snooze::aws_calls::CallCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or("Unknown", |m| m.name())
            .to_string();
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_call_is_counted_once_by_its_operation_name_even_when_it_fails() {
        let calls = CallCounter::new();
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            // Nothing listens on port 1: every call fails after its retries.
            .endpoint_url("http://127.0.0.1:1")
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(2),
            )
            .interceptor(calls.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        assert!(client.scan().table_name("t").send().await.is_err());
        assert!(client.scan().table_name("t").send().await.is_err());
        assert!(
            client
                .describe_table()
                .table_name("t")
                .send()
                .await
                .is_err()
        );
        let snapshot = calls.snapshot();
        assert_eq!(
            snapshot,
            BTreeMap::from([("DescribeTable".to_string(), 1), ("Scan".to_string(), 2)])
        );
    }
}
