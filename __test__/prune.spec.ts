// Issue 19, point 13: a proactive reset must not make a pnpm store entry look unused. pnpm's
// `store prune` deletes every store file with one link; a reset left the fresh inode with one
// link (the projects keep the old inode), so a prune right after it deleted files every project
// still uses, and the next offline install failed. Real pnpm 10 (the devDependency), on ext4:
// a project installed from a store, its entries reset (resetEntry, then `cachelink reset`),
// `pnpm store prune`, then `pnpm install --offline` into a fresh project.
// Before: the offline install failed (ERR_PNPM_NO_OFFLINE_TARBALL), the prune having removed
// every file of both packages.
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanTempSync, resetEntry, resetEntrySync, scanCacheSync } from '../ts/index.js'
import { leftovers, mount, type Mounted, skipWithout } from './helpers.js'
// @ts-expect-error: a plain .mjs script, no types
import * as bench from '../benchmark/pnpm-hook.mjs'

const PROJECT = join(import.meta.dirname, 'fixtures', 'pnpm-prune')
const BIN = join(import.meta.dirname, '..', 'bin', 'cachelink.js')
const PNPM = join(import.meta.dirname, '..', 'node_modules', 'pnpm', 'bin', 'pnpm.cjs')

/** Every store file (`v10/files/xx/...`) of the store at `store`, cachelink's own names apart. */
function storeFiles(store: string): string[] {
  const files = join(store, 'v10', 'files')
  return fs.readdirSync(files).flatMap((b) => fs.readdirSync(join(files, b)).filter((n) => !n.includes('.cachelink-')).map((n) => join(files, b, n)))
}

function project(dir: string): string {
  fs.mkdirSync(dir, { recursive: true })
  for (const f of ['package.json', 'pnpm-lock.yaml']) fs.copyFileSync(join(PROJECT, f), join(dir, f))
  return dir
}

describe.skipIf(skipWithout('ext4'))('a reset store entry survives pnpm store prune (real pnpm 10, ext4)', () => {
  let fsys: Mounted
  let sb: ReturnType<typeof bench.pnpmSandbox>
  let seed: string
  beforeAll(() => {
    fsys = mount('ext4')
    sb = bench.pnpmSandbox(join(fsys.dir, 'sandbox'))
    // The store, filled once from the registry.
    seed = join(fsys.dir, 'seed')
    sb.pnpm(['install', '--frozen-lockfile'], project(join(fsys.dir, 'seed-project')), { storeDir: seed })
  }, 120_000)
  afterAll(() => fsys?.unmount())

  /** A copy of the seed store and a project installed from it, offline. */
  function installed(name: string): { store: string; files: string[]; bytes: Map<string, Buffer> } {
    const store = join(fsys.dir, name, 'store')
    fs.mkdirSync(join(fsys.dir, name))
    execFileSync('cp', ['-a', seed, store])
    sb.pnpm(['install', '--offline', '--frozen-lockfile'], project(join(fsys.dir, name, 'a')), { storeDir: store })
    const files = storeFiles(store)
    for (const f of files) expect(fs.statSync(f).nlink).toBeGreaterThan(1)
    return { store, files, bytes: new Map(files.map((f) => [f, fs.readFileSync(f)])) }
  }

  /** `pnpm store prune`, then an offline install into a fresh project: it must succeed. */
  function pruneThenInstall(name: string, store: string, files: string[], bytes: Map<string, Buffer>) {
    // `store prune` takes no --cache-dir (the sandbox's pnpm() passes one): its own call.
    const args = [PNPM, 'store', 'prune', '--store-dir', store, `--config.cache-dir=${sb.dirs.cache}`, `--config.state-dir=${sb.dirs.state}`]
    const run = spawnSync(process.execPath, args, { cwd: join(fsys.dir, name, 'a'), env: sb.env, encoding: 'utf8' })
    const pruned = { status: run.status, out: `${run.stdout}${run.stderr}` }
    if (pruned.status !== 0) console.log(pruned.out)
    expect(pruned.status).toBe(0)
    const gone = files.filter((f) => !fs.existsSync(f))
    const b = join(fsys.dir, name, 'b')
    const r = sb.pnpm(['install', '--offline', '--frozen-lockfile'], project(b), { storeDir: store, check: false })
    console.log(`${name}: prune removed ${gone.length} of ${files.length} store files (${/Removed \d+ files?/.exec(pruned.out)?.[0]}); offline install exited ${r.status}${r.status ? `: ${/ERR_PNPM_\w+/.exec(r.out)?.[0]}` : ''}`)
    expect(gone).toEqual([])
    expect(r.status).toBe(0)
    expect(fs.readFileSync(join(b, 'node_modules', 'ms', 'index.js')).equals(fs.readFileSync(join(fsys.dir, name, 'a', 'node_modules', 'ms', 'index.js')))).toBe(true)
    for (const f of files) expect(fs.readFileSync(f).equals(bytes.get(f) as Buffer)).toBe(true)
    // Held: each fresh inode kept a second link until project b linked it; scanCache reports the
    // holds, and the entries near the limit are the entries, never a hold.
    const scan = scanCacheSync(store, { nearAt: 2 })
    expect(scan.leftovers.filter((l) => l.kind === 'held')).toHaveLength(files.length)
    expect(scan.near.map((n) => n.path).sort()).toEqual([...files].sort())
    // Project b links the entries now: cleanTemp drops the holds, and each entry keeps its links.
    const cleaned = cleanTempSync(store)
    expect(cleaned.removed.map((l) => l.kind)).toEqual(files.map(() => 'held'))
    expect(leftovers(join(store, 'v10', 'files'))).toEqual([])
    for (const f of files) expect(fs.statSync(f).nlink).toBeGreaterThan(1)
  }

  it('resetEntry on every file of the store, then pnpm store prune, then pnpm install --offline into a fresh project', async () => {
    const { store, files, bytes } = installed('api')
    for (const [i, f] of files.entries()) {
      if (i % 2) await resetEntry(f)
      else resetEntrySync(f)
    }
    pruneThenInstall('api', store, files, bytes)
  }, 60_000)

  it('cachelink reset --above 1 on the store, then pnpm store prune, then pnpm install --offline into a fresh project', () => {
    const { store, files, bytes } = installed('cli')
    const r = spawnSync(process.execPath, [BIN, 'reset', store, '--above', '1', '--json'], { encoding: 'utf8' })
    expect(r.status).toBe(0)
    const done = JSON.parse(r.stdout)
    expect(done.resets).toBe(files.length)
    pruneThenInstall('cli', store, files, bytes)
  }, 60_000)

  it('resetEntry with hold: false leaves one link and no hold, as before', () => {
    const { store, files } = installed('nohold')
    resetEntrySync(files[0], { hold: false })
    expect(fs.statSync(files[0]).nlink).toBe(1)
    expect(leftovers(join(store, 'v10', 'files'))).toEqual([])
  }, 60_000)
})
