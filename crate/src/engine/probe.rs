//! `probe`: what works between a cache and a target directory, found by trying each method with
//! a file the cache already has, into temp names in the target (removed after).
//!
//! Nothing is written into the cache: a read-only cache is exactly what a probe must explain. The
//! source is the first non-empty regular file of a bounded walk of the cache (`MAX_ENTRIES`
//! directory entries, breadth first: a pnpm store keeps its files under `files/xx/`, uv under
//! `archive-v0/...`); only a cache without any such file gets a temp file of its own, when it
//! is writable. Each method is tried by its primitive (`fs::hard_link`, `sys::clone_file`,
//! `sys::symlink_file`, `sys::copy_file`), never through `link_file`, so the process's fallback
//! memo is neither read nor changed; what `auto` would do is worked out from those results in
//! `auto`'s order (`method::chain`), with `method::classify` deciding, as `link_file` does,
//! which failures move on.

use super::error::{Error, Result};
use super::fsinfo::{self, FsInfo};
use super::method::{chain, classify, Class, Method, Requested};
use super::temp;
use crate::errno;
use crate::sys;
use std::collections::VecDeque;
use std::fs::{self, Metadata};
use std::io::Write;
use std::path::{Path, PathBuf};

/// At most this many directory entries are looked at to find a file to try with.
pub const MAX_ENTRIES: usize = 4096;

/// Files at their link limit tried before giving up on hard links (the next file found is
/// tried instead: a full file says nothing about links between the two places).
const FULL_FILES: usize = 8;

/// The order methods are reported in.
pub const METHODS: [Method; 4] = [
    Method::Hardlink,
    Method::Clone,
    Method::Symlink,
    Method::Copy,
];

/// The file the methods were tried with.
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    /// Made for the probe (the cache had no file) and removed after.
    pub temp: bool,
}

