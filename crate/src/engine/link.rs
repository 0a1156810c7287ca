//! `link_file`: materialize one cache file at a destination by the first method that works,
//! handling the hard link limit on the way.

use super::error::{Error, Result};
use super::lock;
use super::memo::{self, State};
use super::method::{chain, classify, refusal_code, Chain, Class, Method, Requested};
use super::reset::{self, Reset};
use super::retry::{retrying, Op};
use super::temp;
use crate::errno;
use crate::sys::{self, FileId};
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnLinkLimit {
    Reset,
    Copy,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfExists {
    Error,
    Replace,
    Keep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub method: Requested,
    pub fallback: bool,
    pub on_link_limit: OnLinkLimit,
    /// Treat an entry with this many links as at the limit (>= 2).
    pub max_links: Option<u64>,
    pub if_exists: IfExists,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Requested::Auto,
            fallback: true,
            on_link_limit: OnLinkLimit::Reset,
            max_links: None,
            if_exists: IfExists::Error,
        }
    }
}

/// What happened when the hard link limit (or `max_links`) was met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkLimit {
    /// The entry was reset and the destination linked to its fresh inode.
    Reset,
    /// The destination got a private copy (`on_link_limit: copy`).
    Copied,
    /// The entry could not be reset (its directory is not writable, or the entry cannot be
    /// replaced, EBUSY: this code); the destination got a copy of its own.
    CacheReadOnly(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What was done; `None` when the destination was left as it was (`IfExists::Keep`, or it
    /// already is the source's inode).
    pub method: Option<Method>,
    pub link_limit: Option<LinkLimit>,
    /// Methods tried first that do not work between these two places, with the code that said
    /// so; with `auto` or a list, also those the memo already knew and skipped (with the code
    /// they failed with then).
    pub fallbacks: Vec<(Method, &'static str)>,
    /// The code that refused this file's hard link (EPERM from Linux's `protected_hardlinks` for
    /// a file of another user; on Windows ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS, a OneDrive
    /// folder) when the file was then placed by the next method of the chain; `None` otherwise.
    /// Not a fallback: nothing is remembered, the next file is linked if it can be. Also
    /// EACCES from a FUSE filesystem once hard links have worked between the two mounts
    /// (`Class::Denied`).
    pub link_refused: Option<&'static str>,
    /// With `max_links`: the hard link was made but the source still reads one link after it,
    /// so this filesystem hides link counts (SFTP through sshfs) and the cap could not be
    /// applied. Looked at only with `max_links`, from the `stat` the cap already makes.
    pub link_counts_hidden: bool,
    /// Transient failures waited out and tried again (`retry`): a rename refused for a moment,
    /// a clone or a copy that said EAGAIN.
    pub retries: u32,
}

impl Outcome {
    fn kept() -> Self {
        Outcome {
            method: None,
            link_limit: None,
            fallbacks: Vec::new(),
            link_refused: None,
            link_counts_hidden: false,
            retries: 0,
        }
    }
}

/// What a hard link's EACCES means (`Materialize::denied`).
enum Denied {
    /// The source cannot be read: the error is thrown.
    Real,
    /// This file's link only: the next method places it (`link_refused`).
    ThisFile,
    /// No hard links between these mounts: remembered, reported in `fallbacks`.
    Here,
}

/// Copies larger than this check that the destination is absent before copying (`copy`).
const EEXIST_FIRST: u64 = 1 << 20;

/// Bounded retries of a hard link while other processes reset the same entry.
const MAX_TRIES: u32 = 8;

/// Past `MAX_TRIES`, every retry goes through the entry's lock, up to this many tries in all;
/// only then does a call reset without it. A reset made without the lock replaces whatever
/// the entry names, full or not: a fresh inode another call had just made and linked to its
/// destination then keeps that one link (a copy in all but name). Calls queued on the lock of
/// an inode find it replaced when their turn comes and queue on the next, so the bound must
/// be well above the number of calls racing on one entry. Racing 8 processes of 32 calls on
/// nolinkfs.py with an 8-link limit (4,800 links): with a reset whenever `MAX_TRIES` ran out,
/// 524 and 577 destinations kept one link and 1,342 resets were made; with 64 here, 36 to 60;
/// with 1024, none, and 685 resets, the minimum (race.spec).
const LOCKED_TRIES: u32 = 1024;

/// How many times a call looks again while the entry's path names nothing (ENOENT while other
/// processes reset it: rename is atomic on local filesystems, not through every FUSE one).
const VANISHED_WAITS: u32 = 64;

/// The waits of one call for an entry whose path named nothing for a moment: growing from
/// 100 µs to 10 ms, `VANISHED_WAITS` of them at most (about half a second in all).
#[derive(Default)]
struct Vanished {
    waits: u32,
}

impl Vanished {
    /// Waits a little and says true, or says false when the waits are used up.
    fn wait(&mut self) -> bool {
        if self.waits >= VANISHED_WAITS {
            return false;
        }
        let micros = (100u64 << self.waits.min(7)).min(10_000);
        self.waits += 1;
        std::thread::sleep(std::time::Duration::from_micros(micros));
        true
    }
}

/// With `max_links`, links made when the entry has at least `max - NEAR_CAP` links take the
/// entry's lock first.
const NEAR_CAP: u64 = 8;

/// Devices where a reset's fresh inode, with a single link, could not be linked (EMLINK): the
/// filesystem refuses every link. Calls at the limit there copy without trying a reset again.
static LINKS_REFUSED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn links_refused(dev: u64) -> bool {
    LINKS_REFUSED.lock().is_ok_and(|devs| devs.contains(&dev))
}

fn note_links_refused(dev: u64) {
    if let Ok(mut devs) = LINKS_REFUSED.lock() {
        if !devs.contains(&dev) {
            devs.push(dev);
        }
    }
}

/// Devices where two files of ours could not be linked (`links_work_beside`): an EPERM there
/// is "no hard links", never a hidden link limit (`hidden_limit`).
static NO_LINKS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Forgets `LINKS_REFUSED` and `NO_LINKS` (with the fallback memo: mounts change).
pub fn forget_links_refused() {
    for list in [&LINKS_REFUSED, &NO_LINKS] {
        if let Ok(mut devs) = list.lock() {
            devs.clear();
        }
    }
}

pub fn link_file(src: &Path, dest: &Path, opts: &Options) -> Result<Outcome> {
    let methods = chain(opts.method, opts.fallback, errno::CURRENT);
    let (src, meta) = source(src, dest, methods[0].syscall())?;
    Materialize {
        src: &src,
        meta: &meta,
        opts,
        methods,
        dest_mount: None,
        staged: false,
    }
    .place(dest)
}

/// Resets a cache entry on its own (see `reset`); with `hold`, the fresh inode keeps a second
/// link beside the entry until `scan::clean` finds it linked elsewhere (`reset::hold_link`).
pub fn reset_entry(path: &Path, hold: bool) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(&e, "open", path, None))?;
    if meta.is_dir() {
        return Err(Error::new("EISDIR", "open", path, None));
    }
    if !meta.is_file() {
        return Err(Error::new("EINVAL", "open", path, None));
    }
    match reset::reset(path, &meta, None, hold)? {
        Reset::Done => Ok(()),
        Reset::CacheReadOnly(err) | Reset::Unreplaced(err) => Err(err),
    }
}

