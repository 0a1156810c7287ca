//! `import_tree`: mirror a directory (files, subdirectories, symlinks as symlinks, exec bits)
//! through the batch importer.

use super::batch::{self, BatchOptions, Control, Entry, Kind, Pending, Stats};
use super::error::{Error, Result};
use super::method::{Method, Requested};
use super::scan;
use super::temp;
use crate::sys;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// The prefix of libfuse's names for files unlinked while open.
const FUSE_HIDDEN: &[u8] = b".fuse_hidden";

/// The entries of the tree under `root`, directories before what they contain; cachelink's own
/// temps and stages (`scan::is_own`) are not entries.
pub fn walk(root: &Path) -> Result<Vec<Entry>> {
    let meta = fs::metadata(root).map_err(|e| Error::io(&e, "scandir", root, None))?;
    if !meta.is_dir() {
        return Err(Error::new("ENOTDIR", "scandir", root, None));
    }
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let list = fs::read_dir(&dir).map_err(|e| Error::io(&e, "scandir", &dir, None))?;
        for item in list {
            let item = item.map_err(|e| Error::io(&e, "scandir", &dir, None))?;
            let path = item.path();
            let kind = match item.file_type() {
                Ok(kind) => kind,
                // Gone since the listing (where it gives no types, as through FUSE, the type
                // is an `lstat`): a temp renamed over its entry, FUSE's `.fuse_hidden*` of a
                // replaced file. Not in the tree as it is now.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&e, "lstat", &path, None)),
            };
            // Cachelink's own temps and stages are not part of the tree: in a cache, other
            // processes' resets make and rename them away while this walk runs.
            if scan::is_own(&item.file_name(), kind) {
                crate::engine::debug(|| format!("import_tree skips {path:?}: cachelink's own"));
                continue;
            }
            // libfuse's name for a file unlinked while open (`hard_remove` off): a cache
            // entry's old inode that a reset replaced while someone read it, gone at the close.
            if item.file_name().as_encoded_bytes().starts_with(FUSE_HIDDEN) {
                continue;
            }
            let rel = rel.join(item.file_name());
            if kind.is_dir() {
                out.push(Entry {
                    rel: rel.clone(),
                    kind: Kind::Dir,
                });
                pending.push(rel);
            } else if kind.is_symlink() {
                let target =
                    fs::read_link(&path).map_err(|e| Error::io(&e, "readlink", &path, None))?;
                // Only Windows records what a link points to; elsewhere skip the extra stat.
                let dir = cfg!(windows) && fs::metadata(&path).is_ok_and(|m| m.is_dir());
                out.push(Entry {
                    rel,
                    kind: Kind::Symlink { target, dir },
                });
            } else if kind.is_file() {
                out.push(Entry {
                    rel,
                    kind: Kind::File {
                        src: path,
                        executable: None,
                        size: None,
                        mutable: false,
                    },
                });
            } else {
                crate::engine::debug(|| {
                    format!("import_tree skips {path:?}: not a file, directory or symlink")
                });
            }
        }
    }
    Ok(out)
}

pub fn import_tree(src: &Path, into: &Path, opts: &BatchOptions, ctl: &Control) -> Result<Stats> {
    let (mut stats, pending) = import_tree_pending(src, into, opts, ctl)?;
    stats.retries += u64::from(pending.commit()?);
    Ok(stats)
}

/// `import_tree` up to the rename of its stage (see `batch::import_pending`).
pub fn import_tree_pending(
    src: &Path,
    into: &Path,
    opts: &BatchOptions,
    ctl: &Control,
) -> Result<(Stats, Pending)> {
    refuse_into_source(src, into)?;
    let entries = walk(src)?;
    if opts.link.method == Requested::Only(Method::Clone) {
        if let Some(done) = clone_whole(src, into, &entries, ctl) {
            return Ok(done);
        }
    }
    batch::import_pending(entries, into, opts, ctl)
}

/// `ERR_CACHELINK_INTO_SOURCE`: `into` is `src` or inside it, where the import would copy the
/// tree into itself (Node's `fs.cp` refuses the same with `ERR_FS_CP_EINVAL`), or `into` holds
/// `src`, where replacing it would delete the source (`sources`). Both are compared
/// canonicalized, symlinks resolved; `into` need not exist yet: its nearest existing ancestor is
/// canonicalized and the rest appended (`..` in the rest taken lexically). A `src` that cannot
/// be canonicalized is left to `walk`, which says why.
fn refuse_into_source(src: &Path, into: &Path) -> Result<()> {
    let Ok(src_real) = fs::canonicalize(src) else {
        return Ok(());
    };
    let Some(into_real) = canonical_maybe_missing(into) else {
        return Ok(());
    };
    let why = if into_real.starts_with(&src_real) {
        "cannot import a directory into itself or a subdirectory of itself"
    } else if src_real.starts_with(&into_real) {
        // `replace` would delete the source with the old `into`.
        "cannot import into a directory that is or holds a source of the import"
    } else {
        return Ok(());
    };
    Err(Error::own(
        "ERR_CACHELINK_INTO_SOURCE",
        why,
        src,
        Some(into),
    ))
}

/// `path` canonicalized where it exists, else its nearest existing ancestor canonicalized with
/// the missing names appended.
fn canonical_maybe_missing(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let absolute = std::path::absolute(path).ok()?;
    let parts: Vec<Component> = absolute.components().collect();
    for existing in (1..=parts.len()).rev() {
        let Ok(mut real) = fs::canonicalize(parts[..existing].iter().collect::<PathBuf>()) else {
            continue;
        };
        for part in &parts[existing..] {
            match part {
                Component::ParentDir => {
                    real.pop();
                }
                Component::Normal(name) => real.push(name),
                _ => {}
            }
        }
        return Some(real);
    }
    None
}

