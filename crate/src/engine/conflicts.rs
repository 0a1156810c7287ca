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
use std::hash::{BuildHasher, Hasher};
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
///
/// One pass over the entries with a map keyed by a hash of the case-folded path finds exact
/// duplicates and case pairs alike (an install sends tens of thousands of entries: this stays a
/// few milliseconds); paths are compared as bytes.
pub fn settle(
    entries: Vec<Entry>,
    on_conflict: OnConflict,
    into: &Path,
    case_insensitive: impl FnOnce() -> Result<bool>,
) -> Result<(Vec<Entry>, u64)> {
    let bytes = |i: usize| entries[i].rel.as_os_str().as_encoded_bytes();
    let mut keep = vec![true; entries.len()];
    let mut conflicts = 0;
    let mut dropped_any = false;
    // Folded hash -> the entry kept under it; a second map for the rare different paths that
    // share a hash.
    let mut by_fold: HashMap<u64, usize, Fx> = HashMap::with_capacity_and_hasher(entries.len(), Fx);
    let mut pairs = Vec::new();
    for i in 0..entries.len() {
        let h = fold_hash(bytes(i));
        let mut j = match by_fold.entry(h) {
            Slot::Vacant(v) => {
                v.insert(i);
                continue;
            }
            Slot::Occupied(o) => *o.get(),
        };
        if bytes(i) != bytes(j) {
            // Another name under this hash: its exact twin may have come before, as the other
            // half of a case pair or (rarely) a name that shares the hash.
            let pair = fold_eq(bytes(i), bytes(j));
            let twin = if pair {
                pairs
                    .iter()
                    .filter(|&&(a, _)| a == j)
                    .map(|&(_, b)| b)
                    .find(|&k| keep[k] && bytes(k) == bytes(i))
            } else {
                (0..i).rev().find(|&k| keep[k] && bytes(k) == bytes(i))
            };
            match twin {
                Some(k) => j = k,
                None => {
                    if pair {
                        pairs.push((j, i));
                    }
                    continue;
                }
            }
        }
        // The same path twice.
        dropped_any = true;
        if entries[i].kind == entries[j].kind {
            keep[i] = false;
            continue;
        }
        conflicts += 1;
        match on_conflict {
            OnConflict::Error => return Err(conflict(SAME_PATH, into, &entries[i].rel)),
            OnConflict::First => keep[i] = false,
            OnConflict::Last => {
                keep[j] = false;
                if by_fold.get(&h) == Some(&j) {
                    by_fold.insert(h, i);
                }
            }
        }
    }
    pairs.retain(|&(a, b)| keep[a] && keep[b] && bytes(a) != bytes(b));
    if !pairs.is_empty() && case_insensitive()? {
        for (first, later) in pairs {
            if !keep[first] || !keep[later] {
                continue;
            }
            dropped_any = true;
            if entries[first].kind == entries[later].kind {
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
    // A file where a directory is needed: each directory the entries need (found once each,
    // entries of one directory usually come together) looked up among the files.
    let file_at = |dir: &[u8]| {
        let matches = |k: usize| keep[k] && entries[k].kind != Kind::Dir && bytes(k) == dir;
        match by_fold.get(&fold_hash(dir)) {
            // Paths are unique by now: the entry with these bytes is the only one.
            Some(&k) if bytes(k) == dir => matches(k).then_some(k),
            // Another name under that hash (a case pair, or a shared hash): look at them all.
            Some(_) => (0..entries.len()).find(|&k| matches(k)),
            None => None,
        }
    };
    let mut seen: HashSet<&[u8], Fx> = HashSet::with_hasher(Fx);
    let mut previous: &[u8] = &[];
    for i in (0..entries.len()).filter(|&i| keep[i]) {
        let mut dir = parent(bytes(i));
        if dir == previous {
            continue;
        }
        previous = dir;
        while !dir.is_empty() && seen.insert(dir) {
            if let Some(k) = file_at(dir) {
                return Err(conflict(FILE_AND_DIR, into, &entries[k].rel));
            }
            dir = parent(dir);
        }
    }
    drop((seen, by_fold));
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

/// The directory part of a relative path's bytes (empty for a bare name): up to the last `/`,
/// or on Windows a backslash too (entry paths are built by `PathBuf::push`, which joins with it).
fn parent(path: &[u8]) -> &[u8] {
    let sep = |b: u8| b == b'/' || (cfg!(windows) && b == b'\\');
    match path.iter().rposition(|&b| sep(b)) {
        Some(at) => &path[..at],
        None => &[],
    }
}

/// The characters of a path with case folded: ASCII by a byte table, the rest (UTF-8) by
/// `char::to_lowercase`; bytes that are not UTF-8 as they are. Unicode normalization (NFC
/// against NFD, which APFS also ignores) is not folded.
fn folded(path: &[u8]) -> impl Iterator<Item = u32> + '_ {
    let ascii = path.is_ascii();
    let text = if ascii {
        None
    } else {
        std::str::from_utf8(path).ok()
    };
    let plain = path
        .iter()
        .filter(move |_| text.is_none())
        .map(|b| u32::from(b.to_ascii_lowercase()));
    let wide = text
        .into_iter()
        .flat_map(|s| s.chars().flat_map(char::to_lowercase).map(u32::from));
    plain.chain(wide)
}

fn fold_hash(path: &[u8]) -> u64 {
    let mut h = FxHasher(0);
    if path.is_ascii() {
        for chunk in path.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = b.to_ascii_lowercase();
            }
            h.add(u64::from_le_bytes(word));
        }
    } else {
        for c in folded(path) {
            h.add(u64::from(c));
        }
    }
    h.add(path.len() as u64);
    h.0
}

fn fold_eq(a: &[u8], b: &[u8]) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    folded(a).eq(folded(b))
}

/// rustc's FxHash: a multiply and a rotate per word. Not for hostile keys: a crafted index can
/// at worst make its own import slower.
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
}

#[derive(Clone, Copy, Default)]
struct Fx;

impl BuildHasher for Fx {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
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
        // A twin of the later half of a case pair is a duplicate, not a third name.
        let three = vec![
            file("A.js", "/s/1"),
            file("a.js", "/s/2"),
            file("a.js", "/s/2"),
        ];
        let (e, n) = settle(three, OnConflict::Error, into, sensitive).unwrap();
        assert_eq!((e.len(), n), (2, 0));
        let three = vec![
            file("A.js", "/s/1"),
            file("a.js", "/s/2"),
            file("a.js", "/s/3"),
        ];
        let err = settle(three, OnConflict::Error, into, sensitive).unwrap_err();
        assert_eq!(err.entry, Some(PathBuf::from("a.js")));
        // Non-ASCII letters fold too.
        assert!(fold_eq("Ärger/Ö".as_bytes(), "ärger/ö".as_bytes()));
        assert!(!fold_eq(b"a", b"b"));
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
