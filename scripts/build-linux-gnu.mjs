#!/usr/bin/env node
// The release build for Linux glibc: linked against glibc 2.17's sysroot, so the binary loads on
// any Linux with glibc 2.17 or newer (CentOS 7, Amazon Linux 2, Debian 8 and later), and checked
// for it.
//
//   node scripts/build-linux-gnu.mjs [--target x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu] [--out DIR]
//
// The GCC cross toolchains with that sysroot are napi-rs's, from the npm registry
// (@napi-rs/cross-toolchain-<host>-target-<arch>), fetched with `npm pack` into
// ~/.cache/cachelink/toolchains once. This does what `napi build --use-napi-cross` does; napi's
// own flag asks for toolchain versions that are not all published (cross-toolchain 1.0.5 wants
// x64-target-x86_64@1.0.5, which does not exist), so the versions are pinned here.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'x86_64-unknown-linux-gnu' },
    out: { type: 'string', default: root },
  },
})

/** The glibc the binary may need at most: the sysroot's. */
const FLOOR = [2, 17]
const ARCH = { 'x86_64-unknown-linux-gnu': 'x64', 'aarch64-unknown-linux-gnu': 'arm64' }[values.target]
/**
 * The published toolchain packages for an x64 host, per target (the arm64-host ones are not on
 * the registry): arm64 is cross-built (`rustup target add aarch64-unknown-linux-gnu` first).
 */
const TOOLCHAINS = {
  x64: '@napi-rs/cross-toolchain-x64-target-x86_64@1.0.0',
  arm64: '@napi-rs/cross-toolchain-x64-target-aarch64@1.0.3',
}
if (process.platform !== 'linux' || process.arch !== 'x64' || !ARCH) {
  console.error(`build-linux-gnu: needs a Linux x64 host and a --target of ${Object.keys(TOOLCHAINS)}`)
  process.exit(2)
}

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', ...opts })

// 1. The toolchain, fetched and unpacked once.
const spec = TOOLCHAINS[ARCH]
const toolchain = join(homedir(), '.cache', 'cachelink', 'toolchains', spec.replace('/', '+'))
const gcc = join(toolchain, 'bin', `${values.target}-gcc`)
if (!existsSync(gcc)) {
  const tmp = mkdtempSync(join(tmpdir(), 'cachelink-toolchain-'))
  console.log(`build-linux-gnu: fetching ${spec} from the npm registry`)
  const tgz = execFileSync('npm', ['pack', spec, '--pack-destination', tmp, '--silent'], { encoding: 'utf8' }).trim()
  run('tar', ['-xzf', join(tmp, tgz.split('\n').at(-1)), '-C', tmp])
  mkdirSync(toolchain, { recursive: true })
  run('tar', ['-xJf', join(tmp, 'package', `${values.target}.tar.xz`), '-C', toolchain])
  rmSync(tmp, { recursive: true, force: true })
}

// 2. The build, linked by the toolchain's gcc against its glibc 2.17 sysroot.
const linkerVar = `CARGO_TARGET_${values.target.toUpperCase().replaceAll('-', '_')}_LINKER`
run('cargo', ['build', '--release', '--manifest-path', join(root, 'crate', 'Cargo.toml'), '--target', values.target], {
  env: { ...process.env, [linkerVar]: gcc },
})
const built = join(root, 'target', values.target, 'release', 'libcachelink.so')
const out = join(values.out, `cachelink.linux-${ARCH}-gnu.node`)
mkdirSync(values.out, { recursive: true })
copyFileSync(built, out)

// 3. The check: no symbol from a glibc newer than the floor.
const symbols = execFileSync(join(toolchain, 'bin', `${values.target}-objdump`), ['-T', out], { encoding: 'utf8' })
const versions = [...new Set([...symbols.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => `${m[1]}.${m[2]}`))]
const newest = versions.map((v) => v.split('.').map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]).at(-1) ?? [0, 0]
if (newest[0] > FLOOR[0] || (newest[0] === FLOOR[0] && newest[1] > FLOOR[1])) {
  console.error(`build-linux-gnu: ${out} needs glibc ${newest.join('.')}, above the floor ${FLOOR.join('.')}`)
  process.exit(1)
}
console.log(`build-linux-gnu: ${out} (newest glibc symbol: ${newest.join('.')}; floor ${FLOOR.join('.')})`)
