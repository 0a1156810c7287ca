//! Path safety for batch entries: a package index is input, and a malicious or corrupt one must
//! never write outside its destination, nor make a name the destination's OS cannot hold.
//!
//! What is refused depends on the OS the files are written on (the rules are compiled per OS):
//! everywhere an empty path, a NUL byte, an absolute path and a `..` name; on Windows also
//! what is a separator, a drive, a stream or a device there, or a name Windows would silently
//! change (`windows_name_error`). On Linux and macOS a backslash, a `:` or `nul.txt` is a plain
//! character or name (pnpm creates such files), kept as it is. A name longer than the
//! filesystem allows is left to the OS (ENAMETOOLONG).
//!
//! Both rule sets are plain functions compiled everywhere, so the Unix tests also run the
//! Windows rules; `scripts/wine-test.sh` runs them through `safe_relative` on Windows.

use std::path::{Component, PathBuf};

/// The entry path, from its raw bytes, as a relative path of plain names, or why it is unsafe
/// or invalid here. `/` separates names on every OS; empty and `.` names are skipped. On Unix
/// any bytes but NUL make a name (a name need not be UTF-8); on Windows the bytes must be UTF-8.
pub fn safe_relative(path: &[u8]) -> Result<PathBuf, &'static str> {
    if path.contains(&0) {
        return Err("the path contains a NUL byte");
    }
    #[cfg(windows)]
    {
        let text = std::str::from_utf8(path).map_err(|_| "the path is not UTF-8")?;
        if let Some(why) = windows_path_error(text) {
            return Err(why);
        }
    }
    if path.first() == Some(&b'/') {
        return Err("the path is absolute");
    }
    let mut out = PathBuf::new();
    for name in path.split(|&b| b == b'/') {
        match name {
            b"" | b"." => continue,
            b".." => return Err("the path climbs out with '..'"),
            _ => out.push(name_of(name)?),
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

#[cfg(unix)]
fn name_of(name: &[u8]) -> Result<&std::ffi::OsStr, &'static str> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::ffi::OsStr::from_bytes(name))
}

#[cfg(not(unix))]
fn name_of(name: &[u8]) -> Result<&str, &'static str> {
    // Checked as UTF-8 whole, and split at '/': UTF-8 too.
    let name = std::str::from_utf8(name).map_err(|_| "the path is not UTF-8")?;
    match windows_name_error(name) {
        Some(why) => Err(why),
        None => Ok(name),
    }
}

/// Why a whole `/`-separated path cannot be written on Windows, before its names are looked
/// at: a backslash (a separator there, so `a\b` would be two names, or climb out as `..\x`), or
/// a drive (`C:`), which `windows_name_error` would also refuse as a `:` but less clearly.
pub fn windows_path_error(path: &str) -> Option<&'static str> {
    if path.contains('\\') {
        return Some("the path contains a backslash (a separator on Windows)");
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("the path starts with a drive letter");
    }
    None
}

/// Devices Windows opens in place of a file of that name, in any directory and with any
/// extension (`nul.txt`, `COM1.tar.gz`), whatever the case: "Naming Files, Paths, and
/// Namespaces" (https://learn.microsoft.com/windows/win32/fileio/naming-a-file), which lists
/// COM0-9 and LPT0-9 and the superscript digits ¹ ² ³ as digits of COM and LPT names; and the
/// console names of `CreateFileW`
/// (https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew#consoles).
const DEVICES: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];

fn is_device(name: &str) -> bool {
    // The part before the first dot, with the spaces Windows strips before an extension.
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    if DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d)) {
        return true;
    }
    let mut chars = stem.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: Vec<char> = chars.collect();
    (prefix.eq_ignore_ascii_case("COM") || prefix.eq_ignore_ascii_case("LPT"))
        && matches!(rest.as_slice(), ['0'..='9' | '¹' | '²' | '³'])
}

