/**
 * Network filesystems that hide link counts (issue 19, point 14): over SFTP (sshfs, served by an
 * sshd of the test's own on 127.0.0.1) every file reports one link and the server's EMLINK
 * arrives as EPERM. The served directory is nolinkfs.py with a real limit of 8 links.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, importFiles, linkFile, linkFileSync, probe } from '../ts/index.js'
import { leftovers, mount, type Mounted, skipWithout } from './helpers.js'
import { type Sftp, skipWithoutSshfs, startNolinkfs, startSftp } from './sshfs.js'

const LIMIT = 8

describe.skipIf(skipWithoutSshfs() || skipWithout('tmpfs'))('an sshfs mount (link counts hidden, EMLINK as EPERM)', () => {
  let sftp: Sftp | undefined
  let nolinkfs: Awaited<ReturnType<typeof startNolinkfs>> | undefined
  let tmpfs: Mounted | undefined
  /** sshfs over nolinkfs.py (8 links per file on the server). */
  let dir: string
  let n = 0
  beforeAll(async () => {
    try {
      tmpfs = mount('tmpfs')
      nolinkfs = await startNolinkfs(LIMIT)
      sftp = await startSftp()
      dir = sftp.mount(nolinkfs.dir)
    } catch (e) {
      sftp?.stop()
      nolinkfs?.stop()
      tmpfs?.unmount()
      throw e
    }
  }, 30_000)
  afterAll(() => {
    // The sshfs mount first (it holds nolinkfs.py's files), then the server, then the FUSE fs.
    sftp?.stop()
    nolinkfs?.stop()
    tmpfs?.unmount()
  })
  beforeEach(() => clearFallbackMemo())

  /** A fresh folder on the mount with a cache and a project. */
  function place(): { cache: string; out: string } {
    const base = join(dir, `t${n++}`)
    fs.mkdirSync(join(base, 'cache'), { recursive: true })
    fs.mkdirSync(join(base, 'out'))
    return { cache: join(base, 'cache'), out: join(base, 'out') }
  }

  it('probe reports that the link counts of the mount are hidden, and real ones on tmpfs', async () => {
    const { cache, out } = place()
    fs.writeFileSync(join(cache, 'entry'), 'content\n')
    const p = await probe(cache, out)
    expect(p.methods.hardlink.works).toBe(true)
    expect(p.linkCounts).toBe('hidden')
    const local = join(tmpfs!.dir, 'probe')
    fs.mkdirSync(join(local, 'cache'), { recursive: true })
    fs.mkdirSync(join(local, 'out'))
    fs.writeFileSync(join(local, 'cache', 'entry'), 'content\n')
    expect((await probe(join(local, 'cache'), join(local, 'out'))).linkCounts).toBe('real')
    // No hard link to try with (a copy-only target elsewhere): not known.
    expect((await probe(join(local, 'cache'), out)).linkCounts).toBe('unknown')
    expect(leftovers(cache)).toEqual([])
    expect(fs.readdirSync(out)).toEqual([])
  })

  it('maxLinks where link counts are hidden is reported in the result, not silently ignored', async () => {
    const { cache, out } = place()
    const entry = join(cache, 'entry')
    fs.writeFileSync(entry, 'content\n')
    // Below the server's limit: linked, and the result says the cap could not be applied.
    const first = await linkFile(entry, join(out, 'a'), { maxLinks: 3 })
    expect(first).toMatchObject({ method: 'hardlink', linkCounts: 'hidden' })
    const second = linkFileSync(entry, join(out, 'b'), { maxLinks: 3 })
    expect(second).toMatchObject({ method: 'hardlink', linkCounts: 'hidden' })
    // Without maxLinks nothing is looked at after the link (the fast path costs nothing).
    expect((await linkFile(entry, join(out, 'c'))).linkCounts).toBe(null)
    // An import says how many of its links could not be held to the cap.
    const stats = await importFiles(
      [
        { src: entry, path: 'x' },
        { src: entry, path: 'y' },
      ],
      { into: join(out, 'pkg'), maxLinks: 3 },
    )
    expect(stats).toMatchObject({ hardlinked: 2, maxLinksUnchecked: 2 })
    // On tmpfs, real counts: null, and the cap holds.
    const local = join(tmpfs!.dir, 'cap')
    fs.mkdirSync(local)
    fs.writeFileSync(join(local, 'entry'), 'x')
    expect((await linkFile(join(local, 'entry'), join(local, 'a'), { maxLinks: 3 })).linkCounts).toBe(null)
  })

  it('an entry at the server link limit is reset, and its next links are links again', async () => {
    const { cache, out } = place()
    const entry = join(cache, 'entry')
    fs.writeFileSync(entry, 'full entry\n')
    // The entry has 1 + 7 links on the server: full.
    for (let i = 0; i < LIMIT - 1; i++) fs.linkSync(entry, join(out, `pre${i}`))
    const r = await linkFile(entry, join(out, 'next'))
    expect(r).toMatchObject({ method: 'hardlink', reset: true, linkLimit: 'reset' })
    expect(fs.readFileSync(join(out, 'next'), 'utf8')).toBe('full entry\n')
    // The fresh inode takes links again (on the server: 2 links after this one).
    expect(await linkFile(entry, join(out, 'after'))).toMatchObject({ method: 'hardlink', reset: false })
    expect(leftovers(cache)).toEqual([])
  })

  it('one full entry does not turn hard links off for the mount: it is reset, later cold entries are linked', async () => {
    const { cache, out } = place()
    const files = ['full', 'a', 'b', 'c']
    for (const f of files) fs.writeFileSync(join(cache, f), `file ${f}\n`)
    // `full` is at the server's limit, and the first file this process links there.
    for (let i = 0; i < LIMIT - 1; i++) fs.linkSync(join(cache, 'full'), join(cache, `full.pre${i}`))
    const stats = await importFiles(
      files.map((f) => ({ src: join(cache, f), path: f })),
      { into: join(out, 'pkg') },
    )
    expect(stats).toMatchObject({ hardlinked: 4, copied: 0, resets: 1, fallbacks: [] })
    // A later call of the process still links cold entries.
    fs.writeFileSync(join(cache, 'd'), 'file d\n')
    expect(await linkFile(join(cache, 'd'), join(out, 'd'))).toMatchObject({ method: 'hardlink', fallbacks: [] })
    expect(leftovers(cache)).toEqual([])
  })

  it('with onLinkLimit copy, a full entry after links worked is copied for itself only', async () => {
    const { cache, out } = place()
    const files = ['a', 'b', 'full', 'c']
    for (const f of files) fs.writeFileSync(join(cache, f), `file ${f}\n`)
    for (let i = 0; i < LIMIT - 1; i++) fs.linkSync(join(cache, 'full'), join(cache, `full.pre${i}`))
    const stats = await importFiles(
      files.map((f) => ({ src: join(cache, f), path: f })),
      { into: join(out, 'pkg'), onLinkLimit: 'copy' },
    )
    // The EPERM is this file's refusal (SFTP's word for the server's EMLINK), not "no links".
    expect(stats).toMatchObject({ hardlinked: 3, copied: 1, linkRefusedCopies: 1 })
    expect(stats.fallbacks.filter((f) => f.method === 'hardlink')).toEqual([])
    fs.writeFileSync(join(cache, 'e'), 'file e\n')
    const again = await importFiles(
      ['a', 'e'].map((f) => ({ src: join(cache, f), path: f })),
      { into: join(out, 'pkg2') },
    )
    expect(again).toMatchObject({ hardlinked: 2, copied: 0 })
  })
})
