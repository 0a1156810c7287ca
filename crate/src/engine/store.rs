//! A content-addressed store laid out as pnpm's: `<files>/<2 hex>/<the rest of the hex
//! digest>[-exec]`, one file per (content, executable). `importPackages` is given a package's
//! index (relative path → digest, mode, size) and names each file's source here, in Rust, so
//! the caller builds no path per file. The 256 bucket directories are opened once per call
//! (`O_NOFOLLOW`: a bucket that is a symlink is never opened) and the fast path looks at and
//! links from them (`sys::stat_at`, `sys::link_at`): calls that walk one name for the source
//! instead of the store's whole path, and never follow a symlink (see `batch::Work::fast_link`
//! and `check_source`).

use crate::sys;
use std::path::{Path, PathBuf, MAIN_SEPARATOR};
use std::sync::OnceLock;

/// The separator `Path::join` puts between names.
const SEP: &str = if cfg!(windows) { "\\" } else { "/" };

pub struct Store {
    /// `<store>/files` (pnpm 10: `<store>/v10/files`), as the caller resolved it.
    pub files: PathBuf,
    /// The bucket directories, opened on first use (`None`: could not be opened; the file then
    /// takes the careful path, which says why).
    buckets: Vec<OnceLock<Option<sys::DirHandle>>>,
    /// `files` with symlinks resolved, found once per install (`sources`).
    real: OnceLock<Option<PathBuf>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("files", &self.files).finish()
    }
}

impl Store {
    pub fn new(files: PathBuf) -> Store {
        Store {
            files,
            buckets: (0..256).map(|_| OnceLock::new()).collect(),
            real: OnceLock::new(),
        }
    }

    /// `files` with symlinks resolved (once; `None`: it cannot be).
    pub fn real(&self) -> Option<&Path> {
        self.real
            .get_or_init(|| std::fs::canonicalize(&self.files).ok())
            .as_deref()
    }

    /// Where the file with this digest lives: `digest` as pnpm's index records it (SRI,
    /// `sha512-<base64>`, the first of several) or as hex. `None` when it is neither.
    pub fn path(&self, digest: &[u8], executable: bool) -> Option<PathBuf> {
        let hex = hex_digest(digest)?;
        let root = self.files.as_os_str();
        let mut path = std::ffi::OsString::with_capacity(root.len() + hex.len() + 8);
        path.push(root);
        path.push(SEP);
        path.push(&hex[..2]);
        path.push(SEP);
        path.push(&hex[2..]);
        if executable {
            path.push("-exec");
        }
        Some(PathBuf::from(path))
    }

    /// The open bucket directory holding `src` and its name in it, when `src` is a path this
    /// store made (`path`). Buckets are opened with `O_NOFOLLOW|O_DIRECTORY`: a bucket that is
    /// a symlink (or anything but a directory) is never opened, and `None` sends the file to the
    /// careful path, which refuses it (`batch::Work::check_source`).
    pub fn bucket_of<'a>(&self, src: &'a Path) -> Option<(&sys::DirHandle, &'a Path)> {
        let (bucket, d) = self.bucket_index(src)?;
        let dir = self.buckets[bucket]
            .get_or_init(|| {
                let name = std::str::from_utf8(&d).ok()?;
                sys::open_dir_nofollow(&self.files.join(name)).ok()
            })
            .as_ref()?;
        // The name is the path's last `rest.len() - 4` bytes: a whole component.
        Some((dir, Path::new(src.file_name()?)))
    }

    /// Whether `src` is a path this store made (`files/<2 hex>/<name>`), whatever is there.
    pub fn holds(&self, src: &Path) -> bool {
        self.bucket_index(src).is_some()
    }

    /// The bucket (0-255) and its name's two hex digits, for a path this store made.
    fn bucket_index(&self, src: &Path) -> Option<(usize, [u8; 2])> {
        let src_bytes = src.as_os_str().as_encoded_bytes();
        let root = self.files.as_os_str().as_encoded_bytes();
        let rest = src_bytes.strip_prefix(root)?;
        let sep = MAIN_SEPARATOR as u8;
        let [s1, h1, h2, s2, ..] = *rest else {
            return None;
        };
        if s1 != sep || s2 != sep || rest[4..].contains(&sep) || rest.len() == 4 {
            return None;
        }
        Some((usize::from(hex_value(h1)? * 16 + hex_value(h2)?), [h1, h2]))
    }
}

