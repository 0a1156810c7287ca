// The benchmark: import a real npm corpus (about 38k files) from pnpm 10's content-addressed store
// (<store>/files/<2 hex>/<126 hex>[-exec]) into fresh pnpm-layout trees, by hard link, clone and
// copy, with cachelink and with what it replaces, end to end from pnpm's package index (see
// lib/child.mjs: what each implementation computes from the index is timed).
//
//   npm run bench                                  every filesystem, 7 rounds, the reset row, strace
//                                                  counts and the verify tables
//   npm run bench -- --quick                       2 rounds; tmpfs and ext4 (hardlink, copy), btrfs (clone)
//   npm run bench -- --fs ext4 --only pnpm,floor --rounds 5
//   npm run bench -- --fs tmpfs --only floor --verify   with the verify tables
//   npm run bench -- --fs ext4 --reset --methods reset --rounds 1   the reset row alone
//   npm run bench -- --fs tmpfs --strace --methods none             the strace counts alone
//
// A full run has the verify tables, the reset row and the strace counts (--quick only the verify
// tables); in a partial run (--fs, --only, --methods) --verify, --reset and --strace add them
// (--methods reset too); --no-verify, --no-reset, --no-strace leave them out of a full one.
// - verify: benchmark/verify.mjs (verifyEntries against sha512sum/sha256sum on the store's files),
//   its output added to RESULTS.md.
// - reset (ext4 only, lib/reset.mjs): hot store entries at ext4's link limit before every run;
//   cachelink and pnpm's importer ('hardlink'), with the copies each made.
// - strace (tmpfs only): `strace -f -c` of one hardlink import by cachelink-packages (else the first
//   cachelink implementation that runs) and one by floor-2: calls per file and per directory.
// --methods keeps only the listed methods (hardlink, copy, clone, reset; `none` for no rounds).
//
// Root only (mounts). Work files under $CACHELINK_BENCH_DIR (default /var/tmp/cachelink-bench);
// $CACHELINK_BENCH_DIST names the cachelink build to load (default dist/index.js).
// Writes benchmark/RESULTS.md. See lib/impls.mjs for the implementations.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { benchDir, describeCorpus, ensureCorpus } from './corpus.mjs'
import { IMPLS, killCurrent, label, prepareImpl, runImpl } from './lib/impls.mjs'
import { loadIndex, planTree, pnpmIndex } from './lib/layout.mjs'
import { cleanupAll, FILESYSTEMS, mountFs, sh, sizeFor, unmountFs } from './lib/mounts.mjs'
import { machine, resetTable, resultsMarkdown, straceTable, table } from './lib/report.mjs'
import { EXT4_LINK_MAX, pickHot, restoreHot, setupHot } from './lib/reset.mjs'
import { checkShared, makeVerifier } from './lib/verify.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const DIST = path.resolve(process.env.CACHELINK_BENCH_DIST || path.join(HERE, '..', 'dist', 'index.js')) // another build to compare
const METHODS = { tmpfs: ['hardlink', 'copy'], ext4: ['hardlink', 'copy'], btrfs: ['clone'], xfs: ['clone'] }

const { values: opts } = parseArgs({
  allowNegative: true,
  options: {
    quick: { type: 'boolean', default: false },
    verify: { type: 'boolean' },
    reset: { type: 'boolean' },
    strace: { type: 'boolean' },
    methods: { type: 'string' },
    fs: { type: 'string' },
    only: { type: 'string' },
    rounds: { type: 'string' }
  }
})
const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean)
const fsList = opts.fs ? list(opts.fs) : opts.quick ? ['tmpfs', 'ext4', 'btrfs'] : FILESYSTEMS
// --quick: 2 rounds keep it near 3 minutes on 2 cores (a run costs about as much again in
// verifying and deleting its tree as in the import itself).
const rounds = Number(opts.rounds ?? (opts.quick ? 2 : 7))
const only = opts.only ? list(opts.only) : null
const methodsOnly = opts.methods ? list(opts.methods) : null
const partial = Boolean(opts.fs || opts.only || opts.methods)
const withReset = opts.reset ?? ((!partial && !opts.quick) || Boolean(methodsOnly?.includes('reset')))
const withStrace = opts.strace ?? (!partial && !opts.quick)
const methodsFor = (f) => [...METHODS[f], ...(f === 'ext4' && withReset ? ['reset'] : [])].filter((m) => !methodsOnly || methodsOnly.includes(m))
// The reset row: cachelink (which resets) and pnpm's importer (which copies); the others fail on EMLINK.
const RESET_IMPLS = (i) => i.startsWith('cachelink-') || i === 'pnpm'
const HOT_ENTRIES = 20
const impls = IMPLS.filter((i) => !only || only.some((o) => i === o || i.startsWith(`${o}-`)))
for (const f of fsList) if (!METHODS[f]) throw new Error(`--fs: unknown filesystem ${f} (known: ${FILESYSTEMS.join(', ')})`)
if (!impls.length) throw new Error(`--only matches none of ${IMPLS.join(', ')}`)
if (!(rounds >= 1)) throw new Error('--rounds must be a positive integer')
for (const m of methodsOnly ?? []) if (!['hardlink', 'copy', 'clone', 'reset', 'none'].includes(m)) throw new Error(`--methods: unknown method ${m} (known: hardlink, copy, clone, reset, none)`)
if (withReset && methodsOnly?.includes('reset') === false && opts.reset) throw new Error('--reset with --methods that leaves out reset')
if (withStrace && opts.strace && !fsList.includes('tmpfs')) throw new Error('--strace runs on tmpfs: add it to --fs')
if (opts.reset && !fsList.includes('ext4')) throw new Error('--reset runs on ext4: add it to --fs')
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

