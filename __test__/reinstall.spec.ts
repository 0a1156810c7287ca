// Re-installs: an import into a package directory that already exists (`onExisting`, `keep`),
// on a real ext4 mount, as an installer does it after a dependency changed.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, type ImportFileEntry, importFiles, importFilesSync, importTree } from '../ts/index.js'
import { backend } from '../ts/addon.js'
import { catchSync, expectFsError, jsBackend, leftovers, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

beforeEach(() => clearFallbackMemo())

describe.skipIf(skipWithout('ext4'))('an import into a destination that exists (ext4)', () => {
  let ext4: Mounted
  let dir: string
  let store: string
  beforeAll(() => {
    ext4 = mount('ext4', 96)
  })
  afterAll(() => ext4?.unmount())
  beforeEach(() => {
    dir = sandbox(ext4.dir)
    store = join(dir, 'store')
    fs.mkdirSync(store)
  })

  /** A package version: its files in the store, as entries. */
  function version(name: string, files: Record<string, string>): ImportFileEntry[] {
    return Object.entries(files).map(([path, text]) => {
      const src = join(store, `${name}-${path.replace(/\//g, '_')}`)
      fs.writeFileSync(src, text)
      return { path, src }
    })
  }

  const ino = (p: string) => fs.lstatSync(p).ino

  it("the default ('merge') places files into it one by one: EEXIST on the first file that is there; 'error' fails before writing", async () => {
    const v1 = version('v1', { 'index.js': 'one', 'old.js': 'old' })
    const into = join(dir, 'pkg')
    await importFiles(v1, { into })
    const v2 = version('v2', { 'index.js': 'two', 'new.js': 'new' })
    const err = await importFiles(v2, { into }).catch((e) => e)
    expectFsError(err, 'EEXIST')
    const before = fs.readdirSync(into).sort()
    const refused = await importFiles(v2, { into, onExisting: 'error' }).catch((e) => e)
    expectFsError(refused, 'EEXIST', { syscall: 'mkdir', path: into })
    expect(fs.readdirSync(into).sort()).toEqual(before)
    // 'merge' with ifExists: 'replace' replaces what the entries name and leaves the rest.
    await importFiles(v2, { into, ifExists: 'replace' })
    expect(fs.readdirSync(into).sort()).toEqual(['index.js', 'new.js', 'old.js'])
    expect(fs.readFileSync(join(into, 'index.js'), 'utf8')).toBe('two')
  })

  it("'replace' puts exactly the new package in place, carries node_modules over with keep, and leaves nothing beside it", async () => {
    const into = join(dir, 'node_modules', 'pkg')
    await importFiles(version('v1', { 'index.js': 'one', 'old.js': 'old', 'lib/a.js': 'a1' }), { into })
    fs.mkdirSync(join(into, 'node_modules', 'dep'), { recursive: true })
    fs.writeFileSync(join(into, 'node_modules', 'dep', 'x.js'), 'dep')
    const depIno = ino(join(into, 'node_modules', 'dep', 'x.js'))
    const v2 = version('v2', { 'index.js': 'two', 'lib/b.js': 'b2', 'node_modules/.bin-note': 'mine' })
    const stats = await importFiles(v2, { into, onExisting: 'replace', keep: ['node_modules'] })
    expect(stats).toMatchObject({ files: 3, hardlinked: 3, kept: 0 })
    expect(fs.readdirSync(into).sort()).toEqual(['index.js', 'lib', 'node_modules'])
    expect(fs.readdirSync(join(into, 'lib'))).toEqual(['b.js'])
    // The new tree had a node_modules too: it got the names it lacked.
    expect(fs.readdirSync(join(into, 'node_modules')).sort()).toEqual(['.bin-note', 'dep'])
    expect(ino(join(into, 'node_modules', 'dep', 'x.js'))).toBe(depIno)
    expect(ino(join(into, 'index.js'))).toBe(ino(v2[0].src as string))
    expect(leftovers(dir)).toEqual([])
    expect(fs.readdirSync(join(dir, 'node_modules'))).toEqual(['pkg'])
    // Without keep, node_modules goes with the old tree.
    importFilesSync(version('v3', { 'index.js': 'three' }), { into, onExisting: 'replace' })
    expect(fs.readdirSync(into)).toEqual(['index.js'])
    expect(leftovers(dir)).toEqual([])
  })

  it("'replace' of importTree too; an error in the new tree leaves the old one whole", async () => {
    const src = join(dir, 'src')
    fs.mkdirSync(join(src, 'bin'), { recursive: true })
    fs.writeFileSync(join(src, 'index.js'), 'tree')
    fs.symlinkSync('../index.js', join(src, 'bin', 'run'))
    const into = join(dir, 'pkg')
    await importFiles(version('v1', { 'index.js': 'one', 'old.js': 'old' }), { into })
    const stats = await importTree(src, into, { onExisting: 'replace' })
    expect(stats).toMatchObject({ files: 2, symlinked: 1, hardlinked: 1 })
    expect(fs.readdirSync(into).sort()).toEqual(['bin', 'index.js'])
    const before = fs.readdirSync(into).sort()
    const broken = [...version('v4', { 'a.js': 'a' }), { path: 'b.js', src: join(store, 'missing') }]
    const err = catchSync(() => importFilesSync(broken, { into, onExisting: 'replace' }))
    expectFsError(err, 'ENOENT')
    expect(fs.readdirSync(into).sort()).toEqual(before)
    expect(leftovers(dir)).toEqual([])
  })

  // The JS backend has no RENAME_EXCHANGE: it renames the old tree aside, then the stage in, so
  // readers may find nothing for that moment (README); never a mix, on either backend.
  it(`readers during 'replace' see the old tree or the new one, never a mix${jsBackend ? '' : ' and never nothing'}`, async () => {
    const into = join(dir, 'pkg')
    const names = (n: number) => Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`v${n}-${i}.js`, `${n}`]))
    const versions = [version('a', names(1)), version('b', names(2))]
    await importFiles(versions[0], { into })
    const stop = join(dir, 'stop')
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); const [into, stop] = process.argv.slice(1)
         const seen = { v1: 0, v2: 0, removing: 0, mixed: 0, missing: 0 }
         while (!fs.existsSync(stop)) {
           let list
           try { list = fs.readdirSync(into) } catch (e) { seen.missing++; continue }
           const one = list.filter((n) => n.startsWith('v1-')).length
           const two = list.filter((n) => n.startsWith('v2-')).length
           if (one && two) seen.mixed++
           else if (one === 20) seen.v1++
           else if (two === 20) seen.v2++
           else seen.removing++ // the old tree being removed after the swap, read through its old name
         }
         process.stdout.write(JSON.stringify(seen))`,
        into,
        stop,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    reader.stdout.on('data', (d) => (out += d))
    const done = new Promise((resolve) => reader.on('close', resolve))
    await new Promise((r) => setTimeout(r, 200))
    for (let i = 0; i < 200; i++) await importFiles(versions[(i + 1) % 2], { into, onExisting: 'replace' })
    fs.writeFileSync(stop, '')
    await done
    const seen = JSON.parse(out)
    expect(seen.v1).toBeGreaterThan(0)
    expect(seen.v2).toBeGreaterThan(0)
    console.log(`readers during 200 replaces (${backend}): ${out}`)
    if (jsBackend) expect(seen.mixed).toBe(0)
    else expect({ mixed: seen.mixed, missing: seen.missing }).toEqual({ mixed: 0, missing: 0 })
    expect(leftovers(dir)).toEqual([])
  })

  it("'skip-if-linked' writes nothing when the package is in place, and replaces it when anything differs", async () => {
    const into = join(dir, 'pkg')
    const files = version('v1', { 'index.js': 'one', 'lib/a.js': 'a', 'empty.js': '' })
    const v1 = [...files, { path: 'bin/run', symlink: '../index.js' }]
    await importFiles(v1, { into })
    const inodes = () => fs.readdirSync(into, { recursive: true }).map((p) => `${p}:${ino(join(into, String(p)))}`).sort()
    const before = inodes()
    // Nothing written: not even a stage made and removed beside it (the parent's mtime).
    const mtimes = () => [dir, into].map((d) => fs.statSync(d).mtimeMs)
    const times = mtimes()
    await new Promise((r) => setTimeout(r, 20))
    const kept = await importFiles(v1, { into, onExisting: 'skip-if-linked' })
    expect(kept).toMatchObject({ files: 0, kept: 4, hardlinked: 0, copied: 0, dirs: 0 })
    expect(inodes()).toEqual(before)
    expect(mtimes()).toEqual(times)
    expect(leftovers(dir)).toEqual([])
    // An identical copy counts as in place.
    fs.rmSync(join(into, 'lib', 'a.js'))
    fs.copyFileSync(files[1].src as string, join(into, 'lib', 'a.js'))
    expect(await importFiles(v1, { into, onExisting: 'skip-if-linked' })).toMatchObject({ kept: 4, files: 0 })
    // A copy with other bytes, an extra file or a missing file is not in place.
    for (const change of [
      () => fs.writeFileSync(join(into, 'lib', 'a.js'), 'b'),
      () => fs.writeFileSync(join(into, 'extra.js'), 'x'),
      () => fs.rmSync(join(into, 'index.js')),
    ]) {
      change()
      const s = await importFiles(v1, { into, onExisting: 'skip-if-linked', keep: ['node_modules'] })
      expect(s).toMatchObject({ kept: 0, files: 4, hardlinked: 2, symlinked: 1, emptyCreated: 1 })
      expect(fs.readdirSync(into).sort()).toEqual(['bin', 'empty.js', 'index.js', 'lib'])
      expect(fs.readFileSync(join(into, 'lib', 'a.js'), 'utf8')).toBe('a')
    }
    // keep's paths are not looked into.
    fs.mkdirSync(join(into, 'node_modules'))
    fs.writeFileSync(join(into, 'node_modules', 'anything'), '')
    expect(await importFiles(v1, { into, onExisting: 'skip-if-linked', keep: ['node_modules'] })).toMatchObject({ kept: 4 })
    // A mutable entry must be a file of its own: a hard link to the store is not in place.
    const mutable = v1.map((e) => ('src' in e && e.path === 'index.js' ? { ...e, mutable: true } : e))
    const s = await importFiles(mutable, { into, onExisting: 'skip-if-linked', keep: ['node_modules'] })
    expect(s).toMatchObject({ kept: 0, copied: 1 })
    expect(ino(join(into, 'index.js'))).not.toBe(ino(files[0].src as string))
    expect(fs.readdirSync(join(into, 'node_modules'))).toEqual(['anything'])
  })
})
