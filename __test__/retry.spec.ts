/**
 * Transient failures are retried, a bounded number of times with backoff (README, "Fallback"):
 * on nolinkfs.py, renames and unlinks of paths holding `busy` fail twice with EBUSY (a file held
 * for a moment: an SMB share's sharing violation reaches Linux as EBUSY), reads with EAGAIN (a
 * server under load), then work; paths holding `stuck` fail every time. The Windows codes
 * (sharing and lock violations) are the engine's unit tests (crate/src/engine/retry.rs, under
 * Wine) and the JS twin's, both from the rows of crate/src/engine/retry-cases.txt.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { clearFallbackMemo, importFiles, importFilesSync, importPackages, linkFile, linkFileSync } from '../ts/index.js'
import { catchSync, expectFsError, leftovers, skipWithoutFuse } from './helpers.js'
import { mountNolinkfs, type Nolinkfs, settle } from './nolinkfs.js'
import { type RetryOp, transient } from '../ts/js/retry.js'

/** The tries after the first (README): a persistent failure is made 1 + RETRIES times. */
const RETRIES = 6

describe('which failures are transient', () => {
  it("the JS backend answers each row of retry-cases.txt as its last column says (the engine's test reads the same rows)", () => {
    const text = fs.readFileSync(new URL('../crate/src/engine/retry-cases.txt', import.meta.url), 'utf8')
    const rows = text.split('\n').filter((l) => l.trim() && !l.startsWith('#'))
    expect(rows.length).toBeGreaterThanOrEqual(25)
    for (const row of rows) {
      const [op, os, , code, mountPoint, , js] = row.split(/\s+/)
      expect(transient(op as RetryOp, code, mountPoint === 'yes', os === 'windows'), row).toBe(js === 'yes')
    }
  })
})

describe.skipIf(skipWithoutFuse())('transient EBUSY and EAGAIN on a FUSE filesystem', () => {
  let fsys: Nolinkfs
  let store: string
  let n = 0
  beforeAll(async () => {
    fsys = await mountNolinkfs({
      LINK_LIMIT: '1000',
      FAIL_OPS: 'rename=EBUSY,unlink=EBUSY,read=EAGAIN',
      FAIL_MATCH: 'busy',
      FAIL_MATCH_READ: 'slow',
      FAIL_TIMES: '2',
      FAIL_ALWAYS: 'stuck',
      FAIL_ALWAYS_OPS: 'rename,read',
    })
    store = join(fsys.dir, 'store')
    fs.mkdirSync(store)
    for (let i = 0; i < 4; i++) fs.writeFileSync(join(store, `f${i}`), `file ${i}\n`)
    for (const name of ['slow-a', 'slow-b', 'stuck-a']) fs.writeFileSync(join(store, name), `${name}\n`)
  })
  afterAll(() => fsys?.unmount())
  afterEach(() => clearFallbackMemo())
  const fresh = () => join(fsys.dir, `out-${n++}`)
  const fails = (path: string) => fsys.log.filter((l) => l.startsWith('FAIL ') && l.endsWith(path.slice(fsys.dir.length))).length
  const entries = () => [0, 1, 2, 3].map((i) => ({ path: `lib/f${i}`, src: join(store, `f${i}`) }))

  it("linkFile's rename over an existing file, refused twice with EBUSY, is retried", async () => {
    const out = fresh()
    fs.mkdirSync(out)
    const dest = join(out, 'busy-x')
    fs.writeFileSync(dest, 'old\n')
    const r = await linkFile(join(store, 'f0'), dest, { ifExists: 'replace' })
    expect(r.method).toBe('hardlink')
    expect(r.retries).toBe(2)
    expect(fs.readFileSync(dest, 'utf8')).toBe('file 0\n')
    expect(leftovers(out)).toEqual([])
  })

  it('a copy whose reads fail twice with EAGAIN is retried', async () => {
    const out = fresh()
    fs.mkdirSync(out)
    // One try or two: the native engine opens the source twice where O_TMPFILE is missing.
    const r = linkFileSync(join(store, 'slow-a'), join(out, 'a'), { method: 'copy' })
    expect(r.method).toBe('copy')
    expect(r.retries).toBeGreaterThanOrEqual(1)
    expect(fs.readFileSync(join(out, 'a'), 'utf8')).toBe('slow-a\n')
    const stats = await importFiles([{ path: 'b', src: join(store, 'slow-b') }], { into: fresh(), method: 'copy' })
    expect(stats.copied).toBe(1)
    expect(stats.retries).toBeGreaterThanOrEqual(1)
  })

  it('a copy whose reads always fail with EAGAIN throws EAGAIN after the bounded retries', async () => {
    const out = fresh()
    fs.mkdirSync(out)
    const err = await linkFile(join(store, 'stuck-a'), join(out, 'a'), { method: 'copy' }).catch((e) => e)
    expectFsError(err, 'EAGAIN', { syscall: 'copyfile', path: join(store, 'stuck-a') })
    await settle()
    // 1 + RETRIES tries, each opening the source once (JS) or twice (native, no O_TMPFILE here).
    expect([1 + RETRIES, 2 * (1 + RETRIES)]).toContain(fails(join(store, 'stuck-a')))
    expect(fs.readdirSync(out)).toEqual([])
  })

  it("importFiles' rename of its stage into place, refused twice with EBUSY, is retried", async () => {
    const into = join(fresh(), 'busy-pkg')
    const stats = await importFiles(entries(), { into })
    expect(stats.hardlinked).toBe(4)
    expect(stats.retries).toBe(2)
    expect(fs.readFileSync(join(into, 'lib/f3'), 'utf8')).toBe('file 3\n')
    expect(leftovers(join(into, '..'))).toEqual([])
  })

  it("importFiles' replace of an existing tree retries its renames and the old tree's removal", () => {
    const into = join(fresh(), 'busy-tree')
    fs.mkdirSync(into, { recursive: true })
    fs.writeFileSync(join(into, 'gone.js'), 'old\n')
    const stats = importFilesSync(entries(), { into, onExisting: 'replace' })
    expect(stats.hardlinked).toBe(4)
    // At least the renames into place; the old tree's unlink and rmdir twice each too.
    expect(stats.retries).toBeGreaterThanOrEqual(4)
    expect(fs.readdirSync(into).sort()).toEqual(['lib'])
    expect(leftovers(join(into, '..'))).toEqual([])
  })

  it('importPackages retries each package\'s rename into place', async () => {
    const root = fresh()
    const pkgs = [0, 1].map((p) => ({
      into: join(root, `busy-p${p}`),
      files: { 'a.js': join(store, `f${p * 2}`), 'b.js': join(store, `f${p * 2 + 1}`) },
    }))
    const stats = await importPackages(pkgs)
    expect(stats.hardlinked).toBe(4)
    expect(stats.retries).toBe(4)
    expect(fs.readFileSync(join(root, 'busy-p1', 'b.js'), 'utf8')).toBe('file 3\n')
  })

  it('a rename that always fails with EBUSY throws after the bounded retries and leaves nothing', async () => {
    const root = fresh()
    const into = join(root, 'stuck-pkg')
    const err = await importFiles(entries(), { into }).catch((e) => e)
    expectFsError(err, 'EBUSY', { syscall: 'rename' })
    await settle()
    expect(fails(into)).toBe(1 + RETRIES)
    expect(fs.existsSync(into)).toBe(false)
    expect(leftovers(fsys.dir)).toEqual([])
    expectFsError(catchSync(() => importFilesSync(entries(), { into })), 'EBUSY')
  })
})
