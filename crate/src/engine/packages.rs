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

use super::batch::{self, BatchOptions, Control, Pending, Stats};
use super::error::{Error, Result};
use super::pool;
use super::wire;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};

/// A package as added: its folder and its entries in their wire form (`wire::parse_package`),
/// parsed by the thread that imports it.
struct Added {
    index: usize,
    into: PathBuf,
    records: Vec<u8>,
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
            dirs,
            outcome: Mutex::new(None),
            ready: Condvar::new(),
            started: std::time::Instant::now(),
        })
    }

    /// Queues a package (its entries in their wire form) on the pool: one job per package,
    /// and a big package's files are shared out to idle threads as `batch` shares them.
    pub fn add(self: &Arc<Self>, into: PathBuf, records: Vec<u8>) {
        let index = {
            let mut p = lock(&self.progress);
            if p.closed {
                return;
            }
            p.added += 1;
            p.outstanding += 1;
            p.added - 1
        };
        let me = self.clone();
        pool::spawn(move || {
            let at = into.clone();
            let a = Added {
                index,
                into,
                records,
            };
            // A panic must not take the process down (rayon aborts on one) nor leave the
            // install waiting for this package for ever: it fails the install.
            if catch_unwind(AssertUnwindSafe(|| me.one(a))).is_err() {
                let why = "cachelink's engine panicked while importing this package";
                me.fail(index, Error::own("ERR_CACHELINK_PANIC", why, &at, None));
            }
            let last = {
                let mut p = lock(&me.progress);
                p.outstanding -= 1;
                p.closed && p.outstanding == 0 && !std::mem::replace(&mut p.ended, true)
            };
            if last {
                me.end();
            }
        });
    }

    /// No more packages: the outcome is made when the last one is done.
    pub fn close(&self) {
        let last = {
            let mut p = lock(&self.progress);
            p.closed = true;
            p.outstanding == 0 && !std::mem::replace(&mut p.ended, true)
        };
        if last {
            self.end();
        }
    }

    /// Stops the install between packages (and, through the abort flag, between files).
    pub fn cancel(&self) {
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

    fn one(&self, a: Added) {
        if self.stop.load(Relaxed) || self.ctl.abort.load(Relaxed) != 0 {
            return;
        }
        // Each package counts its own total; its files done count into the install's.
        let total = AtomicI32::new(0);
        let one = Control {
            done: &self.ctl.done,
            total: &total,
            abort: &self.ctl.abort,
        };
        let out = wire::parse_package(&a.records, &a.into, self.opts.store.as_deref())
            .and_then(|entries| batch::import_pending(entries, &a.into, &self.opts, &one));
        match out {
            Ok((stats, pending)) => {
                let mut made = lock(&self.made);
                made.stats.add(stats);
                made.pending.push((a.index, pending));
            }
            Err(e) => self.fail(a.index, e),
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
                let mut pending = made.pending;
                pending.sort_by_key(|(i, _)| *i);
                let count = pending.len() as u64;
                let mut stats = made.stats;
                stats.elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
                // Last: committed after every stage, removed (rolled back) after every stage.
                let dirs = Pending::dirs(std::mem::take(&mut *lock(&self.dirs)));
                let pending = pending.into_iter().map(|(_, p)| p).chain([dirs]);
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
