//! Windows, through `windows-sys`: block cloning on ReFS and Dev Drive (`clone.rs`), copies by
//! `CopyFileExW`, file identity from `FILE_ID_INFO`,
//! renames that replace a read-only file; the rest is std.

use super::{CopyError, FileId};
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::ptr;
use windows_sys::core::BOOL;
use windows_sys::Wdk::Storage::FileSystem::{
    FILE_RENAME_IGNORE_READONLY_ATTRIBUTE, FILE_RENAME_POSIX_SEMANTICS,
    FILE_RENAME_REPLACE_IF_EXISTS,
};
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ALREADY_EXISTS, ERROR_FILE_EXISTS, ERROR_INVALID_FUNCTION,
    ERROR_INVALID_PARAMETER, ERROR_NOT_SUPPORTED, STILL_ACTIVE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CopyFileExW, FileIdInfo, FileRenameInfoEx, GetFileInformationByHandle,
    GetFileInformationByHandleEx, GetVolumeInformationW, GetVolumePathNameW, MoveFileExW,
    SetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION, COPY_FILE_FAIL_IF_EXISTS, DELETE,
    FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_ID_INFO,
    FILE_INFO_BY_HANDLE_CLASS, FILE_RENAME_INFO, FILE_RENAME_INFO_0, FILE_SHARE_DELETE,
    FILE_SHARE_READ, FILE_SHARE_WRITE,
};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// Never block other users of a file we only look at.
const FILE_SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
mod clone;
pub use clone::{clone_dir, clone_file};

/// FALSE from a Win32 call: the error in `GetLastError`.
fn cvt(ok: BOOL) -> io::Result<()> {
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The errors a file system gives for an information class or control code it does not have.
fn not_supported(err: &io::Error) -> bool {
    let unsupported = [
        ERROR_INVALID_FUNCTION,
        ERROR_NOT_SUPPORTED,
        ERROR_INVALID_PARAMETER,
    ];
    err.raw_os_error()
        .is_some_and(|code| unsupported.iter().any(|&u| u as i32 == code))
}

fn set_readonly(file: &File) -> io::Result<()> {
    let mut perm = file.metadata()?.permissions();
    perm.set_readonly(true);
    file.set_permissions(perm)
}

/// `CopyFileExW(src, dest, COPY_FILE_FAIL_IF_EXISTS)`: the OS's copy (the copy engine, with
/// server-side copies on SMB and block clones where the volume offers them), never over an
/// existing `dest`. https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-copyfileexw
/// The copy gets the source's attributes; it is returned open for writing (times, fsync), and
/// removed again if anything fails.
pub fn copy_file(src: &Path, dest: &Path, meta: &Metadata) -> Result<File, CopyError> {
    let not_created = |error| CopyError {
        error,
        created: false,
    };
    let from = verbatim(src).map_err(not_created)?;
    let to = verbatim(dest).map_err(not_created)?;
    // SAFETY: both names are NUL-terminated and live for the call; no progress routine, so its
    // data pointer and the cancel flag are null, which the function allows.
    let copied = cvt(unsafe {
        CopyFileExW(
            from.as_ptr(),
            to.as_ptr(),
            None,
            ptr::null(),
            ptr::null_mut(),
            COPY_FILE_FAIL_IF_EXISTS,
        )
    });
    if let Err(error) = copied {
        // An existing `dest` was not touched and is not ours to remove; otherwise whatever the
        // call left there is.
        let exists = [ERROR_FILE_EXISTS, ERROR_ALREADY_EXISTS]
            .iter()
            .any(|&e| error.raw_os_error() == Some(e as i32));
        let created = !exists && std::fs::symlink_metadata(dest).is_ok();
        if created {
            remove_new(dest);
        }
        return Err(CopyError { error, created });
    }
    let opened = open_copy(dest).and_then(|file| {
        super::whole(file.metadata()?.len(), meta.len())?;
        Ok(file)
    });
    opened.map_err(|error| {
        remove_new(dest);
        CopyError {
            error,
            created: true,
        }
    })
}

/// The copy open for writing: a read-only one (the source was) is made writable for the open
/// and read-only again through the handle, as `clone_file` does.
fn open_copy(dest: &Path) -> io::Result<File> {
    let readonly = std::fs::metadata(dest)?.permissions().readonly();
    if readonly {
        make_writable(dest)?;
    }
    let file = OpenOptions::new().write(true).open(dest)?;
    if readonly {
        set_readonly(&file)?;
    }
    Ok(file)
}

/// Removes a file this module just made, read-only or not.
fn remove_new(path: &Path) {
    let _ = make_writable(path);
    let _ = std::fs::remove_file(path);
}

/// Clears the read-only attribute of `path`, and only that attribute.
#[allow(clippy::permissions_set_readonly_false)] // a lint about Unix modes
fn make_writable(path: &Path) -> io::Result<()> {
    let mut perm = std::fs::symlink_metadata(path)?.permissions();
    perm.set_readonly(false);
    std::fs::set_permissions(path, perm)
}

/// Renames `from` over `to` with `SetFileInformationByHandle(FileRenameInfoEx)`: replacing `to`
/// even when it is read-only (a read-only cache entry being reset, a read-only destination
/// replaced), with POSIX semantics (a `to` that others hold open is replaced too). Where the
/// file system has no FileRenameInfoEx (before Windows 10 1809, FAT), std's rename.
/// https://learn.microsoft.com/windows/win32/api/winbase/ns-winbase-file_rename_info
pub fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    let flags = FILE_RENAME_REPLACE_IF_EXISTS
        | FILE_RENAME_POSIX_SEMANTICS
        | FILE_RENAME_IGNORE_READONLY_ATTRIBUTE;
    match rename_by_handle(from, to, FileRenameInfoEx, flags) {
        Err(e) if not_supported(&e) => std::fs::rename(from, to),
        done => done,
    }
}

