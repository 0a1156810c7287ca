#!/usr/bin/env bash
# Runs the crate's Rust tests for Windows (x86_64-pc-windows-gnu) on this Linux machine: std built
# from source by Debian's rust-web toolchain (see scripts/rust-web-env.sh), linked by MinGW-w64,
# run under Wine 8. Prints cargo's "test result" lines; exits non-zero if a test fails.
#
#   bash scripts/wine-test.sh                  # all the crate's tests
#   bash scripts/wine-test.sh sys::            # cargo test arguments: a filter, -- --nocapture
#
# Wine is not Windows: it has no ReFS (no block cloning, no integrity streams) and no NTFS link
# limit, and its files are Linux files underneath. This runs the Windows code paths (CopyFileExW,
# FileIdInfo, FileRenameInfoEx, the engine's Windows branches) for real; a Windows runner is
# still the proof for what Wine lacks.
#
# Run as root on a fresh Debian 12 machine: the first run installs MinGW-w64 and Wine, the
# toolchain, and builds std (a few minutes); later runs reuse all of it (the Wine prefix and a
# stand-in DLL in ~/.cache/cachelink/wine, the build in target/xcheck).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/rust-web-env.sh
source scripts/rust-web-env.sh

TARGET=x86_64-pc-windows-gnu
WINE_DIR="${WINE_DIR:-$(dirname "$RUST_WEB_DIR")/wine}"
WINE=/usr/lib/wine/wine64
LOG=target/xcheck/logs/wine-test.log

rust_web_setup || { echo "wine-test: the rust-web toolchain could not be set up" >&2; exit 1; }
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || [ ! -x "$WINE" ]; then
  echo "wine-test: apt-get install gcc-mingw-w64-x86-64-win32 wine64"
  rust_web_apt_install gcc-mingw-w64-x86-64-win32 wine64 || exit 1
fi
echo "$rust_web_version, $(x86_64-w64-mingw32-gcc --version | head -1), $("$WINE" --version)"

export WINEPREFIX="$WINE_DIR/prefix" WINEDEBUG=-all WINEARCH=win64
# No Mono or Gecko installer prompts: tests need neither .NET nor a browser engine.
export WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -e "$WINEPREFIX/system.reg" ]; then
  echo "wine-test: creating the Wine prefix $WINEPREFIX"
  mkdir -p "$WINE_DIR"
  "$WINE" wineboot --init >/dev/null 2>&1
  # wineboot returns before wineserver has written the registry.
  /usr/lib/wine/wineserver -w
fi

# Wine 8 has no bcryptprimitives.dll, whose ProcessPrng Rust's std imports (for HashMap keys and
# such): a stand-in, built once with MinGW and put in the prefix's system32, that forwards to
# RtlGenRandom (advapi32's SystemFunction036), which Wine has.
stub="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -s "$stub" ] || [ "$(head -c 2 "$stub")" != MZ ] || ! cmp -s "$stub" "$WINE_DIR/bcryptprimitives.dll"; then
  cat >"$WINE_DIR/bcryptprimitives.c" <<'C'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n;
    length -= n;
  }
  return TRUE;
}
C
  x86_64-w64-mingw32-gcc -O2 -shared -o "$WINE_DIR/bcryptprimitives.dll" \
    "$WINE_DIR/bcryptprimitives.c" -ladvapi32 || exit 1
  cp -f "$WINE_DIR/bcryptprimitives.dll" "$stub" || exit 1
fi

export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE"
mkdir -p "$(dirname "$LOG")"
printf '\n== cargo test --target %s (under %s)\n' "$TARGET" "$("$WINE" --version)"
cargo test -Zbuild-std --target "$TARGET" --target-dir target/xcheck \
  --manifest-path crate/Cargo.toml "$@" >"$LOG" 2>&1
rc=$?
# What cargo and the tests said, without the progress lines of std's build.
grep -v -E '^ *(Compiling|Checking|Blocking|Fresh|Downloaded|Downloading|Updating|Locking|Adding) ' "$LOG" |
  grep -v -E '^test .* \.\.\. ok$'
printf '\n== wine-test: %s\n' "$([ $rc -eq 0 ] && echo passed || echo "FAILED (exit $rc)")"
grep -E '^test result: ' "$LOG"
exit $rc
