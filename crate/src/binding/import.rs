//! `importFiles` and `importTree`, with their sync twins: long work, run on cachelink's own pool
//! (`run::spawn`); the sync twins wait for the same pool.

use super::control::{Control, Shared};
use super::link::NativeLinkOptions;
use super::{run, settle, to_path, LinkMethod};
use crate::engine::batch::{self, BatchOptions, Stats};
use crate::engine::error::Result;
use crate::engine::{tree, wire};
use napi::bindgen_prelude::{Buffer, Either};
use napi::Env;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::Arc;

#[napi(object)]
pub struct NativeImportOptions {
    pub link: NativeLinkOptions,
    pub atomic: bool,
    /// Workers for this import (at most the pool's size run at once); 0: the pool's size.
    pub threads: u32,
}

/// What an import did: exactly the public `ImportStats`.
#[napi(object, use_nullable = true)]
pub struct ImportStats {
    pub files: i64,
    pub dirs: i64,
    pub cloned: i64,
    pub hardlinked: i64,
    pub copied: i64,
    pub symlinked: i64,
    pub resets: i64,
    pub fallbacks: i64,
    pub bytes_copied: i64,
    pub elapsed_ms: f64,
    pub method: Option<LinkMethod>,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<Stats> for ImportStats {
    fn from(s: Stats) -> Self {
        ImportStats {
            files: count(s.files),
            dirs: count(s.dirs),
            cloned: count(s.cloned),
            hardlinked: count(s.hardlinked),
            copied: count(s.copied),
            symlinked: count(s.symlinked),
            resets: count(s.resets),
            fallbacks: count(s.fallbacks),
            bytes_copied: count(s.bytes_copied),
            elapsed_ms: s.elapsed_ms,
            method: s.method.map(LinkMethod::from),
        }
    }
}

/// The entries (importFiles) or the source directory (importTree).
enum Source {
    /// The entries in their wire form, parsed on the worker (`wire::parse_entries`).
    Files(Vec<u8>),
    Tree(PathBuf),
}

/// Everything an import needs, owned: it moves to a pool thread.
struct Job {
    what: Source,
    into: PathBuf,
    opts: BatchOptions,
    shared: Arc<Shared>,
    hold: bool,
}

impl Job {
    fn new(
        what: Source,
        into: Either<String, Buffer>,
        options: NativeImportOptions,
        control: &Control,
    ) -> napi::Result<Job> {
        Ok(Job {
            what,
            into: to_path(into, "into")?,
            opts: BatchOptions {
                link: options.link.engine()?,
                threads: options.threads as usize,
                atomic: options.atomic,
            },
            shared: control.shared.clone(),
            hold: control.hold_commit,
        })
    }

    fn run(self) -> Result<Stats> {
        let ctl = self.shared.engine();
        let (stats, pending) = match self.what {
            Source::Files(records) => {
                let entries = wire::parse_entries(&records, &self.into)?;
                batch::import_pending(&entries, &self.into, &self.opts, &ctl)?
            }
            Source::Tree(src) => tree::import_tree_pending(&src, &self.into, &self.opts, &ctl)?,
        };
        self.shared.finish(pending, self.hold)?;
        Ok(stats)
    }
}

fn stats_to_js(_env: &Env, s: Stats) -> napi::Result<ImportStats> {
    Ok(s.into())
}

/// `entries`: UTF-8 `path\0src\0x\0size\0...` (see `wire::parse_entries`): one Buffer instead of an
/// object per file, which would cost several Node-API calls each on the JS thread.
#[napi(catch_unwind, ts_return_type = "Promise<ImportStats>")]
pub fn import_files<'env>(
    env: &'env Env,
    entries: Buffer,
    into: Either<String, Buffer>,
    options: NativeImportOptions,
    control: &Control,
) -> napi::Result<napi::bindgen_prelude::Object<'env>> {
    let job = Job::new(Source::Files(entries.to_vec()), into, options, control)?;
    run::spawn(env, move || job.run(), stats_to_js)
}

#[napi(catch_unwind)]
pub fn import_files_sync(
    env: Env,
    entries: Buffer,
    into: Either<String, Buffer>,
    options: NativeImportOptions,
    control: &Control,
) -> napi::Result<ImportStats> {
    let job = Job::new(Source::Files(entries.to_vec()), into, options, control)?;
    settle(&env, job.run()).map(ImportStats::from)
}

#[napi(catch_unwind, ts_return_type = "Promise<ImportStats>")]
pub fn import_tree<'env>(
    env: &'env Env,
    src: Either<String, Buffer>,
    into: Either<String, Buffer>,
    options: NativeImportOptions,
    control: &Control,
) -> napi::Result<napi::bindgen_prelude::Object<'env>> {
    let job = Job::new(Source::Tree(to_path(src, "src")?), into, options, control)?;
    run::spawn(env, move || job.run(), stats_to_js)
}

#[napi(catch_unwind)]
pub fn import_tree_sync(
    env: Env,
    src: Either<String, Buffer>,
    into: Either<String, Buffer>,
    options: NativeImportOptions,
    control: &Control,
) -> napi::Result<ImportStats> {
    let job = Job::new(Source::Tree(to_path(src, "src")?), into, options, control)?;
    settle(&env, job.run()).map(ImportStats::from)
}