/// Lowercase hex only: the store's names.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The digest as lowercase hex: from SRI (`<algo>-<base64>[?opts]`, the first of several
/// separated by spaces) or from hex itself; sha1, sha256, sha384 or sha512, of its length.
pub fn hex_digest(digest: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(digest).ok()?.trim();
    let first = text.split_ascii_whitespace().next()?;
    let bytes = match first.split_once('-') {
        Some((algo, b64)) => {
            let len = match algo {
                "sha1" => 20,
                "sha256" => 32,
                "sha384" => 48,
                "sha512" => 64,
                _ => return None,
            };
            let b64 = b64.split_once('?').map_or(b64, |(d, _)| d);
            base64_decode(b64).filter(|b| b.len() == len)?
        }
        None => {
            let hex = first.to_ascii_lowercase();
            let digest_len = matches!(hex.len(), 40 | 64 | 96 | 128);
            if !digest_len || !hex.bytes().all(|c| hex_value(c).is_some()) {
                return None;
            }
            return Some(hex);
        }
    };
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let hex: Vec<u8> = bytes
        .iter()
        .flat_map(|&b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .collect();
    String::from_utf8(hex).ok()
}

/// Each byte's value in standard base64 (RFC 4648 §4), or 64 for bytes that are not in it.
const BASE64: [u8; 256] = {
    let mut t = [64u8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Standard base64, padding optional; `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = BASE64[usize::from(c)];
        if v == 64 {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single character left over (6 bits) cannot end a base64 string.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_as_pnpm_records_them() {
        // sha512 of "hello\n", as `sha512sum` and pnpm's index give it.
        let hex = "e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb8d45223e54878f5b316e7ce3b6bc019629";
        let sri = "sha512-58IrmUxZ2c8rSOVJseJGZmNgRZMNPafBrLKZ0cO3+TH5Sq5B7dosKyB6NuEPi8uNRSI+VIePWzFufOO2vAGWKQ==";
        assert_eq!(hex_digest(sri.as_bytes()).as_deref(), Some(hex));
        assert_eq!(
            hex_digest(format!("{sri}?opt sha1-AAAA").as_bytes()).as_deref(),
            Some(hex)
        );
        assert_eq!(
            hex_digest(hex.to_uppercase().as_bytes()).as_deref(),
            Some(hex)
        );
        let short = "sha512-AAAA";
        for bad in [
            "",
            "md5-AAAA",
            "sha512-@@@@",
            "sha512-A",
            "abc",
            "xyz1",
            "sha512-",
            short,
            &hex[2..],
        ] {
            assert_eq!(hex_digest(bad.as_bytes()), None, "{bad}");
        }
        let store = Store::new(PathBuf::from("/s/files"));
        assert_eq!(
            store.path(sri.as_bytes(), true),
            Some(PathBuf::from(format!("/s/files/e7/{}-exec", &hex[2..])))
        );
    }

    #[test]
    fn buckets_only_for_paths_the_store_made() {
        let dir = crate::testing::sandbox("store-buckets");
        let files = dir.join("files");
        std::fs::create_dir_all(files.join("ab")).unwrap();
        let store = Store::new(files.clone());
        let src = files.join("ab").join("cdef-exec");
        let (_, name) = store.bucket_of(&src).unwrap();
        assert_eq!(name, Path::new("cdef-exec"));
        for other in [
            files.join("AB").join("cd"),
            files.join("ab"),
            files.join("ab").join("c").join("d"),
            files.join("abc").join("d"),
            dir.join("elsewhere").join("ab").join("cd"),
        ] {
            assert!(store.bucket_of(&other).is_none(), "{}", other.display());
        }
        // A bucket that cannot be opened: the careful path then says why. (Windows opens no
        // directory: its `DirHandle` is the path, and a missing one fails at the link.)
        if cfg!(unix) {
            assert!(store.bucket_of(&files.join("cd").join("ef")).is_none());
        }
        // A bucket that is a symlink is never opened (`O_NOFOLLOW`), though the store made it.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(files.join("ab"), files.join("ef")).unwrap();
            let src = files.join("ef").join("0123");
            assert!(store.holds(&src));
            assert!(store.bucket_of(&src).is_none());
        }
    }
}
