//! What kind of filesystem a path is on and how many hard links one of its files may have.
//!
//! The link limit comes from the OS where it answers (`pathconf(_PC_LINK_MAX)` on macOS, a real
//! query of the volume), from the filesystem type otherwise (Linux, where glibc's `pathconf` is
//! itself a table by type that answers 127 for any type it does not know; Windows, which has no
//! `pathconf`), and is unknown when neither says. The table is here, away from the platform
//! code, so the tests on Linux exercise all of it.

use crate::sys;
use std::path::Path;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsInfo {
    /// The filesystem's type as the OS names it: "ext4", "btrfs", "tmpfs", "nfs4", "apfs", "NTFS".
    pub fs_type: Option<String>,
    /// The device or server it is mounted from, where the OS says ("/dev/loop3", "fs-1.efs...:/").
    pub source: Option<String>,
    /// The device (volume) number, as `stat` reports it.
    pub device: u64,
    pub link_max: Option<u64>,
    pub link_max_from: LinkMaxFrom,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkMaxFrom {
    /// `pathconf(_PC_LINK_MAX)` answered.
    Pathconf,
    /// Known for the filesystem type (`link_max_by_type`).
    FsType,
    #[default]
    Unknown,
}

impl LinkMaxFrom {
    pub fn name(self) -> &'static str {
        match self {
            LinkMaxFrom::Pathconf => "pathconf",
            LinkMaxFrom::FsType => "fstype",
            LinkMaxFrom::Unknown => "unknown",
        }
    }
}

/// The filesystem of `path` (which must exist).
pub fn fs_info(path: &Path) -> std::io::Result<FsInfo> {
    let device = sys::dir_device(path)?;
    let (fs_type, source) = match sys::mount_of(path, device) {
        Some(m) => (Some(m.fs_type), m.source),
        None => (None, None),
    };
    let (link_max, link_max_from) = match sys::pathconf_link_max(path) {
        Some(n) => (Some(n), LinkMaxFrom::Pathconf),
        None => match fs_type
            .as_deref()
            .and_then(|t| link_max_by_type(t, source.as_deref()))
        {
            Some(n) => (Some(n), LinkMaxFrom::FsType),
            None => (None, LinkMaxFrom::Unknown),
        },
    };
    Ok(FsInfo {
        fs_type,
        source,
        device,
        link_max,
        link_max_from,
    })
}

/// The most hard links a file may have on a filesystem of this type, where it is fixed by the
/// type (the kernel's own constants). `source` tells AWS EFS (an NFS server with a limit of 177)
/// from other NFS servers, whose limit depends on the server.
pub fn link_max_by_type(fs_type: &str, source: Option<&str>) -> Option<u64> {
    let efs = source.is_some_and(|s| s.contains(".efs.") && s.contains(".amazonaws.com"));
    match fs_type.to_ascii_lowercase().as_str() {
        // EXT2_LINK_MAX, EXT3's the same; EXT4_LINK_MAX.
        "ext2" | "ext3" => Some(32_000),
        "ext4" => Some(65_000),
        // BTRFS_LINK_MAX
        "btrfs" => Some(65_535),
        // XFS_MAXLINK: (1U << 31) - 1
        "xfs" => Some(2_147_483_647),
        // No limit of its own: the link count is a 32-bit `nlink_t`.
        "tmpfs" | "ramfs" => Some(u64::from(u32::MAX)),
        // https://docs.aws.amazon.com/efs/latest/ug/limits.html
        "nfs" | "nfs4" if efs => Some(177),
        // CreateHardLinkW makes at most 1023 links to a file, so a file has at most 1024 names:
        // https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createhardlinkw
        "ntfs" => Some(1024),
        _ => None,
    }
}

/// One line of `/proc/self/mountinfo` (proc(5)): the device, the mount point, the type and the
/// source. Fields: `id parent major:minor root mountpoint options [optional...] - type source
/// superoptions`.
#[derive(Debug, PartialEq, Eq)]
pub struct MountLine {
    pub device: (u32, u32),
    pub mount_point: Vec<u8>,
    pub fs_type: String,
    pub source: String,
}

