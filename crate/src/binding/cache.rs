//! The exports that look after a cache rather than fill one: `fsInfo` (a `Task` on libuv's
//! pool, `task::Short`), `scan`, `clean` (and their sync twins). Paths come back both as raw
//! bytes (a Buffer, which Node's fs and every cachelink call accept) and as a display string
//! (`engine::scan::display`), so a name that is not UTF-8 can be shown and still be acted on.

use super::control::Control;
use super::task::Short;
use super::{run, settle, to_path};
use crate::engine::error::Error;
use crate::engine::fsinfo::{self, LinkMaxFrom};
use crate::engine::scan::{self, Cleaned, Leftover, Scan, Unrecognized, Why, BUCKETS};
use crate::engine::temp;
use napi::bindgen_prelude::{AsyncTask, Buffer, Either, Object};
use napi::Env;
use napi_derive::napi;
use std::path::{Path, PathBuf};

#[napi(string_enum = "lowercase")]
pub enum LinkMaxSource {
    Pathconf,
    Fstype,
    Unknown,
}

/// The filesystem a path is on: exactly the public `FsInfo`.
#[napi(object, use_nullable = true)]
pub struct FsInfo {
    pub fs_type: Option<String>,
    pub source: Option<String>,
    pub device: f64,
    pub link_max: Option<f64>,
    pub link_max_from: LinkMaxSource,
}

pub fn fs_info_to_js(fi: fsinfo::FsInfo) -> FsInfo {
    FsInfo {
        fs_type: fi.fs_type,
        source: fi.source,
        device: fi.device as f64,
        link_max: fi.link_max.map(|n| n as f64),
        link_max_from: match fi.link_max_from {
            LinkMaxFrom::Pathconf => LinkMaxSource::Pathconf,
            LinkMaxFrom::FsType => LinkMaxSource::Fstype,
            LinkMaxFrom::Unknown => LinkMaxSource::Unknown,
        },
    }
}

fn fs_info_of(path: &Path) -> Result<fsinfo::FsInfo, Error> {
    fsinfo::fs_info(path).map_err(|e| Error::io(&e, "stat", path, None))
}

/// The filesystem of `path`: a few system calls, as a `Task` on libuv's pool (`Short`).
#[napi(catch_unwind, ts_return_type = "Promise<FsInfo>")]
pub fn fs_info(
    path: Either<String, Buffer>,
) -> napi::Result<AsyncTask<Short<fsinfo::FsInfo, FsInfo>>> {
    let path = to_path(path, "path")?;
    Ok(AsyncTask::new(Short::new(
        move || fs_info_of(&path),
        fs_info_to_js,
    )))
}

#[napi(catch_unwind)]
pub fn fs_info_sync(env: Env, path: Either<String, Buffer>) -> napi::Result<FsInfo> {
    let path = to_path(path, "path")?;
    settle(&env, fs_info_of(&path)).map(fs_info_to_js)
}

/// A path found under a cache: as shown (`\xNN` for bytes that are not UTF-8), its raw bytes,
/// and whether the two agree.
#[napi(object)]
pub struct FoundPath {
    pub path: String,
    pub raw: Buffer,
    pub exact: bool,
}

fn found(path: &Path) -> FoundPath {
    let (shown, exact) = scan::display(path);
    FoundPath {
        path: shown,
        raw: scan::path_bytes(path).into_owned().into(),
        exact,
    }
}

#[napi(string_enum = "lowercase")]
pub enum LeftoverKind {
    Temp,
    Stage,
    Held,
}

/// What interrupted work left: exactly the public `Leftover`.
#[napi(object, use_nullable = true)]
pub struct NativeLeftover {
    pub path: String,
    pub raw: Buffer,
    pub exact: bool,
    pub kind: LeftoverKind,
    pub pid: u32,
    pub host: Option<String>,
    pub this_host: Option<bool>,
    pub age_ms: f64,
}

fn leftovers(list: Vec<Leftover>) -> Vec<NativeLeftover> {
    list.into_iter()
        .map(|l| {
            let FoundPath { path, raw, exact } = found(&l.path);
            NativeLeftover {
                path,
                raw,
                exact,
                kind: if l.stage {
                    LeftoverKind::Stage
                } else if l.held {
                    LeftoverKind::Held
                } else {
                    LeftoverKind::Temp
                },
                pid: l.pid,
                this_host: l.this_host(),
                host: l.host,
                age_ms: l.age_ms as f64,
            }
        })
        .collect()
}

#[napi(string_enum = "kebab-case")]
pub enum UnrecognizedReason {
    NoLeadingDot,
    Directory,
    NotARegularFile,
    NotADirectory,
}

/// A name like a leftover's that is not one: exactly the public `Unrecognized`.
#[napi(object)]
pub struct NativeUnrecognized {
    pub path: String,
    pub raw: Buffer,
    pub exact: bool,
    pub reason: UnrecognizedReason,
}

fn unrecognized(list: Vec<Unrecognized>) -> Vec<NativeUnrecognized> {
    list.into_iter()
        .map(|u| {
            let FoundPath { path, raw, exact } = found(&u.path);
            NativeUnrecognized {
                path,
                raw,
                exact,
                reason: match u.why {
                    Why::NoLeadingDot => UnrecognizedReason::NoLeadingDot,
                    Why::Directory => UnrecognizedReason::Directory,
                    Why::NotARegularFile => UnrecognizedReason::NotARegularFile,
                    Why::NotADirectory => UnrecognizedReason::NotADirectory,
                },
            }
        })
        .collect()
}

/// What `clean` removed and the look-alikes it left: exactly the public `CleanResult`.
#[napi(object)]
pub struct CleanResult {
    pub removed: Vec<NativeLeftover>,
    pub unrecognized: Vec<NativeUnrecognized>,
}

