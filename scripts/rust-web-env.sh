# Sourced by check-targets.sh and wine-test.sh (bash): puts a Rust toolchain that can build std
# for any target on PATH, without rustup's download server and without touching the machine's
# own rustc.
#
# Debian bookworm(-security)'s "rust-web" packages (rustc-web, cargo-web, rust-web-clippy and
# rust-web-src, the std sources) are fetched with `apt-get download` and unpacked into
# $RUST_WEB_DIR; only the shared libraries their binaries link (libllvm, libgit2, ...) are
# installed with apt. Installing the packages themselves would put /usr/bin/rustc and cargo on
# the system and conflict with Debian's rustc. With RUSTC_BOOTSTRAP=1, `cargo -Zbuild-std` then
# builds std (and core, alloc, test) from rust-web-src for whatever target is asked.
#
# std's own crates-registry dependencies (compiler_builtins, hashbrown, ...) come from the
# registry like ours, pinned by the std sources' Cargo.lock: no source replacement, so the
# project's dependencies (whatever Cargo.lock lists) resolve as they always do. Both are cached in
# CARGO_HOME, so a second run is offline in practice.
#
# Needs root for apt on the first run (or when the libraries are missing). Afterwards:
#   $RUST_WEB/bin on PATH, RUSTC, RUSTDOC, RUSTC_BOOTSTRAP=1, LD_LIBRARY_PATH, and rust_web_version.

RUST_WEB_DIR="${RUST_WEB_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/cachelink/rust-web}"
RUST_WEB="$RUST_WEB_DIR/usr"
RUST_WEB_PACKAGES=(rustc-web cargo-web rust-web-clippy rust-web-src)

# apt-get update once per run, and only when something has to be fetched.
_rust_web_updated=
rust_web_apt_update() {
  [ -n "$_rust_web_updated" ] || apt-get update -qq || return 1
  _rust_web_updated=1
}
rust_web_apt_install() {
  rust_web_apt_update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "$@" >/dev/null
}

_rust_web_depends() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances "$@" 2>/dev/null | awk '$1 == "Depends:" && $2 !~ /^</ {print $2}' | sort -u
}

# What is unpacked: the four and their std (libstd-rust-web-dev, and libstd-rust-web-<version>,
# the compiler's own shared library), named by the dependencies so a new version needs no edit.
_rust_web_pkgs() {
  printf '%s\n' "${RUST_WEB_PACKAGES[@]}"
  _rust_web_depends "${RUST_WEB_PACKAGES[@]}" | grep '^libstd-rust-web-'
}

# What is installed with apt: everything else those depend on (shared libraries, gcc, binutils).
_rust_web_libs() {
  local pkgs libs
  rust_web_apt_update || return 1
  mapfile -t pkgs < <(_rust_web_pkgs)
  mapfile -t libs < <(_rust_web_depends "${pkgs[@]}" | grep -v -x -F -f <(printf '%s\n' "${pkgs[@]}"))
  echo "rust-web: apt-get install ${libs[*]}"
  rust_web_apt_install "${libs[@]}"
}

_rust_web_unpack() {
  local dl pkgs deb
  rust_web_apt_update || return 1
  mapfile -t pkgs < <(_rust_web_pkgs)
  echo "rust-web: unpacking ${pkgs[*]} into $RUST_WEB_DIR"
  dl=$(mktemp -d) || return 1
  (cd "$dl" && apt-get download -qq "${pkgs[@]}" 2>&1 | grep -v 'unsandboxed' >&2)
  rm -rf "$RUST_WEB_DIR" && mkdir -p "$RUST_WEB_DIR" || return 1
  for deb in "$dl"/*.deb; do
    dpkg-deb -x "$deb" "$RUST_WEB_DIR" || return 1
  done
  rm -rf "$dl"
  [ -e "$RUST_WEB/lib/rustlib/src/rust/library/Cargo.lock" ] || {
    echo "rust-web: no std sources in $RUST_WEB/lib/rustlib/src/rust/library" >&2
    return 1
  }
  touch "$RUST_WEB_DIR/.complete"
}

rust_web_setup() {
  export LD_LIBRARY_PATH="$RUST_WEB/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ ! -e "$RUST_WEB_DIR/.complete" ]; then
    _rust_web_unpack || return 1
  fi
  # The libraries: missing on a fresh machine, and on one that got the unpack from a cache.
  if ! "$RUST_WEB/bin/rustc" -V >/dev/null 2>&1 || ! "$RUST_WEB/bin/cargo" -V >/dev/null 2>&1; then
    _rust_web_libs || return 1
  fi
  export PATH="$RUST_WEB/bin:$PATH" # cargo, cargo-clippy, clippy-driver, rustc, rustdoc
  export RUSTC="$RUST_WEB/bin/rustc" RUSTDOC="$RUST_WEB/bin/rustdoc"
  unset RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTUP_TOOLCHAIN
  export RUSTC_BOOTSTRAP=1 # -Zbuild-std on a stable compiler
  rust_web_version=$("$RUSTC" -V) || return 1
}
