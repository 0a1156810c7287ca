/**
 * Issue 10, points 1, 2, 3, 11 and 12: what cachelink creates has exactly the right mode and
 * owner, is absent or complete after a kill, fails with errors that say what happened and name
 * the caller's paths, and a failed import leaves nothing it made.
 */
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { cleanTemp, clearFallbackMemo, importFiles, linkFile, linkFileSync, resetEntrySync } from '../ts/index.js'
import { catchSync, isRoot, leftovers, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

const fixtures = join(import.meta.dirname, 'fixtures')

beforeEach(() => clearFallbackMemo())

function node(script: string, args: string[]): string {
  return execFileSync(process.execPath, [join(fixtures, script), ...args], { encoding: 'utf8' })
}

function sha1(path: string): string {
  return createHash('sha1').update(fs.readFileSync(path)).digest('hex')
}

const mode = (p: string) => fs.statSync(p).mode & 0o7777

describe.skipIf(skipWithout('tmpfs', 'btrfs'))('modes under the umask (point 1)', () => {
  const mounts: Mounted[] = []
  beforeAll(() => {
    mounts.push(mount('tmpfs', 16), mount('btrfs'))
  })
  afterAll(() => {
    for (const m of mounts) m.unmount()
  })

  for (const [umask, want] of [
    ['077', '644'],
    ['027', '755'],
  ]) {
    it(`under umask ${umask}, a ${want} entry stays ${want} after a reset, and every copy is ${want}`, () => {
      for (const m of mounts) {
        const dir = join(m.dir, `umask-${umask}`)
        fs.mkdirSync(dir)
        const got = JSON.parse(node('modes.mjs', [umask, dir, want]))
        console.log(`umask ${umask}, entry ${want}, ${m.kind}: ${JSON.stringify(got)}`)
        expect({ fs: m.kind, ...got }).toEqual({
          fs: m.kind,
          resetByLink: want,
          resetEntry: want,
          copy: want,
          limitCopy: want,
          importCopy: want,
          importCopyExisting: want,
        })
      }
    })
  }
})

describe.skipIf(!isRoot || skipWithout('tmpfs'))('set-id bits and owners, as root (points 1 and 2)', () => {
  let m: Mounted
  beforeAll(() => {
    m = mount('tmpfs', 16)
  })
  afterAll(() => m?.unmount())

  for (const bits of [0o4755, 0o2755, 0o6755]) {
    it(`a reset keeps another user's ${bits.toString(8)} entry: owner 1234:1234 and the set-id bits`, () => {
      const dir = join(m.dir, `reset-${bits.toString(8)}`)
      fs.mkdirSync(dir)
      const entries = [join(dir, 'by-reset-entry'), join(dir, 'by-link')]
      for (const e of entries) {
        fs.writeFileSync(e, '#!/bin/sh\n')
        fs.chownSync(e, 1234, 1234)
        fs.chmodSync(e, bits)
      }
      resetEntrySync(entries[0])
      fs.linkSync(entries[1], join(dir, 'old'))
      expect(linkFileSync(entries[1], join(dir, 'dest'), { maxLinks: 2 }).reset).toBe(true)
      for (const e of entries) {
        const st = fs.statSync(e)
        expect([e, st.uid, st.gid, (st.mode & 0o7777).toString(8)]).toEqual([e, 1234, 1234, bits.toString(8)])
      }
    })
  }

  it("a copy by root keeps root's own set-id bits (as fs.copyFile) but never makes another user's file setuid-root", () => {
    const dir = join(m.dir, 'copies')
    fs.mkdirSync(dir)
    const own = join(dir, 'own')
    const theirs = join(dir, 'theirs')
    for (const f of [own, theirs]) {
      fs.writeFileSync(f, '#!/bin/sh\n')
      if (f === theirs) fs.chownSync(f, 1234, 1234) // before the chmod: chown clears set-id bits
      fs.chmodSync(f, 0o6755)
    }
    expect(mode(theirs).toString(8)).toBe('6755')
    linkFileSync(own, join(dir, 'own.copy'), { method: 'copy' })
    linkFileSync(theirs, join(dir, 'theirs.copy'), { method: 'copy' })
    expect(mode(join(dir, 'own.copy')).toString(8)).toBe('6755')
    expect(mode(join(dir, 'theirs.copy')).toString(8)).toBe('755')
    expect(fs.statSync(join(dir, 'theirs.copy')).uid).toBe(0)
  })
})

/** Starts copier.mjs, kills it `delayMs` after it says "go"; resolves when it is gone. */
function killedCopy(src: string, dest: string, options: object, delayMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(fixtures, 'copier.mjs'), src, dest, JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stderr.on('data', (d) => (out += `error: ${d}`))
    child.stdout.on('data', (d) => {
      out += d
      if (out.startsWith('go\n') && !out.includes('killing')) {
        out += 'killing'
        setTimeout(() => child.kill('SIGKILL'), delayMs)
      }
    })
    child.on('error', reject)
    child.on('exit', () => resolve(out))
  })
}

