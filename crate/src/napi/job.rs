//! Work on the libuv pool, as napi-rs's `async_work.rs` does it: a promise and its deferred;
//! `execute` runs the engine on a pool thread and touches no JS; `complete` settles the
//! promise on the JS thread and deletes the work. Inputs are owned Rust data, copied before
//! queueing. Both callbacks catch panics.

use super::sys::*;
use super::{panic_message, Env, Failure, NResult};
use crate::engine::error::Error;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

type Run<T> = Box<dyn FnOnce() -> Result<T, Error> + Send>;
/// Turns the engine's success into a JS value, on the JS thread.
pub type ToJs<T> = fn(Env, T) -> NResult<napi_value>;
/// Turns the engine's error into the JS value the promise rejects with.
pub type ErrToJs = fn(Env, &Error) -> NResult<napi_value>;

struct Job<T> {
    deferred: napi_deferred,
    work: napi_async_work,
    run: Option<Run<T>>,
    out: Option<std::thread::Result<Result<T, Error>>>,
    to_js: ToJs<T>,
    err_to_js: ErrToJs,
    /// Values the work uses (through raw pointers) that must stay alive until it completes.
    keep: Option<napi_ref>,
}

/// Queues `run` and returns the promise it will settle. `keep` is released when it settles.
pub fn spawn<T: Send + 'static>(
    env: Env,
    name: &str,
    run: Run<T>,
    to_js: ToJs<T>,
    err_to_js: ErrToJs,
    keep: Option<napi_ref>,
) -> NResult<napi_value> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: both are valid out-pointers.
    status(unsafe { napi_create_promise(env.0, &mut deferred, &mut promise) })?;
    let job = Box::new(Job {
        deferred,
        work: ptr::null_mut(),
        run: Some(run),
        out: None,
        to_js,
        err_to_js,
        keep,
    });
    let data = Box::into_raw(job);
    let resource_name = env.create_string(name)?;
    let mut work = ptr::null_mut();
    // SAFETY: `data` is a live Box pointer, reclaimed in `complete` (or below on failure); the
    // callbacks are monomorphized for this `T`.
    let created = unsafe {
        napi_create_async_work(
            env.0,
            ptr::null_mut(),
            resource_name,
            execute::<T>,
            complete::<T>,
            data.cast(),
            &mut work,
        )
    };
    if created != NAPI_OK {
        // SAFETY: the work was not created, so nothing else owns `data`.
        let job = unsafe { Box::from_raw(data) };
        if let Some(r) = job.keep {
            env.unreference(r);
        }
        return Err(Failure::Status(created));
    }
    // SAFETY: `data` is still exclusively ours until the work is queued.
    unsafe { (*data).work = work };
    // SAFETY: `work` was just created for this env.
    let queued = unsafe { napi_queue_async_work(env.0, work) };
    if queued != NAPI_OK {
        // SAFETY: not queued: `complete` will never run, so we own `data` and the work.
        let job = unsafe {
            napi_delete_async_work(env.0, work);
            Box::from_raw(data)
        };
        if let Some(r) = job.keep {
            env.unreference(r);
        }
        return Err(Failure::Status(queued));
    }
    Ok(promise)
}

fn status(s: napi_status) -> NResult<()> {
    if s == NAPI_OK {
        Ok(())
    } else {
        Err(Failure::Status(s))
    }
}

unsafe extern "C" fn execute<T: Send + 'static>(_env: napi_env, data: *mut c_void) {
    // SAFETY: `data` is the `Job<T>` queued by `spawn`; only this pool thread touches it until
    // `complete` runs on the JS thread, after this returns.
    let job = unsafe { &mut *data.cast::<Job<T>>() };
    if let Some(run) = job.run.take() {
        job.out = Some(catch_unwind(AssertUnwindSafe(run)));
    }
}

unsafe extern "C" fn complete<T: Send + 'static>(
    env: napi_env,
    st: napi_status,
    data: *mut c_void,
) {
    // SAFETY: `data` is the Box leaked by `spawn`; this is the last callback, so we take it back.
    let job = unsafe { Box::from_raw(data.cast::<Job<T>>()) };
    let env = Env(env);
    let deferred = job.deferred;
    // SAFETY: the work belongs to this env and is finished.
    unsafe { napi_delete_async_work(env.0, job.work) };
    if let Some(r) = job.keep {
        env.unreference(r);
    }
    let settled = catch_unwind(AssertUnwindSafe(|| settle(env, st, *job)));
    if settled.is_err() {
        // A panic while building the value: reject with something rather than hang.
        if let Ok(e) = env.error("ERR_CACHELINK_PANIC", "cachelink: internal error (panic)") {
            // SAFETY: the deferred has not been settled (settle panicked before it could).
            unsafe { napi_reject_deferred(env.0, deferred, e) };
        }
    }
}

fn settle<T>(env: Env, st: napi_status, job: Job<T>) {
    let (ok, value) = match (st, job.out) {
        (NAPI_CANCELLED, _) | (_, None) => {
            (false, env.error("ERR_CACHELINK_CANCELLED", "cancelled"))
        }
        (_, Some(Ok(Ok(v)))) => (true, (job.to_js)(env, v)),
        (_, Some(Ok(Err(e)))) => (false, (job.err_to_js)(env, &e)),
        (_, Some(Err(panic))) => {
            let msg = format!(
                "cachelink: internal error (panic): {}",
                panic_message(&*panic)
            );
            (false, env.error("ERR_CACHELINK_PANIC", &msg))
        }
    };
    let (ok, value) = match value {
        Ok(v) => (ok, v),
        Err(f) => match env.failure_value(&f) {
            Ok(v) => (false, v),
            Err(_) => return,
        },
    };
    // SAFETY: the deferred is settled exactly once, here, on the JS thread.
    unsafe {
        if ok {
            napi_resolve_deferred(env.0, job.deferred, value);
        } else {
            napi_reject_deferred(env.0, job.deferred, value);
        }
    }
}
