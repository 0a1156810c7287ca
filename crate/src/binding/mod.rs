//! The module's exports, on napi-rs: one thin `#[napi]` function per export, converting
//! arguments, calling the engine and converting the result. Arguments arrive validated and
//! normalized by the TypeScript facade; napi-rs checks their types again, so a wrong call
//! throws a TypeError instead of reaching the engine. `napi build` writes their types to
//! `ts/binding.d.ts`, which the facade is checked against.
//!
//! - `link`: `linkFile`, `resetEntry` (one file: a `Task` on libuv's pool, like `fs`).
//! - `import`: `importFiles`, `importTree` (long: cachelink's own pool, `run::spawn`).
//! - `cache`: `fsInfo`, `scan`, `clean`.
//! - `probe`: `probe` (short: a `Task` on libuv's pool, as `fsInfo` is).
//! - `verify`: `verify` (long: cachelink's own pool).
//! - `control`: the `Control` a long call shares with the facade (progress, abort, commit).
//!
//! Failures of the engine become an `Error` with `code`, `raw` (the OS number), `syscall`,
//! `path`, `dest` and `cachelink: true`; the facade turns it into Node's fs error. Every export
//! catches panics (`catch_unwind`), and work off the JS thread does too (`run`).

// Under `cfg(test)` napi-derive registers nothing, so the exports look unused there.
#![cfg_attr(test, allow(dead_code))]

mod cache;
mod control;
mod import;
mod install;
mod link;
mod probe;
mod run;
mod task;
mod verify;

use crate::engine::error::Error;
use crate::engine::{memo, method, wire};
use crate::errno;
use napi::bindgen_prelude::{Buffer, Either};
use napi::{Env, JsValue, Status};
use napi_derive::napi;
use std::path::PathBuf;

/// Bumped when this interface changes, so the facade can refuse a stale binary.
#[napi]
pub const ABI: u32 = 5;

/// A path as JavaScript gives it (`Either<String, Buffer>` in every export, so the generated
/// type reads `string | Buffer`): a string, or a Buffer of raw bytes (a Unix name that is not
/// UTF-8, as `scan` returns it).
fn to_path(p: Either<String, Buffer>, what: &str) -> napi::Result<PathBuf> {
    let path = match p {
        Either::A(s) => PathBuf::from(s),
        Either::B(b) => wire::bytes_to_path(b.to_vec()).ok_or_else(|| {
            napi::Error::new(
                Status::InvalidArg,
                format!("The \"{what}\" argument is not a valid path"),
            )
        })?,
    };
    if path.as_os_str().is_empty() {
        return Err(napi::Error::new(
            Status::InvalidArg,
            format!("The \"{what}\" argument must not be empty"),
        ));
    }
    Ok(path)
}

/// How a file was materialized.
#[napi(string_enum = "lowercase")]
#[derive(Debug, PartialEq, Eq)]
pub enum LinkMethod {
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

impl From<method::Method> for LinkMethod {
    fn from(m: method::Method) -> Self {
        match m {
            method::Method::Clone => LinkMethod::Clone,
            method::Method::Hardlink => LinkMethod::Hardlink,
            method::Method::Copy => LinkMethod::Copy,
            method::Method::Symlink => LinkMethod::Symlink,
        }
    }
}

/// The engine's error as the JS value to throw or reject with: an `Error` whose message is the
/// engine's one-line summary, with the fields the facade needs for Node's fs error.
fn js_error(env: &Env, e: &Error) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut err = env.create_error(napi::Error::new(Status::GenericFailure, e.to_string()))?;
        err.set("code", e.code)?;
        err.set("cachelink", true)?;
        err.set("raw", e.raw)?;
        err.set("syscall", e.syscall)?;
        err.set("path", e.path.to_string_lossy().as_ref())?;
        if let Some(dest) = &e.dest {
            err.set("dest", dest.to_string_lossy().as_ref())?;
        }
        if let Some(entry) = &e.entry {
            err.set("entry", entry.to_string_lossy().as_ref())?;
        }
        if let Some(detail) = e.detail {
            err.set("detail", detail)?;
        }
        Ok(napi::Error::from(err.to_unknown()))
    };
    build().unwrap_or_else(|f| f)
}

/// A caught panic as an error (`ERR_CACHELINK_PANIC`), never an abort of the process.
fn panic_error(env: &Env, payload: &(dyn std::any::Any + Send)) -> napi::Error {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    };
    let build = || -> napi::Result<napi::Error> {
        let mut err = env.create_error(napi::Error::new(
            Status::GenericFailure,
            format!("cachelink: internal error (panic): {msg}"),
        ))?;
        err.set("code", "ERR_CACHELINK_PANIC")?;
        Ok(napi::Error::from(err.to_unknown()))
    };
    build().unwrap_or_else(|f| f)
}

/// The engine's result for a sync export: its value, or its error as the JS error to throw.
fn settle<T>(env: &Env, r: Result<T, Error>) -> napi::Result<T> {
    r.map_err(|e| js_error(env, &e))
}

/// `[raw, name]` for each OS error this platform's table names: lets the tests check the
/// table against libuv's own names.
#[napi(catch_unwind)]
pub fn errno_table() -> Vec<(i32, &'static str)> {
    errno::table(errno::CURRENT).to_vec()
}

/// Forgets what the process learned about methods that do not work between two places.
#[napi(catch_unwind)]
pub fn clear_fallback_memo() {
    memo::clear();
    crate::engine::link::forget_links_refused();
}
