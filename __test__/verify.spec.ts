/**
 * verifyEntries and `cachelink verify` on real filesystems: a store file hard-linked into three
 * "projects" and edited through one of them (pnpm#3445), found, and repaired in place from a good
 * copy so all three links read the good bytes; a wrong good copy refused; missing entries;
 * every digest form; abort and progress; a name that is not UTF-8; and the command on a store
 * made by real pnpm.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pnpmStoreEntries, verifyEntries, verifyEntriesSync } from '../ts/index.js'
import { catchSync, expectFsError, jsBackend, mount, type Mounted, sandbox, skipWithout } from './helpers.js'
// @ts-expect-error: a plain .mjs script, no types
import * as bench from '../benchmark/pnpm-hook.mjs'

const BIN = join(import.meta.dirname, '..', 'bin', 'cachelink.js')

const sri = (algo: string, bytes: string | Buffer) => `${algo}-${createHash(algo).update(bytes).digest('base64')}`
const hex = (algo: string, bytes: string | Buffer) => `${algo}:${createHash(algo).update(bytes).digest('hex')}`

const GOOD = 'module.exports = function add(a, b) { return a + b }\n'
const EDITED = 'module.exports = function add(a, b) { return a - b } // a postinstall was here\n'

/** A store entry with a set mode and old times, hard-linked into three projects. */
function linkedStore(dir: string) {
  const entry = join(dir, 'store', 'ab', 'cdef')
  fs.mkdirSync(join(dir, 'store', 'ab'), { recursive: true })
  fs.writeFileSync(entry, GOOD)
  fs.chmodSync(entry, 0o640)
  // Nanoseconds that a double of seconds cannot hold exactly.
  fs.utimesSync(entry, 1_600_000_000.123456, 1_500_000_000.987654)
  const projects = ['p1', 'p2', 'p3'].map((p) => {
    const to = join(dir, p, 'node_modules', 'add', 'index.js')
    fs.mkdirSync(join(dir, p, 'node_modules', 'add'), { recursive: true })
    fs.linkSync(entry, to)
    return to
  })
  const good = join(dir, 'good-index.js')
  fs.writeFileSync(good, GOOD)
  return { entry, projects, good, integrity: sri('sha512', GOOD) }
}

/** An edit through one project's link, in place (same inode), as an editor or a script makes it. */
function editInPlace(path: string, text: string): void {
  const fd = fs.openSync(path, 'r+')
  fs.writeSync(fd, text, 0)
  fs.ftruncateSync(fd, Buffer.byteLength(text))
  fs.closeSync(fd)
}

const statOf = (p: string) => fs.statSync(p, { bigint: true })

/** Equal times: to the nanosecond on the native backend; to the microsecond on the JS one (`futimes` takes a double). */
function expectSameTime(actual: bigint, expected: bigint): void {
  if (jsBackend) expect(actual / 1000n).toBe(expected / 1000n)
  else expect(actual).toBe(expected)
}

