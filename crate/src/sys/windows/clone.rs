//! Block cloning on ReFS and Dev Drive, following "Block cloning on ReFS":
//! https://learn.microsoft.com/windows/win32/fileio/block-cloning

use super::{cvt, set_readonly};
use std::ffi::c_void;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::mem::size_of;
use std::os::windows::fs::MetadataExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::ptr;
use windows_sys::Win32::Storage::FileSystem::FILE_ATTRIBUTE_SPARSE_FILE;
use windows_sys::Win32::System::Ioctl::{
    DUPLICATE_EXTENTS_DATA, FSCTL_DUPLICATE_EXTENTS_TO_FILE, FSCTL_GET_INTEGRITY_INFORMATION,
    FSCTL_GET_INTEGRITY_INFORMATION_BUFFER, FSCTL_SET_INTEGRITY_INFORMATION,
    FSCTL_SET_INTEGRITY_INFORMATION_BUFFER, FSCTL_SET_SPARSE,
};
use windows_sys::Win32::System::IO::DeviceIoControl;

/// Bytes per clone call: under the documented 4 GiB limit, a multiple of any power-of-two
/// cluster size.
const MAX_CHUNK: u64 = 1 << 30;

/// Block-clones `src` to the new file `dest`. Fails (ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED,
/// ...) on volumes without block cloning.
pub fn clone_file(src: &Path, dest: &Path, meta: &Metadata) -> io::Result<File> {
    let source = File::open(src)?;
    // The open handle's length and attributes: what is cloned is what the handle sees.
    let info = source.metadata()?;
    // Integrity streams (ReFS only: fails elsewhere), and the cluster size clones align to.
    let integrity = get_integrity(&source)?;
    let cluster = u64::from(integrity.ClusterSizeInBytes);
    if cluster == 0 || cluster > MAX_CHUNK || !cluster.is_power_of_two() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "unexpected cluster size",
        ));
    }
    let target = create_new(dest)?;
    let result = duplicate(&source, &target, &info, &integrity, cluster).and_then(|()| {
        if !meta.permissions().readonly() {
            return Ok(());
        }
        // Only the read-only bit: the source's other attributes (hidden, system) stay behind.
        set_readonly(&target)
    });
    if let Err(err) = result {
        drop(target);
        let _ = std::fs::remove_file(dest);
        return Err(err);
    }
    Ok(target)
}

/// Creates `path` exclusively (CREATE_NEW), open for writing.
fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// The integrity-stream setting of `file`, and its volume's cluster size. Fails on volumes
/// without integrity streams (NTFS), which have no block cloning either.
/// https://learn.microsoft.com/windows/win32/api/winioctl/ni-winioctl-fsctl_get_integrity_information
fn get_integrity(file: &File) -> io::Result<FSCTL_GET_INTEGRITY_INFORMATION_BUFFER> {
    let mut out = FSCTL_GET_INTEGRITY_INFORMATION_BUFFER::default();
    fsctl(file, FSCTL_GET_INTEGRITY_INFORMATION, &(), &mut out)?;
    Ok(out)
}

fn duplicate(
    source: &File,
    target: &File,
    info: &Metadata,
    integrity: &FSCTL_GET_INTEGRITY_INFORMATION_BUFFER,
    cluster: u64,
) -> io::Result<()> {
    // Both files must have the same integrity-stream setting, and it can only be changed while
    // the target is empty: first of all. A new file takes its directory's setting, which is
    // usually the source's already.
    let now = get_integrity(target)?;
    if (now.ChecksumAlgorithm, now.Flags) != (integrity.ChecksumAlgorithm, integrity.Flags) {
        let set = FSCTL_SET_INTEGRITY_INFORMATION_BUFFER {
            ChecksumAlgorithm: integrity.ChecksumAlgorithm,
            Reserved: 0,
            Flags: integrity.Flags,
        };
        fsctl(target, FSCTL_SET_INTEGRITY_INFORMATION, &set, &mut ())?;
    }
    if info.file_attributes() & FILE_ATTRIBUTE_SPARSE_FILE != 0 {
        // https://learn.microsoft.com/windows/win32/api/winioctl/ni-winioctl-fsctl_set_sparse
        fsctl(target, FSCTL_SET_SPARSE, &(), &mut ())?;
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
        let data = DUPLICATE_EXTENTS_DATA {
            FileHandle: source.as_raw_handle(),
            SourceFileOffset: offset,
            TargetFileOffset: offset,
            ByteCount: count,
        };
        fsctl(target, FSCTL_DUPLICATE_EXTENTS_TO_FILE, &data, &mut ())?;
        offset += count;
    }
    Ok(())
}

/// A file system control call on `file`, with `input` and `output` as its buffers (`()` for
/// none). https://learn.microsoft.com/windows/win32/api/ioapiset/nf-ioapiset-deviceiocontrol
fn fsctl<I, O>(file: &File, code: u32, input: &I, output: &mut O) -> io::Result<()> {
    // Structs of a few dozen bytes: the sizes fit.
    let (in_size, out_size) = (size_of::<I>() as u32, size_of::<O>() as u32);
    let in_buffer: *const c_void = match in_size {
        0 => ptr::null(),
        _ => ptr::from_ref(input).cast(),
    };
    let out_buffer: *mut c_void = match out_size {
        0 => ptr::null_mut(),
        _ => ptr::from_mut(output).cast(),
    };
    let mut returned = 0u32;
    // SAFETY: `file` owns its handle for the whole call, and a handle inside `input` belongs to
    // a `File` the caller holds; the buffers are null or point to `I` and `O` values of the
    // sizes passed, which outlive the call (DeviceIoControl only reads the input); `returned`
    // is a live local; std opens handles synchronously, so no OVERLAPPED is needed.
    cvt(unsafe {
        DeviceIoControl(
            file.as_raw_handle(),
            code,
            in_buffer,
            in_size,
            out_buffer,
            out_size,
            &mut returned,
            ptr::null_mut(),
        )
    })
}

/// Whole-directory clones exist on macOS only; callers fall back to per-file work.
pub fn clone_dir(_src: &Path, _dest: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}
