// cachelink/pnpm: the hook on its own (called as pnpm 10 calls it, on the real filesystem of the
// temp dir), then inside real pnpm (the devDependency): __test__/fixtures/pnpm-project (229
// packages) installed --offline into many copies on nolinkfs.py with a real 8-link limit, against
// stock pnpm on the same store layout and limit (benchmark/pnpm-hook.mjs does the work and prints
// the README's table).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PnpmImportOptions, withOptions } from '../ts/pnpm.js'
import { expectFsError, leftovers, sandbox, skipWithoutFuse, snapshot } from './helpers.js'
// @ts-expect-error: a plain .mjs script, no types
import * as bench from '../benchmark/pnpm-hook.mjs'

const root = join(import.meta.dirname, '..')

/** A small store (files named by content, as pnpm's) and a filesMap for one package. */
function store(dir: string, files: Record<string, string>): Record<string, string> {
  const map: Record<string, string> = {}
  fs.mkdirSync(join(dir, 'store'), { recursive: true })
  let i = 0
  for (const [rel, text] of Object.entries(files)) {
    const src = join(dir, 'store', `f${i++}`)
    fs.writeFileSync(src, text)
    map[rel] = src
  }
  return map
}

const fromStore = (filesMap: Record<string, string>, o: Partial<PnpmImportOptions> = {}): PnpmImportOptions => ({
  filesMap,
  force: false,
  resolvedFrom: 'store',
  ...o,
})

const ino = (p: string) => fs.statSync(p).ino

