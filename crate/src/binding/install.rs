//! `importPackages`: a whole install, fed package by package while cachelink's threads import
//! (`engine::packages::Install`). The facade makes a `PackageInstall`, `add`s each package as
//! it describes it, and `finish`es; the threads start on the first package, so describing the
//! install in JS and linking it overlap.

use super::control::{Control, Shared};
use super::import::{batch_options, ImportStats, NativeImportOptions};
use super::{js_error, settle, to_path};
use crate::engine::batch::{Pending, Stats};
use crate::engine::error::Result;
use crate::engine::packages::Install;
use crate::engine::pool;
use crate::engine::store::Store;
use napi::bindgen_prelude::{Buffer, Either, Object};
use napi::Env;
use napi_derive::napi;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};

/// What `importPackages` did: the packages' stats summed, and how many packages.
#[napi(object, use_nullable = true)]
pub struct ImportPackagesStats {
    pub stats: ImportStats,
    pub packages: i64,
}

type Outcome = Result<(Stats, u64, Vec<Pending>)>;

struct State {
    install: Install,
    shared: Arc<Shared>,
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
}

impl State {
    /// Runs the install to its end (on a pool thread, or on the caller's when there is no
    /// pool) and leaves the outcome for `wait`.
    fn drive(&self) {
        let ctl = self.shared.engine();
        let out = self.install.run(&ctl);
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
        self.ready.notify_all();
    }

    fn wait(&self) -> Outcome {
        let mut slot = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(out) = slot.take() {
                return out;
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The outcome with the stages put in place (or held for the facade's `commit`).
    fn settle(&self, hold: bool) -> Result<(Stats, u64)> {
        let (stats, n, pending) = self.wait()?;
        self.shared.finish_all(pending, hold)?;
        Ok((stats, n))
    }
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
    state: Arc<State>,
    hold: bool,
    /// The pool runs the install; false when it could not start, and `finish` runs it.
    on_pool: bool,
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
        if let Some(s) = store {
            opts.store = Some(Arc::new(Store::new(to_path(s, "options.store")?)));
        }
        let state = Arc::new(State {
            install: Install::new(opts),
            shared: control.shared.clone(),
            outcome: Mutex::new(None),
            ready: Condvar::new(),
        });
        let on_pool = pool::get().is_some();
        if on_pool {
            let s = state.clone();
            pool::spawn(move || s.drive());
        }
        Ok(PackageInstall {
            state,
            hold: control.hold_commit,
            on_pool,
            finished: AtomicBool::new(false),
        })
    }

    /// Queues a package: its folder and its entries in their wire form (`wire::parse_package`);
    /// `files`, how many entries, counts into the progress total.
    #[napi(catch_unwind)]
    pub fn add(
        &self,
        into: Either<String, Buffer>,
        records: Buffer,
        files: u32,
    ) -> napi::Result<()> {
        let into = to_path(into, "into")?;
        self.state.shared.add_total(files);
        self.state.install.add(into, records.to_vec());
        Ok(())
    }

    /// No more packages; settles when every package is in place (or nothing is).
    #[napi(catch_unwind, ts_return_type = "Promise<ImportPackagesStats>")]
    pub fn finish<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        self.close();
        let (deferred, promise) = env.create_deferred()?;
        let state = self.state.clone();
        let hold = self.hold;
        let on_pool = self.on_pool;
        let settle_and_resolve = move || {
            if !on_pool {
                state.drive();
            }
            let out = state.settle(hold);
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
        if !self.on_pool {
            self.state.drive();
        }
        settle(&env, self.state.settle(self.hold)).map(to_js)
    }

    /// Stops the install (the facade could not describe a package) and waits until what it
    /// made is removed: nothing is put in place.
    #[napi]
    pub fn cancel(&self) {
        self.finished.store(true, Relaxed);
        self.state.install.cancel();
        if self.on_pool {
            drop(self.state.wait());
        }
    }
}

impl PackageInstall {
    fn close(&self) {
        self.finished.store(true, Relaxed);
        self.state.install.close();
    }
}

impl Drop for PackageInstall {
    fn drop(&mut self) {
        if !self.finished.load(Relaxed) {
            self.state.install.cancel();
        }
    }
}
