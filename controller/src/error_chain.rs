//! Readable error chains for logs and statuses.
//!
//! `aws_smithy_types::error::display::DisplayErrorContext` appends the error's `Debug` form,
//! which puts Rust struct dumps into an operator's terminal. [`chain`] gives the same causes,
//! Display only: `dispatch failure: io error: error trying to connect: Connection refused (os error 111)`.

/// Every message in `err`'s `source()` chain, joined with `": "`, skipping a cause whose
/// message its parent already contains (the SDK often repeats it).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        if !msg.is_empty() && !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = e.source();
    }
    out
}

#[cfg(feature = "aws")]
/// How to give snooze AWS credentials, for the one line that says there were none.
pub const CREDENTIALS_HINT: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
     AWS_PROFILE (run `aws sso login` first for an SSO profile); for an emulator such as moto, \
     pass --endpoint-url";

/// One line for an AWS call that failed because the SDK's credentials chain gave no
/// credentials: `None` when `err` failed otherwise. Found by type (a
/// [`CredentialsError`](aws_credential_types::provider::error::CredentialsError) in the
/// `source()` chain), not by message: "no AWS credentials were found; set ..." when no source
/// had any (also a provider that timed out, such as instance metadata off EC2), else "AWS
/// credentials could not be loaded: <why>; set ..." (a broken profile, an expired SSO session).
#[cfg(feature = "aws")]
pub fn credentials_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(credentials) = e.downcast_ref::<CredentialsError>() {
            return Some(match credentials {
                CredentialsError::CredentialsNotLoaded(_)
                | CredentialsError::ProviderTimedOut(_) => {
                    format!("no AWS credentials were found; {CREDENTIALS_HINT}")
                }
                other => format!(
                    "AWS credentials could not be loaded: {}; {CREDENTIALS_HINT}",
                    chain(other)
                ),
            });
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_joins_display_messages_without_debug() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(chain(&e), "dispatch failure: connection refused");
        assert!(!chain(&e).contains("Outer("));
    }

    #[cfg(feature = "aws")]
    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Dispatch(#[source] Box<dyn std::error::Error + Send + Sync>);

    #[cfg(feature = "aws")]
    #[test]
    fn a_credentials_error_anywhere_in_the_chain_is_one_line() {
        use aws_credential_types::provider::error::CredentialsError;
        let none = Dispatch(Box::new(CredentialsError::not_loaded(
            "failed to load IMDS session token",
        )));
        let line = credentials_problem(&none).unwrap();
        assert!(line.starts_with("no AWS credentials were found; set AWS_ACCESS_KEY_ID"));
        assert!(!line.contains("IMDS"), "{line}");
        let broken = Dispatch(Box::new(CredentialsError::invalid_configuration(
            "profile `dev` not found",
        )));
        let line = credentials_problem(&broken).unwrap();
        assert!(
            line.starts_with("AWS credentials could not be loaded: "),
            "{line}"
        );
        let other = Dispatch(Box::new(std::io::Error::other("connection refused")));
        assert_eq!(credentials_problem(&other), None);
    }
}
