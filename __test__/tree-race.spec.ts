// Issue 19, point 15: a uv-style cache (a directory per package) materialized with importTree by
// 8 processes at once at a low link limit. Each import's resets leave a temp beside the entry for
// a moment, in the very directories the others walk: a walk must never take one (or a stage, or
// a held link) as an entry, and the import must not fail when a name it listed is renamed away.
// Before: 159 of 200 calls failed with ENOENT on another process's temp, and trees that
// succeeded held such a temp as an extra file.
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importTreeSync } from '../ts/index.js'
import { leftovers, mount, type Mounted, skipWithout, skipWithoutFuse } from './helpers.js'

const fixtures = join(import.meta.dirname, 'fixtures')
const PACKAGES = 5
const FILES = 25

interface Result {
  calls: number
  errorCount: number
  errors: string[]
}

/** `PACKAGES` package directories of `FILES` files each (in two subdirectories), with their bytes. */
function makeCache(cache: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  for (let p = 0; p < PACKAGES; p++) {
    for (let f = 0; f < FILES; f++) {
      const rel = join(`pkg${p}`, f % 2 ? 'sub' : '', `f${f}.py`)
      const bytes = Buffer.from(`package ${p} file ${f}\n`.repeat(f + 1))
      fs.mkdirSync(join(cache, rel, '..'), { recursive: true })
      fs.writeFileSync(join(cache, rel), bytes)
      files.set(rel, bytes)
    }
  }
  return files
}

/** `procs` processes of treeracer.mjs, `calls` imports each, at `maxLinks` ('-': the filesystem's own limit). */
async function race(cache: string, out: string, procs: number, calls: number, maxLinks: string) {
  const one = (id: number) =>
    new Promise<Result>((resolve, reject) => {
      const args = [join(fixtures, 'treeracer.mjs'), cache, out, String(calls), String(id), maxLinks]
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      let text = ''
      child.stdout.on('data', (d) => (text += d))
      child.on('error', reject)
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`treeracer.mjs exited ${code}`))))
    })
  const results = await Promise.all(Array.from({ length: procs }, (_, id) => one(id)))
  return { errorCount: results.reduce((n, r) => n + r.errorCount, 0), errors: results.flatMap((r) => r.errors) }
}

/** Every tree under `out` is its package whole: the same names, each with the cache's bytes. */
function checkTrees(out: string, files: Map<string, Buffer>) {
  let trees = 0
  let extra = 0
  let wrong = 0
  for (const tree of fs.readdirSync(out)) {
    trees++
    const [, id, i] = /^p(\d+)-(\d+)$/.exec(tree) ?? []
    const pkg = `pkg${(Number(id) + Number(i)) % PACKAGES}`
    const names = (fs.readdirSync(join(out, tree), { recursive: true }) as string[]).filter((n) => !fs.statSync(join(out, tree, n)).isDirectory())
    for (const n of names) {
      const want = files.get(join(pkg, n))
      if (!want) extra++
      else if (!fs.readFileSync(join(out, tree, n)).equals(want)) wrong++
    }
    const known = names.filter((n) => files.has(join(pkg, n))).length
    extra += FILES - known
  }
  return { trees, extra, wrong }
}

async function raceAndCheck(root: string, label: string, maxLinks: string) {
  const cache = join(root, 'cache')
  const out = join(root, 'out')
  fs.mkdirSync(out, { recursive: true })
  const files = makeCache(cache)
  const r = await race(cache, out, 8, 25, maxLinks)
  const seen = checkTrees(out, files)
  console.log(`${label}: ${r.errorCount} of 200 imports failed, ${seen.trees} trees, ${seen.extra} extra or missing files, ${seen.wrong} wrong; first error: ${r.errors[0] ?? 'none'}`)
  expect(r.errors).toEqual([])
  expect(seen).toEqual({ trees: 200, extra: 0, wrong: 0 })
  for (const [rel, bytes] of files) expect(fs.readFileSync(join(cache, rel)).equals(bytes)).toBe(true)
  expect(leftovers(cache)).toEqual([])
}

