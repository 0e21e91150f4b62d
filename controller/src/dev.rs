//! dev (placeholder until implemented).
