// Re-installs into a destination whose old tree holds symlinks (issue 19, point 4):
// 'skip-if-linked' never takes a symlinked folder for the package's own. On a real tmpfs mount.
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, type ImportFileEntry, importFiles, importFilesSync } from '../ts/index.js'
import { leftovers, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

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
