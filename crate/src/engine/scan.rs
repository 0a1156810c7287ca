//! `scan`: walk a cache and report what an operator needs to see: how many files and bytes, how
//! many links its entries have, which are at or near the link limit, and what interrupted work
//! left behind. `clean` removes those leftovers.
//!
//! A leftover is a name in exactly the format `temp` writes, on the kind of file it writes: a
//! temp (`.<name>.cachelink-<host>-<pid>-<random>`, or an older version's
//! `.<name>.cachelink-<pid>-<random>`) is a regular file or a symlink, a stage
//! (`.<name>.cachelink-stage-…`) a directory. A name that has the format but not the leading
//! dot, or is on another kind of file, is someone else's: walked like any other, never removed,
//! and listed as `Unrecognized`.
//!
//! Age is since the last status change (ctime), which nobody can set back: a reset stamps its
//! entry's old mtime on its temp, and `utimes` itself makes the ctime now. Windows reads no
//! change time from a directory listing; there it is the creation time, which the reset and the
//! copy do not set: a temp is created by the operation it belongs to, so its creation time is
//! when that began.
//!
//! Names are handled as the OS gives them (bytes on Unix): a name that is not UTF-8 is walked,
//! reported (escaped, see `display`) and can be reset or removed like any other.

use super::batch::Control;
use super::error::{Error, Result};
use super::temp::{self, HELD_MARKER, HOST_LEN, MARKER, STAGE_MARKER};
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
    /// Names that look like leftovers but are not exactly one (walked like any other entry).
    pub unrecognized: Vec<Unrecognized>,
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
    /// An import's stage directory (else a temp file of a reset or copy, or a hold).
    pub stage: bool,
    /// A reset's hold (`reset::hold_link`): a second link to an entry's fresh inode, removed
    /// by `clean` once it has done its work (`hold_done`), not by age and process alone.
    pub held: bool,
    /// The process that made it, from its name.
    pub pid: u32,
    /// The host id in its name (`temp::host_id()` of the machine that made it); `None` in the
    /// names of versions before host ids.
    pub host: Option<String>,
    /// Milliseconds since its last status change (see the module's notes).
    pub age_ms: u64,
}

impl Leftover {
    /// Made on this machine: `Some(true)` when its host id is ours, `None` when its name has
    /// none (an older version's, whose pid is looked up here as it always was).
    pub fn this_host(&self) -> Option<bool> {
        self.host.as_deref().map(|h| h == temp::host_id())
    }

    /// Its process may still be running: asked only of a leftover of this machine.
    fn maybe_running(&self) -> bool {
        match self.this_host() {
            Some(false) => false,
            _ => self.pid == std::process::id() || sys::process_alive(self.pid),
        }
    }
}

/// Why a name that looks like a leftover is not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The format after a name, without the leading dot: `notes.cachelink-1-<16 hex>`.
    NoLeadingDot,
    /// A temp's name on a directory.
    Directory,
    /// A temp's name on a FIFO, socket or device.
    NotARegularFile,
    /// A stage's name on something that is not a directory.
    NotADirectory,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrecognized {
    pub path: PathBuf,
    pub why: Why,
}

/// What a temp or stage name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftoverName {
    pub pid: u32,
    pub stage: bool,
    pub held: bool,
    /// `None` in the old format (no host).
    pub host: Option<String>,
    /// It starts with a dot, as every name `temp` makes does.
    pub dotted: bool,
}

