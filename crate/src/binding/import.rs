//! `importFiles` and `importTree`, with their sync twins: long work, run on cachelink's own pool
//! (`run::spawn`); the sync twins wait for the same pool.

use super::control::{Control, Shared};
use super::link::NativeLinkOptions;
use super::{run, settle, to_path, LinkMethod};
use crate::engine::batch::{self, BatchOptions, Entry, Kind, Stats};
use crate::engine::error::{Error, Result};
use crate::engine::{paths, tree};
use napi::bindgen_prelude::{Buffer, Either};
use napi::Env;
use napi_derive::napi;
use std::path::{Path, PathBuf};
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
    /// The entries in their wire form, parsed on the worker (`parse_entries`).
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
                let entries = parse_entries(&records, &self.into)?;
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

/// `entries`: UTF-8 `path\0src\0x\0size\0...` (see `parse_entries`): one Buffer instead of an
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

/// The entries from their wire form: `path\0src\0x\0size\0...` (x "1", "0" or ""; size decimal
/// or ""), as UTF-8 bytes. Paths are checked here, before anything is written.
fn parse_entries(records: &[u8], into: &Path) -> Result<Vec<Entry>> {
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
        let src = super::bytes_to_path(src.to_vec())
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
