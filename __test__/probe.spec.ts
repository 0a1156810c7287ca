/**
 * `probe` and `fsInfo` (issue 11, point 9): probe tries each method with a file the cache
 * already has, so it answers for a read-only cache instead of failing there, and writes nothing
 * into it; it leaves the process's fallback memo alone; both run off the JS thread.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fsInfo, probe, probeSync } from '../ts/index.js'
import { isRoot, leftovers, mount, type Mounted, skipWithout, skipWithoutFuse, snapshot } from './helpers.js'

const fixtures = join(import.meta.dirname, 'fixtures')
const repo = join(import.meta.dirname, '..')

/** A pnpm-like store under `cache`: empty files first (they are no use to a probe), then content. */
function fillStore(cache: string): string {
  fs.mkdirSync(join(cache, 'v10', 'files', '00'), { recursive: true })
  fs.mkdirSync(join(cache, 'v10', 'files', '01'), { recursive: true })
  fs.mkdirSync(join(cache, 'v10', 'index'), { recursive: true })
  fs.writeFileSync(join(cache, 'v10', 'files', '00', 'e3b0c44298fc'), '')
  const file = join(cache, 'v10', 'files', '01', 'ab12cd34')
  fs.writeFileSync(file, 'module.exports = 1\n')
  return file
}

describe.skipIf(skipWithout('ext4', 'tmpfs'))('probe on a read-only cache', () => {
  let ext4: Mounted
  let tmpfs: Mounted
  let cache: string
  let entry: string
  beforeAll(() => {
    ext4 = mount('ext4')
    tmpfs = mount('tmpfs')
    cache = join(ext4.dir, 'store')
    entry = fillStore(cache)
    fs.mkdirSync(join(ext4.dir, 'project'))
    execFileSync('mount', ['-o', 'remount,ro', ext4.dir])
  })
  afterAll(() => {
    ext4?.unmount()
    tmpfs?.unmount()
  })

  it('answers (hard links EXDEV, copy works, cacheWritable false) and writes nothing there', async () => {
    const before = snapshot(cache)
    const target = fs.mkdtempSync(join(tmpfs.dir, 'target-'))
    const p = await probe(cache, target)
    expect(p.cacheWritable).toBe(false)
    expect(p.cacheWriteError).toBe('EROFS')
    expect(p.atLinkLimit).toBe('copy-readonly-cache')
    expect(p.source).toEqual({ path: entry, temp: false })
    expect(p.methods.hardlink).toEqual({ works: false, code: 'EXDEV' })
    expect(p.methods.copy).toEqual({ works: true, code: null })
    expect(p.auto).toEqual({
      method: 'copy',
      fallbacks: [
        { method: 'hardlink', code: 'EXDEV' },
        { method: 'clone', code: 'EXDEV' },
      ],
      error: null,
    })
    expect(snapshot(cache)).toEqual(before)
    expect(fs.readdirSync(target)).toEqual([])
  })

  it('into a directory of the read-only filesystem itself: hard links EROFS, no method works, no throw', () => {
    const before = snapshot(ext4.dir)
    const p = probeSync(cache, join(ext4.dir, 'project'))
    expect(p.cacheWritable).toBe(false)
    expect(p.sameDevice).toBe(true)
    for (const m of ['hardlink', 'clone', 'symlink', 'copy'] as const) {
      expect(p.methods[m]).toEqual({ works: false, code: 'EROFS' })
    }
    // auto's first method fails for real (not "unsupported here"): linkFile would throw EROFS.
    expect(p.auto).toEqual({ method: 'none', fallbacks: [], error: { method: 'hardlink', code: 'EROFS' } })
    expect(snapshot(ext4.dir)).toEqual(before)
  })

  it('an empty read-only cache: nothing to try with, and it says so', () => {
    const empty = join(ext4.dir, 'project')
    const target = fs.mkdtempSync(join(tmpfs.dir, 'target-'))
    const p = probeSync(empty, target)
    expect(p.source).toBeNull()
    expect(p.cacheWritable).toBe(false)
    expect(p.methods.hardlink).toEqual({ works: null, code: null })
    expect(p.auto).toEqual({ method: 'none', fallbacks: [], error: null })
    expect(fs.readdirSync(target)).toEqual([])
  })
})

