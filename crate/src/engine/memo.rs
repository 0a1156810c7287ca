//! What each method did between a pair of mounts, remembered for the life of the process, so
//! after the first file the next one goes straight to the method that works (uv's
//! `LinkAttempt` state machine, per pair of mounts).
//!
//! - `Unknown` → the method is tried.
//! - `Works` after one success; a later "unsupported" failure then falls back for that file only
//!   (a clone can fail on one file of a filesystem where it works for others) and the state stays.
//! - `Unsupported` after a first "unsupported" failure, with the code that said so; `auto` and
//!   method lists skip the method from then on (all but a chain's last) and still report it in
//!   `fallbacks` with that code. A method the caller named alone is always tried (`link_file`).
//! - A hard link refused for one file (`Class::Refused`: EPERM for a file of another user under
//!   `protected_hardlinks`, Windows error 396) changes nothing here: it says nothing about the
//!   next file.
//! - A hard link's EACCES (`Class::Denied`, FUSE) is this file's refusal once hard links have
//!   `Works` between the pair (or worked from the source's device), and recorded `Unsupported`
//!   with EACCES otherwise (`link::Materialize::denied`): a mount that refuses every link costs
//!   one failed link per process.
//!
//! The key is the mount, not the device (`sys::mount_key`): a bind mount shares its filesystem's
//! device, and one EXDEV between two mounts of one filesystem says nothing about links inside
//! either of them. Looking up the two mounts costs a `statx` each per file, so `link_file` does
//! it before trying only when some method is known not to work from the source's device
//! (`any_unsupported_from`, a cheap filter by the device `stat` already gave); otherwise it
//! tries first and looks up only after a failure, with successes noted per source device
//! (`note_works_from`).

use super::method::Method;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum State {
    #[default]
    Unknown,
    Works,
    Unsupported,
}

/// (source mount, destination mount) as `sys::mount_key` gives them; the reset's clone memo
/// uses (device, device).
pub type Pair = (u64, u64);

/// A method's state between a pair, and the code of the failure that made it `Unsupported`.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    state: State,
    code: &'static str,
}

static MEMO: Mutex<Option<HashMap<Pair, [Slot; 4]>>> = Mutex::new(None);
/// One bit per source device (by `dev % 64`) that has a method recorded as unsupported with
/// some destination (`set_unsupported`): while a source device's bit is clear, nothing can be
/// skipped for it, so callers need not look up the mounts before trying (false positives only
/// cost that lookup).
static UNSUPPORTED_FROM: AtomicU64 = AtomicU64::new(0);

/// Whether any method is known not to work between any two devices.
pub fn any_unsupported() -> bool {
    UNSUPPORTED_FROM.load(Ordering::Acquire) != 0
}

/// Whether some method is known not to work from `src_dev` to somewhere.
pub fn any_unsupported_from(src_dev: u64) -> bool {
    UNSUPPORTED_FROM.load(Ordering::Acquire) & (1 << (src_dev % 64)) != 0
}

/// Per method, one bit per source device (by `dev % 64`) from which it has worked to some
/// destination: what a caller that skipped the destination lookup knows of `Works`.
static WORKS_FROM: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Records that `method` worked from `src_dev` (cheap when already known).
pub fn note_works_from(src_dev: u64, method: Method) {
    let bit = 1 << (src_dev % 64);
    let slot = &WORKS_FROM[method.index()];
    if slot.load(Ordering::Relaxed) & bit == 0 {
        slot.fetch_or(bit, Ordering::AcqRel);
    }
}

/// Whether `method` has worked from `src_dev` to some destination.
pub fn worked_from(src_dev: u64, method: Method) -> bool {
    WORKS_FROM[method.index()].load(Ordering::Acquire) & (1 << (src_dev % 64)) != 0
}

/// Bumped by every change, so the per-thread copies below know when they are stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The last pair this thread asked about, as of a generation: a batch asks about the same
    /// pair for every file, and this spares it the lock.
    // The initializer is `const`: clippy says otherwise on targets with emulated TLS (armv7
    // Android), where the macro expands to code the lint misreads.
    #[allow(clippy::missing_const_for_thread_local)]
    static LAST: Cell<Option<(u64, Pair, [Slot; 4])>> = const { Cell::new(None) };
}

fn slot(pair: Pair, method: Method) -> Slot {
    let generation = GENERATION.load(Ordering::Acquire);
    if let Some((g, p, slots)) = LAST.get() {
        if g == generation && p == pair {
            return slots[method.index()];
        }
    }
    let slots = with(|m| m.get(&pair).copied().unwrap_or_default());
    LAST.set(Some((generation, pair, slots)));
    slots[method.index()]
}

pub fn get(pair: Pair, method: Method) -> State {
    slot(pair, method).state
}

/// The code `method` failed with between `pair`, when it is known not to work there.
pub fn unsupported(pair: Pair, method: Method) -> Option<&'static str> {
    let s = slot(pair, method);
    (s.state == State::Unsupported).then_some(s.code)
}

/// Records an outcome. `Unsupported` never overwrites `Works`. (The reset's clone memo; an
/// `Unsupported` recorded here says ENOTSUP and does not mark its source for `link_file`.)
pub fn set(pair: Pair, method: Method, state: State) {
    record(pair, method, state, "ENOTSUP", None);
}

/// Records that `method` does not work between `pair` (the source on device `src_dev`), with
/// the code of the failure. Never overwrites `Works`.
pub fn set_unsupported(pair: Pair, src_dev: u64, method: Method, code: &'static str) {
    record(pair, method, State::Unsupported, code, Some(src_dev));
}

fn record(pair: Pair, method: Method, state: State, code: &'static str, src_dev: Option<u64>) {
    with(|m| {
        let slot = &mut m.entry(pair).or_default()[method.index()];
        if slot.state != state && !(state == State::Unsupported && slot.state == State::Works) {
            *slot = Slot { state, code };
            if let (State::Unsupported, Some(dev)) = (state, src_dev) {
                UNSUPPORTED_FROM.fetch_or(1 << (dev % 64), Ordering::AcqRel);
            }
            GENERATION.fetch_add(1, Ordering::AcqRel);
        }
    })
}

/// Forgets everything (mounts can change under a long-running process; tests start clean).
pub fn clear() {
    with(|m| m.clear());
    UNSUPPORTED_FROM.store(0, Ordering::Release);
    for slot in &WORKS_FROM {
        slot.store(0, Ordering::Release);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

fn with<T>(f: impl FnOnce(&mut HashMap<Pair, [Slot; 4]>) -> T) -> T {
    // A poisoned lock only means another thread panicked while holding it; the map is still
    // a valid cache of hints, so keep using it.
    let mut guard = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_never_overwrites_works() {
        let pair = (u64::MAX - 7, 1);
        assert_eq!(get(pair, Method::Clone), State::Unknown);
        set(pair, Method::Clone, State::Works);
        set(pair, Method::Clone, State::Unsupported);
        assert_eq!(get(pair, Method::Clone), State::Works);
        set_unsupported(pair, 3, Method::Hardlink, "EXDEV");
        assert_eq!(get(pair, Method::Hardlink), State::Unsupported);
        assert_eq!(unsupported(pair, Method::Hardlink), Some("EXDEV"));
        assert_eq!(unsupported(pair, Method::Clone), None);
        assert_eq!(get((u64::MAX - 7, 2), Method::Hardlink), State::Unknown);
        assert!(any_unsupported_from(3));
    }
}
