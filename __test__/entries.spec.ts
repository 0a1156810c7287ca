// The shapes of importFiles' entries installers have (duplicates, names equal but for case,
// mutable files, symlinks, empty directories, Buffers, pnpm's filesMap), and the stats that say
// what was done, on real filesystems.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, type ImportEntry, importFiles, importFilesSync } from '../ts/index.js'
import { catchSync, leftovers, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

beforeEach(() => clearFallbackMemo())

describe.skipIf(skipWithout('ext4', 'exfat', 'btrfs'))('entries as installers have them', () => {
  let ext4: Mounted
  let exfat: Mounted
  let btrfs: Mounted
  let dir: string
  let store: string
  beforeAll(() => {
    ext4 = mount('ext4', 96)
    exfat = mount('exfat')
    btrfs = mount('btrfs', 128)
  })
  afterAll(() => {
    ext4?.unmount()
    exfat?.unmount()
    btrfs?.unmount()
  })
  beforeEach(() => {
    dir = sandbox(ext4.dir)
    store = join(dir, 'store')
    fs.mkdirSync(store)
  })

  const put = (name: string, text: string) => {
    const p = join(store, name)
    fs.writeFileSync(p, text)
    return p
  }
  const ino = (p: string) => fs.lstatSync(p).ino

  it('index.js and ./index.js: one file; the same path from two sources follows onConflict', async () => {
    const a = put('a', 'a')
    const b = put('b', 'b')
    let progress: { done: number; total: number } | undefined
    const dup = await importFiles(
      [
        { path: 'index.js', src: a },
        { path: './index.js', src: a },
        { path: 'lib//x.js', src: b },
        { path: 'lib/x.js', src: b },
      ],
      { into: join(dir, 'dup'), onProgress: (p) => (progress = p) },
    )
    expect(dup).toMatchObject({ files: 2, hardlinked: 2, conflicts: 0 })
    // Progress counts what is placed: the duplicates dropped are not in the total.
    expect(progress).toEqual({ done: 2, total: 2 })
    const two = [
      { path: 'index.js', src: a },
      { path: 'other.js', src: b },
      { path: './index.js', src: b },
    ]
    const err = (await importFiles(two, { into: join(dir, 'conflict') }).catch((e) => e)) as NodeJS.ErrnoException & { entry: string }
    expect(err.code).toBe('ERR_CACHELINK_ENTRY_CONFLICT')
    expect(err.entry).toBe('index.js')
    expect(err.message).toContain('two entries name the same path with different sources')
    expect(fs.existsSync(join(dir, 'conflict'))).toBe(false)
    const first = await importFiles(two, { into: join(dir, 'first'), onConflict: 'first' })
    expect(first).toMatchObject({ files: 2, conflicts: 1 })
    expect(fs.readFileSync(join(dir, 'first', 'index.js'), 'utf8')).toBe('a')
    const last = importFilesSync(two, { into: join(dir, 'last'), onConflict: 'last' })
    expect(last).toMatchObject({ files: 2, conflicts: 1 })
    expect(fs.readFileSync(join(dir, 'last', 'index.js'), 'utf8')).toBe('b')
    // A file where another entry needs a directory is an error whatever onConflict says.
    const clash = catchSync(() =>
      importFilesSync(
        [
          { path: 'lib', src: a },
          { path: 'lib/x.js', src: b },
        ],
        { into: join(dir, 'clash'), onConflict: 'last' },
      ),
    ) as NodeJS.ErrnoException & { entry: string }
    expect([clash.code, clash.entry]).toEqual(['ERR_CACHELINK_ENTRY_CONFLICT', 'lib'])
    expect(fs.existsSync(join(dir, 'clash'))).toBe(false)
  })

  it('GiHeadshot.js and GiHeadShot.js: both placed on ext4; a conflict on exFAT (case-insensitive), settled by onConflict', async () => {
    const one = put('one', 'headshot')
    const two = put('two', 'headShot')
    const entries = [
      { path: 'icons/GiHeadshot.js', src: one },
      { path: 'icons/GiHeadShot.js', src: two },
      { path: 'index.js', src: one },
    ]
    const onExt4 = await importFiles(entries, { into: join(dir, 'pkg') })
    expect(onExt4).toMatchObject({ files: 3, conflicts: 0 })
    expect(fs.readdirSync(join(dir, 'pkg', 'icons')).sort()).toEqual(['GiHeadShot.js', 'GiHeadshot.js'])
    const into = join(exfat.dir, 'pkg')
    const err = (await importFiles(entries, { into }).catch((e) => e)) as NodeJS.ErrnoException & { entry: string }
    expect([err.code, err.entry]).toEqual(['ERR_CACHELINK_ENTRY_CONFLICT', 'icons/GiHeadShot.js'])
    expect(err.message).toContain('differ only in case')
    expect(fs.readdirSync(exfat.dir).filter((n) => n !== 'System Volume Information')).toEqual([])
    const last = await importFiles(entries, { into, onConflict: 'last' })
    expect(last).toMatchObject({ files: 2, conflicts: 1, copied: 2 })
    expect(fs.readFileSync(join(into, 'icons', 'giheadshot.js'), 'utf8')).toBe('headShot')
    // The same source under both names is a duplicate, not a conflict.
    const same = await importFiles(
      [
        { path: 'A.js', src: one },
        { path: 'a.js', src: one },
      ],
      { into: join(exfat.dir, 'same') },
    )
    expect(same).toMatchObject({ files: 1, conflicts: 0 })
    expect(leftovers(exfat.dir)).toEqual([])
  })

  it('a mutable entry gets a file of its own: a copy on ext4, a clone on btrfs; never a link', async () => {
    const src = put('record', 'RECORD')
    const entries: ImportEntry[] = [
      { path: 'RECORD', src, mutable: true },
      { path: 'lib.py', src: put('lib', 'code') },
    ]
    const s = await importFiles(entries, { into: join(dir, 'venv') })
    expect(s).toMatchObject({ files: 2, hardlinked: 1, copied: 1 })
    expect(ino(join(dir, 'venv', 'RECORD'))).not.toBe(ino(src))
    fs.writeFileSync(join(dir, 'venv', 'RECORD'), 'edited')
    expect(fs.readFileSync(src, 'utf8')).toBe('RECORD')
    const bstore = sandbox(btrfs.dir)
    const bsrc = join(bstore, 'record')
    fs.writeFileSync(bsrc, 'RECORD'.repeat(2000))
    // auto's chain on Linux is hardlink, clone, copy: a mutable entry takes clone, copy.
    const onBtrfs = await importFiles([{ path: 'RECORD', src: bsrc, mutable: true }], { into: join(btrfs.dir, 'venv') })
    expect(onBtrfs).toMatchObject({ files: 1, cloned: 1, hardlinked: 0 })
    expect(ino(join(btrfs.dir, 'venv', 'RECORD'))).not.toBe(ino(bsrc))
  })

  it('symlink and directory entries, Buffer paths (names that are not UTF-8), pnpm’s filesMap as a plain object', async () => {
    const a = put('a', 'a')
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6a, 0x73]) // "café.js" in Latin-1
    const s = await importFiles(
      [
        { path: 'lib/index.js', src: a },
        { path: 'bin/run', symlink: '../lib/index.js' },
        { path: 'empty/deeper', dir: true },
        { path: latin1, src: Buffer.from(a) },
        { path: 'back\\slash.js', src: a },
      ],
      { into: join(dir, 'pkg') },
    )
    expect(s).toMatchObject({ files: 4, symlinked: 1, hardlinked: 3 })
    expect(fs.readlinkSync(join(dir, 'pkg', 'bin', 'run'))).toBe('../lib/index.js')
    expect(fs.readFileSync(join(dir, 'pkg', 'bin', 'run'), 'utf8')).toBe('a')
    expect(fs.readdirSync(join(dir, 'pkg', 'empty', 'deeper'))).toEqual([])
    const names = fs.readdirSync(join(dir, 'pkg'), { encoding: 'buffer' })
    expect(names.some((n) => n.equals(latin1))).toBe(true)
    expect(fs.readFileSync(join(dir, 'pkg', 'back\\slash.js'), 'utf8')).toBe('a')
    const filesMap = { 'package.json': put('pj', '{}'), 'lib/a.js': a }
    const fromObject = importFilesSync(filesMap, { into: join(dir, 'from-object') })
    expect(fromObject).toMatchObject({ files: 2, hardlinked: 2 })
    expect(fs.readFileSync(join(dir, 'from-object', 'package.json'), 'utf8')).toBe('{}')
    // Not a plain object: refused as before.
    expect(() => importFilesSync(new Date() as never, { into: join(dir, 'x') })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    )
  })

  it('the stats say why files were copied: a read-only cache at the cap, onLinkLimit copy, empty files, kept files', async () => {
    const cache = join(dir, 'cache')
    fs.mkdirSync(cache)
    const entries: ImportEntry[] = []
    for (let i = 0; i < 3; i++) {
      const p = join(cache, `f${i}`)
      fs.writeFileSync(p, `file ${i}`)
      fs.linkSync(p, join(dir, `other-link-${i}`))
      entries.push({ path: `f${i}.js`, src: p })
    }
    entries.push({ path: 'empty.js', src: put('empty', '') })
    execFileSync('chattr', ['+i', cache])
    try {
      const ro = await importFiles(entries, { into: join(dir, 'ro'), maxLinks: 2 })
      expect(ro).toMatchObject({ files: 4, copied: 3, readonlyCacheCopies: 3, resets: 0, emptyCreated: 1, linkLimitCopies: 0 })
      const copy = await importFiles(entries, { into: join(dir, 'copy'), maxLinks: 2, onLinkLimit: 'copy' })
      expect(copy).toMatchObject({ copied: 3, linkLimitCopies: 3, readonlyCacheCopies: 0, emptyCreated: 1 })
    } finally {
      execFileSync('chattr', ['-i', cache])
    }
    // Files already there, merged with ifExists: 'keep', are counted as kept, not placed.
    const keep = await importFiles(entries, { into: join(dir, 'copy'), ifExists: 'keep' })
    expect(keep).toMatchObject({ files: 0, kept: 4 })
  })
})
