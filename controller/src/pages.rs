//! The guard every paginated AWS call goes through: a call whose pages do not end (a
//! `nextToken` seen before, or more pages than the call can plausibly have) stops with a
//! [`PaginationError`] instead of looping, and never passes a partial list off as complete.
//!
//! Used by ECS `ListTasks` and EC2 `DescribeNetworkInterfaces` ([`crate::platform::ecs`]), ECS
//! `ListClusters` and `ListServices` (`snoozectl discover`), the simulated `ListTasks` ([`crate::platform::sim`]) and the DynamoDB store's `Scan`
//! ([`crate::store`]); a module of its own below both, so neither depends on the other.
//!
//! The SDK's own paginators (`into_paginator()`) are not used: by default they *stop quietly*
//! when a token repeats (`stop_on_duplicate_token`), which is exactly the partial-but-complete
//! answer this guard exists to refuse, they only compare a token with the one just before it
//! (a cycle `A, B, A` goes on for ever), and an error ends their stream, so the per-request
//! backoff and counting of the ECS platform would have to restart them from a token.

/// Page limit of ECS `ListTasks` for one service: 100 pages of 100 ARNs is twice the
/// 5,000-tasks-per-service quota.
pub const LIST_TASKS_MAX_PAGES: usize = 100;
/// Page limit of EC2 `DescribeNetworkInterfaces` for one batch of 200 ENI ids (one page of up
/// to 1,000 answers is enough).
pub const DESCRIBE_ENIS_MAX_PAGES: usize = 10;
/// Page limit of ECS `ListClusters` (`snoozectl discover`): 200 pages of 100 ARNs is twice the
/// 10,000-clusters-per-region quota.
pub const LIST_CLUSTERS_MAX_PAGES: usize = 200;
/// Page limit of ECS `ListServices` for one cluster (`snoozectl discover`): 100 pages of 100
/// ARNs is twice the 5,000-services-per-cluster quota.
pub const LIST_SERVICES_MAX_PAGES: usize = 100;
/// Page limit of a listing of the whole table (DynamoDB `Scan`, [`crate::store::pages`]): 1 MB
/// per page, so about 10 GB of records (1.4 million records of 7 KB); a repeated token is
/// caught at once whatever the limit.
pub const SCAN_MAX_PAGES: usize = 10_000;

/// A paginated call that did not end.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    /// The call answered with a continuation token it had already returned: going on would
    /// loop, stopping would return part of the list as if it were all of it.
    #[error(
        "PaginationRepeatedToken: {operation} returned the continuation token {token} again on page {page} (first seen on page {first_seen}); stopped instead of looping or reporting a partial list as complete"
    )]
    RepeatedToken {
        /// The AWS operation, e.g. `ListTasks`.
        operation: &'static str,
        /// The repeated token, shortened for logs (at most 64 characters).
        token: String,
        /// The page (1-based) that returned it again.
        page: usize,
        /// The page (1-based) that returned it first.
        first_seen: usize,
    },
    /// The call still had more pages after `limit` pages.
    #[error(
        "PaginationPageLimit: {operation} still had more pages after {limit} pages; stopped instead of reading on or reporting a partial list as complete"
    )]
    TooManyPages {
        /// The AWS operation, e.g. `Scan`.
        operation: &'static str,
        /// The page limit that was reached.
        limit: usize,
    },
}

impl PaginationError {
    /// A short, stable code for metrics: `PaginationRepeatedToken` or `PaginationPageLimit`
    /// (also the prefix of the message).
    pub fn code(&self) -> &'static str {
        match self {
            Self::RepeatedToken { .. } => "PaginationRepeatedToken",
            Self::TooManyPages { .. } => "PaginationPageLimit",
        }
    }

    /// The operation that did not end.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::RepeatedToken { operation, .. } | Self::TooManyPages { operation, .. } => {
                operation
            }
        }
    }
}

