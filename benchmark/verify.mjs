// `verifyEntries` against coreutils' sha512sum / sha256sum on the same files: every file of the
// benchmark corpus's store (benchmark/corpus.mjs: 33,959 files, 475 MiB, named by their sha512),
// checked against its digest. Each implementation runs as its own process and is timed by the
// clock from start to exit (Node's start and the entry list count for cachelink, as sha512sum's
// start and reading its sums file count for it), and by the CPU time it and its children used
// (user + system: what it costs whatever else the machine runs). The files are read once first, so every run
// hashes from the page cache; rounds are interleaved and their order rotated; median and min.
//
//   cachelink          `verifyEntries` on the native backend, CACHELINK_THREADS=2
//   cachelink-js       the same call on the JS backend (node:crypto)
//   shaNsum -c         one `sha512sum --check --quiet` (or sha256sum) over the whole list
//   xargs -P2 shaNsum  the list split in two halves, `xargs -P2 -n1 sha512sum --check --quiet`
//
// Before timing, every implementation must report every file good (exit 0), and one file edited
// must be reported by each (a non-zero exit: 1, or xargs' 123): the outputs agree.
//
// Usage: node benchmark/verify.mjs [--rounds 5] [--algo sha512|sha256|both]
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureCorpus } from './corpus.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.join(HERE, '..')

function arg (name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : process.argv[i + 1]
}

// The child: verify a list of [path, integrity] with cachelink; exit 1 on any mismatch.
if (process.argv[2] === '--child') {
  const { verifyEntries, backend } = await import(path.join(ROOT, 'dist', 'index.js'))
  const list = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))
  const r = await verifyEntries(list.map(([p, integrity]) => ({ path: p, integrity })))
  process.stdout.write(JSON.stringify({ backend, files: r.files, ok: r.ok, bytes: r.bytesHashed, ms: r.elapsedMs }) + '\n')
  process.exit(r.ok === r.files ? 0 : 1)
}

const rounds = Number(arg('rounds', '5'))
const algos = { both: ['sha512', 'sha256'], sha512: ['sha512'], sha256: ['sha256'] }[arg('algo', 'both')]
const corpus = ensureCorpus()
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cachelink-verify-bench-'))

// The store's files; the sha512 is in each name, the sha256 is computed once here.
const files = []
for (const d of fs.readdirSync(corpus.store).sort()) {
  for (const name of fs.readdirSync(path.join(corpus.store, d)).sort()) {
    files.push({ path: path.join(corpus.store, d, name), sha512: d + name.replace(/-exec$/, '') })
  }
}
let bytes = 0
for (const f of files) {
  const data = fs.readFileSync(f.path) // also warms the page cache
  bytes += data.length
  f.sha256 = createHash('sha256').update(data).digest('hex')
}

function lists (algo, dir) {
  fs.mkdirSync(dir, { recursive: true })
  const sums = files.map((f) => `${f[algo]}  ${f.path}\n`)
  const half = Math.ceil(files.length / 2)
  fs.writeFileSync(path.join(dir, 'all.sums'), sums.join(''))
  fs.writeFileSync(path.join(dir, 'a.sums'), sums.slice(0, half).join(''))
  fs.writeFileSync(path.join(dir, 'b.sums'), sums.slice(half).join(''))
  const sri = (h) => `${algo}-${Buffer.from(h, 'hex').toString('base64')}`
  fs.writeFileSync(path.join(dir, 'list.json'), JSON.stringify(files.map((f) => [f.path, sri(f[algo])])))
  return dir
}

function impls (algo, dir) {
  const env = (backend) => ({ ...process.env, CACHELINK_BACKEND: backend, CACHELINK_THREADS: '2', NODE_DEBUG: '' })
  return [
    { name: 'cachelink', cmd: process.execPath, args: [fileURLToPath(import.meta.url), '--child', path.join(dir, 'list.json')], env: env('native') },
    { name: 'cachelink-js', cmd: process.execPath, args: [fileURLToPath(import.meta.url), '--child', path.join(dir, 'list.json')], env: env('js') },
    { name: `${algo}sum -c`, cmd: `${algo}sum`, args: ['--check', '--quiet', path.join(dir, 'all.sums')] },
    {
      name: `xargs -P2 ${algo}sum -c`,
      cmd: 'sh',
      args: ['-c', `printf '%s\\n' a.sums b.sums | xargs -P2 -n1 ${algo}sum --check --quiet`],
      cwd: dir,
    },
  ]
}

/**
 * CPU time (user + system, ms) of this process's waited-for children so far, from
 * /proc/self/stat (cutime, cstime; descendants count once their parents waited for them): the
 * work each implementation did whatever else the machine was running.
 */
function childCpuMs () {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 16 and 17 of proc(5), counted from 1 with pid and comm: index 13 and 14 here.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS
}
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

function run (impl) {
  const cpu0 = childCpuMs()
  const t0 = process.hrtime.bigint()
  const r = spawnSync(impl.cmd, impl.args, { env: impl.env ?? process.env, cwd: impl.cwd, encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  return { status: r.status, ms, cpu: childCpuMs() - cpu0, out: r.stdout, err: r.stderr }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const fmt = (n) => Math.round(n).toLocaleString('en-US')

console.log(`verify benchmark: ${fmt(files.length)} store files, ${(bytes / 2 ** 20).toFixed(0)} MiB (${corpus.store}), page cache warm`)
console.log(`${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}, ${rounds} rounds interleaved; wall clock of each process, load average ${os.loadavg()[0].toFixed(1)}\n`)

try {
  for (const algo of algos) {
    const dir = lists(algo, path.join(work, algo))
    const all = impls(algo, dir)
    // The outputs agree: all good, then one file edited is caught by every one.
    for (const impl of all) {
      const r = run(impl)
      if (r.status !== 0) throw new Error(`${impl.name} did not find every file good (exit ${r.status}): ${r.err}${r.out}`)
    }
    const victim = files[Math.floor(files.length / 3)].path
    const saved = fs.readFileSync(victim)
    fs.appendFileSync(victim, 'x')
    try {
      for (const impl of all) {
        const r = run(impl)
        if (r.status === 0) throw new Error(`${impl.name} did not report the edited file (exit 0)`)
      }
    } finally {
      fs.writeFileSync(victim, saved)
    }
    const times = new Map(all.map((i) => [i.name, []]))
    const cpus = new Map(all.map((i) => [i.name, []]))
    for (let round = 0; round < rounds; round++) {
      const order = all.map((_, i) => all[(i + round) % all.length])
      for (const impl of order) {
        const r = run(impl)
        if (r.status !== 0) throw new Error(`${impl.name} failed in round ${round}: ${r.err}`)
        times.get(impl.name).push(r.ms)
        cpus.get(impl.name).push(r.cpu)
      }
    }
    const base = median(times.get(`xargs -P2 ${algo}sum -c`))
    console.log(`${algo}`)
    console.log('| implementation | median | min | files/s | MB/s | vs xargs -P2 | CPU (user+sys) |')
    console.log('|---|--:|--:|--:|--:|--:|--:|')
    for (const impl of all) {
      const t = times.get(impl.name)
      const m = median(t)
      console.log(`| ${impl.name} | ${fmt(m)} ms | ${fmt(Math.min(...t))} ms | ${fmt(files.length / (m / 1000))} | ${fmt(bytes / 1e6 / (m / 1000))} | ${(base / m).toFixed(2)}x | ${fmt(median(cpus.get(impl.name)))} ms |`)
    }
    console.log('')
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
