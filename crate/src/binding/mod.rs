//! The module's exports. Arguments arrive validated and normalized by the TypeScript facade
//! (`ts/native.ts` describes this interface); they are checked again here, so a wrong call
//! throws a TypeError instead of reaching the engine.
//!
//! Failures of the engine become an `Error` with `code`, `raw` (the OS number), `syscall`,
//! `path`, `dest` and `cachelink: true`; the facade turns it into Node's fs error.

use crate::engine::batch::{self, BatchOptions, Control, Entry, Kind, Stats};
use crate::engine::error::Error;
use crate::engine::link::{self, IfExists, LinkLimit, OnLinkLimit, Options, Outcome};
use crate::engine::memo;
use crate::engine::method::{Method, Requested};
use crate::engine::{paths, tree};
use crate::errno;
use crate::napi::sys::{napi_callback_info, napi_env, napi_value};
use crate::napi::{job, panic_message, Env, Failure, NResult};
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::AtomicI32;

/// Bumped when this interface changes, so the facade can refuse a stale binary.
const ABI: f64 = 2.0;

mod scan;

pub fn register(env: Env, exports: napi_value) -> NResult<napi_value> {
    let functions: [(&CStr, crate::napi::sys::napi_callback); 15] = [
        (c"importFiles", import_files),
        (c"importFilesSync", import_files_sync),
        (c"importTree", import_tree),
        (c"importTreeSync", import_tree_sync),
        (c"linkFile", link_file),
        (c"linkFileSync", link_file_sync),
        (c"resetEntry", reset_entry),
        (c"resetEntrySync", reset_entry_sync),
        (c"errnoTable", errno_table),
        (c"clearFallbackMemo", clear_fallback_memo),
        (c"fsInfo", scan::fs_info),
        (c"scan", scan::scan),
        (c"scanSync", scan::scan_sync),
        (c"clean", scan::clean),
        (c"cleanSync", scan::clean_sync),
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

/// (src, dest, flags, maxLinks): see `link_options`.
fn link_args(env: Env, info: napi_callback_info) -> NResult<LinkArgs> {
    let [src, dest, flags, max_links] = env.args::<4>(info)?;
    let opts = link_options(env, flags, max_links)?;
    Ok(LinkArgs {
        src: env.path(src, "src")?,
        dest: env.path(dest, "dest")?,
        opts,
    })
}

/// The link options as the facade packs them, one number instead of five arguments (each
/// string read through Node-API costs two calls): bits 0-2 the method (0 auto, 1 clone,
/// 2 hardlink, 3 copy, 4 symlink), bit 3 fallback, bits 4-5 onLinkLimit (0 reset, 1 copy,
/// 2 error), bits 6-7 ifExists (0 error, 1 replace, 2 keep). `maxLinks` 0 means none.
fn link_options(env: Env, flags: napi_value, max_links: napi_value) -> NResult<Options> {
    let bad = |what: &str, v: f64| Failure::Type(format!("Invalid \"{what}\": {v}"));
    let f = env.number(flags, "flags")?;
    if !(0.0..256.0).contains(&f) || f.fract() != 0.0 {
        return Err(bad("flags", f));
    }
    let f = f as u32;
    let method = match f & 7 {
        0 => Requested::Auto,
        1 => Requested::Only(Method::Clone),
        2 => Requested::Only(Method::Hardlink),
        3 => Requested::Only(Method::Copy),
        4 => Requested::Only(Method::Symlink),
        _ => return Err(bad("flags", f.into())),
    };
    let on_link_limit = match (f >> 4) & 3 {
        0 => OnLinkLimit::Reset,
        1 => OnLinkLimit::Copy,
        2 => OnLinkLimit::Error,
        _ => return Err(bad("flags", f.into())),
    };
    let if_exists = match (f >> 6) & 3 {
        0 => IfExists::Error,
        1 => IfExists::Replace,
        2 => IfExists::Keep,
        _ => return Err(bad("flags", f.into())),
    };
    let max = env.number(max_links, "maxLinks")?;
    let max_links = match max {
        0.0 => None,
        m if m >= 2.0 && m.fract() == 0.0 && m <= 9.0e15 => Some(m as u64),
        m => return Err(bad("maxLinks", m)),
    };
    Ok(Options {
        method,
        fallback: f & 8 != 0,
        on_link_limit,
        max_links,
        if_exists,
    })
}

unsafe extern "C" fn link_file(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let a = link_args(env, info)?;
        let run = Box::new(move || link::link_file(&a.src, &a.dest, &a.opts));
        job::spawn(
            env,
            "cachelink.linkFile",
            run,
            outcome_to_js,
            error_to_js,
            None,
        )
    })
}

