//! `verify`: check store entries against the digests their index records, on cachelink's pool,
//! and repair a mismatch in place from a good copy.
//!
//! Installers that hard-link share one inode between the store and every project, so an edit
//! through any link changes the store for everyone (pnpm#3445). A repair therefore rewrites the
//! entry's bytes *in place*, keeping its inode, which repairs every linked project too:
//!
//! 1. The good copy is read whole into memory while it is hashed; its digest must be the
//!    expected one, or nothing is written (`Repair::GoodMismatch`). Reading it once means it
//!    cannot change between the check and the write.
//! 2. The entry is opened for writing (as its owner, a read-only entry gets `u+w` for the
//!    moment), and must still be the inode that was hashed.
//! 3. The good bytes are written from offset 0, the file truncated to their length, the entry's
//!    mode and its access and modification times (as they were before verify read it) put back,
//!    and the file fsynced.
//!
//! An entry whose digest matches is never opened for writing. A write that fails half-way
//! (ENOSPC on a copy-on-write filesystem, EIO) leaves an entry that was already wrong, and is
//! reported.

use super::batch::Control;
use super::error::{Error, Result};
use super::pool;
use crate::sys;
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::fs::{self, File, FileTimes, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// The digests verify computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    Sha256,
    Sha384,
    Sha512,
}

impl Algo {
    pub fn from_name(name: &[u8]) -> Option<Algo> {
        match name {
            b"sha256" => Some(Algo::Sha256),
            b"sha384" => Some(Algo::Sha384),
            b"sha512" => Some(Algo::Sha512),
            _ => None,
        }
    }

    /// Bytes in a digest.
    pub fn digest_len(self) -> usize {
        match self {
            Algo::Sha256 => 32,
            Algo::Sha384 => 48,
            Algo::Sha512 => 64,
        }
    }

    fn hasher(self) -> Hasher {
        match self {
            Algo::Sha256 => Hasher::Sha256(Sha256::new()),
            Algo::Sha384 => Hasher::Sha384(Sha384::new()),
            Algo::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
}

enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub algo: Algo,
    pub expected: Vec<u8>,
    /// A copy with the right bytes, used to repair the entry when it does not match.
    pub good: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Repair {
    /// The entry now holds the good copy's bytes: same inode, mode and times.
    Done,
    /// The good copy's digest (this one) is not the expected one either: nothing was written.
    GoodMismatch(Vec<u8>),
    /// Reading the good copy or writing the entry failed.
    Failed(Error),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The entry's index in the list.
    pub index: usize,
    pub actual: Vec<u8>,
    /// Bytes hashed (the entry's size).
    pub size: u64,
    /// `None` when no good copy was given (or repairs are off).
    pub repair: Option<Repair>,
}

#[derive(Debug, Default)]
pub struct Report {
    /// Entries checked (hashed or found unreadable).
    pub files: u64,
    /// Entries whose digest matched.
    pub ok: u64,
    /// Bytes hashed, good copies included.
    pub bytes: u64,
    pub mismatches: Vec<Mismatch>,
    /// Entries that could not be read (missing: ENOENT), by index.
    pub unreadable: Vec<(usize, Error)>,
    pub repaired: u64,
    pub elapsed_ms: f64,
}

/// Entries per unit of work handed to a thread.
const CHUNK: usize = 16;
/// Read size.
const BUF: usize = 256 * 1024;

/// Checks every entry (on the pool; `ctl` carries progress and abort); repairs mismatches that
/// have a good copy when `repair` is set.
pub fn verify(entries: &[Entry], repair: bool, ctl: &Control) -> Result<Report> {
    let started = Instant::now();
    ctl.total
        .store(i32::try_from(entries.len()).unwrap_or(i32::MAX), Relaxed);
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Report::default());
    let work = || {
        let mut buf = vec![0u8; BUF];
        let mut mine = Report::default();
        'chunks: loop {
            let start = next.fetch_add(CHUNK, Relaxed);
            if start >= entries.len() {
                break;
            }
            let end = (start + CHUNK).min(entries.len());
            for (index, entry) in entries.iter().enumerate().take(end).skip(start) {
                if ctl.abort.load(Relaxed) != 0 {
                    break 'chunks;
                }
                check(index, entry, repair, &mut buf, &mut mine);
            }
            ctl.done.fetch_add((end - start) as i32, Relaxed);
        }
        let mut all = out.lock().unwrap_or_else(|e| e.into_inner());
        all.files += mine.files;
        all.ok += mine.ok;
        all.bytes += mine.bytes;
        all.repaired += mine.repaired;
        all.mismatches.append(&mut mine.mismatches);
        all.unreadable.append(&mut mine.unreadable);
    };
    let workers = pool::size().min(entries.len().div_ceil(CHUNK)).max(1);
    pool::run_parallel(workers, &work);
    if ctl.abort.load(Relaxed) != 0 {
        let at = entries.first().map_or(Path::new(""), |e| &e.path);
        return Err(Error::own("ABORT_ERR", "verify was aborted", at, None));
    }
    let mut report = out.into_inner().unwrap_or_else(|e| e.into_inner());
    report.mismatches.sort_by_key(|m| m.index);
    report.unreadable.sort_by_key(|(i, _)| *i);
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

fn check(index: usize, entry: &Entry, repair: bool, buf: &mut [u8], r: &mut Report) {
    r.files += 1;
    let (actual, size, meta) = match hash_file(&entry.path, entry.algo, buf, None) {
        Ok(v) => v,
        Err(e) => {
            r.unreadable.push((index, e));
            return;
        }
    };
    r.bytes += size;
    if actual == entry.expected {
        r.ok += 1;
        return;
    }
    let repair = match (&entry.good, repair) {
        (Some(good), true) => {
            let outcome = repair_from(entry, &meta, good, buf, r);
            r.repaired += u64::from(outcome == Repair::Done);
            Some(outcome)
        }
        _ => None,
    };
    r.mismatches.push(Mismatch {
        index,
        actual,
        size,
        repair,
    });
}

/// Opens a file to read it: not a FIFO's writer wait (O_NONBLOCK), not a directory.
fn open_read(path: &Path) -> io::Result<(File, Metadata)> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK);
    }
    let file = o.open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(dir_error());
    }
    if !meta.is_file() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok((file, meta))
}

