//! reconcile (placeholder until implemented).
