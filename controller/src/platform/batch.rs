//! Batched lookups that fail as a whole when one member is unknown: EC2
//! `DescribeNetworkInterfaces` answers `InvalidNetworkInterfaceID.NotFound` for the whole call
//! when one ENI of the batch is not visible yet (a task that has just started), although the
//! others exist. [`lookup_without_missing`] asks again without the members the error names
//! (or one by one when it names none), so the members that exist are still described and only
//! the missing ones are reported as unknown *for now*.

use std::future::Future;

/// Looks up `ids` with `lookup`, leaving out members it cannot find.
///
/// `not_found` says whether an error means "some members do not exist (yet)" and which:
/// `Some(ids named by the error)` (may be empty when the error names none), `None` for any
/// other error, which is returned as is. Members named by the error are dropped and the rest
/// asked again; when an error names no member of the batch, each member is looked up alone.
/// Returns what was found and the ids that were not (in the order they were dropped).
///
/// Bounded: every retry of the batch drops at least one member, so there are at most
/// `ids.len() + 1` batch calls, or one batch call and `ids.len()` single ones.
pub async fn lookup_without_missing<T, E, F, Fut>(
    ids: &[String],
    mut lookup: F,
    not_found: impl Fn(&E) -> Option<Vec<String>>,
) -> Result<(Vec<T>, Vec<String>), E>
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, E>>,
{
    let mut ask: Vec<String> = ids.to_vec();
    let mut missing: Vec<String> = Vec::new();
    while !ask.is_empty() {
        let err = match lookup(ask.clone()).await {
            Ok(found) => return Ok((found, missing)),
            Err(e) => e,
        };
        let Some(named) = not_found(&err) else {
            return Err(err);
        };
        let named: Vec<String> = ask
            .iter()
            .filter(|id| named.contains(id))
            .cloned()
            .collect();
        if !named.is_empty() {
            ask.retain(|id| !named.contains(id));
            missing.extend(named);
            continue;
        }
        if ask.len() == 1 {
            missing.append(&mut ask);
            break;
        }
        // The error does not say which member is missing: ask for each alone.
        let mut found = Vec::new();
        for id in std::mem::take(&mut ask) {
            match lookup(vec![id.clone()]).await {
                Ok(f) => found.extend(f),
                Err(e) if not_found(&e).is_some() => missing.push(id),
                Err(e) => return Err(e),
            }
        }
        return Ok((found, missing));
    }
    Ok((Vec::new(), missing))
}

/// The ENI ids (`eni-` followed by hex digits) an EC2 message names, e.g. both of `The
/// networkInterface IDs 'eni-0a1, eni-0b2' do not exist`.
pub fn eni_ids_in(message: &str) -> Vec<String> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            w.strip_prefix("eni-")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A lookup where `gone` do not exist; `names` says whether the error names them.
    async fn run(
        all: &[&str],
        gone: &[&str],
        names: bool,
    ) -> (Result<(Vec<String>, Vec<String>), String>, usize) {
        let calls = RefCell::new(0);
        let r = lookup_without_missing(
            &ids(all),
            |ask: Vec<String>| {
                *calls.borrow_mut() += 1;
                let absent: Vec<String> = ask
                    .iter()
                    .filter(|i| gone.contains(&i.as_str()))
                    .cloned()
                    .collect();
                async move {
                    if absent.is_empty() {
                        Ok(ask)
                    } else if names {
                        Err(format!(
                            "InvalidNetworkInterfaceID.NotFound: The networkInterface IDs '{}' do not exist",
                            absent.join(", ")
                        ))
                    } else {
                        Err("InvalidNetworkInterfaceID.NotFound: something".to_string())
                    }
                }
            },
            |e: &String| e.contains("NotFound").then(|| eni_ids_in(e)),
        )
        .await;
        (r, calls.into_inner())
    }

    #[tokio::test]
    async fn the_named_member_is_dropped_and_the_rest_found() {
        let (r, calls) = run(&["eni-1", "eni-2", "eni-3"], &["eni-2"], true).await;
        assert_eq!(r, Ok((ids(&["eni-1", "eni-3"]), ids(&["eni-2"]))));
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn unnamed_missing_members_are_looked_up_one_by_one() {
        let (r, calls) = run(&["eni-1", "eni-2", "eni-3"], &["eni-2", "eni-3"], false).await;
        assert_eq!(r, Ok((ids(&["eni-1"]), ids(&["eni-2", "eni-3"]))));
        assert_eq!(calls, 4);
    }

    #[tokio::test]
    async fn all_missing_and_other_errors() {
        let (r, _) = run(&["eni-1"], &["eni-1"], false).await;
        assert_eq!(r, Ok((vec![], ids(&["eni-1"]))));
        let r = lookup_without_missing(
            &ids(&["eni-1"]),
            |_| async { Err::<Vec<String>, _>("AccessDenied".to_string()) },
            |e: &String| e.contains("NotFound").then(Vec::new),
        )
        .await;
        assert_eq!(r, Err("AccessDenied".to_string()));
    }

    #[test]
    fn eni_ids_are_read_from_ec2_messages() {
        assert_eq!(
            eni_ids_in("The networkInterface ID 'eni-0a1b2c' does not exist"),
            ids(&["eni-0a1b2c"])
        );
        assert_eq!(
            eni_ids_in("The networkInterface IDs 'eni-01, eni-02' do not exist"),
            ids(&["eni-01", "eni-02"])
        );
        assert!(eni_ids_in("eni- eni-xyz").is_empty());
    }
}
