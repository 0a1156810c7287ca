//! `importFiles`' entries as they cross from JavaScript: one Buffer, `path\0src\0x\0size\0...`,
//! instead of an object per file (see the README's "The binding" for why), parsed here on the
//! pool thread. Paths are checked before anything is written.

use super::batch::{Entry, Kind};
use super::error::{Error, Result};
use super::paths;
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
/// a copy, never a link), `l` a symlink whose target is `src`, `d` a directory (`src` empty).
/// `size` is decimal or empty. Paths are checked here, before anything is written.
pub fn parse_entries(records: &[u8], into: &Path) -> Result<Vec<Entry>> {
    let unsafe_path = |why: &'static str, path: &[u8]| {
        let path = bytes_to_path(path.to_vec()).unwrap_or_default();
        Error::own("ERR_CACHELINK_UNSAFE_PATH", why, &path, Some(into)).at_entry(&path)
    };
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut fields = records.split(|&b| b == 0);
    let mut entries = Vec::new();
    while let Some(path) = fields.next() {
        let (Some(src), Some(flags), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(unsafe_path("the entry list is malformed", path));
        };
        let rel = paths::safe_relative(path).map_err(|why| unsafe_path(why, path))?;
        let has = |c: u8| flags.contains(&c);
        let kind = if has(b'd') {
            Kind::Dir
        } else {
            let src = bytes_to_path(src.to_vec())
                .ok_or_else(|| unsafe_path("the source path is not valid here", path))?;
            if has(b'l') {
                Kind::Symlink {
                    target: src,
                    dir: false,
                }
            } else {
                Kind::File {
                    src,
                    executable: if has(b'x') {
                        Some(true)
                    } else if has(b'n') {
                        Some(false)
                    } else {
                        None
                    },
                    size: std::str::from_utf8(size)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok()),
                    mutable: has(b'm'),
                }
            }
        };
        entries.push(Entry { rel, kind });
    }
    Ok(entries)
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
}
