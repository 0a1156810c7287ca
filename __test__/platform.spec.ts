/**
 * The filesystems of the other two OSes, for real: NTFS's hard link limit on Windows and APFS
 * clones on macOS. They run in the GitHub matrix (.github/workflows/ci.yml) on the runner's own
 * temp directory; on Linux they do not apply (the loop-mounted filesystems cover Linux).
 */
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { getSystemErrorName } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, fsInfoSync, importFiles, importPackages, importTree, linkFile, linkFileSync } from '../ts/index.js'
import { expectFsError, leftovers, sandbox } from './helpers.js'

/**
 * CreateHardLinkW makes at most 1023 links to a file; the next one fails with
 * ERROR_TOO_MANY_LINKS (1142), which cachelink reports as EMLINK. So a file has at most 1024
 * names, and the call that fails is the 1024th (index 1023).
 * https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createhardlinkw
 */
const NTFS_LINKS_PER_CALL = 1023

/**
 * The file's id, exactly: NTFS file ids are 64-bit (the sequence number in the high 16 bits),
 * beyond what a double holds, so `stat().ino` as a number can merge two neighbouring files.
 */
const fileId = (path: string) => fs.statSync(path, { bigint: true }).ino
const nlink = (path: string) => fs.statSync(path).nlink

let dir: string
beforeEach(() => {
  clearFallbackMemo()
  dir = sandbox()
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

describe.runIf(process.platform === 'win32')('the hard link limit on NTFS (real ERROR_TOO_MANY_LINKS)', () => {
  it('the temp directory is on NTFS', () => {
    expect(fsInfoSync(dir).fsType).toBe('NTFS')
  })

  it('links one cache file 1,100 times: every call succeeds, with exactly one reset, at link 1023', () => {
    const cache = join(dir, 'cache')
    const out = join(dir, 'out')
    fs.mkdirSync(cache)
    fs.mkdirSync(out)
    const entry = join(cache, 'ab12cd')
    fs.writeFileSync(entry, 'module.exports = "cached"\n')
    const content = fs.readFileSync(entry)
    const firstId = fileId(entry)
    const resets: number[] = []
    for (let i = 0; i < 1100; i++) {
      const r = linkFileSync(entry, join(out, String(i)))
      expect(r.method).toBe('hardlink')
      expect(r.fallbacks).toEqual([])
      if (r.reset) {
        resets.push(i)
        expect(r.linkLimit).toBe('reset')
      } else {
        expect(r.linkLimit).toBeNull()
      }
    }
    expect(resets).toEqual([NTFS_LINKS_PER_CALL])
    // The links made before the reset hold the old file, now without the cache's name.
    expect(fileId(join(out, '0'))).toBe(firstId)
    expect(fileId(join(out, String(NTFS_LINKS_PER_CALL - 1)))).toBe(firstId)
    expect(nlink(join(out, '0'))).toBe(NTFS_LINKS_PER_CALL)
    // From the reset on, the fresh entry: itself plus links 1023..1099.
    const nowId = fileId(entry)
    expect(nowId).not.toBe(firstId)
    expect(nlink(entry)).toBe(1 + 1100 - NTFS_LINKS_PER_CALL)
    expect(fileId(join(out, String(NTFS_LINKS_PER_CALL)))).toBe(nowId)
    expect(fileId(join(out, '1099'))).toBe(nowId)
    // The cache entry's bytes never changed, and every destination has them.
    expect(fs.readFileSync(entry).equals(content)).toBe(true)
    for (const i of [0, NTFS_LINKS_PER_CALL - 1, NTFS_LINKS_PER_CALL, 1099]) {
      expect(fs.readFileSync(join(out, String(i))).equals(content)).toBe(true)
    }
    expect(leftovers(cache)).toEqual([])
  })

  it("onLinkLimit 'error' throws EMLINK, Node's fs error, and changes nothing", async () => {
    const entry = join(dir, 'entry')
    fs.writeFileSync(entry, 'full')
    for (let i = 0; i < NTFS_LINKS_PER_CALL; i++) {
      expect(linkFileSync(entry, join(dir, `l${i}`), { onLinkLimit: 'error' }).method).toBe('hardlink')
    }
    expect(nlink(entry)).toBe(NTFS_LINKS_PER_CALL + 1)
    const dest = join(dir, 'one-too-many')
    const err = await linkFile(entry, dest, { onLinkLimit: 'error' }).catch((e: unknown) => e)
    expectFsError(err, 'EMLINK', { syscall: 'link', path: entry, dest })
    expect(getSystemErrorName((err as NodeJS.ErrnoException).errno as number)).toBe('EMLINK')
    expect(fs.existsSync(dest)).toBe(false)
    expect(nlink(entry)).toBe(NTFS_LINKS_PER_CALL + 1)
    expect(fs.readFileSync(entry, 'utf8')).toBe('full')
    expect(leftovers(dir)).toEqual([])
  })
})

describe.runIf(process.platform === 'darwin')('clones on APFS', () => {
  /** A small package: a script with its exec bit, a plain file, a nested file, a symlink, an empty dir. */
  function tree(root: string) {
    fs.mkdirSync(join(root, 'bin'), { recursive: true })
    fs.mkdirSync(join(root, 'lib', 'deep'), { recursive: true })
    fs.mkdirSync(join(root, 'empty'))
    fs.writeFileSync(join(root, 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 })
    fs.writeFileSync(join(root, 'package.json'), '{"name":"pkg"}\n', { mode: 0o644 })
    fs.writeFileSync(join(root, 'lib', 'deep', 'index.js'), 'module.exports = 1\n', { mode: 0o644 })
    fs.symlinkSync('../lib/deep/index.js', join(root, 'bin', 'index'))
  }

  it('the temp directory is on APFS', () => {
    expect(fsInfoSync(dir).fsType).toBe('apfs')
  })

  it("linkFileSync with method 'clone' and no fallback clones: own inode, exec bit kept, writes stay private", () => {
    const src = join(dir, 'tool')
    const original = Buffer.from('#!/bin/sh\necho original\n')
    fs.writeFileSync(src, original, { mode: 0o755 })
    const dest = join(dir, 'tool-clone')
    const r = linkFileSync(src, dest, { method: 'clone', fallback: false })
    expect(r).toEqual({ method: 'clone', reset: false, linkLimit: null, resetError: null, fallbacks: [], linkRefused: null, linkCounts: null, retries: 0 })
    const [a, b] = [fs.statSync(src), fs.statSync(dest)]
    expect(b.ino).not.toBe(a.ino)
    expect(a.nlink).toBe(1)
    expect(b.mode & 0o777).toBe(0o755)
    expect(fs.readFileSync(dest).equals(original)).toBe(true)
    // Copy-on-write, both ways: a write to either side is seen only there.
    fs.writeFileSync(dest, 'changed in the clone\n')
    expect(fs.readFileSync(src).equals(original)).toBe(true)
    fs.appendFileSync(src, 'appended to the source\n')
    expect(fs.readFileSync(dest, 'utf8')).toBe('changed in the clone\n')
  })

  it('a plain file keeps its mode too (0644)', async () => {
    const src = join(dir, 'data.json')
    fs.writeFileSync(src, '{}\n', { mode: 0o644 })
    const r = await linkFile(src, join(dir, 'copy.json'), { method: 'clone', fallback: false })
    expect(r.method).toBe('clone')
    expect(fs.statSync(join(dir, 'copy.json')).mode & 0o777).toBe(0o644)
  })

  for (const into of ['absent', 'existing'] as const) {
    it(`importTree with method 'clone' clones a tree into ${into === 'absent' ? 'a new' : 'an existing, empty'} directory`, async () => {
      const src = join(dir, 'src')
      tree(src)
      const dest = join(dir, 'out')
      if (into === 'existing') fs.mkdirSync(dest)
      const stats = await importTree(src, dest, { method: 'clone' })
      expect(stats).toMatchObject({
        method: 'clone',
        files: 4, // three files and the symlink
        cloned: 3,
        symlinked: 1,
        hardlinked: 0,
        copied: 0,
        fallbacks: [],
        dirs: 4, // bin, lib, lib/deep, empty
      })
      expect(fs.readlinkSync(join(dest, 'bin', 'index'))).toBe('../lib/deep/index.js')
      expect(fs.readdirSync(join(dest, 'empty'))).toEqual([])
      for (const [rel, mode] of [
        ['bin/tool', 0o755],
        ['package.json', 0o644],
        ['lib/deep/index.js', 0o644],
      ] as const) {
        const [a, b] = [fs.statSync(join(src, rel)), fs.statSync(join(dest, rel))]
        expect(b.ino).not.toBe(a.ino)
        expect(b.mode & 0o777).toBe(mode)
        expect(fs.readFileSync(join(dest, rel)).equals(fs.readFileSync(join(src, rel)))).toBe(true)
      }
      fs.writeFileSync(join(dest, 'package.json'), '{"name":"changed"}\n')
      expect(fs.readFileSync(join(src, 'package.json'), 'utf8')).toBe('{"name":"pkg"}\n')
      expect(leftovers(dir)).toEqual([])
    })
  }
})

// Entry names that are plain names on Linux and macOS (names.spec.ts) but invalid on Windows.
describe.runIf(process.platform === 'win32')('names Windows refuses', () => {
  for (const [path, why] of [
    ['lib\\weird.js', 'backslash'],
    ['a:b', "':'"],
    ['nul.txt', 'reserved'],
    ['lib/COM1', 'reserved'],
    ['x<y', 'Windows does not allow'],
    ['trailing.', 'ends with a dot or a space'],
  ] as const) {
    it(`${JSON.stringify(path)} fails naming the entry, before anything is written`, async () => {
      fs.writeFileSync(join(dir, 'src'), 's')
      const into = join(dir, 'out')
      const entries = [
        { path: 'fine.js', src: join(dir, 'src') },
        { path, src: join(dir, 'src') },
      ]
      const err = await importFiles(entries, { into }).catch((e) => e)
      expect(err).toMatchObject({ code: 'ERR_CACHELINK_UNSAFE_PATH', entry: path })
      expect(err.message).toContain(why)
      expect(fs.existsSync(into)).toBe(false)
    })
  }
})

describe.runIf(process.platform === 'win32' || process.platform === 'darwin')("importPackages from a pnpm store in the OS's own temp directory", () => {
  it('hard-links every package from pnpm index objects: the store files themselves, in place all at once', async () => {
    const store = join(dir, 'store')
    const files: Record<string, { integrity: string; mode: number; size: number }> = {}
    for (const [rel, text] of [['package.json', '{"name":"p"}'], ['lib/a.js', 'a\n'], ['lib/deep/b.js', 'b\n']]) {
      const digest = createHash('sha512').update(text).digest()
      const hex = digest.toString('hex')
      const path = join(store, 'files', hex.slice(0, 2), hex.slice(2))
      fs.mkdirSync(join(path, '..'), { recursive: true })
      fs.writeFileSync(path, text)
      files[rel] = { integrity: `sha512-${digest.toString('base64')}`, mode: 0o644, size: text.length }
    }
    const into = (n: number) => join(dir, 'node_modules', '.pnpm', `p${n}@1.0.0`, 'node_modules', `p${n}`)
    const stats = await importPackages([0, 1, 2].map((n) => ({ into: into(n), files })), { store, method: 'hardlink' })
    expect(stats.packages).toBe(3)
    expect(stats.hardlinked).toBe(9)
    for (const n of [0, 1, 2]) {
      for (const [rel, f] of Object.entries(files)) {
        const hex = Buffer.from(f.integrity.slice(7), 'base64').toString('hex')
        expect(fileId(join(into(n), rel))).toBe(fileId(join(store, 'files', hex.slice(0, 2), hex.slice(2))))
      }
    }
    expect(leftovers(join(dir, 'node_modules'))).toEqual([])
  })
})