fn cleaned(c: Cleaned) -> CleanResult {
    CleanResult {
        removed: leftovers(c.removed),
        unrecognized: unrecognized(c.unrecognized),
    }
}

/// This machine's id in temp names (`engine::temp::host_id`), for the tests.
#[napi]
pub fn host_id() -> String {
    temp::host_id().to_string()
}

/// A cache file with many links: exactly the public `LinkedFile`.
#[napi(object)]
pub struct LinkedFile {
    pub path: String,
    pub raw: Buffer,
    pub exact: bool,
    pub links: f64,
    pub size: f64,
}

#[napi(object)]
pub struct Unreadable {
    pub path: String,
    pub raw: Buffer,
    pub exact: bool,
    pub code: String,
}

/// Files with `from` to `to` links (`to` null: and more).
#[napi(object, use_nullable = true)]
pub struct HistogramBucket {
    pub from: f64,
    pub to: Option<f64>,
    pub files: f64,
}

/// A walk of a cache: exactly the public `ScanResult`.
#[napi(object)]
pub struct ScanResult {
    pub files: f64,
    pub bytes: f64,
    pub dirs: f64,
    pub others: f64,
    pub most_links: f64,
    pub histogram: Vec<HistogramBucket>,
    pub near: Vec<LinkedFile>,
    pub leftovers: Vec<NativeLeftover>,
    pub unrecognized: Vec<NativeUnrecognized>,
    pub unreadable: Vec<Unreadable>,
    pub elapsed_ms: f64,
}

fn scan_to_js(_env: &Env, s: Scan) -> napi::Result<ScanResult> {
    let histogram = BUCKETS
        .iter()
        .zip(s.histogram)
        .enumerate()
        .map(|(i, (from, files))| HistogramBucket {
            from: *from as f64,
            to: BUCKETS.get(i + 1).map(|next| (next - 1) as f64),
            files: files as f64,
        })
        .collect();
    let near = s
        .near
        .iter()
        .map(|n| {
            let FoundPath { path, raw, exact } = found(&n.path);
            LinkedFile {
                path,
                raw,
                exact,
                links: n.links as f64,
                size: n.size as f64,
            }
        })
        .collect();
    let unreadable = s
        .unreadable
        .iter()
        .map(|(p, code)| {
            let FoundPath { path, raw, exact } = found(p);
            Unreadable {
                path,
                raw,
                exact,
                code: code.to_string(),
            }
        })
        .collect();
    Ok(ScanResult {
        files: s.files as f64,
        bytes: s.bytes as f64,
        dirs: s.dirs as f64,
        others: s.others as f64,
        most_links: s.most_links as f64,
        histogram,
        near,
        leftovers: leftovers(s.leftovers),
        unrecognized: unrecognized(s.unrecognized),
        unreadable,
        elapsed_ms: s.elapsed_ms,
    })
}

fn near_at(n: i64) -> Option<u64> {
    u64::try_from(n).ok().filter(|&n| n > 0)
}

/// Walks `root`; files with at least `nearAt` links (0: none) are listed.
#[napi(catch_unwind, ts_return_type = "Promise<ScanResult>")]
pub fn scan<'env>(
    env: &'env Env,
    root: Either<String, Buffer>,
    near: i64,
    control: &Control,
) -> napi::Result<Object<'env>> {
    let root = to_path(root, "root")?;
    let shared = control.shared.clone();
    let work = move || scan::scan(&root, near_at(near), &shared.engine());
    run::spawn(env, work, scan_to_js)
}

#[napi(catch_unwind)]
pub fn scan_sync(
    env: Env,
    root: Either<String, Buffer>,
    near: i64,
    control: &Control,
) -> napi::Result<ScanResult> {
    let root = to_path(root, "root")?;
    let s = settle(
        &env,
        scan::scan(&root, near_at(near), &control.shared.engine()),
    )?;
    scan_to_js(&env, s)
}

fn clean_args(root: Either<String, Buffer>, older_than_ms: f64) -> napi::Result<(PathBuf, u64)> {
    // The facade refuses more than 2^53 - 1 (ERR_OUT_OF_RANGE); this is the last line.
    if !(0.0..=9_007_199_254_740_991.0).contains(&older_than_ms) {
        return Err(napi::Error::new(
            napi::Status::InvalidArg,
            format!("Invalid \"olderThanMs\": {older_than_ms}"),
        ));
    }
    Ok((to_path(root, "root")?, older_than_ms as u64))
}

fn cleaned_to_js(_env: &Env, c: Cleaned) -> napi::Result<CleanResult> {
    Ok(cleaned(c))
}

/// Removes what interrupted work left under `root` (or, with `dryRun`, lists it).
#[napi(catch_unwind, ts_return_type = "Promise<CleanResult>")]
pub fn clean<'env>(
    env: &'env Env,
    root: Either<String, Buffer>,
    older_than_ms: f64,
    dry_run: bool,
    control: &Control,
) -> napi::Result<Object<'env>> {
    let (root, older) = clean_args(root, older_than_ms)?;
    let shared = control.shared.clone();
    let work = move || scan::clean(&root, older, dry_run, &shared.engine());
    run::spawn(env, work, cleaned_to_js)
}

#[napi(catch_unwind)]
pub fn clean_sync(
    env: Env,
    root: Either<String, Buffer>,
    older_than_ms: f64,
    dry_run: bool,
    control: &Control,
) -> napi::Result<CleanResult> {
    let (root, older) = clean_args(root, older_than_ms)?;
    let c = settle(
        &env,
        scan::clean(&root, older, dry_run, &control.shared.engine()),
    )?;
    Ok(cleaned(c))
}
