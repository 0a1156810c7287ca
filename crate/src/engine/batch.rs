//! Batch import: many files into one directory in one call, on cachelink's own threads.
//!
//! 1. Entries arrive validated (`paths::safe_relative`); entries naming the same file are
//!    settled (`conflicts`) before anything is written.
//! 2. With `atomic` and a destination that does not exist yet, everything goes into a stage
//!    beside it (`.<name>.cachelink-stage-<pid>-<random>`), renamed into place at the end: after
//!    a failure, an abort or a killed process the destination is absent or complete. A
//!    destination that exists is handled by `OnExisting` (`existing`): merged into file by file,
//!    replaced by a stage that trades places with it, left alone when already in place, or an
//!    error.
//! 3. Directories are created once each, parents first. Into an existing destination, a
//!    directory that is already there must be a real directory, not a symlink (checked for all of
//!    them before anything is written).
//! 4. Files (and symlinks) are shared out to worker threads in chunks; each file goes through the
//!    same `Materialize` as `link_file`. The first real error, or an abort, stops the workers
//!    between files.

mod target;

pub use target::Pending;
use target::Target;

use super::conflicts::{self, OnConflict};
use super::error::{Error, Result};
use super::existing;
use super::link::{source, LinkLimit, Materialize, Options};
use super::memo;
use super::method::{Chain, Method};
use super::store::Store;
use crate::sys;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A file from the cache. `executable`, when given, is applied to copies and clones (a
    /// hard link shares the cache entry's mode). `size`, when the caller's index knows it, lets
    /// a hard link skip the `stat` of the source (see `Work::fast_link`).
    File {
        src: PathBuf,
        executable: Option<bool>,
        size: Option<u64>,
        /// Written after the import (a postinstall edits it): a clone or a copy, never a link.
        mutable: bool,
    },
    /// A symbolic link with this target (`dir`: it points to a directory; matters on Windows).
    Symlink {
        target: PathBuf,
        dir: bool,
    },
    Dir,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the destination, plain names only.
    pub rel: PathBuf,
    pub kind: Kind,
}

/// What an import does when its destination exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnExisting {
    /// Files are placed one by one into it, each under `Options::if_exists`.
    #[default]
    Merge,
    /// A stage is filled beside it and the two trade places; `keep` is carried over.
    Replace,
    /// Nothing is written when every entry already is there (the cache file's own inode, or
    /// an identical copy) and nothing else is; otherwise `Replace`.
    SkipIfLinked,
    /// EEXIST.
    Error,
}

#[derive(Clone, Debug, Default)]
pub struct BatchOptions {
    pub link: Options,
    /// Worker threads; 0 means the number of cores.
    pub threads: usize,
    pub atomic: bool,
    pub on_existing: OnExisting,
    /// With `Replace`: paths under an existing destination carried over into the new one
    /// (`node_modules`), plain relative paths.
    pub keep: Vec<PathBuf>,
    pub on_conflict: OnConflict,
    /// The store the entries' sources are in (`importPackages`): the fast path names them from
    /// its open bucket directories.
    pub store: Option<Arc<Store>>,
    /// Parents of `into` this import creates are recorded here instead of being removed when
    /// it fails (an install removes them once every package's stage is gone).
    pub made_dirs: Option<Arc<Mutex<Vec<PathBuf>>>>,
    /// Each file's source is checked before it is placed (`importFiles`, `importPackages`;
    /// README, "The store's trust model"): a regular file, not followed through a symlink (the
    /// source itself, or a store's bucket), of the entry's `size` when given (`Work::check_source`).
    pub check_sources: bool,
    /// With `check_sources`: files of the store (`store`) are not looked at on the fast path
    /// (`trustStore`); the careful path still checks them, and never follows a symlink.
    pub trust_store: bool,
    /// The process's umask, when the caller read it (`sys::read_umask`, once per install);
    /// otherwise an import that copies or clones reads it itself.
    pub umask: Option<u32>,
}

