//! macOS: `clonefile(2)`, APFS's copy-on-write clone, and `fcopyfile(3)` for copies. The other
//! functions come from `unix.rs`.

use super::unix::{c_path, cvt};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Clone a symbolic link at `src` itself instead of following it. From `<sys/clonefile.h>`
/// (https://github.com/apple-oss-distributions/xnu/blob/main/bsd/sys/clonefile.h): the flags
/// are not in the libc crate, which has the function.
const CLONE_NOFOLLOW: u32 = 0x0001;
/// Never give the clone the source's owner, even as root: it belongs to the caller, like a file
/// created with `open(2)`. `copy_owner` is the one place that decides ownership.
const CLONE_NOOWNERCOPY: u32 = 0x0002;

/// Clones `src` to `dest` in one call. `dest` must not exist (EEXIST); the clone keeps the
/// source's mode (without setuid/setgid), and a failed call leaves nothing at `dest`.
pub fn clone_file(src: &Path, dest: &Path, _meta: &Metadata) -> io::Result<File> {
    clone_dir(src, dest)?;
    // Open for the caller to set times and fsync (both work on a read-only descriptor).
    File::open(dest)
}

/// Clones `src` to `dest` (which must not exist) in one `clonefile` call: a file, or a
/// directory and everything under it, as uv and bun do on APFS. A failed directory clone may
/// leave part of `dest`: clone into a stage.
/// https://keith.github.io/xcode-man-pages/clonefile.2.html
pub fn clone_dir(src: &Path, dest: &Path) -> io::Result<()> {
    let src = c_path(src)?;
    let dest = c_path(dest)?;
    // SAFETY: both pointers are NUL-terminated strings owned by `CString`s that live for the
    // whole call; clonefile only reads them.
    cvt(unsafe {
        libc::clonefile(
            src.as_ptr(),
            dest.as_ptr(),
            CLONE_NOFOLLOW | CLONE_NOOWNERCOPY,
        )
    })
}

/// `fcopyfile(input, output, NULL, COPYFILE_DATA)` on two fresh descriptors: the data only (the
/// mode was given when `output` was created), in the blocks the volume prefers rather than
/// std's 8 KiB loop. Returns the bytes now in `output`.
/// https://keith.github.io/xcode-man-pages/copyfile.3.html
pub(super) fn copy_data(input: &mut File, output: &mut File, _len: u64) -> io::Result<u64> {
    // SAFETY: both descriptors are open and owned by live `File`s for the whole call; a null
    // state is allowed and means no progress callback; fcopyfile writes no memory of ours.
    let rc = unsafe {
        libc::fcopyfile(
            input.as_raw_fd(),
            output.as_raw_fd(),
            std::ptr::null_mut(),
            libc::COPYFILE_DATA,
        )
    };
    cvt(rc)?;
    Ok(output.metadata()?.len())
}

/// macOS has no files without a name: copies go through a named temp file.
pub fn copy_unnamed(
    _src: &Path,
    _dest: &Path,
    _meta: &Metadata,
) -> Option<Result<(), super::CopyError>> {
    None
}

/// `renamex_np(from, to, RENAME_EXCL)`: EEXIST when `to` exists; ENOTSUP where the volume
/// cannot (APFS and HFS+ can). https://keith.github.io/xcode-man-pages/rename.2.html
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let from = c_path(from)?;
    let to = c_path(to)?;
    // SAFETY: both strings are NUL-terminated and live for the call; renamex_np only reads them.
    cvt(unsafe { libc::renamex_np(from.as_ptr(), to.as_ptr(), libc::RENAME_EXCL) })
}

/// `renamex_np(a, b, RENAME_SWAP)`: `a` and `b` trade places in one step; ENOTSUP where the
/// volume cannot. https://keith.github.io/xcode-man-pages/rename.2.html
pub fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    let a = c_path(a)?;
    let b = c_path(b)?;
    // SAFETY: both strings are NUL-terminated and live for the call; renamex_np only reads them.
    cvt(unsafe { libc::renamex_np(a.as_ptr(), b.as_ptr(), libc::RENAME_SWAP) })
}

/// The volume holding `path`: its type ("apfs", "hfs", "smbfs") and what it is mounted from.
/// https://keith.github.io/xcode-man-pages/statfs.2.html (libc links the 64-bit-inode
/// `statfs$INODE64` on x86_64, the only one on arm64).
pub fn mount_of(path: &Path, _device: u64) -> Option<super::Mount> {
    let p = c_path(path).ok()?;
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `p` is NUL-terminated and lives for the call; `buf` is a writable `struct statfs`.
    cvt(unsafe { libc::statfs(p.as_ptr(), buf.as_mut_ptr()) }).ok()?;
    // SAFETY: statfs succeeded and filled the struct (all of it integers and char arrays, valid
    // even where it wrote nothing, since it started zeroed).
    let buf = unsafe { buf.assume_init() };
    let text = |chars: &[libc::c_char]| {
        let bytes: Vec<u8> = chars
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some(super::Mount {
        fs_type: text(&buf.f_fstypename),
        source: Some(text(&buf.f_mntfromname)),
    })
}

/// What the volume itself says (APFS and HFS+ answer; -1 means no limit or unknown).
/// https://keith.github.io/xcode-man-pages/pathconf.2.html
pub fn pathconf_link_max(path: &Path) -> Option<u64> {
    let p = c_path(path).ok()?;
    // SAFETY: `p` is NUL-terminated and lives for the call; pathconf only reads it.
    let n = unsafe { libc::pathconf(p.as_ptr(), libc::_PC_LINK_MAX) };
    u64::try_from(n).ok().filter(|&n| n > 0)
}

/// The mount holding `path`, as a key for the fallback memo: its device (`st_dev`), which a
/// mount of its own always has on macOS (no bind mounts).
pub fn mount_key(path: &Path) -> io::Result<u64> {
    super::unix::dir_device(path)
}
