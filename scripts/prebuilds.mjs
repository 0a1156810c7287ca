#!/usr/bin/env node
// The "fat" package: every platform's binary in prebuilds/<platform>-<arch>/, which the loader
// reaches through node-gyp-build when the platform package is missing (a mirror that only
// carries the main package, a lockfile made on another OS, npm/cli#4828).
//
//   node scripts/prebuilds.mjs <dir> [--pack] [--out DIR]
//
// <dir> is searched for the release artifacts, `cachelink.<platform>.node` (the names
// `napi build --platform` gives: linux-x64-gnu, darwin-arm64, win32-x64-msvc, ...). Each is
// copied to the name node-gyp-build looks for: prebuilds/linux-x64/cachelink.napi.glibc.node,
// prebuilds/linux-x64/cachelink.napi.musl.node, prebuilds/darwin-arm64/cachelink.napi.node, ...
// (node-gyp-build tells musl by /etc/alpine-release, or LIBC=musl).
//
// With --pack: `npm pack` of the package with them, saved as cachelink-<version>-prebuilds.tgz
// in --out (default: the package folder), and prebuilds/ removed again, so that a later
// `npm publish` of the main package stays slim.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { pack: { type: 'boolean', default: false }, out: { type: 'string' } },
})
if (positionals.length !== 1) {
  console.error('usage: node scripts/prebuilds.mjs <dir> [--pack] [--out DIR]')
  process.exit(2)
}

/** napi's platform name for a Rust target triple, as in package.json's napi.targets. */
const { parseTriple } = await import('@napi-rs/cli')
const platformName = (triple) => parseTriple(triple).platformArchABI

/** Where node-gyp-build finds a platform's binary. */
function prebuildPath(platform) {
  const [os, cpu, abi] = platform.split('-')
  const libc = { gnu: '.glibc', gnueabihf: '.glibc', musl: '.musl', musleabihf: '.musl' }[abi] ?? ''
  return join('prebuilds', `${os}-${cpu}`, `cachelink.napi${libc}.node`)
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const platforms = pkg.napi.targets.map(platformName)

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.node') ? [join(dir, e.name)] : [],
  )
}

const from = resolve(positionals[0])
if (!existsSync(from)) {
  console.error(`prebuilds: ${from} does not exist`)
  process.exit(1)
}
const found = new Map()
for (const file of find(from)) {
  const platform = /^cachelink\.(.+)\.node$/.exec(file.split(/[\\/]/).at(-1))?.[1]
  if (platform && platforms.includes(platform)) found.set(platform, file)
}
if (found.size === 0) {
  console.error(`prebuilds: no cachelink.<platform>.node under ${positionals[0]}`)
  process.exit(1)
}

rmSync(join(root, 'prebuilds'), { recursive: true, force: true })
for (const [platform, file] of found) {
  const to = join(root, prebuildPath(platform))
  mkdirSync(dirname(to), { recursive: true })
  copyFileSync(file, to)
  console.log(`prebuilds: ${platform} -> ${prebuildPath(platform).split('\\').join('/')}`)
}
const missing = platforms.filter((p) => !found.has(p))
if (missing.length) console.log(`prebuilds: missing ${missing.join(', ')}`)

if (values.pack) {
  const out = resolve(values.out ?? root)
  mkdirSync(out, { recursive: true })
  // Packed in a folder of its own: `out` may already hold the slim cachelink-<version>.tgz.
  const tmp = mkdtempSync(join(tmpdir(), 'cachelink-prebuilds-'))
  try {
    // --ignore-scripts: pack what is built; `prepare` would rebuild the native part for this host.
    const made = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp], {
      cwd: root,
      encoding: 'utf8',
    })
    const tgz = made.trim().split('\n').at(-1)
    const fat = join(out, `${pkg.name}-${pkg.version}-prebuilds.tgz`)
    copyFileSync(join(tmp, tgz), fat)
    console.log(`prebuilds: ${fat} (${found.size} of ${platforms.length} platforms)`)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
    rmSync(join(root, 'prebuilds'), { recursive: true, force: true })
  }
}
