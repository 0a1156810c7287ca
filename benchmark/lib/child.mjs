// One import of the corpus into one tree by one Node implementation, in its own process so that its peak
// RSS is its own. Timed end to end from what an installer already holds: before "go" (untimed) the
// process loads only pnpm's package index (per package { name, version, files }, files being pnpm 10's
// map { [relPath]: { integrity, mode, size } }; written by the runner from corpus/index.json) and the
// implementation's module. Everything else is timed: the store paths from integrity and mode (as
// pnpm's getFilePathByModeInCafs), the destination paths, the folders, the imports. Each
// implementation builds only what it needs, as it goes.
//
//   node child.mjs '{"impl":"node-async","method":"hardlink","pnpmIndexPath":...,"storeDir":...,"tree":...,"dist":...}'
//
// Prints one JSON line: { ms, maxRssKb, detail }.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { loadIndex, pkgDir, storePath } from './layout.mjs'

const spec = JSON.parse(process.argv[2])
const { method, storeDir, tree } = spec
const pkgs = loadIndex(spec.pnpmIndexPath)
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

/** Runs fn over what an iterator yields, with at most `limit` promises pending. */
async function pool (iterator, limit, fn) {
  const worker = async () => {
    for (let n = iterator.next(); !n.done; n = iterator.next()) await fn(n.value)
  }
  await Promise.all(Array.from({ length: limit }, worker))
}

/** A package's files as (src, dest) and the folders they need (shortest first). */
function packageFiles (pkg) {
  const dir = pkgDir(tree, pkg)
  const dirs = new Set([dir])
  const files = []
  for (const rel in pkg.files) {
    const f = pkg.files[rel]
    const dest = `${dir}/${rel}`
    const slash = rel.lastIndexOf('/')
    if (slash > 0) dirs.add(`${dir}/${rel.slice(0, slash)}`)
    files.push({ src: storePath(storeDir, f.integrity, f.mode), dest })
  }
  return { dirs: [...dirs].sort((a, b) => a.length - b.length), files }
}

/** Per file, 64 in flight, with mkdir (recursive) of a package's folders before its first file. */
function perFileAsync (op) {
  return () => pool((function * () {
    for (const pkg of pkgs) {
      const p = packageFiles(pkg)
      let ready = null
      const mkdirs = async () => { for (const d of p.dirs) await fs.promises.mkdir(d, { recursive: true }) }
      for (const f of p.files) yield { f, ready: () => (ready ??= mkdirs()) }
    }
  })(), LINKS_IN_FLIGHT, async ({ f, ready }) => {
    await ready()
    await op(f.src, f.dest)
  })
}

/** Sums the numeric fields of ImportStats (elapsedMs apart). */
function addStats (totals, stats) {
  for (const [k, v] of Object.entries(stats)) if (typeof v === 'number' && k !== 'elapsedMs') totals[k] = (totals[k] ?? 0) + v
  return totals
}

async function loadCachelink (fn) {
  const mod = await import(spec.dist)
  if (typeof mod[fn] !== 'function') throw new Error(`${fn} is not exported by ${spec.dist}`)
  const wanted = process.env.CACHELINK_BACKEND
  if (mod.backend !== undefined && mod.backend !== wanted) throw new Error(`backend ${mod.backend} where ${wanted} was asked for`)
  return mod
}

async function prepare () {
  switch (spec.impl) {
    case 'noop':
      return () => {}
    case 'node-async':
      return perFileAsync(asyncOps[method])
    case 'node-sync':
      return () => {
        const op = syncOps[method]
        for (const pkg of pkgs) {
          const p = packageFiles(pkg)
          for (const d of p.dirs) fs.mkdirSync(d, { recursive: true })
          for (const f of p.files) op(f.src, f.dest)
        }
      }
    case 'pnpm': {
      // As pnpm 10 calls it: per package, the filesMap from the package index (getFilePathByModeInCafs,
      // path.join and all; pnpm decodes the integrity with ssri, here with Buffer), then one
      // synchronous call (pnpm runs these in worker threads, availableParallelism() - 1 of them: one on
      // this 2-core machine).
      const require = createRequire(import.meta.url)
      const { createIndexedPkgImporter } = require('@pnpm/fs.indexed-pkg-importer')
      const importPackage = createIndexedPkgImporter(method)
      const filePath = (integrity, mode) => {
        const hex = Buffer.from(integrity.slice(7), 'base64').toString('hex')
        const p = path.join(storeDir, path.join('files', hex.slice(0, 2), hex.slice(2)))
        return (mode & 0o111) !== 0 ? `${p}-exec` : p
      }
      return () => {
        for (const pkg of pkgs) {
          const filesMap = {}
          for (const [rel, f] of Object.entries(pkg.files)) filesMap[rel] = filePath(f.integrity, f.mode)
          importPackage(pkgDir(tree, pkg), { filesMap, force: false, resolvedFrom: 'store' })
        }
      }
    }
    case 'cachelink-linkFile': {
      const { linkFile } = await loadCachelink('linkFile')
      return perFileAsync((src, dest) => linkFile(src, dest, { method }))
    }
    case 'cachelink-packages':
    case 'cachelink-packages-trusted': {
      // pnpm's files maps as they are, one call for the whole install; -trusted without the
      // check of each store file's type and size (README, "The store's trust model").
      const { importPackages } = await loadCachelink('importPackages')
      const trustStore = spec.impl === 'cachelink-packages-trusted'
      return async () => {
        const packages = pkgs.map((pkg) => ({ into: pkgDir(tree, pkg), files: pkg.files }))
        return addStats({}, await importPackages(packages, { store: storeDir, method, ...(trustStore ? { trustStore } : {}) }))
      }
    }
    case 'cachelink-import-1':
    case 'cachelink-import-4':
    case 'cachelink-js': {
      // One importFiles call per package, its entries built from the package index as it comes up.
      const { importFiles } = await loadCachelink('importFiles')
      const inFlight = spec.impl === 'cachelink-js' ? 4 : Number(spec.impl.slice(-1))
      return async () => {
        const totals = {}
        await pool(pkgs.values(), inFlight, async (pkg) => {
          const entries = []
          for (const rel in pkg.files) {
            const f = pkg.files[rel]
            entries.push({ path: rel, src: storePath(storeDir, f.integrity, f.mode), executable: (f.mode & 0o111) !== 0, size: f.size })
          }
          addStats(totals, await importFiles(entries, { into: pkgDir(tree, pkg), method }))
        })
        return totals
      }
    }
    default:
      throw new Error(`unknown implementation ${spec.impl}`)
  }
}

const run = await prepare()
// Ready: the runner may attach strace now (--strace). Then wait for "go" (the runner starts this
// process one run ahead, while it verifies and deletes the previous tree), or for the end of stdin.
process.stderr.write('cachelink-bench-ready\n')
await new Promise((resolve) => {
  process.stdin.on('data', (d) => { if (String(d).includes('go')) resolve() })
  process.stdin.on('end', resolve)
})
const t0 = performance.now()
const detail = await run()
const ms = performance.now() - t0
process.stdout.write(JSON.stringify({ ms, maxRssKb: process.resourceUsage().maxRSS, detail: detail ?? null }) + '\n')
process.exit(0)
