/**
 * The `cachelink` command, run as a child process exactly as users run it (`node
 * bin/cachelink.js ...`), on real filesystems.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backend } from '../ts/addon.js'
import { jsBackend, leftovers, mount, type Mounted, onLinux, sandbox, skipWithout } from './helpers.js'

const BIN = join(import.meta.dirname, '..', 'bin', 'cachelink.js')

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_DEBUG: '', ...env },
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

// biome-ignore lint/suspicious/noExplicitAny: JSON documents of the CLI
function json(args: string[], expectCode = 0): any {
  const r = cli([...args, '--json'])
  if (r.code !== expectCode) throw new Error(`exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

/** A name that is not UTF-8 (Linux allows any bytes but / and NUL). */
const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]) // "caf\xE9"
const under = (dir: string, name: Buffer) => Buffer.concat([Buffer.from(`${dir}/`), name])

/** The pid of a process that has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', '0']).pid
  if (!pid) throw new Error('no pid')
  return pid
}

const COMMANDS = ['probe', 'scan', 'reset', 'import', 'link', 'clean', 'demo']

describe('usage', () => {
  it.each(COMMANDS)('`%s --help` shows usage and examples, exit 0', (command) => {
    const r = cli([command, '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`Usage: cachelink ${command}`)
    expect(r.stdout).toContain('Examples:')
    expect(r.stdout).toContain('--json')
  })

  it('rejects an unknown flag with a suggestion, exit 2, and touches nothing', () => {
    const dir = sandbox()
    const before = fs.readdirSync(dir)
    const r = cli(['reset', dir, '--dry-runn'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe("cachelink: unknown option '--dry-runn' (Did you mean --dry-run?)\n")
    expect(r.stdout).toBe('')
    expect(fs.readdirSync(dir)).toEqual(before)
    fs.rmSync(dir, { recursive: true })
  })

  it('rejects an unknown command with a suggestion, and bad values, exit 2', () => {
    const typo = cli(['scna', '/tmp'])
    expect([typo.code, typo.stderr]).toEqual([2, "cachelink: unknown command 'scna' (Did you mean scan?)\n"])
    const bad = cli(['clean', '/tmp', '--older-than', '5x'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^cachelink: option '--older-than <duration>' argument '5x' is invalid\. .*\n$/)
    expect(cli(['scan', '/tmp', '--near', '0.9', '--above', '5']).code).toBe(2)
    expect(cli(['import', '--from', '/tmp']).code).toBe(2)
    expect(cli([]).code).toBe(2)
    expect(cli(['--version'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) })
  })

  it('a failed operation is one line with code and paths, exit 1; JSON too; the stack only with NODE_DEBUG', () => {
    const dir = sandbox()
    const src = join(dir, 'missing')
    const dest = join(dir, 'dest')
    const r = cli(['link', src, dest])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(`cachelink link: ENOENT: no such file or directory, link '${src}' -> '${dest}'\n`)
    const j = cli(['link', src, dest, '--json'])
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: 'ENOENT', syscall: 'link', path: src, dest })
    const debug = cli(['link', src, dest], { NODE_DEBUG: 'cachelink' })
    expect(debug.stderr).toMatch(/\n\s+at /)
    expect(fs.existsSync(dest)).toBe(false)
    fs.rmSync(dir, { recursive: true })
  })

  it('--method takes reflink and a comma-separated order; a bad one is a usage error', () => {
    const dir = sandbox()
    const src = join(dir, 'src')
    fs.writeFileSync(src, 'x')
    const linked = json(['link', src, join(dir, 'a'), '--method', 'hardlink,copy'])
    expect(linked).toMatchObject({ method: 'hardlink', fallbacks: [], linkRefused: null })
    expect(json(['link', src, join(dir, 'b'), '--method', 'copy,hardlink']).method).toBe('copy')
    for (const bad of ['clone,reflink', 'hardlink,cp', '']) {
      const r = cli(['link', src, join(dir, 'c'), '--method', bad])
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/^cachelink: option '--method <method>' argument '.*' is invalid\. /)
    }
    expect(fs.existsSync(join(dir, 'c'))).toBe(false)
    fs.rmSync(dir, { recursive: true })
  })

  it('demo runs the main job within the EFS link limit', () => {
    const d = json(['demo', '--envs', '200'])
    expect(d.files).toBe(7 * 200)
    expect(d.mostLinks).toBeLessThanOrEqual(177)
    expect(d.resets).toBeGreaterThan(0)
    // Windows has no exec bit.
    expect(d.lastEnvBinExecutable).toBe(process.platform !== 'win32')
    expect(fs.existsSync(d.dir)).toBe(false)
  })
})

describe.skipIf(skipWithout('tmpfs', 'ext4', 'btrfs'))('probe: what works between two places', () => {
  const mounts: Partial<Record<'tmpfs' | 'ext4' | 'ext4b' | 'btrfs', Mounted>> = {}
  beforeAll(() => {
    mounts.tmpfs = mount('tmpfs')
    mounts.ext4 = mount('ext4')
    mounts.btrfs = mount('btrfs')
  })
  afterAll(() => {
    for (const m of Object.values(mounts)) m?.unmount()
  })
  const dirs = (kind: 'tmpfs' | 'ext4' | 'btrfs') => {
    const base = mounts[kind]?.dir ?? ''
    for (const d of ['cache', 'target']) fs.mkdirSync(join(base, d), { recursive: true })
    return [join(base, 'cache'), join(base, 'target')]
  }

  it('tmpfs to tmpfs: hard links, no clones, no practical link limit', () => {
    const [cache, target] = dirs('tmpfs')
    const p = json(['probe', cache, target])
    // The backend this suite's pass asked for (CACHELINK_BACKEND, inherited by the command).
    expect(p.backend).toBe(backend)
    expect(p.cache).toMatchObject({ fsType: 'tmpfs', linkMaxFrom: 'fstype', linkMax: 4294967295 })
    expect(p.sameDevice).toBe(true)
    expect(p.methods.hardlink).toEqual({ works: true, code: null })
    expect(p.methods.clone.works).toBe(false)
    expect(p.methods.symlink.works).toBe(true)
    expect(p.methods.copy.works).toBe(true)
    expect(p.auto).toEqual({ method: 'hardlink', fallbacks: [], error: null })
    // An empty, writable cache: a temp file of its own, removed.
    expect(p.source.temp).toBe(true)
    expect(p.cacheWritable).toBe(true)
    expect([...leftovers(cache), ...leftovers(target)]).toEqual([])
  })

  it('ext4 to ext4: hard links up to 65,000, no clones', () => {
    const [cache, target] = dirs('ext4')
    const p = json(['probe', cache, target])
    expect(p.cache).toMatchObject({ fsType: 'ext4', linkMax: 65000, linkMaxFrom: 'fstype' })
    expect(p.target.fsType).toBe('ext4')
    expect(p.sameDevice).toBe(true)
    expect(p.methods.hardlink.works).toBe(true)
    expect(p.methods.clone).toEqual({ works: false, code: 'ENOTSUP' })
    expect(p.auto.method).toBe('hardlink')
  })

  it('ext4 to tmpfs: EXDEV for hard links and clones, so auto copies, and says why', () => {
    const [cache] = dirs('ext4')
    const [, target] = dirs('tmpfs')
    const p = json(['probe', cache, target])
    expect(p.sameDevice).toBe(false)
    expect(p.methods.hardlink).toEqual({ works: false, code: 'EXDEV' })
    expect(p.methods.clone).toEqual({ works: false, code: 'EXDEV' })
    expect(p.methods.copy.works).toBe(true)
    expect(p.auto).toEqual({
      method: 'copy',
      fallbacks: [
        { method: 'hardlink', code: 'EXDEV' },
        { method: 'clone', code: 'EXDEV' },
      ],
      error: null,
    })
    const text = cli(['probe', cache, target])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('auto:     copy (after hardlink EXDEV, clone EXDEV)')
    expect(text.stdout).toContain(backend === 'js' ? 'backend:  js (CACHELINK_BACKEND=js)' : 'backend:  native (the Rust addon)')
    expect(text.stdout).toContain('writable: yes: an entry at the link limit is reset')
    expect([...leftovers(cache), ...leftovers(target)]).toEqual([])
  })

  it('btrfs to btrfs: clones work, link limit 65,535', () => {
    const [cache, target] = dirs('btrfs')
    const p = json(['probe', cache, target])
    expect(p.cache).toMatchObject({ fsType: 'btrfs', linkMax: 65535, linkMaxFrom: 'fstype' })
    expect(p.methods.clone).toEqual({ works: true, code: null })
    expect(p.methods.hardlink.works).toBe(true)
    expect(p.auto.method).toBe('hardlink')
  })
})

describe.skipIf(skipWithout('ext4'))('scan and reset at the real ext4 limit', () => {
  let fsys: Mounted
  let cache: string
  let hot: string
  let warm: string
  let cold: string
  const oldLink = (name: string) => join(fsys.dir, 'envs', name, '0')

  beforeAll(() => {
    fsys = mount('ext4')
    cache = join(fsys.dir, 'cache')
    fs.mkdirSync(join(cache, 'ab'), { recursive: true })
    hot = join(cache, 'ab', 'hot')
    warm = join(cache, 'ab', 'warm')
    cold = join(cache, 'ab', 'cold')
    fs.writeFileSync(hot, 'hot bytes\n', { mode: 0o755 })
    fs.writeFileSync(warm, 'warm bytes\n')
    fs.writeFileSync(cold, 'cold bytes\n')
    // 65,000 and 64,000 links in all: the cache's own name and the rest in environments.
    for (const [entry, name, n] of [[hot, 'hot', 64_999], [warm, 'warm', 63_999]] as const) {
      const dir = join(fsys.dir, 'envs', name)
      fs.mkdirSync(dir, { recursive: true })
      for (let i = 0; i < n; i++) fs.linkSync(entry, join(dir, String(i)))
    }
  })
  afterAll(() => fsys?.unmount())

  it('scan reports both entries near the limit with --near 0.9', () => {
    expect(fs.statSync(hot).nlink).toBe(65000)
    const s = json(['scan', cache, '--near', '0.9'])
    expect(s).toMatchObject({ files: 3, limit: 65000, limitFrom: 'fstype', nearAt: 58500, mostLinks: 65000 })
    expect(s.near.map((n: { path: string; links: number }) => [n.path, n.links])).toEqual([
      [hot, 65000],
      [warm, 64000],
    ])
    expect(s.histogram.at(-1)).toEqual({ from: 10000, to: null, files: 2 })
    const text = cli(['scan', cache])
    expect(text.stdout).toContain('near the limit (at least 58,500 links: 0.9 of 65,000): 2')
  })

  it('reset --dry-run lists them and changes nothing', () => {
    const before = [hot, warm, cold].map((p) => fs.statSync(p)).map((s) => [s.ino, s.nlink, s.mtimeMs])
    const r = json(['reset', cache, '--near', '0.9', '--dry-run'])
    expect(r).toMatchObject({ dryRun: true, resets: 0, failed: 0 })
    expect(r.entries.map((e: { path: string }) => e.path)).toEqual([hot, warm])
    const after = [hot, warm, cold].map((p) => fs.statSync(p)).map((s) => [s.ino, s.nlink, s.mtimeMs])
    expect(after).toEqual(before)
  })

  it('reset --near 0.9 leaves each entry with 1 link, same bytes and mode; the old links still work', () => {
    const hotBefore = fs.statSync(hot)
    const mtimeBefore = fs.statSync(hot, { bigint: true }).mtimeNs
    const r = json(['reset', cache, '--near', '0.9'])
    expect(r).toMatchObject({ dryRun: false, resets: 2, failed: 0 })
    for (const [entry, name, bytes] of [[hot, 'hot', 'hot bytes\n'], [warm, 'warm', 'warm bytes\n']] as const) {
      expect(fs.statSync(entry).nlink).toBe(1)
      expect(fs.readFileSync(entry, 'utf8')).toBe(bytes)
      expect(fs.readFileSync(oldLink(name), 'utf8')).toBe(bytes)
    }
    const hotAfter = fs.statSync(hot)
    expect(hotAfter.ino).not.toBe(hotBefore.ino)
    expect(hotAfter.mode).toBe(hotBefore.mode)
    // The JS backend sets times through utimes, which libuv sets to the microsecond.
    const mtimeAfter = fs.statSync(hot, { bigint: true }).mtimeNs
    if (jsBackend) expect(mtimeAfter / 1000n).toBe(mtimeBefore / 1000n)
    else expect(mtimeAfter).toBe(mtimeBefore)
    expect(fs.statSync(oldLink('hot')).nlink).toBe(64999)
    expect(fs.statSync(cold).nlink).toBe(1)
    expect(leftovers(cache)).toEqual([])
    expect(json(['scan', cache]).near).toEqual([])
  })
})

describe.skipIf(skipWithout('tmpfs'))('import, clean and names that are not UTF-8', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('tmpfs')
  })
  afterAll(() => fsys?.unmount())

  /** Every path under `dir` (as raw bytes, latin1-decoded to compare) with its content or target. */
  function tree(dir: string): string[] {
    const out: string[] = []
    const walk = (d: Buffer, rel: string) => {
      for (const name of fs.readdirSync(d, { encoding: 'buffer' })) {
        const p = Buffer.concat([d, Buffer.from('/'), name])
        const r = `${rel}/${name.toString('latin1')}`
        const st = fs.lstatSync(p)
        if (st.isDirectory()) {
          out.push(`${r}/`)
          walk(p, r)
        } else if (st.isSymbolicLink()) {
          out.push(`${r} -> ${fs.readlinkSync(p, 'utf8')}`)
        } else {
          out.push(`${r} ${(st.mode & 0o111) !== 0 ? 'x' : '-'} ${fs.readFileSync(p, 'latin1')}`)
        }
      }
    }
    walk(Buffer.from(dir), '')
    return out.sort()
  }

  function makeTree(root: string) {
    fs.mkdirSync(join(root, 'lib', 'deep'), { recursive: true })
    fs.mkdirSync(join(root, 'bin'))
    fs.writeFileSync(join(root, 'package.json'), '{"name":"p"}')
    fs.writeFileSync(join(root, 'lib', 'index.js'), 'module.exports = 1\n')
    fs.writeFileSync(join(root, 'lib', 'deep', 'x.js'), 'x\n')
    fs.writeFileSync(join(root, 'bin', 'cli.js'), '#!/usr/bin/env node\n', { mode: 0o755 })
    fs.writeFileSync(join(root, 'empty'), '')
    fs.writeFileSync(under(root, LATIN1), 'latin-1 name\n')
    fs.symlinkSync('lib/index.js', join(root, 'main.js'))
  }

  it('import --from <dir> mirrors the tree, names that are not UTF-8 included; --json matches it', () => {
    const dir = sandbox(fsys.dir)
    makeTree(join(dir, 'src'))
    const s = json(['import', '--from', join(dir, 'src'), '--into', join(dir, 'out')])
    expect(s).toMatchObject({ source: 'tree', into: join(dir, 'out'), files: 7, dirs: 3, symlinked: 1, method: 'hardlink' })
    expect([s.hardlinked + s.copied, s.emptyCreated]).toEqual([5, 1])
    expect(tree(join(dir, 'out'))).toEqual(tree(join(dir, 'src')))
    expect(leftovers(dir)).toEqual([])
  })

  it('import --from <index.json> materializes the file map, sources relative to the file', () => {
    const dir = sandbox(fsys.dir)
    makeTree(join(dir, 'store'))
    const index = [
      { path: 'index.js', src: 'store/lib/index.js' },
      { path: 'bin/run', src: join(dir, 'store', 'bin', 'cli.js'), executable: true },
      { path: 'LICENSE', src: 'store/empty', size: 0 },
    ]
    fs.writeFileSync(join(dir, 'index.json'), JSON.stringify(index))
    const s = json(['import', '--from', join(dir, 'index.json'), '--into', join(dir, 'pkg'), '--method', 'copy'])
    expect(s).toMatchObject({ source: 'index', files: 3, copied: 2, emptyCreated: 1, method: 'copy' })
    expect(tree(join(dir, 'pkg'))).toEqual(['/LICENSE - ', '/bin/', '/bin/run x #!/usr/bin/env node\n', '/index.js - module.exports = 1\n'])
    // The same map as an object of path: src.
    fs.writeFileSync(join(dir, 'map.json'), JSON.stringify({ 'a.js': 'store/lib/deep/x.js' }))
    expect(json(['import', '--from', join(dir, 'map.json'), '--into', join(dir, 'pkg2')]).files).toBe(1)
    // A re-install: replaced whole, node_modules carried over; then skipped when in place.
    fs.mkdirSync(join(dir, 'pkg2', 'node_modules'))
    fs.writeFileSync(join(dir, 'pkg2', 'old.js'), '')
    const again = ['import', '--from', join(dir, 'index.json'), '--into', join(dir, 'pkg2'), '--on-existing', 'replace', '--keep', 'node_modules']
    expect(json(again)).toMatchObject({ files: 3, kept: 0 })
    expect(fs.readdirSync(join(dir, 'pkg2')).sort()).toEqual(['LICENSE', 'bin', 'index.js', 'node_modules'])
    const skip = ['import', '--from', join(dir, 'index.json'), '--into', join(dir, 'pkg2'), '--on-existing', 'skip-if-linked', '--keep', 'node_modules']
    expect(json(skip)).toMatchObject({ files: 0, kept: 3 })
  })

  it('a bad index or an unsafe path fails with one line, exit 1, and writes nothing', () => {
    const dir = sandbox(fsys.dir)
    fs.writeFileSync(join(dir, 'bad.json'), '{ nope')
    const bad = cli(['import', '--from', join(dir, 'bad.json'), '--into', join(dir, 'out')])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/^cachelink import: ERR_CACHELINK_BAD_INDEX: .*bad\.json: not JSON: .*\n$/)
    fs.writeFileSync(join(dir, 'evil.json'), JSON.stringify([{ path: '../escape', src: join(dir, 'bad.json') }]))
    const evil = cli(['import', '--from', join(dir, 'evil.json'), '--into', join(dir, 'out')])
    expect(evil.code).toBe(1)
    expect(evil.stderr).toMatch(/^cachelink import: ERR_CACHELINK_UNSAFE_PATH: .*\n$/)
    expect(fs.readdirSync(dir).sort()).toEqual(['bad.json', 'evil.json'])
  })

  it('scan and reset handle a cache entry whose name is not UTF-8', () => {
    const dir = sandbox(fsys.dir)
    const cache = join(dir, 'cache')
    fs.mkdirSync(cache)
    const entry = under(cache, LATIN1)
    fs.writeFileSync(entry, 'bytes')
    for (let i = 0; i < 4; i++) fs.linkSync(entry, join(dir, `l${i}`))
    const s = json(['scan', cache, '--above', '3'])
    expect(s.near).toHaveLength(1)
    expect(s.near[0]).toMatchObject({ path: `${cache}/caf\\xE9`, exact: false, links: 5 })
    expect(Buffer.from(s.near[0].raw, 'base64')).toEqual(entry)
    const text = cli(['scan', cache, '--above', '3'])
    expect(text.stdout).toContain(`5  ${cache}/caf\\xE9`)
    expect(json(['reset', cache, '--above', '3']).resets).toBe(1)
    expect(fs.statSync(entry).nlink).toBe(1)
    expect(fs.readFileSync(entry, 'utf8')).toBe('bytes')
  })

  /** Starts `cachelink import` of 20,000 files into `<dir>/pkgs/p`; resolves once its stage exists. */
  async function importUnderway() {
    const dir = sandbox(fsys.dir)
    const src = join(dir, 'src')
    for (let d = 0; d < 40; d++) {
      fs.mkdirSync(join(src, String(d)), { recursive: true })
      for (let f = 0; f < 500; f++) fs.writeFileSync(join(src, String(d), String(f)), 'x'.repeat(100))
    }
    const pkgs = join(dir, 'pkgs')
    fs.mkdirSync(pkgs)
    const args = ['import', '--from', src, '--into', join(pkgs, 'p'), '--method', 'copy', '--threads', '1']
    const child = spawn(process.execPath, [BIN, ...args])
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    while (!fs.readdirSync(pkgs).some((n) => n.includes('.cachelink-stage-'))) {
      await new Promise((r) => setTimeout(r, 2))
    }
    return { pkgs, child, exited, stderr: () => stderr }
  }

  it('Ctrl-C (SIGINT) aborts an import: exit 130, one line, no stage and no destination left', async () => {
    const { pkgs, child, exited, stderr } = await importUnderway()
    child.kill('SIGINT')
    const code = await exited
    if (code === 0) return console.warn('the import finished before SIGINT arrived: nothing to check')
    expect(code).toBe(130)
    expect(stderr()).toBe('cachelink import: interrupted (SIGINT); nothing was left half-done\n')
    expect(fs.readdirSync(pkgs)).toEqual([])
  })

  it('clean removes what a killed import left, and nothing else', async () => {
    const { pkgs, child, exited } = await importUnderway()
    child.kill('SIGKILL')
    await exited
    expect(fs.existsSync(join(pkgs, 'p'))).toBe(false)
    // Beside it: a temp of a running process (this one), a name that only looks like a temp,
    // a stale temp whose name is not UTF-8, and ordinary files.
    const live = join(pkgs, `.x.cachelink-${process.pid}-0123456789abcdef`)
    const lookalike = join(pkgs, 'y.cachelink-1-0123')
    const notes = join(pkgs, `notes.cachelink-${deadPid()}-0123456789abcdef`) // the format, no leading dot
    const stale = under(pkgs, Buffer.concat([Buffer.from('.'), LATIN1, Buffer.from(`.cachelink-${deadPid()}-00000000000000ff`)]))
    for (const p of [live, lookalike, notes, stale, join(pkgs, 'keep.txt')]) fs.writeFileSync(p, 'x')
    const stage = fs.readdirSync(pkgs).find((n) => n.includes('.cachelink-stage-')) ?? ''

    const dry = json(['clean', pkgs, '--older-than', '0', '--dry-run'])
    expect(dry.removed).toHaveLength(2)
    expect(fs.readdirSync(pkgs)).toContain(stage)

    const r = json(['clean', pkgs, '--older-than', '0'])
    expect(r.removed.map((l: { kind: string }) => l.kind).sort()).toEqual(['stage', 'temp'])
    expect(r.removed.find((l: { kind: string }) => l.kind === 'temp')).toMatchObject({ exact: false })
    expect(r.unrecognized).toMatchObject([{ path: notes, reason: 'no-leading-dot' }])
    expect(cli(['clean', pkgs]).stdout).toContain(`no-leading-dot      ${notes}`)
    expect(fs.readdirSync(pkgs).sort()).toEqual([`.x.cachelink-${process.pid}-0123456789abcdef`, 'keep.txt', notes.slice(pkgs.length + 1), 'y.cachelink-1-0123'])
    // And by default (60 s), nothing that young goes.
    fs.writeFileSync(stale, 'x')
    expect(json(['clean', pkgs]).removed).toEqual([])
  })
})

