#!/usr/bin/env bash
# Lints the crate for every target cachelink ships, on this one Linux x86_64 machine:
# `cargo clippy --all-targets -- -D warnings` per target, with std built from source
# (-Zbuild-std) by Debian's rust-web toolchain (see scripts/rust-web-env.sh), so no rustup
# targets, SDKs or linkers are needed: clippy only type-checks. Prints a table of the results
# and exits 1 if any target fails or warns.
#
#   bash scripts/check-targets.sh                  # package.json's napi.targets, all of them
#   bash scripts/check-targets.sh aarch64-pc-windows-msvc x86_64-apple-darwin
#   CLIPPY_ARGS="-D warnings -W clippy::pedantic" bash scripts/check-targets.sh
#
# Run as root on a fresh Debian 12 machine: the first run installs the toolchain (about 90 MB
# from Debian's archive) and builds std per target (about a minute each on 2 cores); later runs
# reuse both (target/xcheck) and take seconds. Logs: target/xcheck/logs/<target>.log.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/rust-web-env.sh
source scripts/rust-web-env.sh

CLIPPY_ARGS="${CLIPPY_ARGS:--D warnings}"
TARGET_DIR=target/xcheck
LOGS="$TARGET_DIR/logs"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  # The one list of platforms: package.json's "napi": { "targets": [...] }, one per line.
  mapfile -t targets < <(awk '/"targets": *\[/ {on = 1; next} on && /\]/ {exit}
    on {gsub(/[",[:space:]]/, ""); if ($0 != "") print}' package.json)
fi
[ ${#targets[@]} -gt 0 ] || { echo "check-targets: no targets in package.json" >&2; exit 1; }

t0=$SECONDS
rust_web_setup || { echo "check-targets: the rust-web toolchain could not be set up" >&2; exit 1; }
setup=$((SECONDS - t0))
echo "$rust_web_version, $(cargo -V), $(clippy-driver -V)"
mkdir -p "$LOGS"

declare -A result secs
status=0
for t in "${targets[@]}"; do
  printf '\n== clippy --target %s\n' "$t"
  s=$SECONDS
  log="$LOGS/$t.log"
  # The flags the release builds use (.github/workflows/ci.yml): a cdylib needs a dynamically
  # linked musl.
  flags=
  case "$t" in *-musl) flags="-C target-feature=-crt-static" ;; esac
  # shellcheck disable=SC2086 # CLIPPY_ARGS is a list of arguments
  env "CARGO_TARGET_$(echo "$t" | tr 'a-z-' 'A-Z_')_RUSTFLAGS=$flags" \
    cargo clippy -Zbuild-std --all-targets --target "$t" --target-dir "$TARGET_DIR" \
    -- $CLIPPY_ARGS >"$log" 2>&1
  rc=$?
  secs[$t]=$((SECONDS - s))
  # The crate's diagnostics, without the progress lines of std's build.
  grep -v -E '^ *(Compiling|Checking|Blocking|Fresh|Downloaded|Downloading|Updating|Locking|Adding) ' "$log"
  nerr=$(grep -c -E '^error(\[E[0-9]+\])?: ' "$log")
  nwarn=$(grep -c -E '^warning(\[E[0-9]+\])?: ' "$log")
  # Clean means no warning either: cargo's own (an unsupported crate type, say) included.
  if [ "$rc" -eq 0 ] && [ "$nwarn" -eq 0 ]; then
    result[$t]="ok"
  else
    result[$t]="FAILED ($nerr errors, $nwarn warnings)"
    status=1
  fi
done

printf '\n== check-targets: cargo clippy --all-targets -- %s (%s; setup %ss, total %ss)\n' \
  "$CLIPPY_ARGS" "$rust_web_version" "$setup" "$((SECONDS - t0))"
printf '%-30s %-34s %6s\n' target result time
for t in "${targets[@]}"; do
  printf '%-30s %-34s %5ss\n' "$t" "${result[$t]}" "${secs[$t]}"
done
exit $status
