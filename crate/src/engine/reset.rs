//! Resetting a cache entry that has hit the link limit: uv's algorithm (PR 17699), improved.
//!
//! 1. Create a temp file beside the entry (O_EXCL, the entry's mode): `temp::path_beside`.
//! 2. Fill it with the entry's bytes: a clone where the filesystem can, else a copy.
//! 3. Give it the entry's mtime (stores such as pnpm's check integrity by mtime) and, as root,
//!    its owner; fsync it.
//! 4. Hard-link it to the destination *before* the rename, so no other process can exhaust the
//!    fresh inode first.
//! 5. Rename it over the entry. The cache path never disappears (rename is atomic), and links
//!    made before keep the old inode.
//!
//! Racing processes each make their own fresh inode; the last rename wins and the others' only
//! cost was redundant work.

use super::error::{Error, Result};
use super::memo::{self, State};
use super::method::{classify, Class, Method};
use super::temp;
use crate::errno;
use crate::sys;
use std::fs::{self, File, FileTimes, Metadata};
use std::io;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reset {
    /// The entry is a fresh inode now (`renamed`), and `link_to`, if given, is linked to it.
    /// `renamed` is false only when the final rename failed after the destination was linked:
    /// the destination is complete, the entry unchanged.
    Done { renamed: bool },
    /// The entry's directory is not writable (EACCES, EPERM or EROFS, in this error): nothing
    /// was changed.
    CacheReadOnly(Error),
}

/// Resets the regular file `entry`, whose metadata is `meta`, linking the fresh inode to
/// `link_to` first when given (a path that must not exist).
pub fn reset(entry: &Path, meta: &Metadata, link_to: Option<&Path>) -> Result<Reset> {
    let temp_path = temp::path_beside(entry);
    let guard = temp::Guard::new(temp_path);
    let tmp = guard.path();
    let file = match fill(entry, tmp, meta) {
        Ok(file) => file,
        Err((e, syscall)) => {
            let err = Error::io(&e, syscall, entry, Some(tmp));
            if syscall == "open" && ["EACCES", "EPERM", "EROFS"].contains(&err.code) {
                return Ok(Reset::CacheReadOnly(err));
            }
            return Err(err);
        }
    };
    finish(&file, meta).map_err(|e| Error::io(&e, "fsync", tmp, None))?;
    drop(file);
    if let Some(dest) = link_to {
        fs::hard_link(tmp, dest).map_err(|e| Error::io(&e, "link", entry, Some(dest)))?;
    }
    match sys::rename_over(tmp, entry) {
        Ok(()) => {
            guard.keep();
            Ok(Reset::Done { renamed: true })
        }
        Err(e) if link_to.is_some() => {
            crate::engine::debug(|| format!("reset of {entry:?} could not rename: {e}"));
            Ok(Reset::Done { renamed: false })
        }
        Err(e) => Err(Error::io(&e, "rename", tmp, Some(entry))),
    }
}

/// Creates `tmp` with the bytes of `entry`: a clone when the filesystem allows (remembered per
/// device, like the link fallback), otherwise a copy. Returns the open file, or the failure with
/// the syscall that failed ("open" when `tmp` could not be created at all).
fn fill(
    entry: &Path,
    tmp: &Path,
    meta: &Metadata,
) -> std::result::Result<File, (io::Error, &'static str)> {
    let dev = sys::file_id(entry, meta)
        .map(|id| id.dev)
        .unwrap_or(u64::MAX);
    if memo::get((dev, dev), Method::Clone) != State::Unsupported {
        match sys::clone_file(entry, tmp, meta) {
            Ok(file) => {
                memo::set((dev, dev), Method::Clone, State::Works);
                return Ok(file);
            }
            Err(e) => {
                let err = Error::io(&e, "clone", entry, Some(tmp));
                if classify(Method::Clone, errno::CURRENT, &err) == Class::Unsupported {
                    memo::set((dev, dev), Method::Clone, State::Unsupported);
                }
            }
        }
    }
    sys::copy_file(entry, tmp, meta).map_err(|e| {
        let syscall = if e.created { "copyfile" } else { "open" };
        (e.error, syscall)
    })
}

/// The entry's times and owner, then fsync: the fresh inode must be whole on disk before it
/// replaces the entry.
fn finish(file: &File, meta: &Metadata) -> io::Result<()> {
    let times = FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    file.set_times(times)?;
    sys::copy_owner(file, meta)?;
    file.sync_all()
}
