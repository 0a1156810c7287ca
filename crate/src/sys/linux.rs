//! Linux: reflink through `ioctl(FICLONE)` (btrfs, xfs with reflink=1, bcachefs, ...).

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `_IOW(0x94, 9, int)`, from `<linux/fs.h>`; the same number on every Linux architecture
/// that Node supports. https://man7.org/linux/man-pages/man2/ioctl_ficlone.2.html
const FICLONE: u64 = 0x4004_9409;

extern "C" {
    // The request argument is `unsigned long` in glibc and `int` in musl; passing it as
    // `u64`/`c_ulong` in a variadic call is ABI-compatible for both on 64-bit targets.
    fn ioctl(fd: i32, request: u64, ...) -> i32;
}

pub fn clone_file(src: &Path, dest: &Path, meta: &Metadata) -> io::Result<File> {
    let source = File::open(src)?;
    // Created with the source's mode, so the exec bit survives (uv#18181 lost it).
    let target = super::unix::create_new(dest, meta)?;
    // SAFETY: both descriptors are open and owned by live `File`s for the whole call; FICLONE
    // takes the source descriptor as its only argument and writes no memory of ours.
    let rc = unsafe { ioctl(target.as_raw_fd(), FICLONE, source.as_raw_fd()) };
    if rc == -1 {
        let err = io::Error::last_os_error();
        drop(target);
        let _ = std::fs::remove_file(dest);
        return Err(err);
    }
    Ok(target)
}

/// Whole-directory clones exist on macOS only; callers fall back to per-file work.
pub fn clone_dir(_src: &std::path::Path, _dest: &std::path::Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
