// The store's trust model (README, "The store's trust model"): importPackages and importFiles
// never follow a symlink in the store (a store file, a bucket folder, an entry's src), refuse a
// store file that is not a regular file (EINVAL) or whose size is not the index's
// (ERR_CACHELINK_STORE_MISMATCH), and place nothing of the install then. On real tmpfs and ext4.
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importFiles, importPackages, type PnpmFileInfo } from '../ts/index.js'
import { expectFsError, mount, type Mounted, sandbox, skipWithout, snapshot } from './helpers.js'

type Index = Record<string, PnpmFileInfo>

/** A store (pnpm 10's layout) under `root`, a project tree with a file in it, and a file outside both. */
function setup(root: string) {
  const files = join(root, 'store', 'v10', 'files')
  const tree = join(root, 'tree')
  const outside = join(root, 'outside')
  fs.mkdirSync(files, { recursive: true })
  fs.mkdirSync(join(tree, 'node_modules'), { recursive: true })
  fs.writeFileSync(join(tree, 'package.json'), '{}')
  fs.mkdirSync(outside)
  fs.writeFileSync(join(outside, 'secret'), 'the outside file\n')
  const where = (bytes: string) => {
    const digest = createHash('sha512').update(bytes).digest()
    const hex = digest.toString('hex')
    return { hex, info: { integrity: `sha512-${digest.toString('base64')}`, mode: 0o644, size: Buffer.byteLength(bytes) }, path: join(files, hex.slice(0, 2), hex.slice(2)) }
  }
  /** A regular store file with these bytes. */
  const put = (bytes: string) => {
    const w = where(bytes)
    fs.mkdirSync(join(w.path, '..'), { recursive: true })
    fs.writeFileSync(w.path, bytes)
    return w
  }
  /** `n` good files: a package's index. */
  const good = (tag: string, n: number): Index =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`lib/${tag}${i}.js`, put(`${tag} ${i}\n`.repeat(i + 1)).info]))
  // A directory's mtime changes when a stage is made and removed in it: not compared.
  const tree_ = () => snapshot(tree).map((l) => (l.split(' ')[1].startsWith('40') ? l.replace(/ [^ ]+$/, '') : l))
  const before = () => ({ tree: tree_(), outside: snapshot(outside), secret: fs.readFileSync(join(outside, 'secret'), 'utf8') })
  const into = (name: string) => join(tree, 'node_modules', '.pnpm', `${name}@1.0.0`, 'node_modules', name)
  return { store: join(root, 'store'), files, tree, outside, where, put, good, before, into }
}

type Setup = ReturnType<typeof setup>

/** Nothing of the install was placed and the outside file is as it was. */
function expectUnchanged(s: Setup, was: ReturnType<Setup['before']>) {
  expect(s.before()).toEqual(was)
  expect(fs.statSync(join(s.outside, 'secret')).nlink).toBe(1)
}

/** A package of good files with `bad` first or last; and another good package beside it. */
function install(s: Setup, bad: PnpmFileInfo, at: 'first' | 'later') {
  const files: Index = at === 'first' ? { 'bad.js': bad } : { ...s.good('p', 30), 'zz/bad.js': bad }
  return [
    { into: s.into('other'), files: s.good('o', 5) },
    { into: s.into('pkg'), files },
  ]
}

const entryOf = (at: 'first' | 'later') => (at === 'first' ? 'bad.js' : 'zz/bad.js')

