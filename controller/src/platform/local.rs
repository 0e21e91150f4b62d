//! Local process platform (placeholder until implemented).
