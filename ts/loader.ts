import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { debuglog } from 'node:util'
import { ABI, type Native } from './native.js'

const debug = debuglog('cachelink')

// Both dist/ and ts/ sit one level below the package root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function isMusl(): boolean {
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }
    return !report?.header?.glibcVersionRuntime
  }
}

/** What was detected, for the error: `platform linux, arch x64, libc glibc 2.36`. */
function detected(): string {
  const { platform, arch } = process
  let libc = ''
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }
    const glibc = report?.header?.glibcVersionRuntime
    libc = isMusl() ? ', libc musl' : `, libc glibc${glibc ? ` ${glibc}` : ''}`
  }
  return `platform ${platform}, arch ${arch}${libc}, Node ${process.version}`
}

/**
 * napi-rs's name for a platform (this one by default), as `@napi-rs/cli` names the platform
 * packages: `linux-x64-gnu`, `linux-arm-gnueabihf`, `android-arm64`, `android-arm-eabi`,
 * `freebsd-x64`, `darwin-arm64`, `win32-ia32-msvc`.
 */
export function platformTriple(
  platform: string = process.platform,
  arch: string = process.arch,
  musl: () => boolean = isMusl,
): string {
  if (platform === 'linux') {
    const libc = musl() ? 'musl' : 'gnu'
    // 32-bit ARM is hard-float EABI: armv7-unknown-linux-gnueabihf is linux-arm-gnueabihf.
    return arch === 'arm' ? `linux-arm-${libc}eabihf` : `linux-${arch}-${libc}`
  }
  if (platform === 'android' && arch === 'arm') return 'android-arm-eabi'
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

interface Attempt {
  from: string
  error: unknown
}

function check(candidate: unknown, from: string): Native {
  const n = candidate as Partial<Native>
  if (typeof n?.linkFileSync !== 'function') {
    throw new Error(`${from} is not a cachelink binary for this Node (no exports: needs Node-API 8)`)
  }
  if (n.ABI !== ABI) {
    throw new Error(`${from} speaks interface ${String(n.ABI)}, this package needs ${ABI}: rebuild or reinstall`)
  }
  return n as Native
}

/**
 * Loads the addon: `CACHELINK_NATIVE_PATH`, then a local build in the package folder, then the
 * platform package, then `prebuilds/` through node-gyp-build. Throws one error naming every
 * place tried, with its own failure.
 */
export function loadNative(): Native {
  const triple = platformTriple()
  const tried: Attempt[] = []
  const attempt = (from: string, load: () => unknown): Native | undefined => {
    try {
      const n = check(load(), from)
      debug('loaded the addon from %s', from)
      return n
    } catch (error) {
      tried.push({ from, error })
      return undefined
    }
  }
  const override = process.env.CACHELINK_NATIVE_PATH
  if (override) {
    const n = attempt(`CACHELINK_NATIVE_PATH=${override}`, () => require(override))
    if (n) return n
  }
  const local = join(root, `cachelink.${triple}.node`)
  if (existsSync(local)) {
    const n = attempt(local, () => require(local))
    if (n) return n
  } else {
    tried.push({ from: local, error: new Error('not found (no local build)') })
  }
  const pkg = `cachelink-${triple}`
  const fromPackage = attempt(`package ${pkg}`, () => require(pkg))
  if (fromPackage) return fromPackage
  const prebuilds = join(root, 'prebuilds')
  const fromPrebuilds = attempt(`node-gyp-build ${prebuilds}`, () => {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown
    return nodeGypBuild(root)
  })
  if (fromPrebuilds) return fromPrebuilds
  const lines = tried.map((t) => `  - ${t.from}: ${t.error instanceof Error ? t.error.message.split('\n')[0] : String(t.error)}`)
  throw new Error(
    [
      `cachelink: no native binary could be loaded for ${triple} (${detected()}).`,
      'Tried, in order:',
      ...lines,
      `The usual cause: npm skipped the optional dependency ${pkg} (npm/cli#4828, for example`,
      'a package-lock.json made on another OS). Fix it in one of two ways:',
      '  1. reinstall without the lockfile: remove node_modules and package-lock.json, then npm install;',
      `  2. or point CACHELINK_NATIVE_PATH at a cachelink .node file for ${triple}.`,
    ].join('\n'),
    { cause: tried.length ? tried[tried.length - 1].error : undefined },
  )
}
