// The implementations compared, in report order, and how to run one (in its own process).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))

export const IMPLS = [
  'cachelink-packages', 'cachelink-packages-trusted', 'cachelink-import-1', 'cachelink-import-4', 'cachelink-linkFile', 'cachelink-js',
  'pnpm', 'node-async', 'node-sync', 'cp', 'floor-1', 'floor-2'
]

const CP_FLAGS = { hardlink: ['-al'], clone: ['-r', '--reflink=always'], copy: ['-r'] }

export function label (impl, method) {
  if (method === 'reset') method = 'hardlink'
  const node = {
    hardlink: ['fs.promises.link', 'fs.linkSync'],
    clone: ['fs.promises.copyFile(FICLONE_FORCE)', 'fs.copyFileSync(FICLONE_FORCE)'],
    copy: ['fs.promises.copyFile', 'fs.copyFileSync']
  }[method]
  switch (impl) {
    case 'cachelink-packages': return 'cachelink importPackages (pnpm index, one call)'
    case 'cachelink-packages-trusted': return 'cachelink importPackages, trustStore: true (no fstatat per store file)'
    case 'cachelink-import-1': return 'cachelink importFiles, 1 package in flight'
    case 'cachelink-import-4': return 'cachelink importFiles, 4 packages in flight'
    case 'cachelink-linkFile': return 'cachelink linkFile per file, 64 in flight'
    case 'cachelink-js': return 'cachelink importFiles on the JS backend, 4 packages in flight'
    case 'pnpm': return `@pnpm/fs.indexed-pkg-importer ('${method}')`
    case 'node-async': return `naive Node: ${node[0]}, 64 in flight`
    case 'node-sync': return `naive Node: ${node[1]} loop`
    case 'cp': return `cp ${CP_FLAGS[method].join(' ')} of a reference tree`
    case 'floor-1': return 'C floor, 1 thread'
    case 'floor-2': return 'C floor, 2 threads'
  }
  return impl
}

const live = new Set() // running children (each a process group: time and what it runs), for the signal handlers
const killGroup = (child) => { try { process.kill(-child.pid, 'SIGKILL') } catch {} }
export const killCurrent = () => { for (const c of live) killGroup(c) }

// Every implementation is started through /usr/bin/time, never forked from this process directly:
// Linux carries a process's peak RSS across fork and exec (signal->maxrss), so a child forked from this
// orchestrator would report at least the orchestrator's RSS as its own. time's own small RSS is what
// the child inherits instead. time's %M (the child's ru_maxrss) is appended to stderr.
const RSS_TAG = 'cachelink-bench-maxrss-kb'
const READY_TAG = 'cachelink-bench-ready' // a Node child's stderr line once it waits for "go" (child.mjs)
function spawnTimed (cmd, args, { timeoutMs = 20 * 60e3, env = process.env } = {}) {
  const t0 = process.hrtime.bigint()
  const child = spawn('/usr/bin/time', ['-f', `${RSS_TAG} %M`, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env })
  live.add(child)
  let onReady = null
  const ready = new Promise((resolve) => { onReady = resolve })
  const done = new Promise((resolve) => {
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d; if (stderr.includes(READY_TAG)) onReady() })
    child.stdin.on('error', () => {}) // a child that died before reading "go"
    const timer = setTimeout(() => killGroup(child), timeoutMs)
    child.on('error', (error) => { clearTimeout(timer); live.delete(child); resolve({ status: -1, stdout, stderr: String(error) }) })
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      live.delete(child)
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
      const m = stderr.match(new RegExp(`^${RSS_TAG} (\\d+)$`, 'm'))
      onReady()
      stderr = stderr.replace(new RegExp(`^${READY_TAG}$`, 'm'), '').replace(/^Command (exited with non-zero status|terminated by signal).*$/m, '').replace(new RegExp(`^${RSS_TAG}.*$`, 'm'), '')
      resolve({ status: status ?? signal, stdout, stderr, wallMs, timeRssKb: m ? Number(m[1]) : null })
    })
  })
  return { child, done, ready }
}

/** The pid of the process /usr/bin/time (pid `timePid`) runs. */
const timedPid = (timePid) => Number(fs.readFileSync(`/proc/${timePid}/task/${timePid}/children`, 'utf8').trim().split(/\s+/)[0])