#[cfg(unix)]
fn dir_error() -> io::Error {
    io::Error::from_raw_os_error(libc::EISDIR)
}

#[cfg(not(unix))]
fn dir_error() -> io::Error {
    io::Error::from(io::ErrorKind::IsADirectory)
}

/// The digest of the file at `path`, its size and its metadata before it was read; with `keep`,
/// its bytes are kept there too.
fn hash_file(
    path: &Path,
    algo: Algo,
    buf: &mut [u8],
    mut keep: Option<&mut Vec<u8>>,
) -> Result<(Vec<u8>, u64, Metadata)> {
    let (mut file, meta) = open_read(path).map_err(|e| Error::io(&e, "open", path, None))?;
    if let Some(k) = keep.as_deref_mut() {
        let want = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        k.try_reserve_exact(want)
            .map_err(|_| Error::io(&io::ErrorKind::OutOfMemory.into(), "read", path, None))?;
    }
    let mut h = algo.hasher();
    let mut size = 0u64;
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&e, "read", path, None)),
        };
        h.update(&buf[..n]);
        if let Some(k) = keep.as_deref_mut() {
            k.extend_from_slice(&buf[..n]);
        }
        size += n as u64;
    }
    Ok((h.finish(), size, meta))
}

/// Checks `good`, then rewrites the entry in place with its bytes (see the module's notes).
fn repair_from(
    entry: &Entry,
    before: &Metadata,
    good: &Path,
    buf: &mut [u8],
    r: &mut Report,
) -> Repair {
    let mut bytes = Vec::new();
    let (digest, size, _) = match hash_file(good, entry.algo, buf, Some(&mut bytes)) {
        Ok(v) => v,
        Err(e) => return Repair::Failed(e),
    };
    r.bytes += size;
    if digest != entry.expected {
        return Repair::GoodMismatch(digest);
    }
    match rewrite(&entry.path, before, &bytes) {
        Ok(()) => Repair::Done,
        Err(e) => Repair::Failed(e),
    }
}

