//! The SQLite backend (placeholder until implemented).
