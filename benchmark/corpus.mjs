// Builds the benchmark corpus once and reuses it: `npm ci --ignore-scripts` of corpus/package-lock.json,
// then a content-addressed store laid out like pnpm's and a per-package index.
//
//   <dir>/store/<2 hex>/<126 hex>[-exec]   one file per (sha512 of content, exec bit); mode 0755 or 0644
//   <dir>/index.json                       [{ name, version, files: { "<rel path>": { src, executable, size } } }]
//   <dir>/stamp.json                       the lockfile hash and the counts; present only when complete
//
// `src` is relative to the store root. Like pnpm, an executable and a non-executable file with the same
// bytes are two store entries (pnpm's `-exec` suffix), so each store file has one mode.
//
// Usage: node benchmark/corpus.mjs   (prints the counts; CACHELINK_BENCH_DIR, default /var/tmp/cachelink-bench)
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const FORMAT = 1 // bump when the store or index layout changes

export const benchDir = () => path.resolve(process.env.CACHELINK_BENCH_DIR || '/var/tmp/cachelink-bench')

export function lockHash () {
  const h = createHash('sha256')
  h.update(`format ${FORMAT}\n`)
  h.update(fs.readFileSync(path.join(HERE, 'corpus', 'package-lock.json')))
  return h.digest('hex')
}

/** Returns { dir, store, indexPath, stats }, building the corpus first if the stamp is missing or stale. */
export function ensureCorpus ({ log = console.log } = {}) {
  const dir = path.join(benchDir(), 'corpus')
  const stampPath = path.join(dir, 'stamp.json')
  const hash = lockHash()
  const stamp = readJson(stampPath)
  if (stamp?.hash === hash) {
    return { dir, store: path.join(dir, 'store'), indexPath: path.join(dir, 'index.json'), stats: stamp.stats, reused: true }
  }
  log(`corpus: building in ${dir} (lockfile hash ${hash.slice(0, 12)})`)
  const t0 = performance.now()
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const install = path.join(dir, 'install')
  fs.mkdirSync(install)
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(HERE, 'corpus', f), path.join(install, f))
  const npm = spawnSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: install, stdio: 'inherit' })
  if (npm.status !== 0) throw new Error(`npm ci failed (status ${npm.status})`)

  const stats = buildStore(install, dir)
  fs.rmSync(install, { recursive: true, force: true })
  stats.buildSeconds = Math.round((performance.now() - t0) / 100) / 10
  fs.writeFileSync(stampPath, JSON.stringify({ hash, stats }, null, 2) + '\n')
  return { dir, store: path.join(dir, 'store'), indexPath: path.join(dir, 'index.json'), stats, reused: false }
}

function buildStore (install, dir) {
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  for (let i = 0; i < 256; i++) fs.mkdirSync(path.join(store, i.toString(16).padStart(2, '0')))
  const lock = readJson(path.join(install, 'package-lock.json'))
  const seen = new Set()
  const index = []
  const stats = { packages: 0, files: 0, bytes: 0, uniqueContents: 0, storeBytes: 0, skippedSymlinks: 0, duplicatePackages: 0 }

  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/') || entry.link) continue
    const pkgDir = path.join(install, key)
    const manifest = readJson(path.join(pkgDir, 'package.json'))
    if (!manifest) continue // an optional dependency for another platform: not installed
    const name = manifest.name ?? key.slice(key.lastIndexOf('node_modules/') + 13)
    const version = manifest.version ?? entry.version
    const id = `${name}@${version}`
    if (seen.has(id)) { stats.duplicatePackages++; continue }
    seen.add(id)

    const files = {}
    for (const rel of walk(pkgDir, '', stats)) {
      const abs = path.join(pkgDir, rel)
      const st = fs.statSync(abs)
      const executable = (st.mode & 0o111) !== 0
      const hex = createHash('sha512').update(fs.readFileSync(abs)).digest('hex')
      const src = `${hex.slice(0, 2)}/${hex.slice(2)}${executable ? '-exec' : ''}`
      const dest = path.join(store, src)
      if (!fs.existsSync(dest)) {
        fs.copyFileSync(abs, dest)
        fs.chmodSync(dest, executable ? 0o755 : 0o644)
        stats.uniqueContents++
        stats.storeBytes += st.size
      }
      files[rel] = { src, executable, size: st.size }
      stats.files++
      stats.bytes += st.size
    }
    index.push({ name, version, files })
    stats.packages++
  }
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index))
  return stats
}

/** Relative paths of the regular files of a package folder; its own node_modules (nested packages) is not part of it. */
function * walk (root, rel, stats) {
  for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name
    if (d.isDirectory()) {
      if (!rel && d.name === 'node_modules') continue
      yield * walk(root, r, stats)
    } else if (d.isFile()) {
      yield r
    } else {
      stats.skippedSymlinks++
    }
  }
}

function readJson (p) {
  try { return JSON.parse(fs.readFileSync(p, 'utf8')) } catch { return undefined }
}

export function describeCorpus (stats) {
  const mib = (n) => `${(n / 2 ** 20).toFixed(0)} MiB`
  return `${stats.packages} packages, ${stats.files} files (${mib(stats.bytes)}), ` +
    `${stats.uniqueContents} unique contents in the store (${mib(stats.storeBytes)})`
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const c = ensureCorpus()
  console.log(`corpus ${c.reused ? 'reused' : `built in ${c.stats.buildSeconds} s`}: ${c.dir}`)
  console.log(describeCorpus(c.stats))
  if (c.stats.skippedSymlinks || c.stats.duplicatePackages) {
    console.log(`skipped: ${c.stats.skippedSymlinks} symlinks, ${c.stats.duplicatePackages} duplicate name@version folders`)
  }
}
