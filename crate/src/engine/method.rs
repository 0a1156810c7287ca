//! The methods, the order `auto` tries them in on each OS, and which failures mean "this method
//! does not work between these two places" (move on) rather than a real error (stop).

use super::error::Error;
use crate::errno::Os;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Clone,
        Method::Hardlink,
        Method::Copy,
        Method::Symlink,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Clone => "clone",
            Method::Hardlink => "hardlink",
            Method::Copy => "copy",
            Method::Symlink => "symlink",
        }
    }

    /// A method by name; `reflink` is another name for `clone` (uv's word for it).
    pub fn parse(s: &str) -> Option<Method> {
        if s == "reflink" {
            return Some(Method::Clone);
        }
        Method::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The syscall named in errors, in Node's vocabulary where Node has a word for it.
    pub fn syscall(self) -> &'static str {
        match self {
            Method::Clone => "clone",
            Method::Hardlink => "link",
            Method::Copy => "copyfile",
            Method::Symlink => "symlink",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What the caller asked for: `auto`, one method, or its own ordered list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    Auto,
    Only(Method),
    /// The caller's chain, tried in its order (with no copy added at the end). Like `auto`, it
    /// skips what the process knows not to work between two mounts (`memo`), all but its last.
    List(Chain),
}

impl Requested {
    /// Whether methods the memo knows not to work are skipped: `auto` and lists, whose caller
    /// asked for "the first that works", not for one method in particular.
    pub fn skips_known_failures(self) -> bool {
        !matches!(self, Requested::Only(_))
    }
}

/// Methods to try, in order: one to four, none twice. A small value (no allocation), so an
/// import can carry it to every worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    methods: [Method; 4],
    len: u8,
}

impl Chain {
    /// `methods` as a chain; `None` when the list is empty or names a method twice.
    pub fn of(methods: &[Method]) -> Option<Chain> {
        if methods.is_empty() || methods.len() > 4 {
            return None;
        }
        for (i, m) in methods.iter().enumerate() {
            if methods[..i].contains(m) {
                return None;
            }
        }
        Some(Chain::fixed(methods))
    }

    /// A chain known to be valid (one to four methods, none twice).
    const fn fixed(list: &[Method]) -> Chain {
        let mut methods = [Method::Copy; 4];
        let mut i = 0;
        while i < list.len() && i < 4 {
            methods[i] = list[i];
            i += 1;
        }
        Chain {
            methods,
            len: i as u8,
        }
    }

    pub fn as_slice(&self) -> &[Method] {
        &self.methods[..usize::from(self.len)]
    }

    /// The same chain without the methods that share the source's inode (hard link, symlink):
    /// clone and copy in their order, ending with a copy (added when missing; anything after
    /// it could never be reached). For a file that will be written to (`ImportEntry.mutable`).
    pub fn without_links(self) -> Chain {
        let mut out = [Method::Copy; 4];
        let mut n = 0;
        for &m in self.as_slice() {
            if m == Method::Clone || m == Method::Copy {
                out[n] = m;
                n += 1;
            }
            if m == Method::Copy {
                break;
            }
        }
        if n == 0 || out[n - 1] != Method::Copy {
            out[n] = Method::Copy;
            n += 1;
        }
        Chain::fixed(&out[..n])
    }
}

impl std::ops::Deref for Chain {
    type Target = [Method];

    fn deref(&self) -> &[Method] {
        self.as_slice()
    }
}

