// The loader's name for each platform must be the one @napi-rs/cli gives the platform package
// and the binary (cachelink.<name>.node) of every target cachelink ships: a wrong one means
// the binary is never found there.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseTriple } from '@napi-rs/cli'
import { describe, expect, it } from 'vitest'
import { platformTriple } from '../ts/loader.js'

const root = join(import.meta.dirname, '..')
const targets: string[] = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).napi.targets

describe('platformTriple', () => {
  it.each(targets)('%s: the name napi gives it, from the platform and arch Node reports there', (target) => {
    const t = parseTriple(target)
    // Node's process.platform and process.arch on that target (napi's own mapping of them).
    const musl = () => t.abi?.startsWith('musl') ?? false
    expect(platformTriple(t.platform, t.arch, musl)).toBe(t.platformArchABI)
  })

  it('names the 32-bit ARM and ia32 platforms as napi does', () => {
    const glibc = () => false
    expect(platformTriple('linux', 'arm', glibc)).toBe('linux-arm-gnueabihf')
    expect(platformTriple('linux', 'arm', () => true)).toBe('linux-arm-musleabihf')
    expect(platformTriple('android', 'arm', glibc)).toBe('android-arm-eabi')
    expect(platformTriple('android', 'arm64', glibc)).toBe('android-arm64')
    expect(platformTriple('win32', 'ia32', glibc)).toBe('win32-ia32-msvc')
    expect(platformTriple('freebsd', 'x64', glibc)).toBe('freebsd-x64')
  })

  it('every target has its platform package under npm/', () => {
    for (const target of targets) {
      const name = parseTriple(target).platformArchABI
      const pkg = JSON.parse(readFileSync(join(root, 'npm', name, 'package.json'), 'utf8'))
      expect(pkg.name).toBe(`cachelink-${name}`)
      expect(pkg.main).toBe(`cachelink.${name}.node`)
    }
  })
})