#[derive(Debug)]
pub struct Probe {
    pub cache: FsInfo,
    pub target: FsInfo,
    pub source: Option<Source>,
    /// Whether new files can be made where a reset would make them (the source's directory, or
    /// the cache's when it has no file): the code that says no.
    pub cache_write_error: Option<&'static str>,
    /// Per method of `METHODS`: `None` when not tried (no source), else its result's code.
    pub methods: [Option<std::result::Result<(), &'static str>>; 4],
    pub auto: Auto,
    /// Whether a hard link that was made left the source reading one link (`Some(true)`: the
    /// filesystem hides link counts, as SFTP through sshfs does, so `max_links` cannot be
    /// applied and the link limit shows as EPERM); `None` when no hard link was made.
    pub link_counts_hidden: Option<bool>,
}

/// What `link_file` with `auto` would do between the two places, by the per-method results.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Auto {
    pub method: Option<Method>,
    /// Methods that do not work here, moved past, with their codes.
    pub fallbacks: Vec<(Method, &'static str)>,
    /// The method whose failure is not "unsupported here" (EROFS, EACCES, ...), with its code:
    /// `link_file` would fail with it.
    pub error: Option<(Method, &'static str)>,
}

pub fn probe(cache: &Path, target: &Path) -> Result<Probe> {
    let info = |dir: &Path| -> Result<FsInfo> {
        let meta = fs::metadata(dir).map_err(|e| Error::io(&e, "stat", dir, None))?;
        if !meta.is_dir() {
            return Err(Error::new("ENOTDIR", "stat", dir, None));
        }
        fsinfo::fs_info(dir).map_err(|e| Error::io(&e, "stat", dir, None))
    };
    let cache_info = info(cache)?;
    let target_info = info(target)?;
    let mut found = Found::new(cache);
    let mut source = found.next();
    let write_dir = match &source {
        Some((path, _)) => path.parent().unwrap_or(cache).to_path_buf(),
        None => cache.to_path_buf(),
    };
    let cache_write_error = sys::dir_writable(&write_dir)
        .err()
        .map(|e| Error::io(&e, "access", &write_dir, None).code);
    // Only a cache without a file, and writable, gets one of ours: removed when `_made` drops.
    let mut _made = None;
    let mut temp_source = false;
    if source.is_none() && cache_write_error.is_none() {
        if let Some((guard, meta)) = temp_file(cache) {
            source = Some((guard.path().to_path_buf(), meta));
            _made = Some(guard);
            temp_source = true;
        }
    }
    let mut methods = [None; 4];
    let mut link_counts_hidden = None;
    if let Some((mut src, mut meta)) = source.take() {
        for (i, method) in METHODS.into_iter().enumerate() {
            let mut result = attempt(method, &src, &meta, target);
            // A file at its link limit: try the next one the walk finds, a few times.
            let mut full = 0;
            while method == Method::Hardlink
                && !temp_source
                && full < FULL_FILES
                && result.as_ref().is_err_and(|e| e.is("EMLINK"))
            {
                full += 1;
                let Some(next) = found.next() else { break };
                (src, meta) = next;
                result = attempt(method, &src, &meta, target);
            }
            if let Ok(Some(hidden)) = result {
                link_counts_hidden = Some(hidden);
            }
            methods[i] = Some(result.map(drop).map_err(|e| e.code));
        }
        source = Some((src, meta));
    }
    // Whether a hard link's EPERM says "no links on this filesystem" or "not this file"
    // (protected_hardlinks), as `link_file` tells them apart.
    let may_link = source
        .as_ref()
        .is_none_or(|(src, meta)| sys::may_link(src, meta));
    let auto = auto(&methods, cache_write_error.is_none(), may_link);
    Ok(Probe {
        cache: cache_info,
        target: target_info,
        source: source.map(|(path, _)| Source {
            path,
            temp: temp_source,
        }),
        cache_write_error,
        methods,
        auto,
        link_counts_hidden,
    })
}

/// `auto`'s choice from the per-method results, in `auto`'s order on this OS: the first that
/// works; a failure `classify` calls unsupported moves on (as in `link_file`), any other stops.
/// A hard link refused at the link limit (every file tried was full) is a reset and a link
/// where the cache is writable, a copy where it is not, as `link_file` would do.
fn auto(
    methods: &[Option<std::result::Result<(), &'static str>>; 4],
    writable: bool,
    may_link: bool,
) -> Auto {
    let mut out = Auto::default();
    let order = chain(Requested::Auto, true, errno::CURRENT);
    for (i, &method) in order.iter().enumerate() {
        let Some(at) = METHODS.iter().position(|&m| m == method) else {
            continue;
        };
        let code = match methods[at] {
            None => return out,
            Some(Ok(())) => {
                out.method = Some(method);
                return out;
            }
            Some(Err(code)) => code,
        };
        let last = i + 1 == order.len();
        let err = Error::new(code, method.syscall(), Path::new(""), None);
        match classify(method, errno::CURRENT, &err, may_link) {
            Class::Unsupported | Class::Refused | Class::Denied if !last => {
                out.fallbacks.push((method, code))
            }
            Class::LinkLimit => {
                out.method = Some(if writable { method } else { Method::Copy });
                return out;
            }
            _ => {
                out.error = Some((method, code));
                return out;
            }
        }
    }
    out
}

/// One method from `src` to a temp name in `target`, removed after. For a hard link made,
/// whether the link counts are hidden: the link, looked at before it is removed, reads one.
fn attempt(method: Method, src: &Path, meta: &Metadata, target: &Path) -> Result<Option<bool>> {
    let dest = temp::path_beside(&target.join(format!("probe-{}", method.name())));
    let guard = temp::Guard::new(dest);
    let dest = guard.path();
    let done = match method {
        Method::Hardlink => fs::hard_link(src, dest),
        Method::Clone => sys::clone_file(src, dest, meta).map(drop),
        Method::Copy => sys::copy_file(src, dest, meta)
            .map(drop)
            .map_err(|e| e.error),
        Method::Symlink => std::path::absolute(src).and_then(|abs| sys::symlink_file(&abs, dest)),
    };
    done.map_err(|e| Error::io(&e, method.syscall(), src, Some(dest)))?;
    Ok((method == Method::Hardlink)
        .then(|| fs::symlink_metadata(dest).ok())
        .flatten()
        .map(|m| sys::file_id(dest, &m).is_ok_and(|id| id.nlink == 1)))
}

/// A small file of ours in `cache` (a temp name `cleanTemp` recognizes), removed with the guard.
fn temp_file(cache: &Path) -> Option<(temp::Guard, Metadata)> {
    let guard = temp::Guard::new(temp::path_beside(&cache.join("probe")));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(guard.path())
        .ok()?;
    file.write_all(b"cachelink probe\n").ok()?;
    drop(file);
    let meta = fs::metadata(guard.path()).ok()?;
    Some((guard, meta))
}

/// The non-empty regular files under a cache, breadth first, symlinks not followed, temps and
/// stages (`.cachelink-` names) left out, within `MAX_ENTRIES` directory entries in all.
struct Found {
    dirs: VecDeque<PathBuf>,
    list: Option<fs::ReadDir>,
    seen: usize,
}

impl Found {
    fn new(root: &Path) -> Self {
        Found {
            dirs: VecDeque::from([root.to_path_buf()]),
            list: None,
            seen: 0,
        }
    }

    fn next(&mut self) -> Option<(PathBuf, Metadata)> {
        while self.seen < MAX_ENTRIES {
            let Some(list) = self.list.as_mut() else {
                let dir = self.dirs.pop_front()?;
                // An unreadable directory is passed over: another may have a file.
                self.list = fs::read_dir(&dir).ok();
                continue;
            };
            let Some(item) = list.next() else {
                self.list = None;
                continue;
            };
            self.seen += 1;
            let Ok(item) = item else { continue };
            if item.file_name().to_string_lossy().contains(temp::MARKER) {
                continue;
            }
            let Ok(kind) = item.file_type() else { continue };
            if kind.is_dir() {
                self.dirs.push_back(item.path());
            } else if kind.is_file() {
                match item.metadata() {
                    Ok(meta) if meta.is_file() && meta.len() > 0 => {
                        return Some((item.path(), meta))
                    }
                    _ => {}
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_from_the_results() {
        use Method::*;
        let at = |m: Method| METHODS.iter().position(|&x| x == m).unwrap_or(0);
        let mut r = [Some(Ok(())); 4];
        let first = chain(Requested::Auto, true, errno::CURRENT)[0];
        assert_eq!(auto(&r, true, true).method, Some(first));
        // Cross-device: hard links and clones move on, copy works.
        r[at(Hardlink)] = Some(Err("EXDEV"));
        r[at(Clone)] = Some(Err("EXDEV"));
        let a = auto(&r, true, true);
        assert_eq!(a.method, Some(Copy));
        assert!(a.fallbacks.contains(&(Hardlink, "EXDEV")));
        // A real error stops, as link_file would.
        r[at(first)] = Some(Err("EROFS"));
        assert_eq!(
            auto(&r, true, true),
            Auto {
                method: None,
                fallbacks: vec![],
                error: Some((first, "EROFS")),
            }
        );
        assert_eq!(auto(&[None; 4], true, true), Auto::default());
    }

    #[test]
    fn a_probe_uses_a_file_of_the_cache_and_leaves_nothing() {
        let dir = crate::testing::sandbox("probe");
        let cache = dir.join("cache");
        let target = dir.join("target");
        fs::create_dir_all(cache.join("files").join("00")).unwrap();
        fs::create_dir_all(&target).unwrap();
        fs::write(cache.join("files").join("00").join("empty"), b"").unwrap();
        let file = cache.join("files").join("00").join("ab");
        fs::write(&file, b"content").unwrap();
        let p = probe(&cache, &target).unwrap();
        assert_eq!(
            p.source,
            Some(Source {
                path: file,
                temp: false
            })
        );
        assert_eq!(p.methods[at_copy()], Some(Ok(())));
        assert_eq!(p.cache_write_error, None);
        assert!(p.auto.method.is_some());
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
        // An empty cache: a temp file of ours, gone after.
        let empty = dir.join("empty");
        fs::create_dir_all(&empty).unwrap();
        let p = probe(&empty, &target).unwrap();
        assert!(p.source.as_ref().is_some_and(|s| s.temp));
        assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
        assert!(probe(&dir.join("missing"), &target).is_err_and(|e| e.is("ENOENT")));
        fs::remove_dir_all(dir).unwrap();
    }

    fn at_copy() -> usize {
        METHODS.iter().position(|&m| m == Method::Copy).unwrap_or(0)
    }
}
