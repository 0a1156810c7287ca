//! Linux: reflink through `ioctl(FICLONE)` (btrfs, xfs with reflink=1, bcachefs, ...).

use super::unix::cvt;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `ioctl(dest, FICLONE, src)`: https://man7.org/linux/man-pages/man2/ioctl_ficlone.2.html
pub fn clone_file(src: &Path, dest: &Path, meta: &Metadata) -> io::Result<File> {
    let source = File::open(src)?;
    // Created with the source's mode, so the exec bit survives (uv#18181 lost it).
    let target = super::unix::create_new(dest, meta)?;
    // SAFETY: both descriptors are open and owned by live `File`s for the whole call; FICLONE
    // takes the source descriptor as its only argument and writes no memory of ours.
    let cloned = cvt(unsafe { libc::ioctl(target.as_raw_fd(), libc::FICLONE, source.as_raw_fd()) });
    // The umask filtered the mode at creation: give the clone the source's exactly.
    if let Err(err) = cloned.and_then(|()| super::unix::give_mode(&target, meta)) {
        drop(target);
        let _ = std::fs::remove_file(dest);
        return Err(err);
    }
    Ok(target)
}

/// A full copy into a file without a name, linked at `dest` once complete: `open(dir of dest,
/// O_TMPFILE)`, `fill`, then `linkat` of the descriptor (AT_EMPTY_PATH) or of `/proc/self/fd/N`
/// (what open(2) documents for an unprivileged caller). `linkat` fails with EEXIST
/// when `dest` exists, so creation stays exclusive; a process killed before it leaves nothing.
/// `None` when the volume has no O_TMPFILE (NFS, FUSE, kernels before 3.11: EOPNOTSUPP, EISDIR,
/// EINVAL) or `/proc` is not mounted.
/// https://man7.org/linux/man-pages/man2/open.2.html
pub fn copy_unnamed(
    src: &Path,
    dest: &Path,
    meta: &Metadata,
) -> Option<Result<(), super::CopyError>> {
    use super::CopyError;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    static PROC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*PROC.get_or_init(|| std::path::Path::new("/proc/self/fd").is_dir()) {
        return None;
    }
    let not_created = |error| {
        Some(Err(CopyError {
            error,
            created: false,
        }))
    };
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut input = match super::unix::open_source(src, meta) {
        Ok(input) => input,
        Err(e) => return not_created(e),
    };
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(meta.mode() & 0o777)
        .open(dir);
    let mut out = match opened {
        Ok(out) => out,
        Err(e) => {
            let refused = [libc::EOPNOTSUPP, libc::EISDIR, libc::EINVAL];
            if e.raw_os_error().is_some_and(|n| refused.contains(&n)) {
                return None;
            }
            return not_created(e);
        }
    };
    let linked = super::unix::fill(input.as_mut(), &mut out, meta).and_then(|()| {
        let to = super::unix::c_path(dest)?;
        // The descriptor itself (AT_EMPTY_PATH): allowed with CAP_DAC_READ_SEARCH, and since
        // Linux 6.10 for the process that opened the file; else ENOENT (remembered), and
        // `/proc/self/fd/N`, which procfs resolves to the file.
        static EMPTY_PATH: AtomicBool = AtomicBool::new(true);
        if EMPTY_PATH.load(Relaxed) {
            // SAFETY: `out` is open for the call; both strings are NUL-terminated and live for
            // the call; linkat only reads them.
            let rc = cvt(unsafe {
                libc::linkat(
                    out.as_raw_fd(),
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            });
            match rc {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    EMPTY_PATH.store(false, Relaxed)
                }
                done => return done,
            }
        }
        let from = super::unix::c_path(Path::new(&format!("/proc/self/fd/{}", out.as_raw_fd())))?;
        // SAFETY: both strings are NUL-terminated and live for the call; linkat only reads them.
        cvt(unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        })
    });
    // Nothing has a name until linkat succeeded: a failure leaves nothing to remove.
    Some(linked.map_err(|error| CopyError {
        error,
        created: true,
    }))
}

