//! Temp files next to their final place, with a name `cachelink clean` can recognize:
//! `.<name>.cachelink-<host>-<pid>-<random>` (or `.cachelink-<host>-<pid>-<random>` for very
//! long names), and a guard that removes the file unless the operation completed; a reset's
//! hold is `.<name>.cachelink-held-<host>-<pid>-<random>`. `<host>` is
//! `host_id()`: a clean asks whether `<pid>` still runs only on the host that made the temp.
//! Versions before host ids wrote `.<name>.cachelink-<pid>-<random>`; `scan` still knows them.

use crate::sys;
use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The marker in every temp name.
pub const MARKER: &str = ".cachelink-";

/// Longest file name we prefix, so the temp name stays under NAME_MAX (255 bytes).
const MAX_NAME: usize = 160;

/// Hex digits of a host id.
pub const HOST_LEN: usize = 12;

/// This machine's id in temp names: 48 bits of an FNV-1a hash of `sys::host_facts()` (host
/// name, machine id, boot id and pid namespace on Linux), as 12 lowercase hex digits. The same
/// for every process that sees the same process ids; different on another machine, in a
/// container with its own pid namespace, and after a reboot.
pub fn host_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in sys::host_facts() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{:012x}", h & 0xffff_ffff_ffff)
    })
}

/// `.<name of beside>` (left out for very long names) + `marker` + `<host>-<pid>-<random>`,
/// in the directory of `beside`.
fn name_beside(beside: &Path, marker: &str) -> PathBuf {
    let mut name = OsString::new();
    if let Some(base) = beside.file_name().filter(|b| b.len() <= MAX_NAME) {
        name.push(".");
        name.push(base);
    }
    name.push(format!(
        "{marker}{}-{}-{:016x}",
        host_id(),
        std::process::id(),
        random()
    ));
    match beside.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// A fresh temp path in the directory of `beside`.
pub fn path_beside(beside: &Path) -> PathBuf {
    name_beside(beside, MARKER)
}

/// The marker of a batch import's stage directory.
pub const STAGE_MARKER: &str = ".cachelink-stage-";

/// A fresh stage path beside `into`: `.<name>.cachelink-stage-<host>-<pid>-<random>`.
pub fn stage_beside(into: &Path) -> PathBuf {
    name_beside(into, STAGE_MARKER)
}

/// The marker of a reset's hold: a second link to the fresh inode that keeps the entry looking
/// in use (pnpm's `store prune` deletes store files with one link) until a project links it.
pub const HELD_MARKER: &str = ".cachelink-held-";

/// A fresh hold path beside `entry`: `.<name>.cachelink-held-<host>-<pid>-<random>`. `None` for
/// a name too long to be carried in it (a hold must name the entry it holds, for `clean`).
pub fn held_beside(entry: &Path) -> Option<PathBuf> {
    entry.file_name().filter(|b| b.len() <= MAX_NAME)?;
    Some(name_beside(entry, HELD_MARKER))
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
        let mine = format!(".cdef.cachelink-{}-{}-", host_id(), std::process::id());
        assert!(name.starts_with(&mine), "{name}");
        assert_eq!(host_id().len(), HOST_LEN);
        assert!(host_id()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let long = "x".repeat(250);
        let c = path_beside(&Path::new("/s").join(&long));
        let name = c.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(name.starts_with(".cachelink-") && name.len() < 64, "{name}");
    }
}
