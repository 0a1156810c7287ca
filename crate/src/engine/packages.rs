//! A whole install in one go (`importPackages`): many packages, each imported as
//! `batch::import` imports one, into a stage beside its folder, by every thread of cachelink's
//! pool, one job per package. Packages are queued while the threads work: the caller adds
//! them as it describes them (`Install::add`), so describing the install in JS and linking it
//! overlap, and then closes the install (`Install::close`).
//!
//! Nothing is put in place until every package has been checked and imported: then the stages
//! are renamed into place in the order the packages were added (`commit_all`). An error, bad
//! input in any package, or an abort removes every stage, and every directory the install
//! created above them, so the tree is as it was.
//!
//! A package nested in another of the install (pnpm's hoisted `x` and `x/node_modules/y`, as
//! the facade finds them: `Install::add`'s `within`) waits for it and is imported into where
//! that one's files are (its stage), so that the outer's rename brings it along; it is put in
//! place just before its outer. Whatever the order the packages were given in.

use super::batch::{self, BatchOptions, Control, Pending, Stats};
use super::error::{Error, Result};
use super::pool;
use super::wire;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};

/// A package as added: its folder and its entries in their wire form (`wire::parse_package`),
/// parsed by the thread that imports it.
struct Added {
    index: usize,
    into: PathBuf,
    records: Vec<u8>,
    /// Nested in another package of the install: its index, and this one's folder relative to
    /// that one's.
    within: Option<(usize, PathBuf)>,
}

/// Where a package done put its files (its stage, or its folder) and its folder: what the
/// packages nested in it import into. `None`: it failed or was stopped.
type Placed = Option<(PathBuf, PathBuf)>;

/// Packages nested in others, waiting for them, and those done.
#[derive(Default)]
struct Nest {
    /// By the index of the package they are nested in.
    waiting: HashMap<usize, Vec<Added>>,
    done: HashMap<usize, Placed>,
    /// Each nested package's outer (for the order of `commit_all`).
    outer: HashMap<usize, usize>,
}

#[derive(Default)]
struct Progress {
    added: usize,
    /// Packages added and not yet done.
    outstanding: usize,
    closed: bool,
    /// The outcome was made (once).
    ended: bool,
}

/// What the threads made: each package's stats and its stage, by the order it was added.
#[derive(Default)]
struct Made {
    stats: Stats,
    pending: Vec<(usize, Pending)>,
    /// The error of the lowest-numbered package that failed.
    error: Option<(usize, Error)>,
}

/// The stats summed, how many packages, and their stages in the order they were added, the
/// install's own directories last (for `commit_all`).
pub type Outcome = Result<(Stats, u64, Vec<Pending>)>;

/// The engine's side of a `Control`, owned: an install outlives the call that started it.
pub struct Counters {
    pub done: Arc<AtomicI32>,
    pub abort: Arc<AtomicI32>,
}

pub struct Install {
    opts: BatchOptions,
    ctl: Counters,
    progress: Mutex<Progress>,
    stop: AtomicBool,
    made: Mutex<Made>,
    nest: Mutex<Nest>,
    /// Directories the install created above the packages' folders (`BatchOptions::made_dirs`).
    dirs: Arc<Mutex<Vec<PathBuf>>>,
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
    started: std::time::Instant,
}

impl Install {
    pub fn new(mut opts: BatchOptions, ctl: Counters) -> Arc<Install> {
        let dirs = Arc::new(Mutex::new(Vec::new()));
        opts.made_dirs = Some(dirs.clone());
        opts.umask = crate::sys::read_umask();
        Arc::new(Install {
            opts,
            ctl,
            progress: Mutex::default(),
            stop: AtomicBool::new(false),
            made: Mutex::default(),
            nest: Mutex::default(),
            dirs,
            outcome: Mutex::new(None),
            ready: Condvar::new(),
            started: std::time::Instant::now(),
        })
    }

    /// Queues a package (its entries in their wire form) on the pool: one job per package,
    /// and a big package's files are shared out to idle threads as `batch` shares them.
    /// `within`: the package is nested in the one of that index (added before or after it),
    /// at this relative path; it waits for it.
    pub fn add(
        self: &Arc<Self>,
        into: PathBuf,
        records: Vec<u8>,
        within: Option<(usize, PathBuf)>,
    ) {
        let index = {
            let mut p = lock(&self.progress);
            if p.closed {
                return;
            }
            p.added += 1;
            p.outstanding += 1;
            p.added - 1
        };
        let a = Added {
            index,
            into,
            records,
            within,
        };
        let Some((outer, _)) = a.within else {
            return self.spawn(a, None);
        };
        let mut nest = lock(&self.nest);
        nest.outer.insert(index, outer);
        match nest.done.get(&outer).cloned() {
            None => nest.waiting.entry(outer).or_default().push(a),
            Some(placed) => {
                drop(nest);
                self.start_nested(a, placed);
            }
        }
    }