/// `renameat2(from, to, RENAME_NOREPLACE)`, called by number (glibc has the wrapper only since
/// 2.28). EINVAL where the filesystem cannot (NFS), ENOSYS before Linux 3.15.
/// https://man7.org/linux/man-pages/man2/rename.2.html
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use libc::c_long;
    let from = super::unix::c_path(from)?;
    let to = super::unix::c_path(to)?;
    let at = c_long::from(libc::AT_FDCWD);
    // SAFETY: both strings are NUL-terminated and live for the call; the kernel only reads them.
    // Every argument widened to the register size, as syscall(2) reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            at,
            from.as_ptr(),
            at,
            to.as_ptr(),
            libc::RENAME_NOREPLACE as c_long,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `renameat2(a, b, RENAME_EXCHANGE)`: `a` and `b` trade places in one step, so a reader of
/// either path sees one or the other, never neither. EINVAL where the filesystem cannot (NFS,
/// some FUSE), ENOSYS before Linux 3.15. https://man7.org/linux/man-pages/man2/rename.2.html
pub fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    use libc::c_long;
    let a = super::unix::c_path(a)?;
    let b = super::unix::c_path(b)?;
    let at = c_long::from(libc::AT_FDCWD);
    // SAFETY: both strings are NUL-terminated and live for the call; the kernel only reads them.
    // Every argument widened to the register size, as syscall(2) reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            at,
            a.as_ptr(),
            at,
            b.as_ptr(),
            libc::RENAME_EXCHANGE as c_long,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whole-directory clones exist on macOS only; callers fall back to per-file work.
pub fn clone_dir(_src: &Path, _dest: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Copies exactly `len` bytes from `input` to `output` with `copy_file_range(2)`, in the kernel,
/// without std's extra `fstat` of both files and its final zero-length call. Returns what was
/// copied (less than `len` only if the source got shorter). Falls back to `io::copy` where the
/// kernel refuses (EXDEV on kernels before 5.3, ENOSYS, EOPNOTSUPP, EINVAL).
pub(super) fn copy_data(input: &mut File, output: &mut File, len: u64) -> io::Result<u64> {
    use libc::c_long;
    let mut copied = 0u64;
    while copied < len {
        let chunk = (len - copied).min(1 << 30) as c_long;
        let null = std::ptr::null_mut::<libc::loff_t>();
        // Every argument widened to the register size, as syscall(2) reads them.
        let (fd_in, fd_out) = (
            c_long::from(input.as_raw_fd()),
            c_long::from(output.as_raw_fd()),
        );
        // https://man7.org/linux/man-pages/man2/copy_file_range.2.html, called by number
        // (https://man7.org/linux/man-pages/man2/syscall.2.html) like std does, so the binary
        // does not need glibc 2.27's copy_file_range symbol.
        // SAFETY: both descriptors are open for the call; null offsets mean "the file
        // positions"; the kernel writes no memory of ours.
        let n = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                fd_in,
                null,
                fd_out,
                null,
                chunk,
                0 as c_long,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            let refused = [libc::EXDEV, libc::ENOSYS, libc::EOPNOTSUPP, libc::EINVAL];
            if copied == 0 && err.raw_os_error().is_some_and(|e| refused.contains(&e)) {
                return io::copy(input, output);
            }
            return Err(err);
        }
        if n == 0 {
            break;
        }
        copied += n as u64;
    }
    Ok(copied)
}

/// The mount holding `path` (on device `device`), from `/proc/self/mountinfo`.
pub fn mount_of(path: &Path, device: u64) -> Option<super::Mount> {
    use crate::engine::fsinfo::{parse_mountinfo_line, pick_mount};
    use std::os::unix::ffi::OsStrExt;
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mounts: Vec<_> = text.lines().filter_map(parse_mountinfo_line).collect();
    let (major, minor) = (dev_major(device), dev_minor(device));
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let m = pick_mount(&mounts, (major, minor), real.as_os_str().as_bytes())?;
    Some(super::Mount {
        fs_type: m.fs_type.clone(),
        source: Some(m.source.clone()),
    })
}

