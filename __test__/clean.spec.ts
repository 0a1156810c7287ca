/**
 * cleanTemp and scanCache on what a reset, an import or a user left, on a real ext4: a running
 * reset's temp that carries its entry's old mtime, temps of other hosts (a cache shared over
 * NFS/EFS), and names that only look like temps.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanTemp, cleanTempSync, scanCache } from '../ts/index.js'
import { addon } from '../ts/addon.js'
import { leftovers, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

const HEX = '0123456789abcdef'
/** A host id that is not this machine's. */
const OTHER = 'abcdef012345'

function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', '0']).pid
  if (!pid) throw new Error('no pid')
  return pid
}

/** This machine's host id, as cachelink writes it into temp names. */
function hostId(): string {
  return addon().hostId()
}

/** A file whose mtime is an hour old (as a reset stamps its entry's mtime on its temp) and whose ctime is now. */
function backdated(path: string): void {
  fs.writeFileSync(path, 'x')
  const hourAgo = new Date(Date.now() - 3_600_000)
  fs.utimesSync(path, hourAgo, hourAgo)
}

describe.skipIf(skipWithout('ext4'))('cleanTemp on ext4', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('ext4')
  })
  afterAll(() => fsys?.unmount())

  it('a running reset temp (its entry old mtime, a fresh ctime) survives the default clean', async () => {
    const dir = sandbox(fsys.dir)
    const pid = deadPid() // the reset runs elsewhere: its pid means nothing here
    const temps = Array.from({ length: 39 }, (_, i) => join(dir, `.entry${i}.cachelink-${pid}-${HEX}`))
    for (const t of temps) backdated(t)
    const { removed } = await cleanTemp(dir)
    console.log(`live reset temps removed by the default clean: ${removed.length} of ${temps.length}`)
    expect(removed).toEqual([])
    expect(temps.every((t) => fs.existsSync(t))).toBe(true)
    // Age is since the last status change: a fresh ctime is young whatever the mtime says.
    const { leftovers: found } = await scanCache(dir)
    expect(found).toHaveLength(39)
    expect(Math.max(...found.map((l) => l.ageMs))).toBeLessThan(60_000)
    // Gone once old enough (here: any age).
    expect((await cleanTemp(dir, { olderThanMs: 0 })).removed).toHaveLength(39)
    expect(leftovers(dir)).toEqual([])
  })

  it('a temp from another host is judged by its age alone, never by a pid looked up here', async () => {
    const dir = sandbox(fsys.dir)
    const me = hostId()
    expect(me).toMatch(/^[0-9a-f]{12}$/)
    expect(me).not.toBe(OTHER)
    // process.pid runs here, but on the other host it names some other process.
    const theirs = join(dir, `.a.cachelink-${OTHER}-${process.pid}-${HEX}`)
    const theirStage = join(dir, `.p.cachelink-stage-${OTHER}-${process.pid}-${HEX}`)
    const mine = join(dir, `.b.cachelink-${me}-${process.pid}-${HEX}`)
    const mineDead = join(dir, `.c.cachelink-${me}-${deadPid()}-${HEX}`)
    const old = join(dir, `.d.cachelink-${process.pid}-${HEX}`) // an older version's name: no host
    for (const t of [theirs, mine, mineDead, old]) backdated(t)
    fs.mkdirSync(theirStage)

    const scanned = await scanCache(dir)
    const byName = new Map(scanned.leftovers.map((l) => [l.path.slice(dir.length + 1), l]))
    expect(byName.get(`.a.cachelink-${OTHER}-${process.pid}-${HEX}`)).toMatchObject({ kind: 'temp', host: OTHER, thisHost: false, pid: process.pid })
    expect(byName.get(`.p.cachelink-stage-${OTHER}-${process.pid}-${HEX}`)).toMatchObject({ kind: 'stage', host: OTHER, thisHost: false })
    expect(byName.get(`.b.cachelink-${me}-${process.pid}-${HEX}`)).toMatchObject({ host: me, thisHost: true })
    expect(byName.get(`.d.cachelink-${process.pid}-${HEX}`)).toMatchObject({ host: null, thisHost: null })

    // Young: nothing goes by default, whatever the pids.
    expect((await cleanTemp(dir)).removed).toEqual([])
    // Any age: the other host's temp and stage go (their pid is not asked here), and so does this
    // host's temp whose process is gone; this host's live one and the old-format one of a live
    // pid stay.
    const { removed } = await cleanTemp(dir, { olderThanMs: 0 })
    expect(removed.map((l) => l.path).sort()).toEqual([theirs, mineDead, theirStage].sort())
    expect(fs.readdirSync(dir).sort()).toEqual([`.b.cachelink-${me}-${process.pid}-${HEX}`, `.d.cachelink-${process.pid}-${HEX}`])
  })

  it('a stage still being filled deep down is young, though its own ctime is old', async () => {
    const dir = sandbox(fsys.dir)
    const stage = join(dir, `.p.cachelink-stage-${OTHER}-1-${HEX}`)
    fs.mkdirSync(join(stage, 'd'), { recursive: true })
    await new Promise((r) => setTimeout(r, 1500))
    fs.writeFileSync(join(stage, 'd', 'f'), 'x') // changes d, not the stage itself
    await new Promise((r) => setTimeout(r, 500))
    expect((await cleanTemp(dir, { olderThanMs: 1000 })).removed).toEqual([])
    expect(fs.existsSync(join(stage, 'd', 'f'))).toBe(true)
    await new Promise((r) => setTimeout(r, 600))
    expect((await cleanTemp(dir, { olderThanMs: 1000 })).removed.map((l) => l.path)).toEqual([stage])
  })

  it('a temp of a live child process on this host stays until that process is gone', async () => {
    const dir = sandbox(fsys.dir)
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
    const temp = join(dir, `.e.cachelink-${hostId()}-${child.pid}-${HEX}`)
    backdated(temp)
    expect(cleanTempSync(dir, { olderThanMs: 0 }).removed).toEqual([])
    const exited = new Promise((r) => child.on('exit', r))
    child.kill('SIGKILL')
    await exited
    expect(cleanTempSync(dir, { olderThanMs: 0 }).removed.map((l) => l.path)).toEqual([temp])
  })

  it('a name without the leading dot is never removed, and is reported', async () => {
    const dir = sandbox(fsys.dir)
    const notes = join(dir, `notes.cachelink-999999-${HEX}`)
    const notes2 = join(dir, `notes.cachelink-${OTHER}-999999-${HEX}`)
    const stale = join(dir, `.e.cachelink-${deadPid()}-${HEX}`)
    for (const p of [notes, notes2, stale]) fs.writeFileSync(p, 'mine')
    const r = await cleanTemp(dir, { olderThanMs: 0 })
    console.log(`after clean: notes ${fs.existsSync(notes) ? 'kept' : 'DELETED'}`)
    expect(fs.readFileSync(notes, 'utf8')).toBe('mine')
    expect(fs.readFileSync(notes2, 'utf8')).toBe('mine')
    expect(r.removed.map((l) => l.path)).toEqual([stale])
    expect(r.unrecognized.map((u) => [u.path, u.reason]).sort()).toEqual([
      [notes, 'no-leading-dot'],
      [notes2, 'no-leading-dot'],
    ])
  })

  it('a directory named like a temp is left and reported, and the clean goes on', async () => {
    const dir = sandbox(fsys.dir)
    const d = join(dir, `.d.cachelink-${deadPid()}-${HEX}`)
    fs.mkdirSync(d)
    fs.writeFileSync(join(d, 'inside'), 'mine')
    const stale = join(dir, `.e.cachelink-${deadPid()}-${HEX}`)
    fs.writeFileSync(stale, 'x')
    const r = await cleanTemp(dir, { olderThanMs: 0 }).catch((e) => e)
    if (r instanceof Error) console.log(`clean failed: ${r.message}`)
    expect(r).not.toBeInstanceOf(Error)
    expect(r.removed.map((l: { path: string }) => l.path)).toEqual([stale])
    expect(r.unrecognized.map((u: { path: string; reason: string }) => [u.path, u.reason])).toEqual([[d, 'directory']])
    expect(fs.readFileSync(join(d, 'inside'), 'utf8')).toBe('mine')
    // scan enters it like any directory and reports it.
    const s = await scanCache(dir)
    expect(s.leftovers).toEqual([])
    expect(s.files).toBe(1)
    expect(s.unrecognized.map((u) => u.reason)).toEqual(['directory'])
  })

  it('a stage name on a file, and a temp name on a FIFO, are left and reported', async () => {
    const dir = sandbox(fsys.dir)
    const file = join(dir, `.p.cachelink-stage-${deadPid()}-${HEX}`)
    fs.writeFileSync(file, 'mine')
    const fifo = join(dir, `.f.cachelink-${deadPid()}-${HEX}`)
    execFileSync('mkfifo', [fifo])
    const r = await cleanTemp(dir, { olderThanMs: 0 })
    expect(r.removed).toEqual([])
    expect(fs.readFileSync(file, 'utf8')).toBe('mine')
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true)
    expect(r.unrecognized.map((u) => [u.path, u.reason]).sort()).toEqual([
      [fifo, 'not-a-regular-file'],
      [file, 'not-a-directory'],
    ])
  })
})
