//! Path safety for batch entries: a package index is input, and a malicious or corrupt one must
//! never write outside its destination.

use std::path::{Component, PathBuf};

/// The entry path as a relative path of plain names, or why it is unsafe. `/` separates names
/// on every OS; empty and `.` names are skipped.
pub fn safe_relative(path: &str) -> Result<PathBuf, &'static str> {
    if path.contains('\0') {
        return Err("the path contains a NUL byte");
    }
    if path.contains('\\') {
        return Err("the path contains a backslash (a Windows separator)");
    }
    if path.starts_with('/') {
        return Err("the path is absolute");
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err("the path starts with a drive letter");
    }
    if cfg!(windows) && path.contains(':') {
        return Err("the path contains ':' (a drive or an alternate data stream on Windows)");
    }
    let mut out = PathBuf::new();
    for name in path.split('/') {
        match name {
            "" | "." => continue,
            ".." => return Err("the path climbs out with '..'"),
            _ => out.push(name),
        }
    }
    // What std makes of it must be plain names too (no prefix or root slipped through).
    if out.as_os_str().is_empty() {
        return Err("the path is empty");
    }
    if !out.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("the path is not a plain relative path");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_rejected() {
        for bad in [
            "../x",
            "/etc/x",
            "a/../../x",
            "a\0b",
            "C:\\x",
            "c:x",
            "a\\..\\b",
            "",
            "./",
            "..",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn plain_paths_are_normalized() {
        assert_eq!(
            safe_relative("lib/index.js"),
            Ok(PathBuf::from("lib/index.js"))
        );
        assert_eq!(safe_relative("./a//b/"), Ok(PathBuf::from("a/b")));
        assert_eq!(safe_relative("a..b/c.."), Ok(PathBuf::from("a..b/c..")));
    }
}