    /// A nested package whose outer is done: imported where that one put its files, or
    /// dropped when it failed.
    fn start_nested(self: &Arc<Self>, a: Added, placed: Placed) {
        match placed {
            Some(base) if !self.stop.load(Relaxed) => self.spawn(a, Some(base)),
            _ => self.done(a.index, None),
        }
    }

    /// The package's job on the pool; `base`: the outer's files and folder, for a nested one.
    fn spawn(self: &Arc<Self>, a: Added, base: Option<(PathBuf, PathBuf)>) {
        let me = self.clone();
        pool::spawn(move || {
            let (index, at) = (a.index, a.into.clone());
            // A panic must not take the process down (rayon aborts on one) nor leave the
            // install waiting for this package for ever: it fails the install.
            let placed = catch_unwind(AssertUnwindSafe(|| me.one(a, base))).unwrap_or_else(|_| {
                let why = "cachelink's engine panicked while importing this package";
                me.fail(index, Error::own("ERR_CACHELINK_PANIC", why, &at, None));
                None
            });
            me.done(index, placed);
        });
    }

    /// A package is done (or dropped): the packages nested in it start, then the install ends
    /// if it was the last.
    fn done(self: &Arc<Self>, index: usize, placed: Placed) {
        let nested = {
            let mut nest = lock(&self.nest);
            nest.done.insert(index, placed.clone());
            nest.waiting.remove(&index).unwrap_or_default()
        };
        for a in nested {
            self.start_nested(a, placed.clone());
        }
        let last = {
            let mut p = lock(&self.progress);
            p.outstanding -= 1;
            p.closed && p.outstanding == 0 && !std::mem::replace(&mut p.ended, true)
        };
        if last {
            self.end();
        }
    }

    /// No more packages: the outcome is made when the last one is done.
    pub fn close(self: &Arc<Self>) {
        let added = {
            let mut p = lock(&self.progress);
            p.closed = true;
            p.added
        };
        // Packages nested in one that was never added (the facade stopped describing): dropped.
        let orphans: Vec<Added> = {
            let mut nest = lock(&self.nest);
            let outers: Vec<usize> = nest
                .waiting
                .keys()
                .copied()
                .filter(|&o| o >= added)
                .collect();
            outers
                .into_iter()
                .flat_map(|o| nest.waiting.remove(&o).unwrap_or_default())
                .collect()
        };
        for a in orphans {
            if !self.stop.load(Relaxed) {
                let why = "the package this one is nested in was not added";
                self.fail(
                    a.index,
                    Error::own("ERR_CACHELINK_PANIC", why, &a.into, None),
                );
            }
            self.done(a.index, None);
        }
        let last = {
            let mut p = lock(&self.progress);
            p.outstanding == 0 && !std::mem::replace(&mut p.ended, true)
        };
        if last {
            self.end();
        }
    }

    /// Stops the install between packages (and, through the abort flag, between files).
    pub fn cancel(self: &Arc<Self>) {
        self.stop.store(true, Relaxed);
        self.ctl.abort.store(1, Relaxed);
        self.close();
    }

