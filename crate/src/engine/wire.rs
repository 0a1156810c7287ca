//! `importFiles`' entries (and each package's of `importPackages`) as they cross from
//! JavaScript: one Buffer, `path\0src\0x\0size\0...`, instead of an object per file (see the
//! README's "The binding" for why), parsed here on the pool thread. Paths are checked before
//! anything is written.

use super::batch::{Entry, Kind};
use super::error::{Error, Result};
use super::paths;
use super::store::Store;
use std::path::{Path, PathBuf};

/// A path from its raw bytes: any bytes on Unix; UTF-8 on Windows, whose paths are UTF-16.
#[cfg(unix)]
pub fn bytes_to_path(bytes: Vec<u8>) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// A path from its raw bytes: any bytes on Unix; UTF-8 on Windows, whose paths are UTF-16.
#[cfg(not(unix))]
pub fn bytes_to_path(bytes: Vec<u8>) -> Option<PathBuf> {
    String::from_utf8(bytes).ok().map(PathBuf::from)
}

/// The entries from their wire form: `path\0src\0flags\0size\0...` as raw bytes (paths as the
/// caller gave them: UTF-8 from strings, any bytes from Buffers). `flags` is a set of letters:
/// `x` executable, `n` not executable (neither: the cache entry's mode), `m` mutable (a clone or
/// a copy, never a link), `l` a symlink whose target is `src`, `d` a directory (`src` empty),
/// `s` a file of the store whose digest is `src` (`importPackages` only: `parse_package`).
/// `size` is decimal or empty. Paths are checked here, before anything is written.
pub fn parse_entries(records: &[u8], into: &Path) -> Result<Vec<Entry>> {
    parse_package(records, into, None)
}

/// One package's entries (`importPackages`), as `parse_entries` reads them; those flagged `s`
/// name a file of `store` by its digest (`src`: SRI or hex, as pnpm's index records it), with
/// `x`/`n` from the index's mode.
pub fn parse_package(records: &[u8], into: &Path, store: Option<&Store>) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    if records.is_empty() {
        return Ok(entries);
    }
    let mut fields = records.split(|&b| b == 0);
    while let Some(path) = fields.next() {
        let (Some(src), Some(flags), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(unsafe_path(into, "the entry list is malformed", path));
        };
        entries.push(entry(into, store, path, src, flags, size)?);
    }
    Ok(entries)
}

fn unsafe_path(into: &Path, why: &'static str, path: &[u8]) -> Error {
    let path = bytes_to_path(path.to_vec()).unwrap_or_default();
    Error::own("ERR_CACHELINK_UNSAFE_PATH", why, &path, Some(into)).at_entry(&path)
}

fn entry(
    into: &Path,
    store: Option<&Store>,
    path: &[u8],
    src: &[u8],
    flags: &[u8],
    size: &[u8],
) -> Result<Entry> {
    let rel = paths::safe_relative(path).map_err(|why| unsafe_path(into, why, path))?;
    let has = |c: u8| flags.contains(&c);
    let executable = if has(b'x') {
        Some(true)
    } else if has(b'n') {
        Some(false)
    } else {
        None
    };
    let kind = if has(b'd') {
        Kind::Dir
    } else if has(b's') {
        let store = store.ok_or_else(|| {
            Error::own(
                "ERR_CACHELINK_BAD_DIGEST",
                "an entry names its file by digest, and no store was given",
                into,
                None,
            )
            .at_entry(&rel)
        })?;
        let src = store.path(src, executable == Some(true)).ok_or_else(|| {
            Error::own(
                "ERR_CACHELINK_BAD_DIGEST",
                "the entry's digest is neither SRI (sha512-<base64>) nor hex",
                into,
                None,
            )
            .at_entry(&rel)
        })?;
        Kind::File {
            src,
            executable,
            size: parse_size(size),
            mutable: has(b'm'),
        }
    } else {
        let src = bytes_to_path(src.to_vec())
            .ok_or_else(|| unsafe_path(into, "the source path is not valid here", path))?;
        if has(b'l') {
            Kind::Symlink {
                target: src,
                dir: false,
            }
        } else {
            Kind::File {
                src,
                executable,
                size: parse_size(size),
                mutable: has(b'm'),
            }
        }
    };
    Ok(Entry { rel, kind })
}

fn parse_size(size: &[u8]) -> Option<u64> {
    std::str::from_utf8(size)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_from_the_wire() {
        let into = Path::new("/into");
        let e = parse_entries(
            b"lib/a.js\0/s/1\0x\x0012\0b\0/s/2\0m\0\0l\0../t\0l\0\0d\0\0d\0",
            into,
        )
        .unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].rel, Path::new("lib/a.js"));
        let Kind::File {
            src,
            executable,
            size,
            ..
        } = &e[0].kind
        else {
            panic!()
        };
        assert_eq!(
            (src.as_path(), *executable, *size),
            (Path::new("/s/1"), Some(true), Some(12))
        );
        let Kind::File {
            executable,
            size,
            mutable,
            ..
        } = &e[1].kind
        else {
            panic!()
        };
        assert_eq!((*executable, *size, *mutable), (None, None, true));
        assert_eq!(
            e[2].kind,
            Kind::Symlink {
                target: PathBuf::from("../t"),
                dir: false
            }
        );
        assert_eq!(
            (e[3].rel.as_path(), &e[3].kind),
            (Path::new("d"), &Kind::Dir)
        );
        let bad = parse_entries(b"../x\0/s\0\0", into).unwrap_err();
        assert_eq!(
            (bad.code, bad.entry.as_deref()),
            ("ERR_CACHELINK_UNSAFE_PATH", Some(Path::new("../x")))
        );
        assert!(parse_entries(b"a\0/s\0", into).is_err());
    }

    #[test]
    fn store_entries_by_digest() {
        let into = Path::new("/into");
        let store = Store::new(PathBuf::from("/store/files"));
        let hex = "ab".repeat(64);
        let records = format!("bin/x\0{hex}\0sx\03\0lib/y\0{hex}\0sn\0");
        let e = parse_package(records.as_bytes(), into, Some(&store)).unwrap();
        let srcs: Vec<_> = e
            .iter()
            .map(|e| match &e.kind {
                Kind::File {
                    src, executable, ..
                } => (src.clone(), *executable),
                other => panic!("{other:?}"),
            })
            .collect();
        let name = &hex[2..];
        assert_eq!(
            srcs,
            [
                (
                    PathBuf::from(format!("/store/files/ab/{name}-exec")),
                    Some(true)
                ),
                (
                    PathBuf::from(format!("/store/files/ab/{name}")),
                    Some(false)
                ),
            ]
        );
        for (store, records) in [
            (None, records.as_str()),
            (Some(&store), "a\0sha512-AAAA\0sn\0\0"),
        ] {
            let err = parse_package(records.as_bytes(), into, store).unwrap_err();
            assert_eq!(err.code, "ERR_CACHELINK_BAD_DIGEST");
        }
    }
}