/// One `clonefile` of the whole directory into a stage, to be renamed into place, when `into`
/// does not exist (macOS; uv and bun do the same). `None`: not possible here, do the per-file
/// work.
fn clone_whole(
    src: &Path,
    into: &Path,
    entries: &[Entry],
    ctl: &Control,
) -> Option<(Stats, Pending)> {
    let started = Instant::now();
    if fs::symlink_metadata(into).is_ok() {
        return None;
    }
    let stage = temp::stage_beside(into);
    if let Err(e) = sys::clone_dir(src, &stage) {
        let _ = fs::remove_dir_all(&stage);
        crate::engine::debug(|| format!("whole-tree clone of {src:?} not possible: {e}"));
        return None;
    }
    let count = |f: fn(&Kind) -> bool| entries.iter().filter(|e| f(&e.kind)).count() as u64;
    let cloned = count(|k| matches!(k, Kind::File { .. }));
    let symlinked = count(|k| matches!(k, Kind::Symlink { .. }));
    let n = i32::try_from(entries.len()).unwrap_or(i32::MAX);
    ctl.total.store(n, Relaxed);
    ctl.done.store(n, Relaxed);
    let stats = Stats {
        files: cloned + symlinked,
        dirs: count(|k| *k == Kind::Dir),
        cloned,
        symlinked,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        method: Some(Method::Clone),
        ..Stats::default()
    };
    Some((stats, Pending::stage(stage, into)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::link::Options;
    use std::sync::atomic::AtomicI32;

    /// Into itself or below, by any spelling, before anything is written; beside it is fine.
    /// (On Windows too, under Wine: canonical paths are `\\?\` paths there.)
    #[test]
    fn never_into_its_own_source() {
        let dir = crate::testing::sandbox("into-self");
        let src = dir.join("pkg");
        fs::create_dir_all(src.join("lib")).unwrap();
        for into in [
            src.clone(),
            src.join("lib"),
            src.join("new").join("deeper"),
            src.join("lib").join("..").join("x"),
            dir.join("other").join("..").join("pkg").join("y"),
        ] {
            let err = refuse_into_source(&src, &into).unwrap_err();
            assert_eq!(err.code, "ERR_CACHELINK_INTO_SOURCE", "{into:?}");
            assert_eq!(
                (err.path.as_path(), err.dest.as_deref()),
                (src.as_path(), Some(into.as_path()))
            );
        }
        for into in [dir.clone(), src.join("..")] {
            let err = refuse_into_source(&src, &into).unwrap_err();
            assert_eq!(err.code, "ERR_CACHELINK_INTO_SOURCE", "{into:?}");
        }
        for into in [dir.join("pkg2"), dir.join("out"), src.join("..").join("x")] {
            assert!(refuse_into_source(&src, &into).is_ok(), "{into:?}");
        }
        fs::remove_dir_all(dir).unwrap();
    }

    /// An import on the file system of the machine that runs the tests (Windows included, under
    /// Wine too): a staged tree renamed into place, hard links, an empty file created, a
    /// read-only file.
    #[test]
    #[allow(clippy::permissions_set_readonly_false)] // a test file, removed at the end
    fn a_tree_is_imported_whole() {
        let dir = crate::testing::sandbox("tree");
        let src = dir.join("src");
        fs::create_dir_all(src.join("lib/deep")).unwrap();
        fs::write(src.join("index.js"), b"index").unwrap();
        fs::write(src.join("lib/deep/a.js"), b"a").unwrap();
        fs::write(src.join("empty"), b"").unwrap();
        let ro = src.join("lib/ro.txt");
        fs::write(&ro, b"ro").unwrap();
        let mut perm = fs::metadata(&ro).unwrap().permissions();
        perm.set_readonly(true);
        fs::set_permissions(&ro, perm).unwrap();
        let (done, total, abort) = (AtomicI32::new(0), AtomicI32::new(0), AtomicI32::new(0));
        let ctl = Control {
            done: &done,
            total: &total,
            abort: &abort,
        };
        let opts = BatchOptions {
            link: Options::default(),
            threads: 2,
            atomic: true,
            ..BatchOptions::default()
        };
        let into = dir.join("out/pkg");
        let stats = import_tree(&src, &into, &opts, &ctl).unwrap();
        assert_eq!((stats.files, stats.dirs), (4, 2));
        assert_eq!(
            (stats.hardlinked, stats.copied, stats.empty_created),
            (3, 0, 1)
        );
        assert_eq!(fs::read(into.join("lib/deep/a.js")).unwrap(), b"a");
        assert_eq!(fs::read(into.join("empty")).unwrap(), b"");
        assert!(fs::metadata(into.join("lib/ro.txt"))
            .unwrap()
            .permissions()
            .readonly());
        let id = |p: &Path| sys::file_id(p, &fs::symlink_metadata(p).unwrap()).unwrap();
        assert!(id(&into.join("index.js")).same_file(&id(&src.join("index.js"))));
        // Only the destination is left beside it: no stage.
        let beside: Vec<_> = fs::read_dir(dir.join("out")).unwrap().collect();
        assert_eq!(beside.len(), 1);
        let mut perm = fs::metadata(&ro).unwrap().permissions();
        perm.set_readonly(false);
        fs::set_permissions(&ro, perm).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }
}
