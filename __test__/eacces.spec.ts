/**
 * Hard links refused with EACCES, as FUSE filesystems refuse them (Android's shared storage,
 * Termux; oven-sh/bun#36853): on nolinkfs.py with LINK_ERRNO=EACCES. Under `auto` and lists a
 * file the process can read moves on to the next method. Where links have never worked between
 * the two mounts, the EACCES is taken as "no hard links here" and remembered (a `fallbacks` entry,
 * one refused link per mount pair, not one per file); where links have worked, it is this file's
 * refusal (`linkRefused: 'EACCES'`) and the next file is linked. `method: 'hardlink'` with
 * `fallback: false` still throws it.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { clearFallbackMemo, importFiles, importFilesSync, importPackages, linkFile, linkFileSync } from '../ts/index.js'
import { catchSync, expectFsError, leftovers, skipWithoutFuse } from './helpers.js'
import { mountNolinkfs, type Nolinkfs, settle } from './nolinkfs.js'
import { classify } from '../ts/js/method.js'

/** Links refused from the store (a copy's own temp-file links are not counted). */
const links = (fsys: Nolinkfs) => fsys.log.filter((l) => l.startsWith('LINK /store/')).length

describe('what a hard link\'s EACCES means', () => {
  it("is for linkFile to decide on Unix ('denied'), real on Windows and for the other methods (method.rs's test has the same rows)", () => {
    const e = { code: 'EACCES' }
    for (const mayLink of [true, false]) expect(classify('hardlink', e, mayLink, false)).toBe('denied')
    for (const m of ['clone', 'copy', 'symlink'] as const) expect(classify(m, e, true, false)).toBe('real')
    expect(classify('hardlink', e, true, true)).toBe('real')
  })
})

describe.skipIf(skipWithoutFuse())('a FUSE filesystem that refuses every hard link with EACCES', () => {
  let fsys: Nolinkfs
  let store: string
  let n = 0
  beforeAll(async () => {
    fsys = await mountNolinkfs({ LINK_ERRNO: 'EACCES' })
    store = join(fsys.dir, 'store')
    fs.mkdirSync(store)
    for (let i = 0; i < 6; i++) fs.writeFileSync(join(store, `f${i}`), `file ${i}\n`)
  })
  afterAll(() => fsys?.unmount())
  afterEach(() => clearFallbackMemo())
  const fresh = () => join(fsys.dir, `out-${n++}`)

  it('linkFile under auto copies, and the second file does not try the link again', async () => {
    await settle()
    const before = links(fsys)
    const out = fresh()
    fs.mkdirSync(out)
    const r = await linkFile(join(store, 'f0'), join(out, 'f0'))
    expect(r.method).toBe('copy')
    expect(r.fallbacks).toContainEqual({ method: 'hardlink', code: 'EACCES' })
    expect(r.linkRefused).toBe(null)
    const r2 = linkFileSync(join(store, 'f1'), join(out, 'f1'))
    expect(r2.method).toBe('copy')
    expect(r2.fallbacks).toContainEqual({ method: 'hardlink', code: 'EACCES' })
    expect(fs.readFileSync(join(out, 'f1'), 'utf8')).toBe('file 1\n')
    await settle()
    expect(links(fsys) - before).toBe(1)
  })

  it("a list ['hardlink', 'copy'] moves on to copy", async () => {
    const out = fresh()
    fs.mkdirSync(out)
    const r = await linkFile(join(store, 'f2'), join(out, 'f2'), { method: ['hardlink', 'copy'] })
    expect(r.method).toBe('copy')
  })

  it("method: 'hardlink', fallback: false still throws EACCES", async () => {
    const out = fresh()
    fs.mkdirSync(out)
    const dest = join(out, 'f0')
    const err = await linkFile(join(store, 'f0'), dest, { method: 'hardlink', fallback: false }).catch((e) => e)
    expectFsError(err, 'EACCES', { syscall: 'link', path: join(store, 'f0'), dest })
    expectFsError(catchSync(() => linkFileSync(join(store, 'f0'), dest, { method: 'hardlink', fallback: false })), 'EACCES')
    expect(fs.existsSync(dest)).toBe(false)
  })

  it('importFiles under auto copies every file, with one refused link', async () => {
    await settle()
    const before = links(fsys)
    const into = fresh()
    const entries = Array.from({ length: 6 }, (_, i) => ({ path: `lib/f${i}`, src: join(store, `f${i}`) }))
    const stats = await importFiles(entries, { into })
    expect(stats.files).toBe(6)
    expect(stats.copied).toBe(6)
    expect(stats.fallbacks).toContainEqual({ method: 'hardlink', code: 'EACCES', count: 6 })
    expect(fs.readFileSync(join(into, 'lib/f5'), 'utf8')).toBe('file 5\n')
    await settle()
    expect(links(fsys) - before).toBe(1)
    expect(leftovers(fsys.dir)).toEqual([])
  })

  it('importPackages under auto copies every file', async () => {
    const root = fresh()
    const pkgs = [0, 1].map((p) => ({
      into: join(root, `p${p}`),
      files: Object.fromEntries([0, 1, 2].map((i) => [`f${i}.js`, join(store, `f${p * 3 + i}`)])),
    }))
    const stats = await importPackages(pkgs)
    expect(stats.files).toBe(6)
    expect(stats.copied).toBe(6)
    expect(stats.fallbacks.find((f) => f.method === 'hardlink')?.code).toBe('EACCES')
    expect(fs.readFileSync(join(root, 'p1', 'f2.js'), 'utf8')).toBe('file 5\n')
  })
})

