// Many processes linking one cache entry at once, each with many calls in flight: resets are
// serialized per entry (one copy per limit crossing), `maxLinks` is a cap, and no call fails.
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, linkFileSync } from '../ts/index.js'
import { catchSync, expectFsError, isRoot, jsBackend, leftovers, mount, type Mounted, onLinux, skipWithout, skipWithoutFuse } from './helpers.js'

const fixtures = join(import.meta.dirname, 'fixtures')

interface Racer {
  calls: number
  resets: number
  errorCount: number
  errors: string[]
}

/** `procs` processes of racer.mjs, each making `calls` calls with `inflight` of them at once (`maxLinks` 0: none). */
async function race(
  entry: string,
  out: string,
  procs: number,
  calls: number,
  maxLinks: number,
  inflight: number,
  names?: number,
) {
  const one = (id: number) =>
    new Promise<Racer>((resolve, reject) => {
      const args = [join(fixtures, 'racer.mjs'), entry, out, String(calls), String(id), maxLinks ? String(maxLinks) : '-', String(inflight)]
      if (names) args.push(String(names))
      const env = { ...process.env, UV_THREADPOOL_SIZE: String(inflight) }
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env })
      let text = ''
      child.stdout.on('data', (d) => (text += d))
      child.on('error', reject)
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`racer.mjs exited ${code}`))))
    })
  const results = await Promise.all(Array.from({ length: procs }, (_, id) => one(id)))
  const resets = results.reduce((n, r) => n + r.resets, 0)
  const errorCount = results.reduce((n, r) => n + r.errorCount, 0)
  return { resets, errorCount, errors: results.flatMap((r) => r.errors) }
}

/**
 * Every destination under `out` has `content`; per inode: how many destinations, and the most
 * links any inode has now (the entry's own name included, for the inode it still names).
 */
function inodes(out: string, content: Buffer) {
  const perInode = new Map<number, number>()
  let maxLinks = 0
  let files = 0
  for (const sub of fs.readdirSync(out)) {
    for (const name of fs.readdirSync(join(out, sub))) {
      const p = join(out, sub, name)
      const st = fs.statSync(p)
      perInode.set(st.ino, (perInode.get(st.ino) ?? 0) + 1)
      maxLinks = Math.max(maxLinks, st.nlink)
      if (files++ % 53 === 0) expect(fs.readFileSync(p).equals(content)).toBe(true)
    }
  }
  return { files, inodes: perInode.size, maxLinks }
}

/** A cache directory holding one hot entry with `content`, and where its links go, under `root/name`. */
function hotEntry(root: string, name: string, content: Buffer): { cache: string; out: string; entry: string } {
  const cache = join(root, name, 'cache')
  fs.mkdirSync(cache, { recursive: true })
  const entry = join(cache, 'hot')
  fs.writeFileSync(entry, content)
  return { cache, out: join(root, name, 'out'), entry }
}

describe.skipIf(skipWithout('tmpfs'))('racing processes on tmpfs', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('tmpfs', 256)
  })
  afterAll(() => fsys?.unmount())

  it('maxLinks: 2, 8 processes with 32 calls in flight each: 15,000 calls, no errors', async () => {
    const content = Buffer.from('two links per inode\n')
    const { cache, out, entry } = hotEntry(fsys.dir, 'two', content)
    const r = await race(entry, out, 8, 1875, 2, 32)
    const seen = inodes(out, content)
    console.log(`maxLinks 2, 8x32: ${r.errorCount} errors, ${r.resets} resets, ${seen.inodes} inodes, max ${seen.maxLinks} links`)
    expect(r.errors).toEqual([])
    expect(r.errorCount).toBe(0)
    expect(seen.files).toBe(15_000)
    expect(seen.maxLinks).toBeLessThanOrEqual(2)
    expect(fs.readFileSync(entry).equals(content)).toBe(true)
    expect(leftovers(cache)).toEqual([])
  })

  it('maxLinks: 2, 8x32 calls replacing their destinations over and over (inodes dying under links): no errors', async () => {
    const content = Buffer.from('replaced over and over\n')
    const { cache, out, entry } = hotEntry(fsys.dir, 'churn', content)
    const r = await race(entry, out, 8, 1875, 2, 32, 1)
    const seen = inodes(out, content)
    console.log(`maxLinks 2, 8x32, replacing: ${r.errorCount} errors, ${r.resets} resets, max ${seen.maxLinks} links`)
    expect(r.errors).toEqual([])
    expect(seen.files).toBe(8 * 32)
    expect(seen.maxLinks).toBeLessThanOrEqual(2)
    expect(leftovers(cache)).toEqual([])
  })

  it('maxLinks: 10 is a cap: 8 racing processes never leave more than 10 links on an inode', async () => {
    const content = Buffer.from('ten links per inode\n')
    const { cache, out, entry } = hotEntry(fsys.dir, 'ten', content)
    const r = await race(entry, out, 8, 1000, 10, 8)
    const seen = inodes(out, content)
    console.log(`maxLinks 10, 8x8: ${r.errorCount} errors, ${r.resets} resets, ${seen.inodes} inodes, max ${seen.maxLinks} links`)
    expect(r.errors).toEqual([])
    expect(seen.files).toBe(8000)
    expect(seen.maxLinks).toBeLessThanOrEqual(10)
    expect(leftovers(cache)).toEqual([])
  })
})

