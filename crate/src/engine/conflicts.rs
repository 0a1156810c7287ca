//! Entries that name the same file, settled before anything is written.
//!
//! - The same path twice (after normalization: `index.js` and `./index.js`): when both describe
//!   the same thing (same source, same flags), the later one is dropped silently; when they
//!   differ, that is a conflict, settled by `OnConflict`.
//! - Paths that differ only in case (`GiHeadshot.js`, `GiHeadShot.js`): a conflict only where the
//!   destination folds case (APFS, NTFS, exFAT), which the caller finds out once per import, and
//!   only when such a pair exists (`case_insensitive` is not called otherwise).
//! - A file (or symlink) whose path is also a directory another entry needs (`a` and `a/b`):
//!   always an error, whatever `OnConflict` says: which to drop is not a choice between two
//!   versions of one file.

use super::batch::{Entry, Kind};
use super::error::{Error, Result};
use std::collections::hash_map::Entry as Slot;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::path::Path;

/// What to do when two entries name the same file with different contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Fail before anything is written (`ERR_CACHELINK_ENTRY_CONFLICT`, naming the later entry).
    #[default]
    Error,
    /// Keep the entry that comes first.
    First,
    /// Keep the entry that comes last.
    Last,
}

const SAME_PATH: &str = "two entries name the same path with different sources";
const SAME_FOLDED: &str =
    "two entries name paths that differ only in case, and the destination does not tell case apart";
const FILE_AND_DIR: &str = "an entry is a file or symlink where other entries need a directory";

fn conflict(why: &'static str, into: &Path, rel: &Path) -> Error {
    Error::own("ERR_CACHELINK_ENTRY_CONFLICT", why, &into.join(rel), None).at_entry(rel)
}

/// The entries with duplicates dropped and conflicts settled, in their order, and how many
/// conflicts were settled (entries dropped for another that differed). `case_insensitive`
/// answers whether the destination folds case; it is asked at most once, and only when two
/// entries differ only in case.
pub fn settle(
    entries: Vec<Entry>,
    on_conflict: OnConflict,
    into: &Path,
    case_insensitive: impl FnOnce() -> Result<bool>,
) -> Result<(Vec<Entry>, u64)> {
    let mut keep = vec![true; entries.len()];
    let mut conflicts = 0;
    // Exact paths.
    let mut seen: HashMap<&OsStr, usize> = HashMap::with_capacity(entries.len());
    let mut dropped_any = false;
    for (i, e) in entries.iter().enumerate() {
        match seen.entry(e.rel.as_os_str()) {
            Slot::Vacant(v) => {
                v.insert(i);
            }
            Slot::Occupied(mut o) => {
                let first = *o.get();
                dropped_any = true;
                if e.kind == entries[first].kind {
                    keep[i] = false;
                    continue;
                }
                conflicts += 1;
                match on_conflict {
                    OnConflict::Error => return Err(conflict(SAME_PATH, into, &e.rel)),
                    OnConflict::First => keep[i] = false,
                    OnConflict::Last => {
                        keep[first] = false;
                        o.insert(i);
                    }
                }
            }
        }
    }
    drop(seen);
    // Paths equal but for case: found by a hash of the folded path, confirmed by comparing.
    let state = RandomState::new();
    let mut folded: HashMap<u64, usize> = HashMap::with_capacity(entries.len());
    let mut pairs = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        match folded.entry(fold_hash(&state, &e.rel)) {
            Slot::Vacant(v) => {
                v.insert(i);
            }
            Slot::Occupied(o) => {
                let other = *o.get();
                if fold_eq(&entries[other].rel, &e.rel) {
                    pairs.push((other, i));
                }
            }
        }
    }
    drop(folded);
    if !pairs.is_empty() && case_insensitive()? {
        for (first, later) in pairs {
            if !keep[first] || !keep[later] {
                continue;
            }
            dropped_any = true;
            if same_source(&entries[first].kind, &entries[later].kind) {
                keep[later] = false;
                continue;
            }
            conflicts += 1;
            match on_conflict {
                OnConflict::Error => return Err(conflict(SAME_FOLDED, into, &entries[later].rel)),
                OnConflict::First => keep[later] = false,
                OnConflict::Last => keep[first] = false,
            }
        }
    }
    // A file where a directory is needed.
    let files: HashSet<&OsStr> = entries
        .iter()
        .zip(&keep)
        .filter(|(e, k)| **k && e.kind != Kind::Dir)
        .map(|(e, _)| e.rel.as_os_str())
        .collect();
    for (e, _) in entries.iter().zip(&keep).filter(|(_, k)| **k) {
        let mut dir = e.rel.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if files.contains(d.as_os_str()) {
                return Err(conflict(FILE_AND_DIR, into, d));
            }
            dir = d.parent();
        }
    }
    drop(files);
    if !dropped_any {
        return Ok((entries, conflicts));
    }
    let kept = entries
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect();
    Ok((kept, conflicts))
}

