//! What Linux and macOS share: std's Unix extensions cover all of it.

use super::FileId;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

pub fn create_new(path: &Path, meta: &Metadata) -> io::Result<File> {
    // O_CREAT|O_EXCL with the source's mode from the start: no window where the file exists
    // with other permissions, and an existing file is never truncated.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.mode() & 0o7777)
        .open(path)
}

pub fn file_id(_path: &Path, meta: &Metadata) -> io::Result<FileId> {
    Ok(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
        nlink: meta.nlink(),
    })
}

pub fn dir_device(dir: &Path) -> io::Result<u64> {
    std::fs::metadata(dir).map(|m| m.dev())
}

pub fn copy_owner(file: &File, meta: &Metadata) -> io::Result<()> {
    // Only root may give a file away; for anyone else the new file is theirs, as it should be.
    if is_root() && (file.metadata()?.uid() != meta.uid() || file.metadata()?.gid() != meta.gid()) {
        std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}

pub fn symlink_file(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Unix symlinks do not care what they point to.
pub fn symlink_dir(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

fn is_root() -> bool {
    extern "C" {
        // https://man7.org/linux/man-pages/man2/geteuid.2.html (same on macOS)
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { geteuid() == 0 }
}

/// The mode was given at creation (`create_new`): nothing left to apply.
pub fn apply_readonly(_path: &Path, _meta: &Metadata) -> io::Result<()> {
    Ok(())
}

/// A directory kept open, so many links into it resolve their names from it rather than from
/// the root: a batch's destination.
pub struct DirHandle(File);

pub fn open_dir(path: &Path) -> io::Result<DirHandle> {
    File::open(path).map(DirHandle)
}

/// `linkat(AT_FDCWD, src, dir, rel, AT_SYMLINK_FOLLOW)`: a hard link to the file `src` (a
/// symlink at `src` is followed, as `link_file` follows one) at `rel` under `dir`.
pub fn link_into(src: &Path, dir: &DirHandle, rel: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        // https://man7.org/linux/man-pages/man2/link.2.html (POSIX; the same on macOS)
        fn linkat(
            olddirfd: i32,
            oldpath: *const i8,
            newdirfd: i32,
            newpath: *const i8,
            flags: i32,
        ) -> i32;
    }
    // <fcntl.h>: Linux (glibc, musl) and Darwin differ.
    #[cfg(target_vendor = "apple")]
    const AT_FDCWD: i32 = -2;
    #[cfg(target_vendor = "apple")]
    const AT_SYMLINK_FOLLOW: i32 = 0x0040;
    #[cfg(not(target_vendor = "apple"))]
    const AT_FDCWD: i32 = -100;
    #[cfg(not(target_vendor = "apple"))]
    const AT_SYMLINK_FOLLOW: i32 = 0x400;
    let nul = |_| io::Error::from(io::ErrorKind::InvalidInput);
    let src = CString::new(src.as_os_str().as_bytes()).map_err(nul)?;
    let rel = CString::new(rel.as_os_str().as_bytes()).map_err(nul)?;
    let dirfd = dir.0.as_raw_fd();
    // SAFETY: both strings are NUL-terminated and live for the call; the descriptor is owned by
    // `dir`, open for the call; linkat only reads its arguments.
    let rc = unsafe {
        linkat(
            AT_FDCWD,
            src.as_ptr(),
            dirfd,
            rel.as_ptr(),
            AT_SYMLINK_FOLLOW,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a process with this id runs on this machine: `kill(pid, 0)` succeeds, or fails with
/// EPERM (it exists but is not ours).
pub fn process_alive(pid: u32) -> bool {
    extern "C" {
        // https://man7.org/linux/man-pages/man2/kill.2.html (same on macOS)
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled; it touches no
    // memory.
    if unsafe { kill(pid, 0) } == 0 {
        return true;
    }
    io::Error::last_os_error().kind() == io::ErrorKind::PermissionDenied
}