/// What a name in the format of a temp, a stage or a hold says: after the last `.cachelink-`,
/// optionally `stage-` or `held-`, then `<12 hex host>-<pid>-<16 hex>` or (older versions)
/// `<pid>-<16 hex>`. `None` for any other name.
pub fn leftover_name(name: &[u8]) -> Option<LeftoverName> {
    let at = find_last(name, MARKER.as_bytes())?;
    let rest = &name[at + MARKER.len()..];
    let stage_word = &STAGE_MARKER.as_bytes()[MARKER.len()..];
    let held_word = &HELD_MARKER.as_bytes()[MARKER.len()..];
    let (rest, stage, held) = match (rest.strip_prefix(stage_word), rest.strip_prefix(held_word)) {
        (Some(r), _) => (r, true, false),
        (_, Some(r)) => (r, false, true),
        _ => (rest, false, false),
    };
    let parts: Vec<&[u8]> = rest.split(|&b| b == b'-').collect();
    let (host, pid, random) = match parts[..] {
        [pid, random] => (None, pid, random),
        [host, pid, random] => (Some(host), pid, random),
        _ => return None,
    };
    let lower_hex = |s: &[u8], len: usize| {
        s.len() == len
            && s.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let random_ok = random.len() == 16 && random.iter().all(u8::is_ascii_hexdigit);
    if host.is_some_and(|h| !lower_hex(h, HOST_LEN))
        || pid.is_empty()
        || pid.len() > 10
        || !pid.iter().all(u8::is_ascii_digit)
        || !random_ok
    {
        return None;
    }
    Some(LeftoverName {
        pid: std::str::from_utf8(pid).ok()?.parse().ok()?,
        stage,
        held,
        host: host.map(|h| String::from_utf8_lossy(h).into_owned()),
        dotted: name.first() == Some(&b'.'),
    })
}

/// A name cachelink made for its own work, on the kind of file it makes there (what `scan`
/// collects as a leftover instead of visiting): a temp (a regular file or a symlink), a stage (a
/// directory), a hold (a regular file). Never an entry of a walk that materializes or reports a cache (`import_tree`):
/// another process's reset renames its temp over the entry at any moment, and a stage is half
/// an import. Look-alikes (no leading dot, another kind of file) are someone else's files.
pub fn is_own(name: &std::ffi::OsStr, kind: fs::FileType) -> bool {
    leftover_name(&path_bytes(Path::new(name))).is_some_and(|n| {
        n.dotted
            && if n.stage {
                kind.is_dir()
            } else if n.held {
                kind.is_file()
            } else {
                kind.is_file() || kind.is_symlink()
            }
    })
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
    unrecognized: Vec<Unrecognized>,
    /// Directories that could not be read, with libuv's code for why.
    unreadable: Vec<(PathBuf, &'static str)>,
}

/// Visits everything under `root` but leftovers (not following symlinks), which it collects
/// instead of entering (look-alikes are visited, and noted); counts visits in `ctl.done` and stops with ABORT_ERR when `ctl.abort`
/// is set.
fn walk(root: &Path, ctl: &Control, mut visit: impl FnMut(&Path, &Metadata)) -> Result<Walked> {
    let meta = fs::metadata(root).map_err(|e| Error::io(&e, "scandir", root, None))?;
    if !meta.is_dir() {
        return Err(Error::new("ENOTDIR", "scandir", root, None));
    }
    let now = SystemTime::now();
    let mut w = Walked {
        leftovers: Vec::new(),
        unrecognized: Vec::new(),
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
            match leftover(&path, &meta, now) {
                Some(Ok(l)) => {
                    w.leftovers.push(l);
                    continue;
                }
                Some(Err(why)) => w.unrecognized.push(Unrecognized {
                    path: path.clone(),
                    why,
                }),
                None => {}
            }
            visit(&path, &meta);
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    Ok(w)
}

/// Since its last status change (see the module's notes).
fn age_ms(meta: &Metadata, now: SystemTime) -> u64 {
    let changed = changed(meta).unwrap_or(now);
    now.duration_since(changed)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(unix)]
fn changed(meta: &Metadata) -> Option<SystemTime> {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, UNIX_EPOCH};
    let secs = u64::try_from(meta.ctime()).unwrap_or(0);
    let nanos = u32::try_from(meta.ctime_nsec()).unwrap_or(0);
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos.min(999_999_999)))
}

#[cfg(not(unix))]
fn changed(meta: &Metadata) -> Option<SystemTime> {
    meta.created().ok()
}

/// The age of the youngest entry under `dir` (symlinks not followed), or `u64::MAX` for none;
/// stops at the first one younger than `enough`.
fn youngest_in(dir: &Path, now: SystemTime, enough: u64) -> u64 {
    let mut youngest = u64::MAX;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for item in fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = item.metadata() else { continue };
            youngest = youngest.min(age_ms(&meta, now));
            if youngest < enough {
                return youngest;
            }
            if meta.is_dir() {
                pending.push(item.path());
            }
        }
    }
    youngest
}