describe.skipIf(skipWithout('ext4'))('verifyEntries on ext4', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('ext4')
  })
  afterAll(() => fsys?.unmount())

  it('finds exactly the entry edited through one project, with the expected and the actual digest', async () => {
    const dir = sandbox(fsys.dir)
    const s = linkedStore(dir)
    const other = join(dir, 'store', 'ab', 'other')
    fs.writeFileSync(other, 'untouched\n')
    const before = statOf(s.entry)
    editInPlace(s.projects[1], EDITED)
    expect(fs.readFileSync(s.projects[0], 'utf8')).toBe(EDITED) // one inode: every project sees it
    const r = await verifyEntries([
      { path: s.entry, integrity: s.integrity },
      { path: other, integrity: sri('sha512', 'untouched\n') },
    ])
    expect(r).toMatchObject({ files: 2, ok: 1, repaired: 0, unreadable: [], bytesHashed: Buffer.byteLength(EDITED) + 10 })
    expect(r.mismatches).toEqual([
      { path: s.entry, expected: s.integrity, actual: sri('sha512', EDITED), size: Buffer.byteLength(EDITED), repair: null },
    ])
    expect(statOf(s.entry).ino).toBe(before.ino)
  })

  it('repairs in place from a good copy: same inode, all three links read the good bytes, mode and times as before; verify is then clean', async () => {
    const dir = sandbox(fsys.dir)
    const s = linkedStore(dir)
    editInPlace(s.projects[2], EDITED)
    const before = statOf(s.entry)
    const r = await verifyEntries([{ path: s.entry, integrity: s.integrity, good: s.good }])
    expect(r.repaired).toBe(1)
    expect(r.mismatches).toEqual([
      {
        path: s.entry,
        expected: s.integrity,
        actual: sri('sha512', EDITED),
        size: Buffer.byteLength(EDITED),
        repair: { good: s.good, done: true, goodActual: null, error: null },
      },
    ])
    const after = statOf(s.entry)
    expect(after.ino).toBe(before.ino)
    expect(after.nlink).toBe(4n)
    expect(Number(after.mode) & 0o7777).toBe(0o640)
    expectSameTime(after.mtimeNs, before.mtimeNs)
    expectSameTime(after.atimeNs, before.atimeNs)
    for (const p of [s.entry, ...s.projects]) expect(fs.readFileSync(p, 'utf8')).toBe(GOOD)
    const again = await verifyEntries([{ path: s.entry, integrity: s.integrity, good: s.good }])
    expect(again).toMatchObject({ files: 1, ok: 1, mismatches: [], unreadable: [], repaired: 0 })
  })

  it('the sync twin repairs the same way', () => {
    const dir = sandbox(fsys.dir)
    const s = linkedStore(dir)
    editInPlace(s.projects[0], EDITED)
    const r = verifyEntriesSync([{ path: s.entry, integrity: s.integrity, good: s.good }])
    expect(r.repaired).toBe(1)
    for (const p of s.projects) expect(fs.readFileSync(p, 'utf8')).toBe(GOOD)
    expect(verifyEntriesSync([{ path: s.entry, integrity: s.integrity }]).ok).toBe(1)
  })

  it('refuses a good copy whose digest is wrong too, and leaves the entry exactly as it was', async () => {
    const dir = sandbox(fsys.dir)
    const s = linkedStore(dir)
    editInPlace(s.projects[0], EDITED)
    fs.writeFileSync(s.good, 'not the right bytes either\n')
    const before = statOf(s.entry)
    const r = await verifyEntries([{ path: s.entry, integrity: s.integrity, good: s.good }])
    expect(r.repaired).toBe(0)
    expect(r.mismatches[0].repair).toEqual({
      good: s.good,
      done: false,
      goodActual: sri('sha512', 'not the right bytes either\n'),
      error: null,
    })
    const after = statOf(s.entry)
    expect(fs.readFileSync(s.entry, 'utf8')).toBe(EDITED)
    expect([after.ino, after.size, after.mtimeNs, after.ctimeNs]).toEqual([before.ino, before.size, before.mtimeNs, before.ctimeNs])
  })

  it('never writes an entry whose digest matches, even with a good copy given', async () => {
    const dir = sandbox(fsys.dir)
    const s = linkedStore(dir)
    fs.writeFileSync(s.good, 'a wrong good copy is not even read\n')
    const before = statOf(s.entry)
    const r = await verifyEntries([{ path: s.entry, integrity: s.integrity, good: s.good }])
    expect(r).toMatchObject({ ok: 1, mismatches: [], repaired: 0, bytesHashed: Buffer.byteLength(GOOD) })
    const after = statOf(s.entry)
    expect([after.mtimeNs, after.ctimeNs]).toEqual([before.mtimeNs, before.ctimeNs])
  })

  it('reports a missing entry, a directory, a FIFO and a missing good copy with Node fs errors, and goes on', async () => {
    const dir = sandbox(fsys.dir)
    const s = linkedStore(dir)
    editInPlace(s.projects[0], EDITED)
    const gone = join(dir, 'store', 'ab', 'gone')
    // A FIFO with no writer: opened without blocking, and refused.
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const r = await verifyEntries([
      { path: gone, integrity: s.integrity },
      { path: s.entry, integrity: s.integrity, good: join(dir, 'no-such-good-copy') },
      { path: join(dir, 'store'), integrity: s.integrity },
      { path: fifo, integrity: s.integrity },
    ])
    expect(r.files).toBe(4)
    expect(r.unreadable.map((u) => [u.path, u.error.code])).toEqual([
      [gone, 'ENOENT'],
      [join(dir, 'store'), 'EISDIR'],
      [fifo, 'EINVAL'],
    ])
    expectFsError(r.unreadable[0].error, 'ENOENT', { syscall: 'open', path: gone })
    expectFsError(r.unreadable[1].error, 'EISDIR', { syscall: 'open' })
    const rep = r.mismatches[0].repair
    expect(rep?.done).toBe(false)
    expectFsError(rep?.error, 'ENOENT', { syscall: 'open', path: join(dir, 'no-such-good-copy') })
    expect(fs.readFileSync(s.entry, 'utf8')).toBe(EDITED)
  })

  it('checks sha256 and sha512 (and sha384), as SRI and as <algo>:<hex>, and answers in the form given', async () => {
    const dir = sandbox(fsys.dir)
    const f = join(dir, 'f')
    fs.writeFileSync(f, 'x'.repeat(1_000_003))
    const forms = ['sha256', 'sha384', 'sha512'].flatMap((a) => [sri(a, fs.readFileSync(f)), hex(a, fs.readFileSync(f))])
    const ok = await verifyEntries(forms.map((integrity) => ({ path: f, integrity })))
    expect(ok).toMatchObject({ files: 6, ok: 6, bytesHashed: 6 * 1_000_003 })
    // Upper-case hex and several SRI hashes (the strongest known one is used) are accepted.
    const mixed = `sha1-AAAA ${sri('sha256', 'wrong')} ${sri('sha512', fs.readFileSync(f))}`
    const upper = hex('sha256', fs.readFileSync(f)).replace(/:(.*)/, (_, h: string) => `:${h.toUpperCase()}`)
    expect((await verifyEntries([{ path: f, integrity: mixed }, { path: f, integrity: upper }])).ok).toBe(2)
    fs.appendFileSync(f, '!')
    const wrong = await verifyEntries(forms.map((integrity) => ({ path: f, integrity })))
    expect(wrong.mismatches.map((m) => m.actual)).toEqual(
      ['sha256', 'sha384', 'sha512'].flatMap((a) => [sri(a, fs.readFileSync(f)), hex(a, fs.readFileSync(f))]),
    )
  })

  it('rejects an integrity it cannot check, before reading anything', async () => {
    const dir = sandbox(fsys.dir)
    for (const integrity of ['md5-1B2M2Y8AsgTpgAmY7PhCfg==', 'sha512-short', 'sha256:abc', 'sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=']) {
      const err = await verifyEntries([{ path: join(dir, 'x'), integrity }]).catch((e: unknown) => e)
      expect((err as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE')
    }
    expect((catchSync(() => verifyEntriesSync([{ path: join(dir, 'x') } as never])) as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE')
  })

  it('repairs a read-only entry of the user running it (u+w for the moment, then its 0444 back), as that user', () => {
    const dir = sandbox(fsys.dir)
    // The mount's temp parent (mkdtemp: 0700) and the sandbox, open to that user.
    for (const d of [dirname(fsys.dir), fsys.dir, dir]) fs.chmodSync(d, 0o755)
    const s = linkedStore(dir)
    editInPlace(s.projects[0], EDITED)
    fs.chmodSync(s.entry, 0o444)
    fs.chownSync(s.entry, 65534, 65534)
    fs.chmodSync(s.good, 0o644)
    const before = statOf(s.entry)
    const script = `import('${join(import.meta.dirname, '..', 'dist', 'index.js')}').then(({ verifyEntriesSync }) => {
      const r = verifyEntriesSync([{ path: ${JSON.stringify(s.entry)}, integrity: ${JSON.stringify(s.integrity)}, good: ${JSON.stringify(s.good)} }])
      process.stdout.write(JSON.stringify({ uid: process.getuid(), repaired: r.repaired, error: r.mismatches[0]?.repair?.error?.code ?? null, unreadable: r.unreadable.map((u) => u.error.code) }))
    })`
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', env: { ...process.env, NODE_DEBUG: '' } })
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout), r.stdout).toEqual({ uid: 65534, repaired: 1, error: null, unreadable: [] })
    const after = statOf(s.entry)
    expect(Number(after.mode) & 0o7777).toBe(0o444)
    expect(after.ino).toBe(before.ino)
    expectSameTime(after.mtimeNs, before.mtimeNs)
    for (const p of s.projects) expect(fs.readFileSync(p, 'utf8')).toBe(GOOD)
  })

  it('reports progress up to the total, and stops on abort', async () => {
    const dir = sandbox(fsys.dir)
    const big = join(dir, 'big')
    fs.writeFileSync(big, Buffer.alloc(4 << 20, 7))
    const integrity = sri('sha512', fs.readFileSync(big))
    const entries = Array.from({ length: 150 }, () => ({ path: big, integrity }))
    const seen: Array<{ done: number; total: number }> = []
    const r = await verifyEntries(entries, { onProgress: (p) => seen.push(p) })
    expect(r.ok).toBe(150)
    expect(seen.at(-1)).toEqual({ done: 150, total: 150 })
    expect(seen.every((p, i) => p.total === 150 && (i === 0 || p.done >= seen[i - 1].done))).toBe(true)

    const ac = new AbortController()
    const started = performance.now()
    const aborted = await verifyEntries(entries, {
      signal: ac.signal,
      onProgress: (p) => {
        if (p.done > 0) ac.abort()
      },
    }).catch((e: unknown) => e)
    expect((aborted as Error).name).toBe('AbortError')
    expect((aborted as { code?: string }).code).toBe('ABORT_ERR')
    console.log(`verify aborted after ${Math.round(performance.now() - started)} ms; the whole run took ${Math.round(r.elapsedMs)} ms`)
    const pre = new AbortController()
    pre.abort()
    expect(((await verifyEntries(entries, { signal: pre.signal }).catch((e: unknown) => e)) as Error).name).toBe('AbortError')
  })
})

