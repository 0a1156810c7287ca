//! What each method did between a pair of devices, remembered for the life of the process, so
//! after the first file the next one goes straight to the method that works (uv's
//! `LinkAttempt` state machine, per device pair).
//!
//! - `Unknown` → the method is tried.
//! - `Works` after one success; a later "unsupported" failure then falls back for that file only
//!   (a clone can fail on one file of a filesystem where it works for others) and the state stays.
//! - `Unsupported` after a first "unsupported" failure; the method is skipped from then on.

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

/// (source device, destination device)
pub type Pair = (u64, u64);

static MEMO: Mutex<Option<HashMap<Pair, [State; 4]>>> = Mutex::new(None);
/// Bumped by every change, so the per-thread copies below know when they are stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The last pair this thread asked about, as of a generation: a batch asks about the same
    /// pair for every file, and this spares it the lock.
    static LAST: Cell<Option<(u64, Pair, [State; 4])>> = const { Cell::new(None) };
}

pub fn get(pair: Pair, method: Method) -> State {
    let generation = GENERATION.load(Ordering::Acquire);
    if let Some((g, p, states)) = LAST.get() {
        if g == generation && p == pair {
            return states[method.index()];
        }
    }
    let states = with(|m| m.get(&pair).copied().unwrap_or_default());
    LAST.set(Some((generation, pair, states)));
    states[method.index()]
}

/// Records an outcome. `Unsupported` never overwrites `Works`.
pub fn set(pair: Pair, method: Method, state: State) {
    with(|m| {
        let slot = &mut m.entry(pair).or_default()[method.index()];
        if *slot != state && !(state == State::Unsupported && *slot == State::Works) {
            *slot = state;
            GENERATION.fetch_add(1, Ordering::AcqRel);
        }
    })
}

/// Forgets everything (mounts can change under a long-running process; tests start clean).
pub fn clear() {
    with(|m| m.clear());
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

fn with<T>(f: impl FnOnce(&mut HashMap<Pair, [State; 4]>) -> T) -> T {
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
        set(pair, Method::Hardlink, State::Unsupported);
        assert_eq!(get(pair, Method::Hardlink), State::Unsupported);
        assert_eq!(get((u64::MAX - 7, 2), Method::Hardlink), State::Unknown);
    }
}
