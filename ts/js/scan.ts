/**
 * `scanCache` and `cleanTemp` for the JS backend (crate/src/engine/scan.rs): a walk that does not
 * follow symlinks, names handled as raw bytes (a name need not be UTF-8), leftovers recognized
 * by exactly the names `temp.ts` (and temp.rs) write, their age from the ctime, and a process
 * check (`process.kill(pid, 0)`) for a leftover of this machine.
 * @module
 */
import type { BigIntStats } from 'node:fs'
import type { CleanResult, NativeLeftover, NativeUnrecognized, ScanResult, UnrecognizedReason } from '../binding.js'
import type { Control } from './control.js'
import { coded, codeOf, fail } from './error.js'
import { op, type P, type Step } from './ops.js'
import { HELD_MARKER, hostId, MARKER, STAGE_MARKER } from './temp.js'

export const BUCKETS = [1, 2, 10, 100, 1_000, 10_000]
const HOST_LEN = 12

interface LeftoverName {
  pid: number
  stage: boolean
  held: boolean
  host: string | null
  dotted: boolean
}

/** scan.rs `leftover_name`: what a temp or stage name says, or null for any other name. */
export function leftoverName(name: Buffer): LeftoverName | null {
  const at = name.lastIndexOf(MARKER)
  if (at < 0) return null
  let rest = name.subarray(at + MARKER.length).toString('latin1')
  const stageWord = STAGE_MARKER.slice(MARKER.length)
  const stage = rest.startsWith(stageWord)
  if (stage) rest = rest.slice(stageWord.length)
  const heldWord = HELD_MARKER.slice(MARKER.length)
  const held = !stage && rest.startsWith(heldWord)
  if (held) rest = rest.slice(heldWord.length)
  const parts = rest.split('-')
  let host: string | null = null
  let pid: string
  let random: string
  if (parts.length === 2) [pid, random] = parts
  else if (parts.length === 3) [host, pid, random] = parts
  else return null
  if (host !== null && !(host.length === HOST_LEN && /^[0-9a-f]+$/.test(host))) return null
  if (!/^[0-9]{1,10}$/.test(pid) || !/^[0-9a-fA-F]{16}$/.test(random)) return null
  const n = Number(pid)
  if (n > 0xffffffff) return null
  return { pid: n, stage, held, host, dotted: name[0] === 0x2e }
}

/**
 * scan.rs `is_own`: a name cachelink made for its own work, on the kind of file it makes there (a
 * temp: a regular file or a symlink; a stage: a directory). Never an entry of a walk that
 * materializes a cache (`importTree`): other processes' resets rename their temps away at any
 * moment. Look-alikes are someone else's files.
 */
export function isOwn(name: Buffer, kind: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }): boolean {
  const n = leftoverName(name)
  if (n === null || !n.dotted) return false
  if (n.stage) return kind.isDirectory()
  return n.held ? kind.isFile() : kind.isFile() || kind.isSymbolicLink()
}

/** scan.rs `display`: the path as text, bytes that are not UTF-8 written `\xNN`. */
export function display(raw: Buffer): [string, boolean] {
  let out = ''
  let exact = true
  let i = 0
  while (i < raw.length) {
    const b = raw[i]
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    let ok = len > 0 && i + len <= raw.length
    for (let k = 1; ok && k < len; k++) ok = (raw[i + k] & 0xc0) === 0x80
    if (ok && len === 3) {
      const c = raw[i + 1]
      ok = !(b === 0xe0 && c < 0xa0) && !(b === 0xed && c >= 0xa0)
    }
    if (ok && len === 4) {
      const c = raw[i + 1]
      ok = !(b === 0xf0 && c < 0x90) && !(b === 0xf4 && c >= 0x90)
    }
    if (ok) {
      out += raw.subarray(i, i + len).toString('utf8')
      i += len
    } else {
      out += `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`
      exact = false
      i++
    }
  }
  return [out, exact]
}

function found(raw: Buffer): { path: string; raw: Buffer; exact: boolean } {
  const [path, exact] = display(raw)
  return { path, raw, exact }
}

const SEP = Buffer.from(process.platform === 'win32' ? '\\' : '/')

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SEP, name])
}

