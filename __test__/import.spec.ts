import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  cleanTemp,
  clearFallbackMemo,
  importFiles,
  importFilesSync,
  importTree,
  importTreeSync,
  type ImportEntry,
} from '../ts/index.js'
import { catchSync, expectFsError, isRoot, leftovers, mount, type Mounted, sandbox, skipWithout, snapshot } from './helpers.js'

const isWindows = process.platform === 'win32'
const repo = join(import.meta.dirname, '..')

/** path → "file <size> <x> <sha1>" | "symlink <target>" | "dir", for every entry under `root`. */
function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      const rel = relative(root, p)
      if (e.isSymbolicLink()) out.set(rel, `symlink ${fs.readlinkSync(p)}`)
      else if (e.isDirectory()) {
        out.set(rel, 'dir')
        walk(p)
      } else {
        const st = fs.statSync(p)
        const x = isWindows ? '' : (st.mode & 0o111).toString(8)
        const hash = createHash('sha1').update(fs.readFileSync(p)).digest('hex')
        out.set(rel, `file ${st.size} ${x} ${hash}`)
      }
    }
  }
  walk(root)
  return out
}

/** A content-addressed store of the files under `tree` and the entries to rebuild it. */
function storeOf(tree: string, store: string): ImportEntry[] {
  const entries: ImportEntry[] = []
  for (const [rel, kind] of describeTree(tree)) {
    if (!kind.startsWith('file')) continue
    const bytes = fs.readFileSync(join(tree, rel))
    const hash = createHash('sha256').update(bytes).digest('hex')
    const executable = !isWindows && (fs.statSync(join(tree, rel)).mode & 0o111) !== 0
    const src = join(store, hash.slice(0, 2), hash.slice(2) + (executable ? '-exec' : ''))
    if (!fs.existsSync(src)) {
      fs.mkdirSync(dirname(src), { recursive: true })
      fs.writeFileSync(src, bytes, { mode: executable ? 0o755 : 0o644 })
    }
    entries.push({ path: rel.split('\\').join('/'), src, executable, size: bytes.length })
  }
  return entries
}

