//! The module's exports. Arguments arrive validated and normalized by the TypeScript facade
//! (`ts/native.ts` describes this interface); they are checked again here, so a wrong call
//! throws a TypeError instead of reaching the engine.
//!
//! Failures of the engine become an `Error` with `code`, `raw` (the OS number), `syscall`,
//! `path`, `dest` and `cachelink: true`; the facade turns it into Node's fs error.

use crate::engine::error::Error;
use crate::engine::link::{self, IfExists, LinkLimit, OnLinkLimit, Options, Outcome};
use crate::engine::memo;
use crate::engine::method::{Method, Requested};
use crate::errno;
use crate::napi::sys::{napi_callback_info, napi_env, napi_value};
use crate::napi::{job, panic_message, Env, Failure, NResult};
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::ptr;

/// Bumped when this interface changes, so the facade can refuse a stale binary.
const ABI: f64 = 1.0;

pub fn register(env: Env, exports: napi_value) -> NResult<napi_value> {
    let functions: [(&CStr, crate::napi::sys::napi_callback); 6] = [
        (c"linkFile", link_file),
        (c"linkFileSync", link_file_sync),
        (c"resetEntry", reset_entry),
        (c"resetEntrySync", reset_entry_sync),
        (c"errnoTable", errno_table),
        (c"clearFallbackMemo", clear_fallback_memo),
    ];
    for (name, cb) in functions {
        let f = env.function(name, cb)?;
        env.set(exports, name, f)?;
    }
    env.set(exports, c"abi", env.double(ABI)?)?;
    Ok(exports)
}

/// Runs a callback body, turning failures into exceptions and panics into errors.
fn entry(
    env: napi_env,
    info: napi_callback_info,
    body: fn(Env, napi_callback_info) -> NResult<napi_value>,
) -> napi_value {
    let env = Env(env);
    match catch_unwind(AssertUnwindSafe(|| body(env, info))) {
        Ok(Ok(v)) => v,
        Ok(Err(f)) => env.throw_failure(&f),
        Err(panic) => {
            let msg = format!(
                "cachelink: internal error (panic): {}",
                panic_message(&*panic)
            );
            if let Ok(e) = env.error("ERR_CACHELINK_PANIC", &msg) {
                env.throw(e);
            }
            ptr::null_mut()
        }
    }
}

struct LinkArgs {
    src: PathBuf,
    dest: PathBuf,
    opts: Options,
}

/// (src, dest, method, fallback, onLinkLimit, maxLinks, ifExists); maxLinks 0 means none.
fn link_args(env: Env, info: napi_callback_info) -> NResult<LinkArgs> {
    let [src, dest, method, fallback, on_limit, max_links, if_exists] = env.args::<7>(info)?;
    let bad = |what: &str, v: &str| Failure::Type(format!("Invalid \"{what}\": {v:?}"));
    let method = match env.string(method, "method")?.as_str() {
        "auto" => Requested::Auto,
        m => Requested::Only(Method::parse(m).ok_or_else(|| bad("method", m))?),
    };
    let on_link_limit = match env.string(on_limit, "onLinkLimit")?.as_str() {
        "reset" => OnLinkLimit::Reset,
        "copy" => OnLinkLimit::Copy,
        "error" => OnLinkLimit::Error,
        v => return Err(bad("onLinkLimit", v)),
    };
    let if_exists = match env.string(if_exists, "ifExists")?.as_str() {
        "error" => IfExists::Error,
        "replace" => IfExists::Replace,
        "keep" => IfExists::Keep,
        v => return Err(bad("ifExists", v)),
    };
    let max = env.number(max_links, "maxLinks")?;
    let max_links = match max {
        0.0 => None,
        m if m >= 2.0 && m.fract() == 0.0 && m <= 9.0e15 => Some(m as u64),
        m => return Err(bad("maxLinks", &m.to_string())),
    };
    let opts = Options {
        method,
        fallback: env.bool(fallback, "fallback")?,
        on_link_limit,
        max_links,
        if_exists,
    };
    Ok(LinkArgs {
        src: env.path(src, "src")?,
        dest: env.path(dest, "dest")?,
        opts,
    })
}

