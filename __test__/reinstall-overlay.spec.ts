// Re-installs on overlayfs (issue 19, point 7): a package folder of the lower layer (a container
// image's node_modules) cannot be renamed (EXDEV without redirect_dir), so 'replace' moves it by
// pieces. Lower layer on the upper's tmpfs, and on an ext4 of its own.
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, type ImportFileEntry, importFiles, importFilesSync } from '../ts/index.js'
import { catchSync, expectFsError, leftovers, mountOverlay, type Overlay, skipWithoutOverlay } from './helpers.js'

beforeEach(() => clearFallbackMemo())

const PKG = join('project', 'node_modules', 'pkg')

/** The image's package: in the lower layer. */
function image(lower: string, big = 0): void {
  const pkg = join(lower, PKG)
  fs.mkdirSync(join(pkg, 'lib'), { recursive: true })
  fs.mkdirSync(join(pkg, 'node_modules', 'dep', 'sub'), { recursive: true })
  fs.writeFileSync(join(pkg, 'index.js'), 'one')
  fs.writeFileSync(join(pkg, 'old.js'), 'old')
  fs.writeFileSync(join(pkg, 'lib', 'a.js'), 'a1')
  fs.writeFileSync(join(pkg, 'node_modules', 'dep', 'x.js'), 'dep')
  fs.writeFileSync(join(pkg, 'node_modules', 'dep', 'sub', 'y.js'), 'why')
  fs.chmodSync(join(pkg, 'node_modules', 'dep'), 0o750)
  if (big) fs.writeFileSync(join(pkg, 'lib', 'big.bin'), Buffer.alloc(big, 7))
}

/** Every path under `dir` with its type, mode and bytes (inodes change on copy-up). */
function contents(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .sort()
    .map((p) => {
      const st = fs.lstatSync(join(dir, p))
      const body = st.isFile() ? fs.readFileSync(join(dir, p)).toString('base64').slice(0, 40) + `:${st.size}` : ''
      return `${p} ${st.mode.toString(8)} ${body}`
    })
}

for (const lower of ['same', 'ext4'] as const) {
  describe.skipIf(skipWithoutOverlay(...(lower === 'same' ? [] : [lower])))(`'replace' of a lower-layer package on overlayfs (lower: ${lower})`, () => {
    let ov: Overlay | undefined
    let store: string
    afterEach(() => {
      ov?.unmount()
      ov = undefined
    })

    function setUp(big = 0, upperMiB = 64): string {
      ov = mountOverlay(lower, (l) => image(l, big), upperMiB)
      store = join(ov.dir, 'store')
      fs.mkdirSync(store)
      return join(ov.dir, PKG)
    }

    function version(name: string, files: Record<string, string>): ImportFileEntry[] {
      return Object.entries(files).map(([path, text]) => {
        const src = join(store, `${name}-${path.replace(/\//g, '_')}`)
        fs.writeFileSync(src, text)
        return { path, src }
      })
    }

    it('puts exactly the new package in place', async () => {
      const into = setUp()
      const stats = await importFiles(version('v2', { 'index.js': 'two', 'lib/b.js': 'b2' }), { into, onExisting: 'replace' })
      expect(stats).toMatchObject({ files: 2 })
      expect(contents(into)).toEqual(['index.js 100644 dHdv:3', 'lib 40755 ', 'lib/b.js 100644 YjI=:2'])
      expect(leftovers(join(ov!.dir, 'project'))).toEqual([])
      expect(fs.readdirSync(join(ov!.dir, 'project', 'node_modules'))).toEqual(['pkg'])
      // The lower layer is as the image left it.
      expect(fs.readFileSync(join(ov!.lower, PKG, 'old.js'), 'utf8')).toBe('old')
    })

    it('carries a lower-layer node_modules over with keep (async and sync)', async () => {
      const into = setUp()
      const v2 = version('v2', { 'index.js': 'two', 'node_modules/.note': 'mine' })
      const stats = await importFiles(v2, { into, onExisting: 'replace', keep: ['node_modules'] })
      expect(stats).toMatchObject({ files: 2 })
      expect(contents(into)).toEqual([
        'index.js 100644 dHdv:3',
        'node_modules 40755 ',
        'node_modules/.note 100644 bWluZQ==:4',
        'node_modules/dep 40750 ',
        'node_modules/dep/sub 40755 ',
        'node_modules/dep/sub/y.js 100644 d2h5:3',
        'node_modules/dep/x.js 100644 ZGVw:3',
      ])
      // Again, now that the tree is the upper layer's: a plain replace.
      importFilesSync(version('v3', { 'index.js': 'three' }), { into, onExisting: 'replace', keep: ['node_modules/dep'] })
      expect(fs.readdirSync(into).sort()).toEqual(['index.js', 'node_modules'])
      expect(fs.readFileSync(join(into, 'node_modules', 'dep', 'sub', 'y.js'), 'utf8')).toBe('why')
      expect(leftovers(join(ov!.dir, 'project'))).toEqual([])
    })

    it('leaves the old tree whole when the upper layer fills up while it moves', async () => {
      // A 3 MiB lower file cannot be copied up with 2 MiB free on the upper layer: ENOSPC
      // mid-move (with the lower layer on the same tmpfs, its 3 MiB count there too).
      const into = setUp(3 << 20, lower === 'same' ? 5 : 2)
      const before = contents(into)
      const v2 = version('v2', { 'index.js': 'two' })
      const err = await importFiles(v2, { into, onExisting: 'replace', keep: ['node_modules'] }).catch((e) => e)
      expectFsError(err, 'ENOSPC')
      expect(contents(into)).toEqual(before)
      expect(leftovers(join(ov!.dir, 'project'))).toEqual([])
      const sync = catchSync(() => importFilesSync(v2, { into, onExisting: 'replace' }))
      expectFsError(sync, 'ENOSPC')
      expect(contents(into)).toEqual(before)
      expect(leftovers(join(ov!.dir, 'project'))).toEqual([])
    })
  })
}