pub fn parse_mountinfo_line(line: &str) -> Option<MountLine> {
    let (head, tail) = line.split_once(" - ")?;
    let mut head = head.split(' ');
    let device = head.nth(2)?;
    let mount_point = head.nth(1)?;
    let (major, minor) = device.split_once(':')?;
    let mut tail = tail.split(' ');
    Some(MountLine {
        device: (major.parse().ok()?, minor.parse().ok()?),
        mount_point: unescape_octal(mount_point),
        fs_type: tail.next()?.to_string(),
        source: String::from_utf8_lossy(&unescape_octal(tail.next()?)).into_owned(),
    })
}

/// The kernel writes space, tab, newline and backslash in mountinfo paths as `\ooo`.
fn unescape_octal(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // At most \377: a byte. Anything else is left as it is (and cannot overflow).
        let octal = b.get(i + 1..i + 4).filter(|d| {
            (b'0'..=b'3').contains(&d[0]) && d[1..].iter().all(|c| (b'0'..=b'7').contains(c))
        });
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The mount that holds `path`: the one whose device is the path's device (the last such line,
/// which is the one on top), else the one with the longest mount point that is a prefix of the
/// path (btrfs subvolumes report a device of their own).
pub fn pick_mount<'a>(
    mounts: &'a [MountLine],
    device: (u32, u32),
    path: &[u8],
) -> Option<&'a MountLine> {
    if let Some(m) = mounts.iter().rev().find(|m| m.device == device) {
        return Some(m);
    }
    let under = |m: &&MountLine| {
        let mp = m.mount_point.as_slice();
        mp == b"/" || (path.starts_with(mp) && matches!(path.get(mp.len()), None | Some(b'/')))
    };
    mounts
        .iter()
        .rev()
        .filter(under)
        .max_by_key(|m| m.mount_point.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let m = parse_mountinfo_line(
            "36 35 98:0 /mnt1 /mnt/my\\040cache rw,noatime master:1 - ext4 /dev/loop3 rw,errors=continue",
        )
        .unwrap();
        assert_eq!(m.device, (98, 0));
        assert_eq!(m.mount_point, b"/mnt/my cache");
        assert_eq!(
            (m.fs_type.as_str(), m.source.as_str()),
            ("ext4", "/dev/loop3")
        );
        let efs = parse_mountinfo_line(
            "40 1 0:52 / /efs rw,relatime shared:30 - nfs4 fs-0a1b.efs.us-east-1.amazonaws.com:/ rw",
        )
        .unwrap();
        assert_eq!(link_max_by_type(&efs.fs_type, Some(&efs.source)), Some(177));
        assert_eq!(link_max_by_type("nfs4", Some("nas:/export")), None);
        assert!(parse_mountinfo_line("garbage").is_none());
        // Not an escape the kernel writes: kept as text, no overflow.
        assert_eq!(unescape_octal("/a\\777\\0"), b"/a\\777\\0");
        assert_eq!(unescape_octal("/a\\134b"), b"/a\\b");
    }

    #[test]
    fn the_mount_of_a_path() {
        let line = |dev: (u32, u32), mp: &str, t: &str| MountLine {
            device: dev,
            mount_point: mp.as_bytes().to_vec(),
            fs_type: t.into(),
            source: String::new(),
        };
        let mounts = [
            line((0, 1), "/", "overlay"),
            line((7, 1), "/mnt/a", "ext4"),
            line((0, 40), "/mnt/ab", "btrfs"),
        ];
        assert_eq!(pick_mount(&mounts, (7, 1), b"/x").unwrap().fs_type, "ext4");
        // A btrfs subvolume's own device: by the path, not confused by a shared prefix.
        let by_path = |p: &[u8]| pick_mount(&mounts, (0, 99), p).unwrap().fs_type.clone();
        assert_eq!(by_path(b"/mnt/ab/sub"), "btrfs");
        assert_eq!(by_path(b"/mnt/a/sub"), "ext4");
        assert_eq!(by_path(b"/mnt/abc"), "overlay");
    }

    #[test]
    fn limits_by_type() {
        assert_eq!(link_max_by_type("ext4", None), Some(65_000));
        assert_eq!(link_max_by_type("btrfs", None), Some(65_535));
        assert_eq!(link_max_by_type("NTFS", None), Some(1024));
        assert_eq!(link_max_by_type("overlay", None), None);
        assert_eq!(link_max_by_type("fuse.sshfs", None), None);
    }
}
