//! The few platform calls std lacks, behind one `cfg` dispatch (`libc` on Unix, `windows-sys` on
//! Windows). Every module exports the same functions; the decisions about them (fallback, reset,
//! error classes) live in `engine`.
//!
//! - `clone_file(src, dest, meta)`: create `dest`, which must not exist, as a copy-on-write clone
//!   of `src` with `src`'s permissions, and return it open (times can be set and it can be
//!   fsynced through it). On failure nothing is left at `dest`.
//! - `copy_file(src, dest, meta)`: the same as a full copy, by the OS's own copy where it has one
//!   (`copy_file_range` on Linux, `fcopyfile` on macOS, `CopyFileExW` on Windows).
//!   On Unix both give the new file `src`'s permission bits exactly, whatever the umask (as
//!   `fs.copyFile` does), and its setuid / setgid bits only where the new file has the same
//!   owner / group (root's copy of another user's setuid program is not setuid-root).
//! - `copy_unnamed(src, dest, meta)`: a full copy made as a file without a name and linked at
//!   `dest` (which must not exist) only once complete (Linux `O_TMPFILE` + `linkat`): a killed
//!   process leaves nothing. `None` where the OS or the volume has no such files.
//! - `rename_noreplace(from, to)`: rename, failing with EEXIST when `to` exists (Linux
//!   `renameat2(RENAME_NOREPLACE)`, macOS `renamex_np(RENAME_EXCL)`, Windows `MoveFileExW`
//!   without `MOVEFILE_REPLACE_EXISTING`); an unsupported-class error where the volume cannot.
//! - `rename_exchange(a, b)`: `a` and `b` trade places in one step (Linux
//!   `renameat2(RENAME_EXCHANGE)`, macOS `renamex_np(RENAME_SWAP)`); an unsupported-class error
//!   where the volume or the OS cannot (Windows).
//! - `clone_dir(src, dest)`: a whole directory in one call (macOS `clonefile`); ENOTSUP
//!   elsewhere.
//! - `file_id(path, meta)`: volume, file id and link count of the file `meta` was read from; a
//!   symlink is the link itself when `meta` came from `symlink_metadata`.
//! - `dir_device(dir)`: the device (volume) of a directory, symlinks followed.
//! - `mount_key(path)`: the mount holding `path`, for the fallback memo (Linux: the mount id,
//!   which tells a bind mount from its filesystem; elsewhere the device).
//! - `copy_owner(file, meta)`: give `file` the owner of `meta` when running as root, then (Unix)
//!   `meta`'s mode bits, set-id bits included (a `chown` clears them, so the owner comes first).
//! - `may_link(path, meta)`: whether Linux's `protected_hardlinks` lets the process link the file
//!   (it owns it, is root, or may read and write it; always true on Windows), which tells a hard
//!   link refused for one file from a filesystem without hard links.
//! - `rename_over(from, to)`: rename, replacing `to` even when it is read-only.
//! - `symlink_file(target, link)`, `symlink_dir(target, link)`: a symbolic link to a file, or
//!   to a directory.
//! - `open_dir(path)`, `link_into(src, dir, rel)`: a directory kept open, and a hard link into
//!   it by a name relative to it (`linkat`; a joined path on Windows); `link_at(src_dir, name,
//!   dir, rel)` the same with the source named from an open directory too; `mkdir_at(dir, rel)`
//!   a directory named from an open one; `place_at(src_dir, name, dir, rel, clone)` a clone or
//!   a copy named from open directories (Unix; `None` elsewhere).
//! - `mount_of(path, device)`: the filesystem type and mount source of the volume holding `path`.
//! - `pathconf_link_max(path)`: the link limit, where the OS answers for the volume itself.
//! - `process_alive(pid)`: whether a process with that id runs on this machine.
//! - `host_facts()`: what tells this machine (and its process ids) from others (`host.rs`).
//! - `rename_noreplace_or_check(from, to)`: `rename_noreplace`, or where the volume cannot, a
//!   check that `to` is absent and a rename (`noreplace.rs`).
//! - `dir_writable(dir)`: whether this process may make files in `dir`, asked without writing
//!   (`faccessat(W_OK)` on Unix; the directory opened for adding a file on Windows).
//! - `lock_exclusive(file)`: wait for an exclusive lock on an open file, held until it is closed
//!   (`flock`; Unsupported on Windows).

