//! Temp files next to their final place, with a name `cachelink clean` can recognize:
//! `.<name>.cachelink-<pid>-<random>` (or `.cachelink-<pid>-<random>` for very long names), and
//! a guard that removes the file unless the operation completed.

use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker in every temp name.
pub const MARKER: &str = ".cachelink-";

/// Longest file name we prefix, so the temp name stays under NAME_MAX (255 bytes).
const MAX_NAME: usize = 160;

/// A fresh temp path in the directory of `beside`.
pub fn path_beside(beside: &Path) -> PathBuf {
    let mut name = OsString::new();
    if let Some(base) = beside.file_name().filter(|b| b.len() <= MAX_NAME) {
        name.push(".");
        name.push(base);
    }
    name.push(format!("{MARKER}{}-{:016x}", std::process::id(), random()));
    match beside.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// The marker of a batch import's stage directory.
pub const STAGE_MARKER: &str = ".cachelink-stage-";

/// A fresh stage path beside `into`: `.<name>.cachelink-stage-<pid>-<random>`.
pub fn stage_beside(into: &Path) -> PathBuf {
    let mut name = OsString::new();
    if let Some(base) = into.file_name().filter(|b| b.len() <= MAX_NAME) {
        name.push(".");
        name.push(base);
    }
    name.push(format!(
        "{STAGE_MARKER}{}-{:016x}",
        std::process::id(),
        random()
    ));
    match into.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// 64 unpredictable-enough bits without a crate: std's per-process random hash keys, mixed with
/// a counter so two temps of one thread never collide.
fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Removes the file at `path` when dropped, unless `keep()` was called.
pub struct Guard {
    path: Option<PathBuf>,
}

impl Guard {
    pub fn new(path: PathBuf) -> Self {
        Guard { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// The operation completed: leave the file (or what was renamed from it) alone.
    pub fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognizable_and_distinct() {
        let a = path_beside(Path::new("/store/ab/cdef"));
        let b = path_beside(Path::new("/store/ab/cdef"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/store/ab")));
        let name = a.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(name.starts_with(".cdef.cachelink-"), "{name}");
        let long = "x".repeat(250);
        let c = path_beside(&Path::new("/s").join(&long));
        let name = c.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(name.starts_with(".cachelink-") && name.len() < 64, "{name}");
    }
}