describe.skipIf(skipWithout('tmpfs'))('verifyEntries on tmpfs', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('tmpfs')
  })
  afterAll(() => fsys?.unmount())

  it('checks and repairs an entry whose name is not UTF-8, given as a Buffer', async () => {
    const dir = sandbox(fsys.dir)
    const name = (n: string) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(n, 'latin1')])
    const entry = name('caf\xe9')
    const good = name('good-caf\xe9')
    const link = name('project-caf\xe9')
    fs.writeFileSync(entry, GOOD)
    fs.writeFileSync(good, GOOD)
    fs.linkSync(entry, link)
    editInPlace(link as unknown as string, EDITED)
    const integrity = hex('sha256', GOOD)
    const r = await verifyEntries([{ path: entry, integrity, good }])
    expect(r.mismatches).toHaveLength(1)
    expect(Buffer.isBuffer(r.mismatches[0].path) && r.mismatches[0].path.equals(entry)).toBe(true)
    expect(r.mismatches[0]).toMatchObject({ expected: integrity, actual: hex('sha256', EDITED), repair: { done: true } })
    expect(fs.readFileSync(link, 'utf8')).toBe(GOOD)
    expect(fs.statSync(link).ino).toBe(fs.statSync(entry).ino)
    const missing = await verifyEntries([{ path: name('gone\xff'), integrity }])
    expect(missing.unreadable[0].error.code).toBe('ENOENT')
  })
})