describe.skipIf(skipWithout('tmpfs'))('probe: the source it tries with', () => {
  let tmpfs: Mounted
  beforeAll(() => {
    tmpfs = mount('tmpfs')
  })
  afterAll(() => tmpfs?.unmount())

  it('an existing non-empty file of the store, found under files/xx/ past thousands of entries', () => {
    const cache = join(tmpfs.dir, 'big')
    fs.mkdirSync(join(cache, 'files', '00'), { recursive: true })
    for (let i = 0; i < 1500; i++) fs.writeFileSync(join(cache, 'files', '00', `e${i}`), '')
    for (let i = 0; i < 200; i++) fs.mkdirSync(join(cache, 'files', `d${i}`))
    const file = join(cache, 'files', 'd150', 'content')
    fs.writeFileSync(file, 'x')
    const before = snapshot(cache)
    const p = probeSync(cache, tmpfs.dir)
    expect(p.source).toEqual({ path: file, temp: false })
    expect(p.methods.hardlink).toEqual({ works: true, code: null })
    expect(p.cacheWritable).toBe(true)
    expect(p.atLinkLimit).toBe('reset')
    expect(snapshot(cache)).toEqual(before)
    expect(leftovers(tmpfs.dir)).toEqual([])
  })

  it('an empty, writable cache: a temp file with a name cleanTemp knows, removed after', () => {
    const cache = fs.mkdtempSync(join(tmpfs.dir, 'empty-'))
    fs.mkdirSync(join(cache, 'sub'))
    fs.writeFileSync(join(cache, 'sub', 'empty'), '')
    const p = probeSync(cache, tmpfs.dir)
    expect(p.source?.temp).toBe(true)
    expect(p.source?.path).toMatch(/\/\.probe\.cachelink-[0-9a-f]{12}-\d+-[0-9a-f]{16}$/)
    expect(p.methods.hardlink.works).toBe(true)
    expect(fs.existsSync(p.source?.path ?? '')).toBe(false)
    expect(leftovers(tmpfs.dir)).toEqual([])
  })
})

describe.skipIf(skipWithout('tmpfs') || !isRoot)('probe as a user who cannot write the cache', () => {
  let tmpfs: Mounted
  beforeAll(() => {
    tmpfs = mount('tmpfs')
    // The mount's parent is mkdtemp's (0700): let `nobody` through.
    fs.chmodSync(join(tmpfs.dir, '..'), 0o755)
  })
  afterAll(() => tmpfs?.unmount())

  it('hard links work, cacheWritable is false (EACCES), and at the limit files get copies', () => {
    const cache = join(tmpfs.dir, 'store')
    const entry = fillStore(cache)
    const target = join(tmpfs.dir, 'project')
    fs.mkdirSync(target)
    execFileSync('chown', ['-R', 'nobody:nogroup', cache, target])
    execFileSync('chmod', ['-R', 'a-w', cache])
    const before = snapshot(cache)
    const code = `import(${JSON.stringify(join(repo, 'dist', 'index.js'))}).then(async (m) => console.log(JSON.stringify(await m.probe(process.argv[1], process.argv[2]))))`
    const r = spawnSync(process.execPath, ['-e', code, cache, target], { uid: 65534, gid: 65534, encoding: 'utf8' })
    expect(r.stderr).toBe('')
    const p = JSON.parse(r.stdout)
    expect(p.source).toEqual({ path: entry, temp: false })
    expect(p.methods.hardlink).toEqual({ works: true, code: null })
    expect(p.cacheWritable).toBe(false)
    expect(p.cacheWriteError).toBe('EACCES')
    expect(p.atLinkLimit).toBe('copy-readonly-cache')
    expect(p.auto.method).toBe('hardlink')
    expect(snapshot(cache)).toEqual(before)
    expect(fs.readdirSync(target)).toEqual([])
  })
})

describe.skipIf(skipWithout('ext4', 'tmpfs') || !fs.existsSync('/usr/bin/strace'))('probe and the fallback memo', () => {
  let ext4: Mounted
  let tmpfs: Mounted
  beforeAll(() => {
    ext4 = mount('ext4')
    tmpfs = mount('tmpfs')
  })
  afterAll(() => {
    ext4?.unmount()
    tmpfs?.unmount()
  })

  /** The second import's failed hard links and clones (EXDEV), as the kernel saw them. */
  const secondImportExdev = (mode: 'probe' | 'no-probe') => {
    const cache = join(ext4.dir, 'store')
    fs.mkdirSync(cache, { recursive: true })
    const src = join(cache, 'entry')
    fs.writeFileSync(src, 'content')
    const out = fs.mkdtempSync(join(tmpfs.dir, `${mode}-`))
    const log = join(out, 'trace')
    const args = [src, cache, join(out, 'one'), join(out, 'two'), out, mode]
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-o', log, '-e', 'trace=link,linkat,ioctl,newfstatat,statx', process.execPath, join(fixtures, 'probe-memo.mjs'), ...args],
      { encoding: 'utf8' },
    )
    expect(r.status, r.stderr).toBe(0)
    const lines = fs.readFileSync(log, 'utf8').split('\n')
    const marker = lines.findIndex((l) => l.includes('/cachelink-probe-memo-marker'))
    expect(marker).toBeGreaterThan(0)
    const failed = lines.slice(marker).filter((l) => l.includes('EXDEV'))
    const result = JSON.parse(r.stdout)
    return { failed, result }
  }

  it('an import after a probe still knows hard links fail between the two mounts: it tries no link', () => {
    const without = secondImportExdev('no-probe')
    expect(without.failed).toEqual([])
    const after = secondImportExdev('probe')
    // Old probe: it cleared the memo, so the import learned EXDEV again (a linkat and a FICLONE).
    expect(after.failed).toEqual([])
    expect(after.result.probed.methods.hardlink).toEqual({ works: false, code: 'EXDEV' })
    expect(after.result.two.copied).toBe(1)
    expect(after.result.two.fallbacks).toEqual(without.result.two.fallbacks)
  })
})

