//! A whole install in one call (`importPackages`): many packages, each imported as
//! `batch::import` imports one (staged and renamed into place when complete, by default), taken
//! from one queue by every thread of cachelink's pool, so the pool stays busy from the first
//! package to the last and the caller makes one call and waits on one promise.
//!
//! Progress counts the files of every package; an abort or the first error stops the queue
//! (packages in flight stop between files and leave nothing behind; packages already done stay
//! in place, each complete). The error is that first one.

use super::batch::{self, BatchOptions, Control, Entry, Stats};
use super::error::{Error, Result};
use super::method::Method;
use super::pool;
use super::store::Store;
use super::wire;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// A package: its folder and its entries.
pub type Package = (PathBuf, Vec<Entry>);

/// The packages from their wire form (`wire::split_packages`), parsed on every thread of the
/// pool; every entry of every package is checked before anything is written. The error is the
/// first package's that has one.
pub fn parse(records: &[u8], store: Option<&Store>) -> Result<Vec<Package>> {
    let parts = wire::split_packages(records)?;
    let parsed: Vec<Mutex<Option<Result<Vec<Entry>>>>> =
        parts.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Relaxed);
        let Some((into, part)) = parts.get(i) else {
            return;
        };
        let out = wire::parse_package(part, into, store);
        *parsed[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    };
    pool::run_parallel(pool::size().min(parts.len()).max(1), &work);
    parts
        .into_iter()
        .zip(parsed)
        .map(|((into, _), out)| {
            let entries = out
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Ok(Vec::new()))?;
            Ok((into, entries))
        })
        .collect()
}

/// The packages' summed stats, and how many packages were imported.
pub fn import_packages(
    packages: Vec<Package>,
    opts: &BatchOptions,
    ctl: &Control,
) -> Result<(Stats, u64)> {
    let started = Instant::now();
    let files: usize = packages.iter().map(|(_, e)| e.len()).sum();
    ctl.total
        .store(i32::try_from(files).unwrap_or(i32::MAX), Relaxed);
    let count = packages.len();
    let queue: Vec<Mutex<Option<Package>>> =
        packages.into_iter().map(|p| Mutex::new(Some(p))).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first: Mutex<Option<Error>> = Mutex::new(None);
    let sum = Mutex::new((Stats::default(), 0u64));
    let work = || loop {
        let i = next.fetch_add(1, Relaxed);
        if i >= queue.len() || stop.load(Relaxed) || ctl.abort.load(Relaxed) != 0 {
            return;
        }
        let Some((into, entries)) = queue[i].lock().unwrap_or_else(|e| e.into_inner()).take()
        else {
            continue;
        };
        // Each package counts its own total; files done go to the install's count.
        let total = AtomicI32::new(0);
        let one = Control {
            done: ctl.done,
            total: &total,
            abort: ctl.abort,
        };
        match batch::import(entries, &into, opts, &one) {
            Ok(stats) => {
                let mut sum = sum.lock().unwrap_or_else(|e| e.into_inner());
                add(&mut sum.0, stats);
                sum.1 += 1;
            }
            Err(e) => {
                stop.store(true, Relaxed);
                first
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(e);
                return;
            }
        }
    };
    pool::run_parallel(pool::size().min(count).max(1), &work);
    if let Some(e) = first.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let (mut stats, imported) = sum.into_inner().unwrap_or_else(|e| e.into_inner());
    if ctl.abort.load(Relaxed) != 0 && imported < count as u64 {
        return Err(Error::own(
            "ABORT_ERR",
            "the import was aborted",
            &PathBuf::new(),
            None,
        ));
    }
    stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((stats, imported))
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
