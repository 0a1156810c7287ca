// The main job on a small cache shipped with the package: build a content-addressed store from
// examples/demo/cache-src (one file per content hash, as pnpm lays one out), materialize the
// package into many environments with maxLinks (177: AWS EFS's hard link limit), and print
// what happened.
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fsInfoSync } from '../cache.js'
import { type ImportFileEntry, importFiles } from '../import.js'
import { byMethod, bytes, count, duration, type Output } from './output.js'

export interface DemoFlags {
  envs: number
  maxLinks: number
  dir?: string
  keep?: boolean
}

const SOURCE = fileURLToPath(new URL('../examples/demo/cache-src', import.meta.url))

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]))
}

export async function demoCommand(flags: DemoFlags, out: Output, signal: AbortSignal): Promise<number> {
  const work = flags.dir ?? fs.mkdtempSync(join(tmpdir(), 'cachelink-demo-'))
  try {
    // 1. The store: store/<2 hex>/<rest of sha256>, mode kept; the index maps paths to entries.
    const store = join(work, 'store')
    const index: ImportFileEntry[] = []
    for (const file of walk(SOURCE)) {
      const data = fs.readFileSync(file)
      const hash = createHash('sha256').update(data).digest('hex')
      const entry = join(store, hash.slice(0, 2), hash.slice(2))
      fs.mkdirSync(dirname(entry), { recursive: true })
      if (!fs.existsSync(entry)) fs.writeFileSync(entry, data, { mode: fs.statSync(file).mode & 0o777 })
      index.push({ path: relative(SOURCE, file).split('\\').join('/'), src: entry, size: data.length })
    }
    const entries = new Set(index.map((e) => e.src))

    // 2. Materialize it into every environment: one native call per environment.
    const totals = { files: 0, hardlinked: 0, cloned: 0, copied: 0, symlinked: 0, resets: 0, bytesCopied: 0 }
    const bar = out.progress('demo', 'environments', flags.envs)
    const started = performance.now()
    try {
      for (let e = 0; e < flags.envs; e++) {
        const into = join(work, 'envs', `env-${String(e).padStart(3, '0')}`, 'node_modules', 'demo-pkg')
        const s = await importFiles(index, { into, maxLinks: flags.maxLinks, ifExists: 'replace', signal })
        for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += s[k]
        bar.update(e + 1, flags.envs)
      }
    } finally {
      bar.stop()
    }
    const ms = performance.now() - started

    // 3. What it looks like now.
    let mostLinks = 0
    for (const entry of entries) mostLinks = Math.max(mostLinks, fs.statSync(entry).nlink)
    const last = join(work, 'envs', `env-${String(flags.envs - 1).padStart(3, '0')}`, 'node_modules', 'demo-pkg')
    const executable = flags.envs > 0 && (fs.statSync(join(last, 'bin', 'cli.js')).mode & 0o111) !== 0
    const result = {
      dir: work,
      fsType: fsInfoSync(work).fsType,
      packageFiles: index.length,
      storeEntries: entries.size,
      envs: flags.envs,
      maxLinks: flags.maxLinks,
      ...totals,
      elapsedMs: ms,
      mostLinks,
      lastEnvBinExecutable: executable,
    }
    out.result(result, () => [
      `cachelink demo: ${index.length} files (${entries.size} store entries) into ${count(flags.envs)} environments, maxLinks ${flags.maxLinks}`,
      `  where:    ${work}${result.fsType ? ` (${result.fsType})` : ''}`,
      `  files:    ${count(totals.files)} in ${duration(ms)} (${count(totals.files / (ms / 1000))} files/s, one importFiles call per environment)`,
      `  methods:  ${byMethod(totals)}${totals.bytesCopied ? ` (${bytes(totals.bytesCopied)} copied)` : ''}`,
      `  resets:   ${count(totals.resets)} (a store entry is reset when it reaches ${flags.maxLinks} links)`,
      `  most links on any store entry now: ${count(mostLinks)} (cap ${flags.maxLinks})`,
      `  last environment's bin/cli.js is executable: ${executable}`,
    ])
    return mostLinks > flags.maxLinks ? 1 : 0
  } finally {
    if (!flags.keep && !flags.dir) fs.rmSync(work, { recursive: true, force: true })
  }
}
