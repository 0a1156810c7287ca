//! Long work on cachelink's own pool (`engine::pool`), settling a promise without holding a
//! libuv thread: the promise's deferred is resolved from the pool thread, and napi-rs hands
//! the result to the JS thread (a threadsafe function), where `to_js` builds the value.

use super::{js_error, panic_error};
use crate::engine::error::Error;
use crate::engine::pool;
use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::Env;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `work` on the pool and returns the promise it settles: resolved with `to_js` of its
/// result (on the JS thread), or rejected with its error (`js_error`) or a caught panic.
pub fn spawn<'env, T, J>(
    env: &'env Env,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    to_js: fn(&Env, T) -> napi::Result<J>,
) -> napi::Result<Object<'env>>
where
    T: Send + 'static,
    J: ToNapiValue + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    pool::spawn(move || {
        let out = catch_unwind(AssertUnwindSafe(work));
        deferred.resolve(move |env: Env| match out {
            Ok(Ok(v)) => to_js(&env, v),
            Ok(Err(e)) => Err(js_error(&env, &e)),
            Err(panic) => Err(panic_error(&env, &*panic)),
        });
    });
    Ok(promise)
}
