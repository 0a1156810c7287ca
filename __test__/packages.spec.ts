// importPackages: a whole install in one call, from pnpm's package index (path → { integrity,
// mode, size }) and a store laid out as pnpm 10's, on real filesystems.
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importPackages, importPackagesSync, type PackageImport, type PnpmFileInfo } from '../ts/index.js'
import { expectFsError, leftovers, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

interface Pkg {
  name: string
  files: Record<string, { bytes: string; exec?: boolean }>
}

const PKGS: Pkg[] = [
  { name: 'a', files: { 'package.json': { bytes: '{"name":"a"}' }, 'lib/index.js': { bytes: 'module.exports = 1\n' }, LICENSE: { bytes: 'MIT\n' } } },
  { name: '@s/b', files: { 'package.json': { bytes: '{"name":"@s/b"}' }, 'bin/cli.js': { bytes: '#!/usr/bin/env node\n', exec: true }, LICENSE: { bytes: 'MIT\n' }, 'empty.txt': { bytes: '' } } },
  ...Array.from({ length: 12 }, (_, i) => ({
    name: `c${i}`,
    files: Object.fromEntries(Array.from({ length: 40 }, (_, j) => [`d${j % 5}/f${j}.js`, { bytes: `c${i} ${j}\n`.repeat(j + 1) }])),
  })),
]

/** pnpm 10's store under `root` (`v10/files/<2 hex>/<126 hex>[-exec]`) and the packages' indexes. */
function makeStore(root: string): { store: string; indexes: Map<string, Record<string, PnpmFileInfo>> } {
  const store = join(root, 'store')
  const indexes = new Map<string, Record<string, PnpmFileInfo>>()
  for (const pkg of PKGS) {
    const index: Record<string, PnpmFileInfo> = {}
    for (const [rel, f] of Object.entries(pkg.files)) {
      const digest = createHash('sha512').update(f.bytes).digest()
      const hex = digest.toString('hex')
      const path = join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2) + (f.exec ? '-exec' : ''))
      fs.mkdirSync(join(path, '..'), { recursive: true })
      if (!fs.existsSync(path)) fs.writeFileSync(path, f.bytes, { mode: f.exec ? 0o755 : 0o644 })
      index[rel] = { integrity: `sha512-${digest.toString('base64')}`, mode: f.exec ? 0o755 : 0o644, size: f.bytes.length, checkedAt: 1 }
    }
    indexes.set(pkg.name, index)
  }
  return { store, indexes }
}

const intoOf = (tree: string, name: string) => join(tree, 'node_modules', '.pnpm', `${name.replace('/', '+')}@1.0.0`, 'node_modules', name)

function install(tree: string, indexes: Map<string, Record<string, PnpmFileInfo>>): PackageImport[] {
  return [...indexes].map(([name, files]) => ({ into: intoOf(tree, name), files }))
}

/** Every package is there, each file with its bytes; returns the inodes by store path. */
function expectInstalled(tree: string, store: string, indexes: Map<string, Record<string, PnpmFileInfo>>, method: 'hardlink' | 'copy') {
  for (const pkg of PKGS) {
    const into = intoOf(tree, pkg.name)
    const files = fs.readdirSync(into, { recursive: true }).map(String).filter((p) => fs.statSync(join(into, p)).isFile())
    expect(files.sort()).toEqual(Object.keys(pkg.files).sort())
    for (const [rel, f] of Object.entries(pkg.files)) {
      const dest = join(into, rel)
      expect(fs.readFileSync(dest, 'utf8')).toBe(f.bytes)
      const st = fs.statSync(dest)
      expect((st.mode & 0o111) !== 0).toBe(f.exec === true)
      const hex = Buffer.from(indexes.get(pkg.name)![rel].integrity!.slice(7), 'base64').toString('hex')
      const src = fs.statSync(join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2) + (f.exec ? '-exec' : '')))
      // Empty files are created, never linked (the most linked content of any store).
      const linked = method === 'hardlink' && f.bytes.length > 0
      expect(st.ino === src.ino).toBe(linked)
    }
  }
}

const FILES = PKGS.reduce((n, p) => n + Object.keys(p.files).length, 0)

