import * as fs from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { getSystemErrorName } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, linkFile, linkFileSync, resetEntry, resetEntrySync } from '../ts/index.js'
import { addon } from '../ts/addon.js'
import { catchSync, expectFsError, leftovers, sandbox, snapshot } from './helpers.js'

const isWindows = process.platform === 'win32'
let dir: string
let src: string

beforeEach(() => {
  clearFallbackMemo()
  dir = sandbox()
  src = join(dir, 'entry')
  fs.writeFileSync(src, 'console.log("hi")\n', { mode: 0o755 })
})

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('linkFile', () => {
  it('hard-links by default (clones on macOS) and reports it', async () => {
    const dest = join(dir, 'out.js')
    const r = await linkFile(src, dest)
    const method = process.platform === 'darwin' ? 'clone' : 'hardlink'
    expect(r).toEqual({ method, reset: false, linkLimit: null, resetError: null, fallbacks: [], linkRefused: null, linkCounts: null, retries: 0 })
    expect(fs.statSync(dest).ino === fs.statSync(src).ino).toBe(method === 'hardlink')
  })

  it('copies with method copy: same bytes and mode, another inode', () => {
    const dest = join(dir, 'out.js')
    const r = linkFileSync(src, dest, { method: 'copy' })
    expect(r.method).toBe('copy')
    const [a, b] = [fs.statSync(src), fs.statSync(dest)]
    expect(b.ino).not.toBe(a.ino)
    if (!isWindows) expect(b.mode & 0o777).toBe(0o755)
    expect(fs.readFileSync(dest, 'utf8')).toBe(fs.readFileSync(src, 'utf8'))
  })

  it('makes an absolute symlink with method symlink', () => {
    const dest = join(dir, 'link.js')
    const r = linkFileSync(src, dest, { method: 'symlink' })
    if (isWindows && r.method === 'copy') {
      // No symlink privilege: the fallback says why.
      expect(r.fallbacks).toEqual([{ method: 'symlink', code: 'EPERM' }])
      return
    }
    expect(r.method).toBe('symlink')
    expect(fs.readlinkSync(dest)).toBe(src)
  })

  it('accepts file URLs and Buffers as paths', async () => {
    await linkFile(pathToFileURL(src), Buffer.from(join(dir, 'buf.js')), { method: 'hardlink' })
    expect(fs.statSync(join(dir, 'buf.js')).ino).toBe(fs.statSync(src).ino)
  })

  it('follows a symlinked source to its file', () => {
    fs.symlinkSync(src, join(dir, 'alias'))
    linkFileSync(join(dir, 'alias'), join(dir, 'out'), { method: 'hardlink' })
    expect(fs.lstatSync(join(dir, 'out')).isFile()).toBe(true)
    expect(fs.statSync(join(dir, 'out')).ino).toBe(fs.statSync(src).ino)
  })

  it('creates an empty source empty instead of linking it, reported as copy', () => {
    const empty = join(dir, 'empty')
    fs.writeFileSync(empty, '')
    const r = linkFileSync(empty, join(dir, 'index.js'))
    expect(r.method).toBe('copy')
    expect(fs.statSync(empty).nlink).toBe(1)
    expect(fs.statSync(join(dir, 'index.js')).size).toBe(0)
  })
})

