//! Durable storage: the only module that names sled. (stub)
