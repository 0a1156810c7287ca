//! A whole install in one go (`importPackages`): many packages, each imported as
//! `batch::import` imports one, into a stage beside its folder, by every thread of cachelink's
//! pool taking packages from one queue. The queue is fed while the threads work: the caller
//! adds packages as it describes them (`Install::add`), so describing the install in JS and
//! linking it overlap, and then closes the queue (`Install::close`).
//!
//! Nothing is put in place until every package has been checked and imported: then the stages
//! are renamed into place in the order the packages were added (`commit_all`). An error, bad
//! input in any package, or an abort removes every stage, and every directory the install
//! created above them, so the tree is as it was.

use super::batch::{self, BatchOptions, Control, Pending, Stats};
use super::error::{Error, Result};
use super::method::Method;
use super::pool;
use super::wire;
use std::collections::VecDeque;
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
struct Queue {
    waiting: VecDeque<Added>,
    added: usize,
    closed: bool,
}

/// What the threads made: each package's stats and its stage, by the order it was added.
#[derive(Default)]
struct Made {
    stats: Stats,
    pending: Vec<(usize, Pending)>,
    /// The error of the lowest-numbered package that failed.
    error: Option<(usize, Error)>,
}

pub struct Install {
    opts: BatchOptions,
    queue: Mutex<Queue>,
    more: Condvar,
    stop: AtomicBool,
    made: Mutex<Made>,
    /// Directories the install created above the packages' folders (`BatchOptions::made_dirs`).
    dirs: Arc<Mutex<Vec<PathBuf>>>,
}

impl Install {
    /// `opts` for every package; each package is imported by one thread (the install's
    /// parallelism is its packages).
    pub fn new(mut opts: BatchOptions) -> Install {
        let dirs = Arc::new(Mutex::new(Vec::new()));
        opts.threads = 1;
        opts.made_dirs = Some(dirs.clone());
        Install {
            opts,
            queue: Mutex::default(),
            more: Condvar::new(),
            stop: AtomicBool::new(false),
            made: Mutex::default(),
            dirs,
        }
    }

    /// Queues a package (its entries in their wire form).
    pub fn add(&self, into: PathBuf, records: Vec<u8>) {
        let mut q = lock(&self.queue);
        let index = q.added;
        q.added += 1;
        q.waiting.push_back(Added {
            index,
            into,
            records,
        });
        drop(q);
        self.more.notify_one();
    }

    /// No more packages: the threads finish what is queued and return.
    pub fn close(&self) {
        lock(&self.queue).closed = true;
        self.more.notify_all();
    }

    /// Stops the threads between packages (and, through `ctl.abort`, between files).
    pub fn cancel(&self) {
        self.stop.store(true, Relaxed);
        self.close();
    }

    /// Imports the packages as they are added, on every thread of the pool, until the queue
    /// is closed and empty; then the stats summed, how many packages, and their stages in the
    /// order they were added (for `commit_all`). On failure everything made is removed.
    pub fn run(&self, ctl: &Control) -> Result<(Stats, u64, Vec<Pending>)> {
        let started = std::time::Instant::now();
        pool::run_parallel(pool::size(), &|| self.work(ctl));
        let made = std::mem::take(&mut *lock(&self.made));
        // An error set the abort flag to stop the others: the error is what is reported.
        let failed =
            match made.error {
                Some((_, e)) => Some(e),
                None if ctl.abort.load(Relaxed) != 0 || self.stop.load(Relaxed) => Some(
                    Error::own("ABORT_ERR", "the import was aborted", &PathBuf::new(), None),
                ),
                None => None,
            };
        if let Some(e) = failed {
            drop(made.pending);
            self.remove_dirs();
            return Err(e);
        }
        let mut pending = made.pending;
        pending.sort_by_key(|(i, _)| *i);
        let count = pending.len() as u64;
        let mut stats = made.stats;
        stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        // Last: committed after every stage, removed (when rolled back) after every stage.
        let dirs = Pending::dirs(std::mem::take(&mut *lock(&self.dirs)));
        let pending = pending.into_iter().map(|(_, p)| p).chain([dirs]);
        Ok((stats, count, pending.collect()))
    }

    fn next(&self, ctl: &Control) -> Option<Added> {
        let mut q = lock(&self.queue);
        loop {
            if self.stop.load(Relaxed) || ctl.abort.load(Relaxed) != 0 {
                return None;
            }
            if let Some(a) = q.waiting.pop_front() {
                return Some(a);
            }
            if q.closed {
                return None;
            }
            q = self.more.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn work(&self, ctl: &Control) {
        while let Some(a) = self.next(ctl) {
            // Each package counts its own total; its files done count into the install's.
            let total = AtomicI32::new(0);
            let one = Control {
                done: ctl.done,
                total: &total,
                abort: ctl.abort,
            };
            let out = wire::parse_package(&a.records, &a.into, self.opts.store.as_deref())
                .and_then(|entries| batch::import_pending(entries, &a.into, &self.opts, &one));
            let mut made = lock(&self.made);
            match out {
                Ok((stats, pending)) => {
                    add(&mut made.stats, stats);
                    made.pending.push((a.index, pending));
                }
                Err(e) => {
                    // The error of the lowest-numbered package, but never the abort the first
                    // error made the others stop with.
                    let replaces = match &made.error {
                        None => true,
                        Some((i, first)) => {
                            let aborted = |e: &Error| e.code == "ABORT_ERR";
                            (aborted(first) && !aborted(&e))
                                || (aborted(first) == aborted(&e) && a.index < *i)
                        }
                    };
                    if replaces {
                        made.error = Some((a.index, e));
                    }
                    drop(made);
                    // Packages in flight stop between files too.
                    ctl.abort.store(1, Relaxed);
                    self.stop.store(true, Relaxed);
                    self.more.notify_all();
                    return;
                }
            }
        }
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
/// in order: an install's directories come last).
pub fn commit_all(pending: Vec<Pending>) -> Result<()> {
    for p in pending {
        p.commit()?;
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `o` added into `s`; `method` is again the one most files used.
fn add(s: &mut Stats, o: Stats) {
    s.files += o.files;
    s.dirs += o.dirs;
    s.cloned += o.cloned;
    s.hardlinked += o.hardlinked;
    s.copied += o.copied;
    s.symlinked += o.symlinked;
    s.resets += o.resets;
    s.bytes_copied += o.bytes_copied;
    s.kept += o.kept;
    s.empty_created += o.empty_created;
    s.link_limit_copies += o.link_limit_copies;
    s.readonly_cache_copies += o.readonly_cache_copies;
    s.link_refused_copies += o.link_refused_copies;
    s.conflicts += o.conflicts;
    for (m, code, n) in o.fallbacks {
        match s
            .fallbacks
            .iter_mut()
            .find(|(sm, sc, _)| *sm == m && *sc == code)
        {
            Some(slot) => slot.2 += n,
            None => s.fallbacks.push((m, code, n)),
        }
    }
    s.fallbacks.sort_by_key(|(m, code, _)| (m.index(), *code));
    s.method = [
        (s.hardlinked, Method::Hardlink),
        (s.cloned, Method::Clone),
        (s.copied, Method::Copy),
        (s.symlinked, Method::Symlink),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .max_by_key(|(n, _)| *n)
    .map(|(_, m)| m);
}