describe('cachelink verify: usage', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'verify', ...args], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: '' } })

  it('`verify --help` shows usage and examples (exit 0); no store is a usage error (exit 2); a folder that is no pnpm store fails (exit 1)', () => {
    const help = run(['--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('Usage: cachelink verify')
    expect(help.stdout).toContain('Examples:')
    expect(help.stdout).toContain('--repair-from <dir>')
    expect(run([]).status).toBe(2)
    const dir = sandbox()
    const notStore = run([dir])
    expect(notStore.status).toBe(1)
    expect(notStore.stderr).toContain('is not a pnpm 10 store')
    fs.rmSync(dir, { recursive: true })
  })

  it('checks a JSON list, paths relative to it; --repair-from is a folder laid out like the list\'s', () => {
    const dir = sandbox()
    fs.mkdirSync(join(dir, 'good', 'lib'), { recursive: true })
    fs.mkdirSync(join(dir, 'cache', 'lib'), { recursive: true })
    fs.writeFileSync(join(dir, 'cache', 'lib', 'a.py'), EDITED)
    fs.writeFileSync(join(dir, 'good', 'lib', 'a.py'), GOOD)
    const list = join(dir, 'cache', 'list.json')
    fs.writeFileSync(list, JSON.stringify([{ path: 'lib/a.py', integrity: hex('sha256', GOOD) }]))
    const found = run([list, '--json'])
    expect(found.status).toBe(1)
    expect(JSON.parse(found.stdout)).toMatchObject({ source: 'list', remaining: 1, mismatches: [{ path: join(dir, 'cache', 'lib', 'a.py'), actual: hex('sha256', EDITED) }] })
    const fixed = run([list, '--repair-from', join(dir, 'good'), '--json'])
    expect(fixed.status).toBe(0)
    expect(JSON.parse(fixed.stdout)).toMatchObject({ repaired: 1, remaining: 0 })
    expect(fs.readFileSync(join(dir, 'cache', 'lib', 'a.py'), 'utf8')).toBe(GOOD)
    fs.rmSync(dir, { recursive: true })
  })
})

