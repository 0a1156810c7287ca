//! `import_tree`: mirror a directory (files, subdirectories, symlinks as symlinks, exec bits)
//! through the batch importer.

use super::batch::{self, BatchOptions, Control, Entry, Kind, Pending, Stats};
use super::error::{Error, Result};
use super::method::{Method, Requested};
use super::temp;
use crate::sys;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// The entries of the tree under `root`, directories before what they contain.
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
            let kind = item
                .file_type()
                .map_err(|e| Error::io(&e, "lstat", &path, None))?;
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
    let (stats, pending) = import_tree_pending(src, into, opts, ctl)?;
    pending.commit()?;
    Ok(stats)
}

/// `import_tree` up to the rename of its stage (see `batch::import_pending`).
pub fn import_tree_pending(
    src: &Path,
    into: &Path,
    opts: &BatchOptions,
    ctl: &Control,
) -> Result<(Stats, Pending)> {
    let entries = walk(src)?;
    if opts.link.method == Requested::Only(Method::Clone) {
        if let Some(done) = clone_whole(src, into, &entries, ctl) {
            return Ok(done);
        }
    }
    batch::import_pending(&entries, into, opts, ctl)
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
