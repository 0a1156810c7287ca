// Real pnpm (the devDependency, node_modules/.bin/pnpm) with and without cachelink's
// `importPackage` hook (`cachelink/pnpm`), on a filesystem with a real hard link limit:
// __test__/fixtures/nolinkfs.py (FUSE, python3-fusepy) with LINK_LIMIT=n. The store is filled
// once from the network (`pnpm fetch` of __test__/fixtures/pnpm-project, 229 packages), copied
// for each side, then the project is installed --offline --frozen-lockfile into `copies` fresh
// directories per side, store and projects all inside the mount, the two sides interleaved.
// Counted afterwards on the backing directory: a package file with one link is a copy.
//
//   node benchmark/pnpm-hook.mjs                      12 copies per side, LINK_LIMIT=8
//   node benchmark/pnpm-hook.mjs --copies 40 --limit 16 --keep
//
// Root only (FUSE mount). Work files under a fresh temp dir (pnpm's store, cache, state and HOME
// too), removed at the end unless --keep. Prints a Markdown table (the README's). Also used by
// __test__/pnpm.spec.ts, which asserts on what run() returns.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PNPM = path.join(ROOT, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs')
const FIXTURES = path.join(ROOT, '__test__', 'fixtures')
export const PROJECT = path.join(FIXTURES, 'pnpm-project')
export const PROJECT_NEXT = path.join(FIXTURES, 'pnpm-project-next')
export const SIDES = ['stock', 'cachelink']

/** The project's files for one side: stock pnpm gets the lockfile without the pnpmfile's checksum. */
export function writeProject(dir, from, side, extra = {}) {
  fs.mkdirSync(dir, { recursive: true })
  fs.copyFileSync(path.join(from, 'package.json'), path.join(dir, 'package.json'))
  const lock = fs.readFileSync(path.join(from, 'pnpm-lock.yaml'), 'utf8')
  fs.writeFileSync(path.join(dir, 'pnpm-lock.yaml'), side === 'stock' ? withoutChecksum(lock) : lock)
  if (side === 'cachelink') fs.copyFileSync(path.join(from, '.pnpmfile.cjs'), path.join(dir, '.pnpmfile.cjs'))
  else fs.rmSync(path.join(dir, '.pnpmfile.cjs'), { force: true })
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), text)
}

export function withoutChecksum(lock) {
  const out = lock.replace(/^pnpmfileChecksum: .*\n\n?/m, '')
  if (out === lock) throw new Error('the lockfile has no pnpmfileChecksum: was it made with the pnpmfile?')
  return out
}

/** A sandbox for pnpm: its HOME, cache, state, and a NODE_PATH where `cachelink` is this checkout. */
export function pnpmSandbox(base) {
  const dirs = {}
  for (const d of ['home', 'cache', 'state', 'node_path', 'xdg']) {
    dirs[d] = path.join(base, d)
    fs.mkdirSync(dirs[d], { recursive: true })
  }
  fs.symlinkSync(ROOT, path.join(dirs.node_path, 'cachelink'))
  const env = {}
  // npm's own variables (npm_config_* when run by `npm test`) would be read by pnpm as its config.
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm|pnpm)_/i.test(k) && !k.startsWith('CACHELINK_')) env[k] = v
  Object.assign(env, {
    HOME: dirs.home,
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_CACHE_HOME: path.join(dirs.xdg, 'cache'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    XDG_STATE_HOME: path.join(dirs.xdg, 'state'),
    NODE_PATH: dirs.node_path,
  })
  /** Runs pnpm; returns { status, out, ms }; `check` (default) throws on a non-zero status. */
  function pnpm(args, cwd, { storeDir, env: extra = {}, check = true } = {}) {
    const all = [
      PNPM,
      ...args,
      ...(storeDir ? ['--store-dir', storeDir] : []),
      '--cache-dir',
      dirs.cache,
      `--config.state-dir=${dirs.state}`,
      '--config.update-notifier=false',
    ]
    const t0 = process.hrtime.bigint()
    const r = spawnSync(process.execPath, all, { cwd, env: { ...env, ...extra }, encoding: 'utf8' })
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
    if (check && r.status !== 0) throw new Error(`pnpm ${args.join(' ')} in ${cwd} exited ${r.status}:\n${out}`)
    return { status: r.status, out, ms }
  }
  return { dirs, env, pnpm }
}

