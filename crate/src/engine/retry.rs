//! Transient failures: the few errors that mean "this file is busy for a moment" rather than
//! "this cannot be done", and the bounded retry that waits them out.
//!
//! What is transient (`transient`, one row per operation and OS; the JS twin is
//! ts/js/retry.ts):
//!
//! | operation | Linux, macOS, FreeBSD | Windows |
//! |---|---|---|
//! | rename, unlink (rmdir) | EBUSY, unless a path is a mount point | ERROR_SHARING_VIOLATION (32), ERROR_LOCK_VIOLATION (33) (libuv: EBUSY), ERROR_ACCESS_DENIED (5, libuv: EPERM) |
//! | clone | EAGAIN | 32, 33 |
//! | copy | EAGAIN | 32, 33 |
//!
//! Why: on Windows a virus scanner, the search indexer or a backup agent opens a file just
//! written without `FILE_SHARE_DELETE`; a rename or delete of it (or of the folder holding it:
//! ERROR_ACCESS_DENIED, which Node calls EPERM) is refused until it lets go, usually within
//! milliseconds. pnpm (pnpm/pnpm#1015, #3328), graceful-fs and rimraf retry exactly these.
//! ERROR_ACCESS_DENIED is also a real "no" (a read-only folder): it is then thrown after the
//! retries, late but unchanged. On Linux the kernel's own EBUSY from rename(2), unlink(2) and
//! rmdir(2) means a path is a mount point (or the root), which waiting never changes: that is
//! checked (`mount_point`) and not retried. Any other EBUSY comes from the filesystem: an SMB
//! share maps the server's sharing violation to EBUSY, a FUSE filesystem passes its own. EAGAIN
//! from a clone is OpenZFS declining blocks still in the open transaction group (astral-sh/uv
//! #19674), and from a copy's reads a network filesystem under load. Nothing else is retried:
//! EACCES, EPERM on Unix, ENOSPC, EIO say the same thing a moment later.
//!
//! How long: `RETRIES` (6) tries after the first, waiting 10, 20, 40, 80, 160 and 320 ms before
//! them (630 ms in all, about what a scanner holds a file for; graceful-fs waits up to 60 s,
//! which would hide a real failure for a minute). The number of retries made is reported
//! (`LinkResult.retries`, `ImportStats.retries`).

use super::error::{Error, Result};
use crate::errno::{self, Os};
use std::path::Path;
use std::time::Duration;

/// What was tried, for the table above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Rename,
    /// `unlink` and `rmdir`.
    Unlink,
    Clone,
    Copy,
}

/// Tries after the first.
pub const RETRIES: u32 = 6;
/// The wait before the first retry; each next one is twice as long.
const FIRST_WAIT: Duration = Duration::from_millis(10);

const WIN_ERROR_ACCESS_DENIED: i32 = 5; // libuv: EPERM
const WIN_ERROR_SHARING_VIOLATION: i32 = 32; // libuv: EBUSY
const WIN_ERROR_LOCK_VIOLATION: i32 = 33; // libuv: EBUSY

/// Whether `err` from `op` on `os` may go away if tried again in a moment (the table above).
/// `mount_point` says whether one of the paths is a mount point; asked only for a Unix EBUSY.
pub fn transient(op: Op, os: Os, err: &Error, mount_point: impl FnOnce() -> bool) -> bool {
    if os == Os::Windows {
        let busy = matches!(
            err.raw,
            WIN_ERROR_SHARING_VIOLATION | WIN_ERROR_LOCK_VIOLATION
        );
        return match op {
            Op::Rename | Op::Unlink => busy || err.raw == WIN_ERROR_ACCESS_DENIED,
            Op::Clone | Op::Copy => busy,
        };
    }
    match op {
        Op::Rename | Op::Unlink => err.is("EBUSY") && !mount_point(),
        Op::Clone | Op::Copy => err.is("EAGAIN"),
    }
}