/// The source as a regular file (a symlink is followed to its file), with its metadata.
pub(crate) fn source(
    src: &Path,
    dest: &Path,
    syscall: &'static str,
) -> Result<(PathBuf, Metadata)> {
    let fail = |e: io::Error| Error::io(&e, syscall, src, Some(dest));
    let mut meta = fs::symlink_metadata(src).map_err(fail)?;
    let mut path = src.to_path_buf();
    if meta.file_type().is_symlink() {
        path = fs::canonicalize(src).map_err(fail)?;
        meta = fs::metadata(&path).map_err(fail)?;
    }
    if meta.is_dir() {
        return Err(Error::new("EISDIR", syscall, src, Some(dest)));
    }
    if !meta.is_file() {
        return Err(Error::new("EINVAL", syscall, src, Some(dest)));
    }
    Ok((path, meta))
}

/// One file to create from a source whose metadata was read.
pub(crate) struct Materialize<'a> {
    pub src: &'a Path,
    pub meta: &'a Metadata,
    pub opts: &'a Options,
    pub methods: Chain,
    /// The destination's mount (`sys::mount_key`) when the caller knows it (a batch into a
    /// fresh directory: every target is under it); looked up from the target's parent otherwise.
    pub dest_mount: Option<u64>,
    /// The target is in an import's stage, which is removed unless the import completes: a
    /// partial file there is never seen, so a copy is made in place.
    pub staged: bool,
}

