//! Simulated ECS (placeholder until implemented).
