/**
 * `verify` for the JS backend (crate/src/engine/verify.rs): entries hashed with node:crypto,
 * a mismatch repaired in place from a good copy with the same steps (the good copy read whole
 * and checked first, the same inode rewritten, truncated, its mode and times put back, fsynced).
 * Its steps run on ops.ts's drivers: `runSync` for the sync twin, `runSliced` (the event loop
 * let run every 8 ms) for the async form, as the JS backend's imports run. Times are put back through `futimes`, to the
 * microsecond (Node's precision, as for the JS backend's resets).
 * @module
 */
import { createHash } from 'node:crypto'
import { constants } from 'node:os'
import * as fs from 'node:fs'
import type { BigIntStats } from 'node:fs'
import type * as Binding from '../binding.js'
import type { NativeFailure, NativeMismatch, NativeVerifyResult, RepairOutcome } from '../binding.js'
import type { Control } from './control.js'
import { coded, fail, shown } from './error.js'
import { seconds } from './link.js'
import { op as fsop, type P, runSliced, runSync, type Step } from './ops.js'


interface Entry {
  path: P
  algo: string
  expected: string
  good: P | null
}

const errno = constants.errno as Record<string, number | undefined>
const BUF = 256 * 1024

/** The fs calls verify makes, as steps of ops.ts's drivers. */
const op = {
  open: (path: P, flags: number) => fsop('openFd', path, flags),
  close: (fd: number) => fsop('closeFd', fd),
  stat: (path: P) => fsop('stat', path),
  fstat: (fd: number) => fsop('fstat', fd),
  read: (fd: number, buf: Buffer) => fsop('readFd', fd, buf),
  write: (fd: number, buf: Buffer, at: number) => fsop('writeFd', fd, buf, at),
  ftruncate: (fd: number, len: number) => fsop('ftruncate', fd, len),
  fchmod: (fd: number, mode: number) => fsop('fchmod', fd, mode),
  chmod: (path: P, mode: number) => fsop('chmod', path, mode),
  futimes: (fd: number, a: number, m: number) => fsop('futimes', fd, a, m),
  fsync: (fd: number) => fsop('fsyncFd', fd),
}

/** An error of the engine (verify.rs' `Error`) as the addon's `NativeFailure`. */
class Failed extends Error {
  constructor(readonly failure: NativeFailure) {
    super(failure.code)
  }
}

function failure(e: unknown, syscall: string, path: P): Failed {
  if (e instanceof Failed) return e
  const n = fail(e, syscall, path)
  return new Failed({ code: n.code, raw: n.raw, syscall: n.syscall, path: n.path, detail: n.detail ?? null })
}

/** Runs `f` on `fd` and closes it, whatever happens. */
function* withFd<T>(fd: number, f: () => Step<T>): Step<T> {
  try {
    return yield* f()
  } finally {
    yield* op.close(fd)
  }
}

interface Hashed {
  digest: string
  size: number
  stat: BigIntStats
  bytes: Buffer[] | null
}

/** verify.rs `hash_file`: the digest (hex), size and stat before reading; with `keep`, the bytes. */
function* hashFile(path: P, algo: string, buf: Buffer, keep: boolean): Step<Hashed> {
  let fd: number
  try {
    fd = yield* op.open(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0))
  } catch (e) {
    throw failure(e, 'open', path)
  }
  return yield* withFd(fd, function* () {
    const stat = yield* op.fstat(fd)
    if (stat.isDirectory()) throw failure(coded('EISDIR', 'open', path, null, errno.EISDIR ?? 0), 'open', path)
    if (!stat.isFile()) throw failure(coded('EINVAL', 'open', path), 'open', path)
    const h = createHash(algo)
    const bytes: Buffer[] | null = keep ? [] : null
    let size = 0
    for (;;) {
      let n: number
      try {
        n = yield* op.read(fd, buf)
      } catch (e) {
        throw failure(e, 'read', path)
      }
      if (n === 0) break
      h.update(buf.subarray(0, n))
      bytes?.push(Buffer.from(buf.subarray(0, n)))
      size += n
    }
    return { digest: h.digest('hex'), size, stat, bytes }
  })
}

interface Tally {
  files: number
  ok: number
  bytes: number
  repaired: number
  mismatches: NativeMismatch[]
  unreadable: Array<{ index: number; error: NativeFailure }>
}

function* check(index: number, e: Entry, repair: boolean, buf: Buffer, t: Tally): Step<void> {
  t.files++
  let h: Hashed
  try {
    h = yield* hashFile(e.path, e.algo, buf, false)
  } catch (err) {
    t.unreadable.push({ index, error: failure(err, 'open', e.path).failure })
    return
  }
  t.bytes += h.size
  if (h.digest === e.expected) {
    t.ok++
    return
  }
  const m: NativeMismatch = { index, actual: h.digest, size: h.size, repair: null, goodActual: null, repairError: null }
  if (repair && e.good !== null) {
    let outcome: RepairOutcome
    try {
      const good = yield* hashFile(e.good, e.algo, buf, true)
      t.bytes += good.size
      if (good.digest !== e.expected) {
        outcome = 'good-mismatch'
        m.goodActual = good.digest
      } else {
        yield* rewrite(e.path, h.stat, Buffer.concat(good.bytes ?? []))
        outcome = 'done'
        t.repaired++
      }
    } catch (err) {
      outcome = 'failed'
      m.repairError = failure(err, 'open', e.path).failure
    }
    m.repair = outcome
  }
  t.mismatches.push(m)
}

const MODE_BITS = 0o7777

