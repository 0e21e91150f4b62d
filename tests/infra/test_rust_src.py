"""The source readers the contract tests rely on, on small Rust snippets: if they found nothing
(or too much), every contract test would pass or fail for the wrong reason."""

from __future__ import annotations

import rust_src as r


def test_comments_strings_and_test_code_are_handled():
    src = r'''
        // client.put_item().send()   a comment
        /* client.delete_item().send() /* nested */ still comment */
        let s = "client.query().send() // not a comment";
        let c = '{';
        fn real() { client.get_item().send(); }
        #[cfg(test)]
        mod tests { fn fake() { client.scan().send(); } }
        #[cfg(test)]
        fn helper() { client.batch_write_item().send(); }
    '''
    code = r.strip_cfg_test(r.strip_comments(src))
    assert "put_item" not in code and "delete_item" not in code and "scan" not in code
    assert "batch_write_item" not in code
    assert "client.query().send() // not a comment" in code, "strings survive"


def test_reachable_bodies_follow_helpers_not_foreign_methods():
    src = r.strip_comments("""
        impl Store for S {
            async fn record_wake(&self) { self.touch("wakeRequestedAt").await }
            async fn list(&self) { self.client.scan().send().await }
            async fn get(&self) { self.client.get_item().send().await }
        }
        impl S {
            async fn touch(&self, a: &str) { let x = map.get(a); write(a).await }
        }
        async fn write(a: &str) { client.update_item().send().await }
    """)
    body = r.reachable_bodies(src, {"record_wake"})
    assert "update_item" in body and "get_item" not in body, "map.get( is not Store::get"
    assert "scan" in r.reachable_bodies(src, {"list"})


def test_env_reads():
    src = r'''
        const TABLE: &str = "SNOOZE_TABLE";
        let t = std::env::var(TABLE)?;
        let d = env::var("SNOOZE_DEFAULT_SERVICE").ok();
        let o = std::env::var_os("SNOOZE_X");
        #[arg(long, env = "SNOOZE_PORT")] port: u16,
        let f = EnvFilter::try_from_default_env();
        let v = env!("CARGO_PKG_VERSION");
        let c = Config::from_lookup(|k| std::env::var(k).ok());
        let b = get("SNOOZE_PASS_BUDGET").unwrap_or_default();
        let m = "SNOOZE_TABLE is not set";
    '''
    assert r.env_reads(src) == {
        "SNOOZE_TABLE", "SNOOZE_DEFAULT_SERVICE", "SNOOZE_X", "SNOOZE_PORT", "RUST_LOG", "SNOOZE_PASS_BUDGET",
    }
