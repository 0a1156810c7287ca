//! `import_tree`: mirror a directory (files, subdirectories, symlinks as symlinks, exec bits)
//! through the batch importer.

use super::batch::{self, BatchOptions, Control, Entry, Kind, Stats};
use super::error::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

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
    let entries = walk(src)?;
    batch::import(&entries, into, opts, ctl)
}
