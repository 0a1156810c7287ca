// An `into` that is, or holds, a source of the import (the store, an entry's `src`, importTree's
// `src`) is refused before anything is written: `onExisting: 'replace'` would otherwise trade
// the sources for the new tree and delete them (issue 19, point 3). On real filesystems.
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importFiles, importFilesSync, importPackages, importPackagesSync, importTree, importTreeSync, type PnpmFileInfo } from '../ts/index.js'
import { catchSync, leftovers, mount, type Mounted, sandbox, skipWithout, snapshot } from './helpers.js'

/** A pnpm 10 store under `root` with one package's files, and its index. */
function makeStore(root: string, store = join(root, 'store')) {
  const index: Record<string, PnpmFileInfo> = {}
  const srcs: Record<string, string> = {}
  for (let i = 0; i < 30; i++) {
    const bytes = `file ${i}\n`.repeat(i + 1)
    const digest = createHash('sha512').update(bytes).digest()
    const hex = digest.toString('hex')
    const path = join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2))
    fs.mkdirSync(join(path, '..'), { recursive: true })
    fs.writeFileSync(path, bytes)
    index[`lib/f${i}.js`] = { integrity: `sha512-${digest.toString('base64')}`, mode: 0o644, size: bytes.length }
    srcs[`lib/f${i}.js`] = path
  }
  return { store, index, srcs }
}

/** cachelink's own error for an `into` that holds (or is) a source. */
function expectIntoSource(err: unknown, dest: string, path?: (p: string) => boolean) {
  expect(err).toBeInstanceOf(Error)
  const e = err as NodeJS.ErrnoException & { dest?: string }
  expect(e.code).toBe('ERR_CACHELINK_INTO_SOURCE')
  expect(e.errno).toBeUndefined()
  expect(e.syscall).toBe('import')
  expect(e.dest).toBe(dest)
  if (path) expect(path(e.path!)).toBe(true)
  expect(e.message).toBe(`ERR_CACHELINK_INTO_SOURCE: ${e.message.slice(27).split(', import ')[0]}, import '${e.path}' -> '${dest}'`)
}