/** nolinkfs.py with LINK_LIMIT=limit over `backing`, mounted on `mnt`. */
export async function mountNolinkfs(backing, mnt, limit) {
  fs.mkdirSync(backing, { recursive: true })
  fs.mkdirSync(mnt, { recursive: true })
  const fuse = spawn('/usr/bin/python3', [path.join(FIXTURES, 'nolinkfs.py'), backing, mnt], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LINK_LIMIT: String(limit) },
  })
  for (let i = 0; i < 400 && !fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} fuse`); i++) {
    await new Promise((r) => setTimeout(r, 25))
  }
  if (!fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} fuse`)) {
    fuse.kill()
    throw new Error(`nolinkfs.py did not mount ${mnt}`)
  }
  return () => {
    try {
      execFileSync('umount', [mnt], { stdio: 'pipe' })
    } catch {
      execFileSync('umount', ['-l', mnt]) // busy: detach it, so nothing below is removed through FUSE
    } finally {
      fuse.kill()
    }
  }
}

/**
 * The package files of an installed project (pnpm's .bin shims and its own state files left
 * out), counted by link count: one link is a copy; empty files apart (pnpm links its empty store
 * file; cachelink creates them).
 */
export function countFiles(projectDir) {
  const c = { files: 0, linked: 0, copied: 0, empty: 0 }
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) {
        if (e.name !== '.bin') walk(p)
      } else if (e.isFile()) {
        if (d.endsWith(`${path.sep}node_modules`) && (e.name === '.modules.yaml' || e.name === '.pnpm-workspace-state-v1.json')) continue
        if (d.endsWith(`${path.sep}.pnpm`) && e.name === 'lock.yaml') continue
        const st = fs.lstatSync(p)
        c.files++
        if (st.size === 0) c.empty++
        else if (st.nlink === 1) c.copied++
        else c.linked++
      }
    }
  }
  walk(path.join(projectDir, 'node_modules'))
  return c
}

/** Store files with at least `limit` links (every later link of them fails). */
function atLimit(storeDir, limit) {
  let n = 0
  let files = 0
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && !e.name.endsWith('-index.json')) {
        files++
        if (fs.lstatSync(p).nlink >= limit) n++
      }
    }
  }
  walk(path.join(storeDir, 'v10', 'files'))
  return { files, atLimit: n }
}

function duKiB(paths) {
  const out = execFileSync('du', ['-sck', ...paths], { encoding: 'utf8' }).trim().split('\n')
  return Number(out.at(-1)?.split('\t')[0])
}

export function readStats(file) {
  if (!fs.existsSync(file)) return []
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

/**
 * The comparison. Returns per side: per-install counts and times, totals, resets, store entries
 * at the limit, disk used; and `base`/`mnt` (alive until `done()` is called).
 */
export async function run({ copies = 12, limit = 8, log = () => {} } = {}) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cachelink-pnpm-'))
  const sb = pnpmSandbox(base)
  const backing = path.join(base, 'backing')
  const mnt = path.join(base, 'mnt')
  const seed = path.join(base, 'seed-store')

  // The store, filled once from the network, outside the mount (both lockfiles).
  for (const [name, from] of [
    ['seed', PROJECT],
    ['seed-next', PROJECT_NEXT],
  ]) {
    const dir = path.join(base, name)
    writeProject(dir, from, 'cachelink')
    log(`pnpm fetch (${path.basename(from)})`)
    sb.pnpm(['fetch', '--frozen-lockfile'], dir, { storeDir: seed })
  }
  fs.mkdirSync(backing)
  for (const side of SIDES) execFileSync('cp', ['-a', seed, path.join(backing, `store-${side}`)])
  const unmount = await mountNolinkfs(backing, mnt, limit)
  const result = { limit, copies, base, mnt, backing, seed, sb, sides: {} }
  result.done = () => {
    unmount()
  }
  try {
    for (const side of SIDES) result.sides[side] = { installs: [], outputs: [] }
    for (let i = 1; i <= copies; i++) {
      for (const side of i % 2 ? SIDES : [...SIDES].reverse()) {
        const name = `${side}-${i}`
        writeProject(path.join(mnt, name), PROJECT, side)
        const statsFile = path.join(base, `stats-${name}.jsonl`)
        const r = sb.pnpm(['install', '--offline', '--frozen-lockfile'], path.join(mnt, name), {
          storeDir: path.join(mnt, `store-${side}`),
          env: side === 'cachelink' ? { CACHELINK_STATS_FILE: statsFile } : {},
        })
        const counts = countFiles(path.join(backing, name))
        const stats = readStats(statsFile)
        const resets = stats.reduce((n, s) => n + s.resets, 0)
        // cachelink's own account of copies forced by the limit (none expected: it resets).
        const limitCopies = stats.reduce((n, s) => n + s.linkLimitCopies + s.readonlyCacheCopies, 0)
        result.sides[side].installs.push({ name, ms: r.ms, ...counts, resets, limitCopies, packages: stats.length })
        result.sides[side].outputs.push(r.out)
        log(`${name}: ${Math.round(r.ms)} ms, ${counts.linked} linked, ${counts.copied} copied, ${resets} resets`)
      }
    }
    for (const side of SIDES) {
      const s = result.sides[side]
      const sum = (k) => s.installs.reduce((n, x) => n + x[k], 0)
      s.files = sum('files')
      s.linked = sum('linked')
      s.copied = sum('copied')
      s.empty = sum('empty')
      s.resets = sum('resets')
      s.limitCopies = sum('limitCopies')
      s.firstAllCopied = s.installs.findIndex((x) => x.linked === 0) + 1 || null
      s.store = atLimit(path.join(backing, `store-${side}`), limit)
      s.diskKiB = duKiB([path.join(backing, `store-${side}`), ...s.installs.map((x) => path.join(backing, x.name))])
      s.msMedian = median(s.installs.map((x) => x.ms))
      s.msMin = Math.min(...s.installs.map((x) => x.ms))
      s.msMax = Math.max(...s.installs.map((x) => x.ms))
      s.msTotal = sum('ms')
    }
  } catch (e) {
    result.done()
    throw e
  }
  return result
}