describe('the importPackage hook, called as pnpm 10 calls it', () => {
  const importPackage = withOptions().hooks.importPackage!
  const pkg = { 'package.json': '{"name":"a","version":"1.0.0"}', 'index.js': 'module.exports = 1\n', 'lib/b.js': 'b\n' }

  it('hard links every file of a new package and returns the method', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    const to = join(dir, 'node_modules', 'a')
    expect(await importPackage(to, fromStore(map))).toBe('hardlink')
    for (const [rel, src] of Object.entries(map)) expect(ino(join(to, rel))).toBe(ino(src))
    expect(leftovers(dir)).toEqual([])
  })

  it('leaves a package already linked to the store as it is, and returns undefined (not forced, from the store)', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    const to = join(dir, 'a')
    await importPackage(to, fromStore(map))
    const before = snapshot(dir)
    expect(await importPackage(to, fromStore(map))).toBeUndefined()
    expect(snapshot(dir)).toEqual(before)
  })

  it('replaces an installed package that is not the store\'s files (not forced): stale files gone, its node_modules (pnpm\'s .bin) kept', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    const to = join(dir, 'a')
    await importPackage(to, fromStore(map))
    fs.mkdirSync(join(to, 'node_modules', '.bin'), { recursive: true })
    fs.writeFileSync(join(to, 'node_modules', '.bin', 'tool'), '#!/bin/sh\n')
    // Installed, and left alone with its .bin.
    const before = snapshot(dir)
    expect(await importPackage(to, fromStore(map))).toBeUndefined()
    expect(snapshot(dir)).toEqual(before)
    // Changed: replaced, the .bin carried over.
    fs.writeFileSync(join(to, 'old.js'), 'old\n')
    fs.rmSync(join(to, 'index.js'))
    fs.writeFileSync(join(to, 'index.js'), 'an edited copy\n')
    const binIno = ino(join(to, 'node_modules', '.bin', 'tool'))
    expect(await importPackage(to, fromStore(map))).toBe('hardlink')
    expect(fs.existsSync(join(to, 'old.js'))).toBe(false)
    expect(ino(join(to, 'index.js'))).toBe(ino(map['index.js']))
    expect(ino(join(to, 'node_modules', '.bin', 'tool'))).toBe(binIno)
    expect(leftovers(dir)).toEqual([])
  })

  it('forced (the hoisted linker), replaces the package and keeps its node_modules only with keepModulesDir', async () => {
    for (const keepModulesDir of [true, false]) {
      const dir = sandbox()
      const map = store(dir, pkg)
      const to = join(dir, 'a')
      fs.mkdirSync(join(to, 'node_modules', 'dep'), { recursive: true })
      fs.writeFileSync(join(to, 'old.js'), 'old\n')
      fs.writeFileSync(join(to, 'node_modules', 'dep', 'index.js'), 'dep\n')
      const depIno = ino(join(to, 'node_modules', 'dep', 'index.js'))
      expect(await importPackage(to, fromStore(map, { force: true, keepModulesDir }))).toBe('hardlink')
      expect(fs.existsSync(join(to, 'old.js'))).toBe(false)
      expect(ino(join(to, 'index.js'))).toBe(ino(map['index.js']))
      expect(fs.existsSync(join(to, 'node_modules'))).toBe(keepModulesDir)
      if (keepModulesDir) expect(ino(join(to, 'node_modules', 'dep', 'index.js'))).toBe(depIno)
      expect(leftovers(dir)).toEqual([])
    }
  })

  it('with force, imports again even when the package is linked already', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    const to = join(dir, 'a')
    await importPackage(to, fromStore(map))
    fs.writeFileSync(join(to, 'extra.js'), 'not in the package\n')
    expect(await importPackage(to, fromStore(map, { force: true }))).toBe('hardlink')
    expect(fs.existsSync(join(to, 'extra.js'))).toBe(false)
  })

  it('with safeToSkip, keeps a target that holds these files even when forced', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    const to = join(dir, 'a')
    await importPackage(to, fromStore(map))
    const before = snapshot(dir)
    expect(await importPackage(to, fromStore(map, { force: true, safeToSkip: true }))).toBeUndefined()
    expect(snapshot(dir)).toEqual(before)
  })

  it('from a local directory, imports again (pnpm relinks local-dir packages), unless disableRelinkLocalDirDeps and the target has files', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    const to = join(dir, 'a')
    await importPackage(to, fromStore(map))
    const o = fromStore(map, { resolvedFrom: 'local-dir' })
    expect(await importPackage(to, o)).toBe('hardlink')
    const before = snapshot(dir)
    expect(await importPackage(to, { ...o, disableRelinkLocalDirDeps: true })).toBeUndefined()
    expect(snapshot(dir)).toEqual(before)
  })

  it('never hard links a package with an install script (its build would write into the store)', async () => {
    const dir = sandbox()
    const map = store(dir, { ...pkg, 'package.json': '{"name":"a","scripts":{"postinstall":"node build.js"}}' })
    const to = join(dir, 'a')
    const method = await importPackage(to, fromStore(map))
    expect(['clone', 'copy']).toContain(method)
    for (const [rel, src] of Object.entries(map)) {
      expect(ino(join(to, rel))).not.toBe(ino(src))
      expect(fs.readFileSync(join(to, rel), 'utf8')).toBe(fs.readFileSync(src, 'utf8'))
    }
  })

  it('never hard links a package the project patches (pnpm patches in place): by its virtual store name, pnpm-workspace.yaml, package.json or the lockfile', async () => {
    const dir = sandbox()
    const map = store(dir, { ...pkg, 'package.json': '{"name":"@s/a","version":"1.0.0"}' })
    const own = async (to: string) => {
      await importPackage(to, fromStore(map))
      return Object.entries(map).every(([rel, src]) => ino(join(to, rel)) !== ino(src))
    }
    // The isolated linker names a patched package's directory with its patch's hash.
    expect(await own(join(dir, 'p0', 'node_modules', '.pnpm', '@s+a@1.0.0_patch_hash=0123abcd', 'node_modules', '@s', 'a'))).toBe(true)
    // The hoisted linker does not: the project's patchedDependencies say so.
    const configs: Array<[string, string]> = [
      ['pnpm-workspace.yaml', "packages: []\npatchedDependencies:\n  '@s/a@1.0.0': patches/a.patch\n"],
      ['package.json', JSON.stringify({ pnpm: { patchedDependencies: { '@s/a': 'patches/a.patch' } } })],
      ['pnpm-lock.yaml', "lockfileVersion: '9.0'\n\npatchedDependencies:\n  '@s/a@1.0.0':\n    hash: 0123\n    path: patches/a.patch\n"],
    ]
    for (const [i, [file, text]] of configs.entries()) {
      const project = join(dir, `p${i + 1}`)
      fs.mkdirSync(project)
      fs.writeFileSync(join(project, file), text)
      expect(await own(join(project, 'node_modules', '@s', 'a')), file).toBe(true)
    }
    // A project that patches something else: hard links.
    const other = join(dir, 'p9')
    fs.mkdirSync(other)
    fs.writeFileSync(join(other, 'pnpm-workspace.yaml'), 'patchedDependencies:\n  lodash@4.17.20: patches/l.patch\n')
    expect(await own(join(other, 'node_modules', '@s', 'a'))).toBe(false)
  })

  it('rejects with the fs error of a missing store file, and leaves no package behind', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    fs.rmSync(map['lib/b.js'])
    const to = join(dir, 'a')
    const err = await importPackage(to, fromStore(map)).catch((e) => e)
    expectFsError(err, 'ENOENT')
    expect(fs.existsSync(to)).toBe(false)
    expect(leftovers(dir)).toEqual([])
  })

  it('takes maxLinks from withOptions or CACHELINK_MAX_LINKS, and reports each import to onImport', async () => {
    const dir = sandbox()
    const map = store(dir, { 'package.json': '{}' })
    const seen: number[] = []
    const hook = withOptions({ maxLinks: 3, onImport: (_to, s) => seen.push(s.resets) }).hooks.importPackage!
    for (let i = 0; i < 4; i++) await hook(join(dir, `p${i}`), fromStore(map))
    expect(seen).toEqual([0, 0, 1, 0])
    process.env.CACHELINK_MAX_LINKS = '1'
    try {
      expect(() => withOptions()).toThrow(/^CACHELINK_MAX_LINKS=1: .*out of range/)
      expect(() => withOptions({ maxLinks: 5 })).toThrow(/CACHELINK_MAX_LINKS/) // a bad variable fails even when overridden
    } finally {
      delete process.env.CACHELINK_MAX_LINKS
    }
  })

  it('takes a method or a comma-separated list from CACHELINK_METHOD', async () => {
    const dir = sandbox()
    const map = store(dir, pkg)
    process.env.CACHELINK_METHOD = 'copy,hardlink'
    let hook
    try {
      hook = withOptions().hooks.importPackage!
      process.env.CACHELINK_METHOD = 'copy,linkit'
      expect(() => withOptions()).toThrow(/^CACHELINK_METHOD=copy,linkit: /)
    } finally {
      delete process.env.CACHELINK_METHOD
    }
    expect(await hook(join(dir, 'a'), fromStore(map))).toBe('copy')
    for (const [rel, src] of Object.entries(map)) expect(ino(join(dir, 'a', rel))).not.toBe(ino(src))
  })

  it('with CACHELINK_PNPM=off, is a pnpmfile without importPackage (pnpm imports by itself)', () => {
    process.env.CACHELINK_PNPM = 'off'
    try {
      expect(withOptions().hooks).toEqual({})
    } finally {
      delete process.env.CACHELINK_PNPM
    }
    expect(typeof withOptions().hooks.importPackage).toBe('function')
  })

  it('is a complete pnpmfile from CommonJS: require(\'cachelink/pnpm\') gives { hooks: { importPackage }, withOptions }', () => {
    const out = execFileSync(
      process.execPath,
      ['-e', "const p = require('cachelink/pnpm'); console.log(typeof p.hooks.importPackage, typeof p.withOptions({ maxLinks: 9 }).hooks.importPackage)"],
      { cwd: root, encoding: 'utf8' },
    )
    expect(out.trim()).toBe('function function')
  })
})