/// Runs `f` until it succeeds, fails with an error that is not transient for `op`, or has been
/// retried `RETRIES` times; `retries` counts the retries made. `paths` are those `f` works on
/// (for the mount point check).
pub fn retrying<T>(
    op: Op,
    paths: &[&Path],
    retries: &mut u32,
    mut f: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut wait = FIRST_WAIT;
    let mut tried = 0;
    loop {
        match f() {
            Err(e)
                if tried < RETRIES
                    && transient(op, errno::CURRENT, &e, || any_mount_point(paths)) =>
            {
                crate::engine::debug(|| format!("retrying after {e:?}"));
                std::thread::sleep(wait);
                wait *= 2;
                tried += 1;
                *retries += 1;
            }
            done => return done,
        }
    }
}

/// Whether one of `paths` is a mount point (its mount is not its parent's).
fn any_mount_point(paths: &[&Path]) -> bool {
    paths.iter().any(|p| {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            Some(_) => Path::new("."),
            None => return true,
        };
        match (crate::sys::mount_key(p), crate::sys::mount_key(parent)) {
            (Ok(a), Ok(b)) => a != b,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of retry-cases.txt, which the JS backend's tests read too.
    #[test]
    fn the_table() {
        let yes = |w: &str| w == "yes";
        let mut rows = 0;
        for line in include_str!("retry-cases.txt").lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let w: Vec<&str> = line.split_whitespace().collect();
            let op = match w[0] {
                "rename" => Op::Rename,
                "unlink" => Op::Unlink,
                "clone" => Op::Clone,
                "copy" => Op::Copy,
                other => panic!("no operation {other}"),
            };
            let os = match w[1] {
                "linux" => Os::Linux,
                "macos" => Os::MacOs,
                "freebsd" => Os::FreeBsd,
                "windows" => Os::Windows,
                other => panic!("no OS {other}"),
            };
            let raw: i32 = w[2].parse().unwrap();
            let err = Error::from_raw(os, raw, "rename");
            assert_eq!(err.code, w[3], "{line}");
            assert_eq!(transient(op, os, &err, || yes(w[4])), yes(w[5]), "{line}");
            rows += 1;
        }
        assert!(rows >= 25, "{rows} rows");
    }

    #[test]
    fn windows_names_them_as_node_does() {
        let name = |raw| Error::from_raw(Os::Windows, raw, "rename").code;
        assert_eq!(name(32), "EBUSY");
        assert_eq!(name(33), "EBUSY");
        assert_eq!(name(5), "EPERM");
    }

    /// The Win32 numbers typed above are windows-sys's.
    #[cfg(windows)]
    #[test]
    fn windows_numbers_are_windows_sys_s() {
        use windows_sys::Win32::Foundation as w;
        assert_eq!(WIN_ERROR_ACCESS_DENIED as u32, w::ERROR_ACCESS_DENIED);
        assert_eq!(
            WIN_ERROR_SHARING_VIOLATION as u32,
            w::ERROR_SHARING_VIOLATION
        );
        assert_eq!(WIN_ERROR_LOCK_VIOLATION as u32, w::ERROR_LOCK_VIOLATION);
    }

    #[test]
    fn a_persistent_failure_is_returned_after_the_retries() {
        let mut retries = 0;
        let mut calls = 0;
        let busy = match errno::CURRENT {
            Os::Windows => 32,
            _ => 11,
        };
        let r: Result<()> = retrying(Op::Copy, &[], &mut retries, || {
            calls += 1;
            Err(Error::from_raw(errno::CURRENT, busy, "copyfile"))
        });
        assert!(r.is_err());
        assert_eq!((calls, retries), (1 + RETRIES, RETRIES));
        // A real error is returned at once.
        let mut retries = 0;
        let r: Result<()> = retrying(Op::Copy, &[], &mut retries, || {
            Err(Error::new("ENOSPC", "copyfile", Path::new("x"), None))
        });
        assert!(r.is_err());
        assert_eq!(retries, 0);
    }

    #[test]
    fn the_root_is_a_mount_point() {
        assert!(any_mount_point(&[Path::new("/")]));
        #[cfg(target_os = "linux")]
        assert!(any_mount_point(&[Path::new("/proc")]));
        assert!(!any_mount_point(&[Path::new("/no/such/path")]));
    }
}
