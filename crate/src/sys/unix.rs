//! What Linux and macOS share: std's Unix extensions, and `libc` for the rest.

use super::{CopyError, FileId};
use std::ffi::CString;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// -1 from a libc call: the error in `errno`.
pub(super) fn cvt(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

pub(super) fn create_new(path: &Path, meta: &Metadata) -> io::Result<File> {
    // O_CREAT|O_EXCL with the source's permission bits from the start (no window where the file
    // is more open than the source; an existing file is never truncated). The umask filters
    // them and set-id bits wait for the data: `give_mode` sets them all exactly at the end.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.mode() & 0o777)
        .open(path)
}

/// Gives the new `file` the mode of `meta` exactly (fchmod: the umask filtered it at creation,
/// and a write or a clone into it clears set-id bits): the permission and sticky bits, and
/// setuid / setgid only where `file` has the owner / group of `meta`, so a copy never becomes
/// a set-id program of someone else. EPERM is a volume without Unix modes (vfat, exFAT, CIFS:
/// libuv's `fs.copyFile` lets CIFS pass the same way): the file keeps what it was given.
///
/// Within `with_umask`, where the umask took nothing from the mode (no set-id or sticky bit,
/// and none of the umask's bits in the mode), the file already has it and no call is made.
#[allow(clippy::useless_conversion)] // mode_t is u32 on Linux, u16 on macOS
pub(super) fn give_mode(file: &File, meta: &Metadata) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let source = meta.mode() & 0o7777;
    if source & 0o7000 == 0 && UMASK.get().is_some_and(|u| source & u == 0) {
        return Ok(());
    }
    let mut mode = source & 0o1777;
    if source & 0o6000 != 0 {
        let now = file.metadata()?;
        if now.uid() == meta.uid() {
            mode |= source & u32::from(libc::S_ISUID);
        }
        if now.gid() == meta.gid() {
            mode |= source & u32::from(libc::S_ISGID);
        }
    }
    match file.set_permissions(std::fs::Permissions::from_mode(mode)) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(()),
        done => done,
    }
}

thread_local! {
    /// The process's umask while this thread runs an import (`with_umask`).
    // Clippy asks for `const` on Android targets even though the initializer is one.
    #[allow(clippy::missing_const_for_thread_local)]
    static UMASK: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// The process's umask, as Linux reports it (`Umask:` in /proc/self/status, Linux 4.7 and
/// later), without changing it (`umask(2)` can only be read by setting it, which races with
/// other threads creating files). `None` elsewhere, or when it cannot be read.
pub fn read_umask() -> Option<u32> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// Runs `f` with `umask` (read at the start of an import) known to `give_mode` on this thread.
pub fn with_umask<T>(umask: Option<u32>, f: impl FnOnce() -> T) -> T {
    let before = UMASK.replace(umask);
    let out = f();
    UMASK.set(before);
    out
}

/// `src` open for reading; `None` when it is empty (nothing to read, so it need not be
/// readable, as before).
pub(super) fn open_source(src: &Path, meta: &Metadata) -> io::Result<Option<File>> {
    if meta.len() == 0 {
        return Ok(None);
    }
    File::open(src).map(Some)
}

/// Fills the new `out` with the bytes of `input` (`copy_data`: the kernel's copy on Linux,
/// `fcopyfile` on macOS), checks the source did not change size, and gives `out` its mode.
pub(super) fn fill(input: Option<&mut File>, out: &mut File, meta: &Metadata) -> io::Result<()> {
    if let Some(input) = input {
        let copied = super::os::copy_data(input, out, meta.len())?;
        super::whole(copied, meta.len())?;
    }
    give_mode(out, meta)
}

/// Opens `src`, creates `dest` with `create_new` and fills it (`fill`); `dest` is removed
/// again if that fails.
pub fn copy_file(src: &Path, dest: &Path, meta: &Metadata) -> Result<File, CopyError> {
    let not_created = |error| CopyError {
        error,
        created: false,
    };
    let mut input = open_source(src, meta).map_err(not_created)?;
    let mut out = create_new(dest, meta).map_err(not_created)?;
    match fill(input.as_mut(), &mut out, meta) {
        Ok(()) => Ok(out),
        Err(error) => {
            drop(out);
            let _ = std::fs::remove_file(dest);
            Err(CopyError {
                error,
                created: true,
            })
        }
    }
}

/// The identity `meta` describes: the caller's `lstat` or `stat` decides whether a symlink at
/// `path` is the link or its target.
pub fn file_id(_path: &Path, meta: &Metadata) -> io::Result<FileId> {
    Ok(FileId {
        dev: meta.dev(),
        ino: u128::from(meta.ino()),
        nlink: meta.nlink(),
    })
}

pub fn dir_device(dir: &Path) -> io::Result<u64> {
    std::fs::metadata(dir).map(|m| m.dev())
}

pub fn copy_owner(file: &File, meta: &Metadata) -> io::Result<()> {
    // Only root may give a file away; for anyone else the new file is theirs, as it should be.
    // The owner first: fchown clears setuid and setgid, which `give_mode` then sets.
    if is_root() {
        let now = file.metadata()?;
        if now.uid() != meta.uid() || now.gid() != meta.gid() {
            std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))?;
        }
    }
    give_mode(file, meta)
}

