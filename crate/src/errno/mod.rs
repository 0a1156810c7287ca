//! OS error numbers to libuv's code names ('EMLINK', 'EXDEV', ...), one table per OS.
//! The tables are plain data compiled on every OS, so the Linux test run checks all four.

mod freebsd;
mod linux;
mod macos;
mod windows;

/// Which OS's numbering a raw error code follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Linux,
    MacOs,
    FreeBsd,
    Windows,
}

/// The OS this build runs on. Linux's numbers serve Android (the same kernel); any other Unix
/// gets them as a best effort (cachelink ships no binary for one).
pub const CURRENT: Os = if cfg!(windows) {
    Os::Windows
} else if cfg!(target_vendor = "apple") {
    Os::MacOs
} else if cfg!(target_os = "freebsd") {
    Os::FreeBsd
} else {
    Os::Linux
};

/// libuv's name for a raw OS error on `os`, or "UNKNOWN" (as libuv does) when the table has no
/// entry.
pub fn name(os: Os, raw: i32) -> &'static str {
    table(os)
        .iter()
        .find(|&&(code, _)| code == raw)
        .map_or("UNKNOWN", |&(_, name)| name)
}

/// The whole table for `os`, (raw number, name), e.g. for tests.
pub fn table(os: Os) -> &'static [(i32, &'static str)] {
    match os {
        Os::Linux => linux::TABLE,
        Os::MacOs => macos::TABLE,
        Os::FreeBsd => freebsd::TABLE,
        Os::Windows => windows::TABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const ALL: [Os; 4] = [Os::Linux, Os::MacOs, Os::FreeBsd, Os::Windows];

    /// Names that are not Linux errnos but that libuv uses: its own codes (EOF, ECHARSET) and
    /// EFTYPE, which is a real errno on macOS.
    const EXTRA_NAMES: [&str; 3] = ["EOF", "ECHARSET", "EFTYPE"];

    #[test]
    fn windows_entries() {
        assert_eq!(name(Os::Windows, 1142), "EMLINK");
        assert_eq!(name(Os::Windows, 17), "EXDEV");
        assert_eq!(name(Os::Windows, 1), "EISDIR");
        assert_eq!(name(Os::Windows, 5), "EPERM");
        assert_eq!(name(Os::Windows, 2), "ENOENT");
        assert_eq!(name(Os::Windows, 32), "EBUSY");
        assert_eq!(name(Os::Windows, 183), "EEXIST");
        assert_eq!(name(Os::Windows, 1314), "EPERM");
    }

    #[test]
    fn unix_entries() {
        assert_eq!(name(Os::Linux, 31), "EMLINK");
        assert_eq!(name(Os::Linux, 95), "ENOTSUP");
        assert_eq!(name(Os::Linux, 11), "EAGAIN");
        assert_eq!(name(Os::Linux, 18), "EXDEV");
        assert_eq!(name(Os::MacOs, 45), "ENOTSUP");
        assert_eq!(name(Os::MacOs, 31), "EMLINK");
        assert_eq!(name(Os::MacOs, 35), "EAGAIN");
        assert_eq!(name(Os::MacOs, 66), "ENOTEMPTY");
    }

    /// FreeBSD's numbers are BSD numbers: Darwin's up to ENOSYS, their own above it, never
    /// Linux's from EAGAIN on.
    #[test]
    fn freebsd_entries() {
        let bsd = Os::FreeBsd;
        assert_eq!(name(bsd, 31), "EMLINK");
        assert_eq!(name(bsd, 18), "EXDEV");
        assert_eq!(name(bsd, 35), "EAGAIN");
        assert_eq!(name(bsd, 45), "ENOTSUP"); // also EOPNOTSUPP: one errno on FreeBSD
        assert_eq!(name(bsd, 63), "ENAMETOOLONG");
        assert_eq!(name(bsd, 66), "ENOTEMPTY");
        assert_eq!(name(bsd, 78), "ENOSYS");
        assert_eq!(name(bsd, 84), "EOVERFLOW");
        assert_eq!(name(bsd, 85), "ECANCELED"); // 89 on Darwin
        assert_eq!(name(bsd, 86), "EILSEQ"); // 92 on Darwin
        assert_eq!(name(bsd, 92), "EPROTO"); // 100 on Darwin
        assert_eq!(name(bsd, 89), "UNKNOWN"); // EBADMSG: libuv has no name
        assert_eq!(name(bsd, 96), "UNKNOWN"); // EOWNERDEAD here; ENODATA on Darwin
        assert_eq!(name(bsd, 95), "UNKNOWN"); // ENOTRECOVERABLE here; EOPNOTSUPP on Linux
        assert_eq!(name(bsd, 11), "UNKNOWN"); // EDEADLK here; EAGAIN on Linux
    }

    #[test]
    fn unknown_numbers() {
        for os in ALL {
            assert_eq!(name(os, 0), "UNKNOWN");
            assert_eq!(name(os, -1), "UNKNOWN");
            assert_eq!(name(os, 99_999), "UNKNOWN");
        }
        assert_eq!(name(Os::Linux, 122), "UNKNOWN"); // EDQUOT: Node 20 has no name
        assert_eq!(name(Os::MacOs, 102), "UNKNOWN"); // EOPNOTSUPP: libuv has no name
        assert_eq!(name(Os::Windows, 1168), "UNKNOWN"); // ERROR_NOT_FOUND
    }

    #[test]
    fn no_duplicate_numbers() {
        for os in ALL {
            let mut seen = HashSet::new();
            for &(code, name) in table(os) {
                assert!(seen.insert(code), "{os:?}: {code} ({name}) appears twice");
            }
        }
    }

    #[test]
    fn tables_sorted() {
        for os in ALL {
            let t = table(os);
            assert!(
                t.windows(2).all(|w| w[0].0 < w[1].0),
                "{os:?} table is not sorted"
            );
        }
    }

    #[test]
    fn names_are_known() {
        let known: HashSet<&str> = linux::TABLE
            .iter()
            .map(|&(_, n)| n)
            .chain(EXTRA_NAMES)
            .collect();
        for os in ALL {
            for &(code, name) in table(os) {
                assert!(
                    known.contains(name),
                    "{os:?}: {code} has unexpected name {name}"
                );
            }
        }
    }

    #[test]
    fn current_matches_target() {
        if cfg!(windows) {
            assert_eq!(CURRENT, Os::Windows);
        } else if cfg!(target_vendor = "apple") {
            assert_eq!(CURRENT, Os::MacOs);
        } else if cfg!(target_os = "freebsd") {
            assert_eq!(CURRENT, Os::FreeBsd);
        } else {
            assert_eq!(CURRENT, Os::Linux);
        }
    }
}