let dir: string
beforeEach(() => {
  clearFallbackMemo()
  dir = sandbox()
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

describe('importTree', () => {
  // A real package tree with exec bits and symlinks: this repo's node_modules/.bin and a package.
  const source = () => {
    const src = join(dir, 'src')
    fs.cpSync(join(repo, 'node_modules', 'vitest'), join(src, 'vitest'), { recursive: true, verbatimSymlinks: true })
    fs.mkdirSync(join(src, '.bin'))
    fs.symlinkSync('../vitest/vitest.mjs', join(src, '.bin', 'vitest'))
    fs.mkdirSync(join(src, 'empty-dir'))
    return src
  }

  for (const method of ['hardlink', 'copy', 'auto'] as const) {
    it(`mirrors a real package tree (${method}): paths, bytes, exec bits, symlinks`, async () => {
      const src = source()
      const want = describeTree(src)
      expect([...want.values()].some((v) => v.startsWith('symlink'))).toBe(true)
      const stats = await importTree(src, join(dir, 'out'), { method })
      expect(describeTree(join(dir, 'out'))).toEqual(want)
      const files = [...want.values()].filter((v) => !v.startsWith('dir')).length
      expect(stats.files).toBe(files)
      const symlinks = [...want.values()].filter((v) => v.startsWith('symlink')).length
      expect(stats.symlinked).toBe(symlinks)
      expect(stats.hardlinked + stats.copied + stats.cloned).toBe(files - symlinks)
      expect(leftovers(dir)).toEqual([])
    })
  }

  it('the sync twin does the same', () => {
    const src = source()
    const stats = importTreeSync(src, join(dir, 'out'))
    expect(describeTree(join(dir, 'out'))).toEqual(describeTree(src))
    expect(stats.method).toBe(process.platform === 'darwin' ? 'clone' : 'hardlink')
  })
})

describe('importFiles', () => {
  it('rebuilds a package from a content-addressed store, as an installer does', async () => {
    const pkg = join(repo, 'node_modules', 'vitest')
    const entries = storeOf(pkg, join(dir, 'store'))
    const into = join(dir, 'node_modules', '.pnpm', 'vitest@4', 'node_modules', 'vitest')
    const stats = await importFiles(entries, { into })
    const want = new Map([...describeTree(pkg)].filter(([, v]) => v.startsWith('file')))
    const got = new Map([...describeTree(into)].filter(([, v]) => v.startsWith('file')))
    expect(got).toEqual(want)
    expect(stats.files).toBe(entries.length)
    expect(stats.dirs).toBe([...describeTree(into).values()].filter((v) => v === 'dir').length)
  })

  it('refuses a symlinked cache file (EINVAL, never followed), on the fast path too, placing nothing', () => {
    fs.writeFileSync(join(dir, 'real'), 'real')
    fs.writeFileSync(join(dir, 'other'), 'other')
    fs.symlinkSync(join(dir, 'real'), join(dir, 'alias'))
    for (const at of [0, 2]) {
      const entries = ['one', 'two', 'three'].map((path, i) => ({ path, src: join(dir, i === at ? 'alias' : 'other'), size: i === at ? 4 : 5 }))
      const err = catchSync(() => importFilesSync(entries, { into: join(dir, 'out'), method: 'hardlink' }))
      expectFsError(err, 'EINVAL', { path: join(dir, 'alias') })
      expect((err as { entry?: string }).entry).toBe(entries[at].path)
      expect(fs.existsSync(join(dir, 'out'))).toBe(false)
      expect(fs.statSync(join(dir, 'real')).nlink).toBe(1)
    }
  })

  it('takes a Map of path to src', () => {
    fs.writeFileSync(join(dir, 'a'), 'A')
    const stats = importFilesSync(new Map([['x/y/a.txt', join(dir, 'a')]]), { into: join(dir, 'out') })
    expect(stats).toMatchObject({ files: 1, dirs: 2 })
    expect(fs.readFileSync(join(dir, 'out', 'x', 'y', 'a.txt'), 'utf8')).toBe('A')
  })

  it('reports progress throttled, from the JS thread, reaching the total', async () => {
    const src = join(dir, 'src')
    fs.writeFileSync(src, 'x'.repeat(4096))
    const entries = Array.from({ length: 20_000 }, (_, i) => ({ path: `d${i % 50}/${i}.js`, src }))
    const calls: Array<{ done: number; total: number }> = []
    // The event loop keeps turning while it runs (on the JS backend too, whose calls are made
    // on the JS thread in slices).
    let ticks = 0
    const ticker = setInterval(() => ticks++, 5)
    const start = performance.now()
    const stats = await importFiles(entries, { into: join(dir, 'out'), method: 'copy', onProgress: (p) => calls.push(p) })
    const elapsed = performance.now() - start
    clearInterval(ticker)
    expect(stats.files).toBe(20_000)
    // 20,000 copies take far longer than 50 ms: reports before the end, and timers ran.
    expect(calls.filter((c) => c.done < c.total).length).toBeGreaterThan(0)
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 50))
    // Throttled to one report per 50 ms, plus the final one, however long the import took.
    expect(calls.length).toBeLessThanOrEqual(Math.floor(elapsed / 50) + 2)
    expect(calls.at(-1)).toEqual({ done: 20_000, total: 20_000 })
    for (let i = 1; i < calls.length; i++) expect(calls[i].done).toBeGreaterThanOrEqual(calls[i - 1].done)
  })

  it('an onProgress that throws at the final report rejects with its error and leaves nothing', async () => {
    const src = join(dir, 'src')
    fs.writeFileSync(src, 'x')
    // Few files: done at the first tick, so the only report is the final one.
    const entries = Array.from({ length: 50 }, (_, i) => ({ path: `d/${i}.js`, src }))
    const boom = new Error('progress says no')
    const calls: number[] = []
    const onProgress = ({ done, total }: { done: number; total: number }) => {
      calls.push(done)
      if (done === total) throw boom
    }
    for (const [into, run] of [
      [join(dir, 'files'), () => importFiles(entries, { into: join(dir, 'files'), onProgress })],
      [join(dir, 'tree'), () => importTree(join(dir, 'files-src'), join(dir, 'tree'), { onProgress })],
    ] as const) {
      fs.mkdirSync(join(dir, 'files-src', 'd'), { recursive: true })
      fs.writeFileSync(join(dir, 'files-src', 'd', 'a.js'), 'a')
      await expect(run()).rejects.toBe(boom)
      expect(fs.existsSync(into)).toBe(false)
    }
    expect(calls.length).toBeGreaterThanOrEqual(2)
    expect(() => importFilesSync(entries, { into: join(dir, 'sync'), onProgress })).toThrow(boom)
    expect(fs.existsSync(join(dir, 'sync'))).toBe(false)
    expect(leftovers(dir)).toEqual([])
    // The same calls without the throw put everything in place.
    const stats = importFilesSync(entries, { into: join(dir, 'sync'), onProgress: () => {} })
    expect(stats.files).toBe(50)
    expect(fs.readdirSync(join(dir, 'sync', 'd'))).toHaveLength(50)
  })

  it('stops on the first real error, names the entry, and leaves nothing (atomic)', async () => {
    fs.writeFileSync(join(dir, 'ok'), 'ok')
    const into = join(dir, 'out')
    const entries = [
      { path: 'a.js', src: join(dir, 'ok') },
      { path: 'lib/missing.js', src: join(dir, 'no-such-file') },
    ]
    const err = await importFiles(entries, { into }).catch((e) => e)
    expect(err).toMatchObject({ code: 'ENOENT', entry: 'lib/missing.js', path: join(dir, 'no-such-file') })
    expect(err.dest).toBe(join(into, 'lib', 'missing.js'))
    expect(err.stack).toContain('import.spec.ts')
    expect(fs.existsSync(into)).toBe(false)
    expect(leftovers(dir)).toEqual([])
  })

  it('aborts with a signal: AbortError, nothing partial', async () => {
    const src = join(dir, 'src')
    fs.writeFileSync(src, Buffer.alloc(16 * 1024, 7))
    const entries = Array.from({ length: 30_000 }, (_, i) => ({ path: `d${i % 100}/${i}`, src }))
    const ac = new AbortController()
    const into = join(dir, 'out')
    let seen = 0
    const err = await importFiles(entries, {
      into,
      method: 'copy',
      signal: ac.signal,
      onProgress: ({ done }) => {
        seen = done
        ac.abort()
      },
    }).catch((e) => e)
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    expect(seen).toBeLessThan(30_000)
    expect(fs.existsSync(into)).toBe(false)
    expect(leftovers(dir)).toEqual([])
    await expect(importFiles(entries, { into, signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    })
  })

  it('a killed process leaves the destination absent or complete, and cleanTemp removes the stage', async () => {
    const src = join(dir, 'src')
    fs.writeFileSync(src, Buffer.alloc(16 * 1024, 7))
    const entries = Array.from({ length: 40_000 }, (_, i) => ({ path: `d${i % 200}/${i}`, src }))
    fs.writeFileSync(join(dir, 'entries.json'), JSON.stringify(entries))
    const into = join(dir, 'pkgs', 'big')
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'importer.mjs'), join(dir, 'entries.json'), into, 'copy'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        if (String(d).includes('started')) resolve()
      })
    })
    child.kill('SIGKILL')
    await new Promise((resolve) => child.on('exit', resolve))
    const left = fs.readdirSync(join(dir, 'pkgs')).filter((n) => n.includes('.cachelink-'))
    console.log(`killed import: into ${fs.existsSync(into) ? 'complete' : 'absent'}, ${left.length} stage(s) left`)
    if (fs.existsSync(into)) {
      // It finished before the kill landed: then it must be complete.
      expect(fs.readdirSync(into).length).toBe(200)
    } else {
      expect(left.length).toBe(1)
    }
    expect(left.every((p) => p.includes('.cachelink-stage-'))).toBe(true)
    const { removed } = await cleanTemp(join(dir, 'pkgs'), { olderThanMs: 0 })
    expect(removed.length).toBe(left.length)
    expect(leftovers(join(dir, 'pkgs'))).toEqual([])
  })

  it('cleanTemp leaves the temp files of running processes alone', async () => {
    const mine = join(dir, `.x.cachelink-${process.pid}-0123456789abcdef`)
    fs.writeFileSync(mine, '')
    expect((await cleanTemp(dir, { olderThanMs: 0 })).removed).toEqual([])
    expect(fs.existsSync(mine)).toBe(true)
  })
})