/// Whether two entries that fold to one name bring the same thing (then one is a duplicate).
fn same_source(a: &Kind, b: &Kind) -> bool {
    a == b
}

/// The characters of a path with case folded (lowercase; ASCII-only for bytes that are not
/// UTF-8). Unicode normalization (NFC against NFD, which APFS also ignores) is not folded.
fn folded(path: &Path) -> impl Iterator<Item = char> + '_ {
    let bytes = path.as_os_str().as_encoded_bytes();
    let text = std::str::from_utf8(bytes).ok();
    let utf8 = text
        .into_iter()
        .flat_map(|s| s.chars().flat_map(char::to_lowercase));
    let raw = bytes
        .iter()
        .filter(move |_| text.is_none())
        .map(|b| char::from(b.to_ascii_lowercase()));
    utf8.chain(raw)
}

fn fold_hash(state: &RandomState, path: &Path) -> u64 {
    let mut h = state.build_hasher();
    for c in folded(path) {
        h.write_u32(u32::from(c));
    }
    h.finish()
}

fn fold_eq(a: &Path, b: &Path) -> bool {
    folded(a).eq(folded(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(rel: &str, src: &str) -> Entry {
        Entry {
            rel: PathBuf::from(rel),
            kind: Kind::File {
                src: PathBuf::from(src),
                executable: None,
                size: None,
                mutable: false,
            },
        }
    }

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let Kind::File { src, .. } = &e.kind else {
                    return e.rel.display().to_string();
                };
                format!("{}={}", e.rel.display(), src.display())
            })
            .collect()
    }

    fn sensitive() -> Result<bool> {
        Ok(false)
    }

    #[test]
    fn duplicates_are_dropped_and_conflicts_settled() {
        let into = Path::new("/into");
        let list = || vec![file("a", "/s/1"), file("b", "/s/2"), file("a", "/s/1")];
        let (e, n) = settle(list(), OnConflict::Error, into, sensitive).unwrap();
        assert_eq!((names(&e), n), (vec!["a=/s/1".into(), "b=/s/2".into()], 0));
        let list = || vec![file("a", "/s/1"), file("b", "/s/2"), file("a", "/s/3")];
        let err = settle(list(), OnConflict::Error, into, sensitive).unwrap_err();
        assert_eq!(
            (err.code, err.entry),
            ("ERR_CACHELINK_ENTRY_CONFLICT", Some(PathBuf::from("a")))
        );
        let (e, n) = settle(list(), OnConflict::First, into, sensitive).unwrap();
        assert_eq!((names(&e), n), (vec!["a=/s/1".into(), "b=/s/2".into()], 1));
        let (e, n) = settle(list(), OnConflict::Last, into, sensitive).unwrap();
        assert_eq!((names(&e), n), (vec!["b=/s/2".into(), "a=/s/3".into()], 1));
    }

    #[test]
    fn case_matters_only_where_the_destination_folds_it() {
        let into = Path::new("/into");
        let list = || vec![file("GiHeadshot.js", "/s/1"), file("GiHeadShot.js", "/s/2")];
        let mut asked = 0;
        let (e, n) = settle(list(), OnConflict::Error, into, || {
            asked += 1;
            Ok(false)
        })
        .unwrap();
        assert_eq!((e.len(), n, asked), (2, 0, 1));
        let (e, n) = settle(list(), OnConflict::Last, into, || Ok(true)).unwrap();
        assert_eq!((names(&e), n), (vec!["GiHeadShot.js=/s/2".into()], 1));
        let err = settle(list(), OnConflict::Error, into, || Ok(true)).unwrap_err();
        assert_eq!(err.entry, Some(PathBuf::from("GiHeadShot.js")));
        // No pair that folds together: the destination is not asked.
        let (_, _) = settle(vec![file("a", "/s/1")], OnConflict::Error, into, || {
            panic!("asked")
        })
        .unwrap();
        // Non-ASCII letters fold too.
        assert!(fold_eq(Path::new("Ärger/Ö"), Path::new("ärger/ö")));
    }

    #[test]
    fn a_file_where_a_directory_is_needed_is_an_error() {
        let into = Path::new("/into");
        let list = vec![file("a", "/s/1"), file("a/b", "/s/2")];
        let err = settle(list, OnConflict::Last, into, sensitive).unwrap_err();
        assert_eq!(
            (err.code, err.entry),
            ("ERR_CACHELINK_ENTRY_CONFLICT", Some(PathBuf::from("a")))
        );
        let dir = Entry {
            rel: PathBuf::from("a"),
            kind: Kind::Dir,
        };
        let (e, _) = settle(
            vec![dir.clone(), file("a/b", "/s/2"), dir],
            OnConflict::Error,
            into,
            sensitive,
        )
        .unwrap();
        assert_eq!(e.len(), 2);
    }
}