describe('ifExists', () => {
  it("'error' throws EEXIST like fs.link and leaves both files", () => {
    const dest = join(dir, 'dest')
    fs.writeFileSync(dest, 'mine')
    const before = snapshot(dir)
    const err = catchSync(() => linkFileSync(src, dest))
    expectFsError(err, 'EEXIST', { syscall: 'link', path: src, dest })
    expect((err as Error).message).toBe(`EEXIST: file already exists, link '${src}' -> '${dest}'`)
    expect(snapshot(dir)).toEqual(before)
  })

  it("'replace' puts the source in place by rename and leaves no temp file", () => {
    const dest = join(dir, 'dest')
    fs.writeFileSync(dest, 'old')
    const r = linkFileSync(src, dest, { ifExists: 'replace', method: 'hardlink' })
    expect(r.method).toBe('hardlink')
    expect(fs.statSync(dest).ino).toBe(fs.statSync(src).ino)
    expect(leftovers(dir)).toEqual([])
  })

  it("'replace' with every method", () => {
    for (const method of isWindows ? (['copy', 'hardlink'] as const) : (['copy', 'symlink', 'hardlink'] as const)) {
      const dest = join(dir, `dest-${method}`)
      fs.writeFileSync(dest, 'old')
      expect(linkFileSync(src, dest, { ifExists: 'replace', method }).method).toBe(method)
      expect(fs.readFileSync(dest, 'utf8')).toBe(fs.readFileSync(src, 'utf8'))
    }
    expect(leftovers(dir)).toEqual([])
  })

  it("'keep' leaves an existing destination alone", async () => {
    const dest = join(dir, 'dest')
    fs.writeFileSync(dest, 'mine')
    const r = await linkFile(src, dest, { ifExists: 'keep' })
    expect(r.method).toBe('none')
    expect(fs.readFileSync(dest, 'utf8')).toBe('mine')
  })

  it('leaves a destination that already is the source inode as it is', () => {
    const dest = join(dir, 'dest')
    fs.linkSync(src, dest)
    const r = linkFileSync(src, dest, { ifExists: 'replace' })
    expect(r.method).toBe('none')
    expect(fs.statSync(src).nlink).toBe(2)
  })

  it("'replace' refuses a directory destination and changes nothing", () => {
    const dest = join(dir, 'adir')
    fs.mkdirSync(dest)
    const before = snapshot(dir)
    expectFsError(catchSync(() => linkFileSync(src, dest, { ifExists: 'replace' })), 'EISDIR', { path: src, dest })
    expect(snapshot(dir)).toEqual(before)
  })
})