unsafe extern "C" fn link_file_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let a = link_args(env, info)?;
        settle(
            env,
            link::link_file(&a.src, &a.dest, &a.opts),
            outcome_to_js,
        )
    })
}

unsafe extern "C" fn reset_entry(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let [path] = env.args::<1>(info)?;
        let path = env.path(path, "path")?;
        let run = Box::new(move || link::reset_entry(&path));
        let undefined: job::ToJs<()> = |env, ()| env.undefined();
        job::spawn(
            env,
            "cachelink.resetEntry",
            run,
            undefined,
            error_to_js,
            None,
        )
    })
}

unsafe extern "C" fn reset_entry_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| {
        let [path] = env.args::<1>(info)?;
        settle(
            env,
            link::reset_entry(&env.path(path, "path")?),
            |env, ()| env.undefined(),
        )
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

/// The common outcome (no fallback, no read-only cache) as one number the facade decodes,
/// which is much cheaper than an object built property by property through Node-API:
/// `method + 8 * linkLimit`, method 0 none, 1 clone, 2 hardlink, 3 copy, 4 symlink; linkLimit 0
/// none, 1 reset, 2 copy. Anything else comes as the full object.
fn outcome_code(o: &Outcome) -> Option<f64> {
    if !o.fallbacks.is_empty() {
        return None;
    }
    let method = match o.method {
        None => 0,
        Some(Method::Clone) => 1,
        Some(Method::Hardlink) => 2,
        Some(Method::Copy) => 3,
        Some(Method::Symlink) => 4,
    };
    let limit = match o.link_limit {
        None => 0,
        Some(LinkLimit::Reset) => 1,
        Some(LinkLimit::Copied) => 2,
        Some(LinkLimit::CacheReadOnly(_)) => return None,
    };
    Some(f64::from(method + 8 * limit))
}

fn outcome_to_js(env: Env, o: Outcome) -> NResult<napi_value> {
    if let Some(code) = outcome_code(&o) {
        return env.double(code);
    }
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
    if let Some(entry) = &e.entry {
        env.set(err, c"entry", env.create_string(&entry.to_string_lossy())?)?;
    }
    if let Some(detail) = e.detail {
        env.set(err, c"detail", env.create_string(detail)?)?;
    }
    Ok(err)
}

fn throw_error(env: Env, e: &Error) -> NResult<napi_value> {
    let err = error_to_js(env, e)?;
    env.throw(err);
    Ok(ptr::null_mut())
}

/// What a sync export returns: the engine's success as JS, or its error thrown (the sync twin
/// of what `job::spawn` does for a promise).
fn settle<T>(env: Env, r: Result<T, Error>, to_js: job::ToJs<T>) -> NResult<napi_value> {
    match r {
        Ok(v) => to_js(env, v),
        Err(e) => throw_error(env, &e),
    }
}

/// Runs `run` on the libuv pool with the control buffer `control`, which a reference keeps
/// alive until the work completes.
fn spawn_with_control<T: Send + 'static>(
    env: Env,
    name: &str,
    control: napi_value,
    run: impl FnOnce(&Control) -> Result<T, Error> + Send + 'static,
    to_js: job::ToJs<T>,
) -> NResult<napi_value> {
    let ptr = ControlPtr::from_js(env, control)?;
    let keep = env.reference(control)?;
    let run = Box::new(move || {
        // SAFETY: `keep` holds the buffer until this work completes.
        let ctl = unsafe { ptr.control() };
        run(&ctl)
    });
    job::spawn(env, name, run, to_js, error_to_js, Some(keep))
}

