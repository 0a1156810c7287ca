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

/// Copies exactly `len` bytes from `input` to `output` with `copy_file_range(2)`, in the kernel,
/// without std's extra `fstat` of both files and its final zero-length call. Returns what was
/// copied (less than `len` only if the source got shorter). Falls back to `io::copy` where the
/// kernel refuses (EXDEV on kernels before 5.3, ENOSYS, EOPNOTSUPP, EINVAL).
pub fn copy_data(input: &mut File, output: &mut File, len: u64) -> io::Result<u64> {
    extern "C" {
        // https://man7.org/linux/man-pages/man2/syscall.2.html: called by number, like std
        // does, so the binary does not need glibc 2.27's copy_file_range symbol.
        fn syscall(number: i64, ...) -> i64;
    }
    #[cfg(target_arch = "x86_64")]
    const SYS_COPY_FILE_RANGE: i64 = 326;
    #[cfg(target_arch = "aarch64")]
    const SYS_COPY_FILE_RANGE: i64 = 285;
    // Other architectures: std's copy.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const SYS_COPY_FILE_RANGE: i64 = -1;
    if SYS_COPY_FILE_RANGE < 0 {
        return io::copy(input, output);
    }
    let mut copied = 0u64;
    while copied < len {
        let chunk = (len - copied).min(1 << 30) as usize;
        let null = std::ptr::null_mut::<i64>();
        // Every argument widened to the register size, as syscall(2) reads them.
        let (fd_in, fd_out) = (i64::from(input.as_raw_fd()), i64::from(output.as_raw_fd()));
        // SAFETY: both descriptors are open for the call; null offsets mean "the file
        // positions"; the kernel writes no memory of ours.
        let n = unsafe {
            syscall(
                SYS_COPY_FILE_RANGE,
                fd_in,
                null,
                fd_out,
                null,
                chunk as i64,
                0i64,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            let fallback = matches!(err.raw_os_error(), Some(18 | 38 | 95 | 22));
            if copied == 0 && fallback {
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
    // dev_t as glibc and musl encode it (gnu_dev_major / gnu_dev_minor).
    let major = ((device >> 8) & 0xfff) | ((device >> 32) & !0xfff);
    let minor = (device & 0xff) | ((device >> 12) & !0xff);
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let m = pick_mount(
        &mounts,
        (major as u32, minor as u32),
        real.as_os_str().as_bytes(),
    )?;
    Some(super::Mount {
        fs_type: m.fs_type.clone(),
        source: Some(m.source.clone()),
    })
}

/// Linux has no `pathconf` system call: glibc's answers from a table by filesystem type, and
/// answers 127 for a type it does not know. `engine::fsinfo` keeps the table instead.
pub fn pathconf_link_max(_path: &Path) -> Option<u64> {
    None
}