use std::io;

/// Identity and link count of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    /// The inode number on Unix; on Windows the 128-bit file id (ReFS needs all of it), or the
    /// 64-bit file index where the volume has no 128-bit ids.
    pub ino: u128,
    pub nlink: u64,
}

impl FileId {
    /// Same file (same device and inode), whatever the link count.
    pub fn same_file(&self, other: &FileId) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// The filesystem a path is on, as the OS names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub fs_type: String,
    pub source: Option<String>,
}

/// A failed `copy_file`, and whether `dest` had been created when it failed (reading or writing
/// the bytes failed) or not (the source could not be opened, or `dest` could not be created).
/// Nothing is left at `dest` either way.
#[derive(Debug)]
pub struct CopyError {
    pub error: io::Error,
    pub created: bool,
}

/// The error of a copy whose source changed size while it was copied (`whole`): not an I/O
/// error of the disk, and `engine::Error::io` gives it a code of its own.
#[derive(Debug)]
pub struct SourceChanged;

/// What `stat_at` saw, a symlink not followed: the type (a regular file, a directory, or
/// anything else: a symlink, a FIFO, a device, a socket) and the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryStat {
    pub file: bool,
    pub dir: bool,
    pub len: u64,
}

impl EntryStat {
    /// From std's `symlink_metadata`.
    pub fn of(meta: &std::fs::Metadata) -> EntryStat {
        let kind = meta.file_type();
        EntryStat {
            file: kind.is_file(),
            dir: kind.is_dir(),
            len: meta.len(),
        }
    }
}

impl std::fmt::Display for SourceChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the source changed size while it was copied")
    }
}

impl std::error::Error for SourceChanged {}

/// A copy of `copied` bytes from a source that had `expected`: anything else means the source
/// changed while it was copied.
fn whole(copied: u64, expected: u64) -> io::Result<()> {
    if copied != expected {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, SourceChanged));
    }
    Ok(())
}

mod host;
mod noreplace;
pub use host::host_facts;
pub use noreplace::rename_noreplace_or_check;

#[cfg(unix)]
mod unix;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos as os;

// FreeBSD, Android and any other Unix: no clone, no rename flags, only calls std and the C
// library make. Android has Linux's kernel, but its apps run under a seccomp filter that kills
// the process (SIGSYS) on a system call bionic does not expose instead of failing with ENOSYS
// (statx on Android 9: libuv/libuv#2282; renameat2 is in bionic only from Android 11), so
// `linux.rs`'s calls by number, whose fallbacks wait for an error, cannot be made there.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
mod unsupported;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
use unsupported as os;

#[cfg(unix)]
pub use os::{
    clone_dir, clone_file, copy_unnamed, mount_key, mount_of, pathconf_link_max, rename_exchange,
    rename_noreplace,
};
#[cfg(unix)]
pub use unix::{
    copy_file, copy_owner, dir_device, file_id, link_at, link_into, lock_exclusive, may_link,
    mkdir_at, open_dir, open_dir_nofollow, place_at, process_alive, read_umask, rename_over,
    stat_at, symlink_dir, symlink_file, with_umask, DirHandle,
};

#[cfg(unix)]
pub use unix::dir_writable;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::dir_writable;
#[cfg(windows)]
pub use windows::{
    clone_dir, clone_file, copy_file, copy_owner, copy_unnamed, dir_device, file_id, link_at,
    link_into, lock_exclusive, may_link, mkdir_at, mount_key, mount_of, open_dir,
    open_dir_nofollow, pathconf_link_max, place_at, process_alive, read_umask, rename_exchange,
    rename_noreplace, rename_over, stat_at, symlink_dir, symlink_file, with_umask, DirHandle,
};