/** gatefs.py on a fresh directory: requests under /gated wait for the gate file. */
async function mountGatefs(env: Record<string, string> = {}) {
  const base = fs.mkdtempSync(join(tmpdir(), 'cachelink-gatefs-'))
  const dir = join(base, 'mnt')
  const backing = join(base, 'backing')
  const gate = join(base, 'gate')
  fs.mkdirSync(backing)
  fs.mkdirSync(dir)
  const fuse: ChildProcess = spawn('/usr/bin/python3', [join(fixtures, 'gatefs.py'), backing, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, GATE: gate, GATE_TIMEOUT: '5', ...env },
  })
  const said: string[] = []
  fuse.stdout?.on('data', (d) => said.push(...String(d).split('\n').filter(Boolean)))
  for (let i = 0; i < 200 && !fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `); i++) {
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    dir,
    backing,
    gate,
    said,
    unmount() {
      try {
        execFileSync('umount', ['-l', dir])
      } finally {
        fuse.kill()
        fs.rmSync(base, { recursive: true, force: true })
      }
    },
  }
}

describe.skipIf(skipWithoutFuse())('probe and fsInfo leave the event loop free', () => {
  let gated: Awaited<ReturnType<typeof mountGatefs>>
  afterEach(() => gated?.unmount())

  /**
   * Starts `call` on a path whose every request waits for a gate that only a timer of this
   * thread makes: the call can settle only if the event loop ran while it was pending.
   */
  const gatedCall = async (call: () => Promise<unknown>) => {
    let settled = false
    const p = call().finally(() => {
      settled = true
    })
    const pendingAfterCall = !settled
    let pendingWhenTimerRan: boolean | null = null
    setTimeout(() => {
      pendingWhenTimerRan = !settled
      try {
        fs.writeFileSync(gated.gate, '')
      } catch {}
    }, 20)
    await p
    return { pendingAfterCall, pendingWhenTimerRan, timedOut: gated.said.some((l) => l.startsWith('timeout')) }
  }

  it('probe: a timer ran while it was pending, and made the gate it was waiting for', async () => {
    gated = await mountGatefs()
    const cache = join(gated.backing, 'gated', 'store')
    fillStore(cache)
    const target = fs.mkdtempSync(join(tmpdir(), 'cachelink-target-'))
    try {
      const r = await gatedCall(() => probe(join(gated.dir, 'gated', 'store'), target))
      expect(r).toEqual({ pendingAfterCall: true, pendingWhenTimerRan: true, timedOut: false })
    } finally {
      fs.rmSync(target, { recursive: true, force: true })
    }
  })

  it('fsInfo: the same', async () => {
    gated = await mountGatefs()
    fs.mkdirSync(join(gated.backing, 'gated'))
    const r = await gatedCall(() => fsInfo(join(gated.dir, 'gated')))
    expect(r).toEqual({ pendingAfterCall: true, pendingWhenTimerRan: true, timedOut: false })
  })
})

describe.skipIf(skipWithoutFuse())('probe on a filesystem with a real link limit', () => {
  let fuse: Awaited<ReturnType<typeof mountGatefs>>
  afterAll(() => fuse?.unmount())

  it('a file at the limit says nothing about links between the places: the next file is tried', async () => {
    // gatefs without a gate (it exists), refusing a third link to any file (EMLINK), as EFS at 177.
    fuse = await mountGatefs({ LINK_LIMIT: '2' })
    fs.writeFileSync(fuse.gate, '')
    const cache = join(fuse.dir, 'store')
    fs.mkdirSync(join(cache, 'sub'), { recursive: true })
    fs.writeFileSync(join(cache, 'full'), 'full')
    fs.linkSync(join(cache, 'full'), join(cache, 'full-2'))
    fs.writeFileSync(join(cache, 'sub', 'room'), 'room')
    fs.mkdirSync(join(fuse.dir, 'project'))
    const p = await probe(cache, join(fuse.dir, 'project'))
    expect(p.source).toEqual({ path: join(cache, 'sub', 'room'), temp: false })
    expect(p.methods.hardlink).toEqual({ works: true, code: null })
    expect(fs.statSync(join(cache, 'full')).nlink).toBe(2)
    expect(fs.readdirSync(join(fuse.dir, 'project'))).toEqual([])
  })
})