/// A leftover, a look-alike (`Err`), or neither (`None`).
fn leftover(
    path: &Path,
    meta: &Metadata,
    now: SystemTime,
) -> Option<std::result::Result<Leftover, Why>> {
    let name = leftover_name(&path_bytes(Path::new(path.file_name()?)))?;
    let kind = meta.file_type();
    let why = if !name.dotted {
        Some(Why::NoLeadingDot)
    } else if name.stage {
        (!kind.is_dir()).then_some(Why::NotADirectory)
    } else if kind.is_dir() {
        Some(Why::Directory)
    } else {
        (!kind.is_file() && (name.held || !kind.is_symlink())).then_some(Why::NotARegularFile)
    };
    if let Some(why) = why {
        return Some(Err(why));
    }
    Some(Ok(Leftover {
        path: path.to_path_buf(),
        stage: name.stage,
        held: name.held,
        pid: name.pid,
        host: name.host,
        age_ms: age_ms(meta, now),
    }))
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
    s.unrecognized = walked.unrecognized;
    s.unreadable = walked.unreadable;
    s.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(s)
}

/// How long a hold keeps an entry that nobody links: 30 days since the inode's last status
/// change (a link or unlink of it, by anyone). Reset entries are those near the link limit, the
/// most used ones, which the next install links; one that none links for this long is let go,
/// and pnpm's `store prune` may then take it.
pub const HOLD_MS: u64 = 30 * 24 * 3600 * 1000;

/// A hold (`reset::hold_link`) has done its work: the entry it names has a link besides the
/// hold (a project linked it: `store prune` leaves it now), or names another inode or nothing
/// (reset again, removed) and the hold is `older_than_ms` old (a reset makes its hold just
/// before it renames the fresh inode over the entry), or it is `HOLD_MS` old.
fn hold_done(l: &Leftover, older_than_ms: u64) -> bool {
    if l.age_ms >= HOLD_MS {
        return true;
    }
    let Ok(held) = fs::symlink_metadata(&l.path) else {
        return false; // gone meanwhile
    };
    let same = held_entry(&l.path)
        .and_then(|entry| {
            let meta = fs::symlink_metadata(&entry).ok()?;
            let (e, h) = (
                sys::file_id(&entry, &meta).ok()?,
                sys::file_id(&l.path, &held).ok()?,
            );
            Some((e.same_file(&h), e.nlink))
        })
        .filter(|&(same, _)| same);
    match same {
        Some((_, links)) => links > 2,
        None => l.age_ms >= older_than_ms,
    }
}

/// The entry a hold `.<name>.cachelink-held-…` holds: `<name>` beside it.
fn held_entry(held: &Path) -> Option<PathBuf> {
    let bytes = path_bytes(Path::new(held.file_name()?)).into_owned();
    let at = find_last(&bytes, HELD_MARKER.as_bytes())?;
    let base = bytes.get(1..at).filter(|b| !b.is_empty())?;
    Some(held.with_file_name(os_name(base)?))
}

#[cfg(unix)]
fn os_name(bytes: &[u8]) -> Option<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    Some(std::ffi::OsStr::from_bytes(bytes).to_owned())
}

#[cfg(not(unix))]
fn os_name(bytes: &[u8]) -> Option<std::ffi::OsString> {
    std::str::from_utf8(bytes)
        .ok()
        .map(std::ffi::OsString::from)
}

/// What `clean` removed (or, dry run, would remove), and the look-alikes it left.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cleaned {
    pub removed: Vec<Leftover>,
    pub unrecognized: Vec<Unrecognized>,
}