function baseName(p: Buffer): Buffer {
  let i = p.length
  while (i > 0 && p[i - 1] !== 0x2f && !(process.platform === 'win32' && p[i - 1] === 0x5c)) i--
  return p.subarray(i)
}

function toRaw(p: P): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : p
}

/** Since the last status change (Windows: creation) in ms. */
function ageMs(meta: BigIntStats, nowMs: number): number {
  const changed = process.platform === 'win32' ? meta.birthtimeNs : meta.ctimeNs
  return Math.max(0, Math.floor(nowMs - Number(changed / 1_000_000n)))
}

interface Leftover {
  raw: Buffer
  stage: boolean
  held: boolean
  pid: number
  host: string | null
  ageMs: number
}

interface Unrecognized {
  raw: Buffer
  reason: UnrecognizedReason
}

interface Walked {
  leftovers: Leftover[]
  unrecognized: Unrecognized[]
  unreadable: Array<[Buffer, string]>
}

function leftover(raw: Buffer, meta: BigIntStats, nowMs: number): Leftover | Unrecognized | null {
  const name = leftoverName(baseName(raw))
  if (name === null) return null
  let reason: UnrecognizedReason | null = null
  if (!name.dotted) reason = 'no-leading-dot'
  else if (name.stage) reason = meta.isDirectory() ? null : 'not-a-directory'
  else if (meta.isDirectory()) reason = 'directory'
  else if (!meta.isFile() && (name.held || !meta.isSymbolicLink())) reason = 'not-a-regular-file'
  if (reason !== null) return { raw, reason }
  return { raw, stage: name.stage, held: name.held, pid: name.pid, host: name.host, ageMs: ageMs(meta, nowMs) }
}

/** Visits everything under `root` but leftovers, which it collects instead of entering. */
function* walk(root: P, control: Control, visit: (raw: Buffer, meta: BigIntStats) => void): Step<Walked> {
  const rootRaw = toRaw(root)
  let meta: BigIntStats
  try {
    meta = yield* op('stat', root)
  } catch (e) {
    throw fail(e, 'scandir', root)
  }
  if (!meta.isDirectory()) throw coded('ENOTDIR', 'scandir', root)
  const now = Date.now()
  const w: Walked = { leftovers: [], unrecognized: [], unreadable: [] }
  const pending: Buffer[] = [rootRaw]
  while (pending.length > 0) {
    const dir = pending.pop()!
    if (control.aborted) throw coded('ABORT_ERR', 'scandir', root)
    let list
    try {
      list = yield* op('readdirRaw', dir)
    } catch (e) {
      if (dir === rootRaw) throw fail(e, 'scandir', dir)
      w.unreadable.push([dir, codeOf(e)])
      continue
    }
    for (const item of list) {
      const raw = join(dir, item.name)
      let m: BigIntStats
      try {
        m = yield* op('lstat', raw)
      } catch {
        continue // gone since the listing
      }
      control.done++
      const l = leftover(raw, m, now)
      if (l !== null && 'pid' in l) {
        w.leftovers.push(l)
        continue
      }
      if (l !== null) w.unrecognized.push(l)
      visit(raw, m)
      if (m.isDirectory()) pending.push(raw)
    }
  }
  return w
}

function leftoverToJs(l: Leftover): NativeLeftover {
  const thisHost = l.host === null ? null : l.host === hostId()
  return { ...found(l.raw), kind: l.stage ? 'stage' : l.held ? 'held' : 'temp', pid: l.pid, host: l.host, thisHost, ageMs: l.ageMs }
}

function unrecognizedToJs(u: Unrecognized): NativeUnrecognized {
  return { ...found(u.raw), reason: u.reason }
}