/// Follows the continuation tokens of one paginated call. After each page, call
/// [`PageGuard::next`] with the page's token: `Ok(Some(token))` means ask for the next page
/// with it, `Ok(None)` means the list is complete, `Err` means stop (the list is not
/// complete and must not be used as if it were).
///
/// `T` is the token type: a `String` for ECS and EC2, DynamoDB's `LastEvaluatedKey` map for
/// `Scan`. Every token is kept until the call ends (at most `max_pages` of them), so any
/// repetition is caught, not only of the previous token.
#[derive(Debug)]
pub struct PageGuard<T> {
    operation: &'static str,
    max_pages: usize,
    pages: usize,
    seen: Vec<T>,
}

impl<T: PartialEq + Clone + std::fmt::Debug> PageGuard<T> {
    /// A guard for `operation` (e.g. `ListTasks`) allowing at most `max_pages` pages (at
    /// least 1).
    pub fn new(operation: &'static str, max_pages: usize) -> Self {
        Self {
            operation,
            max_pages: max_pages.max(1),
            pages: 0,
            seen: Vec::new(),
        }
    }

    /// Pages read so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Records one page that answered with `token` (`None` or an empty token: the last
    /// page; pass `None` for an empty token) and says whether to go on.
    pub fn next(&mut self, token: Option<T>) -> Result<Option<T>, PaginationError> {
        self.pages += 1;
        let Some(token) = token else {
            return Ok(None);
        };
        if let Some(i) = self.seen.iter().position(|t| *t == token) {
            let mut shown = format!("{token:?}");
            if shown.chars().count() > 64 {
                shown = shown.chars().take(61).collect::<String>() + "...";
            }
            return Err(PaginationError::RepeatedToken {
                operation: self.operation,
                token: shown,
                page: self.pages,
                first_seen: i + 1,
            });
        }
        if self.pages >= self.max_pages {
            return Err(PaginationError::TooManyPages {
                operation: self.operation,
                limit: self.max_pages,
            });
        }
        self.seen.push(token.clone());
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_on_the_last_page() {
        let mut g = PageGuard::new("ListTasks", 3);
        assert_eq!(g.next(Some("a".to_string())), Ok(Some("a".to_string())));
        assert_eq!(g.next(Some("b".to_string())), Ok(Some("b".to_string())));
        assert_eq!(g.next(None), Ok(None));
        assert_eq!(g.pages(), 3);
    }

    #[test]
    fn a_token_seen_before_stops_with_which_call_and_token() {
        let mut g = PageGuard::new("ListTasks", 100);
        g.next(Some("a".to_string())).unwrap();
        g.next(Some("b".to_string())).unwrap();
        let e = g.next(Some("a".to_string())).unwrap_err();
        assert_eq!(
            e,
            PaginationError::RepeatedToken {
                operation: "ListTasks",
                token: "\"a\"".into(),
                page: 3,
                first_seen: 1
            }
        );
        assert_eq!(e.code(), "PaginationRepeatedToken");
        assert!(e.to_string().starts_with(
            "PaginationRepeatedToken: ListTasks returned the continuation token \"a\" again on page 3"
        ));
    }

    #[test]
    fn more_pages_than_the_limit_stop() {
        let mut g = PageGuard::new("Scan", 2);
        g.next(Some(1)).unwrap();
        let e = g.next(Some(2)).unwrap_err();
        assert_eq!(
            e,
            PaginationError::TooManyPages {
                operation: "Scan",
                limit: 2
            }
        );
        assert_eq!(e.code(), "PaginationPageLimit");
        // The last page is always allowed.
        let mut g = PageGuard::new("Scan", 2);
        g.next(Some(1)).unwrap();
        assert_eq!(g.next(None::<i32>), Ok(None));
    }

    #[test]
    fn long_tokens_are_shortened() {
        let mut g = PageGuard::new("ListTasks", 10);
        let long = "x".repeat(500);
        g.next(Some(long.clone())).unwrap();
        let PaginationError::RepeatedToken { token, .. } = g.next(Some(long)).unwrap_err() else {
            panic!()
        };
        assert_eq!(token.chars().count(), 64);
    }
}
