//! macOS: `clonefile(2)`, APFS's copy-on-write clone. The other functions come from `unix.rs`.

use std::ffi::{c_char, CString};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Clone a symbolic link at `src` itself instead of following it. From `<sys/clonefile.h>`.
const CLONE_NOFOLLOW: u32 = 0x0001;
/// Never give the clone the source's owner, even as root: it belongs to the caller, like a file
/// created with `open(2)`. `copy_owner` is the one place that decides ownership.
const CLONE_NOOWNERCOPY: u32 = 0x0002;

extern "C" {
    // https://keith.github.io/xcode-man-pages/clonefile.2.html
    // `int clonefile(const char *src, const char *dst, uint32_t flags)` in libSystem.
    fn clonefile(src: *const c_char, dst: *const c_char, flags: u32) -> i32;
}

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
pub fn clone_dir(src: &Path, dest: &Path) -> io::Result<()> {
    let src = c_path(src)?;
    let dest = c_path(dest)?;
    // SAFETY: both pointers are NUL-terminated strings owned by `CString`s that live for the
    // whole call; clonefile only reads them.
    let rc = unsafe {
        clonefile(
            src.as_ptr(),
            dest.as_ptr(),
            CLONE_NOFOLLOW | CLONE_NOOWNERCOPY,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Copies `input` to `output` (std picks the best way this OS has).
pub fn copy_data(input: &mut File, output: &mut File, _len: u64) -> io::Result<u64> {
    std::io::copy(input, output)
}

/// `struct statfs` with 64-bit inodes, from `<sys/mount.h>` (the only layout on arm64, and the
/// `$INODE64` one on x86_64). https://keith.github.io/xcode-man-pages/statfs.2.html
#[repr(C)]
struct StatFs {
    f_bsize: u32,
    f_iosize: i32,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_fsid: [i32; 2],
    f_owner: u32,
    f_type: u32,
    f_flags: u32,
    f_fssubtype: u32,
    f_fstypename: [c_char; 16],
    f_mntonname: [c_char; 1024],
    f_mntfromname: [c_char; 1024],
    f_flags_ext: u32,
    f_reserved: [u32; 7],
}

extern "C" {
    #[cfg_attr(target_arch = "x86_64", link_name = "statfs$INODE64")]
    fn statfs(path: *const c_char, buf: *mut StatFs) -> i32;
    // https://keith.github.io/xcode-man-pages/pathconf.2.html
    fn pathconf(path: *const c_char, name: i32) -> std::ffi::c_long;
}

/// `_PC_LINK_MAX` in `<unistd.h>`.
const PC_LINK_MAX: i32 = 1;

/// The volume holding `path`: its type ("apfs", "hfs", "smbfs") and what it is mounted from.
pub fn mount_of(path: &Path, _device: u64) -> Option<super::Mount> {
    let p = c_path(path).ok()?;
    // SAFETY: an all-zero StatFs is a valid value (integers and byte arrays only).
    let mut buf: StatFs = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is NUL-terminated and lives for the call; `buf` is a writable struct of the
    // layout statfs fills.
    if unsafe { statfs(p.as_ptr(), &mut buf) } != 0 {
        return None;
    }
    let text = |chars: &[c_char]| {
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
pub fn pathconf_link_max(path: &Path) -> Option<u64> {
    let p = c_path(path).ok()?;
    // SAFETY: `p` is NUL-terminated and lives for the call; pathconf only reads it.
    let n = unsafe { pathconf(p.as_ptr(), PC_LINK_MAX) };
    u64::try_from(n).ok().filter(|&n| n > 0)
}