export function* scan(root: P, nearAt: number, control: Control): Step<ScanResult> {
  const started = performance.now()
  let files = 0
  let bytes = 0
  let dirs = 0
  let others = 0
  let mostLinks = 0
  const histogram = BUCKETS.map(() => 0)
  const near: Array<{ raw: Buffer; links: number; size: number }> = []
  const walked = yield* walk(root, control, (raw, meta) => {
    if (meta.isDirectory()) dirs++
    else if (meta.isFile()) {
      const links = Number(meta.nlink)
      files++
      bytes += Number(meta.size)
      mostLinks = Math.max(mostLinks, links)
      let bucket = 0
      for (let i = BUCKETS.length - 1; i >= 0; i--) {
        if (links >= BUCKETS[i]) {
          bucket = i
          break
        }
      }
      histogram[bucket]++
      if (nearAt > 0 && links >= nearAt) near.push({ raw, links, size: Number(meta.size) })
    } else others++
  })
  near.sort((a, b) => b.links - a.links || Buffer.compare(a.raw, b.raw))
  return {
    files,
    bytes,
    dirs,
    others,
    mostLinks,
    histogram: BUCKETS.map((from, i) => ({ from, to: i + 1 < BUCKETS.length ? BUCKETS[i + 1] - 1 : null, files: histogram[i] })),
    near: near.map((n) => ({ ...found(n.raw), links: n.links, size: n.size })),
    leftovers: walked.leftovers.map(leftoverToJs),
    unrecognized: walked.unrecognized.map(unrecognizedToJs),
    unreadable: walked.unreadable.map(([raw, code]) => ({ ...found(raw), code })),
    elapsedMs: performance.now() - started,
  }
}

/** Whether the process `pid` may be running (`kill(pid, 0)`: EPERM means it exists). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return codeOf(e) === 'EPERM'
  }
}

function maybeRunning(l: Leftover): boolean {
  if (l.host !== null && l.host !== hostId()) return false
  return alive(l.pid)
}

/** The age of the youngest entry under `dir`, stopping at one younger than `enough`. */
function* youngestIn(dir: Buffer, nowMs: number, enough: number): Step<number> {
  let youngest = Number.MAX_SAFE_INTEGER
  const pending = [dir]
  while (pending.length > 0) {
    const d = pending.pop()!
    let list
    try {
      list = yield* op('readdirRaw', d)
    } catch {
      continue
    }
    for (const item of list) {
      const raw = join(d, item.name)
      let m: BigIntStats
      try {
        m = yield* op('lstat', raw)
      } catch {
        continue
      }
      youngest = Math.min(youngest, ageMs(m, nowMs))
      if (youngest < enough) return youngest
      if (m.isDirectory()) pending.push(raw)
    }
  }
  return youngest
}

/** scan.rs `HOLD_MS`: how long a hold keeps an entry nobody links (30 days). */
export const HOLD_MS = 30 * 24 * 3600 * 1000

/**
 * scan.rs `hold_done`: the entry the hold names has a link besides it and the hold, or names
 * another inode or nothing and the hold is `olderThanMs` old, or the hold is `HOLD_MS` old.
 */
function* holdDone(l: Leftover, olderThanMs: number): Step<boolean> {
  if (l.ageMs >= HOLD_MS) return true
  let held: BigIntStats
  try {
    held = yield* op('lstat', l.raw)
  } catch {
    return false // gone meanwhile
  }
  const name = baseName(l.raw)
  const at = name.lastIndexOf(HELD_MARKER)
  if (at > 1) {
    const entry = Buffer.concat([l.raw.subarray(0, l.raw.length - name.length), name.subarray(1, at)])
    try {
      const meta = yield* op('lstat', entry)
      if (meta.dev === held.dev && meta.ino === held.ino) return meta.nlink > 2n
    } catch {}
  }
  return l.ageMs >= olderThanMs
}

export function* clean(root: P, olderThanMs: number, dryRun: boolean, control: Control): Step<CleanResult> {
  const walked = yield* walk(root, control, () => {})
  const holds = walked.leftovers.filter((l) => l.held)
  let list = walked.leftovers.filter((l) => !l.held && l.ageMs >= olderThanMs && !maybeRunning(l))
  const now = Date.now()
  for (const l of list) {
    if (l.stage) l.ageMs = Math.min(l.ageMs, yield* youngestIn(l.raw, now, olderThanMs))
  }
  list = list.filter((l) => l.ageMs >= olderThanMs)
  for (const l of holds) if (yield* holdDone(l, olderThanMs)) list.push(l)
  if (!dryRun) {
    for (const l of list) {
      try {
        if (l.stage) yield* op('rmTree', l.raw)
        else yield* op('unlink', l.raw)
      } catch (e) {
        if (codeOf(e) !== 'ENOENT') throw fail(e, l.stage ? 'rm' : 'unlink', l.raw)
      }
    }
  }
  return { removed: list.map(leftoverToJs), unrecognized: walked.unrecognized.map(unrecognizedToJs) }
}
