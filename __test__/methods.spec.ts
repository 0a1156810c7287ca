/**
 * `method` as an ordered list (the caller's chain, on every OS) and `'reflink'` as another name
 * for `'clone'`, on real filesystems.
 */
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, importFiles, importFilesSync, linkFile, linkFileSync, type LinkOptions } from '../ts/index.js'
import { catchSync, expectFsError, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

beforeEach(() => clearFallbackMemo())

/** Whether `path`'s data shares extents with another file (FIEMAP's shared flag, `filefrag -v`). */
function sharesExtents(path: string): boolean {
  execFileSync('sync')
  return /\bshared\b/.test(execFileSync('filefrag', ['-v', path], { encoding: 'utf8' }))
}

/** 64 KiB of data: stored in extents (not inline in metadata), so a clone shows as shared ones. */
function entry(dir: string, name: string): string {
  const src = join(dir, name)
  const data = Buffer.alloc(64 * 1024)
  for (let i = 0; i < data.length; i += 8) data.write(`${name}${i}`.padEnd(8).slice(0, 8), i)
  fs.writeFileSync(src, data)
  return src
}

describe.skipIf(skipWithout('btrfs'))('a list on btrfs (clones and hard links both work)', () => {
  let btrfs: Mounted
  beforeAll(() => {
    btrfs = mount('btrfs')
  })
  afterAll(() => btrfs?.unmount())

  it("['clone', 'hardlink', 'copy'] clones: shared extents, another inode", async () => {
    const src = entry(btrfs.dir, 'a')
    const dest = join(btrfs.dir, 'a-clone')
    const r = await linkFile(src, dest, { method: ['clone', 'hardlink', 'copy'] })
    expect(r).toMatchObject({ method: 'clone', fallbacks: [], linkRefused: null })
    expect(fs.statSync(dest).ino).not.toBe(fs.statSync(src).ino)
    expect(fs.statSync(src).nlink).toBe(1)
    expect(sharesExtents(dest)).toBe(true)
    expect(fs.readFileSync(dest).equals(fs.readFileSync(src))).toBe(true)
  })

  it("['hardlink', 'clone', 'copy'] hard-links", () => {
    const src = entry(btrfs.dir, 'b')
    const dest = join(btrfs.dir, 'b-link')
    expect(linkFileSync(src, dest, { method: ['hardlink', 'clone', 'copy'] })).toMatchObject({
      method: 'hardlink',
      fallbacks: [],
    })
    expect(fs.statSync(dest).ino).toBe(fs.statSync(src).ino)
  })

  it("'reflink' names clone in a list, and results say 'clone'", () => {
    const src = entry(btrfs.dir, 'c')
    const dest = join(btrfs.dir, 'c-reflink')
    expect(linkFileSync(src, dest, { method: ['reflink', 'copy'] }).method).toBe('clone')
    expect(fs.statSync(dest).ino).not.toBe(fs.statSync(src).ino)
    expect(sharesExtents(dest)).toBe(true)
  })

  it('importFiles takes a list: every file cloned', async () => {
    const store = join(btrfs.dir, 'store')
    fs.mkdirSync(store)
    const entries = Array.from({ length: 30 }, (_, i) => ({ path: `lib/${i}.js`, src: entry(store, String(i)) }))
    const into = join(btrfs.dir, 'app')
    const stats = await importFiles(entries, { into, method: ['clone', 'hardlink', 'copy'] })
    expect(stats).toMatchObject({ files: 30, cloned: 30, hardlinked: 0, copied: 0, method: 'clone' })
    expect(fs.statSync(join(into, 'lib', '29.js')).ino).not.toBe(fs.statSync(entries[29].src).ino)
    expect(sharesExtents(join(into, 'lib', '29.js'))).toBe(true)
    const linked = importFilesSync(entries, { into: join(btrfs.dir, 'app-2'), method: ['hardlink', 'clone'] })
    expect(linked).toMatchObject({ files: 30, hardlinked: 30, cloned: 0 })
  })
})

describe.skipIf(skipWithout('xfs'))('reflink on xfs', () => {
  let xfs: Mounted
  beforeAll(() => {
    xfs = mount('xfs')
  })
  afterAll(() => xfs?.unmount())

  it("method: 'reflink' clones", () => {
    const src = entry(xfs.dir, 'r')
    const dest = join(xfs.dir, 'r-reflink')
    expect(linkFileSync(src, dest, { method: 'reflink' })).toMatchObject({ method: 'clone', fallbacks: [] })
    expect(fs.statSync(dest).ino).not.toBe(fs.statSync(src).ino)
    expect(sharesExtents(dest)).toBe(true)
  })
})

describe.skipIf(skipWithout('ext4', 'tmpfs'))('a list on ext4 (no clones) and across two mounts', () => {
  let ext4: Mounted
  let tmp: Mounted
  beforeAll(() => {
    ext4 = mount('ext4', 64)
    tmp = mount('tmpfs', 64)
  })
  afterAll(() => {
    ext4?.unmount()
    tmp?.unmount()
  })

  it("['clone', 'copy'] copies, and says why: the kernel's EOPNOTSUPP", () => {
    const src = entry(ext4.dir, 'e')
    const first = linkFileSync(src, join(ext4.dir, 'e-1'), { method: ['clone', 'copy'] })
    expect(first).toMatchObject({ method: 'copy', fallbacks: [{ method: 'clone', code: 'ENOTSUP' }] })
    expect(fs.statSync(join(ext4.dir, 'e-1')).ino).not.toBe(fs.statSync(src).ino)
    // Known now: skipped, and still reported with its code.
    const second = linkFileSync(src, join(ext4.dir, 'e-2'), { method: ['clone', 'copy'] })
    expect(second).toMatchObject({ method: 'copy', fallbacks: first.fallbacks })
    expect(fs.readFileSync(join(ext4.dir, 'e-2')).equals(fs.readFileSync(src))).toBe(true)
  })

  it('no copy is added to a list: its last method fails as itself, and nothing is written', () => {
    const src = entry(ext4.dir, 'n')
    const dest = join(ext4.dir, 'n-clone')
    expectFsError(catchSync(() => linkFileSync(src, dest, { method: ['clone'] })), 'ENOTSUP', {
      syscall: 'clone',
      path: src,
      dest,
    })
    expect(fs.existsSync(dest)).toBe(false)
    // The memo knows clone fails here now, but the last method of a list is always tried.
    expectFsError(catchSync(() => linkFileSync(src, dest, { method: ['clone'] })), 'ENOTSUP', { syscall: 'clone' })
  })

  it("['hardlink', 'symlink', 'copy'] across two mounts (EXDEV) gives a symlink", async () => {
    const src = join(tmp.dir, 'across')
    fs.writeFileSync(src, 'across')
    const dest = join(ext4.dir, 'across')
    const r = await linkFile(src, dest, { method: ['hardlink', 'symlink', 'copy'] })
    expect(r).toMatchObject({ method: 'symlink', fallbacks: [{ method: 'hardlink', code: 'EXDEV' }] })
    expect(fs.readlinkSync(dest)).toBe(src)
    // auto, which has no symlink, copies between the same two mounts.
    expect(linkFileSync(src, join(ext4.dir, 'across-auto')).method).toBe('copy')
  })

  it('importFiles with a list into ext4 copies what it cannot clone', async () => {
    const store = join(ext4.dir, 'store')
    fs.mkdirSync(store)
    const entries = Array.from({ length: 10 }, (_, i) => ({ path: `${i}.js`, src: entry(store, String(i)) }))
    const stats = await importFiles(entries, { into: join(ext4.dir, 'app'), method: ['reflink', 'copy'] })
    expect(stats).toMatchObject({ files: 10, copied: 10, cloned: 0, hardlinked: 0 })
  })
})

describe('bad lists are refused before anything is written', () => {
  let dir: string
  beforeAll(() => {
    dir = sandbox()
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  const bad: Array<[string, LinkOptions, string]> = [
    ['an empty list', { method: [] }, 'options.method'],
    ['a method twice', { method: ['clone', 'copy', 'clone'] }, 'options.method'],
    ["'reflink' and 'clone' (the same method twice)", { method: ['reflink', 'clone'] }, 'options.method'],
    ['an unknown name', { method: ['clone', 'cp'] as unknown as LinkOptions['method'] }, 'options.method'],
    ["'auto' in a list", { method: ['auto', 'copy'] as unknown as LinkOptions['method'] }, 'options.method'],
    ['a number in a list', { method: [1] as unknown as LinkOptions['method'] }, 'options.method'],
    ['fallback: false with a list', { method: ['hardlink', 'copy'], fallback: false }, 'options.fallback'],
  ]
  for (const [what, options, name] of bad) {
    it(`${what}: ERR_INVALID_ARG_VALUE naming ${name}`, async () => {
      const src = join(dir, 'src')
      fs.writeFileSync(src, 'x')
      const dest = join(dir, 'dest')
      const into = join(dir, 'into')
      const errors = [
        catchSync(() => linkFileSync(src, dest, options)),
        await linkFile(src, dest, options).then(
          () => undefined,
          (e) => e,
        ),
        await importFiles([{ path: 'a', src }], { into, ...options }).then(
          () => undefined,
          (e) => e,
        ),
      ]
      for (const e of errors) {
        expect(e).toBeInstanceOf(TypeError)
        expect((e as NodeJS.ErrnoException).code).toBe('ERR_INVALID_ARG_VALUE')
        expect((e as Error).message).toContain(`'${name}'`)
      }
      expect(fs.existsSync(dest)).toBe(false)
      expect(fs.existsSync(into)).toBe(false)
    })
  }

  it('lists of four cross the binding whole, in order', async () => {
    const src = join(dir, 'four')
    fs.writeFileSync(src, 'four')
    const first = (method: LinkOptions['method']) => linkFileSync(src, join(dir, `four-${Math.random()}`), { method })
    expect(first(['copy', 'symlink', 'clone', 'hardlink']).method).toBe('copy')
    expect(first(['symlink', 'copy', 'hardlink', 'clone']).method).toBe('symlink')
    expect((await linkFile(src, join(dir, 'four-async'), { method: ['hardlink', 'reflink', 'symlink', 'copy'] })).method).toBe(
      'hardlink',
    )
    const into = join(dir, 'four-import')
    const stats = await importFiles([{ path: 'a', src }], { into, method: ['symlink', 'copy', 'clone', 'hardlink'] })
    expect(stats).toMatchObject({ files: 1, symlinked: 1 })
    expect(fs.readlinkSync(join(into, 'a'))).toBe(src)
  })

  it('an unknown single name is refused', () => {
    const src = join(dir, 'one')
    fs.writeFileSync(src, 'x')
    const e = catchSync(() => linkFileSync(src, join(dir, 'one-out'), { method: 'cp' as unknown as 'copy' }))
    expect((e as NodeJS.ErrnoException).code).toBe('ERR_INVALID_ARG_VALUE')
    expect((e as Error).message).toContain("'options.method'")
    expect(fs.existsSync(join(dir, 'one-out'))).toBe(false)
  })
})
