//! Resetting a cache entry that has hit the link limit: uv's algorithm (PR 17699), improved.
//!
//! 1. Create a temp file beside the entry (O_EXCL, the entry's mode): `temp::path_beside`.
//! 2. Fill it with the entry's bytes: a clone where the filesystem can, else a copy.
//! 3. Give it the entry's mtime (stores such as pnpm's check integrity by mtime), as root its
//!    owner, then exactly its mode (the umask filtered it; setuid and setgid too, which `fchown`
//!    clears); fsync it.
//! 4. Hard-link it to the destination *before* the rename, so no other process can exhaust the
//!    fresh inode first.
//! 5. Rename it over the entry. The cache path never disappears (rename is atomic), and links
//!    made before keep the old inode.
//!
//! A proactive reset (`resetEntry`, with no destination) can also hold the fresh inode: a second
//! link beside the entry, made before step 5, so the entry never shows one link (`hold_link`).
//!
//! `link_file` takes the entry's lock first (`engine::lock`), so racing processes reset an entry
//! once per limit crossing. Where no lock can be had (Windows, NFS), each makes its own fresh
//! inode; the last rename wins and the others' only cost was redundant work.

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
    /// The entry is a fresh inode now, and `link_to`, if given, is linked to it.
    Done,
    /// The final rename was refused after `link_to` was linked (EACCES, EPERM, EROFS, or EBUSY:
    /// the entry cannot be replaced, in this error): the destination is complete, with an inode
    /// of its own, and the entry is unchanged. Other rename errors are errors.
    Unreplaced(Error),
    /// The entry's directory is not writable (EACCES, EPERM or EROFS, in this error): nothing
    /// was changed.
    CacheReadOnly(Error),
}

/// Resets the regular file `entry`, whose metadata is `meta`, linking the fresh inode to
/// `link_to` first when given (a path that must not exist). With `hold`, the fresh inode also
/// gets a hold before the rename (`hold`), so the entry never shows one link.
pub fn reset(entry: &Path, meta: &Metadata, link_to: Option<&Path>, hold: bool) -> Result<Reset> {
    let temp_path = temp::path_beside(entry);
    let guard = temp::Guard::new(temp_path);
    let tmp = guard.path();
    let file = match fill(entry, tmp, meta) {
        Ok(file) => file,
        Err((e, syscall)) => {
            // The caller's paths: the temp is gone with the guard and means nothing to them.
            let err = Error::io(&e, syscall, entry, link_to);
            if syscall == "open" && ["EACCES", "EPERM", "EROFS"].contains(&err.code) {
                return Ok(Reset::CacheReadOnly(err));
            }
            return Err(err);
        }
    };
    finish(&file, meta).map_err(|e| Error::io(&e, "fsync", entry, link_to))?;
    drop(file);
    if let Some(dest) = link_to {
        fs::hard_link(tmp, dest).map_err(|e| Error::io(&e, "link", entry, Some(dest)))?;
    }
    // Removed with its guard unless the rename is done.
    let held = if hold { hold_link(tmp, entry) } else { None };
    match sys::rename_over(tmp, entry) {
        Ok(()) => {
            guard.keep();
            if let Some(held) = held {
                held.keep();
            }
            Ok(Reset::Done)
        }
        Err(e) => {
            let err = Error::io(&e, "rename", entry, link_to);
            crate::engine::debug(|| format!("reset of {entry:?} could not rename: {e}"));
            match link_to {
                Some(_) if ["EACCES", "EPERM", "EROFS", "EBUSY"].contains(&err.code) => {
                    Ok(Reset::Unreplaced(err))
                }
                Some(dest) => {
                    // A real error (EIO, ...): the call fails, so it leaves no destination.
                    let _ = fs::remove_file(dest);
                    Err(err)
                }
                None => Err(err),
            }
        }
    }
}

/// The hold of a proactive reset (`resetEntry`): a second link to the fresh inode `tmp`, beside
/// `entry` (`temp::held_beside`). A fresh inode has one link, and pnpm's `store prune` deletes
/// every store file with one link: the projects that use the entry keep the old inode, so a
/// prune before the next install that links the entry would delete it. `scan::clean` drops the
/// hold once the entry has a link besides it (or it is `HOLD_MS` old). `None` where it cannot be
/// made (a name too long to carry, a filesystem that refuses the link): the reset goes on
/// without it.
fn hold_link(tmp: &Path, entry: &Path) -> Option<temp::Guard> {
    let held = temp::held_beside(entry)?;
    match fs::hard_link(tmp, &held) {
        Ok(()) => Some(temp::Guard::new(held)),
        Err(e) => {
            crate::engine::debug(|| format!("reset of {entry:?} could not hold it: {e}"));
            None
        }
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
                if classify(Method::Clone, errno::CURRENT, &err, true) == Class::Unsupported {
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

/// The entry's times, owner and mode (owner first: `fchown` clears setuid and setgid, so the
/// mode comes after it: `sys::copy_owner`), then fsync: the fresh inode must be whole on disk
/// before it replaces the entry.
fn finish(file: &File, meta: &Metadata) -> io::Result<()> {
    let times = FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    file.set_times(times)?;
    sys::copy_owner(file, meta)?;
    file.sync_all()
}
