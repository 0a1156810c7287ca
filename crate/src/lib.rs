//! cachelink: materialize files from a content-addressed cache by clone, hard link or copy,
//! and never fail on the hard link limit.
//!
//! - `engine`: the decisions (methods, fallback memo, reset, error classes), plain Rust.
//! - `sys`: the platform calls std lacks.
//! - `errno`: OS error numbers to libuv's names, one table per OS.
//! - `binding`: the Node-API module, on napi-rs.

// Errors carry their paths (Node's error shape needs them); they are the cold path, so a
// large `Err` costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod engine;
pub mod errno;
pub mod sys;

#[cfg(test)]
mod testing;

// Not on windows-gnu, which only runs the engine's tests under Wine (see Cargo.toml).
#[cfg(not(all(windows, target_env = "gnu")))]
mod binding;
