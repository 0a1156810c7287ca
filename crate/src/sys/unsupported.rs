//! Unix systems without a clone call we know: clone is reported as not supported (ENOTSUP),
//! so `auto` moves on to the next method.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

pub fn clone_file(_src: &Path, _dest: &Path, _meta: &Metadata) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "clone is not supported on this OS",
    ))
}

/// Whole-directory clones exist on macOS only; callers fall back to per-file work.
pub fn clone_dir(_src: &Path, _dest: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Copies `input` to `output` (std picks the best way this OS has).
pub(super) fn copy_data(input: &mut File, output: &mut File, _len: u64) -> io::Result<u64> {
    io::copy(input, output)
}

pub fn mount_of(_path: &Path, _device: u64) -> Option<super::Mount> {
    None
}

pub fn pathconf_link_max(_path: &Path) -> Option<u64> {
    None
}

/// No files without a name here: copies go through a named temp file.
pub fn copy_unnamed(
    _src: &Path,
    _dest: &Path,
    _meta: &Metadata,
) -> Option<Result<(), super::CopyError>> {
    None
}

/// No exclusive rename known here: callers fall back to a hard link.
pub fn rename_noreplace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// No exchanging rename known here: callers rename one way, then the other.
pub fn rename_exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The mount holding `path`, as a key for the fallback memo: its device (`st_dev`), which a
/// mount of its own always has on other Unix systems (no bind mounts).
pub fn mount_key(path: &Path) -> io::Result<u64> {
    super::unix::dir_device(path)
}
