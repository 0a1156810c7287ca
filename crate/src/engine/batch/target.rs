//! Where a batch import writes, and how it is put in place: a fresh stage beside `into` renamed
//! there when complete, a stage traded for an existing `into` (`OnExisting::Replace`), a fresh
//! `into`, or an existing one merged into. What an import created is removed again unless it
//! completes.

use super::FILES_PER_THREAD;
use super::{
    existing, most_used, BatchOptions, Control, Entry, Kind, OnExisting, Stats, Tally, Work,
};
use crate::engine::error::{Error, Result};
use crate::engine::link::IfExists;
use crate::engine::method::{chain, Method};
use crate::engine::retry::{retrying, Op};
use crate::engine::{pool, temp};
use crate::errno;
use crate::sys;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

/// A complete import not yet in place: `commit` renames its stage (if it has one) to the
/// destination, or trades it for the destination (`OnExisting::Replace`); dropped instead, the
/// stage is removed. Without a stage there is nothing left to do or undo.
pub struct Pending(pub(super) Option<Target>);

impl Pending {
    /// A stage filled by other means (a whole-tree clone), for `into`.
    pub(crate) fn stage(stage: PathBuf, into: &Path) -> Pending {
        Pending(Some(Target {
            into: into.into(),
            root: stage.clone(),
            stage: Some(StageGuard(Some(stage))),
            fresh: true,
            parents: MadeDirs::default(),
            swap: None,
        }))
    }

    /// Directories made above several imports' destinations (an install's): removed, deepest
    /// first and each only if empty, when dropped; kept when committed.
    pub(crate) fn dirs(mut dirs: Vec<PathBuf>) -> Pending {
        dirs.sort_by_key(|d| d.as_os_str().len());
        Pending(Some(Target {
            into: PathBuf::new(),
            root: PathBuf::new(),
            stage: None,
            fresh: false,
            parents: MadeDirs(dirs),
            swap: None,
        }))
    }

    /// Where the import's files are until `commit`: its stage, or `into` itself; `None` when
    /// nothing was written (found in place).
    pub fn root(&self) -> Option<&Path> {
        self.0.as_ref().map(|t| t.root.as_path())
    }

    /// Puts the import in place; returns the retries that took (`retry`).
    pub fn commit(self) -> Result<u32> {
        match self.0 {
            Some(target) => target.commit(),
            None => Ok(0),
        }
    }
}

/// Where the import writes: a fresh stage beside `into`, a fresh `into`, or an existing one.
pub(super) struct Target {
    into: PathBuf,
    pub(super) root: PathBuf,
    /// Removes the stage unless the import completed (`commit`).
    stage: Option<StageGuard>,
    /// `root` was created by this import: nothing in it can be a symlink planted by someone else.
    fresh: bool,
    /// The parents of `into` this import created, removed again unless it completes. After
    /// `stage`, so the stage goes first when both are dropped.
    parents: MadeDirs,
    /// The stage replaces an existing `into` (`OnExisting::Replace`), carrying these over.
    swap: Option<Vec<PathBuf>>,
}

