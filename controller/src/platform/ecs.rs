//! ECS platform (placeholder until implemented).
