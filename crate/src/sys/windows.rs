//! Windows: block cloning on ReFS and Dev Drive with `FSCTL_DUPLICATE_EXTENTS_TO_FILE`, and file
//! identity from `GetFileInformationByHandle`; the rest is std.

use super::FileId;
use std::ffi::c_void;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::ptr;

type Handle = *mut c_void;

/// Block cloning: https://learn.microsoft.com/windows/win32/fileio/block-cloning
const FSCTL_DUPLICATE_EXTENTS_TO_FILE: u32 = 0x0009_8344;
/// https://learn.microsoft.com/windows/win32/api/winioctl/ni-winioctl-fsctl_set_sparse
const FSCTL_SET_SPARSE: u32 = 0x0009_00C4;
const FILE_ATTRIBUTE_SPARSE_FILE: u32 = 0x0000_0200;
/// Lets `CreateFileW` open a directory as well as a file.
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
/// FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE: never block other users of the file.
const FILE_SHARE_ALL: u32 = 0x0000_0007;
/// Bytes per clone call: under the documented 4 GiB limit, a multiple of any power-of-two
/// cluster size.
const MAX_CHUNK: u64 = 1 << 30;

/// https://learn.microsoft.com/windows/win32/api/winioctl/ns-winioctl-duplicate_extents_data
#[repr(C)]
#[allow(dead_code)] // read by the file system, not by us
struct DuplicateExtentsData {
    file_handle: Handle,
    source_file_offset: i64,
    target_file_offset: i64,
    byte_count: i64,
}

/// https://learn.microsoft.com/windows/win32/api/minwinbase/ns-minwinbase-filetime
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)] // only there for the layout
struct FileTime {
    low_date_time: u32,
    high_date_time: u32,
}

/// https://learn.microsoft.com/windows/win32/api/fileapi/ns-fileapi-by_handle_file_information
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)] // filled in by Windows; we read the identity fields only
struct ByHandleFileInformation {
    file_attributes: u32,
    creation_time: FileTime,
    last_access_time: FileTime,
    last_write_time: FileTime,
    volume_serial_number: u32,
    file_size_high: u32,
    file_size_low: u32,
    number_of_links: u32,
    file_index_high: u32,
    file_index_low: u32,
}

#[link(name = "kernel32")]
extern "system" {
    // https://learn.microsoft.com/windows/win32/api/ioapiset/nf-ioapiset-deviceiocontrol
    fn DeviceIoControl(
        device: Handle,
        io_control_code: u32,
        in_buffer: *const c_void,
        in_buffer_size: u32,
        out_buffer: *mut c_void,
        out_buffer_size: u32,
        bytes_returned: *mut u32,
        overlapped: *mut c_void,
    ) -> i32;
    // https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getfileinformationbyhandle
    fn GetFileInformationByHandle(file: Handle, info: *mut ByHandleFileInformation) -> i32;
    // https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getvolumepathnamew
    fn GetVolumePathNameW(file_name: *const u16, volume_path_name: *mut u16, len: u32) -> i32;
    // https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getvolumeinformationw
    fn GetVolumeInformationW(
        root_path_name: *const u16,
        volume_name: *mut u16,
        volume_name_size: u32,
        serial_number: *mut u32,
        max_component_length: *mut u32,
        flags: *mut u32,
        fs_name: *mut u16,
        fs_name_size: u32,
    ) -> i32;
    // https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocess
    fn OpenProcess(access: u32, inherit: i32, pid: u32) -> Handle;
    // https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-getexitcodeprocess
    fn GetExitCodeProcess(process: Handle, code: *mut u32) -> i32;
    // https://learn.microsoft.com/windows/win32/api/handleapi/nf-handleapi-closehandle
    fn CloseHandle(handle: Handle) -> i32;
    // https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getdiskfreespacew
    fn GetDiskFreeSpaceW(
        root_path_name: *const u16,
        sectors_per_cluster: *mut u32,
        bytes_per_sector: *mut u32,
        number_of_free_clusters: *mut u32,
        total_number_of_clusters: *mut u32,
    ) -> i32;
}

