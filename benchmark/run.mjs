// The benchmark: import a real npm corpus (about 38k files) from a content-addressed store into fresh
// pnpm-layout trees, by hard link, clone and copy, with cachelink and with what it replaces.
//
//   npm run bench                                  every filesystem, 7 rounds
//   npm run bench -- --quick                       3 rounds; tmpfs and ext4 (hardlink, copy), btrfs (clone)
//   npm run bench -- --fs ext4 --only pnpm,floor --rounds 5
//
// Root only (mounts). Work files under $CACHELINK_BENCH_DIR (default /var/tmp/cachelink-bench).
// Writes benchmark/RESULTS.md. See lib/impls.mjs for the implementations.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { benchDir, describeCorpus, ensureCorpus } from './corpus.mjs'
import { IMPLS, killCurrent, label, runImpl } from './lib/impls.mjs'
import { loadIndex, planTree } from './lib/layout.mjs'
import { cleanupAll, FILESYSTEMS, mountFs, sh, sizeFor, unmountFs } from './lib/mounts.mjs'
import { machine, resultsMarkdown, table } from './lib/report.mjs'
import { checkShared, statStore, verifyTree } from './lib/verify.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const DIST = path.join(HERE, '..', 'dist', 'index.js')
const METHODS = { tmpfs: ['hardlink', 'copy'], ext4: ['hardlink', 'copy'], btrfs: ['clone'], xfs: ['clone'] }

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    fs: { type: 'string' },
    only: { type: 'string' },
    rounds: { type: 'string' }
  }
})
const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean)
const fsList = opts.fs ? list(opts.fs) : opts.quick ? ['tmpfs', 'ext4', 'btrfs'] : FILESYSTEMS
const rounds = Number(opts.rounds ?? (opts.quick ? 3 : 7))
const only = opts.only ? list(opts.only) : null
const impls = IMPLS.filter((i) => !only || only.some((o) => i === o || i.startsWith(`${o}-`)))
for (const f of fsList) if (!METHODS[f]) throw new Error(`--fs: unknown filesystem ${f} (known: ${FILESYSTEMS.join(', ')})`)
if (!impls.length) throw new Error(`--only matches none of ${IMPLS.join(', ')}`)
if (!(rounds >= 1)) throw new Error('--rounds must be a positive integer')
if (process.getuid() !== 0) throw new Error('the benchmark mounts filesystems: run it as root')

const BENCH = benchDir()
const log = (...a) => console.log(...a)
const t0 = performance.now()

// Unmount and remove everything, however we leave.
let cleaned = false
const cleanup = () => { if (!cleaned) { cleaned = true; killCurrent(); cleanupAll(BENCH) } }
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { log(`\n${sig}: cleaning up`); cleanup(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)) })
}

/** Which cachelink implementations can run: importFiles only once the batch API is in dist. */
async function cachelinkSkips () {
  const skips = {}
  let mod = null
  try { mod = await import(pathToFileURL(DIST).href) } catch (e) { mod = { error: e } }
  for (const impl of impls.filter((i) => i.startsWith('cachelink-'))) {
    const fn = impl === 'cachelink-linkFile' ? 'linkFile' : 'importFiles'
    if (mod.error) skips[impl] = `${label(impl, 'hardlink').split(',')[0]}: ${DIST} does not load (${mod.error.code ?? mod.error.message}); run \`npm run build\``
    else if (typeof mod[fn] !== 'function') skips[impl] = `${label(impl, 'hardlink').split(',')[0]}: \`${fn}\` is not exported by dist/index.js yet`
  }
  return skips
}

