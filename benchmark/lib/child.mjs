// One import of the corpus into one tree by one Node implementation, in its own process so that its peak
// RSS is its own. Only the import is timed (loading the index and planning the paths are not, and
// happen before the runner says "go" on stdin).
//
//   node child.mjs '{"impl":"node-async","method":"hardlink","indexPath":...,"storeRoot":...,"tree":...,"dist":...}'
//
// Prints one JSON line: { ms, maxRssKb, detail }.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { loadIndex, planTree } from './layout.mjs'

const spec = JSON.parse(process.argv[2])
const { method } = spec
const plan = planTree(loadIndex(spec.indexPath), spec.storeRoot, spec.tree)
const LINKS_IN_FLIGHT = 64

const EXCL = fs.constants.COPYFILE_EXCL
const CLONE = EXCL | fs.constants.COPYFILE_FICLONE_FORCE
const asyncOps = {
  hardlink: (src, dest) => fs.promises.link(src, dest),
  clone: (src, dest) => fs.promises.copyFile(src, dest, CLONE),
  copy: (src, dest) => fs.promises.copyFile(src, dest, EXCL)
}
const syncOps = {
  hardlink: (src, dest) => fs.linkSync(src, dest),
  clone: (src, dest) => fs.copyFileSync(src, dest, CLONE),
  copy: (src, dest) => fs.copyFileSync(src, dest, EXCL)
}

/** Runs fn over items with at most `limit` promises pending. */
async function pool (items, limit, fn) {
  let next = 0
  const worker = async () => { while (next < items.length) await fn(items[next++]) }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** Per file, with mkdir (recursive) of the package's folders the first time one of its files comes up. */
function perFileAsync (op) {
  const work = plan.pkgs.flatMap((pkg) => pkg.files.map((file) => ({ pkg, file })))
  const ready = new Map()
  const mkdirs = async (pkg) => { for (const d of pkg.dirs) await fs.promises.mkdir(d, { recursive: true }) }
  return async () => {
    await pool(work, LINKS_IN_FLIGHT, async ({ pkg, file }) => {
      if (!ready.has(pkg)) ready.set(pkg, mkdirs(pkg))
      await ready.get(pkg)
      await op(file)
    })
  }
}

async function prepare () {
  switch (spec.impl) {
    case 'noop':
      return () => {}
    case 'node-async':
      return perFileAsync((f) => asyncOps[method](f.src, f.dest))
    case 'node-sync':
      return () => {
        const op = syncOps[method]
        for (const pkg of plan.pkgs) {
          for (const d of pkg.dirs) fs.mkdirSync(d, { recursive: true })
          for (const f of pkg.files) op(f.src, f.dest)
        }
      }
    case 'pnpm': {
      // As pnpm calls it: one synchronous call per package (pnpm runs these in worker threads,
      // availableParallelism() - 1 of them: one on this 2-core machine).
      const require = createRequire(import.meta.url)
      const { createIndexedPkgImporter } = require('@pnpm/fs.indexed-pkg-importer')
      const importPackage = createIndexedPkgImporter(method)
      const jobs = plan.pkgs.map((pkg) => ({
        to: pkg.dir,
        opts: { filesMap: Object.fromEntries(pkg.files.map((f) => [f.rel, f.src])), force: false, resolvedFrom: 'store' }
      }))
      return () => { for (const j of jobs) importPackage(j.to, j.opts) }
    }
    case 'cachelink-linkFile': {
      const { linkFile } = await import(spec.dist)
      return perFileAsync((f) => linkFile(f.src, f.dest, { method }))
    }
    case 'cachelink-import-1':
    case 'cachelink-import-4':
    case 'cachelink-js': {
      const { importFiles, backend } = await import(spec.dist)
      if (typeof importFiles !== 'function') throw new Error(`importFiles is not exported by ${spec.dist}`)
      const wanted = process.env.CACHELINK_BACKEND
      if (backend !== undefined && backend !== wanted) throw new Error(`backend ${backend} where ${wanted} was asked for`)
      const inFlight = spec.impl === 'cachelink-js' ? 4 : Number(spec.impl.slice(-1))
      const jobs = plan.pkgs.map((pkg) => ({
        entries: pkg.files.map((f) => ({ path: f.rel, src: f.src, executable: f.executable, size: f.size })),
        into: pkg.dir
      }))
      const totals = {}
      const run = async () => {
        await pool(jobs, inFlight, async (j) => {
          const stats = await importFiles(j.entries, { into: j.into, method })
          for (const [k, v] of Object.entries(stats)) if (typeof v === 'number' && k !== 'elapsedMs') totals[k] = (totals[k] ?? 0) + v
        })
        return totals
      }
      return run
    }
    default:
      throw new Error(`unknown implementation ${spec.impl}`)
  }
}

const run = await prepare()
// Wait for "go" (the runner starts this process one run ahead, while it verifies and deletes the
// previous tree), or for the end of stdin.
await new Promise((resolve) => {
  process.stdin.on('data', (d) => { if (String(d).includes('go')) resolve() })
  process.stdin.on('end', resolve)
})
const t0 = performance.now()
const detail = await run()
const ms = performance.now() - t0
process.stdout.write(JSON.stringify({ ms, maxRssKb: process.resourceUsage().maxRSS, detail: detail ?? null }) + '\n')
process.exit(0)
