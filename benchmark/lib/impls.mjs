// The implementations compared, in report order, and how to run one (in its own process).
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))

export const IMPLS = [
  'cachelink-import-1', 'cachelink-import-4', 'cachelink-linkFile',
  'pnpm', 'node-async', 'node-sync', 'cp', 'floor-1', 'floor-2'
]

const CP_FLAGS = { hardlink: ['-al'], clone: ['-r', '--reflink=always'], copy: ['-r'] }

export function label (impl, method) {
  const node = {
    hardlink: ['fs.promises.link', 'fs.linkSync'],
    clone: ['fs.promises.copyFile(FICLONE_FORCE)', 'fs.copyFileSync(FICLONE_FORCE)'],
    copy: ['fs.promises.copyFile', 'fs.copyFileSync']
  }[method]
  switch (impl) {
    case 'cachelink-import-1': return 'cachelink importFiles, 1 package in flight'
    case 'cachelink-import-4': return 'cachelink importFiles, 4 packages in flight'
    case 'cachelink-linkFile': return 'cachelink linkFile per file, 64 in flight'
    case 'pnpm': return `@pnpm/fs.indexed-pkg-importer ('${method}')`
    case 'node-async': return `naive Node: ${node[0]}, 64 in flight`
    case 'node-sync': return `naive Node: ${node[1]} loop`
    case 'cp': return `cp ${CP_FLAGS[method].join(' ')} of a reference tree`
    case 'floor-1': return 'C floor, 1 thread'
    case 'floor-2': return 'C floor, 2 threads'
  }
  return impl
}

let current = null // the child running now, for the signal handlers
export const killCurrent = () => { try { current?.kill('SIGKILL') } catch {} }

function exec (cmd, args, { timeoutMs = 20 * 60e3 } = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    current = child
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (error) => { clearTimeout(timer); current = null; resolve({ status: -1, stdout, stderr: String(error) }) })
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      current = null
      resolve({ status: status ?? signal, stdout, stderr, wallMs: Number(process.hrtime.bigint() - t0) / 1e6 })
    })
  })
}

const lastJson = (s) => JSON.parse(s.trim().split('\n').pop())

/**
 * Imports the corpus into ctx.tree with one implementation. Returns { ms, maxRssKb, detail } or throws.
 * ctx: { method, indexPath, storeRoot, tree, ref, floorBin, floorDirs, floorPairs, dist }
 */
export async function runImpl (impl, ctx) {
  if (impl.startsWith('floor-')) {
    const r = await exec(ctx.floorBin, [ctx.method, impl.slice(6), ctx.floorDirs, ctx.floorPairs])
    if (r.status !== 0) throw new Error(`floor exited ${r.status}: ${r.stderr.trim()}`)
    const out = lastJson(r.stdout)
    return { ms: out.ns / 1e6, maxRssKb: out.maxRssKb, detail: null }
  }
  if (impl === 'cp') {
    const r = await exec('/usr/bin/time', ['-f', '%M', 'cp', ...CP_FLAGS[ctx.method], ctx.ref, ctx.tree])
    if (r.status !== 0) throw new Error(`cp exited ${r.status}: ${r.stderr.trim().slice(0, 500)}`)
    return { ms: r.wallMs, maxRssKb: Number(r.stderr.trim().split('\n').pop()), detail: null }
  }
  const spec = { impl, method: ctx.method, indexPath: ctx.indexPath, storeRoot: ctx.storeRoot, tree: ctx.tree, dist: ctx.dist }
  const r = await exec(process.execPath, [path.join(HERE, 'child.mjs'), JSON.stringify(spec)])
  if (r.status !== 0) throw new Error(`${impl} exited ${r.status}: ${r.stderr.trim().split('\n').slice(0, 6).join(' | ')}`)
  return lastJson(r.stdout)
}