describe('path safety', () => {
  // A backslash, a drive and ':' are unsafe on Windows only: plain names elsewhere (names.spec.ts).
  const onWindows = ['C:\\x', 'c:x', 'a\\..\\..\\x']
  const hostile = ['../x', '/etc/x', 'a/../../x', 'a\0b', '', '..', './../x', ...(isWindows ? onWindows : [])]
  for (const path of hostile) {
    it(`refuses ${JSON.stringify(path)} before writing anything`, async () => {
      fs.writeFileSync(join(dir, 'src'), 's')
      const before = snapshot(dir)
      const entries = [
        { path: 'fine.js', src: join(dir, 'src') },
        { path, src: join(dir, 'src') },
      ]
      const err = await importFiles(entries, { into: join(dir, 'out') }).catch((e) => e)
      expect(err).toMatchObject({ code: 'ERR_CACHELINK_UNSAFE_PATH', entry: path })
      expect(err.message).toContain('Unsafe path in entry')
      expect(snapshot(dir)).toEqual(before)
      expect(() => importFilesSync(entries, { into: join(dir, 'out') })).toThrow(/Unsafe path/)
      expect(snapshot(dir)).toEqual(before)
    })
  }

  it('refuses a path that would go through a symlink under into to outside it', async () => {
    const outside = join(dir, 'outside')
    const into = join(dir, 'into')
    fs.mkdirSync(outside)
    fs.mkdirSync(into)
    fs.symlinkSync(outside, join(into, 'lib'))
    fs.writeFileSync(join(dir, 'src'), 's')
    const before = snapshot(dir)
    const err = await importFiles([{ path: 'lib/evil.js', src: join(dir, 'src') }], { into }).catch((e) => e)
    expect(err).toMatchObject({ code: 'ERR_CACHELINK_UNSAFE_PATH', entry: 'lib' })
    expect(fs.readdirSync(outside)).toEqual([])
    expect(snapshot(dir)).toEqual(before)
  })
})

