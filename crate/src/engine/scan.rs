//! `scan`: walk a cache and report what an operator needs to see: how many files and bytes, how
//! many links its entries have, which are at or near the link limit, and what interrupted work
//! left behind. `clean` removes those leftovers.
//!
//! Names are handled as the OS gives them (bytes on Unix): a name that is not UTF-8 is walked,
//! reported (escaped, see `display`) and can be reset or removed like any other.

use super::batch::Control;
use super::error::{Error, Result};
use super::temp::{MARKER, STAGE_MARKER};
use crate::sys;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime};

/// Lower bounds of the link-count histogram's buckets: 1, 2-9, 10-99, ... 10,000 and more.
pub const BUCKETS: [u64; 6] = [1, 2, 10, 100, 1_000, 10_000];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    pub files: u64,
    pub bytes: u64,
    pub dirs: u64,
    /// Symlinks and anything else that is not a regular file or directory.
    pub others: u64,
    /// Files per link-count bucket (`BUCKETS`).
    pub histogram: [u64; BUCKETS.len()],
    pub most_links: u64,
    /// Files with at least `near_at` links, most links first.
    pub near: Vec<Near>,
    pub leftovers: Vec<Leftover>,
    /// Directories that could not be read, with libuv's code for why.
    pub unreadable: Vec<(PathBuf, &'static str)>,
    pub elapsed_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Near {
    pub path: PathBuf,
    pub links: u64,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    /// An import's stage directory (else a temp file of a reset or copy).
    pub stage: bool,
    /// The process that made it, from its name.
    pub pid: u32,
    pub age_ms: u64,
}

/// The pid in a temp or stage name (`….cachelink-<pid>-<16 hex>` or
/// `….cachelink-stage-<pid>-<16 hex>`), with whether it is a stage; `None` for any other name.
pub fn leftover_name(name: &[u8]) -> Option<(u32, bool)> {
    let at = find_last(name, MARKER.as_bytes())?;
    let rest = &name[at + MARKER.len()..];
    let stage_word = &STAGE_MARKER.as_bytes()[MARKER.len()..];
    let (rest, stage) = match rest.strip_prefix(stage_word) {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let dash = rest.iter().position(|&b| b == b'-')?;
    let (pid, hex) = (&rest[..dash], &rest[dash + 1..]);
    let hex_ok = hex.len() == 16 && hex.iter().all(|b| b.is_ascii_hexdigit());
    if pid.is_empty() || pid.len() > 10 || !pid.iter().all(u8::is_ascii_digit) || !hex_ok {
        return None;
    }
    let pid = std::str::from_utf8(pid).ok()?.parse().ok()?;
    Some((pid, stage))
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?)
        .rev()
        .find(|&i| hay[i..].starts_with(needle))
}

/// A path for people: as is when it is UTF-8, else with each byte that is not part of valid
/// UTF-8 written `\xNN`.
pub fn display(path: &Path) -> (String, bool) {
    let bytes = path_bytes(path);
    let mut out = String::with_capacity(bytes.len());
    let mut exact = true;
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
            exact = false;
        }
    }
    (out, exact)
}

#[cfg(unix)]
pub fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(path.as_os_str().as_bytes())
}

/// Windows names are UTF-16: an unpaired surrogate shows as U+FFFD.
#[cfg(not(unix))]
pub fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Owned(path.to_string_lossy().into_owned().into_bytes())
}