for (const kind of ['tmpfs', 'ext4'] as const) {
  describe.skipIf(skipWithout(kind))(`the store's trust model on ${kind}`, () => {
    let fsys: Mounted
    beforeAll(() => {
      fsys = mount(kind)
    })
    afterAll(() => fsys?.unmount())

    for (const method of ['hardlink', 'auto', 'copy'] as const) {
      for (const at of ['first', 'later'] as const) {
        it(`refuses a store file that is a symlink to a file outside (${method}, ${at} file of a package) with EINVAL, placing nothing`, async () => {
          const s = setup(sandbox(fsys.dir))
          const w = s.where('the outside file\n')
          fs.mkdirSync(join(w.path, '..'), { recursive: true })
          fs.symlinkSync(join(s.outside, 'secret'), w.path)
          const was = s.before()
          const err = await importPackages(install(s, w.info, at), { store: s.store, method }).catch((e) => e)
          expectFsError(err, 'EINVAL', { path: w.path })
          expect(err.entry).toBe(entryOf(at))
          expectUnchanged(s, was)
        })

        it(`refuses a bucket folder that is a symlink to a folder outside (${method}, ${at} file of a package) with EINVAL, placing nothing`, async () => {
          const s = setup(sandbox(fsys.dir))
          // The good files first, then a digest whose bucket none of them uses.
          const placeholder = s.where('placeholder').info
          const pkgs = install(s, placeholder, at)
          let n = 0
          let w = s.where(`outside ${n}\n`)
          while (fs.existsSync(join(w.path, '..'))) w = s.where(`outside ${++n}\n`)
          const files = pkgs[1].files
          files[entryOf(at)] = w.info
          const hidden = join(s.outside, 'bucket')
          fs.mkdirSync(hidden)
          fs.writeFileSync(join(hidden, w.hex.slice(2)), `outside ${n}\n`)
          fs.symlinkSync(hidden, join(w.path, '..'))
          const was = s.before()
          const err = await importPackages(pkgs, { store: s.store, method }).catch((e) => e)
          expectFsError(err, 'EINVAL', { path: w.path })
          expect(err.entry).toBe(entryOf(at))
          expectUnchanged(s, was)
          expect(fs.statSync(join(hidden, w.hex.slice(2))).nlink).toBe(1)
        })
      }
    }

    for (const method of ['hardlink', 'copy'] as const) {
      for (const at of ['first', 'later'] as const) {
        for (const [what, bytes] of [
          ['truncated', 'x'.repeat(10)],
          ['grown', 'x'.repeat(5000)],
        ] as const) {
          it(`refuses a ${what} store file (${method}, ${at} file) with ERR_CACHELINK_STORE_MISMATCH naming the entry, placing nothing`, async () => {
            const s = setup(sandbox(fsys.dir))
            const w = s.where(`the index's ${what} file`)
            fs.mkdirSync(join(w.path, '..'), { recursive: true })
            fs.writeFileSync(w.path, bytes)
            const info = { ...w.info, size: 4000 }
            const was = s.before()
            const err = await importPackages(install(s, info, at), { store: s.store, method }).catch((e) => e)
            expect(err).toBeInstanceOf(Error)
            expect(err.code).toBe('ERR_CACHELINK_STORE_MISMATCH')
            expect(err.errno).toBeUndefined()
            expect(err.path).toBe(w.path)
            expect(err.entry).toBe(entryOf(at))
            expect(err.message).toMatch(/^ERR_CACHELINK_STORE_MISMATCH: .*size/)
            expectUnchanged(s, was)
          })
        }
      }
    }

    it('trustStore: true installs as before, and still follows no symlink: a symlinked bucket or first store file is refused', async () => {
      const s = setup(sandbox(fsys.dir))
      const ok = s.good('t', 30)
      const stats = await importPackages([{ into: s.into('ok'), files: ok }], { store: s.store, method: 'hardlink', trustStore: true })
      expect(stats.hardlinked).toBe(30)
      for (const [rel, f] of Object.entries(ok)) {
        const hex = Buffer.from(f.integrity!.slice(7), 'base64').toString('hex')
        expect(fs.statSync(join(s.into('ok'), rel)).ino).toBe(fs.statSync(join(s.files, hex.slice(0, 2), hex.slice(2))).ino)
      }
      // A bucket that is a symlink, later in a package: never opened, so never trusted.
      let n = 0
      let w = s.where(`trusted ${n}\n`)
      while (fs.existsSync(join(w.path, '..'))) w = s.where(`trusted ${++n}\n`)
      const hidden = join(s.outside, 'bucket')
      fs.mkdirSync(hidden)
      fs.writeFileSync(join(hidden, w.hex.slice(2)), `trusted ${n}\n`)
      fs.symlinkSync(hidden, join(w.path, '..'))
      const was = s.before()
      for (const method of ['hardlink', 'copy'] as const) {
        const err = await importPackages([{ into: s.into('t'), files: { ...ok, 'zz/bad.js': w.info } }], { store: s.store, method, trustStore: true }).catch((e) => e)
        expectFsError(err, 'EINVAL', { path: w.path })
        expectUnchanged(s, was)
      }
      const link = s.where('a symlink, first')
      fs.mkdirSync(join(link.path, '..'), { recursive: true })
      fs.symlinkSync(join(s.outside, 'secret'), link.path)
      const err = await importPackages([{ into: s.into('u'), files: { 'a.js': link.info } }], { store: s.store, trustStore: true }).catch((e) => e)
      expectFsError(err, 'EINVAL', { path: link.path })
      expectUnchanged(s, was)
    })

    it('refuses a FIFO later in a package (the fast path too) with EINVAL, placing nothing', async () => {
      const s = setup(sandbox(fsys.dir))
      const w = s.where('a fifo')
      fs.mkdirSync(join(w.path, '..'), { recursive: true })
      execFileSync('mkfifo', [w.path])
      for (const method of ['hardlink', 'copy'] as const) {
        const was = s.before()
        const err = await importPackages(install(s, w.info, 'later'), { store: s.store, method }).catch((e) => e)
        expectFsError(err, 'EINVAL', { path: w.path })
        expect(err.entry).toBe('zz/bad.js')
        expectUnchanged(s, was)
      }
    })

    it("importFiles refuses a src that is a symlink (EINVAL) and a src whose size is not the entry's, placing nothing", async () => {
      const s = setup(sandbox(fsys.dir))
      // Sources by path, as an installer with its own cache gives them.
      const list = Array.from({ length: 20 }, (_, i) => {
        const bytes = `g ${i}\n`.repeat(i + 1)
        return { path: `lib/g${i}.js`, src: s.put(bytes).path, size: Buffer.byteLength(bytes) }
      })
      const link = join(s.outside, 'link')
      fs.symlinkSync(join(s.outside, 'secret'), link)
      for (const method of ['hardlink', 'auto', 'copy'] as const) {
        for (const bad of [
          { path: 'first.js', src: link, size: 17 },
          { path: 'zz/last.js', src: link, size: 17 },
        ]) {
          const into = s.into(`files-${method}`)
          const all = bad.path === 'first.js' ? [bad, ...list] : [...list, bad]
          const was = s.before()
          const err = await importFiles(all, { into, method }).catch((e) => e)
          expectFsError(err, 'EINVAL', { path: link })
          expect(err.entry).toBe(bad.path)
          expectUnchanged(s, was)
        }
        const short = { path: 'zz/short.js', src: list[3].src, size: list[3].size + 1 }
        const was = s.before()
        const err = await importFiles([...list, short], { into: s.into(`size-${method}`), method }).catch((e) => e)
        expect(err.code).toBe('ERR_CACHELINK_STORE_MISMATCH')
        expect(err.entry).toBe('zz/short.js')
        expect(err.path).toBe(list[3].src)
        expectUnchanged(s, was)
      }
    })
  })
}
