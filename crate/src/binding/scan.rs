//! The exports that look after a cache rather than fill one: `fsInfo`, `scan`, `clean` (and
//! their sync twins). Paths come back both as raw bytes (a Buffer, which Node's fs and every
//! cachelink call accept) and as a display string (`engine::scan::display`), so a name that is
//! not UTF-8 can be shown and still be acted on.

use super::{entry, run_with_control, spawn_with_control, throw_error};
use crate::engine::batch::Control;
use crate::engine::error::Error;
use crate::engine::fsinfo;
use crate::engine::scan::{self, Leftover, Scan, BUCKETS};
use crate::napi::sys::{napi_callback_info, napi_env, napi_value};
use crate::napi::{Env, Failure, NResult};
use std::ffi::CStr;
use std::path::{Path, PathBuf};

/// `fsInfo(path)`: `{ fsType, source, device, linkMax, linkMaxFrom }` (null where unknown).
pub unsafe extern "C" fn fs_info(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let [path] = env.args::<1>(info)?;
        let path = env.path(path, "path")?;
        let fi = match fsinfo::fs_info(&path) {
            Ok(fi) => fi,
            Err(e) => return throw_error(env, &Error::io(&e, "stat", &path, None)),
        };
        let text = |s: &Option<String>| match s {
            Some(s) => env.create_string(s),
            None => env.null(),
        };
        let obj = env.object()?;
        env.set(obj, c"fsType", text(&fi.fs_type)?)?;
        env.set(obj, c"source", text(&fi.source)?)?;
        env.set(obj, c"device", env.double(fi.device as f64)?)?;
        let max = match fi.link_max {
            Some(n) => env.double(n as f64)?,
            None => env.null()?,
        };
        env.set(obj, c"linkMax", max)?;
        env.set(
            obj,
            c"linkMaxFrom",
            env.create_string(fi.link_max_from.name())?,
        )?;
        Ok(obj)
    })
}

/// (root, nearAt, control): nearAt 0 lists no entries.
fn scan_args(env: Env, info: napi_callback_info) -> NResult<(PathBuf, Option<u64>, napi_value)> {
    let [root, near_at, control] = env.args::<3>(info)?;
    let root = env.path(root, "root")?;
    let n = env.number(near_at, "nearAt")?;
    if !(n >= 0.0 && n.fract() == 0.0 && n <= 9.0e15) {
        return Err(Failure::Type(format!("Invalid \"nearAt\": {n}")));
    }
    Ok((root, (n > 0.0).then_some(n as u64), control))
}

pub unsafe extern "C" fn scan(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let (root, near_at, control) = scan_args(env, info)?;
        let run = move |ctl: &Control| scan::scan(&root, near_at, ctl);
        spawn_with_control(env, "cachelink.scan", control, run, scan_to_js)
    })
}

pub unsafe extern "C" fn scan_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let (root, near_at, control) = scan_args(env, info)?;
        run_with_control(
            env,
            control,
            |ctl| scan::scan(&root, near_at, ctl),
            scan_to_js,
        )
    })
}

/// (root, olderThanMs, dryRun, control)
fn clean_args(env: Env, info: napi_callback_info) -> NResult<(PathBuf, u64, bool, napi_value)> {
    let [root, older, dry_run, control] = env.args::<4>(info)?;
    let root = env.path(root, "root")?;
    let o = env.number(older, "olderThanMs")?;
    if !(0.0..=9.0e15).contains(&o) {
        return Err(Failure::Type(format!("Invalid \"olderThanMs\": {o}")));
    }
    Ok((root, o as u64, env.bool(dry_run, "dryRun")?, control))
}

pub unsafe extern "C" fn clean(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let (root, older, dry_run, control) = clean_args(env, info)?;
        let run = move |ctl: &Control| scan::clean(&root, older, dry_run, ctl);
        spawn_with_control(env, "cachelink.clean", control, run, leftovers_to_js)
    })
}

pub unsafe extern "C" fn clean_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let (root, older, dry_run, control) = clean_args(env, info)?;
        let run = |ctl: &Control| scan::clean(&root, older, dry_run, ctl);
        run_with_control(env, control, run, leftovers_to_js)
    })
}

/// `[raw Buffer, display string, exact]` for a path.
fn path_parts(env: Env, path: &Path) -> NResult<[napi_value; 3]> {
    let (shown, exact) = scan::display(path);
    Ok([
        env.buffer(&scan::path_bytes(path))?,
        env.create_string(&shown)?,
        env.boolean(exact)?,
    ])
}

/// Each leftover as `[raw, display, exact, stage, pid, ageMs]`.
fn leftovers_to_js(env: Env, list: Vec<Leftover>) -> NResult<napi_value> {
    let mut rows = Vec::with_capacity(list.len());
    for l in &list {
        let [raw, shown, exact] = path_parts(env, &l.path)?;
        rows.push(env.array(&[
            raw,
            shown,
            exact,
            env.boolean(l.stage)?,
            env.double(l.pid.into())?,
            env.double(l.age_ms as f64)?,
        ])?);
    }
    env.array(&rows)
}

/// `{ files, bytes, dirs, others, mostLinks, elapsedMs, histogram: [[from, count]...],
/// near: [[raw, display, exact, links, size]...], leftovers (as in `leftovers_to_js`),
/// unreadable: [[raw, display, exact, code]...] }`
fn scan_to_js(env: Env, s: Scan) -> NResult<napi_value> {
    let obj = env.object()?;
    let counts: [(&CStr, f64); 6] = [
        (c"files", s.files as f64),
        (c"bytes", s.bytes as f64),
        (c"dirs", s.dirs as f64),
        (c"others", s.others as f64),
        (c"mostLinks", s.most_links as f64),
        (c"elapsedMs", s.elapsed_ms),
    ];
    for (name, n) in counts {
        env.set(obj, name, env.double(n)?)?;
    }
    let mut histogram = Vec::new();
    for (from, count) in BUCKETS.iter().zip(s.histogram) {
        histogram.push(env.array(&[env.double(*from as f64)?, env.double(count as f64)?])?);
    }
    env.set(obj, c"histogram", env.array(&histogram)?)?;
    let mut near = Vec::with_capacity(s.near.len());
    for n in &s.near {
        let [raw, shown, exact] = path_parts(env, &n.path)?;
        let (links, size) = (env.double(n.links as f64)?, env.double(n.size as f64)?);
        near.push(env.array(&[raw, shown, exact, links, size])?);
    }
    env.set(obj, c"near", env.array(&near)?)?;
    env.set(obj, c"leftovers", leftovers_to_js(env, s.leftovers)?)?;
    let mut unreadable = Vec::new();
    for (path, code) in &s.unreadable {
        let [raw, shown, exact] = path_parts(env, path)?;
        unreadable.push(env.array(&[raw, shown, exact, env.create_string(code)?])?);
    }
    env.set(obj, c"unreadable", env.array(&unreadable)?)?;
    Ok(obj)
}
