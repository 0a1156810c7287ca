//! cachelink: materialize files from a content-addressed cache by clone, hard link or copy,
//! and never fail on the hard link limit.
//!
//! - `engine`: the decisions (methods, fallback memo, reset, error classes), plain Rust.
//! - `sys`: the few platform calls std lacks.
//! - `errno`: OS error numbers to libuv's names, one table per OS.
//! - `napi` and `binding`: the Node-API module (no napi crate: the functions are declared here).

pub mod engine;
pub mod errno;
pub mod sys;
