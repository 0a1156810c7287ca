//! `importFiles` and `importTree`, with their sync twins: long work, run on cachelink's own pool
//! (`run::spawn`); the sync twins wait for the same pool.

use super::control::{Control, Shared};
use super::link::NativeLinkOptions;
use super::{run, settle, to_path, LinkMethod};
use crate::engine::batch::{self, BatchOptions, OnExisting, Stats};
use crate::engine::conflicts::OnConflict;
use crate::engine::error::Result;
use crate::engine::{tree, wire};
use napi::bindgen_prelude::{Buffer, Either};
use napi::Env;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::Arc;

#[napi(string_enum)]
pub enum OnExistingOption {
    #[napi(value = "merge")]
    Merge,
    #[napi(value = "replace")]
    Replace,
    #[napi(value = "skip-if-linked")]
    SkipIfLinked,
    #[napi(value = "error")]
    Error,
}

#[napi(string_enum = "lowercase")]
pub enum OnConflictOption {
    Error,
    First,
    Last,
}

#[napi(object)]
pub struct NativeImportOptions {
    pub link: NativeLinkOptions,
    pub atomic: bool,
    /// Workers for this import (at most the pool's size run at once); 0: the pool's size.
    pub threads: u32,
    pub on_existing: OnExistingOption,
    /// Checked by the facade: plain relative paths.
    pub keep: Vec<String>,
    pub on_conflict: OnConflictOption,
    /// `trustStore`: store files are not looked at on the fast path (README, "The store's
    /// trust model").
    pub trust_store: Option<bool>,
}

/// A method that did not work, the code that said so, and for how many files.
#[napi(object)]
pub struct ImportFallback {
    pub method: LinkMethod,
    pub code: String,
    pub count: i64,
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
    pub bytes_copied: i64,
    pub elapsed_ms: f64,
    pub method: Option<LinkMethod>,
    pub kept: i64,
    pub empty_created: i64,
    pub link_limit_copies: i64,
    pub readonly_cache_copies: i64,
    pub link_refused_copies: i64,
    pub max_links_unchecked: i64,
    pub conflicts: i64,
    pub fallbacks: Vec<ImportFallback>,
    pub retries: i64,
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
            bytes_copied: count(s.bytes_copied),
            elapsed_ms: s.elapsed_ms,
            method: s.method.map(LinkMethod::from),
            kept: count(s.kept),
            empty_created: count(s.empty_created),
            link_limit_copies: count(s.link_limit_copies),
            readonly_cache_copies: count(s.readonly_cache_copies),
            link_refused_copies: count(s.link_refused_copies),
            max_links_unchecked: count(s.max_links_unchecked),
            conflicts: count(s.conflicts),
            fallbacks: s
                .fallbacks
                .into_iter()
                .map(|(method, code, n)| ImportFallback {
                    method: method.into(),
                    code: code.to_string(),
                    count: count(n),
                })
                .collect(),
            retries: count(s.retries),
        }
    }
}

/// The entries (importFiles) or the source directory (importTree).
enum Source {
    /// The entries in their wire form, parsed on the worker (`wire::parse_entries`).
    Files(Vec<u8>),
    Tree(PathBuf),
}

pub(super) fn batch_options(options: NativeImportOptions) -> napi::Result<BatchOptions> {
    Ok(BatchOptions {
        link: options.link.engine()?,
        threads: options.threads as usize,
        atomic: options.atomic,
        on_existing: match options.on_existing {
            OnExistingOption::Merge => OnExisting::Merge,
            OnExistingOption::Replace => OnExisting::Replace,
            OnExistingOption::SkipIfLinked => OnExisting::SkipIfLinked,
            OnExistingOption::Error => OnExisting::Error,
        },
        keep: options.keep.into_iter().map(PathBuf::from).collect(),
        on_conflict: match options.on_conflict {
            OnConflictOption::Error => OnConflict::Error,
            OnConflictOption::First => OnConflict::First,
            OnConflictOption::Last => OnConflict::Last,
        },
        store: None,
        made_dirs: None,
        umask: None,
        check_sources: false,
        trust_store: options.trust_store.unwrap_or(false),
    })
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
        let mut opts = batch_options(options)?;
        // importFiles' sources are checked (README, "The store's trust model"); importTree's
        // come from its own walk.
        opts.check_sources = matches!(what, Source::Files(_));
        Ok(Job {
            what,
            into: to_path(into, "into")?,
            opts,
            shared: control.shared.clone(),
            hold: control.hold_commit,
        })
    }

    fn run(self) -> Result<Stats> {
        let ctl = self.shared.engine();
        let (mut stats, pending) = match self.what {
            Source::Files(records) => {
                let entries = wire::parse_entries(&records, &self.into)?;
                batch::import_pending(entries, &self.into, &self.opts, &ctl)?
            }
            Source::Tree(src) => tree::import_tree_pending(&src, &self.into, &self.opts, &ctl)?,
        };
        stats.retries += u64::from(self.shared.finish(pending, self.hold)?);
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
