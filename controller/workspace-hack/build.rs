//! Empty: it exists so that this crate's `[build-dependencies]` (feature pins for build
//! scripts, such as `cc`'s `parallel`) take part in feature resolution.

fn main() {}