impl Target {
    pub(super) fn open(into: &Path, opts: &BatchOptions) -> Result<Target> {
        let fail = |e: io::Error, path: &Path| Error::io(&e, "mkdir", path, None);
        let exists = match fs::symlink_metadata(into) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(fail(e, into)),
        };
        let staged = |parents: MadeDirs, swap: Option<Vec<PathBuf>>| -> Result<Target> {
            let stage = temp::stage_beside(into);
            fs::create_dir(&stage).map_err(|e| fail(e, &stage))?;
            Ok(Target {
                into: into.into(),
                root: stage.clone(),
                stage: Some(StageGuard(Some(stage))),
                fresh: true,
                parents,
                swap,
            })
        };
        if exists {
            return match opts.on_existing {
                OnExisting::Error => Err(Error::new("EEXIST", "mkdir", into, None)),
                OnExisting::Replace | OnExisting::SkipIfLinked => {
                    existing::check_keep(into, &opts.keep)?;
                    staged(MadeDirs::default(), Some(opts.keep.clone()))
                }
                OnExisting::Merge => Ok(Target {
                    into: into.into(),
                    root: into.into(),
                    stage: None,
                    fresh: false,
                    parents: MadeDirs::default(),
                    swap: None,
                }),
            };
        }
        let mut parents = make_parents(into)?;
        if let Some(install) = &opts.made_dirs {
            install
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .append(&mut parents.0);
        }
        if !opts.atomic {
            fs::create_dir(into).map_err(|e| fail(e, into))?;
            return Ok(Target {
                into: into.into(),
                root: into.into(),
                stage: None,
                fresh: true,
                parents,
                swap: None,
            });
        }
        staged(parents, None)
    }

    pub(super) fn run(
        &self,
        entries: &[Entry],
        opts: &BatchOptions,
        ctl: &Control,
    ) -> Result<Stats> {
        // A fresh root is kept open: its directories are made from it (`make_dirs`), and the
        // fast paths name files from it.
        let root_dir = if self.fresh {
            sys::open_dir(&self.root).ok()
        } else {
            None
        };
        let dirs = self.make_dirs(entries, root_dir.as_ref())?;
        let mut link = opts.link;
        if self.fresh {
            // Nothing can exist in a fresh root: a duplicate entry is an error, not a replace.
            link.if_exists = IfExists::Error;
        }
        let methods = chain(link.method, link.fallback, errno::CURRENT);
        // The fast path: plain hard links named from the open root, no stat (`fast_link`).
        let fast = methods[0] == Method::Hardlink && link.max_links.is_none() && self.fresh;
        let work = Work {
            root: &self.root,
            root_dir: root_dir.filter(|_| fast || opts.store.is_some()),
            store: opts.store.as_deref(),
            check: opts.check_sources,
            trust_store: opts.trust_store,
            umask: match methods[0] {
                Method::Hardlink => None,
                _ => opts.umask.or_else(sys::read_umask),
            },
            linked: AtomicBool::new(false),
            placed: AtomicU8::new(0),
            entries,
            opts: &link,
            methods,
            mutable_methods: methods.without_links(),
            fresh: self.fresh,
            dest_mount: OnceLock::new(),
            staged: self.stage.is_some(),
            ctl,
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            tally: Mutex::new(Tally::default()),
        };
        let files = entries.iter().filter(|e| e.kind != Kind::Dir).count();
        let wanted = if opts.threads == 0 {
            pool::size()
        } else {
            opts.threads
        };
        let threads = wanted.min(files.div_ceil(FILES_PER_THREAD)).max(1);
        pool::run_parallel(threads, &|| work.worker());
        if let Some(err) = work.error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(err);
        }
        if ctl.abort.load(Relaxed) != 0 {
            return Err(Error::own(
                "ABORT_ERR",
                "the import was aborted",
                &self.into,
                None,
            ));
        }
        let mut c = work.tally.into_inner().unwrap_or_else(|e| e.into_inner());
        c.fallbacks.sort_by_key(|(m, code, _)| (m.index(), *code));
        let method = most_used(c.hardlinked, c.cloned, c.copied, c.symlinked);
        Ok(Stats {
            files: c.files,
            dirs,
            cloned: c.cloned,
            hardlinked: c.hardlinked,
            copied: c.copied,
            symlinked: c.symlinked,
            resets: c.resets,
            bytes_copied: c.bytes_copied,
            elapsed_ms: 0.0,
            method,
            kept: c.kept,
            empty_created: c.empty_created,
            link_limit_copies: c.link_limit_copies,
            readonly_cache_copies: c.readonly_cache_copies,
            link_refused_copies: c.link_refused_copies,
            max_links_unchecked: c.max_links_unchecked,
            conflicts: 0,
            fallbacks: c.fallbacks,
            retries: c.retries,
        })
    }

    /// Creates every directory once, parents first; returns how many were created.
    fn make_dirs(&self, entries: &[Entry], root_dir: Option<&sys::DirHandle>) -> Result<u64> {
        let dirs = needed_dirs(entries);
        if !self.fresh {
            // Before anything is written: a directory already under `into` that is a symlink
            // (or anything but a directory) would take the import elsewhere.
            for &dir in &dirs {
                let path = self.root.join(dir);
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        let why =
                            "a directory of this path under the destination is a symlink or a file";
                        return Err(
                            Error::own("ERR_CACHELINK_UNSAFE_PATH", why, &path, None).at_entry(dir)
                        );
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&e, "stat", &path, None)),
                }
            }
        }
        let mut made = 0;
        for dir in dirs {
            let path = self.root.join(dir);
            // Named from the open root (a fresh one): each `mkdir` walks its own names only.
            let created = match root_dir {
                Some(root) => sys::mkdir_at(root, dir),
                None => fs::create_dir(&path),
            };
            match created {
                Ok(()) => made += 1,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !self.fresh => {}
                Err(e) => return Err(Error::io(&e, "mkdir", &path, None).at_entry(dir)),
            }
        }
        Ok(made)
    }

    /// The error with paths in the stage shown where they were going.
    ///
    /// Not for ENAMETOOLONG: a destination can be legal while its stage's longer name goes over
    /// PATH_MAX (or NAME_MAX), and that error must name the path that was too long.
    pub(super) fn unstaged(&self, mut e: Error) -> Error {
        if self.stage.is_some() && !e.is("ENAMETOOLONG") {
            let fix = |p: &mut PathBuf| {
                if let Ok(rest) = p.strip_prefix(&self.root) {
                    *p = self.into.join(rest);
                }
            };
            fix(&mut e.path);
            if let Some(dest) = e.dest.as_mut() {
                fix(dest);
            }
        }
        e
    }

    /// Puts a stage in place, never over anything: when another import (or anyone) put
    /// something at `into` since `open`, this one fails with EEXIST naming `into`, and its stage
    /// is removed.
    fn commit(mut self) -> Result<u32> {
        let mut retries = 0;
        if let Some(keep) = self.swap.take() {
            // The stage and `into` trade places; then the old tree is removed from the stage's
            // name (or, by the guard, the new one when the swap failed). A removal that still
            // fails after its retries is left to the guard, which ignores it (`cleanTemp`
            // recognizes a stage).
            let _guard = self.stage.take();
            existing::swap_in(&self.root, &self.into, &keep, &mut retries)?;
            let _ = retrying(Op::Unlink, &[], &mut retries, || {
                fs::remove_dir_all(&self.root).map_err(|e| Error::io(&e, "rmdir", &self.root, None))
            });
            return Ok(retries);
        }
        if let Some(mut guard) = self.stage.take() {
            retrying(Op::Rename, &[&self.root, &self.into], &mut retries, || {
                sys::rename_noreplace_or_check(&self.root, &self.into).map_err(|e| {
                    if fs::symlink_metadata(&self.into).is_ok() {
                        Error::new("EEXIST", "rename", &self.into, None)
                    } else {
                        Error::io(&e, "rename", &self.root, Some(&self.into))
                    }
                })
            })?;
            guard.0 = None;
        }
        self.parents.0.clear();
        Ok(retries)
    }
}