/// Writes `bytes` over the file at `path`, which must still be the inode `before` describes,
/// and puts its mode and times back. A mode widened to open it is put back on any failure too.
fn rewrite(path: &Path, before: &Metadata, bytes: &[u8]) -> Result<()> {
    let (mut file, widened) =
        open_write(path, before).map_err(|e| Error::io(&e, "open", path, None))?;
    let out = write_over(&mut file, path, before, bytes);
    if let (Err(_), Some(mode)) = (&out, widened) {
        let _ = file.set_permissions(mode);
    }
    out
}

fn write_over(file: &mut File, path: &Path, before: &Metadata, bytes: &[u8]) -> Result<()> {
    let io_err = |syscall| move |e: io::Error| Error::io(&e, syscall, path, None);
    let now = file.metadata().map_err(io_err("fstat"))?;
    let same = match (sys::file_id(path, before), sys::file_id(path, &now)) {
        (Ok(a), Ok(b)) => a.same_file(&b),
        _ => false,
    };
    if !same {
        return Err(Error {
            detail: Some("the entry was replaced while it was verified; run verify again"),
            ..Error::new("ERR_CACHELINK_ENTRY_CHANGED", "open", path, None)
        });
    }
    file.write_all(bytes).map_err(io_err("write"))?;
    file.set_len(bytes.len() as u64)
        .map_err(io_err("ftruncate"))?;
    // Writing can clear setuid/setgid, and `open_write` may have added u+w.
    if file.metadata().map_err(io_err("fstat"))?.permissions() != before.permissions() {
        file.set_permissions(before.permissions())
            .map_err(io_err("chmod"))?;
    }
    let times = FileTimes::new()
        .set_accessed(before.accessed().map_err(io_err("utime"))?)
        .set_modified(before.modified().map_err(io_err("utime"))?);
    file.set_times(times).map_err(io_err("utime"))?;
    file.sync_all().map_err(io_err("fsync"))
}