/// Block-clones `src` to the new file `dest`, following "Block cloning on ReFS":
/// https://learn.microsoft.com/windows/win32/fileio/block-cloning
/// Fails (ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED, ...) on volumes without block cloning.
pub fn clone_file(src: &Path, dest: &Path, meta: &Metadata) -> io::Result<File> {
    let source = File::open(src)?;
    // The open handle's length and attributes: what is cloned is what the handle sees.
    let info = source.metadata()?;
    let cluster = cluster_size(src)?;
    let target = create_new(dest, meta)?;
    let result = duplicate(&source, &target, &info, cluster).and_then(|()| {
        if !meta.permissions().readonly() {
            return Ok(());
        }
        // Only the read-only bit: the source's other attributes (hidden, system) stay behind.
        let mut perm = target.metadata()?.permissions();
        perm.set_readonly(true);
        target.set_permissions(perm)
    });
    if let Err(err) = result {
        drop(target);
        let _ = std::fs::remove_file(dest);
        return Err(err);
    }
    Ok(target)
}

/// After a copy is written: the source's read-only bit, and only that bit.
pub fn apply_readonly(path: &Path, meta: &Metadata) -> io::Result<()> {
    if !meta.permissions().readonly() {
        return Ok(());
    }
    let mut perm = std::fs::metadata(path)?.permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(path, perm)
}

/// Creates `path` exclusively (CREATE_NEW), open for writing. The source's read-only attribute
/// is not applied here, since the caller still has to write the file: callers apply
/// `meta.permissions()` once the content is written.
pub fn create_new(path: &Path, _meta: &Metadata) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Volume serial number, file index and link count of `path`, symbolic links followed.
pub fn file_id(path: &Path, _meta: &Metadata) -> io::Result<FileId> {
    let info = file_information(path)?;
    Ok(FileId {
        dev: u64::from(info.volume_serial_number),
        ino: (u64::from(info.file_index_high) << 32) | u64::from(info.file_index_low),
        nlink: u64::from(info.number_of_links),
    })
}