/// The sync form of `spawn_with_control`: `run` on this thread.
fn run_with_control<T>(
    env: Env,
    control: napi_value,
    run: impl FnOnce(&Control) -> Result<T, Error>,
    to_js: job::ToJs<T>,
) -> NResult<napi_value> {
    let ptr = ControlPtr::from_js(env, control)?;
    // SAFETY: `control` is an argument of this call: alive until it returns.
    let ctl = unsafe { ptr.control() };
    settle(env, run(&ctl), to_js)
}

/// The control buffer shared with the facade: `Int32Array [done, total, abort]` over an
/// ArrayBuffer, which stays put (off-heap) while referenced.
#[derive(Clone, Copy)]
struct ControlPtr(*mut AtomicI32);

// SAFETY: the pointer is only used through atomics, and the buffer is kept alive (a reference
// released when the work completes) for as long as any thread uses it.
unsafe impl Send for ControlPtr {}

impl ControlPtr {
    fn from_js(env: Env, v: napi_value) -> NResult<ControlPtr> {
        let (data, len) = env.arraybuffer(v, "control")?;
        if len < 12 || data.is_null() || !(data as usize).is_multiple_of(4) {
            return Err(Failure::Type(
                "The \"control\" buffer must hold 3 aligned int32".into(),
            ));
        }
        Ok(ControlPtr(data.cast()))
    }

    /// # Safety
    /// The buffer must be alive for as long as the returned control is used.
    unsafe fn control<'a>(self) -> Control<'a> {
        // SAFETY: the buffer holds at least three aligned i32 (checked in `from_js`).
        unsafe {
            Control {
                done: &*self.0,
                total: &*self.0.add(1),
                abort: &*self.0.add(2),
            }
        }
    }
}

struct ImportArgs {
    /// Entries (importFiles) or the source directory (importTree).
    what: Source,
    into: PathBuf,
    opts: BatchOptions,
}

enum Source {
    /// The entries in their wire form, parsed on the worker thread (`parse_entries`).
    Files(Vec<u8>),
    Tree(PathBuf),
}

/// (entries | src, into, flags, maxLinks, atomic, threads, control). Entries come as a Buffer
/// (see `parse_entries`), the link options as in `link_options`.
fn import_args(
    env: Env,
    info: napi_callback_info,
    tree: bool,
) -> NResult<(ImportArgs, napi_value)> {
    let [what, into, flags, max_links, atomic, threads, control] = env.args::<7>(info)?;
    let into = env.path(into, "into")?;
    let link = link_options(env, flags, max_links)?;
    let threads = env.number(threads, "threads")?;
    if !(0.0..=1024.0).contains(&threads) || threads.fract() != 0.0 {
        return Err(Failure::Type(format!("Invalid \"threads\": {threads}")));
    }
    let opts = BatchOptions {
        link,
        threads: threads as usize,
        atomic: env.bool(atomic, "atomic")?,
    };
    let what = if tree {
        Source::Tree(env.path(what, "src")?)
    } else {
        Source::Files(env.buffer_bytes(what, "entries")?)
    };
    Ok((ImportArgs { what, into, opts }, control))
}

