//! `link_file` on the real file system of the machine that runs the tests: Linux and macOS, and
//! Windows (under Wine too, `scripts/wine-test.sh`).

use super::*;
use crate::testing::sandbox;
use std::fs::File;

/// The identity of the file at `path` itself (a symlink is the link).
fn id(path: &Path) -> FileId {
    sys::file_id(path, &fs::symlink_metadata(path).unwrap()).unwrap()
}

fn set_readonly(path: &Path, readonly: bool) {
    let mut perm = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)] // a test file, removed after
    perm.set_readonly(readonly);
    fs::set_permissions(path, perm).unwrap();
}

#[test]
fn max_links_caps_the_entry_and_resets_keep_bytes_mode_and_mtime() {
    let dir = sandbox("cap");
    let entry = dir.join("entry");
    fs::write(&entry, b"bytes").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o751)).unwrap();
    }
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    File::options()
        .write(true)
        .open(&entry)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let opts = Options {
        max_links: Some(3),
        ..Options::default()
    };
    let mut resets = 0;
    for i in 0..10 {
        let o = link_file(&entry, &dir.join(format!("d{i}")), &opts).unwrap();
        assert_eq!(o.method, Some(Method::Hardlink));
        resets += usize::from(o.link_limit == Some(LinkLimit::Reset));
        assert!(id(&entry).nlink <= 3);
        let m = fs::metadata(&entry).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(m.mode() & 0o777, 0o751);
        }
        assert_eq!(m.modified().unwrap(), mtime);
    }
    // 2 links per inode and a reset on every second call after the first two.
    assert_eq!(resets, 4);
    assert_eq!(fs::read(dir.join("d9")).unwrap(), b"bytes");
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names
        .iter()
        .all(|n| !n.to_string_lossy().contains(temp::MARKER)));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn on_link_limit_error_and_copy() {
    let dir = sandbox("limit");
    let entry = dir.join("entry");
    fs::write(&entry, b"x").unwrap();
    fs::hard_link(&entry, dir.join("other")).unwrap();
    let strict = Options {
        max_links: Some(2),
        on_link_limit: OnLinkLimit::Error,
        ..Options::default()
    };
    let err = link_file(&entry, &dir.join("a"), &strict).unwrap_err();
    assert_eq!((err.code, err.syscall), ("EMLINK", "link"));
    assert!(!dir.join("a").exists());
    let copy = Options {
        on_link_limit: OnLinkLimit::Copy,
        ..strict
    };
    let o = link_file(&entry, &dir.join("a"), &copy).unwrap();
    assert_eq!(
        (o.method, o.link_limit),
        (Some(Method::Copy), Some(LinkLimit::Copied))
    );
    assert_eq!(id(&entry).nlink, 2);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn if_exists_modes() {
    let dir = sandbox("exists");
    let entry = dir.join("entry");
    fs::write(&entry, b"new").unwrap();
    let dest = dir.join("dest");
    fs::write(&dest, b"old").unwrap();
    let err = link_file(&entry, &dest, &Options::default()).unwrap_err();
    assert_eq!(err.code, "EEXIST");
    let keep = Options {
        if_exists: IfExists::Keep,
        ..Options::default()
    };
    assert_eq!(link_file(&entry, &dest, &keep).unwrap().method, None);
    assert_eq!(fs::read(&dest).unwrap(), b"old");
    let replace = Options {
        if_exists: IfExists::Replace,
        ..Options::default()
    };
    assert_eq!(
        link_file(&entry, &dest, &replace).unwrap().method,
        Some(Method::Hardlink)
    );
    assert_eq!(fs::read(&dest).unwrap(), b"new");
    assert_eq!(link_file(&entry, &dest, &replace).unwrap().method, None);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reset_entry_gives_a_fresh_inode() {
    let dir = sandbox("reset");
    let entry = dir.join("entry");
    fs::write(&entry, b"content").unwrap();
    fs::hard_link(&entry, dir.join("old")).unwrap();
    let before = id(&entry);
    reset_entry(&entry, false).unwrap();
    let after = id(&entry);
    assert!(!after.same_file(&before));
    assert_eq!(after.nlink, 1);
    assert!(id(&dir.join("old")).same_file(&before));
    assert_eq!(fs::read(&entry).unwrap(), b"content");
    assert_eq!(
        reset_entry(&dir.join("missing"), false).unwrap_err().code,
        "ENOENT"
    );
    assert_eq!(reset_entry(&dir, false).unwrap_err().code, "EISDIR");
    fs::remove_dir_all(dir).unwrap();
}

/// Windows refuses to rename over a read-only file unless asked (`sys::rename_over`), and a copy
/// of a read-only file must still be written, timed and fsynced.
#[test]
fn read_only_entries_are_reset_and_read_only_destinations_replaced() {
    let dir = sandbox("readonly");
    let entry = dir.join("entry");
    fs::write(&entry, b"content").unwrap();
    set_readonly(&entry, true);
    fs::hard_link(&entry, dir.join("old")).unwrap();
    let before = id(&entry);
    reset_entry(&entry, false).unwrap();
    assert!(!id(&entry).same_file(&before));
    assert!(fs::metadata(&entry).unwrap().permissions().readonly());
    assert_eq!(fs::read(&entry).unwrap(), b"content");

    let replace = Options {
        if_exists: IfExists::Replace,
        ..Options::default()
    };
    let dest = dir.join("dest");
    fs::write(&dest, b"old").unwrap();
    set_readonly(&dest, true);
    let o = link_file(&entry, &dest, &replace).unwrap();
    assert_eq!(o.method, Some(Method::Hardlink));
    assert!(id(&dest).same_file(&id(&entry)));

    let copy = Options {
        method: Requested::Only(Method::Copy),
        ..replace
    };
    let copied = dir.join("copied");
    fs::write(&copied, b"old").unwrap();
    set_readonly(&copied, true);
    let o = link_file(&entry, &copied, &copy).unwrap();
    assert_eq!(o.method, Some(Method::Copy));
    assert!(!id(&copied).same_file(&id(&entry)));
    assert_eq!(fs::read(&copied).unwrap(), b"content");
    assert!(fs::metadata(&copied).unwrap().permissions().readonly());

    for name in ["entry", "old", "dest", "copied"] {
        set_readonly(&dir.join(name), false);
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn copies_are_exclusive_and_published_without_replacing() {
    let dir = sandbox("copy-exclusive");
    let entry = dir.join("entry");
    fs::write(&entry, b"content").unwrap();
    let copy = Options {
        method: Requested::Only(Method::Copy),
        ..Options::default()
    };
    let dest = dir.join("dest");
    fs::write(&dest, b"mine").unwrap();
    let err = link_file(&entry, &dest, &copy).unwrap_err();
    assert_eq!((err.code, err.syscall), ("EEXIST", "copyfile"));
    let o = link_file(&entry, &dir.join("fresh"), &copy).unwrap();
    assert_eq!(o.method, Some(Method::Copy));
    assert_eq!(fs::read(dir.join("fresh")).unwrap(), b"content");

    // What the fallback without unnamed files does (macOS, Windows, NFS, FUSE): a complete temp
    // file is renamed into place only if nothing is there, else EEXIST and the temp is removed.
    let guard = temp::Guard::new(temp::path_beside(&dest));
    fs::write(guard.path(), b"complete").unwrap();
    let err = publish(guard, &dest).unwrap_err();
    assert_eq!(
        Error::io(&err, "copyfile", &entry, Some(&dest)).code,
        "EEXIST"
    );
    assert_eq!(fs::read(&dest).unwrap(), b"mine");
    let guard = temp::Guard::new(temp::path_beside(&dest));
    fs::write(guard.path(), b"complete").unwrap();
    publish(guard, &dir.join("published")).unwrap();
    assert_eq!(fs::read(dir.join("published")).unwrap(), b"complete");
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["dest", "entry", "fresh", "published"]);
    fs::remove_dir_all(dir).unwrap();
}
