//! cachelink's own threads: one pool per process, sized to the machine, shared by every long
//! call (imports, tree imports, scans, cleans). Long work never sits on libuv's pool, which the
//! application's fs, dns and zlib share.
//!
//! The size is the number of cores, or `CACHELINK_THREADS` when set (a network filesystem
//! such as EFS, where each call waits on a round trip, can use more threads than cores).

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::OnceLock;

/// Threads of the pool.
pub fn size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        let from_env = std::env::var("CACHELINK_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| (1..=1024).contains(n));
        // std reads cgroup files for the core count every time: once is enough.
        from_env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// The pool, started on first use. `None` only if the OS refused to start any thread, in
/// which case callers run their work on the calling thread.
pub fn get() -> Option<&'static ThreadPool> {
    static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        ThreadPoolBuilder::new()
            .num_threads(size())
            .thread_name(|i| format!("cachelink-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `job` on the pool without waiting for it (on the calling thread, to completion, if
/// the pool could not start: slower, never lost).
pub fn spawn(job: impl FnOnce() + Send + 'static) {
    match get() {
        Some(pool) => pool.spawn(job),
        None => job(),
    }
}

/// Runs `workers` copies of `work` at once on the pool (the calling thread runs one of them
/// when it is a pool thread), and returns when all are done.
pub fn run_parallel(workers: usize, work: &(dyn Fn() + Sync)) {
    match get() {
        Some(pool) if workers > 1 => pool.scope(|s| {
            for _ in 1..workers {
                s.spawn(|_| work());
            }
            work();
        }),
        _ => work(),
    }
}