/// Opens `path` for writing, without truncating it. A read-only entry that this process owns is
/// made writable for its owner first: returns the mode it had then, for `rewrite` to put back
/// on a failure (on success the entry gets `before`'s mode back anyway).
fn open_write(path: &Path, before: &Metadata) -> io::Result<(File, Option<fs::Permissions>)> {
    let open = || OpenOptions::new().write(true).open(path);
    match open() {
        Ok(f) => Ok((f, None)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && owned(before) => {
            let was = fs::metadata(path)?;
            fs::set_permissions(path, writable(&was))?;
            match open() {
                Ok(f) => Ok((f, Some(was.permissions()))),
                Err(e) => {
                    let _ = fs::set_permissions(path, was.permissions());
                    Err(e)
                }
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn owned(meta: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    meta.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn owned(meta: &Metadata) -> bool {
    meta.permissions().readonly()
}

#[cfg(unix)]
fn writable(meta: &Metadata) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode((meta.permissions().mode() & 0o7777) | 0o200)
}

/// Windows: clears the read-only attribute (clippy's worry, world-writable files, is Unix's).
#[cfg(not(unix))]
#[allow(clippy::permissions_set_readonly_false)]
fn writable(meta: &Metadata) -> fs::Permissions {
    let mut p = meta.permissions();
    p.set_readonly(false);
    p
}

/// The entries from their wire form: `path\0algo\0hex digest\0good\0path...` (fields joined by
/// NUL, `good` empty for none), paths as raw bytes.
pub fn parse_entries(records: &[u8]) -> Result<Vec<Entry>> {
    let bad = |why: &'static str| {
        Error::own(
            "ERR_CACHELINK_BAD_ENTRY",
            why,
            Path::new("verify entries"),
            None,
        )
    };
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut fields = records.split(|&b| b == 0);
    let mut entries = Vec::new();
    while let Some(path) = fields.next() {
        let (Some(algo), Some(hex), Some(good)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("the entry list is malformed"));
        };
        let algo = Algo::from_name(algo).ok_or_else(|| bad("unknown digest algorithm"))?;
        let expected = from_hex(hex)
            .filter(|d| d.len() == algo.digest_len())
            .ok_or_else(|| bad("the digest is not hex of the algorithm's length"))?;
        let to_path = |b: &[u8]| {
            super::wire::bytes_to_path(b.to_vec()).ok_or_else(|| bad("a path is not valid here"))
        };
        entries.push(Entry {
            path: to_path(path)?,
            algo,
            expected,
            good: if good.is_empty() {
                None
            } else {
                Some(to_path(good)?)
            },
        });
    }
    Ok(entries)
}

fn from_hex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() & 1 == 1 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

pub fn to_hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI32;

    fn ctl<'a>(done: &'a AtomicI32, total: &'a AtomicI32, abort: &'a AtomicI32) -> Control<'a> {
        Control { done, total, abort }
    }

    fn digest(algo: Algo, bytes: &[u8]) -> Vec<u8> {
        let mut h = algo.hasher();
        h.update(bytes);
        h.finish()
    }

    #[test]
    fn known_digests() {
        // FIPS 180-2's "abc".
        assert_eq!(
            to_hex(&digest(Algo::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(to_hex(&digest(Algo::Sha512, b"abc")).starts_with("ddaf35a193617aba"));
        assert!(to_hex(&digest(Algo::Sha384, b"abc")).starts_with("cb00753f45a35e8b"));
    }

    #[test]
    fn wire_form() {
        let hex = to_hex(&digest(Algo::Sha256, b"x"));
        let rec = format!("/a\0sha256\0{hex}\0\0/b\0sha256\0{hex}\0/g");
        let e = parse_entries(rec.as_bytes()).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].good.as_deref(), Some(Path::new("/g")));
        assert!(parse_entries(b"/a\0md5\0ab\0").is_err());
        assert!(parse_entries(format!("/a\0sha512\0{hex}\0").as_bytes()).is_err());
        assert!(parse_entries(b"/a\0sha256").is_err());
    }

    #[test]
    fn finds_and_repairs_a_mismatch_in_place() {
        let dir = crate::testing::sandbox("verify");
        let entry = dir.join("e");
        let good = dir.join("g");
        fs::write(&entry, b"edited!!!! longer than the original").unwrap();
        fs::write(&good, b"original").unwrap();
        let ino = sys::file_id(&entry, &fs::metadata(&entry).unwrap()).unwrap();
        let (d, t, a) = (AtomicI32::new(0), AtomicI32::new(0), AtomicI32::new(0));
        let list = vec![Entry {
            path: entry.clone(),
            algo: Algo::Sha512,
            expected: digest(Algo::Sha512, b"original"),
            good: Some(good),
        }];
        let r = verify(&list, true, &ctl(&d, &t, &a)).unwrap();
        assert_eq!((r.files, r.ok, r.repaired), (1, 0, 1));
        assert_eq!(r.mismatches[0].repair, Some(Repair::Done));
        assert_eq!(fs::read(&entry).unwrap(), b"original");
        let now = sys::file_id(&entry, &fs::metadata(&entry).unwrap()).unwrap();
        assert!(ino.same_file(&now));
        let again = verify(&list, true, &ctl(&d, &t, &a)).unwrap();
        assert_eq!((again.ok, again.mismatches.len()), (1, 0));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_wrong_good_copy_is_refused_and_a_missing_entry_reported() {
        let dir = crate::testing::sandbox("verify-refused");
        let entry = dir.join("e");
        let good = dir.join("g");
        fs::write(&entry, b"edited").unwrap();
        fs::write(&good, b"also wrong").unwrap();
        let (d, t, a) = (AtomicI32::new(0), AtomicI32::new(0), AtomicI32::new(0));
        let expected = digest(Algo::Sha256, b"original");
        let list = vec![
            Entry {
                path: entry.clone(),
                algo: Algo::Sha256,
                expected: expected.clone(),
                good: Some(good),
            },
            Entry {
                path: dir.join("missing"),
                algo: Algo::Sha256,
                expected,
                good: None,
            },
        ];
        let r = verify(&list, true, &ctl(&d, &t, &a)).unwrap();
        assert_eq!((r.files, r.ok, r.repaired), (2, 0, 0));
        assert_eq!(
            r.mismatches[0].repair,
            Some(Repair::GoodMismatch(digest(Algo::Sha256, b"also wrong")))
        );
        assert_eq!(fs::read(&entry).unwrap(), b"edited");
        assert_eq!((r.unreadable[0].0, r.unreadable[0].1.code), (1, "ENOENT"));
        assert_eq!(d.load(Relaxed), 2);
        a.store(1, Relaxed);
        assert_eq!(
            verify(&list, true, &ctl(&d, &t, &a)).unwrap_err().code,
            "ABORT_ERR"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
