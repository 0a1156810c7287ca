//! `Control`: what a long call (import, scan, clean) shares with the facade while it runs.
//! The facade reads `done` and `total` on a timer for `onProgress`, and calls `abort()` when the
//! signal fires; the workers read the abort flag between files.
//!
//! With `holdCommit`, an import stops one step short of the end: every file is placed, but its
//! stage is not yet renamed into place. The facade then makes the final progress report and
//! calls `commit()`, or `rollback()` when that report throws, so a throwing `onProgress` never
//! leaves an import behind it. A held import that is neither committed nor rolled back is
//! rolled back when the `Control` is collected.

use super::settle;
use crate::engine::batch::{self, Pending};
use crate::engine::packages::commit_all;
use napi::Env;
use napi_derive::napi;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Shared {
    done: Arc<AtomicI32>,
    total: AtomicI32,
    abort: Arc<AtomicI32>,
    /// A held import (or a held install's packages, in order), waiting for `commit` or
    /// `rollback`.
    pending: Mutex<Vec<Pending>>,
}

impl Shared {
    /// The engine's view: progress out, abort in.
    pub fn engine(&self) -> batch::Control<'_> {
        batch::Control {
            done: &self.done,
            total: &self.total,
            abort: &self.abort,
        }
    }

    /// Keeps `pending` for the facade to commit, or commits it now; returns the retries the
    /// commit took (0 when held: `Control.commit` returns them then).
    pub fn finish(&self, pending: Pending, hold: bool) -> crate::engine::error::Result<u32> {
        self.finish_all(vec![pending], hold)
    }

    /// `finish` for several imports: committed in order, the first failure stopping there
    /// (those after it are removed).
    pub fn finish_all(
        &self,
        pending: Vec<Pending>,
        hold: bool,
    ) -> crate::engine::error::Result<u32> {
        if !hold {
            return commit_all(pending);
        }
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = pending;
        Ok(0)
    }

    /// Progress out and abort in, owned by an install that outlives the call starting it.
    pub fn counters(&self) -> crate::engine::packages::Counters {
        crate::engine::packages::Counters {
            done: self.done.clone(),
            abort: self.abort.clone(),
        }
    }

    /// Adds to the total (an install, whose packages arrive while it runs).
    pub fn add_total(&self, n: u32) {
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        let _ = self
            .total
            .fetch_update(Relaxed, Relaxed, |t| Some(t.saturating_add(n)));
    }

    fn take(&self) -> Vec<Pending> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[napi]
pub struct Control {
    pub(super) shared: Arc<Shared>,
    pub(super) hold_commit: bool,
}

#[napi]
impl Control {
    /// `holdCommit`: an import leaves its stage for `commit()` or `rollback()`.
    #[napi(constructor)]
    pub fn new(hold_commit: Option<bool>) -> Self {
        Control {
            shared: Arc::default(),
            hold_commit: hold_commit.unwrap_or(false),
        }
    }

    /// Entries done so far.
    #[napi(getter)]
    pub fn done(&self) -> i32 {
        self.shared.done.load(Relaxed)
    }

    /// Entries in all; 0 while unknown (a walk).
    #[napi(getter)]
    pub fn total(&self) -> i32 {
        self.shared.total.load(Relaxed)
    }

    /// Stops the work between files; the call then fails with `ABORT_ERR`.
    #[napi]
    pub fn abort(&self) {
        self.shared.abort.store(1, Relaxed);
    }

    /// Puts a held import in place (renames its stage). Nothing to do without one. Returns
    /// the retries of transient failures that took (the facade adds them to the stats).
    #[napi(catch_unwind)]
    pub fn commit(&self, env: Env) -> napi::Result<u32> {
        settle(&env, commit_all(self.shared.take()))
    }

    /// Removes a held import's stage. Nothing to do without one.
    #[napi(catch_unwind)]
    pub fn rollback(&self) {
        drop(self.shared.take());
    }
}
