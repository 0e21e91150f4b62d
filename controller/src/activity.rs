//! activity (placeholder until implemented).
