/**
 * The package as users get it: `npm pack` of the main package (shaped as the release job
 * publishes it, with optionalDependencies) and of npm/linux-x64-gnu, installed into fresh
 * consumer folders offline and with no cargo on PATH; the "fat" tarball with prebuilds/; and
 * publint and arethetypeswrong on the packed tarball.
 *
 * Offline means nothing but tarballs: npm resolves a registry dependency from its packument,
 * which the checkout's `npm ci` (working from the lockfile) may never have fetched, so with an
 * empty npm cache even a pinned dependency fails with ENOTCACHED. The package's runtime
 * dependencies (package.json `dependencies`, now node-gyp-build alone) are therefore packed
 * from this checkout's node_modules, at the pinned version, and installed alongside.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { parseTriple } from '@napi-rs/cli'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { platformTriple } from '../ts/loader.js'

const root = join(import.meta.dirname, '..')
const version = JSON.parse(fs.readFileSync(join(root, 'package.json'), 'utf8')).version as string
/** This machine's platform package: linux-x64-gnu here, linux-arm64-musl in an Alpine container. */
const PLATFORM = platformTriple()
const [, ARCH, ABI] = PLATFORM.split('-')
const LIBC = ABI === 'musl' ? 'musl' : 'glibc'
const binary = join(root, `cachelink.${PLATFORM}.node`)

/** PATH without any directory that holds cargo: the consumer must not need Rust. */
const PATH = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((d) => d && !fs.existsSync(join(d, 'cargo')))
  .join(delimiter)
/**
 * npm with no network: everything it installs is a tarball given to it. No CACHELINK_BACKEND:
 * the consumer gets what users get, on the suite's JS pass too.
 */
const OFFLINE: NodeJS.ProcessEnv = { ...process.env, PATH, npm_config_offline: 'true' }
delete OFFLINE.CACHELINK_BACKEND
/** The package's runtime dependencies, `name -> version` (exact pins). */
const dependencies = JSON.parse(fs.readFileSync(join(root, 'package.json'), 'utf8')).dependencies as Record<string, string>

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** `npm pack` in `dir` without scripts; the tarball's path. */
function pack(dir: string, into: string): string {
  const out = sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', into], dir)
  return join(into, out.trim().split('\n').at(-1) ?? '')
}