impl Materialize<'_> {
    /// Creates `dest` under `opts.if_exists`.
    pub fn place(&self, dest: &Path) -> Result<Outcome> {
        let syscall = self.methods[0].syscall();
        let fail = |e: io::Error| Error::io(&e, syscall, self.src, Some(dest));
        if self.opts.if_exists == IfExists::Error {
            return self.create(dest);
        }
        let existing = match fs::symlink_metadata(dest) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return self.create(dest).or_else(|e| match self.opts.if_exists {
                    IfExists::Keep if e.is("EEXIST") => Ok(Outcome::kept()),
                    _ => Err(e),
                });
            }
            Err(e) => return Err(fail(e)),
        };
        if self.opts.if_exists == IfExists::Keep {
            return Ok(Outcome::kept());
        }
        // Replace.
        if existing.is_dir() {
            return Err(Error::new("EISDIR", syscall, self.src, Some(dest)));
        }
        let src_id = sys::file_id(self.src, self.meta).map_err(fail)?;
        if sys::file_id(dest, &existing).is_ok_and(|id| id.same_file(&src_id)) {
            return Ok(Outcome::kept());
        }
        // Materialize beside the destination, then rename over it: the destination is never
        // missing and never partial.
        let guard = temp::Guard::new(temp::path_beside(dest));
        let mut outcome = self.create(guard.path())?;
        retrying(
            Op::Rename,
            &[guard.path(), dest],
            &mut outcome.retries,
            || {
                sys::rename_over(guard.path(), dest)
                    .map_err(|e| Error::io(&e, "rename", guard.path(), Some(dest)))
            },
        )?;
        guard.keep();
        Ok(outcome)
    }

    /// Creates `target`, which must not exist, walking the method chain.
    pub fn create(&self, target: &Path) -> Result<Outcome> {
        let mut outcome = Outcome::kept();
        // Empty files are created, not linked: the empty file is the most linked content of
        // any store and would hit the limit first (ostree does the same). A symlink costs the
        // entry no link, so it stays a symlink.
        if self.meta.len() == 0 && self.methods[0] != Method::Symlink {
            self.copy(target)?;
            outcome.method = Some(Method::Copy);
            return Ok(outcome);
        }
        let src_id = sys::file_id(self.src, self.meta)
            .map_err(|e| Error::io(&e, self.methods[0].syscall(), self.src, Some(target)))?;
        // The memo's key: the source's mount and the destination directory's. Looked up before
        // trying only when something is known not to work from this source device; otherwise
        // only after a failure.
        let mounts = || {
            let dest = match self.dest_mount {
                Some(key) => key,
                None => sys::mount_key(dir_of(target)).ok()?,
            };
            Some((sys::mount_key(self.src).ok()?, dest))
        };
        let mut pair = None;
        if memo::any_unsupported_from(src_id.dev) {
            pair = mounts();
        }
        // `auto` and lists skip what the memo knows not to work, and say so in `fallbacks`: a
        // method the caller named is always tried.
        let skips = self.opts.method.skips_known_failures();
        for (i, &method) in self.methods.iter().enumerate() {
            let last = i + 1 == self.methods.len();
            if skips && !last {
                if let Some(code) = pair.and_then(|p| memo::unsupported(p, method)) {
                    outcome.fallbacks.push((method, code));
                    continue;
                }
            }
            let result = match method {
                Method::Hardlink => self.hardlink(src_id, target).map(|(limit, hidden)| {
                    outcome.link_counts_hidden = hidden;
                    outcome.link_limit = limit.clone();
                    match limit {
                        None | Some(LinkLimit::Reset) => Method::Hardlink,
                        Some(_) => Method::Copy,
                    }
                }),
                Method::Clone => retrying(Op::Clone, &[], &mut outcome.retries, || {
                    sys::clone_file(self.src, target, self.meta)
                        .map(drop)
                        .map_err(|e| Error::io(&e, "clone", self.src, Some(target)))
                })
                .map(|()| Method::Clone),
                Method::Copy => retrying(Op::Copy, &[], &mut outcome.retries, || self.copy(target))
                    .map(|()| Method::Copy),
                Method::Symlink => self.symlink(target).map(|()| Method::Symlink),
            };
            match result {
                Ok(done) => {
                    // Per source device, whatever the pair: `hidden_limit` asks it.
                    memo::note_works_from(src_id.dev, method);
                    if let Some(p) = pair.filter(|p| memo::get(*p, method) != State::Works) {
                        memo::set(p, method, State::Works)
                    }
                    outcome.method = Some(done);
                    return Ok(outcome);
                }
                Err(e) if last => return Err(e),
                Err(e) => match self
                    .refused_after_links(method, &e, src_id.dev)
                    .unwrap_or_else(|| {
                        classify(
                            method,
                            errno::CURRENT,
                            &e,
                            sys::may_link(self.src, self.meta),
                        )
                    }) {
                    // This file's link only: the next method places it, the memo is untouched.
                    Class::Refused => {
                        outcome.link_refused = Some(refusal_code(errno::CURRENT, &e));
                    }
                    Class::Denied => {
                        if pair.is_none() {
                            pair = mounts();
                        }
                        match self.denied(&e, pair, src_id.dev) {
                            Denied::Real => return Err(e),
                            Denied::ThisFile => outcome.link_refused = Some(e.code),
                            Denied::Here => outcome.fallbacks.push((method, e.code)),
                        }
                    }
                    Class::Unsupported => {
                        let unknown_pair = pair.is_none();
                        if unknown_pair {
                            pair = mounts();
                        }
                        // Without the destination looked up before, a success from this source
                        // device was noted only per device: a method that has worked from here
                        // fails for this one file only, unless the devices differ (EXDEV).
                        let sometimes =
                            unknown_pair && !e.is("EXDEV") && memo::worked_from(src_id.dev, method);
                        if let Some(p) = pair.filter(|_| !sometimes) {
                            memo::set_unsupported(p, src_id.dev, method, e.code);
                        }
                        outcome.fallbacks.push((method, e.code));
                    }
                    Class::LinkLimit | Class::Real => return Err(e),
                },
            }
        }
        // Unreachable in practice: the last method either returns or errors.
        Err(Error::new(
            "ENOTSUP",
            self.methods[0].syscall(),
            self.src,
            Some(target),
        ))
    }

    /// What a hard link's EACCES (`Class::Denied`) means. A source the process cannot read
    /// would fail the next method too: the error is real. Otherwise, once hard links have
    /// worked between these two mounts (or from this source's device, when the destination's
    /// mount was not looked up then), it is this file's refusal, like `protected_hardlinks`'
    /// EPERM, and the next file is linked. Where they never have, it is taken as a filesystem
    /// that refuses links with EACCES (FUSE on Android), recorded in the memo like EPERM from
    /// a filesystem without links: later files go straight to the next method, so such a mount
    /// costs one failed link, not one per file. Wrong only for a first file that a
    /// filesystem with links refuses for its own reasons: the rest of that process then
    /// copies between those two mounts (`clearFallbackMemo` forgets it).
    fn denied(&self, e: &Error, pair: Option<memo::Pair>, src_dev: u64) -> Denied {
        if fs::File::open(self.src).is_err() {
            return Denied::Real;
        }
        let worked = pair.is_some_and(|p| memo::get(p, Method::Hardlink) == State::Works)
            || memo::worked_from(src_dev, Method::Hardlink);
        if worked {
            return Denied::ThisFile;
        }
        if let Some(p) = pair {
            memo::set_unsupported(p, src_dev, Method::Hardlink, e.code);
        }
        Denied::Here
    }

    /// A hard link, handling the link limit. Returns what happened at the limit, if it was met.
    ///
    /// A link refused because the entry is full (EMLINK, or `max_links`), or because its inode
    /// lost its last link under us (ENOENT: another process renamed a fresh inode over the entry
    /// and the old one's destinations were removed), looks at the path again: when it names
    /// another inode now, that one is linked. When it still names the full inode, this call
    /// takes the entry's lock (`lock`) and tries once more under it; still full, it resets the
    /// entry, holding the lock, so racing processes make one fresh inode per limit crossing.
    /// When the tries run out, this call resets too: its fresh inode is linked to `target`
    /// before anyone else can see it, so that cannot fail for lack of links. With `max_links`,
    /// the last links below the cap are made under the lock too (`NEAR_CAP`), and a link that
    /// finds its inode over the cap is taken back (`link_once`).
    fn hardlink(&self, mut id: FileId, target: &Path) -> Result<(Option<LinkLimit>, bool)> {
        let mut held: Option<lock::EntryLock> = None;
        let mut tries = 0;
        let mut vanished = Vanished::default();
        loop {
            tries += 1;
            // The last links below `max_links` are made under the lock, so links in flight do
            // not crowd each other out of them (which would make resets early).
            let near = self
                .opts
                .max_links
                .is_some_and(|max| id.nlink + NEAR_CAP >= max);
            // Past `MAX_TRIES` (fresh inodes filled by others before this call could link them),
            // every try is made under the lock: the entry it names is linked, or found full and
            // reset by this call, so it cannot starve.
            let starving = tries > MAX_TRIES;
            if (near || starving) && held.is_none() && self.opts.on_link_limit == OnLinkLimit::Reset
            {
                match lock::lock(self.src) {
                    lock::Locked::Held(guard, locked) => {
                        held = Some(guard);
                        id = locked;
                    }
                    lock::Locked::Moved(moved) if starving && tries < LOCKED_TRIES => {
                        id = moved;
                        continue;
                    }
                    lock::Locked::Moved(moved) => id = moved,
                    lock::Locked::Gone if vanished.wait() => continue,
                    lock::Locked::Gone | lock::Locked::Unavailable => {}
                }
            }
            let err = match self.link_once(id, target)? {
                Ok(hidden) => return Ok((None, hidden)),
                Err(err) => err,
            };
            let Some((meta, now)) = self.look_again() else {
                // The entry's path named nothing for a moment (a reset elsewhere renaming over
                // it, as some FUSE filesystems show it): look again, a bounded number of times.
                if vanished.wait() {
                    continue;
                }
                return Err(err);
            };
            if !now.same_file(&id) && tries < MAX_TRIES {
                held = None;
                id = now;
                std::thread::yield_now();
                continue;
            }
            // Under the lock, a link over `max_links` taken back while the inode has room again
            // was only crowded out by links in flight: try again rather than reset early.
            let room = self.opts.max_links.is_some_and(|max| now.nlink < max);
            if held.is_some() && room && tries < MAX_TRIES {
                id = now;
                continue;
            }
            let reset = self.opts.on_link_limit == OnLinkLimit::Reset;
            if reset && held.is_none() && tries < LOCKED_TRIES && !links_refused(now.dev) {
                match lock::lock(self.src) {
                    lock::Locked::Held(guard, locked) => {
                        held = Some(guard);
                        id = locked;
                        continue;
                    }
                    lock::Locked::Moved(moved) => {
                        id = moved;
                        continue;
                    }
                    // The entry named nothing for a moment (a reset elsewhere, as FUSE shows
                    // it): look again rather than reset without the lock.
                    lock::Locked::Gone if vanished.wait() => continue,
                    lock::Locked::Gone | lock::Locked::Unavailable => {}
                }
            }
            // Held on an inode the entry no longer names (someone reset it without the lock):
            // start over from the one it names.
            if held.is_some() && !now.same_file(&id) && tries < LOCKED_TRIES {
                held = None;
                id = now;
                continue;
            }
            let limit = self.at_limit(&meta, target, err);
            held = None;
            match limit {
                // The reset could not open the entry, or link its fresh inode, because a path
                // named nothing for a moment, as above (the destination's directory is there).
                // Start over from the entry as it is now.
                Err(e) if e.is("ENOENT") && dir_of(target).is_dir() && vanished.wait() => {
                    tries = 0;
                    if let Some((_, now)) = self.look_again() {
                        id = now;
                    }
                    continue;
                }
                limit => return limit.map(|l| (Some(l), false)),
            }
        }
    }

    /// One hard link from `self.src` (last seen as `id`) to `target`. The inner error is a
    /// refusal worth looking again for: EMLINK (or `max_links` reached), or ENOENT while the
    /// target's directory exists (the entry's inode lost its last link while it was linked), or
    /// EPERM that may be the link limit of a filesystem hiding link counts (`hidden_limit`).
    /// `Ok(true)`: linked, with `max_links`, but the link counts are hidden (the source still
    /// reads one link), so the cap could not be applied.
    fn link_once(&self, id: FileId, target: &Path) -> Result<std::result::Result<bool, Error>> {
        let full = || Error::new("EMLINK", "link", self.src, Some(target));
        if self.opts.max_links.is_some_and(|max| id.nlink >= max) {
            return Ok(Err(full()));
        }
        if let Err(e) = fs::hard_link(self.src, target) {
            let err = Error::io(&e, "link", self.src, Some(target));
            if err.is("EMLINK")
                || (err.is("ENOENT") && fs::metadata(dir_of(target)).is_ok())
                || self.hidden_limit(&err, id, target)
            {
                return Ok(Err(err));
            }
            return Err(err);
        }
        // `max_links` is a cap even when other processes link the same inode at the same time:
        // the link counts only if the inode has at most `max` links once it is made. Of links
        // made at once, those that see too many are taken back, so at most `max` stay.
        if let Some(max) = self.opts.max_links {
            let now = fs::symlink_metadata(target).and_then(|m| sys::file_id(target, &m));
            let over = now.as_ref().is_ok_and(|now| now.nlink > max);
            if over && fs::remove_file(target).is_ok() {
                return Ok(Err(full()));
            }
            // A link just made leaves at least two; one means the counts are not real.
            return Ok(Ok(now.is_ok_and(|now| now.nlink == 1)));
        }
        Ok(Ok(false))
    }

    /// Whether a hard link's `err` may be the link limit of a filesystem that hides link counts
    /// (SFTP through sshfs: every file reads one link, and the server's EMLINK arrives as EPERM,
    /// SSH_FX_FAILURE). Only with `OnLinkLimit::Reset`, for EPERM on a source the process may
    /// link (so not `protected_hardlinks`) that reads one link: on a filesystem with real counts
    /// such a file is never at its limit, so this is either a hidden limit or a filesystem
    /// without hard links (vfat, exFAT). Hard links that worked from the source's device in
    /// this process tell them apart; before any did, a link between two empty files of ours
    /// beside `target` does (`links_work_beside`), once per device: where it fails, the device is
    /// noted (`NO_LINKS`) and `create` classifies the EPERM as before, so a filesystem without
    /// hard links still costs one link from the cache. Never on Windows.
    fn hidden_limit(&self, err: &Error, id: FileId, target: &Path) -> bool {
        if errno::CURRENT == errno::Os::Windows
            || self.opts.on_link_limit != OnLinkLimit::Reset
            || !err.is("EPERM")
            || id.nlink != 1
            || NO_LINKS.lock().is_ok_and(|devs| devs.contains(&id.dev))
            || !sys::may_link(self.src, self.meta)
        {
            return false;
        }
        if memo::worked_from(id.dev, Method::Hardlink) {
            return true;
        }
        match links_work_beside(target) {
            Some(true) => {
                memo::note_works_from(id.dev, Method::Hardlink);
                true
            }
            Some(false) => {
                if let Ok(mut devs) = NO_LINKS.lock() {
                    devs.push(id.dev);
                }
                false
            }
            // No file of ours could be made there: nothing learned.
            None => false,
        }
    }

    /// A hard link's EPERM, on a source the process may link, after hard links have worked from
    /// the source's device in this process: this file's refusal (the link limit of a filesystem
    /// that hides link counts, which `hidden_limit` could not reset; an immutable file), not "no
    /// hard links here". `None`: `classify` decides.
    fn refused_after_links(&self, method: Method, err: &Error, dev: u64) -> Option<Class> {
        (method == Method::Hardlink
            && errno::CURRENT != errno::Os::Windows
            && err.is("EPERM")
            && memo::worked_from(dev, Method::Hardlink)
            && sys::may_link(self.src, self.meta))
        .then_some(Class::Refused)
    }

    /// The inode `self.src` names now.
    fn look_again(&self) -> Option<(Metadata, FileId)> {
        let meta = fs::metadata(self.src).ok()?;
        let id = sys::file_id(self.src, &meta).ok()?;
        Some((meta, id))
    }

    fn at_limit(&self, meta: &Metadata, target: &Path, err: Error) -> Result<LinkLimit> {
        match self.opts.on_link_limit {
            OnLinkLimit::Error => Err(err),
            OnLinkLimit::Copy => self.copy(target).map(|()| LinkLimit::Copied),
            OnLinkLimit::Reset => {
                let dev = sys::file_id(self.src, meta).map_or(u64::MAX, |id| id.dev);
                if links_refused(dev) {
                    self.copy(target)?;
                    return Ok(LinkLimit::Copied);
                }
                match reset::reset(self.src, meta, Some(target), false) {
                    Ok(Reset::Done) => Ok(LinkLimit::Reset),
                    Ok(Reset::Unreplaced(why)) => Ok(LinkLimit::CacheReadOnly(why.code)),
                    // An EPERM that was maybe a hidden limit (`hidden_limit`) and the entry
                    // could not be reset to find out: classified as before by `create`.
                    Ok(Reset::CacheReadOnly(_))
                        if err.is("EPERM") && !memo::worked_from(dev, Method::Hardlink) =>
                    {
                        Err(err)
                    }
                    Ok(Reset::CacheReadOnly(why)) => {
                        self.copy(target)?;
                        Ok(LinkLimit::CacheReadOnly(why.code))
                    }
                    // The fresh inode, with one link, could not be linked: this filesystem
                    // refuses links with EMLINK. Remembered, so later calls copy at once.
                    Err(e) if e.is("EMLINK") => {
                        crate::engine::debug(|| format!("no hard links on device {dev}: {e:?}"));
                        note_links_refused(dev);
                        self.copy(target)?;
                        Ok(LinkLimit::Copied)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// A full copy with the source's permissions, created exclusively (EEXIST when `target`
    /// exists), which no crash leaves partial at `target`: made without a name and linked there
    /// when complete (`sys::copy_unnamed`, Linux), else made as a temp file beside it
    /// (`temp::path_beside`, which `cleanTemp` recognizes) and renamed there when complete
    /// (`publish`). In a stage, which no one sees before the import completes, and for an
    /// empty source, made in place.
    fn copy(&self, target: &Path) -> Result<()> {
        let fail = |e: &io::Error| Error::io(e, "copyfile", self.src, Some(target));
        // An empty file is complete as soon as it exists.
        if self.staged || self.meta.len() == 0 {
            return sys::copy_file(self.src, target, self.meta)
                .map(drop)
                .map_err(|e| fail(&e.error));
        }
        // A large copy fails as fast as an exclusive create would, before copying anything; a
        // small one finds EEXIST at the end for less than this `lstat` costs every copy.
        if self.meta.len() > EEXIST_FIRST {
            match fs::symlink_metadata(target) {
                Ok(_) => return Err(Error::new("EEXIST", "copyfile", self.src, Some(target))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(fail(&e)),
            }
        }
        if let Some(done) = sys::copy_unnamed(self.src, target, self.meta) {
            return done.map_err(|e| fail(&e.error));
        }
        let guard = temp::Guard::new(temp::path_beside(target));
        sys::copy_file(self.src, guard.path(), self.meta).map_err(|e| fail(&e.error))?;
        publish(guard, target).map_err(|e| fail(&e))
    }

    fn symlink(&self, target: &Path) -> Result<()> {
        let fail = |e: io::Error| Error::io(&e, "symlink", self.src, Some(target));
        let absolute = std::path::absolute(self.src).map_err(fail)?;
        sys::symlink_file(&absolute, target).map_err(fail)
    }
}

/// Gives the complete file at the guard's temp path the name `target`, which must not exist
/// (EEXIST): an exclusive rename (`sys::rename_noreplace`), else a hard link (the temp name is
/// then removed with the guard), else, on a volume with neither (FAT, exFAT), a rename after
/// checking `target` is absent: a file someone creates there between the two is replaced by
/// this complete copy.
fn publish(guard: temp::Guard, target: &Path) -> io::Result<()> {
    let refused = |e: &io::Error| {
        let code = Error::io(e, "rename", target, None).code;
        // EACCES: a FUSE filesystem refusing links (`Class::Denied`); the temp is ours, in
        // a directory the process just wrote in.
        ["EINVAL", "ENOSYS", "ENOTSUP", "EPERM", "EMLINK", "EACCES"].contains(&code)
    };
    match sys::rename_noreplace(guard.path(), target) {
        Ok(()) => {
            guard.keep();
            return Ok(());
        }
        Err(e) if !refused(&e) => return Err(e),
        Err(_) => {}
    }
    match fs::hard_link(guard.path(), target) {
        Err(e) if refused(&e) => {}
        linked => return linked,
    }
    match fs::symlink_metadata(target) {
        Ok(_) => Err(io::ErrorKind::AlreadyExists.into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            sys::rename_over(guard.path(), target)?;
            guard.keep();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether hard links work beside `path`: an empty file of ours there (a temp name
/// `cleanTemp` recognizes) linked to a second temp name, both removed. `None` when the file
/// could not be made.
fn links_work_beside(path: &Path) -> Option<bool> {
    let first = temp::Guard::new(temp::path_beside(path));
    let second = temp::Guard::new(temp::path_beside(path));
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(first.path())
        .ok()?;
    Some(fs::hard_link(first.path(), second.path()).is_ok())
}

/// The directory `path` is in (`.` for a bare name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests;