    /// Waits for the outcome (after `close`); once.
    pub fn wait(&self) -> Outcome {
        let mut slot = lock(&self.outcome);
        loop {
            if let Some(out) = slot.take() {
                return out;
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Imports a package up to its stage; returns where its files are and its folder.
    fn one(&self, a: Added, base: Option<(PathBuf, PathBuf)>) -> Placed {
        if self.stop.load(Relaxed) || self.ctl.abort.load(Relaxed) != 0 {
            return None;
        }
        // Each package counts its own total; its files done count into the install's.
        let total = AtomicI32::new(0);
        let one = Control {
            done: &self.ctl.done,
            total: &total,
            abort: &self.ctl.abort,
        };
        // A nested package goes where its outer's files are (in its stage); errors name the
        // folder it is for.
        let (at, shown) = match (&base, &a.within) {
            (Some((root, into)), Some((_, rel))) => (root.join(rel), Some((root, into))),
            _ => (a.into.clone(), None),
        };
        let out = wire::parse_package(&a.records, &a.into, self.opts.store.as_deref())
            .and_then(|entries| batch::import_pending(entries, &at, &self.opts, &one));
        match out {
            Ok((stats, pending)) => {
                let root = pending.root().map_or_else(|| at.clone(), Path::to_path_buf);
                let mut made = lock(&self.made);
                made.stats.add(stats);
                made.pending.push((a.index, pending));
                Some((root, a.into))
            }
            Err(mut e) => {
                if let Some((root, into)) = shown {
                    unstage(&mut e, root, into);
                }
                self.fail(a.index, e);
                None
            }
        }
    }

    /// Records a package's error and stops the others.
    fn fail(&self, index: usize, e: Error) {
        let mut made = lock(&self.made);
        // The error of the lowest-numbered package, but never the abort the first error made
        // the others stop with.
        let replaces = match &made.error {
            None => true,
            Some((i, first)) => {
                let aborted = |e: &Error| e.code == "ABORT_ERR";
                (aborted(first) && !aborted(&e)) || (aborted(first) == aborted(&e) && index < *i)
            }
        };
        if replaces {
            made.error = Some((index, e));
        }
        drop(made);
        // Packages in flight stop between files too.
        self.stop.store(true, Relaxed);
        self.ctl.abort.store(1, Relaxed);
    }

    /// Makes the outcome: on failure everything made is removed first.
    fn end(&self) {
        let made = std::mem::take(&mut *lock(&self.made));
        let failed = match made.error {
            Some((_, e)) => Some(e),
            None if self.stop.load(Relaxed) || self.ctl.abort.load(Relaxed) != 0 => Some(
                Error::own("ABORT_ERR", "the import was aborted", &PathBuf::new(), None),
            ),
            None => None,
        };
        let out = match failed {
            Some(e) => {
                drop(made.pending);
                self.remove_dirs();
                Err(e)
            }
            None => {
                let outer = std::mem::take(&mut lock(&self.nest).outer);
                let pending = nested_first(made.pending, &outer);
                let count = pending.len() as u64;
                let mut stats = made.stats;
                stats.elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
                // Last: committed after every stage, removed (rolled back) after every stage.
                let dirs = Pending::dirs(std::mem::take(&mut *lock(&self.dirs)));
                let pending = pending.into_iter().chain([dirs]);
                Ok((stats, count, pending.collect()))
            }
        };
        *lock(&self.outcome) = Some(out);
        self.ready.notify_all();
    }

    /// Removes the directories the install created above the packages, deepest first, each
    /// only if empty (after every stage is gone).
    fn remove_dirs(&self) {
        let mut dirs = std::mem::take(&mut *lock(&self.dirs));
        dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
        for d in dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        self.remove_dirs();
    }
}

/// Puts the stages in place in order; the first that fails stops there (the rest are removed,
/// in order: an install's directories come last). Returns the retries the renames took.
pub fn commit_all(pending: Vec<Pending>) -> Result<u32> {
    let mut retries = 0;
    for p in pending {
        retries += p.commit()?;
    }
    Ok(retries)
}

/// The packages' stages in the order given, each package's nested ones (deepest first) just
/// before it: a nested stage is renamed inside its outer's stage before that one is renamed.
fn nested_first(mut pending: Vec<(usize, Pending)>, outer: &HashMap<usize, usize>) -> Vec<Pending> {
    pending.sort_by_key(|(i, _)| *i);
    let mut inner: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, _) in &pending {
        if let Some(o) = outer.get(i) {
            inner.entry(*o).or_default().push(*i);
        }
    }
    let tops: Vec<usize> = pending
        .iter()
        .map(|(i, _)| *i)
        .filter(|i| !outer.contains_key(i))
        .collect();
    let mut slots: HashMap<usize, Pending> = pending.into_iter().collect();
    let mut out = Vec::with_capacity(slots.len());
    fn visit(
        i: usize,
        inner: &HashMap<usize, Vec<usize>>,
        slots: &mut HashMap<usize, Pending>,
        out: &mut Vec<Pending>,
    ) {
        for &n in inner.get(&i).map_or(&[][..], Vec::as_slice) {
            visit(n, inner, slots, out);
        }
        if let Some(p) = slots.remove(&i) {
            out.push(p);
        }
    }
    for i in tops {
        visit(i, &inner, &mut slots, &mut out);
    }
    // A nested package whose outer is missing (cannot happen when every package succeeded).
    let mut rest: Vec<_> = slots.into_iter().collect();
    rest.sort_by_key(|(i, _)| *i);
    out.extend(rest.into_iter().map(|(_, p)| p));
    out
}

/// A nested package's error with paths in its outer's stage shown where they are going.
fn unstage(e: &mut Error, root: &Path, into: &Path) {
    let fix = |p: &mut PathBuf| {
        if let Ok(rest) = p.strip_prefix(root) {
            *p = into.join(rest);
        }
    };
    fix(&mut e.path);
    if let Some(dest) = e.dest.as_mut() {
        fix(dest);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