async function main () {
  cleanupAll(BENCH) // whatever a killed earlier run left
  const corpus = ensureCorpus({ log })
  log(`corpus: ${describeCorpus(corpus.stats)}${corpus.reused ? ' (reused)' : ` (built in ${corpus.stats.buildSeconds} s)`}`)
  const index = loadIndex(corpus.indexPath)

  const work = path.join(BENCH, 'work')
  fs.mkdirSync(work, { recursive: true })
  const floorBin = path.join(work, 'floor')
  sh('cc', ['-O2', '-pthread', '-o', floorBin, path.join(HERE, 'floor.c')])

  const skips = await cachelinkSkips()
  const runnable = impls.filter((i) => !skips[i])
  for (const s of Object.values(skips)) log(`not run: ${s}`)

  const baseline = await runImpl('noop', { method: 'hardlink', indexPath: corpus.indexPath, storeRoot: corpus.store, tree: path.join(work, 'none') })
  const groups = []
  let files = 0

  for (const fsName of fsList) {
    const size = sizeFor(corpus.stats)
    log(`\n== ${fsName}: mounting (${(size / 2 ** 30).toFixed(1)} GiB), copying the store`)
    const m = mountFs(BENCH, fsName, size)
    try {
      const storeRoot = path.join(m.mnt, 'store')
      sh('cp', ['-a', corpus.store, storeRoot])
      const tree = path.join(m.mnt, 'tree')
      const ref = path.join(m.mnt, 'ref')
      const plan = planTree(index, storeRoot, tree)
      files = plan.files
      const storeStats = statStore(plan)

      // The C floor's input, and (built with it, not timed) the reference tree cp copies.
      const floorDirs = path.join(work, 'dirs')
      const floorPairs = path.join(work, 'pairs')
      const writeFloorLists = (p) => {
        fs.writeFileSync(floorDirs, p.dirs.map((d) => d + '\0').join(''))
        fs.writeFileSync(floorPairs, p.pkgs.flatMap((pkg) => pkg.files.map((f) => `${f.src}\0${f.dest}\0${f.executable ? '755' : '644'}\0`)).join(''))
      }
      const refPlan = planTree(index, storeRoot, ref)
      writeFloorLists(refPlan)
      sh(floorBin, ['hardlink', '1', floorDirs, floorPairs])
      const refProblems = verifyTree(refPlan, storeStats, 'hardlink')
      if (refProblems.length) throw new Error(`reference tree is wrong: ${refProblems.join('; ')}`)
      writeFloorLists(plan)
      sh('sync', ['-f', m.mnt])

      for (const method of METHODS[fsName]) {
        const group = { fs: fsName, method, mount: m.options, img: m.img, size, backing: BENCH, runs: {}, skipped: Object.values(skips) }
        groups.push(group)
        const ctx = { method, indexPath: corpus.indexPath, storeRoot, tree, ref, floorBin, floorDirs, floorPairs, dist: pathToFileURL(DIST).href }
        for (let round = 0; round < rounds; round++) {
          const order = runnable.map((_, i) => runnable[(i + round) % runnable.length])
          for (const impl of order) {
            const run = { round }
            try {
              const r = await runImpl(impl, ctx)
              Object.assign(run, r)
              const problems = verifyTree(plan, storeStats, method)
              if (method === 'clone' && !problems.length) {
                const p = checkShared(plan, sh)
                if (p) problems.push(p)
              }
              if (problems.length) run.error = `tree does not verify: ${problems.slice(0, 3).join('; ')}`
            } catch (e) {
              run.error = e.message
            }
            ;(group.runs[impl] ??= []).push(run)
            log(`${fsName} ${method} round ${round + 1}/${rounds} ${impl.padEnd(18)} ` +
              (run.error ? `FAILED: ${run.error}` : `${Math.round(run.ms)} ms, ${Math.round(files / run.ms * 1000)} files/s, ${Math.round(run.maxRssKb / 1024)} MiB`))
            sh('rm', ['-rf', tree])
            sh('sync', ['-f', m.mnt])
          }
        }
        log('\n' + table(group, files))
      }
    } finally {
      unmountFs(m)
    }
  }

  const elapsedS = Math.round((performance.now() - t0) / 1000)
  const md = resultsMarkdown({
    machine: machine(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    corpus: describeCorpus(corpus.stats),
    groups,
    files,
    baselineRssMiB: baseline.maxRssKb / 1024,
    elapsedS,
    rounds
  })
  fs.writeFileSync(path.join(HERE, 'RESULTS.md'), md)
  fs.writeFileSync(path.join(BENCH, 'results.json'), JSON.stringify({ groups, files }, null, 2))
  log(`\nwrote benchmark/RESULTS.md (raw runs: ${path.join(BENCH, 'results.json')}); ${elapsedS} s in all`)
}

try {
  await main()
} finally {
  cleanup()
}