/// The methods to try, in order.
///
/// `auto`: Linux hardlink → clone → copy (a hard link is about 2x faster than a clone on btrfs
/// and costs no extra metadata); macOS clone → hardlink → copy (APFS clones are cheap and
/// independent of the link count); FreeBSD hardlink → copy (cachelink has no clone call there);
/// Windows hardlink → copy (Dev Drive clones measured 10x slower
/// than hard links by pnpm, so clone only when asked). A named method falls back to copy when
/// `fallback` is on, and is alone when it is off. A list is the caller's chain as it is
/// (`fallback: false` with a list is refused before this, by the facade and the binding).
pub fn chain(requested: Requested, fallback: bool, os: Os) -> Chain {
    use Method::*;
    let fixed = Chain::fixed;
    match (requested, fallback) {
        (Requested::List(list), _) => list,
        (Requested::Auto, _) => match os {
            Os::Linux => fixed(&[Hardlink, Clone, Copy]),
            Os::MacOs => fixed(&[Clone, Hardlink, Copy]),
            Os::FreeBsd | Os::Windows => fixed(&[Hardlink, Copy]),
        },
        (Requested::Only(Copy), _) => fixed(&[Copy]),
        (Requested::Only(m), true) => fixed(&[m, Copy]),
        (Requested::Only(m), false) => fixed(&[m]),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The method cannot work between these two places: try the next one, and remember it.
    Unsupported,
    /// This file's hard link was refused, not hard links here: Linux's `protected_hardlinks`
    /// (EPERM for a file the process does not own and cannot write), a OneDrive folder on
    /// Windows (ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS). Try the next method for this file
    /// only; the next file may link.
    Refused,
    /// A hard link refused with EACCES (Unix): FUSE filesystems refuse every link so (Android's
    /// shared storage, Termux; oven-sh/bun#36853), but EACCES is also a directory the process
    /// may not write. Nothing in the error tells which: `link_file` decides (`denied`), by
    /// whether the process can read the source (if not, the next method would fail too: the
    /// error is real) and by what hard links did between the two mounts before.
    Denied,
    /// A hard link failed because the source has as many links as its filesystem allows.
    LinkLimit,
    /// Anything else: missing source, permissions, no space, I/O. Never masked by a fallback.
    Real,
}

/// Win32 errors that libuv names vaguely but that mean "not supported here".
const WIN_ERROR_INVALID_FUNCTION: i32 = 1; // libuv: EISDIR
const WIN_ERROR_NOT_SUPPORTED: i32 = 50; // libuv: ENOTSUP
const WIN_ERROR_INVALID_PARAMETER: i32 = 87; // libuv: EINVAL
const WIN_ERROR_BLOCK_TOO_MANY_REFERENCES: i32 = 347; // ReFS: this block is cloned too often
/// A hard link to or from a cloud-files placeholder (a OneDrive folder) that the sync root's
/// hard link policy does not allow (libuv: UNKNOWN). It depends on the file, not the volume
/// (uv #9500). <https://learn.microsoft.com/windows/win32/api/cfapi/ne-cfapi-cf_hardlink_policy>
const WIN_ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS: i32 = 396;

/// What a failure of `method` means. `may_link`: Linux's `protected_hardlinks` lets the process
/// link the source (it owns it, is root, or may read and write it: `sys::may_link`); only then
/// does a hard link's EPERM say the filesystem has no hard links (vfat, exFAT) rather than that
/// `protected_hardlinks` refused this one file.
pub fn classify(method: Method, os: Os, err: &Error, may_link: bool) -> Class {
    if method == Method::Hardlink && err.is("EMLINK") {
        return Class::LinkLimit;
    }
    if err.is("EXDEV") && method != Method::Copy {
        return Class::Unsupported;
    }
    if os == Os::Windows {
        if method == Method::Hardlink && err.raw == WIN_ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS {
            return Class::Refused;
        }
        let unsupported = match method {
            Method::Clone => {
                err.is("ENOTSUP")
                    || matches!(
                        err.raw,
                        WIN_ERROR_INVALID_FUNCTION
                            | WIN_ERROR_NOT_SUPPORTED
                            | WIN_ERROR_INVALID_PARAMETER
                            | WIN_ERROR_BLOCK_TOO_MANY_REFERENCES
                    )
            }
            // FAT and some network shares have no hard links.
            Method::Hardlink => {
                matches!(
                    err.raw,
                    WIN_ERROR_INVALID_FUNCTION | WIN_ERROR_NOT_SUPPORTED
                )
            }
            // ERROR_PRIVILEGE_NOT_HELD (libuv: EPERM) without Developer Mode.
            Method::Symlink => err.is("EPERM") || err.is("ENOTSUP"),
            Method::Copy => false,
        };
        return if unsupported {
            Class::Unsupported
        } else {
            Class::Real
        };
    }
    // EPERM for a hard link: a filesystem without hard links (vfat, exFAT) whoever owns the
    // file, or, for a file of someone else that the caller cannot write, `protected_hardlinks`,
    // which says nothing about the next file.
    if method == Method::Hardlink && err.is("EPERM") && !may_link {
        return Class::Refused;
    }
    if method == Method::Hardlink && err.is("EACCES") {
        return Class::Denied;
    }
    let unsupported = match method {
        // FICLONE: EOPNOTSUPP (ext4, tmpfs), EINVAL (unaligned or mismatched files), ENOTTY or
        // ENOSYS (no ioctl), EPERM; clonefile: ENOTSUP (HFS+, network volumes).
        Method::Clone => ["ENOTSUP", "EINVAL", "ENOSYS", "ENOTTY", "EPERM"]
            .iter()
            .any(|c| err.is(c)),
        Method::Hardlink | Method::Symlink => {
            ["EPERM", "ENOTSUP", "ENOSYS"].iter().any(|c| err.is(c))
        }
        Method::Copy => false,
    };
    if unsupported {
        Class::Unsupported
    } else {
        Class::Real
    }
}

/// The code to report for a refused link (`Class::Refused`): libuv's name, or the Win32 name
/// where libuv has none (396 is UNKNOWN to libuv).
pub fn refusal_code(os: Os, err: &Error) -> &'static str {
    if os == Os::Windows && err.raw == WIN_ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS {
        return "ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS";
    }
    err.code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class of `raw` from `method` on `os`, for a source the process may link (owns).
    fn class(method: Method, os: Os, raw: i32) -> Class {
        classify(
            method,
            os,
            &Error::from_raw(os, raw, method.syscall()),
            true,
        )
    }

    /// ... and for a source of another user that the process cannot write.
    fn class_not_owned(method: Method, os: Os, raw: i32) -> Class {
        classify(
            method,
            os,
            &Error::from_raw(os, raw, method.syscall()),
            false,
        )
    }

    #[test]
    fn auto_order_per_os() {
        use Method::*;
        let of = |r, fallback, os| chain(r, fallback, os).as_slice().to_vec();
        assert_eq!(
            of(Requested::Auto, true, Os::Linux),
            [Hardlink, Clone, Copy]
        );
        assert_eq!(
            of(Requested::Auto, true, Os::MacOs),
            [Clone, Hardlink, Copy]
        );
        assert_eq!(of(Requested::Auto, true, Os::FreeBsd), [Hardlink, Copy]);
        assert_eq!(of(Requested::Auto, true, Os::Windows), [Hardlink, Copy]);
        assert_eq!(of(Requested::Only(Clone), true, Os::Windows), [Clone, Copy]);
        assert_eq!(of(Requested::Only(Symlink), false, Os::Linux), [Symlink]);
        assert_eq!(of(Requested::Only(Copy), false, Os::Linux), [Copy]);
    }

    #[test]
    fn a_list_is_the_chain_on_every_os() {
        use Method::*;
        let list = Chain::of(&[Clone, Hardlink, Copy]).unwrap();
        for os in [Os::Linux, Os::MacOs, Os::FreeBsd, Os::Windows] {
            assert_eq!(
                chain(Requested::List(list), true, os).as_slice(),
                [Clone, Hardlink, Copy]
            );
        }
        // No copy is added to a list.
        let list = Chain::of(&[Hardlink, Symlink]).unwrap();
        assert_eq!(
            chain(Requested::List(list), true, Os::Linux).as_slice(),
            [Hardlink, Symlink]
        );
        assert!(Requested::List(list).skips_known_failures());
        assert!(Requested::Auto.skips_known_failures());
        assert!(!Requested::Only(Clone).skips_known_failures());
    }

    #[test]
    fn bad_lists_are_not_chains() {
        use Method::*;
        assert_eq!(Chain::of(&[]), None);
        assert_eq!(Chain::of(&[Clone, Copy, Clone]), None);
        assert_eq!(Chain::of(&[Clone, Hardlink, Copy, Symlink, Copy]), None);
        assert_eq!(
            Chain::of(&[Symlink, Copy, Clone, Hardlink]).map(|c| c.len()),
            Some(4)
        );
    }

    #[test]
    fn reflink_is_clone() {
        assert_eq!(Method::parse("reflink"), Some(Method::Clone));
        assert_eq!(Method::parse("clone"), Some(Method::Clone));
        assert_eq!(Method::parse("link"), None);
    }

    #[test]
    fn without_links_keeps_clone_and_copy_in_order_and_ends_with_copy() {
        use Method::*;
        let cut = |list: &[Method]| Chain::of(list).unwrap().without_links().as_slice().to_vec();
        assert_eq!(cut(&[Hardlink, Clone, Copy]), [Clone, Copy]);
        assert_eq!(cut(&[Clone, Hardlink, Copy]), [Clone, Copy]);
        assert_eq!(cut(&[Hardlink, Copy]), [Copy]);
        assert_eq!(cut(&[Hardlink]), [Copy]);
        assert_eq!(cut(&[Hardlink, Symlink]), [Copy]);
        assert_eq!(cut(&[Clone]), [Clone, Copy]);
        assert_eq!(cut(&[Symlink, Clone]), [Clone, Copy]);
        assert_eq!(cut(&[Copy, Clone]), [Copy]);
        assert_eq!(cut(&[Clone, Copy, Hardlink, Symlink]), [Clone, Copy]);
        assert_eq!(
            chain(Requested::Auto, true, Os::Linux)
                .without_links()
                .as_slice(),
            [Clone, Copy]
        );
    }

    #[test]
    fn a_refused_link_is_this_file_only() {
        // EPERM from link(2) for a file of someone else: protected_hardlinks.
        assert_eq!(
            class_not_owned(Method::Hardlink, Os::Linux, 1),
            Class::Refused
        );
        assert_eq!(
            class_not_owned(Method::Hardlink, Os::MacOs, 1),
            Class::Refused
        );
        // The same for a file the process owns: a filesystem without hard links.
        assert_eq!(class(Method::Hardlink, Os::Linux, 1), Class::Unsupported);
        // Only hard links are refused per file: clone and symlink EPERM stay unsupported.
        assert_eq!(
            class_not_owned(Method::Clone, Os::Linux, 1),
            Class::Unsupported
        );
        assert_eq!(
            class_not_owned(Method::Symlink, Os::Linux, 1),
            Class::Unsupported
        );
        // Other failures are what they were, owned or not.
        assert_eq!(
            class_not_owned(Method::Hardlink, Os::Linux, 18),
            Class::Unsupported
        );
        assert_eq!(
            class_not_owned(Method::Hardlink, Os::Linux, 31),
            Class::LinkLimit
        );
        assert_eq!(
            class_not_owned(Method::Hardlink, Os::Linux, 13),
            Class::Denied
        );
        assert_eq!(class_not_owned(Method::Copy, Os::Linux, 1), Class::Real);
        // Windows: a OneDrive folder refuses the link of this file, whoever owns it.
        for may_link in [true, false] {
            let err = Error::from_raw(Os::Windows, 396, "link");
            assert_eq!(err.code, "UNKNOWN");
            assert_eq!(
                classify(Method::Hardlink, Os::Windows, &err, may_link),
                Class::Refused
            );
            assert_eq!(
                refusal_code(Os::Windows, &err),
                "ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS"
            );
        }
        assert_eq!(class(Method::Copy, Os::Windows, 396), Class::Real);
        // ERROR_ACCESS_DENIED (libuv: EPERM) stays a real error on Windows, owned or not.
        assert_eq!(
            class_not_owned(Method::Hardlink, Os::Windows, 5),
            Class::Real
        );
        let eperm = Error::from_raw(Os::Linux, 1, "link");
        assert_eq!(refusal_code(Os::Linux, &eperm), "EPERM");
    }

    /// The Win32 number typed above is windows-sys's.
    #[cfg(windows)]
    #[test]
    fn cloud_files_error_is_windows_sys_s() {
        assert_eq!(
            WIN_ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS as u32,
            windows_sys::Win32::Foundation::ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS
        );
    }

    #[test]
    fn link_limit_on_every_os() {
        assert_eq!(class(Method::Hardlink, Os::Linux, 31), Class::LinkLimit);
        assert_eq!(class(Method::Hardlink, Os::MacOs, 31), Class::LinkLimit);
        // ERROR_TOO_MANY_LINKS, which libuv leaves UNKNOWN.
        assert_eq!(class(Method::Hardlink, Os::Windows, 1142), Class::LinkLimit);
    }

    #[test]
    fn cross_device_moves_on() {
        assert_eq!(class(Method::Hardlink, Os::Linux, 18), Class::Unsupported);
        assert_eq!(class(Method::Clone, Os::Linux, 18), Class::Unsupported);
        assert_eq!(class(Method::Hardlink, Os::MacOs, 18), Class::Unsupported);
        // ERROR_NOT_SAME_DEVICE
        assert_eq!(class(Method::Hardlink, Os::Windows, 17), Class::Unsupported);
        assert_eq!(class(Method::Copy, Os::Linux, 18), Class::Real);
    }

    #[test]
    fn clone_not_supported_moves_on() {
        assert_eq!(class(Method::Clone, Os::Linux, 95), Class::Unsupported); // EOPNOTSUPP
        assert_eq!(class(Method::Clone, Os::Linux, 22), Class::Unsupported); // EINVAL
        assert_eq!(class(Method::Clone, Os::Linux, 25), Class::Unsupported); // ENOTTY
        assert_eq!(class(Method::Clone, Os::MacOs, 45), Class::Unsupported); // ENOTSUP
        assert_eq!(class(Method::Clone, Os::Windows, 1), Class::Unsupported);
        assert_eq!(class(Method::Clone, Os::Windows, 50), Class::Unsupported);
        assert_eq!(
            class(Method::Symlink, Os::Windows, 1314),
            Class::Unsupported
        );
    }

    #[test]
    fn eacces_from_link_is_for_link_file_to_decide() {
        for os in [Os::Linux, Os::MacOs, Os::FreeBsd] {
            let eacces = 13;
            assert_eq!(class(Method::Hardlink, os, eacces), Class::Denied);
            assert_eq!(class_not_owned(Method::Hardlink, os, eacces), Class::Denied);
            // Only a hard link's: EACCES from anything else is real.
            for m in [Method::Clone, Method::Copy, Method::Symlink] {
                assert_eq!(class(m, os, eacces), Class::Real);
            }
        }
        // Windows: EACCES is not how a volume refuses links (ERROR_ACCESS_DENIED is EPERM).
        assert_eq!(class(Method::Hardlink, Os::Windows, 5), Class::Real);
    }

    #[test]
    fn real_errors_are_never_masked() {
        for os in [Os::Linux, Os::MacOs] {
            for raw in [2, 13, 28, 5, 30, 17] {
                // ENOENT, EACCES (but a hard link's: above), ENOSPC, EIO, EROFS, EEXIST
                for m in Method::ALL {
                    if m == Method::Hardlink && raw == 13 {
                        continue;
                    }
                    assert_eq!(class(m, os, raw), Class::Real, "{m:?} {raw} on {os:?}");
                }
            }
        }
        // ERROR_FILE_NOT_FOUND, ERROR_ACCESS_DENIED, ERROR_DISK_FULL, ERROR_ALREADY_EXISTS
        for raw in [2, 5, 112, 183] {
            for m in [Method::Clone, Method::Hardlink, Method::Copy] {
                assert_eq!(class(m, Os::Windows, raw), Class::Real, "{m:?} {raw}");
            }
        }
    }
}
