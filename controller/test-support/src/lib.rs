//! Test support shared by the test binaries of the workspace (`snooze`'s integration tests and
//! the Lambdas' tests), as a dev-dependency: `snooze-test-support.workspace = true`.
//!
//! - [`moto`]: the one Rust starter of moto, the AWS emulator the DynamoDB and ECS wire tests
//!   talk to ([`moto_endpoint`], [`serialised_moto_endpoint`]); `scripts/lib.sh start_moto`
//!   is the one shell starter;
//! - [`wake_seed`]: the records the wake endpoint's API Gateway fixtures name;
//! - [`fuzz`]: the arbitrary-input property tests' strategies (mutated fixtures, any JSON) and
//!   runner (case counts from `PROPTEST_CASES`, figures printed).
//!
//! Nothing here is linked into a production binary.

pub mod fuzz;
pub mod moto;
pub mod wake_seed;

pub use moto::{moto_endpoint, serialised_moto_endpoint};
