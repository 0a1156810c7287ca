// Errors that named the wrong thing (issue 19, point 10): numbers out of range are
// ERR_OUT_OF_RANGE from the facade (not napi's raw InvalidArg), an index mode outside
// 0..0o177777 is refused (not read as "executable"), and a legal destination that fails only
// because its stage's longer name went over PATH_MAX names the stage path. On a real tmpfs.
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanTemp, cleanTempSync, importFiles, importPackages, importTree, linkFile, scanCache } from '../ts/index.js'
import { catchSync, expectFsError, jsBackend, mount, type Mounted, sandbox, skipWithout, snapshot } from './helpers.js'

function expectOutOfRange(err: unknown, name: string): void {
  expect(err).toBeInstanceOf(RangeError)
  const e = err as Error & { code: string }
  expect(e.code).toBe('ERR_OUT_OF_RANGE')
  expect(e.message).toContain(`"${name}"`)
}

/** A directory under `root` whose path is `length` bytes long (names of at most 200 bytes). */
function deepDir(root: string, length: number): string {
  let p = root
  while (p.length < length) p = join(p, 'd'.repeat(Math.min(200, length - p.length - 1)))
  fs.mkdirSync(p, { recursive: true })
  return p
}

describe.skipIf(skipWithout('tmpfs'))('errors that name the right thing, on tmpfs', () => {
  let fsys: Mounted
  let dir: string
  let src: string
  beforeAll(() => {
    fsys = mount('tmpfs')
    dir = sandbox(fsys.dir)
    src = join(dir, 'src')
    fs.writeFileSync(src, 'hello\n')
  })
  afterAll(() => fsys?.unmount())

  it('cleanTemp with olderThanMs 1e300 rejects with ERR_OUT_OF_RANGE, not napi\'s InvalidArg', async () => {
    const before = snapshot(dir)
    expectOutOfRange(await cleanTemp(dir, { olderThanMs: 1e300 }).catch((e) => e), 'options.olderThanMs')
    expectOutOfRange(catchSync(() => cleanTempSync(dir, { olderThanMs: 1e300 })), 'options.olderThanMs')
    expectOutOfRange(await cleanTemp(dir, { olderThanMs: 2 ** 53 }).catch((e) => e), 'options.olderThanMs')
    expect(snapshot(dir)).toEqual(before)
  })

  it('every other numeric option out of range is ERR_OUT_OF_RANGE naming it', async () => {
    const t = sandbox(dir)
    expectOutOfRange(await linkFile(src, join(t, 'x'), { maxLinks: 1e300 }).catch((e) => e), 'options.maxLinks')
    expectOutOfRange(await importTree(t, join(t, 'y'), { threads: 1e300 }).catch((e) => e), 'options.threads')
    expectOutOfRange(await scanCache(t, { nearAt: 1e300 }).catch((e) => e), 'options.nearAt')
    expectOutOfRange(await importFiles([{ path: 'a', src, size: 1e300 }], { into: join(t, 'z') }).catch((e) => e), 'entries[0].size')
    expectOutOfRange(await importFiles([{ path: 'a', src, size: -1 }], { into: join(t, 'z') }).catch((e) => e), 'entries[0].size')
    expect(fs.readdirSync(t)).toEqual([])
  })

  describe('a pnpm index mode outside 0..0o177777', () => {
    let store: string
    let integrity: string
    beforeAll(() => {
      store = join(dir, 'store')
      const hex = createHash('sha512').update('hello\n').digest('hex')
      fs.mkdirSync(join(store, 'v10', 'files', hex.slice(0, 2)), { recursive: true })
      fs.copyFileSync(src, join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2)))
      integrity = `sha512-${Buffer.from(hex, 'hex').toString('base64')}`
    })

    for (const mode of [-1, 1e300, 0o200000, 1.5]) {
      it(`mode ${mode} is ERR_OUT_OF_RANGE naming the file's mode, and nothing is written`, async () => {
        const tree = sandbox(dir)
        const files = { 'index.js': { integrity, mode: 0o644, size: 6 }, 'bin.js': { integrity, mode, size: 6 } }
        const err = await importPackages([{ into: join(tree, 'p'), files }], { store }).catch((e) => e)
        expectOutOfRange(err, 'packages[0].files["bin.js"].mode')
        expect(fs.readdirSync(tree)).toEqual([])
      })
    }

    it('modes 0 and 0o177777 are accepted (0o177777 is executable)', async () => {
      const tree = sandbox(dir)
      fs.copyFileSync(src, `${join(store, 'v10', 'files', ...storeName(integrity))}-exec`)
      await importPackages([{ into: join(tree, 'p'), files: { 'a.js': { integrity, mode: 0, size: 6 }, 'b.js': { integrity, mode: 0o177777, size: 6 } } }], { store })
      expect(fs.readdirSync(join(tree, 'p')).sort()).toEqual(['a.js', 'b.js'])
    })
  })

  it('an import whose 4,094-byte destination is legal but whose stage is not names the stage path', async () => {
    const into = deepDir(sandbox(dir), 3900)
    const entry = 'e'.repeat(4094 - into.length - 1)
    expect(Buffer.byteLength(join(into, entry))).toBe(4094)
    for (const method of ['hardlink', 'copy'] as const) {
      const err = await importFiles([{ path: entry, src }], { into, method }).then(
        () => null,
        (e) => e,
      )
      if (err === null) {
        // Staged relative to an open directory: the legal destination just works.
        expect(fs.readFileSync(join(into, entry), 'utf8')).toBe('hello\n')
        fs.rmSync(into, { recursive: true })
        continue
      }
      expectFsError(err, 'ENAMETOOLONG')
      const named = (err.dest ?? err.path) as string
      expect(named).toContain('.cachelink-stage-')
      expect(Buffer.byteLength(named)).toBeGreaterThan(4095)
      expect(fs.existsSync(into)).toBe(false)
    }
  })

  it('a copy to a legal 4,094-byte path: works natively; the JS backend names its temp beside it', async () => {
    const parent = deepDir(sandbox(dir), 4000)
    const dest = join(parent, 'f'.repeat(4094 - parent.length - 1))
    const err = await linkFile(src, dest, { method: 'copy' }).then(
      () => null,
      (e) => e,
    )
    if (!jsBackend) {
      expect(err).toBe(null)
      expect(fs.readFileSync(dest, 'utf8')).toBe('hello\n')
      return
    }
    expectFsError(err, 'ENAMETOOLONG', { path: src })
    expect(err.dest).toContain('.cachelink-')
    expect(Buffer.byteLength(err.dest)).toBeGreaterThan(4095)
    expect(fs.readdirSync(parent)).toEqual([])
  })
})

function storeName(integrity: string): [string, string] {
  const hex = Buffer.from(integrity.slice('sha512-'.length), 'base64').toString('hex')
  return [hex.slice(0, 2), hex.slice(2)]
}
