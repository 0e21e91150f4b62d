//! AWS error classification: is it throttling, worth retrying now, or permanent?
//!
//! [`classify`] is a pure function of an error's code, message, HTTP status and kind, so the
//! rules are table-tested; `CallError::from_sdk` (cargo feature `aws`) extracts those facts from an SDK error.

#[cfg(feature = "aws")]
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
#[cfg(feature = "aws")]
use aws_sdk_ecs::operation::RequestId;

use crate::platform::Error;

/// How an AWS call failed, as far as retrying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttled (by code, by message such as ECS `ClientException: Rate exceeded`, or HTTP
    /// 429): retried with backoff.
    Throttling,
    /// 5xx, timeouts, connection failures, unparseable answers: retried with backoff.
    Transient,
    /// A client error that will fail the same way again (access denied, invalid parameter,
    /// not found): not retried.
    Permanent,
}

impl ErrorClass {
    /// Whether the call is retried (with backoff) within this pass.
    pub fn retry_now(self) -> bool {
        matches!(self, Self::Throttling | Self::Transient)
    }
}

/// Where the SDK says the failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The service answered with an error (has code and message).
    Service,
    /// The request timed out.
    Timeout,
    /// The request could not be sent or no answer came back (connection refused, reset).
    Dispatch,
    /// An answer came back but could not be read.
    Response,
    /// The request could not be built (a bug or bad input).
    Construction,
}

/// Error codes that mean "slow down", whatever the service.
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
];

/// Message fragments (case-insensitive) that mean "slow down" under another code, e.g. ECS's
/// `ClientException: Rate exceeded`.
pub const THROTTLING_MESSAGES: &[&str] = &[
    "rate exceeded",
    "request limit exceeded",
    "too many requests",
];