describe.skipIf(skipWithout('ext4'))('racing processes on ext4', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('ext4')
  })
  afterAll(() => fsys?.unmount())

  // The JS backend has no flock: its lock holds within a process only (README), so each of the
  // 8 processes may reset at a crossing. Never a wrong file, at most one reset per process.
  const bound = jsBackend ? 'at most one per process per crossing' : 'one reset per limit crossing (at most 1.1 x the minimum)'
  it(`maxLinks: 177 (EFS), 8 processes: ${bound}`, async () => {
    const max = 177
    const content = Buffer.alloc(16 * 1024, 'efs ')
    const { cache, out, entry } = hotEntry(fsys.dir, 'efs', content)
    const links = 8 * 2500
    const r = await race(entry, out, 8, 2500, max, 8)
    const seen = inodes(out, content)
    // The minimum: an inode holds `max` links, one of them the entry's name while it is the
    // entry. The first inode takes max - 1 destinations; each reset makes an inode that takes
    // max - 1 destinations (its first is the resetting call's). So `links` destinations need
    // ceil(links / (max - 1)) inodes, all but the first made by a reset.
    const minimum = Math.ceil(links / (max - 1)) - 1
    console.log(
      `maxLinks 177, 8x8, ${links} links: ${r.resets} resets (minimum ${minimum}), ${seen.inodes} inodes, ` +
        `${(links / seen.inodes).toFixed(1)} destinations per inode, max ${seen.maxLinks} links, ${r.errorCount} errors`,
    )
    expect(r.errors).toEqual([])
    expect(seen.files).toBe(links)
    expect(seen.inodes).toBe(r.resets + 1)
    expect(seen.maxLinks).toBeLessThanOrEqual(max)
    expect(r.resets).toBeLessThanOrEqual(jsBackend ? 8 * minimum : Math.floor(1.1 * minimum))
    expect(leftovers(cache)).toEqual([])
  })
})