/// Shared with the caller while the import runs: progress out, abort in.
pub struct Control<'a> {
    pub done: &'a AtomicI32,
    pub total: &'a AtomicI32,
    pub abort: &'a AtomicI32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Files and symlinks placed (not those kept).
    pub files: u64,
    pub dirs: u64,
    pub cloned: u64,
    pub hardlinked: u64,
    /// Copies of non-empty files, whatever the reason (the `*_copies` below say why, where the
    /// reason was not the method chain itself).
    pub copied: u64,
    pub symlinked: u64,
    pub resets: u64,
    pub bytes_copied: u64,
    pub elapsed_ms: f64,
    /// The method most files were materialized with.
    pub method: Option<Method>,
    /// Files left as they were: already in place (`SkipIfLinked`, or `IfExists::Keep`, or the
    /// cache file's own inode under `IfExists::Replace`).
    pub kept: u64,
    /// Empty files, created rather than linked or copied.
    pub empty_created: u64,
    /// Copies made at the link limit without a reset (`OnLinkLimit::Copy`, or a filesystem
    /// that refuses every link).
    pub link_limit_copies: u64,
    /// Copies made at the link limit because the cache entry could not be reset.
    pub readonly_cache_copies: u64,
    /// Files whose own hard link was refused (EPERM under protected_hardlinks) and that were
    /// cloned or copied instead.
    pub link_refused_copies: u64,
    /// Files hard-linked with `max_links` where the link counts are hidden (the entry still read
    /// one link after the link: SFTP through sshfs), so the cap could not be applied.
    pub max_links_unchecked: u64,
    /// Entries dropped because another entry named the same file differently (`OnConflict`).
    pub conflicts: u64,
    /// Methods that did not work and what was used instead: (method, code, files).
    pub fallbacks: Vec<(Method, &'static str, u64)>,
    /// Transient failures waited out and tried again (`retry`): renames (the stage into
    /// place, a file over another), removals of the old tree, clones and copies.
    pub retries: u64,
}

/// What one worker did; summed when the workers are done (no shared counters in the loop).
#[derive(Default, Clone)]
struct Tally {
    files: u64,
    cloned: u64,
    hardlinked: u64,
    copied: u64,
    symlinked: u64,
    resets: u64,
    bytes_copied: u64,
    kept: u64,
    empty_created: u64,
    link_limit_copies: u64,
    readonly_cache_copies: u64,
    link_refused_copies: u64,
    max_links_unchecked: u64,
    fallbacks: Vec<(Method, &'static str, u64)>,
    retries: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.files += o.files;
        self.cloned += o.cloned;
        self.hardlinked += o.hardlinked;
        self.copied += o.copied;
        self.symlinked += o.symlinked;
        self.resets += o.resets;
        self.bytes_copied += o.bytes_copied;
        self.kept += o.kept;
        self.empty_created += o.empty_created;
        self.link_limit_copies += o.link_limit_copies;
        self.readonly_cache_copies += o.readonly_cache_copies;
        self.link_refused_copies += o.link_refused_copies;
        self.max_links_unchecked += o.max_links_unchecked;
        self.retries += o.retries;
        for &(m, code, n) in &o.fallbacks {
            self.fallback(m, code, n);
        }
    }

    fn fallback(&mut self, method: Method, code: &'static str, n: u64) {
        add_fallback(&mut self.fallbacks, method, code, n);
    }
}

