//! An import into a destination that already exists (a re-install): whether it is already in
//! place (`in_place`), trading a complete stage for it (`swap_in`), and whether the destination
//! tells case apart (`folds_case`).

mod journal;

use super::batch::{Entry, Kind};
use super::error::{Error, Result};
use super::retry::{retrying, Op};
use super::temp;
use crate::errno;
use crate::sys;
use journal::Journal;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Whether `into` already holds exactly the entries: each file is the cache file's own inode
/// (not for a mutable entry, which must be a file of its own) or a file of its own with the
/// same bytes and mode, each symlink points where its entry says, each directory is one, and
/// nothing else is there (but the paths in `keep`, not looked into). `into` and every folder
/// the entries need must be a directory: a symlink there (even to a folder holding the right
/// files, even one named in `keep`) is not in place. Anything unreadable, or any doubt, is
/// `false`: the caller then replaces the destination, which reports real errors.
pub fn in_place(entries: &[Entry], into: &Path, keep: &[PathBuf]) -> bool {
    let is_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if !is_dir(into) {
        return false;
    }
    let mut expected: HashSet<&OsStr> = HashSet::with_capacity(entries.len() * 2);
    let mut dirs: HashSet<&Path> = HashSet::new();
    for e in entries {
        // The folders above the entry, deepest first: each looked at once, without following.
        for dir in e.rel.ancestors().skip(1) {
            if dir.as_os_str().is_empty() || !dirs.insert(dir) {
                break;
            }
            if !is_dir(&into.join(dir)) {
                return false;
            }
        }
        if !entry_in_place(e, into) {
            return false;
        }
        let mut p = Some(e.rel.as_path());
        while let Some(rel) = p.filter(|r| !r.as_os_str().is_empty()) {
            if !expected.insert(rel.as_os_str()) {
                break;
            }
            p = rel.parent();
        }
    }
    nothing_else(into, &expected, keep).unwrap_or(false)
}

fn entry_in_place(e: &Entry, into: &Path) -> bool {
    let dest = into.join(&e.rel);
    let Ok(there) = fs::symlink_metadata(&dest) else {
        return false;
    };
    match &e.kind {
        Kind::Dir => there.is_dir(),
        Kind::Symlink { target, .. } => {
            there.file_type().is_symlink() && fs::read_link(&dest).is_ok_and(|t| &t == target)
        }
        Kind::File {
            src,
            executable,
            mutable,
            ..
        } => {
            let Ok(meta) = fs::metadata(src) else {
                return false;
            };
            if !there.is_file() || there.len() != meta.len() {
                return false;
            }
            let same = sys::file_id(src, &meta)
                .and_then(|a| Ok(a.same_file(&sys::file_id(&dest, &there)?)))
                .unwrap_or(false);
            if same {
                return !mutable;
            }
            mode_matches(&there, &meta, *executable) && same_bytes(src, &dest).unwrap_or(false)
        }
    }
}

/// A copy's mode: the cache file's, with the exec bits the entry asks for.
#[cfg(unix)]
fn mode_matches(there: &fs::Metadata, src: &fs::Metadata, executable: Option<bool>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let (have, base) = (there.permissions().mode(), src.permissions().mode());
    match executable {
        Some(x) => (have & 0o111 != 0) == x,
        None => have & 0o7777 == base & 0o7777,
    }
}

#[cfg(not(unix))]
fn mode_matches(there: &fs::Metadata, src: &fs::Metadata, _executable: Option<bool>) -> bool {
    there.permissions().readonly() == src.permissions().readonly()
}

fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    let (mut x, mut y) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(b.read(&mut y[..1])? == 0);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// Whether every name under `into` is expected (the paths in `keep` are not looked into).
fn nothing_else(into: &Path, expected: &HashSet<&OsStr>, keep: &[PathBuf]) -> io::Result<bool> {
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        for item in fs::read_dir(into.join(&rel))? {
            let item = item?;
            let path = rel.join(item.file_name());
            if keep.contains(&path) {
                continue;
            }
            if !expected.contains(path.as_os_str()) {
                return Ok(false);
            }
            if item.file_type()?.is_dir() {
                dirs.push(path);
            }
        }
    }
    Ok(true)
}