/** nolinkfs.py mounted on a fresh directory: `created` collects the files it was asked to create. */
async function mountNolinkfs(linkLimit?: number): Promise<{ dir: string; created: string[]; unmount(): void }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'cachelink-nolinkfs-'))
  const dir = join(base, 'mnt')
  fs.mkdirSync(join(base, 'backing'))
  fs.mkdirSync(dir)
  const env = linkLimit ? { ...process.env, LINK_LIMIT: String(linkLimit) } : process.env
  const fuse = spawn('/usr/bin/python3', [join(fixtures, 'nolinkfs.py'), join(base, 'backing'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  })
  const created: string[] = []
  let text = ''
  fuse.stdout?.on('data', (d) => {
    text += d
    const lines = text.split('\n')
    text = lines.pop() ?? ''
    created.push(...lines)
  })
  for (let i = 0; i < 200 && !fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `); i++) {
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    dir,
    created,
    unmount() {
      try {
        execFileSync('umount', [dir])
      } finally {
        fuse.kill()
        fs.rmSync(base, { recursive: true, force: true })
      }
    },
  }
}

describe.skipIf(skipWithoutFuse())('a filesystem with a real 2-link limit (FUSE, several threads)', () => {
  let fsys: Awaited<ReturnType<typeof mountNolinkfs>>
  beforeAll(async () => {
    fsys = await mountNolinkfs(2)
  })
  afterAll(() => fsys?.unmount())

  // Point 7: link() fails with ENOENT while other processes reset the entry (the inode a call
  // looked up lost its name; through FUSE even the entry's path names nothing for a moment).
  // Before: 80 to 397 of 2,400 calls failed with ENOENT. This FUSE filesystem (fusepy's
  // path-based API) still gives an odd spurious ENOENT of its own under renames, so the test
  // allows 0.5%.
  it('8 processes with 32 calls in flight each: no ENOENT from the entry vanishing', async () => {
    const content = Buffer.from('two links here\n')
    const { cache, out, entry } = hotEntry(fsys.dir, 'two', content)
    const r = await race(entry, out, 8, 300, 0, 32)
    const seen = inodes(out, content)
    console.log(`real 2-link limit (FUSE), 8x32: ${r.errorCount} errors, ${r.resets} resets, max ${seen.maxLinks} links`)
    expect(r.errorCount).toBeLessThanOrEqual(12)
    expect(seen.files + r.errorCount).toBe(2400)
    expect(seen.maxLinks).toBeLessThanOrEqual(2)
    expect(fs.readFileSync(entry).equals(content)).toBe(true)
    expect(leftovers(cache)).toEqual([])
  })
})

describe.skipIf(skipWithoutFuse())('a filesystem with a real 8-link limit (FUSE, several threads)', () => {
  let fsys: Awaited<ReturnType<typeof mountNolinkfs>>
  beforeAll(async () => {
    fsys = await mountNolinkfs(8)
  })
  afterAll(() => fsys?.unmount())

  // Calls queued on the lock of an inode find it replaced when their turn comes. They used to
  // give up after 8 tries and reset without the lock, replacing an inode another call had just
  // made and linked: that destination kept its one link (a copy in all but name). Before: 524
  // and 577 of 4,800 destinations so, with 1,342 resets (pnpm.spec once saw 1 in 77,000).
  // The JS backend has no lock across processes (README): there only the files are checked.
  it(`8 processes with 32 calls in flight each: ${jsBackend ? 'every file whole' : 'one reset per crossing, no destination left with one link'}`, async () => {
    const content = Buffer.from('eight links here\n')
    const { cache, out, entry } = hotEntry(fsys.dir, 'eight', content)
    const r = await race(entry, out, 8, 600, 0, 32)
    const seen = inodes(out, content)
    let alone = 0
    for (const sub of fs.readdirSync(out)) for (const name of fs.readdirSync(join(out, sub))) if (fs.statSync(join(out, sub, name)).nlink === 1) alone++
    // 7 destinations per inode: the entry's name takes the 8th link while it is the entry.
    const minimum = Math.ceil(4800 / 7) - 1
    console.log(`real 8-link limit (FUSE), 8x32: ${r.errorCount} errors, ${r.resets} resets (minimum ${minimum}), ${alone} destinations with one link`)
    expect(r.errorCount).toBeLessThanOrEqual(24)
    expect(seen.files + r.errorCount).toBe(4800)
    expect(seen.maxLinks).toBeLessThanOrEqual(8)
    expect(fs.readFileSync(entry).equals(content)).toBe(true)
    if (!jsBackend) {
      expect(alone).toBe(0)
      expect(r.resets).toBeLessThanOrEqual(Math.floor(1.1 * minimum))
    }
    expect(leftovers(cache)).toEqual([])
  })
})

describe.skipIf(skipWithoutFuse())('a filesystem that refuses every hard link with EMLINK (FUSE)', () => {
  let fsys: Awaited<ReturnType<typeof mountNolinkfs>>
  let dir: string
  let created: string[] = []
  beforeAll(async () => {
    fsys = await mountNolinkfs()
    dir = fsys.dir
    created = fsys.created
  })
  afterAll(() => fsys?.unmount())
  beforeEach(() => {
    clearFallbackMemo()
    created.length = 0
  })

  it('copies at the limit after one failed reset, with no error and no reset on later calls', async () => {
    const entry = join(dir, 'entry')
    fs.writeFileSync(entry, 'no links here\n')
    fs.mkdirSync(join(dir, 'out'))
    created.length = 0
    for (let i = 0; i < 20; i++) {
      const dest = join(dir, 'out', String(i))
      // A throw (the EMLINK this used to give) fails the test with the error itself.
      const r = linkFileSync(entry, dest)
      expect(r).toMatchObject({ method: 'copy', reset: false, linkLimit: 'copy' })
      expect(fs.readFileSync(dest, 'utf8')).toBe('no links here\n')
    }
    // The sync calls held the event loop: let nolinkfs.py's lines in.
    await new Promise((r) => setTimeout(r, 300))
    // One reset's temp beside the entry (created twice when a clone is tried first): count the
    // names. The copies go through temps of their own beside each destination (no O_TMPFILE
    // here), named after the destination.
    const temps = [...new Set(created.filter((p) => p.includes('.entry.cachelink-')))]
    console.log(`nolinkfs, 20 calls: ${temps.length} reset temp file(s), ${created.length} files created`)
    expect(temps.length).toBe(1)
    expect(fs.readdirSync(dir).sort()).toEqual(['entry', 'out'])
    expect(fs.readdirSync(join(dir, 'out')).sort()).toEqual(Array.from({ length: 20 }, (_, i) => String(i)).sort())
    // Asked for: the error.
    const err = catchSync(() => linkFileSync(entry, join(dir, 'e'), { onLinkLimit: 'error' }))
    expectFsError(err, 'EMLINK', { syscall: 'link', path: entry })
  })
})
