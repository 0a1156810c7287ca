/**
 * Transient failures and their bounded retry: the JS twin of crate/src/engine/retry.rs (the
 * table, the reasons, the counts and waits are written there). Node names the Windows errors
 * as libuv does: ERROR_SHARING_VIOLATION and ERROR_LOCK_VIOLATION are `EBUSY`,
 * ERROR_ACCESS_DENIED is `EPERM`; those names stand for them here.
 * @module
 */
import { codeOf } from './error.js'
import { op, type P, type Step } from './ops.js'
import { dirOf } from './temp.js'

export type RetryOp = 'rename' | 'unlink' | 'clone' | 'copy'

/** Tries after the first. */
export const RETRIES = 6
/** The wait before the first retry (ms); each next one is twice as long: 630 ms in all. */
const FIRST_WAIT_MS = 10

const isWindows = process.platform === 'win32'

/**
 * Whether a failure of `op` with `code` may go away if tried again in a moment (retry.rs
 * `transient`). `mountPoint`: one of the paths is a mount point (only read for a Unix EBUSY).
 */
export function transient(op: RetryOp, code: string, mountPoint: boolean, windows = isWindows): boolean {
  if (windows) {
    if (op === 'rename' || op === 'unlink') return code === 'EBUSY' || code === 'EPERM'
    return code === 'EBUSY'
  }
  if (op === 'rename' || op === 'unlink') return code === 'EBUSY' && !mountPoint
  return code === 'EAGAIN'
}

/** Counts the retries of a call (`LinkResult.retries`, `ImportStats.retries`). */
export interface Retries {
  retries: number
}

/**
 * Runs `f` until it succeeds, fails with an error that is not transient for `what`, or has been
 * retried `RETRIES` times; `count.retries` counts the retries made. `paths`: what `f` works on
 * (for the mount point check).
 */
export function* retrying<T>(what: RetryOp, paths: P[], count: Retries, f: () => Step<T>): Step<T> {
  let wait = FIRST_WAIT_MS
  for (let tried = 0; ; tried++) {
    try {
      return yield* f()
    } catch (e) {
      const code = codeOf(e)
      if (tried >= RETRIES) throw e
      const mountPoint = code === 'EBUSY' && !isWindows && (yield* anyMountPoint(paths))
      if (!transient(what, code, mountPoint)) throw e
      yield* op('sleep', wait)
      wait *= 2
      count.retries++
    }
  }
}

/** Whether one of `paths` is on another device than its parent directory. */
function* anyMountPoint(paths: P[]): Step<boolean> {
  for (const p of paths) {
    try {
      const [a, b] = [yield* op('lstat', p), yield* op('lstat', dirOf(p))]
      if (a.dev !== b.dev || a.ino === b.ino) return true
    } catch {}
  }
  return false
}
