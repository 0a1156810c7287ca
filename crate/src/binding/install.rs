//! `importPackages`: a whole install, fed package by package while cachelink's threads import
//! (`engine::packages::Install`). The facade makes a `PackageInstall`, `add`s each package as
//! it describes it, and `finish`es; the threads start on the first package, so describing the
//! install in JS and linking it overlap.

use super::control::{Control, Shared};
use super::import::{batch_options, ImportStats, NativeImportOptions};
use super::{js_error, settle, to_path};
use crate::engine::batch::Stats;
use crate::engine::error::Result;
use crate::engine::packages::Install;
use crate::engine::store::Store;
use napi::bindgen_prelude::{Buffer, Either, Object};
use napi::Env;
use napi_derive::napi;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// What `importPackages` did: the packages' stats summed, and how many packages.
#[napi(object, use_nullable = true)]
pub struct ImportPackagesStats {
    pub stats: ImportStats,
    pub packages: i64,
}

/// The outcome with the stages put in place (or held for the facade's `commit`).
fn settle_install(install: &Install, shared: &Shared, hold: bool) -> Result<(Stats, u64)> {
    let (mut stats, n, pending) = install.wait()?;
    stats.retries += u64::from(shared.finish_all(pending, hold)?);
    Ok((stats, n))
}

fn to_js((s, n): (Stats, u64)) -> ImportPackagesStats {
    ImportPackagesStats {
        stats: s.into(),
        packages: i64::try_from(n).unwrap_or(i64::MAX),
    }
}

/// One install in progress. Dropped (collected) before `finish`, it is cancelled and leaves
/// nothing behind.
#[napi]
pub struct PackageInstall {
    install: Arc<Install>,
    shared: Arc<Shared>,
    hold: bool,
    finished: AtomicBool,
}

#[napi]
impl PackageInstall {
    /// `store`: the store's `files` directory, which entries flagged `s` name by digest.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        store: Option<Either<String, Buffer>>,
        options: NativeImportOptions,
        control: &Control,
    ) -> napi::Result<PackageInstall> {
        let mut opts = batch_options(options)?;
        opts.check_sources = true;
        if let Some(s) = store {
            opts.store = Some(Arc::new(Store::new(to_path(s, "options.store")?)));
        }
        Ok(PackageInstall {
            install: Install::new(opts, control.shared.counters()),
            shared: control.shared.clone(),
            hold: control.hold_commit,
            finished: AtomicBool::new(false),
        })
    }

    /// Queues a package: its folder and its entries in their wire form (`wire::parse_package`);
    /// `files`, how many entries, counts into the progress total. `outer` and `rel`: the package
    /// is nested in the package of that index (in the order added, before or after this one),
    /// at `rel` (relative, in the platform's separators) under its folder.
    #[napi(catch_unwind)]
    pub fn add(
        &self,
        into: Either<String, Buffer>,
        records: Buffer,
        files: u32,
        outer: Option<u32>,
        rel: Option<Buffer>,
    ) -> napi::Result<()> {
        let into = to_path(into, "into")?;
        let within = match (outer, rel) {
            (Some(o), Some(r)) => Some((o as usize, to_path(Either::B(r), "rel")?)),
            _ => None,
        };
        self.shared.add_total(files);
        self.install.add(into, records.to_vec(), within);
        Ok(())
    }

    /// No more packages; settles when every package is in place (or nothing is).
    #[napi(catch_unwind, ts_return_type = "Promise<ImportPackagesStats>")]
    pub fn finish<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        self.close();
        let (deferred, promise) = env.create_deferred()?;
        let install = self.install.clone();
        let shared = self.shared.clone();
        let hold = self.hold;
        let settle_and_resolve = move || {
            let out = settle_install(&install, &shared, hold);
            deferred.resolve(move |env: Env| match out {
                Ok(v) => Ok(to_js(v)),
                Err(e) => Err(js_error(&env, &e)),
            });
        };
        // A thread that only waits, so that no pool thread is kept from the install.
        if let Err(e) = std::thread::Builder::new()
            .name("cachelink-install".into())
            .spawn(settle_and_resolve)
        {
            return Err(napi::Error::from_reason(format!(
                "cachelink: could not start a thread: {e}"
            )));
        }
        Ok(promise)
    }

    /// The synchronous `finish`: waits for the install on the calling thread.
    #[napi(catch_unwind)]
    pub fn finish_sync(&self, env: Env) -> napi::Result<ImportPackagesStats> {
        self.close();
        settle(&env, settle_install(&self.install, &self.shared, self.hold)).map(to_js)
    }

    /// Stops the install (the facade could not describe a package) and waits until what it
    /// made is removed: nothing is put in place.
    #[napi]
    pub fn cancel(&self) {
        self.finished.store(true, Relaxed);
        self.install.cancel();
        drop(self.install.wait());
    }
}

impl PackageInstall {
    fn close(&self) {
        self.finished.store(true, Relaxed);
        self.install.close();
    }
}

impl Drop for PackageInstall {
    fn drop(&mut self) {
        if !self.finished.load(Relaxed) {
            self.install.cancel();
        }
    }
}