describe.runIf(process.platform === 'linux')('the packed package, installed as users get it', () => {
  let work: string
  let main: string
  let platformPkg: string
  let fat: string
  /** The runtime dependencies, packed from this checkout's node_modules. */
  let deps: string[]

  beforeAll(() => {
    if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run npm run build first`)
    work = fs.mkdtempSync(join(tmpdir(), 'cachelink-pack-'))
    const packs = join(work, 'packs')
    fs.mkdirSync(packs)
    // The main package as the release job publishes it: this checkout packed, then
    // `sync-npm-versions --release` adds the platform packages as optionalDependencies.
    const stage = join(work, 'stage')
    fs.mkdirSync(stage)
    sh('tar', ['-xzf', pack(root, work), '-C', stage, '--strip-components=1'], work)
    fs.cpSync(join(root, 'npm'), join(stage, 'npm'), { recursive: true })
    sh(process.execPath, [join(root, 'scripts', 'sync-npm-versions.mjs'), '--release', '--root', stage], root)
    fs.rmSync(join(stage, 'npm'), { recursive: true })
    main = pack(stage, packs)
    // The platform package with this build's binary in it.
    const plat = join(work, PLATFORM)
    fs.cpSync(join(root, 'npm', PLATFORM), plat, { recursive: true })
    fs.copyFileSync(binary, join(plat, `cachelink.${PLATFORM}.node`))
    platformPkg = pack(plat, packs)
    // The fat package, from the same artifact.
    const artifacts = join(work, 'artifacts', `bindings-${PLATFORM}`)
    fs.mkdirSync(artifacts, { recursive: true })
    fs.copyFileSync(binary, join(artifacts, `cachelink.${PLATFORM}.node`))
    sh(process.execPath, [join(root, 'scripts', 'prebuilds.mjs'), join(work, 'artifacts'), '--pack', '--out', packs], root)
    fat = join(packs, `cachelink-${version}-prebuilds.tgz`)
    deps = Object.entries(dependencies).map(([name, pinned]) => {
      const dir = join(root, 'node_modules', name)
      const installed = JSON.parse(fs.readFileSync(join(dir, 'package.json'), 'utf8')).version
      if (installed !== pinned) throw new Error(`${name} ${installed} is installed, package.json pins ${pinned}: run npm ci`)
      return pack(dir, packs)
    })
  }, 120_000)
  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true })
  })

  /** A fresh project that installs `tarballs` and the dependencies, offline, with no cargo on PATH. */
  function consumer(name: string, tarballs: string[]): string {
    const dir = join(work, name)
    fs.mkdirSync(dir)
    fs.writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
    sh('npm', ['install', '--no-audit', '--no-fund', ...tarballs, ...deps], dir, OFFLINE)
    fs.writeFileSync(join(dir, 'cached.txt'), 'from the cache\n')
    return dir
  }

  const linkBoth = `
    const fs = require('node:fs')
    const cjs = require('cachelink')
    const r1 = cjs.linkFileSync('cached.txt', 'cjs.txt')
    import('cachelink').then(async (esm) => {
      const r2 = await esm.linkFile('cached.txt', 'esm.txt')
      console.log(JSON.stringify([r1.method, r2.method, fs.statSync('cached.txt').nlink]))
    })`

  it('contains only what users need', () => {
    const files = sh('tar', ['-tzf', main], work).trim().split('\n').map((f) => f.replace(/^package\//, '')).sort()
    expect(files).toEqual([
      'LICENSE',
      'README.md',
      'bin/cachelink.js',
      'dist/cli.THIRD-PARTY-LICENSES.txt',
      'dist/cli.js',
      'dist/index.cjs',
      'dist/index.d.cts',
      'dist/index.d.ts',
      'dist/index.js',
      'dist/pnpm.cjs',
      'dist/pnpm.d.cts',
      'dist/pnpm.d.ts',
      'dist/pnpm.js',
      'examples/demo/cache-src/LICENSE',
      'examples/demo/cache-src/README.md',
      'examples/demo/cache-src/bin/cli.js',
      'examples/demo/cache-src/index.js',
      'examples/demo/cache-src/lib/empty.js',
      'examples/demo/cache-src/lib/greet.js',
      'examples/demo/cache-src/package.json',
      'package.json',
    ])
    const platformFiles = sh('tar', ['-tzf', platformPkg], work).trim().split('\n').sort()
    expect(platformFiles).toEqual([
      'package/LICENSE',
      'package/README.md',
      `package/cachelink.${PLATFORM}.node`,
      'package/package.json',
    ])
    const released = JSON.parse(sh('tar', ['-xzOf', main, 'package/package.json'], work))
    // One platform package per target of package.json's napi.targets, under napi's name for it.
    const targets: string[] = JSON.parse(fs.readFileSync(join(root, 'package.json'), 'utf8')).napi.targets
    expect(Object.keys(released.optionalDependencies).sort()).toEqual(
      targets.map((t) => `cachelink-${parseTriple(t).platformArchABI}`).sort(),
    )
    expect(released.optionalDependencies[`cachelink-${PLATFORM}`]).toBe(version)
    // The CLI's commander and cli-progress are bundled into dist/cli.js, with their licenses;
    // the library needs only node-gyp-build (the loader's way to prebuilds/).
    expect(Object.keys(released.dependencies)).toEqual(['node-gyp-build'])
    const text = (f: string) => sh('tar', ['-xzOf', main, `package/${f}`], work)
    for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/cli.js']) {
      expect(text(f)).not.toMatch(/(from |require\()["'](commander|cli-progress)["']/)
    }
    const licenses = text('dist/cli.THIRD-PARTY-LICENSES.txt')
    expect(licenses).toMatch(/^commander@\S+ \(MIT\)$/m)
    expect(licenses).toMatch(/^cli-progress@\S+ \(MIT\)$/m)
  })

  it('passes publint and arethetypeswrong (node10, node16 CJS and ESM, bundler)', () => {
    const bin = (name: string) => join(root, 'node_modules', '.bin', name)
    const publint = spawnSync(bin('publint'), ['--strict', main], { encoding: 'utf8' })
    expect(publint.status, publint.stdout + publint.stderr).toBe(0)
    const attw = spawnSync(bin('attw'), [main, '--format', 'json'], { encoding: 'utf8' })
    expect(attw.status, attw.stdout + attw.stderr).toBe(0)
    const report = JSON.parse(attw.stdout)
    expect(Object.values(report.problems ?? {}).flat()).toEqual([])
    const kinds = Object.keys(report.analysis.entrypoints['.'].resolutions)
    expect(kinds.sort()).toEqual(['bundler', 'node10', 'node16-cjs', 'node16-esm'])
  })

  it('installs with its platform package offline and with no cargo: require and import both link a file', () => {
    expect(spawnSync('cargo', ['--version'], { env: OFFLINE }).error).toBeDefined()
    const dir = consumer('with-platform', [main, platformPkg])
    const installed = fs.readdirSync(join(dir, 'node_modules')).filter((f) => !f.startsWith('.'))
    expect(installed.sort()).toEqual(['cachelink', `cachelink-${PLATFORM}`, ...Object.keys(dependencies)].sort())
    const out = sh(process.execPath, ['-e', linkBoth], dir, { ...OFFLINE, NODE_DEBUG: 'cachelink' })
    expect(JSON.parse(out)).toEqual(['hardlink', 'hardlink', 3])
    const debug = spawnSync(process.execPath, ['-e', "require('cachelink').linkFileSync('cached.txt', 'x.txt')"], {
      cwd: dir,
      env: { ...OFFLINE, NODE_DEBUG: 'cachelink' },
      encoding: 'utf8',
    })
    expect(debug.stderr).toContain(`loaded the addon from package cachelink-${PLATFORM}`)
    expect(debug.stderr).toContain('backend native')
    expect(sh('npx', ['--no-install', 'cachelink', '--version'], dir, OFFLINE).trim()).toBe(version)
    // cachelink/pnpm, as a .pnpmfile.cjs requires it from the installed package.
    const pnpmfile = "const p = require('cachelink/pnpm'); console.log(typeof p.hooks.importPackage)"
    expect(sh(process.execPath, ['-e', pnpmfile], dir, OFFLINE).trim()).toBe('function')
  })

  it('without the platform package, links through the JS backend; CACHELINK_BACKEND=native fails with one error naming the platform, every place tried and the fixes', () => {
    const dir = consumer('without-platform', [main])
    expect(fs.existsSync(join(dir, 'node_modules', `cachelink-${PLATFORM}`))).toBe(false)
    // What a user gets: the JS backend, require and import alike, and it says why.
    const which = `const c = require('cachelink'); import('cachelink').then((e) => console.log(JSON.stringify([c.backend, e.backend])))`
    const js = spawnSync(process.execPath, ['-e', `${linkBoth}; ${which}`], { cwd: dir, env: { ...OFFLINE, NODE_DEBUG: 'cachelink' }, encoding: 'utf8' })
    expect(js.status, js.stderr).toBe(0)
    expect(js.stdout.trim().split('\n').map((l) => JSON.parse(l)).sort()).toEqual([['hardlink', 'hardlink', 3], ['js', 'js']].sort())
    expect(js.stderr.match(/backend js, no native binary: cachelink: no native binary could be loaded for /g)).toHaveLength(1)
    for (const f of ['cjs.txt', 'esm.txt']) expect(fs.statSync(join(dir, f)).ino).toBe(fs.statSync(join(dir, 'cached.txt')).ino)

    const NATIVE = { ...OFFLINE, CACHELINK_BACKEND: 'native' }
    const r = spawnSync(process.execPath, ['-e', "require('cachelink').linkFileSync('cached.txt', 'x.txt')"], {
      cwd: dir,
      env: NATIVE,
      encoding: 'utf8',
    })
    expect(r.status).toBe(1)
    const pkgDir = join(dir, 'node_modules', 'cachelink')
    for (const text of [
      'ERR_CACHELINK_NO_BINARY',
      `no native binary could be loaded for ${PLATFORM} (platform linux, arch ${ARCH}, libc ${LIBC}`,
      `- ${join(pkgDir, `cachelink.${PLATFORM}.node`)}: not found (no local build)`,
      `- package cachelink-${PLATFORM}: Cannot find module 'cachelink-${PLATFORM}'`,
      `- node-gyp-build ${join(pkgDir, 'prebuilds')}: No native build was found`,
      'npm/cli#4828',
      'remove node_modules and package-lock.json',
      'CACHELINK_NATIVE_PATH',
    ]) {
      expect(r.stderr).toContain(text)
    }
    expect(fs.existsSync(join(dir, 'x.txt'))).toBe(false)
    // A coded error, and one load attempt per process however many calls fail.
    const again = `const c = require('cachelink'); const codes = new Set()
      for (let i = 0; i < 200; i++) { try { c.linkFileSync('cached.txt', 'x.txt') } catch (e) { codes.add(e.code) } }
      c.linkFile('cached.txt', 'x.txt').catch((e) => console.log(JSON.stringify([...codes, e.code, c.backend])))`
    const many = spawnSync(process.execPath, ['-e', again], { cwd: dir, env: { ...NATIVE, NODE_DEBUG: 'cachelink' }, encoding: 'utf8' })
    expect(JSON.parse(many.stdout)).toEqual(['ERR_CACHELINK_NO_BINARY', 'ERR_CACHELINK_NO_BINARY', 'native'])
    expect(many.stderr.match(/no native binary \(CACHELINK_BACKEND=native, every call fails\): /g)).toHaveLength(1)
    expect(fs.existsSync(join(dir, 'x.txt'))).toBe(false)
  })

  it('the fat tarball alone loads through node-gyp-build from prebuilds/', () => {
    const dir = consumer('fat', [fat])
    const prebuilt = join(dir, 'node_modules', 'cachelink', 'prebuilds', `linux-${ARCH}`, `cachelink.napi.${LIBC}.node`)
    expect(fs.existsSync(prebuilt)).toBe(true)
    expect(fs.existsSync(join(dir, 'node_modules', `cachelink-${PLATFORM}`))).toBe(false)
    const r = spawnSync(process.execPath, ['-e', linkBoth], { cwd: dir, env: { ...OFFLINE, NODE_DEBUG: 'cachelink' }, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(['hardlink', 'hardlink', 3])
    expect(r.stderr).toContain(`loaded the addon from node-gyp-build ${join(dir, 'node_modules', 'cachelink', 'prebuilds')}`)
  })
})