describe.skipIf(skipWithout('tmpfs'))('a uv-style cache imported by 8 processes at once (tmpfs)', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('tmpfs', 256)
  })
  afterAll(() => fsys?.unmount())

  it('maxLinks: 8, 8 processes x 25 importTreeSync: every call succeeds and every tree is its package, no temp in it', async () => {
    await raceAndCheck(fsys.dir, 'tmpfs, maxLinks 8', '8')
  })

  it('a walk takes no temp, stage or held name as an entry', () => {
    const root = fs.mkdtempSync(join(fsys.dir, 'names-'))
    const pkg = join(root, 'pkg')
    fs.mkdirSync(join(pkg, 'sub'), { recursive: true })
    fs.writeFileSync(join(pkg, 'a.py'), 'a')
    fs.writeFileSync(join(pkg, 'sub', 'b.py'), 'b')
    const host = '0123456789ab'
    // Cachelink's own names (this version's and an older one's), which are never entries...
    fs.writeFileSync(join(pkg, `.a.py.cachelink-${host}-1234-0123456789abcdef`), 'temp')
    fs.writeFileSync(join(pkg, 'sub', '.b.py.cachelink-1234-0123456789abcdef'), 'old temp')
    fs.linkSync(join(pkg, 'a.py'), join(pkg, `.a.py.cachelink-held-${host}-1234-0123456789abcdef`))
    fs.mkdirSync(join(pkg, `.sub.cachelink-stage-${host}-1234-0123456789abcdef`))
    fs.writeFileSync(join(pkg, `.sub.cachelink-stage-${host}-1234-0123456789abcdef`, 'x'), 'staged')
    // ...and names that only look like them, which are someone else's files.
    fs.writeFileSync(join(pkg, 'notes.cachelink-1234-0123456789abcdef'), 'notes')
    fs.mkdirSync(join(pkg, `.dir.cachelink-${host}-1234-0123456789abcdef`))
    fs.writeFileSync(join(pkg, `.dir.cachelink-${host}-1234-0123456789abcdef`, 'y'), 'y')
    importTreeSync(pkg, join(root, 'into'))
    expect((fs.readdirSync(join(root, 'into'), { recursive: true }) as string[]).sort()).toEqual(
      ['.dir.cachelink-0123456789ab-1234-0123456789abcdef', '.dir.cachelink-0123456789ab-1234-0123456789abcdef/y', 'a.py', 'notes.cachelink-1234-0123456789abcdef', 'sub', 'sub/b.py'].sort(),
    )
  })
})

describe.skipIf(skipWithout('ext4'))('a uv-style cache imported by 8 processes at once (ext4)', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('ext4')
  })
  afterAll(() => fsys?.unmount())

  it('maxLinks: 8, 8 processes x 25 importTreeSync: every call succeeds and every tree is its package, no temp in it', async () => {
    await raceAndCheck(fsys.dir, 'ext4, maxLinks 8', '8')
  })
})

describe.skipIf(skipWithoutFuse())('a uv-style cache on a filesystem with a real 8-link limit (FUSE)', () => {
  let dir: string
  let base: string
  let fuse: ReturnType<typeof spawn>
  beforeAll(async () => {
    base = fs.mkdtempSync(join(tmpdir(), 'cachelink-nolinkfs-'))
    dir = join(base, 'mnt')
    fs.mkdirSync(join(base, 'backing'))
    fs.mkdirSync(dir)
    fuse = spawn('/usr/bin/python3', [join(fixtures, 'nolinkfs.py'), join(base, 'backing'), dir], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, LINK_LIMIT: '8' },
    })
    for (let i = 0; i < 200 && !fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `); i++) {
      await new Promise((r) => setTimeout(r, 25))
    }
  })
  afterAll(() => {
    try {
      execFileSync('umount', [dir])
    } finally {
      fuse?.kill()
      fs.rmSync(base, { recursive: true, force: true })
    }
  })

  it('8 processes x 25 importTreeSync at the filesystem limit: every call succeeds and every tree is its package, no temp in it', async () => {
    await raceAndCheck(dir, 'nolinkfs LINK_LIMIT=8', '-')
  }, 120_000)
})