/// `n` more files for which `method` failed with `code`, in a list of such counts.
fn add_fallback(
    list: &mut Vec<(Method, &'static str, u64)>,
    method: Method,
    code: &'static str,
    n: u64,
) {
    match list.iter_mut().find(|(m, c, _)| *m == method && *c == code) {
        Some(slot) => slot.2 += n,
        None => list.push((method, code, n)),
    }
}

/// The method most files were placed with (on a tie, the later of hard link, clone, copy,
/// symlink); `None` when no file was.
fn most_used(hardlinked: u64, cloned: u64, copied: u64, symlinked: u64) -> Option<Method> {
    [
        (hardlinked, Method::Hardlink),
        (cloned, Method::Clone),
        (copied, Method::Copy),
        (symlinked, Method::Symlink),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .max_by_key(|(n, _)| *n)
    .map(|(_, m)| m)
}

impl Stats {
    /// `o` added in (several imports' stats, summed); `method` is again the one most files used.
    pub fn add(&mut self, o: Stats) {
        self.files += o.files;
        self.dirs += o.dirs;
        self.cloned += o.cloned;
        self.hardlinked += o.hardlinked;
        self.copied += o.copied;
        self.symlinked += o.symlinked;
        self.resets += o.resets;
        self.bytes_copied += o.bytes_copied;
        self.kept += o.kept;
        self.empty_created += o.empty_created;
        self.link_limit_copies += o.link_limit_copies;
        self.readonly_cache_copies += o.readonly_cache_copies;
        self.link_refused_copies += o.link_refused_copies;
        self.max_links_unchecked += o.max_links_unchecked;
        self.conflicts += o.conflicts;
        self.retries += o.retries;
        for (m, code, n) in o.fallbacks {
            add_fallback(&mut self.fallbacks, m, code, n);
        }
        self.fallbacks
            .sort_by_key(|(m, code, _)| (m.index(), *code));
        self.method = most_used(self.hardlinked, self.cloned, self.copied, self.symlinked);
    }
}

/// `ERR_CACHELINK_STORE_MISMATCH`: the source's size is not the one its entry gives (a store
/// file truncated or grown since its index was written). Nothing of the import is placed.
const STORE_MISMATCH: &str = "the source's size is not the size its index entry gives";

/// Files per unit of work handed to a thread.
const CHUNK: usize = 128;
/// Below this many files per thread, extra threads cost more than they bring.
const FILES_PER_THREAD: usize = 256;

pub fn import(
    entries: Vec<Entry>,
    into: &Path,
    opts: &BatchOptions,
    ctl: &Control,
) -> Result<Stats> {
    let (mut stats, pending) = import_pending(entries, into, opts, ctl)?;
    stats.retries += u64::from(pending.commit()?);
    Ok(stats)
}

/// `import` up to its last step: every file is placed, but a stage is not yet renamed into
/// place. The caller commits, or drops the `Pending` to remove the stage (the binding lets the
/// final progress report decide).
pub fn import_pending(
    entries: Vec<Entry>,
    into: &Path,
    opts: &BatchOptions,
    ctl: &Control,
) -> Result<(Stats, Pending)> {
    let started = Instant::now();
    ctl.total
        .store(i32::try_from(entries.len()).unwrap_or(i32::MAX), Relaxed);
    let exists = fs::symlink_metadata(into).is_ok();
    if exists {
        // Before anything is written: an `into` that is or holds a source (the store, a `src`).
        super::sources::refuse_into_sources(&entries, into, opts.store.as_deref())?;
    }
    // Skip-if-linked into an existing directory looks before it writes anything (no stage).
    let look_first = opts.on_existing == OnExisting::SkipIfLinked && exists;
    let (target, entries, conflicts) = if look_first {
        let (entries, conflicts) = conflicts::settle(entries, opts.on_conflict, into, || {
            existing::folds_case(into)
        })?;
        if existing::in_place(&entries, into, &opts.keep) {
            ctl.done.fetch_add(ctl.total.load(Relaxed), Relaxed);
            let stats = Stats {
                kept: entries.iter().filter(|e| e.kind != Kind::Dir).count() as u64,
                conflicts,
                elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
                ..Stats::default()
            };
            return Ok((stats, Pending(None)));
        }
        (Target::open(into, opts)?, entries, conflicts)
    } else {
        let target = Target::open(into, opts)?;
        let (entries, conflicts) = conflicts::settle(entries, opts.on_conflict, into, || {
            existing::folds_case(&target.root)
        })
        .map_err(|e| target.unstaged(e))?;
        (target, entries, conflicts)
    };
    // Duplicates dropped: the total is what is left to place, so progress reaches it.
    ctl.total
        .store(i32::try_from(entries.len()).unwrap_or(i32::MAX), Relaxed);
    let mut stats = target
        .run(&entries, opts, ctl)
        .map_err(|e| target.unstaged(e))?;
    stats.conflicts = conflicts;
    stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((stats, Pending(Some(target))))
}

struct Work<'a> {
    root: &'a Path,
    /// The root kept open, when the fast path applies to this import.
    root_dir: Option<sys::DirHandle>,
    /// The store the sources are in, when known (`BatchOptions::store`).
    store: Option<&'a Store>,
    /// `BatchOptions::check_sources` and `trust_store`.
    check: bool,
    trust_store: bool,
    /// The umask, for copies and clones (`sys::with_umask`).
    umask: Option<u32>,
    /// A file of this import was hard-linked the careful way: the fast path may be taken.
    linked: AtomicBool,
    /// A file of this import was cloned (1) or copied (2) the careful way, with no fallback:
    /// the same method's fast path (`fast_place`) may be taken for store files.
    placed: AtomicU8,
    entries: &'a [Entry],
    opts: &'a Options,
    methods: Chain,
    /// The chain for mutable entries: no links.
    mutable_methods: Chain,
    /// The root was created by this import: every target is on the root's mount.
    fresh: bool,
    /// The root's mount (`sys::mount_key`), looked up once when the careful path first needs it.
    dest_mount: OnceLock<Option<u64>>,
    /// The root is a stage: files are created in place (`Materialize::staged`).
    staged: bool,
    ctl: &'a Control<'a>,
    next: AtomicUsize,
    stop: AtomicBool,
    error: Mutex<Option<Error>>,
    tally: Mutex<Tally>,
}

impl Work<'_> {
    fn worker(&self) {
        let mut tally = Tally::default();
        sys::with_umask(self.umask, || self.work(&mut tally));
        self.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(&tally);
    }

    fn work(&self, tally: &mut Tally) {
        loop {
            let start = self.next.fetch_add(CHUNK, Relaxed);
            if start >= self.entries.len() {
                return;
            }
            let end = (start + CHUNK).min(self.entries.len());
            let mut done = 0;
            for entry in &self.entries[start..end] {
                if self.stop.load(Relaxed) || self.ctl.abort.load(Relaxed) != 0 {
                    return;
                }
                if let Err(e) = self.one(entry, tally) {
                    self.stop.store(true, Relaxed);
                    let mut first = self.error.lock().unwrap_or_else(|e| e.into_inner());
                    first.get_or_insert(e.at_entry(&entry.rel));
                    return;
                }
                done += 1;
            }
            self.ctl.done.fetch_add(done, Relaxed);
        }
    }

    /// A `stat` and a hard link, nothing else. Taken when the import hard-links into a fresh
    /// root without `max_links`, the caller gave the source's size (not empty: empty files are
    /// created, not linked), nothing is known not to work between any mounts, and a first file
    /// of this import was linked the careful way (so hard links work here). The `stat` is there
    /// because `link` takes a FIFO or a device node as readily as a file: anything but a regular
    /// file (a symlink too: it is never followed) goes to the careful path, which refuses it
    /// (EINVAL). With `checked`, `check_source` made that `stat` already. (Checking the stage's
    /// directories after the import instead, one `getdents` each, saved under a tenth of the
    /// CPU with a dozen files per directory, was slower by the clock and leaves a FIFO in the
    /// stage for a while.) Any failure returns false and the file takes the careful path, which
    /// tries again and handles what went wrong (EMLINK, EXDEV, ...).
    ///
    /// A source in the import's store (`importPackages`) is linked from its open bucket
    /// directory (`Store::bucket_of`, opened with `O_NOFOLLOW`) with `linkat(.., 0)`, which
    /// never follows a symlink; its `stat` is `check_source`'s `fstatat` from the same bucket,
    /// or none with `trust_store` (README, "The store's trust model").
    fn fast_link(&self, src: &Path, rel: &Path, size: Option<u64>, checked: bool) -> bool {
        let Some(dir) = &self.root_dir else {
            return false;
        };
        if size.is_none_or(|n| n == 0) || !self.linked.load(Relaxed) || memo::any_unsupported() {
            return false;
        }
        if let Some((bucket, name)) = self.store.and_then(|s| s.bucket_of(src)) {
            return sys::link_at(bucket, name, dir, rel).is_ok();
        }
        (checked || fs::symlink_metadata(src).is_ok_and(|m| m.is_file()))
            && sys::link_into(src, dir, rel).is_ok()
    }

    /// The source as `importFiles` and `importPackages` take it (README, "The store's trust
    /// model"): a regular file (EISDIR for a directory, EINVAL for anything else: a symlink, a
    /// FIFO, a device), never followed through a symlink, of the entry's `size` when given
    /// (`ERR_CACHELINK_STORE_MISMATCH`). A store file is looked at with one `fstatat` from its
    /// bucket, opened with `O_NOFOLLOW` (a bucket that could not be opened is looked at to say
    /// why: a symlink or a file there is EINVAL); any other source with one `lstat`.
    fn check_source(
        &self,
        src: &Path,
        size: Option<u64>,
        rel: &Path,
        syscall: &'static str,
    ) -> Result<()> {
        let dest = || self.root.join(rel);
        let refuse = |code| Err(Error::new(code, syscall, src, Some(&dest())));
        let stat = match self.store.filter(|s| s.holds(src)) {
            Some(store) => match store.bucket_of(src) {
                Some((bucket, name)) => sys::stat_at(bucket, name),
                None => match src.parent().map(fs::symlink_metadata) {
                    Some(Ok(m)) if !m.is_dir() => return refuse("EINVAL"),
                    Some(Err(e)) => Err(e),
                    _ => fs::symlink_metadata(src).map(|m| sys::EntryStat::of(&m)),
                },
            },
            None => fs::symlink_metadata(src).map(|m| sys::EntryStat::of(&m)),
        };
        let stat = stat.map_err(|e| Error::io(&e, syscall, src, Some(&dest())))?;
        if stat.dir {
            return refuse("EISDIR");
        }
        if !stat.file {
            return refuse("EINVAL");
        }
        match size {
            Some(n) if n != stat.len => Err(Error {
                detail: Some(STORE_MISMATCH),
                ..Error::new("ERR_CACHELINK_STORE_MISMATCH", syscall, src, Some(&dest()))
            }),
            _ => Ok(()),
        }
    }

    /// A clone or a copy of a store file named from its open bucket and the open root
    /// (`sys::place_at`): taken when the import clones or copies into a fresh root from a store
    /// and a first file of it was placed the careful way by the same method with no fallback,
    /// the method this file's chain (`mutable` or not) tries first. `None` (nothing left
    /// behind) sends the file to the careful path.
    fn fast_place(&self, src: &Path, rel: &Path, mutable: bool) -> Option<(Method, fs::Metadata)> {
        let dir = self.root_dir.as_ref()?;
        let method = match self.placed.load(Relaxed) {
            1 => Method::Clone,
            2 => Method::Copy,
            _ => return None,
        };
        let first = if mutable {
            self.mutable_methods[0]
        } else {
            self.methods[0]
        };
        if first != method || memo::any_unsupported() {
            return None;
        }
        let (bucket, name) = self.store?.bucket_of(src)?;
        let meta = sys::place_at(bucket, name, dir, rel, method == Method::Clone)?;
        Some((method, meta))
    }

    fn one(&self, entry: &Entry, c: &mut Tally) -> Result<()> {
        // Checked here, before any path, unless the store is trusted and this is its file, in
        // a bucket opened without following a symlink (then the careful path checks it, below,
        // if it gets there).
        let mut checked = false;
        if let Kind::File {
            src,
            size,
            mutable,
            executable,
        } = &entry.kind
        {
            if self.check
                && !(self.trust_store && self.store.is_some_and(|s| s.bucket_of(src).is_some()))
            {
                let syscall = if *mutable {
                    self.mutable_methods[0].syscall()
                } else {
                    self.methods[0].syscall()
                };
                self.check_source(src, *size, &entry.rel, syscall)?;
                checked = true;
            }
            if !mutable && self.fast_link(src, &entry.rel, *size, checked) {
                c.files += 1;
                c.hardlinked += 1;
                return Ok(());
            }
            if let Some((method, meta)) = self.fast_place(src, &entry.rel, *mutable) {
                c.files += 1;
                if method == Method::Clone {
                    c.cloned += 1;
                } else {
                    c.copied += 1;
                    c.bytes_copied += meta.len();
                }
                if let Some(exec) = executable {
                    set_executable(&self.root.join(&entry.rel), &meta, *exec)?;
                }
                return Ok(());
            }
        }
        let target = self.root.join(&entry.rel);
        match &entry.kind {
            Kind::Dir => Ok(()),
            Kind::Symlink { target: to, dir } => {
                let made = if *dir {
                    sys::symlink_dir(to, &target)
                } else {
                    sys::symlink_file(to, &target)
                };
                made.map_err(|e| Error::io(&e, "symlink", to, Some(&target)))?;
                c.symlinked += 1;
                c.files += 1;
                Ok(())
            }
            Kind::File {
                src,
                executable,
                mutable,
                size,
            } => {
                let methods = if *mutable {
                    self.mutable_methods
                } else {
                    self.methods
                };
                if self.check && !checked {
                    self.check_source(src, *size, &entry.rel, methods[0].syscall())?;
                }
                let (src, meta) = source(src, &target, methods[0].syscall())?;
                let m = Materialize {
                    src: &src,
                    meta: &meta,
                    opts: self.opts,
                    methods,
                    // Into an existing directory, a subdirectory can be another mount.
                    dest_mount: if self.fresh {
                        *self
                            .dest_mount
                            .get_or_init(|| sys::mount_key(self.root).ok())
                    } else {
                        None
                    },
                    staged: self.staged,
                };
                let outcome = m.place(&target)?;
                if outcome.fallbacks.is_empty() && outcome.link_limit.is_none() {
                    match outcome.method {
                        Some(Method::Hardlink) => self.linked.store(true, Relaxed),
                        Some(Method::Clone) if meta.len() > 0 && methods[0] == Method::Clone => {
                            self.placed.store(1, Relaxed)
                        }
                        Some(Method::Copy) if meta.len() > 0 && methods[0] == Method::Copy => {
                            self.placed.store(2, Relaxed)
                        }
                        _ => {}
                    }
                }
                for &(method, code) in &outcome.fallbacks {
                    c.fallback(method, code, 1);
                }
                c.link_refused_copies += u64::from(outcome.link_refused.is_some());
                c.max_links_unchecked += u64::from(outcome.link_counts_hidden);
                c.retries += u64::from(outcome.retries);
                match &outcome.link_limit {
                    Some(LinkLimit::Reset) => c.resets += 1,
                    Some(LinkLimit::Copied) => c.link_limit_copies += 1,
                    Some(LinkLimit::CacheReadOnly(_)) if outcome.method == Some(Method::Copy) => {
                        c.readonly_cache_copies += 1
                    }
                    _ => {}
                }
                match outcome.method {
                    Some(Method::Copy) if meta.len() == 0 => c.empty_created += 1,
                    Some(Method::Hardlink) => c.hardlinked += 1,
                    Some(Method::Clone) => c.cloned += 1,
                    Some(Method::Copy) => {
                        c.bytes_copied += meta.len();
                        c.copied += 1;
                    }
                    Some(Method::Symlink) => c.symlinked += 1,
                    None => {
                        c.kept += 1;
                        return Ok(());
                    }
                }
                c.files += 1;
                if let (Some(exec), Some(Method::Copy | Method::Clone)) =
                    (executable, outcome.method)
                {
                    set_executable(&target, &meta, *exec)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(unix)]
fn set_executable(path: &Path, meta: &fs::Metadata, exec: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = if exec {
        mode | ((mode & 0o444) >> 2)
    } else {
        mode & !0o111
    };
    if wanted != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(wanted))
            .map_err(|e| Error::io(&e, "chmod", path, None))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_path: &Path, _meta: &fs::Metadata, _exec: bool) -> Result<()> {
    Ok(())
}