/// Why one name (no `/`) cannot be a file or directory name on Windows, or `None` when it can.
/// Compiled on every OS, so the tests on Linux check the Windows rules too.
pub fn windows_name_error(name: &str) -> Option<&'static str> {
    if name.contains('\\') {
        return Some("the path contains a backslash (a separator on Windows)");
    }
    if name.contains(':') {
        return Some("a name contains ':' (a drive or an alternate data stream on Windows)");
    }
    if name.contains(['<', '>', '"', '|', '?', '*']) {
        return Some("a name contains a character Windows does not allow (one of <>\"|?*)");
    }
    if name.chars().any(|c| ('\u{1}'..='\u{1f}').contains(&c)) {
        return Some("a name contains a control character, which Windows does not allow");
    }
    if is_device(name) {
        return Some("a name is reserved for a device on Windows (CON, PRN, AUX, NUL, COM1, LPT1, ... also with an extension)");
    }
    if name != "." && name != ".." && (name.ends_with('.') || name.ends_with(' ')) {
        return Some("a name ends with a dot or a space, which Windows drops");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_rejected_everywhere() {
        for bad in [
            &b"../x"[..],
            b"/etc/x",
            b"a/../../x",
            b"a\0b",
            b"",
            b"./",
            b"..",
            b"./../x",
            b"//server/share",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            safe_relative(b"a/../b"),
            Err("the path climbs out with '..'")
        );
        assert_eq!(safe_relative(b"/x"), Err("the path is absolute"));
        assert_eq!(safe_relative(b"./"), Err("the path is empty"));
    }

    #[test]
    fn plain_paths_are_normalized() {
        assert_eq!(
            safe_relative(b"lib/index.js"),
            Ok(PathBuf::from("lib").join("index.js"))
        );
        assert_eq!(safe_relative(b"./a//b/"), Ok(PathBuf::from("a").join("b")));
        assert_eq!(
            safe_relative(b"a..b/c..d"),
            Ok(PathBuf::from("a..b").join("c..d"))
        );
    }

    /// On Linux and macOS these are plain names: a backslash, ':', what Windows reserves, and
    /// bytes that are not UTF-8.
    #[cfg(unix)]
    #[test]
    fn unix_names_are_kept_as_they_are() {
        use std::os::unix::ffi::OsStrExt;
        for name in [
            &b"lib\\weird.js"[..],
            b"a:b",
            b"C:\\x",
            b"c:x",
            b"a\\..\\b",
            b"nul.txt",
            b"CON",
            b"x<y>|?*\"",
            b"trailing.",
            b"space ",
            b"tab\tname",
            b"caf\xe9",
        ] {
            let got = safe_relative(name).unwrap_or_default();
            assert_eq!(got.as_os_str().as_bytes(), name, "{name:?}");
        }
        assert_eq!(
            safe_relative(b"lib/a\\b").map(|p| p.components().count()),
            Ok(2)
        );
    }

    #[cfg(windows)]
    #[test]
    fn windows_refuses_what_it_cannot_hold() {
        for (bad, why) in [
            (&b"lib\\weird.js"[..], "backslash"),
            (b"C:\\x", "backslash"),
            (b"c:x", "drive letter"),
            (b"a/b:c", "':'"),
            (b"lib/nul.txt", "reserved"),
            (b"caf\xe9", "not UTF-8"),
            (b"a/trailing./b", "ends with a dot"),
        ] {
            let err = safe_relative(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert_eq!(
            safe_relative("ok/é.js".as_bytes()),
            Ok(PathBuf::from("ok\\é.js"))
        );
    }

    #[test]
    fn windows_rules() {
        for good in [
            "index.js", "a..b", ".hidden", "CONSOLE", "com10", "lpt", "nul_", "xcon.txt", "COM",
            "é.js",
        ] {
            assert_eq!(windows_name_error(good), None, "{good}");
        }
        let why = |name: &str| windows_name_error(name).unwrap_or("accepted");
        for reserved in [
            "CON",
            "con",
            "Nul",
            "nul.txt",
            "NUL.tar.gz",
            "aux.",
            "PRN",
            "COM1",
            "com9.js",
            "LPT1",
            "lpt0",
            "COM¹",
            "lpt³.txt",
            "CONIN$",
            "conout$",
            "nul .txt",
        ] {
            assert!(
                why(reserved).contains("reserved"),
                "{reserved}: {}",
                why(reserved)
            );
        }
        for (bad, what) in [
            ("a:b", "':'"),
            ("a<b", "<>"),
            ("a>b", "<>"),
            ("a\"b", "<>"),
            ("a|b", "<>"),
            ("a?b", "<>"),
            ("a*b", "<>"),
            ("a\u{1}b", "control"),
            ("a\u{1f}", "control"),
            ("end.", "ends with a dot"),
            ("end ", "ends with a dot or a space"),
            ("a\\b", "backslash"),
        ] {
            assert!(why(bad).contains(what), "{bad:?}: {}", why(bad));
        }
        assert_eq!(
            windows_path_error("C:/x"),
            Some("the path starts with a drive letter")
        );
        assert_eq!(windows_path_error("lib/a.js"), None);
    }
}