/**
 * Attaches `strace -f -c` to a running process (every thread, and those it starts); resolves once
 * attached to { done } (done resolves when the process exits and strace has written `out`).
 */
async function attachStrace (pid, out) {
  const st = spawn('/usr/bin/strace', ['-f', '-c', '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] })
  live.add(st)
  let err = ''
  const done = new Promise((resolve) => st.on('close', (status) => { live.delete(st); resolve({ status, err }) }))
  await new Promise((resolve, reject) => {
    st.stderr.on('data', (d) => { err += d; if (/attached/.test(err)) resolve() })
    st.on('close', () => reject(new Error(`strace -p ${pid} failed: ${err.trim()}`)))
  })
  return { done }
}

const lastJson = (s) => JSON.parse(s.trim().split('\n').pop())

/**
 * Readies one import of the corpus into ctx.tree by one implementation; `start()` runs it and resolves
 * to { ms, maxRssKb, timeRssKb, detail } (or rejects). A Node implementation's process is spawned here
 * and loads pnpm's package index at once (while the previous tree is being verified and
 * deleted), then waits for "go" on stdin; its timing starts after that. `cancel()` kills it.
 * ctx: { method, pnpmIndexPath, storeDir, tree, ref, floorBin, floorDirs, floorPairs, dist }; ctx.method
 * 'reset' is 'hardlink' (with hot store entries at the link limit). With ctx.strace (a file name),
 * the import alone runs under `strace -f -c -o <ctx.strace>`: a Node child is attached once it is
 * ready (its start and the index load are not counted); the floor is traced whole (its start and
 * reading its lists are).
 */
export function prepareImpl (impl, ctx) {
  const method = ctx.method === 'reset' ? 'hardlink' : ctx.method
  if (impl.startsWith('floor-')) {
    return {
      cancel () {},
      async start () {
        const args = [method, impl.slice(6), ctx.floorDirs, ctx.floorPairs]
        const r = await (ctx.strace ? spawnTimed('/usr/bin/strace', ['-f', '-c', '-o', ctx.strace, ctx.floorBin, ...args]) : spawnTimed(ctx.floorBin, args)).done
        if (r.status !== 0) throw new Error(`floor exited ${r.status}: ${r.stderr.trim()}`)
        const out = lastJson(r.stdout)
        return { ms: out.ns / 1e6, maxRssKb: out.maxRssKb, timeRssKb: r.timeRssKb, detail: null }
      }
    }
  }
  if (impl === 'cp') {
    return {
      cancel () {},
      async start () {
        const r = await spawnTimed('cp', [...CP_FLAGS[method], ctx.ref, ctx.tree]).done
        if (r.status !== 0) throw new Error(`cp exited ${r.status}: ${r.stderr.trim().slice(0, 500)}`)
        return { ms: r.wallMs, maxRssKb: r.timeRssKb, timeRssKb: r.timeRssKb, detail: null }
      }
    }
  }
  const spec = { impl, method, pnpmIndexPath: ctx.pnpmIndexPath, storeDir: ctx.storeDir, tree: ctx.tree, dist: ctx.dist }
  // cachelink-js runs on the JS backend; every other cachelink row on the native one (a missing
  // binary fails the row rather than silently measuring the JS backend).
  const env = { ...process.env, CACHELINK_BACKEND: impl === 'cachelink-js' ? 'js' : 'native' }
  const p = spawnTimed(process.execPath, [path.join(HERE, 'child.mjs'), JSON.stringify(spec)], { env })
  return {
    cancel () { killGroup(p.child) },
    async start () {
      let trace = null
      if (ctx.strace) {
        await p.ready
        trace = await attachStrace(timedPid(p.child.pid), ctx.strace)
      }
      p.child.stdin.end('go\n')
      const r = await p.done
      if (trace) {
        const t = await trace.done
        if (t.status !== 0) throw new Error(`strace exited ${t.status}: ${t.err.trim().slice(0, 300)}`)
      }
      if (r.status !== 0) throw new Error(`${impl} exited ${r.status}: ${r.stderr.trim().split('\n').slice(0, 6).join(' | ')}`)
      return { ...lastJson(r.stdout), timeRssKb: r.timeRssKb }
    }
  }
}

export const runImpl = (impl, ctx) => prepareImpl(impl, ctx).start()
