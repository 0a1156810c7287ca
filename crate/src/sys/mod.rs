//! The few platform calls std lacks, behind one `cfg` dispatch. Every module exports the same
//! functions; the decisions about them (fallback, reset, error classes) live in `engine`.
//!
//! - `clone_file(src, dest, meta)`: create `dest`, which must not exist, as a copy-on-write clone
//!   of `src` with `src`'s permissions, and return it open (times can be set and it can be
//!   fsynced through it). On failure nothing is left at `dest`.
//! - `clone_dir(src, dest)`: a whole directory in one call (macOS `clonefile`); ENOTSUP
//!   elsewhere.
//! - `copy_data(input, output, len)`: the bytes, in the kernel where it can (`copy_file_range`).
//! - `create_new(path, meta)`: create `path` exclusively (O_EXCL) with `meta`'s permission bits.
//! - `file_id(path, meta)`: device, inode and link count of the file `meta` was read from.
//! - `dir_device(dir)`: the device (volume) of a directory.
//! - `copy_owner(file, meta)`: give `file` the owner of `meta` when running as root.
//! - `symlink_file(target, link)`, `symlink_dir(target, link)`: a symbolic link to a file, or
//!   to a directory.
//! - `open_dir(path)`, `link_into(src, dir, rel)`: a directory kept open, and a hard link into
//!   it by a name relative to it (`linkat`; a joined path on Windows).
//! - `mount_of(path, device)`: the filesystem type and mount source of the volume holding `path`.
//! - `pathconf_link_max(path)`: the link limit, where the OS answers for the volume itself.
//! - `process_alive(pid)`: whether a process with that id runs on this machine.
//! - `apply_readonly(path, meta)`: after writing a copy, make it read-only if `meta` is (Windows;
//!   on Unix the mode was set by `create_new`).

/// Identity and link count of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
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

#[cfg(unix)]
mod unix;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{clone_dir, clone_file, copy_data, mount_of, pathconf_link_max};

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use macos::{clone_dir, clone_file, copy_data, mount_of, pathconf_link_max};

#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
mod unsupported;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
pub use unsupported::{clone_dir, clone_file, copy_data, mount_of, pathconf_link_max};

#[cfg(unix)]
pub use unix::{
    apply_readonly, copy_owner, create_new, dir_device, file_id, link_into, open_dir,
    process_alive, symlink_dir, symlink_file, DirHandle,
};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{
    apply_readonly, clone_dir, clone_file, copy_data, copy_owner, create_new, dir_device, file_id,
    link_into, mount_of, open_dir, pathconf_link_max, process_alive, symlink_dir, symlink_file,
    DirHandle,
};
