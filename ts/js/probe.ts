/**
 * `probe` for the JS backend (crate/src/engine/probe.rs): each method tried with a file the cache
 * already has, into temp names in the target (removed after); nothing written into the cache
 * unless it has no file at all; the fallback memo neither read nor changed; `auto`'s choice
 * worked out from the results in `auto`'s order.
 * @module
 */
import { constants } from 'node:fs'
import type { BigIntStats } from 'node:fs'
import type { FsInfo, NativeProbe, ProbeFallback } from '../binding.js'
import { resolvePath } from '../options.js'
import { coded, codeOf, fail, shown } from './error.js'
import { fsInfo } from './fsinfo.js'
import { chain, classify, type Method } from './method.js'
import { bytesOf, op, type P, type Step } from './ops.js'
import { removeQuietly } from './link.js'
import { dirOf, MARKER, pathBeside } from './temp.js'

/** At most this many directory entries are looked at to find a file to try with. */
export const MAX_ENTRIES = 4096
/** Files at their link limit tried before giving up on hard links. */
const FULL_FILES = 8
const METHODS: Method[] = ['hardlink', 'clone', 'symlink', 'copy']

/** `hidden`: for a hard link made, whether it left the source reading one link. */
type Result = { ok: true; hidden?: boolean } | { ok: false; code: string }

const SEP = Buffer.from(process.platform === 'win32' ? '\\' : '/')

/** `dir` + separator + `name`, as raw bytes (names need not be UTF-8). */
function joinBytes(dir: P, name: Buffer | string): Buffer {
  const d = bytesOf(dir)
  const n = typeof name === 'string' ? Buffer.from(name) : name
  return d.length > 0 && d[d.length - 1] === SEP[0] ? Buffer.concat([d, n]) : Buffer.concat([d, SEP, n])
}

/** The non-empty regular files under a cache, breadth first, temps and stages left out. */
class Found {
  private dirs: Buffer[]
  private list: Array<{ name: Buffer; kind: 'dir' | 'file' | 'other' }> | null = null
  private listDir: Buffer = Buffer.alloc(0)
  private seen = 0

  constructor(root: P) {
    this.dirs = [bytesOf(root)]
  }

  *next(): Step<[Buffer, BigIntStats] | null> {
    while (this.seen < MAX_ENTRIES) {
      if (this.list === null) {
        const dir = this.dirs.shift()
        if (dir === undefined) return null
        try {
          const entries = yield* op('readdirRaw', dir)
          this.list = entries.map((e) => ({ name: e.name, kind: e.isDirectory() ? 'dir' : e.isFile() ? 'file' : 'other' }))
          this.listDir = dir
        } catch {
          // An unreadable directory is passed over: another may have a file.
        }
        continue
      }
      const item = this.list.shift()
      if (item === undefined) {
        this.list = null
        continue
      }
      this.seen++
      if (item.name.includes(MARKER)) continue
      const path = joinBytes(this.listDir, item.name)
      const kind = item.kind
      if (kind === 'dir') this.dirs.push(path)
      else if (kind === 'file') {
        try {
          const meta = yield* op('lstat', path)
          if (meta.isFile() && meta.size > 0n) return [path, meta]
        } catch {}
      }
    }
    return null
  }
}

/** One method from `src` to a temp name in `target`, removed after. */
function* attempt(method: Method, src: Buffer, target: P): Step<Result> {
  const dest = pathBeside(joinBytes(target, `probe-${method}`))
  try {
    if (method === 'hardlink') yield* op('link', src, dest)
    else if (method === 'clone') yield* op('copyFile', src, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE)
    else if (method === 'copy') yield* op('copyByHand', src, dest, 0o600, true)
    else yield* op('symlink', resolvePath(src), dest)
    if (method === 'hardlink') {
      try {
        return { ok: true, hidden: (yield* op('lstat', dest)).nlink === 1n }
      } catch {}
    }
    return { ok: true }
  } catch (e) {
    return { ok: false, code: fail(e, method, src, dest).code }
  } finally {
    yield* removeQuietly(dest)
  }
}