/// What a walk found besides what it handed to its visitor.
struct Walked {
    leftovers: Vec<Leftover>,
    /// Directories that could not be read, with libuv's code for why.
    unreadable: Vec<(PathBuf, &'static str)>,
}

/// Visits everything under `root` but leftovers (not following symlinks), which it collects
/// instead of entering; counts visits in `ctl.done` and stops with ABORT_ERR when `ctl.abort`
/// is set.
fn walk(root: &Path, ctl: &Control, mut visit: impl FnMut(&Path, &Metadata)) -> Result<Walked> {
    let meta = fs::metadata(root).map_err(|e| Error::io(&e, "scandir", root, None))?;
    if !meta.is_dir() {
        return Err(Error::new("ENOTDIR", "scandir", root, None));
    }
    let now = SystemTime::now();
    let mut w = Walked {
        leftovers: Vec::new(),
        unreadable: Vec::new(),
    };
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if ctl.abort.load(Relaxed) != 0 {
            return Err(Error::new("ABORT_ERR", "scandir", root, None));
        }
        let list = match fs::read_dir(&dir) {
            Ok(list) => list,
            Err(e) if dir == root => return Err(Error::io(&e, "scandir", &dir, None)),
            Err(e) => {
                w.unreadable
                    .push((dir, Error::io(&e, "scandir", root, None).code));
                continue;
            }
        };
        for item in list.flatten() {
            let path = item.path();
            // fstatat relative to the open directory, not a walk of the whole path.
            let Ok(meta) = item.metadata() else {
                continue; // gone since the listing
            };
            ctl.done.fetch_add(1, Relaxed);
            if let Some(l) = leftover(&path, &meta, now) {
                w.leftovers.push(l);
                continue;
            }
            visit(&path, &meta);
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    Ok(w)
}

fn age_ms(meta: &Metadata, now: SystemTime) -> u64 {
    let modified = meta.modified().unwrap_or(now);
    now.duration_since(modified)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn leftover(path: &Path, meta: &Metadata, now: SystemTime) -> Option<Leftover> {
    let (pid, stage) = leftover_name(&path_bytes(Path::new(path.file_name()?)))?;
    Some(Leftover {
        path: path.to_path_buf(),
        stage: stage && meta.is_dir(),
        pid,
        age_ms: age_ms(meta, now),
    })
}

/// Walks the cache at `root`. Files with at least `near_at` links (when given) are listed.
pub fn scan(root: &Path, near_at: Option<u64>, ctl: &Control) -> Result<Scan> {
    let started = Instant::now();
    let mut s = Scan::default();
    let walked = walk(root, ctl, |path, meta| {
        if meta.is_dir() {
            s.dirs += 1;
        } else if meta.is_file() {
            let links = sys::file_id(path, meta).map(|id| id.nlink).unwrap_or(1);
            s.files += 1;
            s.bytes += meta.len();
            s.most_links = s.most_links.max(links);
            let bucket = BUCKETS.iter().rposition(|&b| links >= b).unwrap_or(0);
            s.histogram[bucket] += 1;
            if near_at.is_some_and(|n| links >= n) {
                s.near.push(Near {
                    path: path.to_path_buf(),
                    links,
                    size: meta.len(),
                });
            }
        } else {
            s.others += 1;
        }
    })?;
    s.near
        .sort_by(|a, b| b.links.cmp(&a.links).then_with(|| a.path.cmp(&b.path)));
    s.leftovers = walked.leftovers;
    s.unreadable = walked.unreadable;
    s.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(s)
}

/// Removes (unless `dry_run`) the leftovers under `root` whose process no longer runs on this
/// machine and that are at least `older_than_ms` old. Returns what was (or would be) removed;
/// one that cannot be removed is an error naming it.
pub fn clean(
    root: &Path,
    older_than_ms: u64,
    dry_run: bool,
    ctl: &Control,
) -> Result<Vec<Leftover>> {
    let mut found = walk(root, ctl, |_, _| {})?.leftovers;
    let me = std::process::id();
    found.retain(|l| l.age_ms >= older_than_ms && l.pid != me && !sys::process_alive(l.pid));
    if !dry_run {
        for l in &found {
            let removed = if l.stage {
                fs::remove_dir_all(&l.path)
            } else {
                fs::remove_file(&l.path)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::io(
                        &e,
                        if l.stage { "rm" } else { "unlink" },
                        &l.path,
                        None,
                    ))
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_names() {
        assert_eq!(
            leftover_name(b".abc.cachelink-123-00ff00ff00ff00ff"),
            Some((123, false))
        );
        assert_eq!(
            leftover_name(b".pkg.cachelink-stage-9-0123456789abcdef"),
            Some((9, true))
        );
        assert_eq!(
            leftover_name(b".cachelink-1-0123456789abcdef"),
            Some((1, false))
        );
        // A name that only looks like one is not touched.
        assert_eq!(leftover_name(b"a.cachelink-1-0123"), None);
        assert_eq!(leftover_name(b"a.cachelink-x-0123456789abcdef"), None);
        assert_eq!(leftover_name(b"a.cachelink-1-0123456789abcdefg"), None);
        assert_eq!(leftover_name(b"cachelink"), None);
        assert_eq!(
            leftover_name(b".\xff.cachelink-7-0123456789abcdef"),
            Some((7, false))
        );
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/c/caf\xe9/x"));
        assert_eq!(display(p), ("/c/caf\\xE9/x".to_string(), false));
        assert_eq!(display(Path::new("/c/café")), ("/c/café".to_string(), true));
    }
}