/// The major number of a device, as the kernel encodes `st_dev` for glibc, musl and Android's
/// bionic alike (`gnu_dev_major`), computed here on a `u64`: `libc::major` takes a `dev_t` and
/// answers in a C type whose width and sign differ between them (bionic: `c_int`).
fn dev_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

/// The minor number of a device (`gnu_dev_minor`).
fn dev_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

/// Set on a key from a mount id, so that it never equals a device number (`st_dev`).
const MOUNT_ID_KEY: u64 = 1 << 63;

/// The mount holding `path` (symlinks followed), as a key for the fallback memo: Linux's mount id
/// from `statx`: the unique one (`STATX_MNT_ID_UNIQUE`, kernel 6.8+, never reused after an
/// unmount), else the plain one (`STATX_MNT_ID`, 5.8+), else the device (`st_dev`) where the
/// kernel has no mount ids or no `statx`. A bind mount shares its filesystem's device but is a mount of its
/// own, and `link(2)` and `FICLONE` between two mounts fail with EXDEV even on one filesystem.
/// https://man7.org/linux/man-pages/man2/statx.2.html
pub fn mount_key(path: &Path) -> io::Result<u64> {
    use libc::c_long;
    use std::os::unix::fs::MetadataExt;
    let c = super::unix::c_path(path)?;
    // SAFETY: `statx` is a plain struct of integers, for which all zeroes is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // Called by number, like `copy_file_range` above, so the binary does not need glibc 2.28's
    // statx symbol; every argument widened to the register size, as syscall(2) reads them.
    // SAFETY: the path is NUL-terminated and lives for the call; `stx` is a writable statx,
    // which is as large as the kernel's struct (the kernel writes no more); nothing else is
    // written.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_statx,
            libc::AT_FDCWD as c_long,
            c.as_ptr(),
            libc::AT_STATX_DONT_SYNC as c_long,
            (libc::STATX_MNT_ID | libc::STATX_MNT_ID_UNIQUE) as c_long,
            &mut stx as *mut libc::statx,
        )
    };
    if rc == 0 && stx.stx_mask & (libc::STATX_MNT_ID | libc::STATX_MNT_ID_UNIQUE) != 0 {
        return Ok(stx.stx_mnt_id | MOUNT_ID_KEY);
    }
    std::fs::metadata(path).map(|m| m.dev())
}

/// Linux has no `pathconf` system call: glibc's answers from a table by filesystem type, and
/// answers 127 for a type it does not know. `engine::fsinfo` keeps the table instead.
pub fn pathconf_link_max(_path: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding glibc's and musl's `major`/`minor` read (checked against libc's own here,
    /// on Linux), including numbers above 12 and 20 bits.
    #[cfg(target_os = "linux")]
    #[test]
    fn device_numbers() {
        for &(major, minor) in &[
            (0u32, 0u32),
            (8, 1),
            (259, 3),
            (0xfff, 0xff),
            (0x1234, 0x56789),
        ] {
            let dev = libc::makedev(major, minor);
            assert_eq!((dev_major(dev), dev_minor(dev)), (major, minor));
            assert_eq!(
                (dev_major(dev), dev_minor(dev)),
                (libc::major(dev), libc::minor(dev))
            );
        }
    }

    #[test]
    fn mount_key_tells_mounts_apart() {
        let root = mount_key(Path::new("/")).unwrap();
        // The same mount through another path, and a mount of its own (procfs).
        assert_eq!(mount_key(Path::new("/.")).unwrap(), root);
        assert_ne!(mount_key(Path::new("/proc")).unwrap(), root);
        // A mount id (kernel 5.8+), not a device number.
        assert_ne!(root & MOUNT_ID_KEY, 0);
        assert!(mount_key(Path::new("/no/such/path")).is_err());
    }
}
