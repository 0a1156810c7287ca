// Re-installs into a destination whose old tree holds symlinks (issue 19, points 1 and 4): `keep`
// never resolves through a symlink below the old `into` or the new tree, and 'skip-if-linked'
// never takes a symlinked folder for the package's own. On a real tmpfs mount.
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, type ImportFileEntry, importFiles, importFilesSync } from '../ts/index.js'
import { catchSync, leftovers, mount, type Mounted, sandbox, skipWithout, snapshot } from './helpers.js'

beforeEach(() => clearFallbackMemo())

describe.skipIf(skipWithout('tmpfs'))('a re-install over symlinks in the old tree (tmpfs)', () => {
  let tmpfs: Mounted
  let dir: string
  let store: string
  let outside: string
  let into: string
  beforeAll(() => {
    tmpfs = mount('tmpfs', 32)
  })
  afterAll(() => tmpfs?.unmount())
  beforeEach(() => {
    dir = sandbox(tmpfs.dir)
    store = join(dir, 'store')
    outside = join(dir, 'outside')
    into = join(dir, 'project', 'node_modules', 'pkg')
    fs.mkdirSync(store)
    fs.mkdirSync(join(outside, 'sub'), { recursive: true })
    fs.writeFileSync(join(outside, 'sub', 'secret.txt'), 'not the project')
  })

  function version(name: string, files: Record<string, string>): ImportFileEntry[] {
    return Object.entries(files).map(([path, text]) => {
      const src = join(store, `${name}-${path.replace(/\//g, '_')}`)
      fs.writeFileSync(src, text)
      return { path, src }
    })
  }

  it("'replace' refuses a kept path below a symlink in the old tree, before anything is written", async () => {
    await importFiles(version('v1', { 'index.js': 'one' }), { into })
    fs.symlinkSync(outside, join(into, 'node_modules'))
    const v2 = version('v2', { 'index.js': 'two' })
    const before = snapshot(dir)
    const err = await importFiles(v2, { into, onExisting: 'replace', keep: ['node_modules/sub'] }).catch((e) => e)
    expect(err).toMatchObject({ code: 'ERR_CACHELINK_UNSAFE_PATH', entry: 'node_modules/sub' })
    expect(err.message).toContain('symlink')
    expect(fs.readdirSync(join(outside, 'sub'))).toEqual(['secret.txt'])
    expect(snapshot(dir)).toEqual(before)
    expect(leftovers(dir)).toEqual([])
    const sync = catchSync(() => importFilesSync(v2, { into, onExisting: 'replace', keep: ['x', 'node_modules/sub/deeper'] }))
    expect(sync).toMatchObject({ code: 'ERR_CACHELINK_UNSAFE_PATH', entry: 'node_modules/sub/deeper' })
    expect(snapshot(dir)).toEqual(before)
  })

  it("'replace' carries a kept path that is itself a symlink over as the symlink, and leaves its target alone", async () => {
    await importFiles(version('v1', { 'index.js': 'one' }), { into })
    fs.symlinkSync(outside, join(into, 'node_modules'))
    const stats = await importFiles(version('v2', { 'index.js': 'two' }), { into, onExisting: 'replace', keep: ['node_modules'] })
    expect(stats).toMatchObject({ files: 1 })
    expect(fs.readlinkSync(join(into, 'node_modules'))).toBe(outside)
    expect(fs.readdirSync(join(outside, 'sub'))).toEqual(['secret.txt'])
    expect(fs.readFileSync(join(into, 'index.js'), 'utf8')).toBe('two')
    expect(leftovers(dir)).toEqual([])
  })

  it("'replace' moves nothing through a symlink of the new tree: the new tree wins there", async () => {
    const old = version('v1', { 'index.js': 'one', 'node_modules/sub/dep.js': 'dep' })
    await importFiles(old, { into })
    const depIno = fs.statSync(join(into, 'node_modules', 'sub', 'dep.js')).ino
    // The new version has a symlink where the old tree had the kept path's folder.
    const v2 = [...version('v2', { 'index.js': 'two' }), { path: 'node_modules', symlink: outside }]
    const stats = await importFiles(v2, { into, onExisting: 'replace', keep: ['node_modules/sub'] })
    expect(stats).toMatchObject({ files: 2, symlinked: 1 })
    expect(fs.readlinkSync(join(into, 'node_modules'))).toBe(outside)
    // outside/sub is untouched: the old tree's sub was not moved (or merged) into it.
    expect(fs.readdirSync(join(outside, 'sub'))).toEqual(['secret.txt'])
    expect(fs.readdirSync(outside)).toEqual(['sub'])
    expect(fs.existsSync(join(dir, 'project', 'node_modules', 'pkg', 'node_modules', 'sub', 'dep.js'))).toBe(false)
    expect(depIno).toBeGreaterThan(0)
    expect(leftovers(dir)).toEqual([])
  })

  it("'skip-if-linked' takes a symlink where the entries need a folder as not in place, and replaces it", async () => {
    const v1 = version('v1', { 'index.js': 'one', 'lib/a.js': 'a' })
    await importFiles(v1, { into })
    // lib moved outside and linked back: the same inodes, reached through a symlink.
    const lib2 = join(outside, 'lib2')
    fs.renameSync(join(into, 'lib'), lib2)
    fs.symlinkSync(lib2, join(into, 'lib'))
    const stats = await importFiles(v1, { into, onExisting: 'skip-if-linked' })
    expect(stats).toMatchObject({ kept: 0, files: 2, hardlinked: 2 })
    expect(fs.lstatSync(join(into, 'lib')).isDirectory()).toBe(true)
    expect(fs.statSync(join(into, 'lib', 'a.js')).ino).toBe(fs.statSync(v1[1].src as string).ino)
    expect(fs.readdirSync(lib2)).toEqual(['a.js'])
    // In place now: kept, nothing written.
    expect(importFilesSync(v1, { into, onExisting: 'skip-if-linked' })).toMatchObject({ kept: 2, files: 0 })
    // A symlinked folder under keep is not looked into, as before.
    fs.symlinkSync(outside, join(into, 'node_modules'))
    expect(await importFiles(v1, { into, onExisting: 'skip-if-linked', keep: ['node_modules'] })).toMatchObject({ kept: 2 })
    // keep naming a folder the entries need does not let a symlink there pass.
    fs.rmSync(join(into, 'lib'), { recursive: true })
    fs.symlinkSync(lib2, join(into, 'lib'))
    const s = await importFiles(v1, { into, onExisting: 'skip-if-linked', keep: ['lib', 'node_modules'] })
    expect(s).toMatchObject({ kept: 0, files: 2 })
    expect(fs.lstatSync(join(into, 'lib')).isSymbolicLink()).toBe(false)
    expect(leftovers(dir)).toEqual([])
  })
})