/** Which cachelink build this is: a hash of dist/index.js and of the addon(s) beside the package, with their mtimes. */
function cachelinkBuild () {
  const files = [DIST, ...fs.readdirSync(path.join(HERE, '..')).filter((f) => f.endsWith('.node')).map((f) => path.join(HERE, '..', f))]
  return files.map((f) => {
    try {
      const st = fs.statSync(f)
      const hash = createHash('sha256').update(fs.readFileSync(f)).digest('hex').slice(0, 12)
      return `${path.basename(f)} ${hash} (${st.mtime.toISOString().replace(/\.\d+Z$/, 'Z')})`
    } catch { return `${path.basename(f)} missing` }
  }).join(', ')
}

/** Which cachelink implementations can run: each only once its API is in dist (importPackages, importFiles, linkFile). */
async function cachelinkSkips () {
  const skips = {}
  let mod = null
  try { mod = await import(pathToFileURL(DIST).href) } catch (e) { mod = { error: e } }
  for (const impl of impls.filter((i) => i.startsWith('cachelink-'))) {
    const fn = impl === 'cachelink-linkFile' ? 'linkFile' : impl.startsWith('cachelink-packages') ? 'importPackages' : 'importFiles'
    const name = label(impl, 'hardlink').replace(/ *[,(].*$/, '')
    if (mod.error) skips[impl] = `${name}: ${DIST} does not load (${mod.error.code ?? mod.error.message}); run \`npm run build\``
    else if (typeof mod[fn] !== 'function') skips[impl] = `${name}: \`${fn}\` is not exported by ${DIST} yet`
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
  const linksBin = path.join(work, 'links')
  sh('cc', ['-O2', '-o', linksBin, path.join(HERE, 'links.c')])
  // What an installer holds: pnpm's package index (the children load it before "go").
  const pnpmIndexPath = path.join(work, 'pnpm-index.json')
  fs.writeFileSync(pnpmIndexPath, JSON.stringify(pnpmIndex(index)))

  const backing = `${BENCH} (${sh('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', BENCH], { allowFail: true }).stdout.trim().replace(/\s+/, ' on ') || '?'})`
  const build = cachelinkBuild()
  const pnpmVersion = JSON.parse(fs.readFileSync(path.join(HERE, '..', 'node_modules', '@pnpm', 'fs.indexed-pkg-importer', 'package.json'), 'utf8')).version
  const tools = `@pnpm/fs.indexed-pkg-importer ${pnpmVersion}, ${sh('cp', ['--version']).stdout.split('\n')[0]}, ${sh('cc', ['--version']).stdout.split('\n')[0]}`
  const skips = await cachelinkSkips()
  const runnable = impls.filter((i) => !skips[i])
  const skipped = [...new Set(Object.values(skips))]
  for (const s of skipped) log(`not run: ${s}`)

  const baseline = await runImpl('noop', { method: 'hardlink', pnpmIndexPath, storeDir: path.join(work, 'none'), tree: path.join(work, 'none') })
  const groups = []
  let files = 0
  let dirs = 0
  let strace = null

  for (const fsName of fsList) {
    const size = sizeFor(corpus.stats)
    log(`\n== ${fsName}: mounting (${(size / 2 ** 30).toFixed(1)} GiB), copying the store`)
    const m = mountFs(BENCH, fsName, size)
    try {
      // pnpm 10's layout: the corpus's <2 hex>/<126 hex>[-exec] files under <store>/files.
      const storeDir = path.join(m.mnt, 'store')
      fs.mkdirSync(storeDir)
      sh('cp', ['-a', corpus.store, path.join(storeDir, 'files')])
      const tree = path.join(m.mnt, 'tree')
      const ref = path.join(m.mnt, 'ref')
      const plan = planTree(index, storeDir, tree)
      files = plan.files
      dirs = plan.dirs.length

      // The C floor's input, and (built with it, not timed) the reference tree cp copies.
      const floorDirs = path.join(work, 'dirs')
      const floorPairs = path.join(work, 'pairs')
      const writeFloorLists = (p) => {
        fs.writeFileSync(floorDirs, p.dirs.map((d) => d + '\0').join(''))
        fs.writeFileSync(floorPairs, p.pkgs.flatMap((pkg) => pkg.files.map((f) => `${f.src}\0${f.dest}\0${f.executable ? '755' : '644'}\0`)).join(''))
      }
      const refPlan = planTree(index, storeDir, ref)
      writeFloorLists(refPlan)
      sh(floorBin, ['hardlink', '1', floorDirs, floorPairs])
      const refProblems = makeVerifier(refPlan)('hardlink')
      if (refProblems.length) throw new Error(`reference tree is wrong: ${refProblems.join('; ')}`)
      writeFloorLists(plan)
      const verifyTree = makeVerifier(plan)
      sh('sync', ['-f', m.mnt])

      const ctxFor = (method) => ({ method, pnpmIndexPath, storeDir, tree, ref, floorBin, floorDirs, floorPairs, dist: pathToFileURL(DIST).href })
      for (const method of methodsFor(fsName)) {
        const group = { fs: fsName, method, mount: m.options, mkfs: m.mkfs, img: m.img, size, backing, runs: {}, skipped }
        const ctx = ctxFor(method)
        const groupImpls = method === 'reset' ? runnable.filter(RESET_IMPLS) : runnable
        if (!groupImpls.length) { log(`\n${fsName} ${method}: no implementation to run`); continue }
        groups.push(group)
        let verifyRun = verifyTree
        let restore = () => {}
        if (method === 'reset') {
          // Hot store entries at the link limit, before every run.
          const t = performance.now()
          const hot = pickHot(plan, HOT_ENTRIES)
          const inodes = setupHot(hot, path.join(m.mnt, 'hot'), linksBin, EXT4_LINK_MAX, sh)
          sh('sync', ['-f', m.mnt])
          const setupS = (performance.now() - t) / 1000
          verifyRun = makeVerifier(plan, { hot: inodes })
          restore = () => restoreHot(hot, inodes, EXT4_LINK_MAX)
          group.hot = { entries: hot.length, packages: hot.reduce((n, h) => n + h.packages, 0), files: hot.reduce((n, h) => n + h.files, 0), limit: EXT4_LINK_MAX, setupS }
          log(`${fsName} reset: ${hot.length} hot store entries (${group.hot.files} files of the tree, in ${group.hot.packages} package folders) ` +
            `brought to ${EXT4_LINK_MAX} links in ${setupS.toFixed(1)} s`)
        }
        // Rounds run every implementation once, in an order rotated by one each round. The next run's
        // process is started while this run's tree is verified and deleted (see prepareImpl).
        const schedule = []
        for (let round = 0; round < rounds; round++) {
          for (let i = 0; i < groupImpls.length; i++) schedule.push({ round, impl: groupImpls[(i + round) % groupImpls.length] })
        }
        let next = prepareImpl(schedule[0].impl, ctx)
        for (let s = 0; s < schedule.length; s++) {
          const { round, impl } = schedule[s]
          const run = { round }
          const tStart = performance.now()
          let tVerify = tStart
          try {
            const current = next
            next = null
            try {
              restore()
              Object.assign(run, await current.start())
            } finally {
              if (s + 1 < schedule.length) next = prepareImpl(schedule[s + 1].impl, ctx)
            }
            tVerify = performance.now()
            const counts = {}
            const problems = verifyRun(method === 'reset' ? 'hardlink' : method, counts)
            if (method === 'reset') run.hot = counts
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
            (run.error ? `FAILED: ${run.error}` : `${Math.round(run.ms)} ms, ${Math.round(files / run.ms * 1000)} files/s, ${Math.round(run.maxRssKb / 1024)} MiB`) +
            (run.hot ? `, ${run.hot.hotCopies} copies of hot entries (${run.hot.hotFiles} files)` : ''))
          const tClean = performance.now()
          sh('rm', ['-rf', tree])
          const tSync = performance.now()
          if (fsName !== 'tmpfs') sh('sync', ['-f', m.mnt]) // no writeback of this run during the next
          if (process.env.BENCH_DEBUG) {
            const ms = (a, b) => Math.round(b - a)
            log(`  overhead: process ${ms(tStart + (run.ms ?? 0), tVerify)}, verify ${ms(tVerify, tClean)}, rm ${ms(tClean, tSync)}, sync ${ms(tSync, performance.now())} ms`)
          }
        }
        log('\n' + (method === 'reset' ? resetTable(group, files) : table(group, files)))
      }
      if (fsName === 'tmpfs' && withStrace) strace = await straceCounts({ ctx: ctxFor('hardlink'), runnable, work, tree, verifyTree, files, dirs })
    } finally {
      unmountFs(m)
    }
  }

  // verifyEntries against sha512sum/sha256sum on the store's files (benchmark/verify.mjs): in a
  // full run, or with --verify; --no-verify leaves it out.
  let verify = null
  if (opts.verify ?? !partial) {
    const args = [path.join(HERE, 'verify.mjs'), '--rounds', String(Math.max(2, Math.min(rounds, 5)))]
    const command = `node benchmark/verify.mjs ${args.slice(1).join(' ')}`
    log(`\n== verify: ${command}`)
    const r = sh(process.execPath, args, { allowFail: true })
    if (r.status !== 0) throw new Error(`benchmark/verify.mjs exited ${r.status}: ${r.stderr.trim().slice(0, 500)}`)
    log(r.stdout)
    verify = { command, output: r.stdout }
  }

  const elapsedS = Math.round((performance.now() - t0) / 1000)
  const buildAfter = cachelinkBuild()
  const buildNote = buildAfter === build ? build : `changed during the run! before: ${build}; after: ${buildAfter}`
  if (buildAfter !== build) log(`WARNING: the cachelink build ${buildNote}`)
  const md = resultsMarkdown({
    machine: machine(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    corpus: describeCorpus(corpus.stats),
    groups,
    files,
    baselineRssMiB: baseline.maxRssKb / 1024,
    elapsedS,
    rounds,
    build: buildNote,
    tools,
    verify,
    strace
  })
  fs.writeFileSync(path.join(HERE, 'RESULTS.md'), md)
  fs.writeFileSync(path.join(BENCH, 'results.json'), JSON.stringify({ groups, files }, null, 2))
  log(`\nwrote benchmark/RESULTS.md (raw runs: ${path.join(BENCH, 'results.json')}); ${elapsedS} s in all`)
}

/**
 * `strace -f -c` of one hardlink import by cachelink-packages (else the first cachelink implementation
 * that runs) and one by floor-2, into the tree (verified, then deleted). Returns { impls, files, dirs }
 * with each one's calls by name.
 */
async function straceCounts ({ ctx, runnable, work, tree, verifyTree, files, dirs }) {
  const cachelink = ['cachelink-packages', 'cachelink-import-4', 'cachelink-import-1'].find((i) => runnable.includes(i))
  const impls = [cachelink, 'floor-2'].filter(Boolean)
  const out = { files, dirs, impls: [] }
  for (const impl of impls) {
    const file = path.join(work, `strace-${impl}.txt`)
    const r = await prepareImpl(impl, { ...ctx, strace: file }).start()
    const problems = verifyTree('hardlink')
    sh('rm', ['-rf', tree])
    if (problems.length) throw new Error(`strace: ${impl}'s tree does not verify: ${problems.slice(0, 3).join('; ')}`)
    const calls = {}
    const failed = {}
    let errors = 0
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      // % time  seconds  usecs/call  calls  [errors]  syscall
      const f = line.trim().split(/\s+/)
      if (f.length < 5 || !/^\d+(\.\d+)?$/.test(f[0]) || f.at(-1) === 'total') continue
      const hasErrors = f.length === 6
      calls[f.at(-1)] = Number(f[3])
      if (hasErrors) { errors += Number(f[4]); failed[f.at(-1)] = Number(f[4]) }
    }
    out.impls.push({ impl, calls, failed, errors, ms: r.ms })
    log(`strace ${impl}: ${Object.values(calls).reduce((a, b) => a + b, 0)} calls (${errors} errors)`)
  }
  log('\n' + straceTable(out))
  return out
}

try {
  await main()
} finally {
  cleanup()
}