/// Puts the complete `stage` in place of the existing `into`: first the paths in `keep` move
/// from `into` into the stage (a directory the stage has too gets the names it lacks), then
/// the two trade places in one step where the OS can (`sys::rename_exchange`), so a reader sees
/// the old tree or the new one; elsewhere `into` is renamed aside and the stage renamed in (for
/// that moment `into` is missing). A directory the OS refuses to rename with `EXDEV` (overlayfs,
/// a lower layer's directory) is moved by pieces instead (`journal`), a kept one and `into`'s
/// own names alike; the stage then takes the emptied `into`'s place. A kept path is never
/// reached through a symlink: one below a symlink of the old tree is refused (as `check_keep`),
/// and one below a symlink or a file of the new tree is left with the old tree (the new tree
/// wins). On success the old tree is left at the stage's name (the caller removes it); on
/// failure what was moved is moved back and `into` is unchanged. The renames of the trade
/// refused for a moment (`retry`) are tried again; `retries` counts how often.
pub fn swap_in(stage: &Path, into: &Path, keep: &[PathBuf], retries: &mut u32) -> Result<()> {
    let mut journal = Journal::default();
    let result = carry_over(stage, into, keep, &mut journal)
        .and_then(|()| trade(stage, into, &mut journal, retries));
    if result.is_err() {
        journal.undo();
    }
    result
}

/// What lies above a relative path under a root, looked at without following symlinks.
enum Above {
    /// Directories all the way.
    Dirs,
    /// A name on the way is missing.
    Missing,
    /// A name on the way is a symlink (`true`) or another non-directory (`false`).
    NotDir(PathBuf, bool),
}

fn above(root: &Path, rel: &Path) -> Result<Above> {
    let mut parts: Vec<&Path> = rel.ancestors().skip(1).collect();
    parts.pop(); // the empty path: `root` itself
    for part in parts.into_iter().rev() {
        let path = root.join(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => return Ok(Above::NotDir(path, m.file_type().is_symlink())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Above::Missing),
            Err(e) => return Err(Error::io(&e, "lstat", &path, None)),
        }
    }
    Ok(Above::Dirs)
}

/// Refuses (`ERR_CACHELINK_UNSAFE_PATH`, naming the kept path as the entry and the symlink as
/// the path) a path in `keep` that lies below a symlink of the existing `into`: carrying it
/// over would move a folder from wherever the symlink points. Asked before a replace writes
/// anything, and again just before each kept path moves.
pub fn check_keep(into: &Path, keep: &[PathBuf]) -> Result<()> {
    for k in keep {
        if let Above::NotDir(link, true) = above(into, k)? {
            return Err(below_symlink(&link, k));
        }
    }
    Ok(())
}

fn below_symlink(link: &Path, kept: &Path) -> Error {
    let why = "a kept path must not lie below a symlink of the existing destination";
    Error::own("ERR_CACHELINK_UNSAFE_PATH", why, link, None).at_entry(kept)
}

fn carry_over(stage: &Path, into: &Path, keep: &[PathBuf], journal: &mut Journal) -> Result<()> {
    for k in keep {
        let (old, new) = (into.join(k), stage.join(k));
        match above(into, k)? {
            Above::Dirs => {}
            Above::NotDir(link, true) => return Err(below_symlink(&link, k)),
            // A file on the way, or a missing name: nothing to keep.
            _ => continue,
        }
        let Ok(meta) = fs::symlink_metadata(&old) else {
            continue;
        };
        match above(stage, k)? {
            // A symlink or a file of the new tree on the way: it wins.
            Above::NotDir(..) => continue,
            Above::Missing => {
                if let Some(parent) = new.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io(&e, "mkdir", parent, None))?;
                }
            }
            Above::Dirs => {}
        }
        match fs::symlink_metadata(&new) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => journal.rename(&old, &new)?,
            Ok(there) if there.is_dir() && meta.is_dir() => {
                let list = fs::read_dir(&old).map_err(|e| Error::io(&e, "scandir", &old, None))?;
                for item in list {
                    let item = item.map_err(|e| Error::io(&e, "scandir", &old, None))?;
                    let to = new.join(item.file_name());
                    if fs::symlink_metadata(&to).is_err() {
                        journal.rename(&item.path(), &to)?;
                    }
                }
            }
            // The new tree has a file there: it wins.
            _ => {}
        }
    }
    Ok(())
}