for (const kind of ['tmpfs', 'ext4'] as const) {
  describe.skipIf(skipWithout(kind))(`an into that holds a source, on ${kind}`, () => {
    let fsys: Mounted
    beforeAll(() => {
      fsys = mount(kind)
    })
    afterAll(() => fsys?.unmount())

    for (const onExisting of ['replace', 'skip-if-linked', 'merge'] as const) {
      it(`importPackages into the store itself is refused (onExisting: '${onExisting}'), the store intact`, async () => {
        const dir = sandbox(fsys.dir)
        const { store, index } = makeStore(dir)
        const before = snapshot(dir)
        for (const into of [store, join(store, 'v10'), `${store}/./`]) {
          const err = await importPackages([{ into, files: index }], { store, onExisting }).catch((e) => e)
          expectIntoSource(err, into, (p) => p.startsWith(join(store, 'v10', 'files')))
          expect(snapshot(dir)).toEqual(before)
          expectIntoSource(catchSync(() => importPackagesSync([{ into, files: index }], { store, onExisting })), into)
          expect(snapshot(dir)).toEqual(before)
        }
      })
    }

    it('importPackages into a folder holding the store (project/.pnpm-store) is refused, also for a later package', async () => {
      const project = sandbox(fsys.dir)
      const { store, index } = makeStore(project, join(project, '.pnpm-store'))
      fs.writeFileSync(join(project, 'package.json'), '{}')
      const before = snapshot(project)
      const packages = [
        { into: join(project, 'node_modules', 'a'), files: index },
        { into: project, files: index },
      ]
      const err = await importPackages(packages, { store, onExisting: 'replace' }).catch((e) => e)
      expectIntoSource(err, project, (p) => p.startsWith(store))
      expect(snapshot(project)).toEqual(before)
      // A bucket of the store is a folder of sources too.
      const bucket = join(store, 'v10', 'files', fs.readdirSync(join(store, 'v10', 'files'))[0])
      const err2 = await importPackages([{ into: bucket, files: index }], { store, onExisting: 'replace' }).catch((e) => e)
      expectIntoSource(err2, bucket, (p) => p.startsWith(bucket))
      expect(snapshot(project)).toEqual(before)
    })

    it('importPackages with path entries into the folder holding them is refused', async () => {
      const dir = sandbox(fsys.dir)
      const { srcs } = makeStore(dir)
      const before = snapshot(dir)
      const err = await importPackages([{ into: dir, files: srcs }], { onExisting: 'replace' }).catch((e) => e)
      expectIntoSource(err, dir, (p) => Object.values(srcs).includes(p))
      expect(snapshot(dir)).toEqual(before)
    })

    it('importFiles into the folder holding its srcs is refused, by any spelling and through symlinks', async () => {
      const dir = sandbox(fsys.dir)
      const { store, srcs } = makeStore(dir)
      fs.symlinkSync(store, join(dir, 'link'))
      const viaLink = Object.fromEntries(Object.entries(srcs).map(([k, v]) => [k, join(dir, 'link', v.slice(store.length))]))
      const before = snapshot(dir)
      for (const [into, entries] of [
        [store, srcs],
        [dir, srcs],
        [join(store, 'v10', 'files'), srcs],
        [join(dir, 'link'), srcs], // into through a symlink
        [store, viaLink], // the srcs through a symlink
        [`${store}/v10/../`, srcs],
      ] as const) {
        const err = await importFiles(entries, { into, onExisting: 'replace' }).catch((e) => e)
        expectIntoSource(err, into, (p) => Object.values(entries).includes(p))
        expect(snapshot(dir)).toEqual(before)
        expectIntoSource(catchSync(() => importFilesSync(entries, { into, onExisting: 'replace' })), into)
        expect(snapshot(dir)).toEqual(before)
      }
      // An entry's src as the into itself (a file).
      const one = Object.values(srcs)[0]
      const err = await importFiles([{ path: 'x', src: one }], { into: one, onExisting: 'replace' }).catch((e) => e)
      expectIntoSource(err, one, (p) => p === one)
      expect(snapshot(dir)).toEqual(before)
    })

    it('importTree into the folder holding src is refused (onExisting: replace), src intact', async () => {
      const dir = sandbox(fsys.dir)
      const src = join(dir, 'pkg')
      fs.mkdirSync(join(src, 'lib'), { recursive: true })
      fs.writeFileSync(join(src, 'lib', 'a.js'), 'a')
      fs.symlinkSync(dir, join(dir, 'self'))
      const before = snapshot(dir)
      for (const into of [dir, `${dir}/`, join(dir, 'self'), join(src, '..')]) {
        const err = await importTree(src, into, { onExisting: 'replace' }).catch((e) => e)
        expectIntoSource(err, into, (p) => p === src)
        expect(snapshot(dir)).toEqual(before)
        expectIntoSource(catchSync(() => importTreeSync(src, into, { onExisting: 'replace' })), into)
        expect(snapshot(dir)).toEqual(before)
      }
    })

    it('an into beside the sources is still replaced, and a fresh one imported (no false refusal)', async () => {
      const dir = sandbox(fsys.dir)
      const { store, index, srcs } = makeStore(dir)
      const into = join(dir, 'node_modules', 'storeish') // a name that starts like the store's
      fs.mkdirSync(join(dir, 'store2'))
      for (let i = 0; i < 2; i++) {
        expect((await importPackages([{ into, files: index }], { store, onExisting: 'replace' })).files).toBe(30)
        expect((await importFiles(srcs, { into: join(dir, 'store2'), onExisting: 'replace' })).files).toBe(30)
        expect((await importTree(join(dir, 'store2'), join(dir, 'copy'), { onExisting: 'replace' })).files).toBe(30)
      }
      expect(fs.readFileSync(join(into, 'lib', 'f3.js'), 'utf8')).toBe('file 3\n'.repeat(4))
      expect(fs.readdirSync(join(store, 'v10', 'files')).length).toBeGreaterThan(1)
      expect(leftovers(dir)).toEqual([])
    })
  })
}