describe.skipIf(skipWithout('ext4', 'tmpfs'))('batches on real filesystems', () => {
  let ext4: Mounted
  let tmp: Mounted
  beforeAll(() => {
    ext4 = mount('ext4', 128)
    tmp = mount('tmpfs', 64)
  })
  afterAll(() => {
    ext4?.unmount()
    tmp?.unmount()
  })

  it('a store whose hot LICENSE already has 64,999 links imports cleanly, with the resets counted', async () => {
    const store = join(ext4.dir, 'store')
    fs.mkdirSync(store)
    const license = join(store, 'license')
    const empty = join(store, 'empty')
    fs.writeFileSync(license, 'MIT License\n')
    fs.writeFileSync(empty, '')
    for (let i = 0; i < 64_998; i++) {
      const sub = join(ext4.dir, 'pre', String(Math.floor(i / 1000)))
      if (i % 1000 === 0) fs.mkdirSync(sub, { recursive: true })
      fs.linkSync(license, join(sub, String(i)))
    }
    expect(fs.statSync(license).nlink).toBe(64_999)
    const entries: ImportEntry[] = []
    for (let p = 0; p < 50; p++) {
      // With sizes, as an installer's index has them: the hard links take the fast path until
      // EMLINK sends one through the careful path, which resets the entry.
      entries.push({ path: `pkg${p}/LICENSE`, src: license, size: 12 }, { path: `pkg${p}/index.js`, src: empty, size: 0 })
    }
    const stats = await importFiles(entries, { into: join(ext4.dir, 'out') })
    expect(stats.files).toBe(100)
    expect(stats.resets).toBeGreaterThanOrEqual(1)
    expect(stats.hardlinked).toBe(50)
    expect(stats.emptyCreated).toBe(50) // the empty index.js files are created, not linked
    expect(stats.copied).toBe(0)
    for (let p = 0; p < 50; p++) {
      expect(fs.readFileSync(join(ext4.dir, 'out', `pkg${p}`, 'LICENSE'), 'utf8')).toBe('MIT License\n')
    }
    expect(fs.statSync(empty).nlink).toBe(1)
    expect(leftovers(store)).toEqual([])
  })

  it('a FIFO or a device node in the store is refused with EINVAL, with or without size', async () => {
    const store = join(tmp.dir, 'odd-store')
    fs.mkdirSync(store)
    fs.writeFileSync(join(store, 'regular'), 'regular')
    execFileSync('mkfifo', [join(store, 'fifo')])
    const odd = [join(store, 'fifo')]
    if (isRoot) {
      execFileSync('mknod', [join(store, 'null'), 'c', '1', '3'])
      odd.push(join(store, 'null'))
    }
    for (const src of odd) {
      for (const size of [undefined, 7]) {
        // A regular file first, linked the careful way, so the rest may take the fast path.
        const entries: ImportEntry[] = [
          { path: 'a/regular', src: join(store, 'regular'), size: 7 },
          { path: 'a/odd', src, size },
        ]
        for (const atomic of [true, false]) {
          const into = join(tmp.dir, `odd-${atomic}`)
          const err = await importFiles(entries, { into, atomic }).catch((e) => e)
          expect(err, `${src} size ${size} atomic ${atomic}`).toMatchObject({ code: 'EINVAL', entry: 'a/odd' })
          if (atomic) expect(fs.existsSync(into)).toBe(false)
          else expect(fs.readdirSync(join(into, 'a'))).toEqual(['regular'])
          fs.rmSync(into, { recursive: true, force: true })
        }
      }
    }
  })

  it('a cross-device import (tmpfs store, ext4 target) falls back for every file and counts it', async () => {
    const store = join(tmp.dir, 'store')
    fs.mkdirSync(store)
    const entries: ImportEntry[] = []
    for (let i = 0; i < 500; i++) {
      fs.writeFileSync(join(store, String(i)), `file ${i}`)
      entries.push({ path: `lib/${i}.js`, src: join(store, String(i)) })
    }
    const stats = await importFiles(entries, { into: join(ext4.dir, 'cross'), threads: 1 })
    // Two per file (hardlink and clone: EXDEV), whether tried or skipped by what the process
    // remembers.
    const both = [
      { method: 'clone', code: 'EXDEV', count: 500 },
      { method: 'hardlink', code: 'EXDEV', count: 500 },
    ]
    expect(stats).toMatchObject({ files: 500, copied: 500, method: 'copy', fallbacks: both })
    const again = await importFiles(entries, { into: join(ext4.dir, 'cross-2') })
    expect(again).toMatchObject({ copied: 500, fallbacks: both })
  })
})

if (process.platform === 'darwin') {
  describe('APFS (macOS)', () => {
    it('importTree with clone clones the whole directory in one call', async () => {
      const src = join(dir, 'src')
      fs.cpSync(join(repo, 'node_modules', 'vitest'), src, { recursive: true, verbatimSymlinks: true })
      const stats = await importTree(src, join(dir, 'out'), { method: 'clone' })
      expect(stats.method).toBe('clone')
      expect(stats.cloned + stats.symlinked).toBe(stats.files)
      expect(describeTree(join(dir, 'out'))).toEqual(describeTree(src))
    })
  })
}