export function* probe(cache: P, target: P): Step<NativeProbe> {
  function* dirInfo(dir: P): Step<FsInfo> {
    let meta: BigIntStats
    try {
      meta = yield* op('stat', dir)
    } catch (e) {
      throw fail(e, 'stat', dir)
    }
    if (!meta.isDirectory()) throw coded('ENOTDIR', 'stat', dir)
    return yield* fsInfo(dir)
  }
  const cacheInfo = yield* dirInfo(cache)
  const targetInfo = yield* dirInfo(target)
  const found = new Found(cache)
  let source = yield* found.next()
  const writeDir = source ? dirOf(source[0]) : cache
  let cacheWriteError: string | null = null
  try {
    yield* op('accessWrite', writeDir)
  } catch (e) {
    cacheWriteError = codeOf(e)
  }
  let made: Buffer | null = null
  if (source === null && cacheWriteError === null) {
    const p = bytesOf(pathBeside(joinBytes(cache, 'probe')))
    try {
      yield* op('writeFile', p, 'cachelink probe\n', 'wx')
      made = p
      source = [p, yield* op('lstat', p)]
    } catch {
      if (made !== null) yield* removeQuietly(made)
      made = null
    }
  }
  try {
    const results: Array<Result | null> = [null, null, null, null]
    if (source !== null) {
      for (let i = 0; i < METHODS.length; i++) {
        const method = METHODS[i]
        let result = yield* attempt(method, source[0], target)
        // A file at its link limit: try the next one the walk finds, a few times.
        for (let full = 0; method === 'hardlink' && made === null && full < FULL_FILES && !result.ok && result.code === 'EMLINK'; full++) {
          const next = yield* found.next()
          if (next === null) break
          source = next
          result = yield* attempt(method, source[0], target)
        }
        results[i] = result
      }
    }
    let mayLink = true
    if (source !== null) {
      const uid = process.getuid?.()
      if (uid !== undefined && uid !== 0 && BigInt(uid) !== source[1].uid) mayLink = yield* op('mayWrite', source[0])
    }
    const at = (m: Method) => results[METHODS.indexOf(m)]
    const probe = (m: Method) => {
      const r = at(m)
      return { works: r === null ? null : r.ok, code: r === null || r.ok ? null : r.code }
    }
    return {
      cache: cacheInfo,
      target: targetInfo,
      source: source === null ? null : { path: shown(source[0]), temp: made !== null },
      cacheWritable: cacheWriteError === null,
      cacheWriteError,
      atLinkLimit: cacheWriteError === null ? 'reset' : 'copy-readonly-cache',
      linkCounts: linkCounts(at('hardlink')),
      methods: { hardlink: probe('hardlink'), clone: probe('clone'), symlink: probe('symlink'), copy: probe('copy') },
      auto: auto(at, cacheWriteError === null, mayLink),
    }
  } finally {
    if (made !== null) yield* removeQuietly(made)
  }
}

/** Whether link counts are real, by the hard link made (probe.rs `link_counts_hidden`). */
function linkCounts(r: Result | null): NativeProbe['linkCounts'] {
  if (r === null || !r.ok || r.hidden === undefined) return 'unknown'
  return r.hidden ? 'hidden' : 'real'
}

/** `auto`'s choice from the per-method results (probe.rs `auto`). */
function auto(at: (m: Method) => Result | null, writable: boolean, mayLink: boolean): NativeProbe['auto'] {
  const out: NativeProbe['auto'] = { method: 'none', fallbacks: [], error: null }
  const order = chain({ method: 'auto', fallback: true, onLinkLimit: 'reset', maxLinks: 0, ifExists: 'error' })
  for (let i = 0; i < order.length; i++) {
    const method = order[i]
    const r = at(method)
    if (r === null) return out
    if (r.ok) {
      out.method = method
      return out
    }
    const last = i + 1 === order.length
    const cls = classify(method, { code: r.code }, mayLink)
    const f: ProbeFallback = { method, code: r.code }
    if ((cls === 'unsupported' || cls === 'refused' || cls === 'denied') && !last) out.fallbacks.push(f)
    else if (cls === 'link-limit') {
      out.method = writable ? method : 'copy'
      return out
    } else {
      out.error = f
      return out
    }
  }
  return out
}
