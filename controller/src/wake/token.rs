//! Access control for `spec.wake.access: token`: checking a presented token against
//! `spec.wake.tokenSha256`, and the cookie that remembers it.
//!
//! A token may be presented as `?token=...` (the first visit), as the cookie
//! [`cookie_name`] set after that visit, or as `Authorization: Bearer ...` (API clients).
//! The comparison hashes the candidate with SHA-256 and compares the digests in constant time
//! ([`subtle`]), so neither the token nor its hash leaks through timing.

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long the access cookie lives: 12 hours (`Max-Age=43200`).
pub const COOKIE_MAX_AGE_SECS: u64 = 12 * 3600;

/// The access cookie's name for service `name`: `snooze_token_{name}`. Service names are DNS
/// labels, so the result is a valid cookie name.
pub fn cookie_name(name: &str) -> String {
    format!("snooze_token_{name}")
}

/// True when `candidate`'s SHA-256 equals `expected_hex` (64 hex digits, either case).
/// A malformed `expected_hex` never matches.
pub fn token_matches(candidate: &str, expected_hex: &str) -> bool {
    let Ok(expected) = hex::decode(expected_hex.trim()) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let digest = Sha256::digest(candidate.as_bytes());
    bool::from(digest.as_slice().ct_eq(&expected))
}

/// The candidate tokens a request presents for service `name`, in the order they are tried:
/// the `token` query value, every cookie named [`cookie_name`], then a bearer token.
pub fn presented_tokens<'a>(
    name: &str,
    query_token: Option<&'a str>,
    headers: &'a HeaderMap,
) -> Vec<&'a str> {
    let mut out: Vec<&str> = query_token.into_iter().collect();
    let wanted = cookie_name(name);
    for value in headers.get_all(COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k.trim() == wanted
            {
                out.push(v.trim().trim_matches('"'));
            }
        }
    }
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    {
        out.push(t.trim());
    }
    out
}

/// `Set-Cookie` values that remember `token` for service `name`: one cookie scoped to the
/// service's pages (`Path={prefix}/s/{name}`) and one to its API routes
/// (`Path={prefix}/api/v1/services/{name}`, which also covers `.../wake`), so the wait page's
/// status poll and the "try again" wake carry it. `HttpOnly; SameSite=Lax`, `Secure` unless
/// `secure` is false (plain-HTTP local development). `None` when the token cannot be a cookie
/// value (characters outside RFC 6265's cookie-octet set); the visitor then keeps `?token=`.
pub fn set_cookies(name: &str, token: &str, prefix: &str, secure: bool) -> Option<[String; 2]> {
    let ok = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | ',' | ';' | '\\');
    if token.is_empty() || !token.chars().all(ok) {
        return None;
    }
    let secure = if secure { "; Secure" } else { "" };
    let prefix = prefix.trim_end_matches('/');
    let one = |path: String| {
        format!(
            "{}={token}; Path={path}; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}",
            cookie_name(name)
        )
    };
    Some([
        one(format!("{prefix}/s/{name}")),
        one(format!("{prefix}/api/v1/services/{name}")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // "test"

    #[test]
    fn only_the_right_token_matches() {
        assert!(token_matches("test", HASH));
        assert!(token_matches("test", &HASH.to_uppercase()));
        assert!(!token_matches("Test", HASH));
        assert!(!token_matches("", HASH));
        assert!(!token_matches("test", "not hex"));
        assert!(!token_matches("test", &HASH[..62]));
    }

    #[test]
    fn tokens_come_from_query_cookie_and_bearer() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; snooze_token_demo=c1"),
        );
        h.append(COOKIE, HeaderValue::from_static("snooze_token_other=x"));
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer b1"));
        assert_eq!(
            presented_tokens("demo", Some("q1"), &h),
            vec!["q1", "c1", "b1"]
        );
        assert_eq!(presented_tokens("nope", None, &h), vec!["b1"]);
    }

    #[test]
    fn cookies_are_scoped_to_the_service_paths() {
        let [page, api] = set_cookies("demo", "s3cret", "/prod", true).unwrap();
        assert_eq!(
            page,
            "snooze_token_demo=s3cret; Path=/prod/s/demo; Max-Age=43200; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(api.contains("Path=/prod/api/v1/services/demo;"), "{api}");
        let [page, _] = set_cookies("demo", "s3cret", "", false).unwrap();
        assert!(
            page.contains("Path=/s/demo;") && !page.contains("Secure"),
            "{page}"
        );
        assert!(set_cookies("demo", "a;b", "", true).is_none());
        assert!(set_cookies("demo", "", "", true).is_none());
    }
}
