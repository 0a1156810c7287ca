//! `rename_noreplace(from, to)`: a rename that fails with EEXIST when `to` exists, even as an
//! empty directory (which a plain `rename` replaces on Unix): how a batch import puts its stage
//! in place without taking the place of another import's tree.

use std::io;
use std::path::Path;

/// `renameat2(RENAME_NOREPLACE)`, by syscall number (glibc wraps it only from 2.28; the binary
/// keeps its glibc 2.17 floor). Filesystems without the flag (EINVAL) and kernels before 3.15
/// (ENOSYS) get `fallback`. https://man7.org/linux/man-pages/man2/rename.2.html
#[cfg(target_os = "linux")]
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (super::unix::c_path(from)?, super::unix::c_path(to)?);
    // SAFETY: both strings are NUL-terminated and live for the call; renameat2 only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == -1 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EINVAL | libc::ENOSYS) => fallback(from, to),
            _ => Err(e),
        };
    }
    Ok(())
}

/// `renamex_np(RENAME_EXCL)`; volumes without it (ENOTSUP) get `fallback`.
/// https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/renamex_np.2.html
#[cfg(target_os = "macos")]
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (super::unix::c_path(from)?, super::unix::c_path(to)?);
    // SAFETY: both strings are NUL-terminated and live for the call; renamex_np only reads them.
    let rc = unsafe { libc::renamex_np(f.as_ptr(), t.as_ptr(), libc::RENAME_EXCL) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP | libc::EINVAL) => fallback(from, to),
            _ => Err(e),
        };
    }
    Ok(())
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    fallback(from, to)
}

/// Where the OS cannot refuse to replace: refuse when `to` is there, then rename (a directory
/// made at `to` between the two, if empty, is replaced).
#[cfg(unix)]
fn fallback(from: &Path, to: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    std::fs::rename(from, to)
}

/// FileRenameInfo without ReplaceIfExists: ERROR_ALREADY_EXISTS when `to` exists.
/// https://learn.microsoft.com/windows/win32/api/winbase/ns-winbase-file_rename_info
#[cfg(windows)]
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use windows_sys::Win32::Storage::FileSystem::FileRenameInfo;
    super::windows::rename_by_handle(from, to, FileRenameInfo, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno;
    use std::fs;

    #[test]
    fn never_replaces_even_an_empty_directory() {
        let dir = crate::testing::sandbox("noreplace");
        let (stage, into) = (dir.join("stage"), dir.join("into"));
        fs::create_dir(&stage).unwrap();
        fs::write(stage.join("f"), "x").unwrap();
        fs::create_dir(&into).unwrap();
        let err = rename_noreplace(&stage, &into).unwrap_err();
        let code = errno::name(errno::CURRENT, err.raw_os_error().unwrap_or(0));
        assert_eq!(code, "EEXIST", "{err}");
        assert!(stage.join("f").exists());
        fs::remove_dir(&into).unwrap();
        rename_noreplace(&stage, &into).unwrap();
        assert!(into.join("f").exists() && !stage.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
