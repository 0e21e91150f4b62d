//! moto, the AWS emulator behind the DynamoDB and ECS wire tests: one starter for every Rust
//! test binary (the shell's is `scripts/lib.sh start_moto`).
//!
//! moto comes from the project's virtualenv `.venv-moto` (created by `scripts/test`, or by
//! `source scripts/lib.sh; start_moto`). A moto started here is moto's own server
//! (`moto_server`: werkzeug's threaded `run_simple` over moto's dispatcher) on a free port of
//! 127.0.0.1; it logs to `$TMPDIR/snooze-moto-PORT.log` and exits when the test process exits
//! (when its end of the server's stdin closes). Tests that need moto fail when it is missing;
//! they are never skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The moto endpoint (`http://127.0.0.1:PORT`, no trailing slash) for tests that share one:
/// `MOTO_ENDPOINT` when it is set and not empty (as `scripts/test` and `start_moto` export
/// it), else a moto started once for this test binary.
///
/// Panics when `MOTO_ENDPOINT` is unset and `.venv-moto` does not exist, or when the started
/// moto does not listen within 20 s.
pub fn moto_endpoint() -> &'static str {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("MOTO_ENDPOINT") {
        Ok(ep) if !ep.is_empty() => ep.trim_end_matches('/').to_owned(),
        _ => start(Mode::Threaded),
    })
}

/// A moto of this test binary's own that serves one request at a time, started on the first
/// call; `MOTO_ENDPOINT` is not used.
///
/// Why: moto's threaded server checks a `ConditionExpression` and applies the update in
/// separate steps without a lock, so two concurrent conditional writes to one item can both
/// pass (measured: a 100-hit wake burst wrote twice, and a CAS race lost an operator edit, in 3
/// of 10 runs). Real DynamoDB evaluates the condition and the write atomically per item.
/// Serialising requests restores that guarantee while keeping the interleaving of concurrent
/// writers at request granularity, which is what the store conformance suite tests.
///
/// Panics like [`moto_endpoint`].
pub fn serialised_moto_endpoint() -> &'static str {
    static SERIALISED: OnceLock<String> = OnceLock::new();
    SERIALISED.get_or_init(|| start(Mode::Serialised))
}

/// How the started moto handles concurrent requests.
#[derive(Clone, Copy)]
enum Mode {
    /// A thread per request, as `moto_server` does.
    Threaded,
    /// One request at a time (see [`serialised_moto_endpoint`]).
    Serialised,
}

/// moto's server as `moto_server` runs it; with `serialised` as the second argument every
/// request holds one lock. It exits when its stdin closes (the test process is gone).
const SERVER: &str = "\
import os, sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
if sys.argv[2] == 'serialised':
    lock = threading.Lock()
    dispatch = app
    def app(environ, start_response):
        with lock:
            return list(dispatch(environ, start_response))
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
run_simple('127.0.0.1', int(sys.argv[1]), app, threaded=True)
";

/// The repository root (this crate is `controller/test-support`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Starts moto from `.venv-moto` on a free port and waits until it listens.
fn start(mode: Mode) -> String {
    let python = root().join(".venv-moto/bin/python");
    assert!(
        python.exists(),
        "moto is needed and {} does not exist: run scripts/test (it installs moto into \
         .venv-moto), or `source scripts/lib.sh; start_moto` (then MOTO_ENDPOINT is used where \
         a shared moto will do)",
        python.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // moto logs every request on stderr; keep that out of the test output.
    let log_path = std::env::temp_dir().join(format!("snooze-moto-{port}.log"));
    let log = std::fs::File::create(&log_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
    let child = Command::new(&python)
        .arg("-c")
        .arg(SERVER)
        .arg(port.to_string())
        .arg(match mode {
            Mode::Threaded => "threaded",
            Mode::Serialised => "serialised",
        })
        .env("MOTO_PORT", port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
    // Never dropped or waited for: the server's stdin stays open until this process exits.
    Box::leak(Box::new(child));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not listen on 127.0.0.1:{port} within 20 s; see {}",
            log_path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}
