//! The records the wake endpoint's API Gateway fixtures (`controller/tests/fixtures/apigw/`)
//! name, shared by the endpoint's tests (`controller/tests/wake_http.rs`) and the wake Lambda's
//! tests (`lambdas/wake/tests/`). It lives here, not in the library, so the production wake
//! Lambda carries no code that writes specs or status.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use snooze::model::{Access, EndpointStatus, Phase, Record, Status, Step, Timestamp};
use snooze::store::{SqliteStore, StatusGuard, Store};
use snooze::wake::{WakeConfig, WakeState};

/// The setup those tests share: a SQLite store `snooze.db` in `dir`, [`seed`]ed, and the wake
/// endpoint's state over it with `demo` as the default service (what the fixtures' bare `/`
/// answers for). Panics on store errors.
pub async fn sqlite_state(dir: &Path) -> (Arc<SqliteStore>, Arc<WakeState>) {
    let store = Arc::new(SqliteStore::open(dir.join("snooze.db")).unwrap());
    seed(store.as_ref()).await;
    let config = WakeConfig {
        default_service: Some("demo".into()),
        ..WakeConfig::default()
    };
    let state = Arc::new(WakeState::new(store.clone(), config));
    (store, state)
}

/// SHA-256 of the token `letmein`, the access token of the `locked` record.
pub const LETMEIN_SHA256: &str = "1c8bfe8f801d79745c4631d09fff36c82aa37fc4cce4fc946683d7b336b63032";

/// Stores `demo` and `locked` (`access: token`, token `letmein`) Asleep since a second ago
/// (so a wake in the same millisecond still counts as pending), and `up` Ready at
/// `http://127.0.0.1:9/`. Panics on store errors.
pub async fn seed(store: &dyn Store) {
    let asleep = Status {
        phase: Phase::Asleep,
        phase_since: Some(Timestamp::now().sub(Duration::from_secs(1))),
        ..Status::default()
    };
    let mut locked = Record::test("locked");
    locked.spec.wake.access = Access::Token;
    locked.spec.wake.token_sha256 = Some(LETMEIN_SHA256.into());
    for r in [Record::test("demo"), Record::test("up"), locked] {
        store.apply(&r, None).await.unwrap();
        store
            .publish_status(r.name(), &asleep, StatusGuard::exists())
            .await
            .unwrap();
    }
    let ready = Status {
        phase: Phase::Ready,
        step: Some(Step::Ready),
        endpoint: Some(EndpointStatus {
            ip: "127.0.0.1".into(),
            url: "http://127.0.0.1:9/".into(),
            task_arn: "arn:aws:ecs:eu-west-1:123456789012:task/demo/1".into(),
        }),
        ..Status::default()
    };
    store
        .publish_status("up", &ready, StatusGuard::exists())
        .await
        .unwrap();
}
