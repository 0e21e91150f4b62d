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
}