/// Every directory the entries need, each once, parents before children. Entries usually come
/// grouped by directory, so most are settled by comparing with the previous one.
fn needed_dirs(entries: &[Entry]) -> Vec<&Path> {
    let mut seen: HashSet<&std::ffi::OsStr> = HashSet::new();
    let mut dirs = Vec::new();
    let mut previous: Option<&Path> = None;
    for e in entries {
        let mut dir = if e.kind == Kind::Dir {
            Some(e.rel.as_path())
        } else {
            e.rel.parent()
        };
        if e.kind != Kind::Dir {
            if dir == previous {
                continue;
            }
            previous = dir;
        }
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if !seen.insert(d.as_os_str()) {
                break;
            }
            dirs.push(d);
            dir = d.parent();
        }
    }
    // A parent's bytes are a prefix of its children's, so byte order puts it first.
    dirs.sort_unstable_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    dirs
}

/// Creates the missing parents of `into`, shallowest first, and returns those this call
/// created (one made by someone else meanwhile is not ours).
fn make_parents(into: &Path) -> Result<MadeDirs> {
    let mut made = MadeDirs::default();
    let Some(parent) = into.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(made);
    };
    // The parent first (in an install, its own parent usually exists): a `mkdir` that fails
    // with ENOENT says a parent is missing, one that fails with EEXIST that it is there.
    let mut missing = Vec::new();
    let mut dir = Some(parent);
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        match fs::create_dir(d) {
            Ok(()) => {
                made.0.push(d.to_path_buf());
                break;
            }
            // Something is there (not a directory: the stage's `mkdir` below says so).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(d.to_path_buf()),
            Err(e) => return Err(Error::io(&e, "mkdir", d, None)),
        }
        dir = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(&d) {
            Ok(()) => made.0.push(d),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(Error::io(&e, "mkdir", &d, None)),
        }
    }
    Ok(made)
}

/// Directories an import created above `into`: removed when dropped, deepest first, each only
/// if it is empty (`remove_dir`), so nothing another process put there meanwhile is touched.
#[derive(Default)]
struct MadeDirs(Vec<PathBuf>);

impl Drop for MadeDirs {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            if fs::remove_dir(d).is_err() {
                break;
            }
        }
    }
}

struct StageGuard(Option<PathBuf>);

impl Drop for StageGuard {
    fn drop(&mut self) {
        if let Some(stage) = self.0.take() {
            let _ = fs::remove_dir_all(stage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str) -> Entry {
        Entry {
            rel: PathBuf::from(rel),
            kind: Kind::File {
                src: PathBuf::from("/s"),
                executable: None,
                size: None,
                mutable: false,
            },
        }
    }

    #[test]
    fn dirs_once_each_parents_first() {
        let entries = [
            file("a/b/c/x"),
            file("a/b/c/y"),
            file("top"),
            file("a-c/z"),
            file("a/b/w"),
            Entry {
                rel: PathBuf::from("empty/dir"),
                kind: Kind::Dir,
            },
        ];
        let dirs: Vec<_> = needed_dirs(&entries)
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(dirs, ["a", "a-c", "a/b", "a/b/c", "empty", "empty/dir"]);
    }
}