fn trade(stage: &Path, into: &Path, journal: &mut Journal, retries: &mut u32) -> Result<()> {
    let fail = |e: io::Error, from: &Path, to: &Path| Error::io(&e, "rename", from, Some(to));
    match retried(stage, into, retries, || sys::rename_exchange(stage, into)) {
        Ok(()) => return Ok(()),
        // EXDEV: overlayfs cannot exchange a lower layer's directory; moved by pieces below.
        Err(e) if !unsupported(&e) && !journal::is_exdev(&e) => return Err(fail(e, stage, into)),
        Err(_) => {}
    }
    let aside = temp::stage_beside(into);
    match retried(into, &aside, retries, || fs::rename(into, &aside)) {
        Ok(()) => {
            if let Err(e) = retried(stage, into, retries, || fs::rename(stage, into)) {
                let _ = fs::rename(&aside, into);
                return Err(fail(e, stage, into));
            }
        }
        Err(e) if journal::is_exdev(&e) => {
            // `into` stays, emptied; the stage is renamed over the empty directory.
            journal.pieces(into, &aside, false)?;
            retried(stage, into, retries, || fs::rename(stage, into))
                .map_err(|e| fail(e, stage, into))?;
        }
        Err(e) => return Err(fail(e, into, &aside)),
    }
    // The old tree to the stage's name, where the caller removes it.
    if retried(&aside, stage, retries, || fs::rename(&aside, stage)).is_err() {
        let _ = fs::remove_dir_all(&aside);
    }
    Ok(())
}

/// A rename `f` from `from` to `to`, tried again while it is refused for a moment (`retry`).
fn retried(
    from: &Path,
    to: &Path,
    retries: &mut u32,
    f: impl Fn() -> io::Result<()>,
) -> io::Result<()> {
    retrying(Op::Rename, &[from, to], retries, || {
        f().map_err(|e| Error::io(&e, "rename", from, Some(to)))
    })
    .map_err(|e| match e.raw {
        0 if e.code == "ENOTSUP" => io::ErrorKind::Unsupported.into(),
        0 => io::Error::other(e.code),
        raw => io::Error::from_raw_os_error(raw),
    })
}

fn unsupported(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(raw) => ["EINVAL", "ENOSYS", "ENOTSUP"].contains(&errno::name(errno::CURRENT, raw)),
        None => e.kind() == io::ErrorKind::Unsupported,
    }
}

