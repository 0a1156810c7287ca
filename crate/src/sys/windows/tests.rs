//! The Windows calls on a real Windows file system (or Wine's): `scripts/wine-test.sh` runs them
//! on Linux.

use super::*;
use crate::testing::sandbox;
use std::fs;
use windows_sys::Win32::Storage::FileSystem::FileRenameInfo;

fn readonly(path: &Path) -> bool {
    fs::symlink_metadata(path).unwrap().permissions().readonly()
}

fn make_readonly(path: &Path) {
    let mut perm = fs::metadata(path).unwrap().permissions();
    perm.set_readonly(true);
    fs::set_permissions(path, perm).unwrap();
}

fn id(path: &Path) -> FileId {
    file_id(path, &fs::symlink_metadata(path).unwrap()).unwrap()
}

#[test]
fn rename_over_replaces_a_read_only_file() {
    let dir = sandbox("rename");
    let (from, to) = (dir.join("from"), dir.join("to"));
    fs::write(&from, b"new").unwrap();
    fs::write(&to, b"old").unwrap();
    make_readonly(&to);
    make_readonly(&from);
    rename_over(&from, &to).unwrap();
    assert_eq!(fs::read(&to).unwrap(), b"new");
    assert!(!from.exists());
    assert!(readonly(&to));
    // A missing source is an error, with the OS's code.
    let err = rename_over(&from, &to).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err:?}");
    remove_new(&to);
    fs::remove_dir_all(dir).unwrap();
}

/// What `rename_over` builds, through the class every Windows (and Wine) has: Wine 8 answers
/// FileRenameInfoEx with ERROR_INVALID_PARAMETER, so there `rename_over` takes std's rename.
#[test]
fn the_rename_information_names_the_target() {
    let dir = sandbox("rename-info");
    let (from, to) = (dir.join("from"), dir.join("to"));
    fs::write(&from, b"new").unwrap();
    fs::write(&to, b"old").unwrap();
    rename_by_handle(&from, &to, FileRenameInfo, 1).unwrap();
    assert_eq!(fs::read(&to).unwrap(), b"new");
    assert!(!from.exists());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn file_id_tells_links_from_other_files() {
    let dir = sandbox("id");
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    fs::write(&a, b"x").unwrap();
    fs::hard_link(&a, &b).unwrap();
    fs::write(&c, b"x").unwrap();
    assert!(id(&a).same_file(&id(&b)));
    assert_eq!((id(&a).nlink, id(&c).nlink), (2, 1));
    assert!(!id(&a).same_file(&id(&c)));
    assert_eq!(dir_device(&dir).unwrap(), id(&a).dev);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn file_id_of_a_symlink_is_the_link_itself() {
    let dir = sandbox("symlink");
    let (file, link) = (dir.join("file"), dir.join("link"));
    fs::write(&file, b"x").unwrap();
    if let Err(e) = symlink_file(&file, &link) {
        // ERROR_PRIVILEGE_NOT_HELD: no Developer Mode, not elevated. Nothing to test here.
        assert_eq!(e.raw_os_error(), Some(1314), "{e:?}");
        fs::remove_dir_all(dir).unwrap();
        return;
    }
    if fs::symlink_metadata(&link).is_err() {
        eprintln!("no symlink was made: Wine's CreateSymbolicLinkW does nothing (Wine 8)");
        fs::remove_dir_all(dir).unwrap();
        return;
    }
    // lstat: the link; stat: the file it points to (as on Unix).
    assert!(!id(&link).same_file(&id(&file)));
    let followed = file_id(&link, &fs::metadata(&link).unwrap()).unwrap();
    assert!(followed.same_file(&id(&file)));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mount_of_a_relative_path_is_the_volume_it_is_on() {
    let here = std::env::current_dir().unwrap();
    let relative = mount_of(Path::new("."), 0).unwrap();
    let absolute = mount_of(&here, 0).unwrap();
    assert_eq!(relative, absolute);
    assert!(!relative.fs_type.is_empty());
}

#[test]
fn copy_file_copies_never_over_an_existing_file_and_keeps_read_only() {
    let dir = sandbox("copy");
    let (src, dest) = (dir.join("src"), dir.join("dest"));
    fs::write(&src, b"content").unwrap();
    make_readonly(&src);
    let meta = fs::metadata(&src).unwrap();
    let file = copy_file(&src, &dest, &meta).unwrap();
    // Open for writing: times and fsync work through it although the copy is read-only.
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    file.sync_all().unwrap();
    drop(file);
    assert_eq!(fs::read(&dest).unwrap(), b"content");
    assert!(readonly(&dest));
    // An existing destination is left as it is.
    let err = copy_file(&src, &dest, &meta).unwrap_err();
    assert!(!err.created);
    assert_eq!(err.error.raw_os_error(), Some(ERROR_FILE_EXISTS as i32));
    assert_eq!(fs::read(&dest).unwrap(), b"content");
    // A missing source creates nothing.
    let err = copy_file(&dir.join("missing"), &dir.join("d2"), &meta).unwrap_err();
    assert!(!err.created && !dir.join("d2").exists());
    remove_new(&src);
    remove_new(&dest);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn clone_where_the_volume_has_no_block_cloning_leaves_nothing() {
    let dir = sandbox("clone");
    let (src, dest) = (dir.join("src"), dir.join("dest"));
    fs::write(&src, b"content").unwrap();
    let meta = fs::metadata(&src).unwrap();
    match clone_file(&src, &dest, &meta) {
        // ReFS or a Dev Drive.
        Ok(_) => assert_eq!(fs::read(&dest).unwrap(), b"content"),
        Err(e) => {
            assert!(
                not_supported(&e) || e.kind() == io::ErrorKind::Unsupported,
                "{e:?}"
            );
            assert!(!dest.exists());
        }
    }
    fs::remove_dir_all(dir).unwrap();
}