// exFAT (FUSE): no O_TMPFILE, no hard links, so a copy there takes the named temp file and its rename.
describe.skipIf(skipWithout('tmpfs', 'ext4', 'exfat'))('a killed copy leaves the destination absent or complete (point 3)', () => {
  const SIZE = 200 * 1024 * 1024
  let tmp: Mounted
  let ext4: Mounted
  let exfat: Mounted
  let src: string
  let hash: string
  let readOnly: string
  beforeAll(() => {
    tmp = mount('tmpfs', 700)
    ext4 = mount('ext4', 600)
    exfat = mount('exfat', 600)
    src = join(tmp.dir, 'big')
    const chunk = Buffer.alloc(1024 * 1024)
    const fd = fs.openSync(src, 'w')
    for (let i = 0; i < SIZE / chunk.length; i++) {
      chunk.fill(i % 251)
      fs.writeSync(fd, chunk)
    }
    fs.closeSync(fd)
    fs.linkSync(src, join(tmp.dir, 'big.second-link'))
    hash = sha1(src)
    // The same cache through a read-only bind mount: a reset there is impossible (EROFS).
    readOnly = fs.mkdtempSync(join(tmpdir(), 'cachelink-ro-'))
    execFileSync('mount', ['--bind', tmp.dir, readOnly])
    execFileSync('mount', ['-o', 'remount,bind,ro', readOnly])
  })
  afterAll(() => {
    if (readOnly) {
      execFileSync('umount', [readOnly])
      fs.rmdirSync(readOnly)
    }
    tmp?.unmount()
    ext4?.unmount()
    exfat.unmount()
  })

  const cases: Array<[string, () => string, object, (() => string)?]> = [
    ["method 'copy' (tmpfs)", () => join(tmp.dir, 'out-copy'), { method: 'copy' }],
    ["onLinkLimit 'copy' (tmpfs)", () => join(tmp.dir, 'out-limit'), { maxLinks: 2, onLinkLimit: 'copy' }],
    ["'auto' falling back to copy across devices (tmpfs to ext4)", () => join(ext4.dir, 'out-auto'), {}],
    ["method 'copy' onto exFAT (FUSE: no O_TMPFILE, no hard links)", () => join(exfat.dir, 'out-exfat'), { method: 'copy' }],
    [
      "'copy-readonly-cache' (the entry at maxLinks behind a read-only bind mount)",
      () => join(tmp.dir, 'out-ro'),
      { maxLinks: 2 },
      () => join(readOnly, 'big'),
    ],
  ]
  for (const [name, outDir, options, from] of cases) {
    it(`${name}: SIGKILL at 9 moments, never a partial file`, async () => {
      const dir = outDir()
      fs.mkdirSync(dir)
      const seen: string[] = []
      const partial: number[] = []
      for (const [i, delay] of [0, 3, 8, 15, 30, 60, 120, 250, 5000].entries()) {
        clearFallbackMemo()
        const dest = join(dir, `dest-${i}`)
        const out = await killedCopy(from ? from() : src, dest, options, delay)
        const names = fs.readdirSync(dir).filter((n) => n !== dest.slice(dir.length + 1) && !n.startsWith('dest-'))
        let state = 'absent'
        if (fs.existsSync(dest)) {
          const size = fs.statSync(dest).size
          if (size === SIZE && sha1(dest) === hash) state = 'complete'
          else {
            state = `partial ${(size / 1024 / 1024).toFixed(0)} MB`
            partial.push(size)
          }
        }
        seen.push(`${delay} ms: ${state}${out.includes('done') ? ' (finished)' : ''}${names.length ? ` + ${names.length} temp` : ''}`)
        expect(out).not.toContain('error:')
        if (from && out.includes('done')) expect(out).toContain('"linkLimit":"copy-readonly-cache","resetError":"EROFS"')
        fs.rmSync(dest, { force: true }) // room for the next one
        for (const n of names) expect(n).toContain('.cachelink-')
        const { removed } = await cleanTemp(dir, { olderThanMs: 0 })
        expect(removed.length).toBe(names.length)
      }
      console.log(`killed copies, ${name}: ${seen.join('; ')}`)
      expect(partial).toEqual([])
      expect(leftovers(dir)).toEqual([])
    })
  }
})

