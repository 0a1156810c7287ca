/**
 * A hard link refused for one file is that file's business: with Linux's
 * `fs.protected_hardlinks=1`, an unprivileged user cannot link a file of another user that it
 * cannot write (EPERM). That file is placed by the next method (`linkRefused: 'EPERM'`), and
 * nothing is remembered: the user's own files after it are still hard links. A filesystem
 * without hard links (exFAT) gives EPERM for the process's own files too, and that is
 * remembered for the pair of mounts; so is EPERM for a file of another user that the process may
 * read and write, which `protected_hardlinks` lets anyone link.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Mounted, mount, skipWithout } from './helpers.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/refused.mjs', import.meta.url))
const SYSCTL = '/proc/sys/fs/protected_hardlinks'
/** nobody:nogroup on Debian and Ubuntu. */
const NOBODY = 65534

interface Placed {
  method?: string
  linkRefused?: string | null
  fallbacks?: Array<{ method: string; code: string }>
  same?: boolean
  code?: string
}

/** link(2) calls from a file under `dir` in an `strace` log (a copy's own temp-file links are not counted). */
function linksFrom(trace: string, dir: string): string[] {
  return fs
    .readFileSync(trace, 'utf8')
    .split('\n')
    .filter((l) => /\blink(at)?\(/.test(l) && l.includes(`"${dir}/`))
}

/** Runs the fixture over `jobs` as `nobody` (or as root with `asRoot`), under `strace` when asked. */
function place(jobs: Array<[string, string, object?]>, how: { asRoot?: boolean; strace?: string } = {}): Placed[] {
  let argv = [process.execPath, FIXTURE, JSON.stringify(jobs)]
  if (how.strace) argv = ['strace', '-f', '-qq', '-e', 'trace=link,linkat', '-o', how.strace, ...argv]
  if (!how.asRoot) argv = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv]
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`fixture failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout)
}

describe.skipIf(skipWithout('tmpfs', 'ext4'))('protected_hardlinks, as user nobody', () => {
  let saved: string
  beforeAll(() => {
    saved = fs.readFileSync(SYSCTL, 'utf8').trim()
    fs.writeFileSync(SYSCTL, '1')
  })
  afterAll(() => fs.writeFileSync(SYSCTL, saved))

  for (const kind of ['tmpfs', 'ext4'] as const) {
    describe(kind, () => {
      let m: Mounted
      let store: string
      let dest: string
      beforeAll(() => {
        m = mount(kind)
        // mount() makes its directory under a 0700 temp dir: let nobody in.
        fs.chmodSync(dirname(m.dir), 0o755)
        fs.chmodSync(m.dir, 0o755)
        store = join(m.dir, 'store')
        dest = join(m.dir, 'dest')
        fs.mkdirSync(store, { mode: 0o755 })
        fs.mkdirSync(dest)
        fs.chownSync(dest, NOBODY, NOBODY)
        for (let i = 0; i < 4; i++) {
          fs.writeFileSync(join(store, `root-${i}`), `root ${i}\n`, { mode: 0o644 })
          fs.writeFileSync(join(store, `own-${i}`), `own ${i}\n`, { mode: 0o644 })
          fs.chownSync(join(store, `own-${i}`), NOBODY, NOBODY)
        }
      })
      afterAll(() => m?.unmount())

      it("root's files are copied with linkRefused 'EPERM'; nobody's files after them are still hard links", () => {
        const names = ['root-0', 'root-1', 'root-2', 'own-0', 'own-1', 'root-3', 'own-2', 'own-3']
        const out = place(names.map((n) => [join(store, n), join(dest, n)]))
        const refused = { method: 'copy', linkRefused: 'EPERM', same: false }
        const linked = { method: 'hardlink', linkRefused: null, same: true, fallbacks: [] }
        expect(out).toMatchObject(names.map((n) => (n.startsWith('root') ? refused : linked)))
        // The refused link is no fallback: only clone, which tmpfs and ext4 lack, is one.
        expect(out[0].fallbacks).toEqual([{ method: 'clone', code: 'ENOTSUP' }])
        for (const n of names) {
          expect(fs.readFileSync(join(dest, n), 'utf8')).toBe(fs.readFileSync(join(store, n), 'utf8'))
        }
        expect(fs.statSync(join(store, 'own-3')).nlink).toBe(2)
        expect(fs.statSync(join(store, 'root-3')).nlink).toBe(1)
      })

      it('importFiles as nobody: root\'s files copied and counted in linkRefusedCopies, the others linked', () => {
        const names = ['root-0', 'root-1', 'own-0', 'root-2', 'own-1', 'own-2', 'root-3', 'own-3']
        const into = join(dest, 'app')
        // With sizes: the fast path (a bare linkat) is taken once a first file is linked.
        const entries = names.map((n) => ({ path: `lib/${n}`, src: join(store, n), size: fs.statSync(join(store, n)).size }))
        const job = JSON.stringify({ entries, options: { into } })
        const nobody = ['--reuid=nobody', '--regid=nogroup', '--clear-groups']
        const r = spawnSync('setpriv', [...nobody, process.execPath, FIXTURE, 'import', job], { encoding: 'utf8' })
        expect(r.status, r.stderr).toBe(0)
        expect(JSON.parse(r.stdout)).toMatchObject({ files: 8, hardlinked: 4, copied: 4, linkRefusedCopies: 4 })
        for (const n of names) {
          const same = fs.statSync(join(into, 'lib', n)).ino === fs.statSync(join(store, n)).ino
          expect(same).toBe(n.startsWith('own'))
        }
      })

      it('the next method of a list places the refused file; a strict hard link throws EPERM', () => {
        const out = place([
          [join(store, 'root-0'), join(dest, 'sym-0'), { method: ['hardlink', 'symlink', 'copy'] }],
          [join(store, 'root-1'), join(dest, 'strict-1'), { method: 'hardlink', fallback: false }],
          [join(store, 'own-0'), join(dest, 'sym-own-0'), { method: ['hardlink', 'symlink', 'copy'] }],
        ])
        expect(out[0]).toMatchObject({ method: 'symlink', linkRefused: 'EPERM', fallbacks: [] })
        expect(fs.readlinkSync(join(dest, 'sym-0'))).toBe(join(store, 'root-0'))
        expect(out[1]).toEqual({ code: 'EPERM' })
        expect(fs.existsSync(join(dest, 'strict-1'))).toBe(false)
        expect(out[2]).toMatchObject({ method: 'hardlink', linkRefused: null, same: true })
      })
    })
  }
})

describe.skipIf(skipWithout('exfat'))('exFAT through FUSE: EPERM for files the process owns is remembered', () => {
  let exfat: Mounted
  beforeAll(() => {
    exfat = mount('exfat')
  })
  afterAll(() => exfat?.unmount())

  it('one link is tried for five files, and none is reported refused', () => {
    const store = join(exfat.dir, 'store')
    fs.mkdirSync(store)
    const jobs: Array<[string, string]> = []
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(join(store, String(i)), `fat ${i}`)
      jobs.push([join(store, String(i)), join(exfat.dir, `out-${i}`)])
    }
    const trace = join(dirname(exfat.dir), 'strace.txt')
    const out = place(jobs, { asRoot: true, strace: trace })
    const fallbacks = [
      { method: 'hardlink', code: 'EPERM' },
      { method: 'clone', code: 'ENOTSUP' },
    ]
    expect(out).toEqual(jobs.map(() => ({ method: 'copy', linkRefused: null, fallbacks, same: false })))
    // The first file's link only: the memo skipped the method for the four others.
    const links = linksFrom(trace, store)
    expect(links).toHaveLength(1)
    expect(links[0]).toContain('EPERM')
  })
})

describe.skipIf(skipWithout('exfat'))('exFAT through FUSE as nobody: a file nobody may write, EPERM remembered', () => {
  let base: string
  let dir: string
  beforeAll(() => {
    // As helpers' mount('exfat'), with allow_other so that nobody may use it. Its files show
    // as root's, mode 0777: not nobody's, but nobody may read and write them.
    base = fs.mkdtempSync(join(tmpdir(), 'cachelink-exfat-other-'))
    fs.chmodSync(base, 0o755)
    dir = join(base, 'mnt')
    fs.mkdirSync(dir)
    const image = join(base, 'image')
    fs.closeSync(fs.openSync(image, 'w'))
    fs.truncateSync(image, 64 * 1024 * 1024)
    execFileSync('mkfs.exfat', [image], { stdio: 'pipe' })
    execFileSync('mount', ['-t', 'exfat-fuse', '-o', 'loop,allow_other', image, dir], { stdio: 'pipe' })
  })
  afterAll(() => {
    try {
      execFileSync('umount', ['-l', dir])
    } finally {
      fs.rmSync(base, { recursive: true, force: true })
    }
  })

  it('one link is tried for five files of root that nobody may write', () => {
    const store = join(dir, 'store')
    fs.mkdirSync(store)
    const jobs: Array<[string, string]> = []
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(join(store, String(i)), `fat ${i}`)
      jobs.push([join(store, String(i)), join(dir, `out-${i}`)])
    }
    expect(fs.statSync(join(store, '0'))).toMatchObject({ uid: 0, mode: expect.any(Number) })
    expect(fs.statSync(join(store, '0')).mode & 0o666).toBe(0o666)
    const trace = join(base, 'strace.txt')
    fs.writeFileSync(trace, '')
    fs.chownSync(trace, NOBODY, NOBODY)
    const out = place(jobs, { strace: trace })
    expect(out).toMatchObject(jobs.map(() => ({ method: 'copy', linkRefused: null, same: false })))
    expect(out[0].fallbacks?.[0]).toEqual({ method: 'hardlink', code: 'EPERM' })
    const links = linksFrom(trace, store)
    expect(links).toHaveLength(1)
    expect(links[0]).toContain('EPERM')
  })
})