describe.skipIf(skipWithoutFuse())('real pnpm 10.34.9 with and without cachelink/pnpm, on nolinkfs.py with an 8-link limit', () => {
  const COPIES = 12
  const LIMIT = 8
  let r: any // eslint-disable-line @typescript-eslint/no-explicit-any
  beforeAll(async () => {
    r = await bench.run({ copies: COPIES, limit: LIMIT, log: (m: string) => console.log(m) })
    console.log(bench.table(r))
  }, 20 * 60_000)
  afterAll(() => {
    r?.done()
    if (r) fs.rmSync(r.base, { recursive: true, force: true })
  }, 5 * 60_000)

  it('stock pnpm silently copies at the limit; with the hook there are no copies, resets instead', () => {
    const { stock, cachelink } = r.sides
    // The same files installed on both sides.
    expect(cachelink.files).toBe(stock.files)
    expect(cachelink.installs[0].files).toBeGreaterThan(6000)
    // Stock: copies grow with every install, until every file of an install is a copy.
    expect(stock.copied).toBeGreaterThan(stock.files / 3)
    expect(stock.installs.at(-1).linked).toBe(0)
    expect(stock.resets).toBe(0)
    // cachelink: every non-empty package file is a hard link, in every install.
    expect(cachelink.copied).toBe(0)
    expect(cachelink.limitCopies).toBe(0) // its own stats agree: linkLimitCopies + readonlyCacheCopies
    expect(cachelink.resets).toBeGreaterThan(0)
    expect(cachelink.installs.every((x: { packages: number }) => x.packages === 229)).toBe(true)
    expect(cachelink.diskKiB).toBeLessThan(stock.diskKiB)
    // Neither fails nor warns, and the hook prints nothing into pnpm's output.
    for (const out of [...stock.outputs, ...cachelink.outputs]) expect(out).not.toMatch(/WARN|ERR_|cachelink/i)
    expect(leftovers(r.backing)).toEqual([])
  })

  it('the last installs run tsc, eslint and prettier, and require every top-level dependency', () => {
    for (let i = COPIES - 1; i <= COPIES; i++) {
      const dir = join(r.mnt, `cachelink-${i}`)
      const run = (bin: string) => execFileSync(join(dir, 'node_modules', '.bin', bin), ['--version'], { cwd: dir, encoding: 'utf8' }).trim()
      expect(run('tsc')).toBe('Version 5.9.3')
      expect(run('eslint')).toBe('v9.39.1')
      expect(run('prettier')).toBe('3.6.2')
      const deps = Object.keys({ ...JSON.parse(fs.readFileSync(join(dir, 'package.json'), 'utf8')).dependencies })
      const script = `for (const d of ${JSON.stringify([...deps, 'eslint', 'prettier', 'typescript', 'webpack'])}) require(d); console.log('ok')`
      expect(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' }).trim()).toBe('ok')
    }
  })

  it('a re-install after a version change replaces the package directories (hoisted linker): old files gone, new ones there, nested node_modules kept', () => {
    const dir = join(r.mnt, 'hoisted')
    const npmrc = { '.npmrc': 'node-linker=hoisted\n' }
    const storeDir = join(r.mnt, 'store-cachelink')
    const stats = join(r.base, 'stats-hoisted.jsonl')
    const install = () =>
      r.sb.pnpm(['install', '--offline', '--frozen-lockfile'], dir, { storeDir, env: { CACHELINK_STATS_FILE: stats } })
    bench.writeProject(dir, bench.PROJECT, 'cachelink', npmrc)
    install()
    const react = join(dir, 'node_modules', 'react')
    const version = (name: string) => JSON.parse(fs.readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version
    expect([version('react'), version('lodash'), version('express')]).toEqual(['18.3.1', '4.17.20', '4.21.2'])
    expect(fs.existsSync(join(react, 'umd', 'react.production.min.js'))).toBe(true)
    // Packages with a node_modules of their own (hoisting conflicts), to be kept over a replace.
    const nested = fs.readdirSync(join(dir, 'node_modules')).filter((n) => fs.existsSync(join(dir, 'node_modules', n, 'node_modules')))
    fs.rmSync(stats, { force: true })

    bench.writeProject(dir, bench.PROJECT_NEXT, 'cachelink', npmrc)
    const out = install().out
    expect(out).not.toMatch(/WARN|cachelink/i)
    expect([version('react'), version('lodash'), version('express')]).toEqual(['19.2.0', '4.17.21', '4.22.1'])
    expect(fs.existsSync(join(react, 'umd'))).toBe(false)
    expect(fs.existsSync(join(react, 'cjs', 'react.production.min.js'))).toBe(false)
    expect(fs.existsSync(join(react, 'cjs', 'react.production.js'))).toBe(true)
    const replaced = bench.readStats(stats).map((s: { to: string }) => s.to)
    expect(replaced).toEqual(expect.arrayContaining([react, join(dir, 'node_modules', 'lodash'), join(dir, 'node_modules', 'express')]))
    // keepModulesDir: a replaced package's node_modules is carried over (pnpm then prunes what it no longer needs).
    const replacedNested = nested.filter((n) => replaced.includes(join(dir, 'node_modules', n)))
    expect(replacedNested.length).toBeGreaterThan(0)
    for (const n of nested) expect(fs.existsSync(join(dir, 'node_modules', n, 'node_modules'))).toBe(true)
    const script = "for (const d of ['react', 'lodash', 'express', 'eslint', 'webpack']) require(d); console.log(require('react').version)"
    expect(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' }).trim()).toBe('19.2.0')
    expect(leftovers(join(r.backing, 'hoisted'))).toEqual([])
  })

  it('pnpm records the pnpmfile in the lockfile: a frozen install fails with ERR_PNPM_LOCKFILE_CONFIG_MISMATCH when the pnpmfile is added or removed; CACHELINK_PNPM=off keeps it and turns the hook off', () => {
    const dir = join(r.base, 'checksum')
    const args = ['install', '--offline', '--frozen-lockfile']
    const mismatch = (what: string) => {
      const failed = r.sb.pnpm(args, dir, { storeDir: r.seed, check: false })
      expect(failed.status, what).not.toBe(0)
      expect(failed.out, what).toMatch(/ERR_PNPM_LOCKFILE_CONFIG_MISMATCH.*"pnpmfileChecksum"/)
    }
    // A lockfile made without the pnpmfile (the committed one less its pnpmfileChecksum line), then the pnpmfile added.
    bench.writeProject(dir, bench.PROJECT, 'stock')
    fs.copyFileSync(join(bench.PROJECT, '.pnpmfile.cjs'), join(dir, '.pnpmfile.cjs'))
    mismatch('pnpmfile added')
    // The lockfile made with the pnpmfile, and the pnpmfile removed.
    bench.writeProject(dir, bench.PROJECT, 'cachelink')
    fs.rmSync(join(dir, '.pnpmfile.cjs'))
    mismatch('pnpmfile removed')
    // Both, with CACHELINK_PNPM=off: the checksum matches and pnpm imports by itself.
    bench.writeProject(dir, bench.PROJECT, 'cachelink')
    const stats = join(r.base, 'stats-off.jsonl')
    r.sb.pnpm(args, dir, { storeDir: r.seed, env: { CACHELINK_PNPM: 'off', CACHELINK_STATS_FILE: stats } })
    expect(fs.existsSync(stats)).toBe(false)
    expect(bench.countFiles(dir).linked).toBeGreaterThan(6000)
    // And on: every package through the hook.
    fs.rmSync(join(dir, 'node_modules'), { recursive: true })
    r.sb.pnpm(args, dir, { storeDir: r.seed, env: { CACHELINK_STATS_FILE: stats } })
    expect(bench.readStats(stats)).toHaveLength(229)
  })

  it('a patched dependency gets files of its own, isolated or hoisted: pnpm patches them in place after the import, and the store stays as it was', () => {
    for (const linker of ['isolated', 'hoisted']) {
      const dir = join(r.base, `patched-${linker}`)
      fs.cpSync(join(import.meta.dirname, 'fixtures', 'pnpm-patched'), dir, { recursive: true })
      if (linker === 'hoisted') fs.writeFileSync(join(dir, '.npmrc'), 'node-linker=hoisted\n')
      r.sb.pnpm(['install', '--offline', '--frozen-lockfile'], dir, { storeDir: r.seed })
      const add = fs.realpathSync(join(dir, 'node_modules', 'lodash', 'add.js'))
      expect(fs.readFileSync(add, 'utf8'), linker).toMatch(/\/\/ patched\n?$/)
      expect(fs.statSync(add).nlink, linker).toBe(1)
    }
    // Each store file is named by the SHA-512 of its content: the patch went into none of them.
    const files = join(r.seed, 'v10', 'files')
    const changed = fs
      .readdirSync(files)
      .flatMap((d) => fs.readdirSync(join(files, d)).map((f) => join(files, d, f)))
      .filter((f) => !f.endsWith('-index.json') && fs.readFileSync(f, 'utf8').includes('// patched'))
      .filter((f) => createHash('sha512').update(fs.readFileSync(f)).digest('hex') !== f.slice(files.length + 1).replace('/', '').replace(/-exec$/, ''))
    expect(changed).toEqual([])
  })
})
