/**
 * Entry names (issue 11, points 8 and 9): what is refused is what is unsafe or invalid on the
 * destination's OS, nothing more; and `importTree` never copies a tree into itself.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  cleanTemp,
  cleanTempSync,
  fsInfo,
  fsInfoSync,
  importFiles,
  importFilesSync,
  importTree,
  importTreeSync,
  linkFile,
  linkFileSync,
  probe,
  probeSync,
  resetEntry,
  resetEntrySync,
  scanCache,
  scanCacheSync,
} from '../ts/index.js'
import { catchSync, expectFsError, onLinux, sandbox, snapshot } from './helpers.js'

const onWindows = process.platform === 'win32'

let dir: string
beforeEach(() => {
  dir = sandbox()
})
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(onWindows)('names that are legal on Linux and macOS', () => {
  it('a backslash is part of a name, not a separator: lib\\weird.js is one file in into', async () => {
    fs.writeFileSync(join(dir, 'src'), 'weird')
    const into = join(dir, 'out')
    const stats = await importFiles([{ path: 'lib\\weird.js', src: join(dir, 'src') }], { into })
    expect(stats.files).toBe(1)
    expect(fs.readdirSync(into)).toEqual(['lib\\weird.js'])
    expect(fs.readFileSync(join(into, 'lib\\weird.js'), 'utf8')).toBe('weird')
  })

  it("':' and the characters Windows refuses are legal names here (a:b, <x>, c:x, nul.txt)", () => {
    fs.writeFileSync(join(dir, 'src'), 's')
    const names = ['a:b', 'c:x', '<x>|?*"', 'nul.txt', 'CON', 'trailing.', 'sp ace ']
    const into = join(dir, 'out')
    importFilesSync(
      names.map((path) => ({ path, src: join(dir, 'src') })),
      { into },
    )
    expect(fs.readdirSync(into).sort()).toEqual([...names].sort())
  })
})

describe('a hostile entry among good ones', () => {
  it('../x as the 500th of 1,000 entries fails naming that entry, and nothing is written', async () => {
    fs.writeFileSync(join(dir, 'src'), 's')
    const entries = Array.from({ length: 1000 }, (_, i) => ({ path: `lib/f${i}.js`, src: join(dir, 'src') }))
    entries[499] = { path: '../x', src: join(dir, 'src') }
    const into = join(dir, 'deep', 'out')
    const before = snapshot(dir)
    const err = await importFiles(entries, { into }).catch((e) => e)
    expect(err).toMatchObject({ code: 'ERR_CACHELINK_UNSAFE_PATH', entry: '../x' })
    expect(err.message).toBe("Unsafe path in entry '../x': the path climbs out with '..'")
    expect(fs.existsSync(join(dir, 'deep'))).toBe(false)
    expect(fs.existsSync(join(dir, 'x'))).toBe(false)
    expect(snapshot(dir)).toEqual(before)
  })
})

describe('importTree into its own source', () => {
  const tree = () => {
    const src = join(dir, 'pkg')
    fs.mkdirSync(join(src, 'lib'), { recursive: true })
    fs.writeFileSync(join(src, 'index.js'), 'i')
    fs.writeFileSync(join(src, 'lib', 'a.js'), 'a')
    return src
  }

  for (const [what, into] of [
    ['a new directory inside it', 'pkg/copy'],
    ['a new directory deeper inside it', 'pkg/lib/x/y'],
    ['an existing directory inside it', 'pkg/lib'],
    ['itself', 'pkg'],
    ['itself, by a path with ./ and a trailing slash', './pkg/'],
  ] as const) {
    it(`is refused for ${what} before anything is written`, async () => {
      const src = tree()
      const before = snapshot(dir)
      const target = join(dir, into)
      const err = await importTree(src, target).catch((e) => e)
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({ code: 'ERR_CACHELINK_INTO_SOURCE', path: src, dest: target })
      expect(err.message).toBe(
        `ERR_CACHELINK_INTO_SOURCE: cannot import a directory into itself or a subdirectory of itself, import '${src}' -> '${target}'`,
      )
      expect(err.errno).toBeUndefined()
      expect(snapshot(dir)).toEqual(before)
      expect(() => importTreeSync(src, target)).toThrow(/ERR_CACHELINK_INTO_SOURCE/)
      expect(snapshot(dir)).toEqual(before)
    })
  }

  it.skipIf(onWindows)('is refused through a symlink to a directory inside it', async () => {
    const src = tree()
    fs.symlinkSync(join(src, 'lib'), join(dir, 'link'))
    const before = snapshot(dir)
    const err = await importTree(src, join(dir, 'link', 'new')).catch((e) => e)
    expect(err).toMatchObject({ code: 'ERR_CACHELINK_INTO_SOURCE' })
    expect(snapshot(dir)).toEqual(before)
  })

  it('a sibling whose name starts with the source name is fine (pkg -> pkg2)', async () => {
    const src = tree()
    const stats = await importTree(src, join(dir, 'pkg2'))
    expect(stats.files).toBe(2)
    expect(fs.readFileSync(join(dir, 'pkg2', 'lib', 'a.js'), 'utf8')).toBe('a')
  })
})

// The names Windows refuses are tested where Windows runs: platform.spec.ts.

describe.skipIf(!onLinux)('paths given as Buffers whose bytes are not UTF-8 (Linux)', () => {
  /** `dir/` + `rel` as raw bytes, `rel` written one char per byte (\xe9 is the byte 0xE9). */
  const B = (rel: string) => Buffer.concat([Buffer.from(dir + '/'), Buffer.from(rel, 'latin1')])
  /** What both backends show for such a path in errors and results (U+FFFD for the bad bytes). */
  const lossy = (rel: string) => B(rel).toString()
  const names = (p: Buffer) =>
    fs
      .readdirSync(p, { encoding: 'buffer' })
      .map((n) => n.toString('latin1'))
      .sort()
  const tree = () => {
    fs.mkdirSync(B('src\xe9/lib\xe9'), { recursive: true })
    fs.writeFileSync(B('src\xe9/a\xe9.js'), 'a')
    fs.writeFileSync(B('src\xe9/lib\xe9/b.js'), 'b')
    fs.symlinkSync(Buffer.from('a\xe9.js', 'latin1'), B('src\xe9/l\xe9'))
  }

  beforeEach(() => {
    fs.writeFileSync(B('file\xe9'), 'content')
  })

  it('linkFileSync / linkFile: a hard link and a symlink, whose target is the source bytes', async () => {
    const ino = fs.statSync(B('file\xe9')).ino
    expect(linkFileSync(B('file\xe9'), B('hard\xe9'), { method: 'hardlink' }).method).toBe('hardlink')
    expect((await linkFile(B('file\xe9'), B('hard2\xe9'), { method: 'hardlink' })).method).toBe('hardlink')
    expect(fs.statSync(B('hard\xe9')).ino).toBe(ino)
    expect(fs.statSync(B('hard2\xe9')).ino).toBe(ino)
    expect(linkFileSync(B('file\xe9'), B('sym\xe9'), { method: 'symlink' }).method).toBe('symlink')
    expect((await linkFile(B('file\xe9'), B('sym2\xe9'), { method: 'symlink' })).method).toBe('symlink')
    expect(fs.readlinkSync(B('sym\xe9'), { encoding: 'buffer' })).toEqual(B('file\xe9'))
    expect(fs.readlinkSync(B('sym2\xe9'), { encoding: 'buffer' })).toEqual(B('file\xe9'))
    // A source that is a symlink is followed (realpath) to its file.
    expect(linkFileSync(B('sym\xe9'), B('hard3\xe9'), { method: 'hardlink' }).method).toBe('hardlink')
    expect(fs.statSync(B('hard3\xe9')).ino).toBe(ino)
    // A string path whose real path is not UTF-8 (a symlink to such a file).
    fs.symlinkSync(B('file\xe9'), join(dir, 'plain'))
    expect(linkFileSync(join(dir, 'plain'), B('hard4\xe9'), { method: 'hardlink' }).method).toBe('hardlink')
    expect(fs.statSync(B('hard4\xe9')).ino).toBe(ino)
    fs.unlinkSync(join(dir, 'plain'))
    // Replacing an existing destination (a temp beside it, renamed over).
    fs.writeFileSync(B('other\xe9'), 'other')
    expect(linkFileSync(B('file\xe9'), B('other\xe9'), { method: 'copy', ifExists: 'replace' }).method).toBe('copy')
    expect(fs.readFileSync(B('other\xe9'), 'utf8')).toBe('content')
    expect(names(Buffer.from(dir))).toEqual(['file\xe9', 'hard2\xe9', 'hard3\xe9', 'hard4\xe9', 'hard\xe9', 'other\xe9', 'sym2\xe9', 'sym\xe9'].sort())
  })

  it('importTreeSync / importTree: src and into (with missing parents), symlinks in the tree kept byte for byte', async () => {
    tree()
    importTreeSync(B('src\xe9'), B('new\xe9/into\xe9'))
    await importTree(B('src\xe9'), B('into2\xe9'), { method: 'copy' })
    for (const into of ['new\xe9/into\xe9', 'into2\xe9']) {
      expect(names(B(into))).toEqual(['a\xe9.js', 'l\xe9', 'lib\xe9'].sort())
      expect(fs.readFileSync(B(`${into}/lib\xe9/b.js`), 'utf8')).toBe('b')
      expect(fs.readlinkSync(B(`${into}/l\xe9`), { encoding: 'buffer' })).toEqual(Buffer.from('a\xe9.js', 'latin1'))
    }
    // Again over the existing one: replaced (a stage beside it), then found in place.
    expect(importTreeSync(B('src\xe9'), B('into2\xe9'), { onExisting: 'replace' }).files).toBe(3)
    expect(importTreeSync(B('src\xe9'), B('into2\xe9'), { onExisting: 'skip-if-linked' }).kept).toBe(3)
    expect(names(Buffer.from(dir))).toEqual(['file\xe9', 'into2\xe9', 'new\xe9', 'src\xe9'].sort())
    // Into itself: refused, naming the paths as shown.
    const err = catchSync(() => importTreeSync(B('src\xe9'), B('src\xe9/lib\xe9/x')))
    expect(err).toMatchObject({ code: 'ERR_CACHELINK_INTO_SOURCE' })
  })

  it('importFilesSync / importFiles: into as raw bytes, with merge and replace', async () => {
    const entries = [{ path: Buffer.from('q\xe9', 'latin1'), src: B('file\xe9') }]
    importFilesSync(entries, { into: B('files\xe9') })
    await importFiles(entries, { into: B('deep\xe9/files\xe9') })
    importFilesSync([{ path: 'r', src: B('file\xe9') }], { into: B('files\xe9'), onExisting: 'merge' })
    importFilesSync(entries, { into: B('deep\xe9/files\xe9'), onExisting: 'replace' })
    expect(names(B('files\xe9'))).toEqual(['q\xe9', 'r'].sort())
    expect(names(B('deep\xe9/files\xe9'))).toEqual(['q\xe9'].sort())
    expect(fs.readFileSync(B('files\xe9/q\xe9'), 'utf8')).toBe('content')
    // Names that differ only in case: the destination is asked whether it folds case (a temp
    // made in the stage beside into, looked up in upper case).
    const pair = importFilesSync(
      [
        { path: 'A', src: B('file\xe9') },
        { path: 'a', src: B('file\xe9') },
      ],
      { into: B('fold\xe9') },
    )
    expect(pair.files).toBe(2)
    expect(names(B('fold\xe9'))).toEqual(['A', 'a'])
    expect(names(Buffer.from(dir))).toEqual(['deep\xe9', 'file\xe9', 'files\xe9', 'fold\xe9'].sort())
  })

  it('resetEntrySync / resetEntry: the entry gets a fresh inode, nothing left beside it', async () => {
    const ino = fs.statSync(B('file\xe9')).ino
    resetEntrySync(B('file\xe9'))
    const ino2 = fs.statSync(B('file\xe9')).ino
    expect(ino2).not.toBe(ino)
    await resetEntry(B('file\xe9'))
    expect(fs.statSync(B('file\xe9')).ino).not.toBe(ino2)
    expect(fs.readFileSync(B('file\xe9'), 'utf8')).toBe('content')
    expect(names(Buffer.from(dir))).toEqual(['file\xe9'].sort())
  })

  it('probeSync / fsInfoSync: cacheDir and targetDir as raw bytes; the source path shown as both backends show it', () => {
    fs.mkdirSync(B('cache\xe9/sub\xe9'), { recursive: true })
    fs.mkdirSync(B('target\xe9'))
    fs.writeFileSync(B('cache\xe9/sub\xe9/x\xe9'), 'x')
    const p = probeSync(B('cache\xe9'), B('target\xe9'))
    expect(p.methods.hardlink.works).toBe(true)
    expect(p.methods.symlink.works).toBe(true)
    expect(p.methods.copy.works).toBe(true)
    expect(p.auto.method).toBe('hardlink')
    expect(p.source).toEqual({ path: lossy('cache\xe9/sub\xe9/x\xe9'), temp: false })
    expect(names(B('target\xe9'))).toEqual([])
    expect(fsInfoSync(B('cache\xe9/sub\xe9/x\xe9'))).toEqual(fsInfoSync(dir))
    expect([p.cache.dir, p.target.dir]).toEqual([lossy('cache\xe9'), lossy('target\xe9')])
  })

  it('probe / fsInfo (async): the same answers', async () => {
    fs.mkdirSync(B('cache\xe9'))
    fs.mkdirSync(B('target\xe9'))
    fs.writeFileSync(B('cache\xe9/x\xe9'), 'x')
    const p = await probe(B('cache\xe9'), B('target\xe9'))
    expect(p.auto.method).toBe('hardlink')
    expect(p.source).toEqual({ path: lossy('cache\xe9/x\xe9'), temp: false })
    expect(await fsInfo(B('cache\xe9/x\xe9'))).toEqual(await fsInfo(dir))
    expect(names(B('target\xe9'))).toEqual([])
  })

  it('scanCacheSync / cleanTempSync: roots as raw bytes; the paths found are those bytes', async () => {
    fs.mkdirSync(B('cache\xe9'))
    fs.writeFileSync(B('cache\xe9/x\xe9'), 'x')
    fs.linkSync(B('cache\xe9/x\xe9'), B('cache\xe9/y'))
    // Another host's temp (never running here), beside an entry whose name is not UTF-8.
    const temp = 'cache\xe9/.x\xe9.cachelink-000000000001-1-0123456789abcdef'
    fs.writeFileSync(B(temp), 't')
    const scan = scanCacheSync(B('cache\xe9'), { nearAt: 2 })
    expect(scan.files).toBe(2)
    expect(scan.near.map((n) => n.raw.toString('latin1')).sort()).toEqual([B('cache\xe9/x\xe9').toString('latin1'), B('cache\xe9/y').toString('latin1')])
    expect(scan.leftovers.map((l) => [l.raw, l.path, l.exact])).toEqual([[B(temp), `${dir}/cache\\xE9/.x\\xE9.cachelink-000000000001-1-0123456789abcdef`, false]])
    expect((await scanCache(B('cache\xe9'))).files).toBe(2)
    const clean = cleanTempSync(B('cache\xe9'), { olderThanMs: 0 })
    expect(clean.removed.map((l) => l.raw)).toEqual([B(temp)])
    expect(fs.existsSync(B(temp))).toBe(false)
    expect((await cleanTemp(B('cache\xe9'), { olderThanMs: 0 })).removed).toEqual([])
  })

  it('errors name the paths as the native backend does (U+FFFD for the bytes that are not UTF-8)', async () => {
    const err = catchSync(() => linkFileSync(B('missing\xe9'), B('dest\xe9')))
    expectFsError(err, 'ENOENT', { path: lossy('missing\xe9'), dest: lossy('dest\xe9') })
    const err2 = await linkFile(B('missing\xe9'), B('dest\xe9'), { method: 'symlink' }).catch((e) => e)
    expectFsError(err2, 'ENOENT', { path: lossy('missing\xe9'), dest: lossy('dest\xe9') })
    const err3 = catchSync(() => importTreeSync(B('missing\xe9'), B('into\xe9')))
    expectFsError(err3, 'ENOENT', { path: lossy('missing\xe9') })
    expect((err3 as { dest?: string }).dest).toBeUndefined()
    const err4 = catchSync(() => resetEntrySync(B('missing\xe9')))
    expectFsError(err4, 'ENOENT', { path: lossy('missing\xe9') })
    // Truncated, overlong, surrogate and out-of-range sequences: one U+FFFD per maximal
    // invalid part, as Rust's to_string_lossy and Node's decoder both do.
    for (const bad of ['\xe2\x82x', '\xf0\x9f\x98', '\xed\xa0\x80', '\xc0\xaf', '\xff\xfe', '\xf4\x90\x80\x80', 'ok\xe2\x82']) {
      expect(catchSync(() => resetEntrySync(B(bad)))).toMatchObject({ code: 'ENOENT', path: lossy(bad) })
    }
    const err5 = catchSync(() => importFilesSync([{ path: 'a', src: B('missing\xe9') }], { into: B('into\xe9') }))
    // The stage's path in the error is given as `into`'s, as natively.
    expectFsError(err5, 'ENOENT', { path: lossy('missing\xe9'), dest: lossy('into\xe9/a') })
    expect(names(Buffer.from(dir))).toEqual(['file\xe9'].sort())
  })
})