describe.skipIf(skipWithout('tmpfs'))('errors say what happened and name the caller\'s paths (point 11)', () => {
  let m: Mounted
  beforeAll(() => {
    m = mount('tmpfs', 400)
  })
  afterAll(() => m?.unmount())

  it('a source that shrinks during a copy: ERR_CACHELINK_SOURCE_CHANGED, src and dest named, nothing left', async () => {
    const dir = join(m.dir, 'shrink')
    fs.mkdirSync(dir)
    const src = join(dir, 'src')
    const errors: Array<Record<string, unknown>> = []
    for (const [i, delay] of [1, 2, 4, 8, 16].entries()) {
      fs.writeFileSync(src, Buffer.alloc(100 * 1024 * 1024, 1))
      const dest = join(dir, `dest-${i}`)
      const pending = linkFile(src, dest, { method: 'copy' }).catch((e) => e)
      await new Promise((r) => setTimeout(r, delay))
      fs.truncateSync(src, 4096)
      const r = await pending
      if (r instanceof Error) {
        const e = r as Error & Record<string, unknown>
        errors.push({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, dest: e.dest, message: e.message })
        expect(e).toMatchObject({ code: 'ERR_CACHELINK_SOURCE_CHANGED', syscall: 'copyfile', path: src, dest })
        expect(e.message).toBe(`ERR_CACHELINK_SOURCE_CHANGED: the source changed size while it was copied, copyfile '${src}' -> '${dest}'`)
        expect(fs.existsSync(dest)).toBe(false)
      }
    }
    console.log(`shrinking source: ${errors.length} of 5 copies caught it: ${JSON.stringify(errors[0])}`)
    expect(errors.length).toBeGreaterThan(0)
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('dest-') || n.includes('.cachelink-')).length).toBe(5 - errors.length)
  })

  it("an error inside a reset (ENOSPC) names the caller's src and dest, never the temp file", async () => {
    const small = mount('tmpfs', 16)
    try {
      const entry = join(small.dir, 'entry')
      fs.writeFileSync(entry, Buffer.alloc(10 * 1024 * 1024, 2))
      fs.linkSync(entry, join(small.dir, 'old'))
      const dest = join(small.dir, 'dest')
      const err = await linkFile(entry, dest, { maxLinks: 2 }).catch((e) => e)
      console.log(`reset on a full filesystem: ${err.message}`)
      expect(err).toMatchObject({ code: 'ENOSPC', path: entry, dest })
      expect(err.message).not.toContain('.cachelink-')
      const alone = catchSync(() => resetEntrySync(entry)) as Error & Record<string, unknown>
      console.log(`resetEntry on a full filesystem: ${alone.message}`)
      expect(alone).toMatchObject({ code: 'ENOSPC', path: entry })
      expect(alone.dest).toBeUndefined()
      expect(fs.existsSync(dest)).toBe(false)
      expect(leftovers(small.dir)).toEqual([])
      expect(fs.statSync(entry).nlink).toBe(2)
    } finally {
      small.unmount()
    }
  })

  it('a reset whose final rename fails (EBUSY: the entry is a mount point) says so, and the entry is unchanged', () => {
    const dir = join(m.dir, 'busy')
    fs.mkdirSync(dir)
    const entry = join(dir, 'entry')
    const over = join(dir, 'mounted')
    fs.writeFileSync(entry, 'under')
    fs.writeFileSync(over, 'cached bytes')
    fs.linkSync(over, join(dir, 'mounted.second-link'))
    execFileSync('mount', ['--bind', over, entry])
    try {
      const before = fs.statSync(entry)
      const dest = join(dir, 'dest')
      const r = linkFileSync(entry, dest, { maxLinks: 2 })
      console.log(`reset with a failing rename: ${JSON.stringify(r)}`)
      expect(r).toMatchObject({ method: 'copy', reset: false, linkLimit: 'copy-readonly-cache', resetError: 'EBUSY' })
      expect(fs.readFileSync(dest, 'utf8')).toBe('cached bytes')
      const after = fs.statSync(entry)
      expect([after.ino, after.nlink]).toEqual([before.ino, before.nlink])
      const err = catchSync(() => resetEntrySync(entry)) as Error & Record<string, unknown>
      console.log(`resetEntry with a failing rename: ${err.message}`)
      expect(err).toMatchObject({ code: 'EBUSY', syscall: 'rename', path: entry })
      expect(err.message).not.toContain('.cachelink-')
      expect(leftovers(dir)).toEqual([])
    } finally {
      execFileSync('umount', [entry])
    }
  })
})

describe('a failed import removes the parents of into it created (point 12)', () => {
  it('on an error and on an abort: only the directories it made, and only empty ones', async () => {
    const dir = sandbox()
    try {
      fs.writeFileSync(join(dir, 'ok'), 'ok')
      fs.mkdirSync(join(dir, 'kept'))
      const entries = [
        { path: 'a.js', src: join(dir, 'ok') },
        { path: 'lib/missing.js', src: join(dir, 'no-such-file') },
      ]
      const err = await importFiles(entries, { into: join(dir, 'kept', 'x', 'y', 'into') }).catch((e) => e)
      expect(err).toMatchObject({ code: 'ENOENT' })
      const many = Array.from({ length: 20_000 }, (_, i) => ({ path: `d${i % 50}/${i}`, src: join(dir, 'ok') }))
      const ac = new AbortController()
      const aborted = await importFiles(many, {
        into: join(dir, 'kept', 'p', 'q', 'into'),
        method: 'copy',
        signal: ac.signal,
        onProgress: () => ac.abort(),
      }).catch((e) => e)
      expect(aborted).toMatchObject({ name: 'AbortError' })
      const left = fs.readdirSync(join(dir, 'kept'), { recursive: true })
      console.log(`after a failed and an aborted import: ${JSON.stringify(left)}`)
      expect(left).toEqual([])
      expect(fs.existsSync(join(dir, 'kept'))).toBe(true)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
