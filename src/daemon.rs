//! daemon (stub)
