//! `ERR_CACHELINK_INTO_SOURCE` for an import whose destination exists and is, or holds, one of
//! its sources (an entry's `src`, the store): replacing it would trade the sources for the new
//! tree and delete them, merging into it would write into the cache. Checked before anything is
//! written, with symlinks resolved. A destination that does not exist cannot hold an existing
//! source, so a fresh import pays nothing here (its caller already knows `into` is absent).
//!
//! The cost is kept to one `lstat` per distinct directory of the sources (a pnpm store has 256
//! buckets), each directory's real path built from its parent's; files of the install's store
//! cost nothing per file unless `into` is in the store or holds it.

use super::batch::{Entry, Kind};
use super::error::{Error, Result};
use super::store::Store;
use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

const HOLDS_SOURCE: &str = "cannot import into a directory that is or holds a source of the import";

/// Refuses `into` (which exists) when it is, or holds, the source of a file entry.
pub fn refuse_into_sources(entries: &[Entry], into: &Path, store: Option<&Store>) -> Result<()> {
    let Ok(into_real) = fs::canonicalize(into) else {
        return Ok(()); // gone meanwhile, or unreadable: opening the destination says why
    };
    let refuse = |src: &Path, rel: &Path| {
        Err(Error::own("ERR_CACHELINK_INTO_SOURCE", HOLDS_SOURCE, src, Some(into)).at_entry(rel))
    };
    // The store's files: only when `into` is in the store or holds it can it hold one.
    let store_real = store.and_then(|s| {
        let real = fs::canonicalize(&s.files).ok()?;
        (real.starts_with(&into_real) || into_real.starts_with(&real)).then_some((s, real))
    });
    let verdict = |dir: &Path| {
        if dir.starts_with(&into_real) {
            Where::Inside
        } else if into_real.parent() == Some(dir) {
            Where::IntosParent
        } else {
            Where::Outside
        }
    };
    let mut dirs = Resolver::default();
    let mut previous: Option<(&Path, Where)> = None;
    for e in entries {
        let Kind::File { src, .. } = &e.kind else {
            continue;
        };
        let (Some(parent), Some(name)) = (src.parent(), src.file_name()) else {
            continue;
        };
        let at = match (store.and_then(|s| bucket_name(src, &s.files)), &store_real) {
            // The store neither holds `into` nor is in it: none of its files is there.
            (Some(_), None) => Where::Outside,
            (Some(bucket), Some((_, real))) => verdict(&real.join(bucket)),
            (None, _) => match previous {
                Some((p, at)) if p == parent => at,
                _ => {
                    let at = dirs.real(parent).map_or(Where::Outside, verdict);
                    previous = Some((parent, at));
                    at
                }
            },
        };
        let holds = match at {
            Where::Inside => true,
            Where::IntosParent => into_real.file_name() == Some(name),
            Where::Outside => false,
        };
        if holds {
            return refuse(src, &e.rel);
        }
    }
    Ok(())
}

/// Where a source's directory is, from `into`.
#[derive(Clone, Copy)]
enum Where {
    /// `into` or below it.
    Inside,
    /// `into`'s parent: the source may be `into` itself.
    IntosParent,
    Outside,
}

/// The bucket (`<2 hex>`) of a path the store made (`Store::path`): `<files>/<2 hex>/<name>`.
fn bucket_name<'a>(src: &'a Path, files: &Path) -> Option<&'a std::ffi::OsStr> {
    let rest = src.strip_prefix(files).ok()?;
    let mut parts = rest.components();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Component::Normal(bucket)), Some(Component::Normal(_)), None) => Some(bucket),
        _ => None,
    }
}

/// Real paths of directories, each found from its parent's with one `lstat` (a symlink is
/// resolved whole), remembered for the other sources in it.
#[derive(Default)]
struct Resolver {
    known: HashMap<PathBuf, Option<PathBuf>>,
}

impl Resolver {
    fn real(&mut self, dir: &Path) -> Option<&Path> {
        if !self.known.contains_key(dir) {
            let real = self.resolve(dir);
            self.known.insert(dir.to_path_buf(), real);
        }
        self.known.get(dir).and_then(|r| r.as_deref())
    }

    fn resolve(&mut self, dir: &Path) -> Option<PathBuf> {
        let plain = dir.is_absolute()
            && dir.components().all(|c| {
                matches!(
                    c,
                    Component::Normal(_) | Component::RootDir | Component::Prefix(_)
                )
            });
        let (Some(parent), Some(name), true) = (dir.parent(), dir.file_name(), plain) else {
            // A root, a relative path, `.` or `..`: the OS resolves it.
            return fs::canonicalize(dir).ok();
        };
        let meta = fs::symlink_metadata(dir).ok()?;
        if !meta.is_dir() {
            return fs::canonicalize(dir).ok();
        }
        Some(self.real(parent)?.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, src: PathBuf) -> Entry {
        Entry {
            rel: PathBuf::from(rel),
            kind: Kind::File {
                src,
                executable: None,
                size: None,
                mutable: false,
            },
        }
    }

    /// The destination that holds a source is refused by any spelling; one beside it is not.
    #[test]
    fn an_into_holding_a_source_is_refused() {
        let dir = crate::testing::sandbox("into-sources");
        let store = dir.join("store");
        fs::create_dir_all(store.join("ab")).unwrap();
        fs::write(store.join("ab").join("cd"), b"x").unwrap();
        let entries = [file("a", store.join("ab").join("cd"))];
        for into in [
            dir.clone(),
            store.clone(),
            store.join("ab"),
            store.join("ab").join("cd"),
        ] {
            let err = refuse_into_sources(&entries, &into, None).unwrap_err();
            assert_eq!(err.code, "ERR_CACHELINK_INTO_SOURCE", "{into:?}");
            assert_eq!(err.path, store.join("ab").join("cd"));
            assert_eq!(err.dest.as_deref(), Some(into.as_path()));
        }
        let s = Store::new(store.clone());
        for into in [dir.clone(), store.clone(), store.join("ab")] {
            let err = refuse_into_sources(&entries, &into, Some(&s)).unwrap_err();
            assert_eq!(err.code, "ERR_CACHELINK_INTO_SOURCE", "{into:?}");
        }
        fs::create_dir_all(dir.join("out")).unwrap();
        fs::create_dir_all(store.join("ef")).unwrap();
        for into in [dir.join("out"), store.join("ef")] {
            assert!(
                refuse_into_sources(&entries, &into, None).is_ok(),
                "{into:?}"
            );
            assert!(
                refuse_into_sources(&entries, &into, Some(&s)).is_ok(),
                "{into:?}"
            );
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
