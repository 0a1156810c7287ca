//! One reset per entry at a time, across processes: an exclusive lock on a descriptor of the
//! entry (`sys::lock_exclusive`, `flock` on Unix), taken by a call that found the entry full.
//! Whoever holds it looks at the entry again: when the path still names the locked inode, it is
//! still full and this call resets it; when it names another inode, a process that held the
//! lock before has reset it, and the call links the fresh inode instead of copying again.
//!
//! The lock is on the inode, so it ends with the reset (the path then names another inode) and
//! with the process. Where it cannot be taken (Windows; NFS, which refuses an exclusive `flock`
//! on a read-only descriptor; an entry this process cannot read) calls reset unserialized, as
//! before: redundant work, never a wrong result.

use crate::sys::{self, FileId};
use std::fs::{self, File};
use std::path::Path;

/// A lock held on the inode a cache entry's path named when it was taken.
pub struct EntryLock {
    _file: File,
}

pub enum Locked {
    /// The path names the locked inode (read under the lock: its link count is current).
    Held(EntryLock, FileId),
    /// The path named another inode once the lock was ours: someone reset the entry meanwhile.
    Moved(FileId),
    /// The entry's path named nothing for a moment (a reset elsewhere renaming over it, as
    /// some FUSE filesystems show it): look again rather than go on without the lock.
    Gone,
    /// No lock here (see the module); nothing was waited for.
    Unavailable,
}

/// Waits for the lock on the inode `entry` names, then looks at the path again.
pub fn lock(entry: &Path) -> Locked {
    // Read-only: a descriptor open for writing would make exec of the entry's links fail with
    // ETXTBSY while it is held.
    let file = match File::open(entry) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Locked::Gone,
        Err(_) => return Locked::Unavailable,
    };
    if sys::lock_exclusive(&file).is_err() {
        return Locked::Unavailable;
    }
    let locked = file
        .metadata()
        .ok()
        .and_then(|m| sys::file_id(entry, &m).ok());
    let now_meta = match fs::metadata(entry) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Locked::Gone,
        Err(_) => return Locked::Unavailable,
    };
    let Ok(now) = sys::file_id(entry, &now_meta) else {
        return Locked::Unavailable;
    };
    match locked {
        Some(id) if id.same_file(&now) => Locked::Held(EntryLock { _file: file }, now),
        Some(_) => Locked::Moved(now),
        None => Locked::Unavailable,
    }
}