describe.skipIf(skipWithoutFuse())('a FUSE filesystem that refuses some files\' hard links with EACCES', () => {
  let fsys: Nolinkfs
  let store: string
  let n = 0
  beforeAll(async () => {
    fsys = await mountNolinkfs({ LINK_ERRNO: 'EACCES', LINK_ERRNO_ONLY: 'denied' })
    store = join(fsys.dir, 'store')
    fs.mkdirSync(store)
    for (let i = 0; i < 4; i++) {
      fs.writeFileSync(join(store, `ok${i}`), `ok ${i}\n`)
      fs.writeFileSync(join(store, `denied${i}`), `denied ${i}\n`)
    }
  })
  afterAll(() => fsys?.unmount())
  afterEach(() => clearFallbackMemo())
  const fresh = () => join(fsys.dir, `out-${n++}`)
  const ino = (p: string) => fs.statSync(p).ino

  it("linkFile: after a link worked, one file's EACCES is linkRefused and the next file is linked", async () => {
    const out = fresh()
    fs.mkdirSync(out)
    expect((await linkFile(join(store, 'ok0'), join(out, 'ok0'))).method).toBe('hardlink')
    const r = await linkFile(join(store, 'denied0'), join(out, 'denied0'))
    expect(r.method).toBe('copy')
    expect(r.linkRefused).toBe('EACCES')
    expect(r.fallbacks).not.toContainEqual({ method: 'hardlink', code: 'EACCES' })
    const r2 = linkFileSync(join(store, 'ok1'), join(out, 'ok1'))
    expect(r2.method).toBe('hardlink')
    expect(ino(join(out, 'ok1'))).toBe(ino(join(store, 'ok1')))
  })

  it('importFiles: the refused files are copied (linkRefusedCopies), the others linked', () => {
    const into = fresh()
    const entries = [
      ...[0, 1, 2, 3].map((i) => ({ path: `ok${i}`, src: join(store, `ok${i}`) })),
      ...[0, 1].map((i) => ({ path: `denied${i}`, src: join(store, `denied${i}`) })),
    ]
    const stats = importFilesSync(entries, { into, threads: 1 })
    expect(stats.hardlinked).toBe(4)
    expect(stats.copied).toBe(2)
    expect(stats.linkRefusedCopies).toBe(2)
    // Not remembered: no hard link fallback (clone's ENOTSUP on FUSE is one).
    expect(stats.fallbacks.find((f) => f.method === 'hardlink')).toBeUndefined()
    expect(ino(join(into, 'ok3'))).toBe(ino(join(store, 'ok3')))
    expect(fs.readFileSync(join(into, 'denied1'), 'utf8')).toBe('denied 1\n')
  })

  it('importPackages: the refused files are copied, the others linked', async () => {
    const root = fresh()
    const pkgs = [0, 1].map((p) => ({
      into: join(root, `p${p}`),
      files: { 'a.js': join(store, `ok${p * 2}`), 'b.js': join(store, `ok${p * 2 + 1}`), 'c.js': join(store, `denied${p}`) },
    }))
    const stats = await importPackages(pkgs, { threads: 1 })
    expect(stats.hardlinked).toBe(4)
    expect(stats.copied).toBe(2)
    expect(stats.linkRefusedCopies).toBe(2)
    expect(ino(join(root, 'p1', 'b.js'))).toBe(ino(join(store, 'ok3')))
  })
})