describe('cachelink verify on a store made by real pnpm', () => {
  let base: string
  let store: string
  let fresh: string
  let project: string
  let pnpmOk = true
  beforeAll(() => {
    base = sandbox()
    const { pnpm } = bench.pnpmSandbox(join(base, 'pnpm'))
    store = join(base, 'store')
    project = join(base, 'project')
    fs.mkdirSync(project)
    fs.writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'p', version: '1.0.0', dependencies: { 'is-number': '7.0.0', which: '2.0.2' } }),
    )
    try {
      pnpm(['install', '--config.package-import-method=hardlink'], project, { storeDir: store })
    } catch (e) {
      pnpmOk = false
      if (process.env.CI === 'true') throw e
      console.warn(`\n*** SKIPPING the pnpm store test: pnpm install failed (the network?): ${(e as Error).message} ***\n`)
      return
    }
    // A good copy of the store as a user would make one: pnpm fetch of the same lockfile into a
    // fresh store (from the registry).
    // (In a folder of its own with the manifest and the lockfile: pnpm fetch would otherwise
    // remove the project's node_modules, made with another store.)
    fresh = join(base, 'fresh')
    const fetchDir = join(base, 'fetch')
    fs.mkdirSync(fetchDir)
    for (const f of ['package.json', 'pnpm-lock.yaml']) fs.copyFileSync(join(project, f), join(fetchDir, f))
    pnpm(['fetch'], fetchDir, { storeDir: fresh })
  }, 120_000)
  afterAll(() => base && fs.rmSync(base, { recursive: true, force: true }))

  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, 'verify', ...args, '--json'], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: '' } })
    return { code: r.status, out: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr }
  }

  it('reads pnpm 10 index files: every file of every package, by its CAS path', async (ctx) => {
    if (!pnpmOk) ctx.skip()
    const s = await pnpmStoreEntries(store)
    expect(s.dir).toBe(join(store, 'v10'))
    expect(s.packages).toBe(3) // is-number, which, isexe
    expect(s.badIndexes).toEqual([])
    const bin = s.entries.find((e) => e.uses.includes('which@2.0.2/bin/node-which'))
    expect(bin?.path.endsWith('-exec')).toBe(true)
    for (const e of s.entries) expect(fs.existsSync(e.path)).toBe(true)
    const linked = join(project, 'node_modules', 'is-number', 'index.js')
    const e = s.entries.find((x) => x.uses.includes('is-number@7.0.0/index.js'))
    expect(e && fs.statSync(e.path).ino).toBe(fs.statSync(linked).ino)
  })

  it('finds the file edited through node_modules (exit 1), repairs it in place from a fresh store that pnpm fetch filled (exit 0), then finds nothing', async (ctx) => {
    if (!pnpmOk) ctx.skip()
    const linked = fs.realpathSync(join(project, 'node_modules', 'is-number', 'index.js'))
    const ino = fs.statSync(linked).ino
    const original = fs.readFileSync(linked)
    fs.appendFileSync(linked, '\n// patched by hand in node_modules\n')
    const found = cli([store])
    expect(found.code).toBe(1)
    expect(found.out).toMatchObject({ source: 'pnpm', packages: 3, ok: found.out.files - 1, remaining: 1, repaired: 0, unreadable: [] })
    expect(found.out.mismatches).toHaveLength(1)
    const m = found.out.mismatches[0]
    expect(m.uses).toEqual(['is-number@7.0.0/index.js'])
    expect(m.expected).toBe(sri('sha512', original))
    expect(m.actual).toBe(sri('sha512', fs.readFileSync(linked)))
    expect(fs.statSync(m.path).ino).toBe(ino)

    const repaired = cli([store, '--repair-from', fresh])
    expect(repaired.code).toBe(0)
    expect(repaired.out).toMatchObject({ repaired: 1, remaining: 0 })
    expect(repaired.out.mismatches[0].repair).toMatchObject({ done: true, good: join(fresh, 'v10', fs.realpathSync(m.path).slice(join(store, 'v10').length + 1)) })
    expect(fs.statSync(linked).ino).toBe(ino)
    expect(fs.readFileSync(linked).equals(original)).toBe(true)
    const clean = cli([store])
    expect(clean.code).toBe(0)
    expect(clean.out).toMatchObject({ mismatches: [], unreadable: [], remaining: 0, ok: clean.out.files })
  })

  it('reports a store file that is gone (exit 1, ENOENT)', async (ctx) => {
    if (!pnpmOk) ctx.skip()
    const s = await pnpmStoreEntries(store)
    const victim = s.entries.find((e) => e.uses.includes('isexe@2.0.0/LICENSE'))?.path as string
    const saved = fs.readFileSync(victim)
    fs.rmSync(victim)
    try {
      const r = cli([store])
      expect(r.code).toBe(1)
      expect(r.out.unreadable).toEqual([{ path: victim, error: expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: victim }) }])
    } finally {
      fs.writeFileSync(victim, saved)
    }
  })
})