/// Removes (unless `dry_run`) the holds that have done their work (`hold_done`), and the other
/// leftovers under `root` that are at least `older_than_ms` old and whose process is not running: asked on this machine for a leftover of this machine (or
/// of an older version, whose name has no host); another machine's goes by age alone. Returns
/// what was (or would be) removed, and the look-alikes left; one that cannot be removed is an
/// error naming it.
pub fn clean(root: &Path, older_than_ms: u64, dry_run: bool, ctl: &Control) -> Result<Cleaned> {
    let walked = walk(root, ctl, |_, _| {})?;
    let (held, mut found): (Vec<Leftover>, Vec<Leftover>) =
        walked.leftovers.into_iter().partition(|l| l.held);
    found.retain(|l| l.age_ms >= older_than_ms && !l.maybe_running());
    // A stage's own ctime changes only when its top level does: one being filled deeper down
    // is young if anything in it is.
    let now = SystemTime::now();
    for l in found.iter_mut().filter(|l| l.stage) {
        l.age_ms = l.age_ms.min(youngest_in(&l.path, now, older_than_ms));
    }
    found.retain(|l| l.age_ms >= older_than_ms);
    found.extend(held.into_iter().filter(|l| hold_done(l, older_than_ms)));
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
    Ok(Cleaned {
        removed: found,
        unrecognized: walked.unrecognized,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(name: &[u8]) -> Option<(u32, bool, Option<String>, bool)> {
        leftover_name(name).map(|n| (n.pid, n.stage, n.host, n.dotted))
    }

    #[test]
    fn held_names() {
        let n = leftover_name(b".abc.cachelink-held-0123456789ab-12-00ff00ff00ff00ff").unwrap();
        assert!(n.held && !n.stage && n.dotted && n.pid == 12);
        assert_eq!(
            held_entry(Path::new(
                "/s/ab/.cdef-exec.cachelink-held-0123456789ab-1-0123456789abcdef"
            )),
            Some(PathBuf::from("/s/ab/cdef-exec"))
        );
        let made = temp::held_beside(Path::new("/s/ab/cdef")).unwrap();
        assert_eq!(held_entry(&made), Some(PathBuf::from("/s/ab/cdef")));
        assert!(temp::held_beside(&Path::new("/s").join("x".repeat(250))).is_none());
    }

    #[test]
    fn leftover_names() {
        assert_eq!(
            parsed(b".abc.cachelink-123-00ff00ff00ff00ff"),
            Some((123, false, None, true))
        );
        assert_eq!(
            parsed(b".pkg.cachelink-stage-9-0123456789abcdef"),
            Some((9, true, None, true))
        );
        assert_eq!(
            parsed(b".cachelink-1-0123456789abcdef"),
            Some((1, false, None, true))
        );
        assert_eq!(
            parsed(b".abc.cachelink-0123456789ab-123-00ff00ff00ff00ff"),
            Some((123, false, Some("0123456789ab".into()), true))
        );
        assert_eq!(
            parsed(b".p.cachelink-stage-0123456789ab-9-0123456789abcdef"),
            Some((9, true, Some("0123456789ab".into()), true))
        );
        // The format without the leading dot: parsed, but not dotted (left, and reported).
        assert_eq!(
            parsed(b"notes.cachelink-999999-0123456789abcdef"),
            Some((999999, false, None, false))
        );
        // A name that only looks like one is not touched.
        assert_eq!(parsed(b"a.cachelink-1-0123"), None);
        assert_eq!(parsed(b"a.cachelink-x-0123456789abcdef"), None);
        assert_eq!(parsed(b"a.cachelink-1-0123456789abcdefg"), None);
        assert_eq!(
            parsed(b".a.cachelink-0123456789AB-1-0123456789abcdef"),
            None
        );
        assert_eq!(parsed(b".a.cachelink-0123456789a-1-0123456789abcdef"), None);
        assert_eq!(
            parsed(b".a.cachelink-0123456789ab-1-2-0123456789abcdef"),
            None
        );
        assert_eq!(parsed(b".a.cachelink--0123456789abcdef"), None);
        assert_eq!(parsed(b"cachelink"), None);
        assert_eq!(
            parsed(b".\xff.cachelink-7-0123456789abcdef"),
            Some((7, false, None, true))
        );
    }

    #[test]
    fn temp_names_parse_back() {
        let names = [
            temp::path_beside(Path::new("/s/ab/cdef")),
            temp::stage_beside(Path::new("/n/pkg")),
            temp::path_beside(&Path::new("/s").join("x".repeat(250))),
        ];
        for (path, stage) in names.iter().zip([false, true, false]) {
            let name = path_bytes(Path::new(path.file_name().unwrap_or_default())).into_owned();
            let n = leftover_name(&name);
            assert_eq!(
                n,
                Some(LeftoverName {
                    pid: std::process::id(),
                    stage,
                    held: false,
                    host: Some(temp::host_id().to_string()),
                    dotted: true,
                }),
                "{path:?}"
            );
        }
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
