//! Test support shared by the test binaries of the workspace (`snooze`'s integration tests and
//! the Lambdas' tests), as a dev-dependency: `snooze-test-support.workspace = true`.
//!
//! - [`moto`]: the one Rust starter of moto, the AWS emulator the DynamoDB and ECS wire tests
//!   talk to ([`moto_endpoint`], [`serialised_moto_endpoint`]); `scripts/lib.sh start_moto`
//!   is the one shell starter;
//! - [`wake_seed`]: the records the wake endpoint's API Gateway fixtures name;
//! - [`fuzz`]: the arbitrary-input property tests' strategies (mutated fixtures, any JSON) and
//!   runner (case counts from `PROPTEST_CASES`, figures printed);
//! - [`unique`]: names of resources on the shared moto that no other test uses.
//!
//! Nothing here is linked into a production binary.

pub mod fuzz;
pub mod moto;
pub mod wake_seed;

pub use moto::{moto_endpoint, serialised_moto_endpoint};

/// A name for a resource on the shared moto (a table, a cluster, a load balancer) that no other
/// test uses, in this test binary or another one running at the same time:
/// `{prefix}-{7 hex digits of the clock's nanoseconds}{a per-process counter, 2 digits or
/// more}`. Short enough for an ELBv2 target group name (32 characters) with a prefix of up to
/// 20.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .subsec_nanos();
    format!(
        "{prefix}-{:07x}{:02}",
        nanos % 0xfff_ffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
