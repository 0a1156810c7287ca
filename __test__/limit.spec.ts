import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, linkFile, linkFileSync } from '../ts/index.js'
import { leftovers, mount, type Mounted, skipWithout } from './helpers.js'

const fixtures = join(import.meta.dirname, 'fixtures')

/** ext4's per-inode limit. */
const EXT4_LINK_MAX = 65000

function run(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(fixtures, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} exited ${code}`))))
  })
}

/** Links `entry` into `n` new names under `dir`, 1000 per subdirectory, with plain fs. */
function prefill(entry: string, dir: string, n: number) {
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `pre-${Math.floor(i / 1000)}`)
    if (i % 1000 === 0) fs.mkdirSync(sub, { recursive: true })
    fs.linkSync(entry, join(sub, String(i)))
  }
}

beforeEach(() => clearFallbackMemo())

describe.skipIf(skipWithout('ext4'))('the hard link limit on ext4 (real EMLINK at 65,000)', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('ext4')
  })
  afterAll(() => fsys?.unmount())

  it('links one cache file into 70,000 destinations: every call succeeds, with resets', () => {
    const cache = join(fsys.dir, 'single', 'cache')
    const out = join(fsys.dir, 'single', 'out')
    fs.mkdirSync(cache, { recursive: true })
    const entry = join(cache, 'ab12cd')
    fs.writeFileSync(entry, '#!/bin/sh\necho cached\n', { mode: 0o755 })
    const mtime = new Date('2021-06-07T08:09:10Z')
    fs.utimesSync(entry, mtime, mtime)
    const content = fs.readFileSync(entry)
    const firstIno = fs.statSync(entry).ino
    let resets = 0
    const inodes = new Set<number>()
    const started = performance.now()
    for (let d = 0; d < 70; d++) {
      const sub = join(out, String(d))
      fs.mkdirSync(sub, { recursive: true })
      for (let i = 0; i < 1000; i++) {
        const r = linkFileSync(entry, join(sub, String(i)))
        expect(r.method).toBe('hardlink')
        if (r.reset) {
          resets++
          expect(r.linkLimit).toBe('reset')
          expect(fs.existsSync(entry)).toBe(true)
        }
      }
    }
    const ms = performance.now() - started
    console.log(`70,000 linkFileSync calls on ext4: ${ms.toFixed(0)} ms, ${resets} reset(s)`)
    expect(resets).toBeGreaterThanOrEqual(1)
    for (let d = 0; d < 70; d++) {
      for (let i = 0; i < 1000; i++) {
        const p = join(out, String(d), String(i))
        const st = fs.statSync(p)
        inodes.add(st.ino)
        expect(st.mode & 0o777).toBe(0o755)
        if (i % 97 === 0) expect(fs.readFileSync(p).equals(content)).toBe(true)
      }
    }
    // Links made before the reset still hold the old inode, which is full.
    const first = fs.statSync(join(out, '0', '0'))
    expect(first.ino).toBe(firstIno)
    expect(first.nlink).toBe(EXT4_LINK_MAX - 1)
    expect(inodes.size).toBe(resets + 1)
    const now = fs.statSync(entry)
    expect(now.ino).not.toBe(firstIno)
    expect(now.mtimeMs).toBe(mtime.getTime())
    expect(now.mode & 0o777).toBe(0o755)
    expect(leftovers(cache)).toEqual([])
  })

  it("onLinkLimit 'copy' copies the one file; 'error' throws EMLINK", async () => {
    const dir = join(fsys.dir, 'modes')
    fs.mkdirSync(dir)
    const entry = join(dir, 'entry')
    fs.writeFileSync(entry, 'full')
    prefill(entry, join(dir, 'pre'), EXT4_LINK_MAX - 1)
    expect(fs.statSync(entry).nlink).toBe(EXT4_LINK_MAX)
    const copied = linkFileSync(entry, join(dir, 'c'), { onLinkLimit: 'copy' })
    expect(copied).toMatchObject({ method: 'copy', reset: false, linkLimit: 'copy' })
    const err = await linkFile(entry, join(dir, 'e'), { onLinkLimit: 'error' }).catch((e) => e)
    expect(err).toMatchObject({ code: 'EMLINK', syscall: 'link', path: entry, dest: join(dir, 'e') })
    expect(err.message).toBe(`EMLINK: too many links, link '${entry}' -> '${join(dir, 'e')}'`)
    expect(fs.existsSync(join(dir, 'e'))).toBe(false)
    expect(fs.statSync(entry).nlink).toBe(EXT4_LINK_MAX)
  })

  it('copies when the cache directory cannot be written (immutable), leaving the cache untouched', () => {
    const cache = join(fsys.dir, 'ro-cache')
    fs.mkdirSync(cache)
    const entry = join(cache, 'entry')
    fs.writeFileSync(entry, 'read only cache')
    prefill(entry, join(fsys.dir, 'ro-pre'), EXT4_LINK_MAX - 1)
    const before = fs.statSync(entry)
    spawnSyncOk('chattr', ['+i', cache])
    try {
      const r = linkFileSync(entry, join(fsys.dir, 'ro-dest'))
      expect(r).toMatchObject({ method: 'copy', reset: false, linkLimit: 'copy-readonly-cache', resetError: 'EPERM' })
      expect(fs.readFileSync(join(fsys.dir, 'ro-dest'), 'utf8')).toBe('read only cache')
    } finally {
      spawnSyncOk('chattr', ['-i', cache])
    }
    expect(fs.readdirSync(cache)).toEqual(['entry'])
    const after = fs.statSync(entry)
    expect([after.ino, after.nlink, after.mtimeMs]).toEqual([before.ino, before.nlink, before.mtimeMs])
  })

  it('4 processes linking past the limit at once: no errors, no corruption, no temp files, never missing', async () => {
    const cache = join(fsys.dir, 'race', 'cache')
    const out = join(fsys.dir, 'race', 'out')
    fs.mkdirSync(cache, { recursive: true })
    const entry = join(cache, 'hot')
    const content = Buffer.alloc(64 * 1024, 'cachelink ')
    fs.writeFileSync(entry, content)
    prefill(entry, join(fsys.dir, 'race', 'pre'), 60_000)
    const stop = join(fsys.dir, 'race', 'stop')
    const reader = run('reader.mjs', [entry, stop])
    const writers = [0, 1, 2, 3].map((id) => run('linker.mjs', [entry, out, '5000', String(id)]))
    const results = (await Promise.all(writers)).map((s) => JSON.parse(s))
    fs.writeFileSync(stop, '')
    const read = JSON.parse(await reader)
    console.log(`4 processes: resets ${results.map((r) => r.resets).join(', ')}; reader: ${read.reads} reads`)
    for (const r of results) expect(r.errors).toEqual([])
    expect(results.reduce((n, r) => n + r.resets, 0)).toBeGreaterThanOrEqual(1)
    expect(read.bad).toEqual([])
    expect(read.reads).toBeGreaterThan(0)
    let checked = 0
    for (const sub of fs.readdirSync(out)) {
      for (const name of fs.readdirSync(join(out, sub))) {
        expect(fs.readFileSync(join(out, sub, name)).equals(content)).toBe(true)
        checked++
      }
    }
    expect(checked).toBe(20_000)
    expect(fs.readFileSync(entry).equals(content)).toBe(true)
    expect(leftovers(cache)).toEqual([])
  })
})

describe.skipIf(skipWithout('tmpfs'))('maxLinks on tmpfs', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('tmpfs', 64)
  })
  afterAll(() => fsys?.unmount())

  it('never lets the entry exceed the cap, and counts the resets', async () => {
    const entry = join(fsys.dir, 'entry')
    fs.writeFileSync(entry, 'efs')
    fs.mkdirSync(join(fsys.dir, 'out'))
    let resets = 0
    for (let i = 0; i < 100; i++) {
      const r = await linkFile(entry, join(fsys.dir, 'out', String(i)), { maxLinks: 10 })
      expect(r.method).toBe('hardlink')
      if (r.reset) resets++
      expect(fs.statSync(entry).nlink).toBeLessThanOrEqual(10)
    }
    // 10 links per inode: the entry's own name and 9 destinations, then a reset.
    expect(resets).toBe(11)
    expect(leftovers(fsys.dir)).toEqual([])
  })

  it('a read-only cache (read-only bind mount): the reset is impossible, the file is copied', () => {
    const cache = join(fsys.dir, 'cache')
    const ro = join(fsys.dir, 'ro')
    fs.mkdirSync(cache)
    fs.mkdirSync(ro)
    const entry = join(cache, 'entry')
    fs.writeFileSync(entry, 'ro')
    fs.linkSync(entry, join(fsys.dir, 'second-link'))
    spawnSyncOk('mount', ['--bind', cache, ro])
    try {
      spawnSyncOk('mount', ['-o', 'remount,bind,ro', ro])
      const before = fs.statSync(entry)
      const r = linkFileSync(join(ro, 'entry'), join(fsys.dir, 'dest'), { maxLinks: 2 })
      expect(r).toMatchObject({ method: 'copy', reset: false, linkLimit: 'copy-readonly-cache', resetError: 'EROFS' })
      expect(fs.readFileSync(join(fsys.dir, 'dest'), 'utf8')).toBe('ro')
      const after = fs.statSync(entry)
      expect([after.ino, after.nlink, after.mtimeMs]).toEqual([before.ino, before.nlink, before.mtimeMs])
      expect(fs.readdirSync(cache)).toEqual(['entry'])
    } finally {
      spawnSyncOk('umount', [ro])
    }
  })
})

function spawnSyncOk(cmd: string, args: string[]) {
  execFileSync(cmd, args, { stdio: 'pipe' })
}
