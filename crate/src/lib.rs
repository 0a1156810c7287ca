//! cachelink: materialize files from a content-addressed cache by clone, hard link or copy,
//! and never fail on the hard link limit.
//!
//! - `engine`: the decisions (methods, fallback memo, reset, error classes), plain Rust.
//! - `sys`: the few platform calls std lacks.
//! - `errno`: OS error numbers to libuv's names, one table per OS.
//! - `napi` and `binding`: the Node-API module (no napi crate: the functions are declared here).

// Errors carry their paths (Node's error shape needs them); they are the cold path, so a
// large `Err` costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod engine;
pub mod errno;
pub mod sys;

mod binding;
mod napi;

use napi::sys::{napi_env, napi_value};

/// Node-API's entry point: fills the function table, then the exports. On failure (a host
/// without Node-API 8) it returns the exports empty and the facade reports a clear error.
///
/// # Safety
/// Called by Node with a live env and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let registered = std::panic::catch_unwind(|| {
        napi::sys::load().ok()?;
        binding::register(napi::Env(env), exports).ok()
    });
    registered.ok().flatten().unwrap_or(exports)
}

/// The Node-API version this addon is built against.
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    8
}
