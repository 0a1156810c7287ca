// The main job, on a small bundled cache: build a content-addressed store from cache-src/ (one
// file per content hash, as pnpm lays one out), then materialize the package into 300
// environments with maxLinks 177 (AWS EFS's hard link limit), and print what happened.
//
//   npm run demo            (add -- --envs 1000 --max-links 177 --keep to change it)
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { linkFile } from '../../dist/index.js'

const { values: args } = parseArgs({
  options: {
    envs: { type: 'string', default: '300' },
    'max-links': { type: 'string', default: '177' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
})
const envs = Number(args.envs)
const maxLinks = Number(args['max-links'])
const source = join(import.meta.dirname, 'cache-src')
const work = args.dir ?? fs.mkdtempSync(join(tmpdir(), 'cachelink-demo-'))

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  )
}

// 1. The store: store/<2 hex>/<rest of sha256>, mode kept; the index maps paths to entries.
const store = join(work, 'store')
const index = new Map()
for (const file of walk(source)) {
  const bytes = fs.readFileSync(file)
  const hash = createHash('sha256').update(bytes).digest('hex')
  const entry = join(store, hash.slice(0, 2), hash.slice(2))
  fs.mkdirSync(dirname(entry), { recursive: true })
  if (!fs.existsSync(entry)) fs.writeFileSync(entry, bytes, { mode: fs.statSync(file).mode & 0o777 })
  index.set(relative(source, file), entry)
}

// 2. Materialize it into every environment.
const methods = { hardlink: 0, clone: 0, copy: 0, symlink: 0, none: 0 }
let resets = 0
let files = 0
const started = performance.now()
for (let e = 0; e < envs; e++) {
  const pkg = join(work, 'envs', `env-${String(e).padStart(3, '0')}`, 'node_modules', 'demo-pkg')
  for (const path of index.keys()) fs.mkdirSync(dirname(join(pkg, path)), { recursive: true })
  const results = await Promise.all(
    [...index].map(([path, entry]) => linkFile(entry, join(pkg, path), { maxLinks, ifExists: 'replace' })),
  )
  for (const r of results) {
    methods[r.method]++
    if (r.reset) resets++
    files++
  }
}
const ms = performance.now() - started

// 3. What it looks like now.
let maxSeen = 0
for (const entry of new Set(index.values())) maxSeen = Math.max(maxSeen, fs.statSync(entry).nlink)
const fsType = (() => {
  try {
    return fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '))
      .filter(([, m]) => m && work.startsWith(m)).sort((a, b) => b[1].length - a[1].length)[0]?.[2]
  } catch {
    return undefined
  }
})()
const out = [
  `cachelink demo: ${index.size} files (${new Set(index.values()).size} store entries) into ${envs} environments, maxLinks ${maxLinks}`,
  `  where:    ${work}${fsType ? ` (${fsType})` : ''}`,
  `  files:    ${files} in ${ms.toFixed(0)} ms (${Math.round(files / (ms / 1000))} files/s, async linkFile per file)`,
  `  methods:  ${Object.entries(methods).filter(([, n]) => n).map(([m, n]) => `${m} ${n}`).join(', ')}`,
  `  resets:   ${resets} (each store entry reset every ${maxLinks - 1} links: its own name keeps one)`,
  `  max links on any store entry now: ${maxSeen} (cap ${maxLinks})`,
]
console.log(out.join('\n'))
const check = join(work, 'envs', `env-${String(envs - 1).padStart(3, '0')}`, 'node_modules', 'demo-pkg', 'bin', 'cli.js')
console.log(`  last env's bin/cli.js is executable: ${(fs.statSync(check).mode & 0o111) !== 0}`)
if (!args.keep && !args.dir) fs.rmSync(work, { recursive: true, force: true })
if (maxSeen > maxLinks) process.exit(1)
