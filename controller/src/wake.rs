//! wake (placeholder until implemented).
