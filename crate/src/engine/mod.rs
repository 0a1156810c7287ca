//! The engine: plain Rust, no Node-API. `link::link_file` materializes one file; `batch` and
//! `tree` many; `reset` is the link-limit reset; `method` and `memo` decide what to try;
//! `paths` keeps batch entries inside their destination; `pool` is cachelink's own threads;
//! `error` carries what failed; `wire` reads `importFiles`' entries; `probe` tries every
//! method between two places; `verify` checks entries against their digests and repairs
//! them in place.

pub mod batch;
pub mod conflicts;
pub mod error;
pub mod existing;
pub mod fsinfo;
pub mod link;
pub mod lock;
pub mod memo;
pub mod method;
pub mod packages;
pub mod paths;
pub mod pool;
pub mod probe;
pub mod reset;
pub mod retry;
pub mod scan;
pub mod sources;
pub mod store;
pub mod temp;
pub mod tree;
pub mod verify;
pub mod wire;

use std::sync::OnceLock;

/// Writes `msg()` to stderr like Node's `util.debuglog('cachelink')` when `NODE_DEBUG` names
/// cachelink. Most debug lines are written by the facade from the results; this is for what
/// the results do not carry.
pub fn debug(msg: impl FnOnce() -> String) {
    static ON: OnceLock<bool> = OnceLock::new();
    let on = ON.get_or_init(|| {
        std::env::var("NODE_DEBUG")
            .map(|v| {
                v.split(',')
                    .any(|s| s.trim().eq_ignore_ascii_case("cachelink"))
            })
            .unwrap_or(false)
    });
    if *on {
        // Not eprintln!: it panics when the write fails, and Node's stderr pipe is non-blocking
        // (EAGAIN under a flood of lines). A lost debug line must not fail the call.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "CACHELINK {}: {}",
            std::process::id(),
            msg()
        );
    }
}
