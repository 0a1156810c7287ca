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

/// The entries from their wire form: `path\0src\0x\0size\0...` (x "1", "0" or ""; size decimal
/// or ""), as UTF-8 bytes. Paths are checked here, before anything is written.
pub fn parse_entries(records: &[u8], into: &Path) -> Result<Vec<Entry>> {
    let unsafe_path = |why: &'static str, path: &str| {
        Error::own(
            "ERR_CACHELINK_UNSAFE_PATH",
            why,
            Path::new(path),
            Some(into),
        )
        .at_entry(Path::new(path))
    };
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut fields = records.split(|&b| b == 0);
    let mut entries = Vec::new();
    while let Some(path) = fields.next() {
        let path =
            std::str::from_utf8(path).map_err(|_| unsafe_path("the path is not UTF-8", ""))?;
        let (Some(src), Some(x), Some(size)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(unsafe_path("the entry list is malformed", path));
        };
        let rel = paths::safe_relative(path.as_bytes()).map_err(|why| unsafe_path(why, path))?;
        let src = bytes_to_path(src.to_vec())
            .ok_or_else(|| unsafe_path("the source path is not valid here", path))?;
        let executable = match x {
            b"1" => Some(true),
            b"0" => Some(false),
            _ => None,
        };
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        entries.push(Entry {
            rel,
            kind: Kind::File {
                src,
                executable,
                size,
            },
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_from_the_wire() {
        let into = Path::new("/into");
        let e = parse_entries(b"lib/a.js\0/s/1\x001\x0012\0b\0/s/2\0\0", into).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].rel, Path::new("lib/a.js"));
        let Kind::File {
            src,
            executable,
            size,
        } = &e[0].kind
        else {
            panic!()
        };
        assert_eq!(
            (src.as_path(), *executable, *size),
            (Path::new("/s/1"), Some(true), Some(12))
        );
        let Kind::File {
            executable, size, ..
        } = &e[1].kind
        else {
            panic!()
        };
        assert_eq!((*executable, *size), (None, None));
        let bad = parse_entries(b"../x\0/s\0\0", into).unwrap_err();
        assert_eq!(
            (bad.code, bad.entry.as_deref()),
            ("ERR_CACHELINK_UNSAFE_PATH", Some(Path::new("../x")))
        );
        assert!(parse_entries(b"a\0/s\0", into).is_err());
    }
}