/// `MoveFileExW(from, to, 0)`: without MOVEFILE_REPLACE_EXISTING it fails with
/// ERROR_ALREADY_EXISTS (EEXIST) when `to` exists.
/// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-movefileexw
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let from = verbatim(from)?;
    let to = verbatim(to)?;
    // SAFETY: both names are NUL-terminated and live for the call; MoveFileExW only reads them.
    cvt(unsafe { MoveFileExW(from.as_ptr(), to.as_ptr(), 0) })
}

/// Windows cannot exchange two names in one step: callers rename one way, then the other.
pub fn rename_exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Windows has no files without a name: copies go through a named temp file.
pub fn copy_unnamed(_src: &Path, _dest: &Path, _meta: &Metadata) -> Option<Result<(), CopyError>> {
    None
}

/// `SetFileInformationByHandle` with a FILE_RENAME_INFO naming `to`: `class` is FileRenameInfoEx
/// with `flags`, or FileRenameInfo with `flags` 1 (ReplaceIfExists).
pub(super) fn rename_by_handle(
    from: &Path,
    to: &Path,
    class: FILE_INFO_BY_HANDLE_CLASS,
    flags: u32,
) -> io::Result<()> {
    // The name itself, not what a symlink there points to; backup semantics for directories.
    let file = OpenOptions::new()
        .access_mode(DELETE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
        .open(from)?;
    let mut name = verbatim(to)?;
    name.pop(); // FileNameLength does not count the NUL, which the zeroed buffer supplies
    let name_bytes = u32::try_from(name.len() * 2)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path too long"))?;
    let offset = std::mem::offset_of!(FILE_RENAME_INFO, FileName);
    let size = offset + name.len() * 2 + 2;
    // u64s: zeroed, and aligned for the struct (its handle field is pointer-aligned).
    let mut buf = vec![0u64; size.div_ceil(8)];
    let info = buf.as_mut_ptr().cast::<FILE_RENAME_INFO>();
    // SAFETY: `buf` holds `size` bytes, aligned for FILE_RENAME_INFO: the fixed fields and
    // `name` after them (FileName is the struct's variable-length tail) fit; the fields are
    // written in place through raw pointers, with no reference to the partly written struct.
    unsafe {
        (&raw mut (*info).Anonymous).write(FILE_RENAME_INFO_0 { Flags: flags });
        (&raw mut (*info).RootDirectory).write(ptr::null_mut());
        (&raw mut (*info).FileNameLength).write(name_bytes);
        let tail = (&raw mut (*info).FileName).cast::<u16>();
        ptr::copy_nonoverlapping(name.as_ptr(), tail, name.len());
    }
    let size = u32::try_from(size).unwrap_or(u32::MAX);
    // SAFETY: `file` is open with DELETE access for the call; `info` points to `size` bytes of
    // an initialized FILE_RENAME_INFO, kept alive by `buf` until after the call.
    cvt(unsafe { SetFileInformationByHandle(file.as_raw_handle(), class, info.cast(), size) })
}

/// Volume serial number, file id and link count of the file `meta` describes: the symlink
/// itself when `meta` came from `symlink_metadata` (as `lstat` on Unix), else what `path`
/// resolves to.
pub fn file_id(path: &Path, meta: &Metadata) -> io::Result<FileId> {
    let flags = if meta.file_type().is_symlink() {
        FILE_FLAG_OPEN_REPARSE_POINT
    } else {
        0
    };
    identity(&open_for_info(path, flags)?)
}

/// The serial number of the volume holding the directory `dir` (symlinks followed), the same
/// number `file_id` reports as `dev`.
pub fn dir_device(dir: &Path) -> io::Result<u64> {
    identity(&open_for_info(dir, 0)?).map(|id| id.dev)
}

/// The volume holding `path`, as a key for the fallback memo: its serial number (`dir_device`).
pub fn mount_key(path: &Path) -> io::Result<u64> {
    dir_device(path)
}

/// No access rights needed to read metadata; backup semantics to open directories too.
fn open_for_info(path: &Path, flags: u32) -> io::Result<File> {
    OpenOptions::new()
        .access_mode(0)
        .share_mode(FILE_SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | flags)
        .open(path)
}

/// `FILE_ID_INFO` (a 64-bit volume serial and a 128-bit file id, unique on ReFS, whose ids do
/// not fit the 64-bit file index), with the link count from `BY_HANDLE_FILE_INFORMATION`. Where
/// the file system has no FileIdInfo (FAT, some network file systems), the 32-bit serial and
/// the 64-bit index.
/// https://learn.microsoft.com/windows/win32/api/winbase/ns-winbase-file_id_info
fn identity(file: &File) -> io::Result<FileId> {
    let mut info = MaybeUninit::<BY_HANDLE_FILE_INFORMATION>::zeroed();
    // SAFETY: `file` owns its handle for the whole call; `info` is writable and of the
    // documented layout.
    cvt(unsafe { GetFileInformationByHandle(file.as_raw_handle(), info.as_mut_ptr()) })?;
    // SAFETY: the call succeeded and filled the struct (integers only, valid even zeroed).
    let info = unsafe { info.assume_init() };
    let nlink = u64::from(info.nNumberOfLinks);
    let mut id = MaybeUninit::<FILE_ID_INFO>::zeroed();
    // SAFETY: as above; the size passed is the buffer's.
    let by_id = cvt(unsafe {
        GetFileInformationByHandleEx(
            file.as_raw_handle(),
            FileIdInfo,
            id.as_mut_ptr().cast(),
            size_of::<FILE_ID_INFO>() as u32,
        )
    });
    match by_id {
        Ok(()) => {
            // SAFETY: the call succeeded and filled the struct (integers only).
            let id = unsafe { id.assume_init() };
            Ok(FileId {
                dev: id.VolumeSerialNumber,
                ino: u128::from_le_bytes(id.FileId.Identifier),
                nlink,
            })
        }
        Err(e) if not_supported(&e) => Ok(FileId {
            dev: u64::from(info.dwVolumeSerialNumber),
            ino: (u128::from(info.nFileIndexHigh) << 32) | u128::from(info.nFileIndexLow),
            nlink,
        }),
        Err(e) => Err(e),
    }
}

/// Always true: Windows has no `protected_hardlinks` (a refused link, error 396, is per file
/// whoever owns it, and the engine asks nothing here).
pub fn may_link(_path: &Path, _meta: &Metadata) -> bool {
    true
}

/// Nothing to do: a new file belongs to the user who creates it, and giving it to someone else
/// would take privileges (SeRestorePrivilege) a package manager does not have.
pub fn copy_owner(_file: &File, _meta: &Metadata) -> io::Result<()> {
    Ok(())
}

/// Fails with ERROR_PRIVILEGE_NOT_HELD (1314) unless Developer Mode is on or the process is
/// elevated; the engine then falls back to a copy.
pub fn symlink_file(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

/// A directory symlink (Windows records which kind a link is); same privileges as files.
pub fn symlink_dir(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

/// `path` as a NUL-terminated name.
fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// `path` made absolute and verbatim (`\\?\C:\...`, `\\?\UNC\server\share\...`), NUL-terminated:
/// as std passes paths to Win32, so that names longer than MAX_PATH work here as they do in std.
fn verbatim(path: &Path) -> io::Result<Vec<u16>> {
    let absolute = wide(&std::path::absolute(path)?);
    let starts = |prefix: &str| absolute.starts_with(&prefix.encode_utf16().collect::<Vec<_>>());
    let (prefix, rest) = if starts(r"\\?\") || starts(r"\??\") || starts(r"\\.\") {
        ("", &absolute[..])
    } else if starts(r"\\") {
        (r"\\?\UNC\", &absolute[2..])
    } else {
        (r"\\?\", &absolute[..])
    };
    Ok(prefix.encode_utf16().chain(rest.iter().copied()).collect())
}

/// Windows has no `linkat`: the directory is kept as a path.
pub struct DirHandle(std::path::PathBuf);

pub fn open_dir(path: &Path) -> io::Result<DirHandle> {
    Ok(DirHandle(path.to_path_buf()))
}

/// `open_dir` for a directory that must not be a symlink or a junction (a store's bucket).
pub fn open_dir_nofollow(path: &Path) -> io::Result<DirHandle> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok(DirHandle(path.to_path_buf()))
}

/// `stat_at` (see unix.rs): the joined path's `symlink_metadata` here.
pub fn stat_at(dir: &DirHandle, name: &Path) -> io::Result<super::EntryStat> {
    std::fs::symlink_metadata(dir.0.join(name)).map(|m| super::EntryStat::of(&m))
}

/// A hard link to `src` at `rel` under `dir` (CreateHardLinkW through std).
pub fn link_into(src: &Path, dir: &DirHandle, rel: &Path) -> io::Result<()> {
    std::fs::hard_link(src, dir.0.join(rel))
}

/// `link_into` for a source named from an open directory (see unix.rs).
pub fn link_at(src_dir: &DirHandle, name: &Path, dir: &DirHandle, rel: &Path) -> io::Result<()> {
    std::fs::hard_link(src_dir.0.join(name), dir.0.join(rel))
}

/// `mkdir_at` (see unix.rs): a joined path here.
pub fn mkdir_at(dir: &DirHandle, rel: &Path) -> io::Result<()> {
    std::fs::create_dir(dir.0.join(rel))
}

/// No umask on Windows.
pub fn read_umask() -> Option<u32> {
    None
}

/// Runs `f` (modes are not set on Windows).
pub fn with_umask<T>(_umask: Option<u32>, f: impl FnOnce() -> T) -> T {
    f()
}

/// `place_at` (see unix.rs): not here; the careful path places every file.
pub fn place_at(
    _src_dir: &DirHandle,
    _name: &Path,
    _dir: &DirHandle,
    _rel: &Path,
    _clone: bool,
) -> Option<std::fs::Metadata> {
    None
}

/// The volume holding `path` and its filesystem ("NTFS", "ReFS", "FAT32").
/// https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getvolumepathnamew
pub fn mount_of(path: &Path, _device: u64) -> Option<super::Mount> {
    // Made absolute first: GetVolumePathNameW answers a relative path with the boot volume.
    let p = wide(&std::path::absolute(path).ok()?);
    // The mount point is never longer than the path, plus a trailing backslash.
    let mut root = vec![0u16; p.len() + 2];
    let root_len = u32::try_from(root.len()).ok()?;
    // SAFETY: `p` is NUL-terminated; `root` is writable for the length passed.
    cvt(unsafe { GetVolumePathNameW(p.as_ptr(), root.as_mut_ptr(), root_len) }).ok()?;
    let mut name = [0u16; 261];
    // SAFETY: `root` is the NUL-terminated volume path just written; `name` is writable for the
    // length passed; the optional outputs are null, which the function allows.
    // https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getvolumeinformationw
    cvt(unsafe {
        GetVolumeInformationW(
            root.as_ptr(),
            ptr::null_mut(),
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            name.as_mut_ptr(),
            name.len() as u32,
        )
    })
    .ok()?;
    let text = |w: &[u16]| {
        String::from_utf16_lossy(&w[..w.iter().position(|&c| c == 0).unwrap_or(w.len())])
    };
    Some(super::Mount {
        fs_type: text(&name),
        source: Some(text(&root)),
    })
}

/// Windows has no `pathconf`: the limit comes from the filesystem type.
pub fn pathconf_link_max(_path: &Path) -> Option<u64> {
    None
}

/// Whether a process with this id runs on this machine.
/// https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocess
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: OpenProcess takes plain values; a null handle reports failure.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        // No such process; any other failure (access denied) means it exists.
        return io::Error::last_os_error().raw_os_error() != Some(ERROR_INVALID_PARAMETER as i32);
    }
    let mut code = 0u32;
    // SAFETY: `h` is the open process handle from above, closed right after; `code` is writable.
    let alive = unsafe { GetExitCodeProcess(h, &mut code) } == 0 || code == STILL_ACTIVE as u32;
    // SAFETY: `h` is open and owned here.
    unsafe { CloseHandle(h) };
    alive
}

/// Not on Windows: its byte-range locks are mandatory, and a handle held open on the entry could
/// make the reset's rename over it fail. Resets of one entry are not serialized there.
pub fn lock_exclusive(_file: &File) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests;

/// Whether this process may make files in `dir`, asked without writing anything: the directory
/// opened with the right to add a file, which the volume refuses when read-only
/// (ERROR_WRITE_PROTECT: EROFS) and the directory's ACL when it denies it (EACCES).
/// https://learn.microsoft.com/windows/win32/fileio/file-access-rights-constants
pub fn dir_writable(dir: &Path) -> io::Result<()> {
    OpenOptions::new()
        .access_mode(windows_sys::Win32::Storage::FileSystem::FILE_ADD_FILE)
        .share_mode(FILE_SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(dir)
        .map(drop)
}