/// The serial number of the volume holding the directory `dir`.
pub fn dir_device(dir: &Path) -> io::Result<u64> {
    file_information(dir).map(|info| u64::from(info.volume_serial_number))
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

fn duplicate(source: &File, target: &File, info: &Metadata, cluster: u64) -> io::Result<()> {
    if info.file_attributes() & FILE_ATTRIBUTE_SPARSE_FILE != 0 {
        fsctl(target, FSCTL_SET_SPARSE, None)?;
    }
    // Length first: then the last chunk may be rounded up to a whole cluster, past the data.
    target.set_len(info.len())?;
    let end = info.len().div_ceil(cluster).checked_mul(cluster);
    let Some(end) = end.and_then(|end| i64::try_from(end).ok()) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    let chunk = (MAX_CHUNK / cluster * cluster) as i64; // 1 GiB at most: no wrap
    let mut offset = 0;
    while offset < end {
        let count = chunk.min(end - offset);
        let data = DuplicateExtentsData {
            file_handle: source.as_raw_handle(),
            source_file_offset: offset,
            target_file_offset: offset,
            byte_count: count,
        };
        fsctl(target, FSCTL_DUPLICATE_EXTENTS_TO_FILE, Some(&data))?;
        offset += count;
    }
    Ok(())
}

/// A file system control call on `file` with an optional input and no output.
fn fsctl(file: &File, code: u32, input: Option<&DuplicateExtentsData>) -> io::Result<()> {
    let (in_buffer, in_size) = match input {
        Some(data) => (
            data as *const DuplicateExtentsData as *const c_void,
            std::mem::size_of::<DuplicateExtentsData>() as u32,
        ),
        None => (ptr::null(), 0),
    };
    let mut returned = 0u32;
    // SAFETY: `file` owns its handle for the whole call, and a handle in `input` belongs to a
    // `File` the caller holds; `in_buffer` is null or points to `in_size` bytes that outlive the
    // call; there is no output buffer; `returned` is a live local; std opens handles
    // synchronously, so no OVERLAPPED is needed.
    let ok = unsafe {
        DeviceIoControl(
            file.as_raw_handle(),
            code,
            in_buffer,
            in_size,
            ptr::null_mut(),
            0,
            &mut returned,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Cluster size of the volume holding `path`: block clones must start and end on it.
fn cluster_size(path: &Path) -> io::Result<u64> {
    // A relative path would be resolved against the boot volume.
    let name = wide(&std::path::absolute(path)?);
    // The mount point is never longer than the path, plus a trailing backslash.
    let mut root = vec![0u16; name.len() + 2];
    let root_len = u32::try_from(root.len()).unwrap_or(u32::MAX);
    // SAFETY: `name` is NUL-terminated; `root` holds at least `root_len` u16s and lives for the
    // whole call.
    if unsafe { GetVolumePathNameW(name.as_ptr(), root.as_mut_ptr(), root_len) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let (mut spc, mut bps, mut free, mut total) = (0u32, 0u32, 0u32, 0u32);
    // SAFETY: `root` was NUL-terminated by GetVolumePathNameW (and is zero-filled past it); the
    // four pointers are to live locals.
    if unsafe { GetDiskFreeSpaceW(root.as_ptr(), &mut spc, &mut bps, &mut free, &mut total) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let cluster = u64::from(spc) * u64::from(bps); // sectors per cluster × bytes per sector
    if cluster == 0 || cluster > MAX_CHUNK {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "unexpected cluster size",
        ));
    }
    Ok(cluster)
}

fn file_information(path: &Path) -> io::Result<ByHandleFileInformation> {
    // No access rights needed to read metadata; backup semantics to open directories too.
    let file = OpenOptions::new()
        .access_mode(0)
        .share_mode(FILE_SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?;
    let mut info = ByHandleFileInformation::default();
    // SAFETY: `file` owns its handle for the whole call; `info` is a live, writable struct with
    // the documented BY_HANDLE_FILE_INFORMATION layout.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// Whole-directory clones exist on macOS only; callers fall back to per-file work.
pub fn clone_dir(_src: &std::path::Path, _dest: &std::path::Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Windows has no `linkat`: the directory is kept as a path.
pub struct DirHandle(std::path::PathBuf);

pub fn open_dir(path: &Path) -> io::Result<DirHandle> {
    Ok(DirHandle(path.to_path_buf()))
}

/// A hard link to `src` at `rel` under `dir` (CreateHardLinkW through std).
pub fn link_into(src: &Path, dir: &DirHandle, rel: &Path) -> io::Result<()> {
    std::fs::hard_link(src, dir.0.join(rel))
}

/// Copies `input` to `output` (std picks the best way this OS has).
pub fn copy_data(input: &mut File, output: &mut File, _len: u64) -> io::Result<u64> {
    std::io::copy(input, output)
}

/// The volume holding `path` and its filesystem ("NTFS", "ReFS", "FAT32").
pub fn mount_of(path: &Path, _device: u64) -> Option<super::Mount> {
    let mut root = [0u16; 261];
    let p = wide(path);
    // SAFETY: `p` is NUL-terminated; `root` is writable for the length passed.
    if unsafe { GetVolumePathNameW(p.as_ptr(), root.as_mut_ptr(), root.len() as u32) } == 0 {
        return None;
    }
    let mut name = [0u16; 261];
    let null = ptr::null_mut();
    // SAFETY: `root` is the NUL-terminated volume path just written; `name` is writable for the
    // length passed; the optional outputs are null, which the function allows.
    let ok = unsafe {
        GetVolumeInformationW(
            root.as_ptr(),
            null,
            0,
            null.cast(),
            null.cast(),
            null.cast(),
            name.as_mut_ptr(),
            name.len() as u32,
        )
    };
    if ok == 0 {
        return None;
    }
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
pub fn process_alive(pid: u32) -> bool {
    const PROCESS_QUERY_LIMITED_INFORMATION: u32 = 0x1000;
    const STILL_ACTIVE: u32 = 259;
    const ERROR_INVALID_PARAMETER: i32 = 87;
    // SAFETY: OpenProcess takes plain values; a null handle reports failure.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        // No such process; any other failure (access denied) means it exists.
        return io::Error::last_os_error().raw_os_error() != Some(ERROR_INVALID_PARAMETER);
    }
    let mut code = 0u32;
    // SAFETY: `h` is the open process handle from above, closed right after; `code` is writable.
    let alive = unsafe { GetExitCodeProcess(h, &mut code) } == 0 || code == STILL_ACTIVE;
    // SAFETY: `h` is open and owned here.
    unsafe { CloseHandle(h) };
    alive
}
