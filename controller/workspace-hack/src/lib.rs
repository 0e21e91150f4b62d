//! No code: this crate only pins features of shared dependencies (see its `Cargo.toml`), so
//! that scripts/dev's build, the local tests and the AWS tests compile each dependency once.