unsafe extern "C" fn link_file(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let a = link_args(env, info)?;
        let run = Box::new(move || link::link_file(&a.src, &a.dest, &a.opts));
        job::spawn(env, "cachelink.linkFile", run, outcome_to_js, error_to_js)
    })
}

unsafe extern "C" fn link_file_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let a = link_args(env, info)?;
        match link::link_file(&a.src, &a.dest, &a.opts) {
            Ok(outcome) => outcome_to_js(env, outcome),
            Err(e) => throw_error(env, &e),
        }
    })
}

unsafe extern "C" fn reset_entry(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let [path] = env.args::<1>(info)?;
        let path = env.path(path, "path")?;
        let run = Box::new(move || link::reset_entry(&path));
        job::spawn(
            env,
            "cachelink.resetEntry",
            run,
            |env, ()| env.undefined(),
            error_to_js,
        )
    })
}

unsafe extern "C" fn reset_entry_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let [path] = env.args::<1>(info)?;
        match link::reset_entry(&env.path(path, "path")?) {
            Ok(()) => env.undefined(),
            Err(e) => throw_error(env, &e),
        }
    })
}

/// [[raw, name], ...] for this OS: lets the tests check the table against libuv's own names.
unsafe extern "C" fn errno_table(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, _| {
        let mut rows = Vec::new();
        for &(raw, name) in errno::table(errno::CURRENT) {
            rows.push(env.array(&[env.double(raw.into())?, env.create_string(name)?])?);
        }
        env.array(&rows)
    })
}

unsafe extern "C" fn clear_fallback_memo(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, _| {
        memo::clear();
        env.undefined()
    })
}

fn outcome_to_js(env: Env, o: Outcome) -> NResult<napi_value> {
    let obj = env.object()?;
    let method = match o.method {
        Some(m) => env.create_string(m.name())?,
        None => env.create_string("none")?,
    };
    env.set(obj, c"method", method)?;
    env.set(
        obj,
        c"reset",
        env.boolean(o.link_limit == Some(LinkLimit::Reset))?,
    )?;
    let limit = match &o.link_limit {
        None => env.null()?,
        Some(LinkLimit::Reset) => env.create_string("reset")?,
        Some(LinkLimit::Copied) => env.create_string("copy")?,
        Some(LinkLimit::CacheReadOnly(_)) => env.create_string("copy-readonly-cache")?,
    };
    env.set(obj, c"linkLimit", limit)?;
    let why = match &o.link_limit {
        Some(LinkLimit::CacheReadOnly(code)) => env.create_string(code)?,
        _ => env.null()?,
    };
    env.set(obj, c"resetError", why)?;
    let mut fallbacks = Vec::new();
    for (method, code) in &o.fallbacks {
        let f = env.object()?;
        env.set(f, c"method", env.create_string(method.name())?)?;
        env.set(f, c"code", env.create_string(code)?)?;
        fallbacks.push(f);
    }
    env.set(obj, c"fallbacks", env.array(&fallbacks)?)?;
    Ok(obj)
}

fn error_to_js(env: Env, e: &Error) -> NResult<napi_value> {
    let err = env.error(e.code, &e.to_string())?;
    env.set(err, c"cachelink", env.boolean(true)?)?;
    env.set(err, c"raw", env.double(e.raw.into())?)?;
    env.set(err, c"syscall", env.create_string(e.syscall)?)?;
    env.set(err, c"path", env.create_string(&e.path.to_string_lossy())?)?;
    let dest = match &e.dest {
        Some(d) => env.create_string(&d.to_string_lossy())?,
        None => env.undefined()?,
    };
    env.set(err, c"dest", dest)?;
    Ok(err)
}

fn throw_error(env: Env, e: &Error) -> NResult<napi_value> {
    let err = error_to_js(env, e)?;
    env.throw(err);
    Ok(ptr::null_mut())
}