pub fn symlink_file(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Unix symlinks do not care what they point to.
pub fn symlink_dir(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// `rename(2)` replaces the target whatever its mode: std's rename is all it takes.
pub fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)
}

fn is_root() -> bool {
    euid() == 0
}

fn euid() -> libc::uid_t {
    // https://man7.org/linux/man-pages/man2/geteuid.2.html (same on macOS)
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Whether Linux's `protected_hardlinks` lets the process link `path` (`meta` its metadata):
/// the process owns the file or is root, or the file is a regular file without setuid (nor
/// setgid with group exec) that the process may read and write (`faccessat(AT_EACCESS)`, as the
/// kernel's `may_linkat` asks). Then a link refused with EPERM is refused by the filesystem
/// (vfat, exFAT) for every file, not for this one.
#[allow(clippy::useless_conversion)] // mode_t is u32 on Linux, u16 on macOS
pub fn may_link(path: &Path, meta: &Metadata) -> bool {
    let me = euid();
    if me == 0 || meta.uid() == me {
        return true;
    }
    let mode = meta.mode();
    let setgid_exec = u32::from(libc::S_ISGID) | u32::from(libc::S_IXGRP);
    if !meta.is_file() || mode & u32::from(libc::S_ISUID) != 0 || mode & setgid_exec == setgid_exec
    {
        return false;
    }
    let Ok(c) = c_path(path) else {
        return false;
    };
    // https://man7.org/linux/man-pages/man2/faccessat.2.html (AT_EACCESS: the effective ids)
    // SAFETY: `c` is a NUL-terminated path that outlives the call; nothing else is passed by
    // pointer.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::R_OK | libc::W_OK,
            AT_EACCESS,
        ) == 0
    }
}

/// A directory kept open, so many links into it resolve their names from it rather than from
/// the root: a batch's destination.
pub struct DirHandle(File);

pub fn open_dir(path: &Path) -> io::Result<DirHandle> {
    File::open(path).map(DirHandle)
}