for (const kind of ['tmpfs', 'ext4', 'btrfs'] as const) {
  describe.skipIf(skipWithout(kind))(`importPackages on ${kind}`, () => {
    let fsys: Mounted
    let store: string
    let indexes: Map<string, Record<string, PnpmFileInfo>>
    beforeAll(() => {
      fsys = mount(kind)
      ;({ store, indexes } = makeStore(fsys.dir))
    })
    afterAll(() => fsys?.unmount())

    it('hard-links every package of an install from pnpm index objects in one call, progress counting every file', async () => {
      const tree = sandbox(fsys.dir)
      const seen: Array<{ done: number; total: number }> = []
      const stats = await importPackages(install(tree, indexes), { store, onProgress: (p) => seen.push(p) })
      expect(stats.packages).toBe(PKGS.length)
      expect(stats.files).toBe(FILES)
      expect(stats.hardlinked).toBe(FILES - 1)
      expect(stats.emptyCreated).toBe(1)
      expect(stats.method).toBe('hardlink')
      expect(seen.at(-1)).toEqual({ done: FILES, total: FILES })
      expectInstalled(tree, store, indexes, 'hardlink')
      expect(leftovers(tree)).toEqual([])
    })

    it('copies with the index mode: the -exec store file, executable in place (the sync twin, store given as v10)', () => {
      const tree = sandbox(fsys.dir)
      const stats = importPackagesSync(install(tree, indexes), { store: join(store, 'v10'), method: 'copy' })
      expect(stats.copied + stats.emptyCreated).toBe(FILES)
      expectInstalled(tree, store, indexes, 'copy')
    })

    // Only btrfs here clones (defined there only: a skip under CI is a failure).
    if (kind === 'btrfs') it('clones every file (the first of each package carefully, the rest from the open store)', async () => {
      const tree = sandbox(fsys.dir)
      const stats = await importPackages(install(tree, indexes), { store, method: 'clone' })
      expect(stats.cloned + stats.emptyCreated).toBe(FILES)
      expect(stats.copied).toBe(0)
      expect(stats.method).toBe('clone')
      expectInstalled(tree, store, indexes, 'copy')
      expect(leftovers(tree)).toEqual([])
    })

    it('hard-links every file but a mutable one, whatever comes first', async () => {
      const tree = sandbox(fsys.dir)
      const [pkg] = install(tree, indexes).filter((p) => String(p.into).endsWith('c2'))
      const entries = Object.entries(pkg.files as Record<string, PnpmFileInfo>).map(([rel, f], i) => {
        const hex = Buffer.from(f.integrity!.slice(7), 'base64').toString('hex')
        return { path: rel, src: join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2)), size: f.size, mutable: i === 0 }
      })
      const stats = await importPackages([{ into: pkg.into, files: entries }], { store, method: 'hardlink' })
      expect(stats.copied).toBe(1)
      expect(stats.hardlinked).toBe(entries.length - 1)
      for (const [i, e] of entries.entries()) {
        expect(fs.statSync(join(String(pkg.into), e.path)).ino === fs.statSync(e.src).ino).toBe(i !== 0)
      }
    })

    it('takes hex digests, Maps, and importFiles entries in the same install', async () => {
      const tree = sandbox(fsys.dir)
      const [first, second, ...rest] = install(tree, indexes)
      const asHex = new Map(
        Object.entries(first.files as Record<string, PnpmFileInfo>).map(([rel, f]) => [
          rel,
          { digest: Buffer.from(f.integrity!.slice(7), 'base64').toString('hex'), mode: f.mode },
        ]),
      )
      const asEntries = Object.entries(second.files as Record<string, PnpmFileInfo>).map(([rel, f]) => {
        const hex = Buffer.from(f.integrity!.slice(7), 'base64').toString('hex')
        const exec = (f.mode & 0o111) !== 0
        return { path: rel, src: join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2) + (exec ? '-exec' : '')), executable: exec }
      })
      const stats = await importPackages([{ into: first.into, files: asHex }, { into: second.into, files: asEntries }, ...rest], { store })
      expect(stats.packages).toBe(PKGS.length)
      expectInstalled(tree, store, indexes, 'hardlink')
    })

    it('refuses a bad digest or an unsafe path in the last package before anything is written', async () => {
      for (const bad of [
        { 'x.js': { integrity: 'sha512-not base64!', mode: 0o644 } },
        { 'x.js': { integrity: 'md5-AAAA', mode: 0o644 } },
        { '../escape.js': { integrity: indexes.get('a')!['LICENSE'].integrity, mode: 0o644 } },
      ] as Array<Record<string, PnpmFileInfo>>) {
        const tree = sandbox(fsys.dir)
        const err = await importPackages([...install(tree, indexes), { into: intoOf(tree, 'last'), files: bad }], { store }).catch((e) => e)
        const code = Object.keys(bad)[0].startsWith('..') ? 'ERR_CACHELINK_UNSAFE_PATH' : 'ERR_CACHELINK_BAD_DIGEST'
        expect(err.code).toBe(code)
        expect(err.entry).toBe(Object.keys(bad)[0])
        expect(err.message).toContain(code === 'ERR_CACHELINK_BAD_DIGEST' ? 'neither SRI' : "climbs out with '..'")
        expect(fs.readdirSync(tree)).toEqual([])
      }
    })

    it('checks the index in JavaScript with Node-style argument errors, writing nothing', async () => {
      const tree = sandbox(fsys.dir)
      const pkgs = install(tree, indexes)
      const err = await importPackages([...pkgs, { into: intoOf(tree, 'z'), files: { 'a.js': { integrity: 'sha512-AA==', mode: '644' as unknown as number } } }], { store }).catch((e) => e)
      expect(err.code).toBe('ERR_INVALID_ARG_TYPE')
      expect(err.message).toContain(`packages[${pkgs.length}].files["a.js"].mode`)
      const noStore = await importPackages(pkgs, {}).catch((e) => e)
      expect(noStore.code).toBe('ERR_INVALID_ARG_VALUE')
      expect(noStore.message).toContain('options.store')
      const notAStore = await importPackages(pkgs, { store: tree }).catch((e) => e)
      expect(notAStore.code).toBe('ERR_INVALID_ARG_VALUE')
      expect(fs.readdirSync(tree)).toEqual([])
    })

    it('fails with ENOENT naming the missing store file, and puts no package in place', async () => {
      const tree = sandbox(fsys.dir)
      const missing = `sha512-${createHash('sha512').update('not in the store').digest('base64')}`
      const pkgs = install(tree, indexes)
      pkgs.splice(7, 0, { into: intoOf(tree, 'broken'), files: { 'index.js': { integrity: missing, mode: 0o644, size: 3 } } })
      const err = await importPackages(pkgs, { store }).catch((e) => e)
      const hex = createHash('sha512').update('not in the store').digest('hex')
      expectFsError(err, 'ENOENT', { path: join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2)) })
      // Every stage removed, and every folder the install made above them.
      expect(fs.readdirSync(tree)).toEqual([])
    })

    it('stops on abort: AbortError, and puts no package in place', async () => {
      const tree = sandbox(fsys.dir)
      const ac = new AbortController()
      const big = Array.from({ length: 60 }, (_, i) => ({ into: intoOf(tree, `big${i}`), files: indexes.get('c3')! }))
      const err = await importPackages(big, {
        store,
        signal: ac.signal,
        onProgress: ({ done }) => {
          if (done > 0) ac.abort()
        },
      }).catch((e) => e)
      if (err?.name !== 'AbortError') {
        // The whole install finished before the first progress report: nothing to stop.
        expect(err.packages).toBe(60)
        return
      }
      expect(err.name).toBe('AbortError')
      expect(fs.readdirSync(tree)).toEqual([])
    })

    it('puts nothing in place when onProgress throws at the end', async () => {
      const tree = sandbox(fsys.dir)
      const err = await importPackages(install(tree, indexes), {
        store,
        onProgress: ({ done, total }) => {
          if (done === total) throw new Error('no thanks')
        },
      }).catch((e) => e)
      expect(err.message).toBe('no thanks')
      expect(fs.readdirSync(tree)).toEqual([])
    })

    it.skipIf(process.platform === 'win32')('a FIFO in the store: refused (EINVAL) as a package\'s first file and as a later one (the fast path looks too)', async () => {
      const tree = sandbox(fsys.dir)
      const digest = createHash('sha512').update('a fifo').digest()
      const hex = digest.toString('hex')
      const fifo = join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2))
      fs.mkdirSync(join(fifo, '..'), { recursive: true })
      execFileSync('mkfifo', [fifo])
      const info = { integrity: `sha512-${digest.toString('base64')}`, mode: 0o644, size: 6 }
      try {
        const err = await importPackages([{ into: intoOf(tree, 'f'), files: { fifo: info } }], { store }).catch((e) => e)
        expectFsError(err, 'EINVAL', { path: fifo })
        expect(fs.readdirSync(tree)).toEqual([])
        // After a file linked the careful way, the fast path looks at each store file too
        // (one fstatat from its bucket; README, "The store's trust model").
        const files = { ...indexes.get('c1')!, 'zz/fifo': info }
        const out = await importPackages([{ into: intoOf(tree, 'g'), files }], { store }).catch((e) => e)
        expectFsError(out, 'EINVAL', { path: fifo })
        expect(out.entry).toBe('zz/fifo')
        expect(fs.readdirSync(tree)).toEqual([])
      } finally {
        fs.rmSync(fifo)
      }
    })
  })
}

describe('importPackages: an empty install', () => {
  it('does nothing and says so', async () => {
    const stats = await importPackages([], {})
    expect(stats.packages).toBe(0)
    expect(stats.files).toBe(0)
  })
})
