//! DynamoDB store (placeholder until implemented).