/** verify.rs `rewrite`: the good bytes over the same inode, its mode and times put back. */
function* rewrite(path: P, before: BigIntStats, bytes: Buffer): Step<void> {
  const mode = Number(before.mode) & MODE_BITS
  let fd: number
  /** The mode of the file made writable to open it, put back on a failure. */
  let widened: number | null = null
  try {
    fd = yield* op.open(path, fs.constants.O_WRONLY)
  } catch (e) {
    const mine = typeof process.geteuid === 'function' && BigInt(process.geteuid()) === before.uid
    if ((e as NodeJS.ErrnoException).code !== 'EACCES' || !mine) throw failure(e, 'open', path)
    try {
      const was = Number((yield* op.stat(path)).mode) & MODE_BITS
      yield* op.chmod(path, was | 0o200)
      widened = was
      fd = yield* op.open(path, fs.constants.O_WRONLY)
    } catch (e2) {
      if (widened !== null) yield* op.chmod(path, widened)
      throw failure(e2, 'open', path)
    }
  }
  yield* withFd(fd, function* () {
    try {
      yield* writeOver(fd, path, before, mode, bytes)
    } catch (e) {
      if (widened !== null) {
        try {
          yield* op.fchmod(fd, widened)
        } catch {}
      }
      throw e
    }
  })
}

function* writeOver(fd: number, path: P, before: BigIntStats, mode: number, bytes: Buffer): Step<void> {
  const step = function* <T>(syscall: string, s: Step<T>): Step<T> {
    try {
      return yield* s
    } catch (e) {
      throw failure(e, syscall, path)
    }
  }
  const now = yield* step('fstat', op.fstat(fd))
  if (now.dev !== before.dev || now.ino !== before.ino) {
    throw new Failed({
      code: 'ERR_CACHELINK_ENTRY_CHANGED',
      raw: 0,
      syscall: 'open',
      path: shown(path),
      detail: 'the entry was replaced while it was verified; run verify again',
    })
  }
  for (let at = 0; at < bytes.length; ) at += yield* step('write', op.write(fd, bytes, at))
  yield* step('ftruncate', op.ftruncate(fd, bytes.length))
  const after = yield* step('fstat', op.fstat(fd))
  if ((Number(after.mode) & MODE_BITS) !== mode) yield* step('chmod', op.fchmod(fd, mode))
  // To the microsecond, as the reset sets times (link.ts `seconds`).
  yield* step('utime', op.futimes(fd, seconds(before.atimeNs), seconds(before.mtimeNs)))
  yield* step('fsync', op.fsync(fd))
}

/** verify.rs `parse_entries`: `path\0algo\0hex\0good` joined by NUL. */
function parse(records: Buffer): Entry[] {
  const entries: Entry[] = []
  if (records.length === 0) return entries
  const fields: Buffer[] = []
  for (let at = 0; ; ) {
    const nul = records.indexOf(0, at)
    fields.push(records.subarray(at, nul < 0 ? records.length : nul))
    if (nul < 0) break
    at = nul + 1
  }
  if (fields.length % 4 !== 0) throw coded('ERR_CACHELINK_BAD_ENTRY', 'import', 'verify entries')
  const asPath = (b: Buffer): P => {
    const s = b.toString('utf8')
    return Buffer.from(s).equals(b) ? s : Buffer.from(b)
  }
  for (let i = 0; i < fields.length; i += 4) {
    entries.push({
      path: asPath(fields[i]),
      algo: fields[i + 1].toString('latin1'),
      expected: fields[i + 2].toString('latin1'),
      good: fields[i + 3].length ? asPath(fields[i + 3]) : null,
    })
  }
  return entries
}

function result(t: Tally, started: number): NativeVerifyResult {
  t.mismatches.sort((a, b) => a.index - b.index)
  t.unreadable.sort((a, b) => a.index - b.index)
  return {
    files: t.files,
    ok: t.ok,
    bytesHashed: t.bytes,
    repaired: t.repaired,
    mismatches: t.mismatches,
    unreadable: t.unreadable,
    elapsedMs: performance.now() - started,
  }
}

function aborted(first: Entry | undefined): Error {
  const err = coded('ABORT_ERR', 'import', first?.path ?? '')
  err.detail = 'verify was aborted'
  return err
}

const tally = (): Tally => ({ files: 0, ok: 0, bytes: 0, repaired: 0, mismatches: [], unreadable: [] })

/** Every entry, one after the other, the way both drivers run it. */
function* verifyAll(records: Buffer, repair: boolean, control: Control): Step<NativeVerifyResult> {
  const started = performance.now()
  const entries = parse(records)
  control.total = entries.length
  const t = tally()
  const buf = Buffer.allocUnsafe(BUF)
  for (let i = 0; i < entries.length; i++) {
    if (control.aborted) throw aborted(entries[0])
    yield* check(i, entries[i], repair, buf, t)
    control.done = i + 1
  }
  return result(t, started)
}

export function verifySync(records: Buffer, repair: boolean, control: Control): NativeVerifyResult {
  return runSync(verifyAll(records, repair, control))
}

export function verify(records: Buffer, repair: boolean, control: Control): Promise<NativeVerifyResult> {
  return runSliced(verifyAll(records, repair, control))
}

/** The two exports as the addon declares them (its `Control` is this backend's `Control`). */
export const verifyBackend = {
  verify: (records: Buffer, repair: boolean, control: Binding.Control) => verify(records, repair, control as unknown as Control),
  verifySync: (records: Buffer, repair: boolean, control: Binding.Control) => verifySync(records, repair, control as unknown as Control),
}
