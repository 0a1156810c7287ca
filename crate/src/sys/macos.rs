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