/// Error codes of transient server-side failures.
pub const TRANSIENT_CODES: &[&str] = &[
    "ServerException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// EC2's answer for an ENI id it does not know (yet): right after a task starts, the ENI can
/// be named by ECS before EC2 describes it. The task is reported without an address.
pub const ENI_NOT_FOUND: &str = "InvalidNetworkInterfaceID.NotFound";

/// Classifies a failed call. Throttling wins over everything (by code, message or HTTP 429);
/// then timeouts, dispatch and response failures, 5xx and known server codes are transient;
/// everything else (AccessDenied, InvalidParameter, ClusterNotFound, UnrecognizedClient,
/// construction failures) is permanent.
pub fn classify(
    code: Option<&str>,
    message: Option<&str>,
    http_status: Option<u16>,
    kind: FailureKind,
) -> ErrorClass {
    let code = code.unwrap_or_default();
    let message = message.unwrap_or_default().to_ascii_lowercase();
    if THROTTLING_CODES.contains(&code)
        || THROTTLING_MESSAGES.iter().any(|m| message.contains(m))
        || http_status == Some(429)
    {
        return ErrorClass::Throttling;
    }
    match kind {
        FailureKind::Timeout | FailureKind::Dispatch | FailureKind::Response => {
            ErrorClass::Transient
        }
        FailureKind::Construction => ErrorClass::Permanent,
        FailureKind::Service => {
            if TRANSIENT_CODES.contains(&code) || http_status.is_some_and(|s| s >= 500) {
                ErrorClass::Transient
            } else {
                ErrorClass::Permanent
            }
        }
    }
}

/// A failed AWS call, reduced to what logs, statuses and retries need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// The operation, e.g. `DescribeServices`.
    pub operation: &'static str,
    /// AWS error code (`ThrottlingException`), or a local one for failures without an answer
    /// (`TimeoutError`, `DispatchFailure`, `ResponseError`, `ConstructionFailure`).
    pub code: String,
    /// The service's message, or the SDK's full error chain when there is no answer.
    pub message: String,
    /// `x-amzn-requestid` of the answer, when there was one.
    pub request_id: Option<String>,
    /// How to treat it.
    pub class: ErrorClass,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed: {}: {}",
            self.operation, self.code, self.message
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl CallError {
    /// Extracts code, message, request id and HTTP status from an SDK error and classifies it.
    #[cfg(feature = "aws")]
    pub fn from_sdk<E>(operation: &'static str, err: &SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (kind, local_code) = match err {
            SdkError::ServiceError(_) => (FailureKind::Service, None),
            SdkError::TimeoutError(_) => (FailureKind::Timeout, Some("TimeoutError")),
            SdkError::DispatchFailure(_) => (FailureKind::Dispatch, Some("DispatchFailure")),
            SdkError::ResponseError(_) => (FailureKind::Response, Some("ResponseError")),
            _ => (FailureKind::Construction, Some("ConstructionFailure")),
        };
        let http_status = err.raw_response().map(|r| r.status().as_u16());
        let code = err
            .code()
            .map(str::to_owned)
            .or_else(|| local_code.map(str::to_owned))
            .unwrap_or_else(|| {
                http_status
                    .map(|s| format!("HTTP{s}"))
                    .unwrap_or_else(|| "Unknown".to_owned())
            });
        let message = match (kind, err.message()) {
            (FailureKind::Service, Some(m)) if !m.is_empty() => m.to_owned(),
            // No credentials: one line saying how to provide them, not the provider chain.
            _ => crate::error_chain::credentials_problem(err)
                .unwrap_or_else(|| crate::error_chain::chain(err)),
        };
        let class = classify(Some(&code), Some(&message), http_status, kind);
        Self {
            operation,
            code,
            message,
            request_id: err.request_id().map(str::to_owned),
            class,
        }
    }

    /// Whether this is EC2's [`ENI_NOT_FOUND`].
    pub fn is_eni_not_found(&self) -> bool {
        self.code == ENI_NOT_FOUND
    }

    /// The platform error for callers: throttling that outlived its retries is
    /// [`Error::Throttled`]; anything else is [`Error::Call`] with `retryable` false only for
    /// permanent errors. The message carries the request id when there is one.
    pub fn into_platform(self) -> Error {
        let message = match &self.request_id {
            Some(id) => format!("{} (request id {id})", self.message),
            None => self.message.clone(),
        };
        match self.class {
            ErrorClass::Throttling => Error::Throttled {
                operation: self.operation,
                message: format!("{}: {message}", self.code),
            },
            class => Error::Call {
                operation: self.operation,
                code: self.code,
                message,
                retryable: class != ErrorClass::Permanent,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;
    use FailureKind::*;

    #[cfg(feature = "aws")]
    #[test]
    fn missing_credentials_are_one_line_saying_how_to_provide_them() {
        use aws_credential_types::provider::error::CredentialsError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let err: SdkError<aws_sdk_ecs::operation::list_tasks::ListTasksError> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::not_loaded(
                    "no providers in chain provided credentials",
                )),
                None,
            ));
        let e = CallError::from_sdk("ListTasks", &err);
        assert!(
            e.message.starts_with("no AWS credentials were found; "),
            "{}",
            e.message
        );
        assert!(!e.message.contains('\n'), "{}", e.message);
    }

    /// (code, message, HTTP status, kind) → class.
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Option<u16>,
        FailureKind,
        ErrorClass,
    );

    #[test]
    fn classification_table() {
        let cases: &[Case] = &[
            // throttling by code
            (
                Some("ThrottlingException"),
                Some("Rate exceeded"),
                Some(400),
                Service,
                Throttling,
            ),
            (
                Some("Throttling"),
                Some("Rate exceeded"),
                Some(400),
                Service,
                Throttling,
            ),
            (
                Some("RequestLimitExceeded"),
                Some("Request limit exceeded."),
                Some(503),
                Service,
                Throttling,
            ),
            (
                Some("TooManyRequestsException"),
                None,
                Some(400),
                Service,
                Throttling,
            ),
            // throttling by message under another code (ECS)
            (
                Some("ClientException"),
                Some("Rate exceeded"),
                Some(400),
                Service,
                Throttling,
            ),
            (
                Some("ClientException"),
                Some("rate EXCEEDED for DescribeTasks"),
                Some(400),
                Service,
                Throttling,
            ),
            // throttling by HTTP status alone
            (None, None, Some(429), Response, Throttling),
            // transient
            (
                Some("ServerException"),
                Some("Service unavailable"),
                Some(500),
                Service,
                Transient,
            ),
            (Some("InternalError"), None, Some(500), Service, Transient),
            (Some("Unavailable"), None, Some(503), Service, Transient),
            (
                Some("SomethingNew"),
                Some("boom"),
                Some(502),
                Service,
                Transient,
            ),
            (None, None, None, Timeout, Transient),
            (None, Some("connection refused"), None, Dispatch, Transient),
            (None, None, Some(200), Response, Transient),
            // permanent
            (
                Some("AccessDeniedException"),
                Some("User is not authorized"),
                Some(400),
                Service,
                Permanent,
            ),
            (Some("AccessDenied"), None, Some(403), Service, Permanent),
            (
                Some("UnauthorizedOperation"),
                None,
                Some(403),
                Service,
                Permanent,
            ),
            (
                Some("InvalidParameterException"),
                Some("bad"),
                Some(400),
                Service,
                Permanent,
            ),
            (
                Some("ClusterNotFoundException"),
                Some("Cluster not found."),
                Some(400),
                Service,
                Permanent,
            ),
            (
                Some("ServiceNotFoundException"),
                None,
                Some(400),
                Service,
                Permanent,
            ),
            (
                Some("ClientException"),
                Some("Unable to assume role"),
                Some(400),
                Service,
                Permanent,
            ),
            (
                Some("UnrecognizedClientException"),
                None,
                Some(400),
                Service,
                Permanent,
            ),
            (
                Some(ENI_NOT_FOUND),
                Some("The networkInterface ID 'eni-1' does not exist"),
                Some(400),
                Service,
                Permanent,
            ),
            (None, None, None, Construction, Permanent),
        ];
        for (code, message, status, kind, want) in cases {
            assert_eq!(
                classify(*code, *message, *status, *kind),
                *want,
                "{code:?} {message:?} {status:?} {kind:?}"
            );
        }
    }

    #[test]
    fn only_throttling_and_transient_retry_now() {
        assert!(Throttling.retry_now() && Transient.retry_now() && !Permanent.retry_now());
    }

    #[test]
    fn platform_errors_carry_code_message_and_request_id() {
        let e = CallError {
            operation: "DescribeServices",
            code: "AccessDeniedException".into(),
            message: "User: x is not authorized".into(),
            request_id: Some("req-1".into()),
            class: Permanent,
        };
        assert_eq!(
            e.to_string(),
            "DescribeServices failed: AccessDeniedException: User: x is not authorized (request id req-1)"
        );
        assert_eq!(
            e.into_platform(),
            Error::Call {
                operation: "DescribeServices",
                code: "AccessDeniedException".into(),
                message: "User: x is not authorized (request id req-1)".into(),
                retryable: false,
            }
        );
        let t = CallError {
            operation: "ListTasks",
            code: "ClientException".into(),
            message: "Rate exceeded".into(),
            request_id: None,
            class: Throttling,
        };
        assert_eq!(
            t.into_platform(),
            Error::Throttled {
                operation: "ListTasks",
                message: "ClientException: Rate exceeded".into()
            }
        );
        let s = CallError {
            operation: "UpdateService",
            code: "ServerException".into(),
            message: "x".into(),
            request_id: None,
            class: Transient,
        };
        assert!(matches!(
            s.into_platform(),
            Error::Call {
                retryable: true,
                ..
            }
        ));
    }
}
