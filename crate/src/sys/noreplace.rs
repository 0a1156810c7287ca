//! `rename_noreplace_or_check(from, to)`: a rename that fails with EEXIST when `to` exists, even
//! as an empty directory (which a plain `rename` replaces on Unix): how a batch import puts its
//! stage in place without taking the place of another import's tree. The OS's exclusive rename
//! (`rename_noreplace`) where the volume has one; elsewhere (NFS, some FUSE: EINVAL, ENOSYS,
//! ENOTSUP) a check that `to` is absent, then a rename: a directory made at `to` between the
//! two, if empty, is replaced.

use crate::errno;
use std::io;
use std::path::Path;

pub fn rename_noreplace_or_check(from: &Path, to: &Path) -> io::Result<()> {
    match super::rename_noreplace(from, to) {
        Err(e) if unsupported(&e) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
        done => done,
    }
}

fn unsupported(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(raw) => ["EINVAL", "ENOSYS", "ENOTSUP"].contains(&errno::name(errno::CURRENT, raw)),
        None => e.kind() == io::ErrorKind::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno;
    use std::fs;

    #[test]
    fn never_replaces_even_an_empty_directory() {
        let dir = crate::testing::sandbox("noreplace");
        let (stage, into) = (dir.join("stage"), dir.join("into"));
        fs::create_dir(&stage).unwrap();
        fs::write(stage.join("f"), "x").unwrap();
        fs::create_dir(&into).unwrap();
        let err = rename_noreplace_or_check(&stage, &into).unwrap_err();
        let code = errno::name(errno::CURRENT, err.raw_os_error().unwrap_or(0));
        assert_eq!(code, "EEXIST", "{err}");
        assert!(stage.join("f").exists());
        fs::remove_dir(&into).unwrap();
        rename_noreplace_or_check(&stage, &into).unwrap();
        assert!(into.join("f").exists() && !stage.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