const fmt = (n) => n.toLocaleString('en-US')
const sec = (ms) => (ms / 1000).toFixed(1)

/** The README's table. */
export function table(r, machine) {
  const [a, b] = SIDES.map((s) => r.sides[s])
  const perInstall = a.installs[0].files
  const pct = (x, s) => `${fmt(x)} (${((100 * x) / s.files).toFixed(0)}%)`
  const rows = [
    ['installs (229 packages, about ' + fmt(perInstall) + ' files each)', fmt(r.copies), fmt(r.copies)],
    ['files hard linked', pct(a.linked, a), pct(b.linked, b)],
    ['files copied', pct(a.copied, a), pct(b.copied, b)],
    ['empty files (pnpm links its empty store file; cachelink creates them)', fmt(a.empty), fmt(b.empty)],
    ['first install in which every file was copied', a.firstAllCopied ? `#${a.firstAllCopied}` : 'none', b.firstAllCopied ? `#${b.firstAllCopied}` : 'none'],
    ['store entries reset', fmt(a.resets), fmt(b.resets)],
    [`store files at ${r.limit} links afterwards`, `${fmt(a.store.atLimit)} of ${fmt(a.store.files)}`, `${fmt(b.store.atLimit)} of ${fmt(b.store.files)}`],
    ['disk used (`du` of store and projects, backing dir)', `${(a.diskKiB / 1024).toFixed(0)} MiB`, `${(b.diskKiB / 1024).toFixed(0)} MiB`],
    ['time per install, median (min–max)', ...[a, b].map((x) => `${sec(x.msMedian)} s (${sec(x.msMin)}–${sec(x.msMax)})`)],
    ['time, all installs', ...[a, b].map((x) => `${sec(x.msTotal)} s`)],
  ]
  const lines = [
    `| nolinkfs.py, LINK_LIMIT=${r.limit} | stock pnpm 10.34.9 | pnpm 10.34.9 + \`cachelink/pnpm\` |`,
    '|---|---:|---:|',
    ...rows.map((x) => `| ${x.join(' | ')} |`),
  ]
  if (machine) lines.push('', machine)
  return lines.join('\n')
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { copies: { type: 'string', default: '12' }, limit: { type: 'string', default: '8' }, keep: { type: 'boolean', default: false } },
  })
  const r = await run({ copies: Number(values.copies), limit: Number(values.limit), log: (m) => console.error(m) })
  r.done()
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? '?'
  const machine = `${os.availableParallelism()} × ${cpu}, ${execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim()}, Node ${process.version}; backing dir on ${execFileSync('findmnt', ['-no', 'FSTYPE', '-T', r.backing], { encoding: 'utf8' }).trim()}.`
  console.log(table(r, machine))
  if (values.keep) console.error(`kept ${r.base}`)
  else fs.rmSync(r.base, { recursive: true, force: true })
}
