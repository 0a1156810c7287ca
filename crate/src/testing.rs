//! What the crate's tests share.

use std::path::PathBuf;

/// A fresh directory of its own under the temp dir, named after the test (Wine reuses process
/// ids, and a failed run leaves its files).
pub fn sandbox(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "cachelink-rs-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a sandbox directory");
    dir
}