describe('bad calls change nothing', () => {
  it('a missing source: ENOENT with both paths', async () => {
    const before = snapshot(dir)
    const missing = join(dir, 'missing')
    const dest = join(dir, 'dest')
    const err = await linkFile(missing, dest).catch((e) => e)
    expectFsError(err, 'ENOENT', { syscall: 'link', path: missing, dest })
    expect(err.message).toBe(`ENOENT: no such file or directory, link '${missing}' -> '${dest}'`)
    expect(snapshot(dir)).toEqual(before)
  })

  it('a directory as source: EISDIR', () => {
    fs.mkdirSync(join(dir, 'd'))
    const before = snapshot(dir)
    expectFsError(catchSync(() => linkFileSync(join(dir, 'd'), join(dir, 'x'))), 'EISDIR', {
      path: join(dir, 'd'),
    })
    expect(snapshot(dir)).toEqual(before)
  })

  it('a missing destination parent: ENOENT, for every method', () => {
    const before = snapshot(dir)
    for (const method of ['auto', 'hardlink', 'copy', 'symlink', 'clone'] as const) {
      const dest = join(dir, 'no', 'such', 'dir', 'x')
      const err = catchSync(() => linkFileSync(src, dest, { method }))
      expectFsError(err, 'ENOENT', { path: src, dest })
    }
    expect(snapshot(dir)).toEqual(before)
  })

  it('a destination equal to the source: EEXIST, the source untouched', () => {
    const before = snapshot(dir)
    expectFsError(catchSync(() => linkFileSync(src, src)), 'EEXIST', { path: src, dest: src })
    expect(linkFileSync(src, src, { ifExists: 'replace' }).method).toBe('none')
    expect(snapshot(dir)).toEqual(before)
  })

  it('wrong argument types throw TypeError ERR_INVALID_ARG_TYPE (rejecting when async)', async () => {
    const before = snapshot(dir)
    const sync = catchSync(() => linkFileSync(42 as never, join(dir, 'x'))) as NodeJS.ErrnoException
    expect(sync).toBeInstanceOf(TypeError)
    expect(sync.code).toBe('ERR_INVALID_ARG_TYPE')
    expect(sync.message).toBe(
      'The "src" argument must be of type string or an instance of Buffer or URL. Received type number (42)',
    )
    const promise = linkFile(src, null as never)
    expect(promise).toBeInstanceOf(Promise)
    await expect(promise).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
    await expect(linkFile(src, join(dir, 'x'), 'copy' as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    })
    await expect(resetEntry(undefined as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' })
    expect(snapshot(dir)).toEqual(before)
  })

  it('bad option values are rejected before anything is written', async () => {
    const before = snapshot(dir)
    const dest = join(dir, 'x')
    await expect(linkFile(src, dest, { method: 'ficlone' as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
    })
    await expect(linkFile(src, dest, { maxLinks: 1 })).rejects.toMatchObject({
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
    })
    await expect(linkFile(src, dest, { fallback: false })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
    })
    await expect(linkFile(src, 'a\0b')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
    await expect(linkFile('', dest)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
    expect(snapshot(dir)).toEqual(before)
  })
})

describe('resetEntry', () => {
  it('gives the entry a fresh inode with the same bytes, mode and mtime; old links keep the old one', async () => {
    const old = join(dir, 'old-link')
    fs.linkSync(src, old)
    const t = new Date('2020-01-02T03:04:05Z')
    fs.utimesSync(src, t, t)
    const before = fs.statSync(src)
    await resetEntry(src)
    const after = fs.statSync(src)
    expect(after.ino).not.toBe(before.ino)
    expect(after.nlink).toBe(1)
    if (!isWindows) expect(after.mode).toBe(before.mode)
    expect(after.mtimeMs).toBe(before.mtimeMs)
    expect(fs.readFileSync(src)).toEqual(fs.readFileSync(old))
    expect(fs.statSync(old).ino).toBe(before.ino)
    expect(leftovers(dir)).toEqual([])
  })

  it('throws ENOENT for a missing entry', () => {
    const p = join(dir, 'nope')
    expectFsError(catchSync(() => resetEntrySync(p)), 'ENOENT', { path: p })
  })
})

describe('errors', () => {
  it("this OS's errno table names every number as libuv does", () => {
    const table = addon().errnoTable()
    expect(table.length).toBeGreaterThan(50)
    for (const [raw, name] of table) {
      const errno = process.platform === 'win32' ? undefined : -raw
      if (errno !== undefined) expect([raw, getSystemErrorName(errno)]).toEqual([raw, name])
    }
  })
})

// The platforms' own filesystems, exercised in the GitHub matrix (registered only there).
if (process.platform === 'win32') {
  describe('NTFS (Windows)', () => {
    it('reaches ERROR_TOO_MANY_LINKS (1023) for real: EMLINK, and resets past it', () => {
      const out = join(dir, 'out')
      fs.mkdirSync(out)
      let resets = 0
      for (let i = 0; i < 1100; i++) {
        const r = linkFileSync(src, join(out, String(i)))
        expect(r.method).toBe('hardlink')
        if (r.reset) resets++
      }
      expect(resets).toBe(1)
      // The old inode lost the entry's name in the reset (1022 links): one more fills it, and
      // then a strict call shows the real error.
      linkFileSync(join(out, '0'), join(dir, 'x1'), { onLinkLimit: 'error' })
      const err = catchSync(() => linkFileSync(join(out, '0'), join(dir, 'x2'), { onLinkLimit: 'error' }))
      expectFsError(err, 'EMLINK', { syscall: 'link' })
      expect(leftovers(dir)).toEqual([])
    })
  })
}

if (process.platform === 'darwin') {
  describe('APFS (macOS)', () => {
    it('clones with clonefile: method clone, exec bit kept, writes stay private', () => {
      const dest = join(dir, 'clone')
      expect(linkFileSync(src, dest, { method: 'clone', fallback: false }).method).toBe('clone')
      expect(fs.statSync(dest).mode & 0o777).toBe(0o755)
      fs.writeFileSync(dest, 'changed')
      expect(fs.readFileSync(src, 'utf8')).toBe('console.log("hi")\n')
    })

    it('resets with a clone at maxLinks', () => {
      const out = join(dir, 'out')
      fs.mkdirSync(out)
      let resets = 0
      for (let i = 0; i < 20; i++) {
        if (linkFileSync(src, join(out, String(i)), { method: 'hardlink', maxLinks: 5 }).reset) resets++
      }
      expect(resets).toBe(4)
      expect(leftovers(dir)).toEqual([])
    })
  })
}
