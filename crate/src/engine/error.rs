//! The one error type of the engine: the raw OS error, libuv's name for it, the syscall and the
//! paths. The TypeScript facade turns it into Node's fs error (`errno` from
//! `util.getSystemErrorMap()`, Node's message format), so nothing here formats for users.

use crate::errno::{self, Os};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// libuv's code name: "EMLINK", "EXDEV", ... ("UNKNOWN" when libuv has none).
    pub code: &'static str,
    /// The OS's own number (errno, or a Win32 error code); 0 when the error did not come from
    /// the OS.
    pub raw: i32,
    /// What failed, in Node's words: "link", "copyfile", "clone", "symlink", "rename", "open".
    pub syscall: &'static str,
    pub path: PathBuf,
    pub dest: Option<PathBuf>,
    /// In a batch: the entry (its path relative to the destination) that failed.
    pub entry: Option<PathBuf>,
    /// Why, for errors of cachelink's own (`ERR_CACHELINK_*`) that no OS code describes.
    pub detail: Option<&'static str>,
}

/// `ERR_CACHELINK_SOURCE_CHANGED`: the file being copied had another size at the end than at
/// the start (something wrote to or truncated the cache entry meanwhile). Not EIO: the disk is
/// fine, and the same call again may well succeed. What was written is removed.
const SOURCE_CHANGED: &str = "the source changed size while it was copied";

impl Error {
    pub fn new(
        code: &'static str,
        syscall: &'static str,
        path: &Path,
        dest: Option<&Path>,
    ) -> Self {
        Error {
            code,
            raw: 0,
            syscall,
            path: path.to_path_buf(),
            dest: dest.map(Path::to_path_buf),
            entry: None,
            detail: None,
        }
    }

    /// Wraps an `io::Error` with what was being done, naming it the way libuv would.
    pub fn io(err: &io::Error, syscall: &'static str, path: &Path, dest: Option<&Path>) -> Self {
        if err
            .get_ref()
            .is_some_and(|e| e.is::<crate::sys::SourceChanged>())
        {
            return Error {
                detail: Some(SOURCE_CHANGED),
                ..Error::new("ERR_CACHELINK_SOURCE_CHANGED", syscall, path, dest)
            };
        }
        let (code, raw) = match err.raw_os_error() {
            Some(raw) => (errno::name(errno::CURRENT, raw), raw),
            None => (kind_code(err.kind()), 0),
        };
        Error {
            code,
            raw,
            syscall,
            path: path.to_path_buf(),
            dest: dest.map(Path::to_path_buf),
            entry: None,
            detail: None,
        }
    }

    /// The same error as the OS `os` would name `raw` (for classification tests of other OSes).
    pub fn from_raw(os: Os, raw: i32, syscall: &'static str) -> Self {
        Error {
            code: errno::name(os, raw),
            raw,
            syscall,
            path: PathBuf::new(),
            dest: None,
            entry: None,
            detail: None,
        }
    }

    /// An error of cachelink's own, such as `ERR_CACHELINK_UNSAFE_PATH`, with its reason.
    pub fn own(code: &'static str, detail: &'static str, path: &Path, dest: Option<&Path>) -> Self {
        Error {
            detail: Some(detail),
            ..Error::new(code, "import", path, dest)
        }
    }

    /// The same error, naming the batch entry it happened on.
    pub fn at_entry(mut self, entry: &Path) -> Self {
        self.entry = Some(entry.to_path_buf());
        self
    }

    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }
}

/// Codes for std errors that carry no OS number (std's own checks, such as a NUL in a path).
fn kind_code(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::NotFound => "ENOENT",
        io::ErrorKind::PermissionDenied => "EACCES",
        io::ErrorKind::AlreadyExists => "EEXIST",
        io::ErrorKind::InvalidInput => "EINVAL",
        io::ErrorKind::Unsupported => "ENOTSUP",
        io::ErrorKind::Interrupted => "EINTR",
        io::ErrorKind::UnexpectedEof | io::ErrorKind::WriteZero => "EIO",
        _ => "UNKNOWN",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} '{}'",
            self.code,
            self.syscall,
            self.path.display()
        )?;
        if let Some(dest) = &self.dest {
            write!(f, " -> '{}'", dest.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
