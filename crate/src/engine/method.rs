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

    pub fn parse(s: &str) -> Option<Method> {
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

/// What the caller asked for: `auto`, or one method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    Auto,
    Only(Method),
}

/// The methods to try, in order.
///
/// `auto`: Linux hardlink → clone → copy (a hard link is about 2x faster than a clone on btrfs
/// and costs no extra metadata); macOS clone → hardlink → copy (APFS clones are cheap and
/// independent of the link count); Windows hardlink → copy (Dev Drive clones measured 10x slower
/// than hard links by pnpm, so clone only when asked). A named method falls back to copy when
/// `fallback` is on, and is alone when it is off.
pub fn chain(requested: Requested, fallback: bool, os: Os) -> &'static [Method] {
    use Method::*;
    match (requested, fallback) {
        (Requested::Auto, _) => match os {
            Os::Linux => &[Hardlink, Clone, Copy],
            Os::MacOs => &[Clone, Hardlink, Copy],
            Os::Windows => &[Hardlink, Copy],
        },
        (Requested::Only(Copy), _) => &[Copy],
        (Requested::Only(Clone), true) => &[Clone, Copy],
        (Requested::Only(Hardlink), true) => &[Hardlink, Copy],
        (Requested::Only(Symlink), true) => &[Symlink, Copy],
        (Requested::Only(Clone), false) => &[Clone],
        (Requested::Only(Hardlink), false) => &[Hardlink],
        (Requested::Only(Symlink), false) => &[Symlink],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The method cannot work between these two places: try the next one.
    Unsupported,
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

pub fn classify(method: Method, os: Os, err: &Error) -> Class {
    if method == Method::Hardlink && err.is("EMLINK") {
        return Class::LinkLimit;
    }
    if err.is("EXDEV") && method != Method::Copy {
        return Class::Unsupported;
    }
    if os == Os::Windows {
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
    let unsupported = match method {
        // FICLONE: EOPNOTSUPP (ext4, tmpfs), EINVAL (unaligned or mismatched files), ENOTTY or
        // ENOSYS (no ioctl), EPERM; clonefile: ENOTSUP (HFS+, network volumes).
        Method::Clone => ["ENOTSUP", "EINVAL", "ENOSYS", "ENOTTY", "EPERM"]
            .iter()
            .any(|c| err.is(c)),
        // EPERM: a filesystem without hard links (vfat), or Linux's protected_hardlinks.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn class(method: Method, os: Os, raw: i32) -> Class {
        classify(method, os, &Error::from_raw(os, raw, method.syscall()))
    }

    #[test]
    fn auto_order_per_os() {
        use Method::*;
        assert_eq!(
            chain(Requested::Auto, true, Os::Linux),
            &[Hardlink, Clone, Copy]
        );
        assert_eq!(
            chain(Requested::Auto, true, Os::MacOs),
            &[Clone, Hardlink, Copy]
        );
        assert_eq!(chain(Requested::Auto, true, Os::Windows), &[Hardlink, Copy]);
        assert_eq!(
            chain(Requested::Only(Clone), true, Os::Windows),
            &[Clone, Copy]
        );
        assert_eq!(
            chain(Requested::Only(Symlink), false, Os::Linux),
            &[Symlink]
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
    fn real_errors_are_never_masked() {
        for os in [Os::Linux, Os::MacOs] {
            for raw in [2, 13, 28, 5, 30, 17] {
                // ENOENT, EACCES, ENOSPC, EIO, EROFS, EEXIST
                for m in Method::ALL {
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