/// Whether names in `dir` are case-insensitive: a temp file is made there and looked up by its
/// name in upper case. Asked once per import, and only when two entries differ only in case.
pub fn folds_case(dir: &Path) -> Result<bool> {
    let probe = temp::path_beside(&dir.join("case"));
    let guard = temp::Guard::new(probe.clone());
    File::options()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| Error::io(&e, "open", &probe, None))?;
    let Some(name) = probe.file_name().and_then(OsStr::to_str) else {
        return Ok(false);
    };
    let upper = dir.join(name.to_ascii_uppercase());
    let folds = fs::symlink_metadata(&upper).is_ok();
    drop(guard);
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sandbox;

    /// As `paths::safe_relative` builds entry paths: joined with the OS's separator.
    fn file(rel: &str, src: &Path) -> Entry {
        Entry {
            rel: rel.split('/').collect(),
            kind: Kind::File {
                src: src.to_path_buf(),
                executable: None,
                size: None,
                mutable: false,
            },
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// On the machine's own filesystem (Windows under Wine too, where names are exchanged by
    /// two renames): the stage takes `into`'s place with `keep` carried over, and the old tree
    /// is left at the stage's name.
    #[test]
    fn a_stage_trades_places_with_the_old_tree() {
        let dir = sandbox("swap");
        let (stage, into) = (dir.join("stage"), dir.join("into"));
        fs::create_dir_all(into.join("node_modules")).unwrap();
        fs::write(into.join("old.js"), b"old").unwrap();
        fs::write(into.join("node_modules").join("dep.js"), b"dep").unwrap();
        fs::create_dir(&stage).unwrap();
        fs::write(stage.join("new.js"), b"new").unwrap();
        swap_in(&stage, &into, &[PathBuf::from("node_modules")], &mut 0).unwrap();
        assert_eq!(names(&into), ["new.js", "node_modules"]);
        assert_eq!(
            fs::read(into.join("node_modules").join("dep.js")).unwrap(),
            b"dep"
        );
        assert_eq!(names(&stage), ["old.js"]);
        assert_eq!(names(&dir), ["into", "stage"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn in_place_means_the_same_files_and_nothing_else() {
        let dir = sandbox("inplace");
        let (store, into) = (dir.join("store"), dir.join("into"));
        fs::create_dir_all(into.join("lib")).unwrap();
        fs::create_dir(&store).unwrap();
        fs::write(store.join("a"), b"a").unwrap();
        fs::write(store.join("b"), b"bb").unwrap();
        fs::hard_link(store.join("a"), into.join("a.js")).unwrap();
        fs::copy(store.join("b"), into.join("lib").join("b.js")).unwrap();
        let entries = [
            file("a.js", &store.join("a")),
            file("lib/b.js", &store.join("b")),
        ];
        assert!(in_place(&entries, &into, &[]));
        fs::write(into.join("extra"), b"").unwrap();
        assert!(!in_place(&entries, &into, &[]));
        assert!(in_place(&entries, &into, &[PathBuf::from("extra")]));
        fs::write(into.join("lib").join("b.js"), b"xx").unwrap();
        assert!(!in_place(&entries, &into, &[PathBuf::from("extra")]));
        fs::remove_dir_all(dir).unwrap();
    }

    /// A symlink where the entries need a folder is not in place, even to a folder holding the
    /// entries' own inodes, and even when `keep` names it.
    #[cfg(unix)]
    #[test]
    fn a_symlinked_folder_is_not_in_place() {
        let dir = sandbox("inplace-link");
        let (store, into, lib2) = (dir.join("store"), dir.join("into"), dir.join("lib2"));
        fs::create_dir_all(&into).unwrap();
        fs::create_dir_all(&lib2).unwrap();
        fs::create_dir(&store).unwrap();
        fs::write(store.join("a"), b"a").unwrap();
        fs::hard_link(store.join("a"), lib2.join("a.js")).unwrap();
        std::os::unix::fs::symlink(&lib2, into.join("lib")).unwrap();
        let entries = [file("lib/a.js", &store.join("a"))];
        assert!(!in_place(&entries, &into, &[]));
        assert!(!in_place(&entries, &into, &[PathBuf::from("lib")]));
        fs::remove_dir_all(dir).unwrap();
    }

    /// A kept path below a symlink of the old tree is refused, and nothing moves.
    #[cfg(unix)]
    #[test]
    fn a_kept_path_below_a_symlink_is_refused() {
        let dir = sandbox("keep-link");
        let (stage, into, outside) = (dir.join("stage"), dir.join("into"), dir.join("outside"));
        fs::create_dir_all(outside.join("sub")).unwrap();
        fs::create_dir_all(&into).unwrap();
        fs::create_dir(&stage).unwrap();
        std::os::unix::fs::symlink(&outside, into.join("node_modules")).unwrap();
        let keep = [PathBuf::from("node_modules").join("sub")];
        let err = check_keep(&into, &keep).unwrap_err();
        assert!(err.is("ERR_CACHELINK_UNSAFE_PATH"));
        assert_eq!(err.path, into.join("node_modules"));
        let err = swap_in(&stage, &into, &keep, &mut 0).unwrap_err();
        assert!(err.is("ERR_CACHELINK_UNSAFE_PATH"));
        assert_eq!(names(&outside), ["sub"]);
        assert_eq!(names(&into), ["node_modules"]);
        assert!(names(&stage).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }
}