/// `open_dir` that never follows a symlink at `path` itself: `open(O_DIRECTORY|O_NOFOLLOW)`,
/// ELOOP for a symlink, ENOTDIR for anything else but a directory (a store's bucket).
/// https://man7.org/linux/man-pages/man2/open.2.html (O_NOFOLLOW: POSIX 2008; the same on macOS)
pub fn open_dir_nofollow(path: &Path) -> io::Result<DirHandle> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .map(DirHandle)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the type and size of `name` in an open directory,
/// a symlink not followed; one call, walking one name.
/// https://man7.org/linux/man-pages/man2/stat.2.html
pub fn stat_at(dir: &DirHandle, name: &Path) -> io::Result<super::EntryStat> {
    let name = c_path(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and lives for the call; the descriptor is open; `st` is
    // a buffer of the struct fstatat fills, read only after it succeeded.
    cvt(unsafe {
        libc::fstatat(
            dir.0.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // `st_mode` is wider than `mode_t` on some targets (u32 and u16 on 32-bit Android).
    #[allow(clippy::unnecessary_cast)]
    let kind = st.st_mode as libc::mode_t & libc::S_IFMT;
    Ok(super::EntryStat {
        file: kind == libc::S_IFREG,
        dir: kind == libc::S_IFDIR,
        len: u64::try_from(st.st_size).unwrap_or(0),
    })
}

/// `linkat(AT_FDCWD, src, dir, rel, AT_SYMLINK_FOLLOW)`: a hard link to the file `src` (a
/// symlink at `src` is followed, as `link_file` follows one) at `rel` under `dir`.
/// https://man7.org/linux/man-pages/man2/link.2.html (POSIX; the same on macOS)
pub fn link_into(src: &Path, dir: &DirHandle, rel: &Path) -> io::Result<()> {
    let src = c_path(src)?;
    let rel = c_path(rel)?;
    // SAFETY: both strings are NUL-terminated and live for the call; the descriptor is owned by
    // `dir`, open for the call; linkat only reads its arguments.
    cvt(unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            src.as_ptr(),
            dir.0.as_raw_fd(),
            rel.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
}

/// `linkat(src_dir, name, dir, rel, 0)`: a hard link for a source named from an open directory
/// (a store's `files/<2 hex>` bucket), so the call walks one name for the source instead of the
/// store's whole path. Unlike `link_into`, a symlink at `name` is never followed (the store's
/// files are never followed: README, "The store's trust model").
pub fn link_at(src_dir: &DirHandle, name: &Path, dir: &DirHandle, rel: &Path) -> io::Result<()> {
    let name = c_path(name)?;
    let rel = c_path(rel)?;
    // SAFETY: as in `link_into`: NUL-terminated strings, descriptors open for the call.
    cvt(unsafe {
        libc::linkat(
            src_dir.0.as_raw_fd(),
            name.as_ptr(),
            dir.0.as_raw_fd(),
            rel.as_ptr(),
            0,
        )
    })
}

/// `mkdirat(dir, rel, 0777)` (the umask applies, as `fs::create_dir`): a directory named from
/// an open one, walking `rel` only.
/// https://man7.org/linux/man-pages/man2/mkdirat.2.html
pub fn mkdir_at(dir: &DirHandle, rel: &Path) -> io::Result<()> {
    let rel = c_path(rel)?;
    // SAFETY: `rel` is NUL-terminated and lives for the call; the descriptor is open.
    cvt(unsafe { libc::mkdirat(dir.0.as_raw_fd(), rel.as_ptr(), 0o777) })
}

/// A clone (`ioctl(FICLONE)`, Linux) or a copy of `name` in `src_dir` at `rel` under `dir`, both
/// named from open directories, so no call walks a whole path: `openat` and `fstat` of the
/// source, `openat(O_CREAT|O_EXCL)` of the destination with the source's mode, the data, the
/// exact mode (`give_mode`). The source is opened with O_NOFOLLOW (a symlink there fails, never
/// followed) and O_NONBLOCK (a FIFO does not block the open). The source's metadata, or `None`
/// with nothing left behind when anything did not work, or the source is empty or not a regular
/// file: the caller then takes its careful path, which says why.
pub fn place_at(
    src_dir: &DirHandle,
    name: &Path,
    dir: &DirHandle,
    rel: &Path,
    clone: bool,
) -> Option<Metadata> {
    use std::os::fd::FromRawFd;
    if clone && !cfg!(target_os = "linux") {
        return None;
    }
    let name = c_path(name).ok()?;
    let rel = c_path(rel).ok()?;
    // SAFETY: `name` is NUL-terminated; the descriptor is open; the result is a new descriptor
    // we own (checked below), wrapped once.
    let fd = unsafe {
        libc::openat(
            src_dir.0.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned by openat and is owned by nothing else.
    let mut input = unsafe { File::from_raw_fd(fd) };
    let meta = input.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    let mode = libc::c_uint::from(meta.mode() as libc::mode_t & 0o777);
    // SAFETY: as above; `mode` is passed as the variadic argument O_CREAT reads.
    let fd = unsafe {
        libc::openat(
            dir.0.as_raw_fd(),
            rel.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: as above.
    let mut out = unsafe { File::from_raw_fd(fd) };
    let filled = if clone {
        clone_into(&input, &out).and_then(|()| give_mode(&out, &meta))
    } else {
        fill(Some(&mut input), &mut out, &meta)
    };
    match filled {
        Ok(()) => Some(meta),
        Err(_) => {
            drop(out);
            // SAFETY: `rel` is NUL-terminated; the descriptor is open; removes what we created.
            unsafe { libc::unlinkat(dir.0.as_raw_fd(), rel.as_ptr(), 0) };
            None
        }
    }
}

#[cfg(target_os = "linux")]
fn clone_into(input: &File, out: &File) -> io::Result<()> {
    // SAFETY: both descriptors are open and owned by live `File`s; FICLONE reads only its
    // descriptor argument. https://man7.org/linux/man-pages/man2/ioctl_ficlone.2.html
    cvt(unsafe { libc::ioctl(out.as_raw_fd(), libc::FICLONE, input.as_raw_fd()) })
}

#[cfg(not(target_os = "linux"))]
fn clone_into(_input: &File, _out: &File) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether a process with this id runs on this machine: `kill(pid, 0)` succeeds, or fails with
/// EPERM (it exists but is not ours). https://man7.org/linux/man-pages/man2/kill.2.html
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled; it touches no
    // memory.
    match cvt(unsafe { libc::kill(pid, 0) }) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

/// `flock(fd, LOCK_EX)`: waits for an exclusive lock on the file `file` is open on; held until
/// every descriptor of that open file is closed (so also when the process dies). Locks of two
/// descriptors conflict even within one process. NFS emulates it as a POSIX write lock, which
/// needs a descriptor open for writing: EBADF on a read-only one.
/// https://man7.org/linux/man-pages/man2/flock.2.html
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: the descriptor is owned by `file`, open for the call; flock touches no memory.
        match cvt(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}

/// `faccessat`'s flag for a check with the effective ids. Android's C library (bionic) refuses
/// every flag with EINVAL (the kernel's faccessat has no flags argument), and an Android app's
/// real and effective ids are the same: there the check goes without it.
#[cfg(not(target_os = "android"))]
const AT_EACCESS: libc::c_int = libc::AT_EACCESS;
#[cfg(target_os = "android")]
const AT_EACCESS: libc::c_int = 0;

/// Whether this process may make files in `dir`, asked without writing anything:
/// `faccessat(W_OK, AT_EACCESS)`, which says EROFS on a read-only mount (a read-only bind mount
/// too) and EACCES where the directory's permissions refuse this process's effective user.
/// https://man7.org/linux/man-pages/man2/access.2.html (the same on macOS)
pub fn dir_writable(dir: &Path) -> io::Result<()> {
    let c = c_path(dir)?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call; faccessat reads it only.
    cvt(unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, AT_EACCESS) })
}