function hasTmux(): boolean {
  return spawnSync('tmux', ['-V']).status === 0
}

describe.skipIf(skipWithout('tmpfs'))('in a terminal', () => {
  let fsys: Mounted
  const socket = `cachelink-test-${process.pid}`
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
  beforeAll(() => {
    if (!hasTmux()) {
      if (process.env.CI) throw new Error('CI=true and tmux is missing (apt-get install tmux)')
      console.warn('\n*** SKIPPING the terminal test: tmux is not installed ***\n')
    }
    fsys = mount('tmpfs')
  })
  afterAll(() => {
    spawnSync('tmux', ['-L', socket, 'kill-server'])
    fsys?.unmount()
  })

  it.skipIf(!onLinux || !hasTmux())('import draws a progress bar with rate and ETA, ends it at 100% and gives the cursor back', async () => {
    const dir = sandbox(fsys.dir)
    const src = join(dir, 'src')
    for (let d = 0; d < 60; d++) {
      fs.mkdirSync(join(src, String(d)), { recursive: true })
      for (let f = 0; f < 500; f++) fs.writeFileSync(join(src, String(d), String(f)), 'x'.repeat(512))
    }
    const raw = join(dir, 'pane.raw')
    tmux('new-session', '-d', '-s', 'cli', '-x', '150', '-y', '30')
    tmux('pipe-pane', '-t', 'cli', '-o', `cat >> ${raw}`)
    const command = `${process.execPath} ${BIN} import --from ${src} --into ${join(dir, 'out')} --method copy --threads 1; echo EXIT=$?`
    tmux('send-keys', '-t', 'cli', command, 'Enter')
    // Until the exit code is on the screen and in the stream the pane's output is copied to.
    let screen = ''
    let stream = ''
    for (let i = 0; i < 600 && !(/^EXIT=\d+/m.test(screen) && stream.includes('EXIT=')); i++) {
      await new Promise((r) => setTimeout(r, 50))
      screen = tmux('capture-pane', '-p', '-t', 'cli')
      stream = fs.existsSync(raw) ? fs.readFileSync(raw, 'latin1') : ''
    }
    // Frames: the bar, its percentage, rate and ETA; at least one before the end.
    const frames = [...stream.matchAll(/import \[[^\]]*\] (\d+)% \| [\d,]+\/30,060 entries \| [\d,]+\/s \| ETA (…|[\d.]+ m?s)/g)]
    expect(frames.length).toBeGreaterThan(1)
    expect(frames.some((f) => Number(f[1]) < 100)).toBe(true)
    expect(frames.at(-1)?.[1]).toBe('100')
    expect(stream).toContain('\x1b[?25l') // cursor hidden while drawing
    expect(stream).toContain('\x1b[?25h') // and shown again
    // The screen after: the finished bar on its own line, then the summary, then the exit code.
    const lines = screen.split('\n').filter((l) => l.trim())
    const at = lines.findIndex((l) => l.startsWith('imported '))
    expect(lines[at - 1]).toMatch(/^import \[█+\] 100% \| 30,060\/30,060 entries \| [\d,]+\/s \| ETA 0 s\s*$/)
    expect(lines[at]).toBe(`imported 30,000 files and 60 directories into ${join(dir, 'out')} in ${lines[at].split(' in ').at(-1)}`)
    expect(lines).toContain('EXIT=0')
  })

  it('without a terminal there is no bar: no escape codes, only the result', () => {
    const dir = sandbox(fsys.dir)
    fs.mkdirSync(join(dir, 'src'))
    fs.writeFileSync(join(dir, 'src', 'a'), 'a')
    const r = cli(['import', '--from', join(dir, 'src'), '--into', join(dir, 'out')])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).not.toContain('\x1b[')
    expect(r.stdout).toMatch(/^imported 1 files and 0 directories into .*\n {2}hardlinked 1; 0 resets/)
  })
})