/// The entries from their wire form: `path\0src\0x\0size\0...` (x "1", "0" or ""; size decimal
/// or ""), as UTF-8 bytes. Paths are checked here, before anything is written.
fn parse_entries(records: &[u8], into: &Path) -> Result<Vec<Entry>, Error> {
    let unsafe_path = |why: &'static str, path: &str| {
        Error::own(
            "ERR_CACHELINK_UNSAFE_PATH",
            why,
            Path::new(path),
            Some(into),
        )
        .at_entry(Path::new(path))
    };
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut fields = records.split(|&b| b == 0);
    let mut entries = Vec::new();
    while let Some(path) = fields.next() {
        let path =
            std::str::from_utf8(path).map_err(|_| unsafe_path("the path is not UTF-8", ""))?;
        let (Some(src), Some(x), Some(size)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(unsafe_path("the entry list is malformed", path));
        };
        let rel = paths::safe_relative(path).map_err(|why| unsafe_path(why, path))?;
        let src = crate::napi::bytes_to_path(src.to_vec())
            .ok_or_else(|| unsafe_path("the source path is not valid here", path))?;
        let executable = match x {
            b"1" => Some(true),
            b"0" => Some(false),
            _ => None,
        };
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        entries.push(Entry {
            rel,
            kind: Kind::File {
                src,
                executable,
                size,
            },
        });
    }
    Ok(entries)
}

fn run_import(a: ImportArgs, ctl: &Control) -> Result<Stats, Error> {
    match a.what {
        Source::Files(records) => {
            let entries = parse_entries(&records, &a.into)?;
            batch::import(&entries, &a.into, &a.opts, ctl)
        }
        Source::Tree(src) => tree::import_tree(&src, &a.into, &a.opts, ctl),
    }
}

fn import_async(env: Env, info: napi_callback_info, tree: bool) -> NResult<napi_value> {
    let (args, control) = import_args(env, info, tree)?;
    let name = if tree {
        "cachelink.importTree"
    } else {
        "cachelink.importFiles"
    };
    spawn_with_control(env, name, control, |ctl| run_import(args, ctl), stats_to_js)
}

fn import_sync(env: Env, info: napi_callback_info, tree: bool) -> NResult<napi_value> {
    let (args, control) = import_args(env, info, tree)?;
    run_with_control(env, control, |ctl| run_import(args, ctl), stats_to_js)
}

unsafe extern "C" fn import_files(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| import_async(env, info, false))
}

unsafe extern "C" fn import_files_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| import_sync(env, info, false))
}

unsafe extern "C" fn import_tree(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| import_async(env, info, true))
}

unsafe extern "C" fn import_tree_sync(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, info, |env, info| import_sync(env, info, true))
}

fn stats_to_js(env: Env, s: Stats) -> NResult<napi_value> {
    let obj = env.object()?;
    let counts: [(&CStr, u64); 9] = [
        (c"files", s.files),
        (c"dirs", s.dirs),
        (c"cloned", s.cloned),
        (c"hardlinked", s.hardlinked),
        (c"copied", s.copied),
        (c"symlinked", s.symlinked),
        (c"resets", s.resets),
        (c"fallbacks", s.fallbacks),
        (c"bytesCopied", s.bytes_copied),
    ];
    for (name, n) in counts {
        env.set(obj, name, env.double(n as f64)?)?;
    }
    env.set(obj, c"elapsedMs", env.double(s.elapsed_ms)?)?;
    let method = match s.method {
        Some(m) => env.create_string(m.name())?,
        None => env.null()?,
    };
    env.set(obj, c"method", method)?;
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_from_the_wire() {
        let into = Path::new("/into");
        let e = parse_entries(b"lib/a.js\0/s/1\x001\x0012\0b\0/s/2\0\0", into).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].rel, Path::new("lib/a.js"));
        let Kind::File {
            src,
            executable,
            size,
        } = &e[0].kind
        else {
            panic!()
        };
        assert_eq!(
            (src.as_path(), *executable, *size),
            (Path::new("/s/1"), Some(true), Some(12))
        );
        let Kind::File {
            executable, size, ..
        } = &e[1].kind
        else {
            panic!()
        };
        assert_eq!((*executable, *size), (None, None));
        let bad = parse_entries(b"../x\0/s\0\0", into).unwrap_err();
        assert_eq!(
            (bad.code, bad.entry.as_deref()),
            ("ERR_CACHELINK_UNSAFE_PATH", Some(Path::new("../x")))
        );
        assert!(parse_entries(b"a\0/s\0", into).is_err());
    }
}
