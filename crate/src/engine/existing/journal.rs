//! The moves of a replace (`swap_in`), written down so a failure can put each back. A directory
//! that cannot be renamed where it is (`EXDEV`: overlayfs without `redirect_dir` refuses to
//! rename a directory of a lower layer, such as a container image's `node_modules`) is moved by
//! pieces: a directory made at the destination, each name in it renamed there (files, symlinks
//! and upper-layer directories rename; lower-layer directories are moved by pieces in turn),
//! and the emptied directory removed. Readers of a tree moved by pieces see it part-moved for
//! that moment.

use crate::engine::error::{Error, Result};
use crate::errno;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

enum Step {
    /// Renamed from the first path to the second.
    Renamed(PathBuf, PathBuf),
    /// A directory made here, to take a moved directory's names.
    Made(PathBuf),
    /// A directory emptied and removed (its names moved by pieces), with its permissions.
    Removed(PathBuf, fs::Permissions),
}

#[derive(Default)]
pub(super) struct Journal(Vec<Step>);

impl Journal {
    /// Renames `from` to `to` (which must not exist); a directory refused with `EXDEV` is moved
    /// by pieces.
    pub(super) fn rename(&mut self, from: &Path, to: &Path) -> Result<()> {
        match fs::rename(from, to) {
            Ok(()) => {
                self.0.push(Step::Renamed(from.into(), to.into()));
                Ok(())
            }
            Err(e) if is_exdev(&e) && fs::symlink_metadata(from).is_ok_and(|m| m.is_dir()) => {
                self.pieces(from, to, true)
            }
            Err(e) => Err(Error::io(&e, "rename", from, Some(to))),
        }
    }

    /// Moves the names in directory `from` into a new directory `to`, which gets `from`'s
    /// permissions; `from` is removed after when `remove` (else it is left empty).
    pub(super) fn pieces(&mut self, from: &Path, to: &Path, remove: bool) -> Result<()> {
        let perms = fs::symlink_metadata(from)
            .map_err(|e| Error::io(&e, "lstat", from, None))?
            .permissions();
        fs::create_dir(to).map_err(|e| Error::io(&e, "mkdir", to, None))?;
        self.0.push(Step::Made(to.into()));
        fs::set_permissions(to, perms.clone()).map_err(|e| Error::io(&e, "chmod", to, None))?;
        let list = fs::read_dir(from).map_err(|e| Error::io(&e, "scandir", from, None))?;
        for item in list {
            let item = item.map_err(|e| Error::io(&e, "scandir", from, None))?;
            self.rename(&item.path(), &to.join(item.file_name()))?;
        }
        if remove {
            fs::remove_dir(from).map_err(|e| Error::io(&e, "rmdir", from, None))?;
            self.0.push(Step::Removed(from.into(), perms));
        }
        Ok(())
    }

    /// Puts back what was moved, last move first.
    pub(super) fn undo(self) {
        for step in self.0.into_iter().rev() {
            let _ = match step {
                Step::Renamed(from, to) => fs::rename(to, from),
                Step::Made(dir) => fs::remove_dir(dir),
                Step::Removed(dir, perms) => {
                    fs::create_dir(&dir).and_then(|()| fs::set_permissions(&dir, perms))
                }
            };
        }
    }
}

pub(super) fn is_exdev(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|raw| errno::name(errno::CURRENT, raw) == "EXDEV")
}
