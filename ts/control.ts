import { addon } from './addon.js'
import { abortError, fsError, invalidArgType, isNativeError } from './errors.js'
import type { Control } from './native.js'
import type { Known } from './suggest.js'

/** Progress of a long native call: `total` is 0 while unknown (a walk). */
export interface Progress {
  done: number
  total: number
}

export interface Controlled {
  signal?: AbortSignal
  onProgress?: (progress: Progress) => void
}

/** The options of every long call (see `LINK_OPTIONS` in options.ts). */
export const CONTROLLED = { signal: true, onProgress: true } as const satisfies Known<keyof Controlled>

const PROGRESS_MS = 50

/** The addon's error as Node's fs error, or an AbortError; anything else as it is. */
export function convert(e: unknown, signal: AbortSignal | undefined, caller: Function): unknown {
  if (!isNativeError(e)) return e
  if (e.code === 'ABORT_ERR') return abortError(signal?.reason, caller)
  return fsError(e, caller)
}

/**
 * Runs a native call that shares a `Control` with this thread: reports its progress to
 * `onProgress` about every 50 ms and once at the end, and aborts it when the signal fires or
 * `onProgress` throws (which then rejects the call). With `onProgress`, an import is held one
 * step short of the end (its stage not yet renamed into place) until the final report has
 * returned: a throw there rolls the import back, so the call never fails after its work was
 * put in place. Bad `signal` or `onProgress` options reject with a TypeError cut at `caller`.
 */
export async function controlled<T>(
  options: Controlled | undefined,
  caller: Function,
  run: (control: Control) => Promise<T>,
): Promise<T> {
  checkControlled(options ?? {}, caller)
  const { signal, onProgress } = options ?? {}
  if (signal?.aborted) throw abortError(signal.reason, controlled)
  const control = new (addon().Control)(onProgress !== undefined)
  const onAbort = () => control.abort()
  signal?.addEventListener('abort', onAbort, { once: true })
  let last = -1
  let progressError: unknown
  const tick = () => {
    const done = control.done
    if (done === last || !onProgress) return
    last = done
    try {
      onProgress({ done, total: control.total })
    } catch (e) {
      progressError ??= e
      control.abort()
    }
  }
  const timer = onProgress ? setInterval(tick, PROGRESS_MS) : undefined
  timer?.unref()
  try {
    const out = await run(control)
    if (progressError === undefined) tick()
    if (progressError !== undefined) throw progressError
    addRetries(out, control.commit())
    return out
  } catch (e) {
    control.rollback()
    if (progressError !== undefined) throw progressError
    // After an await the caller is no longer on the stack: cut at this frame instead, leaving
    // the async frames of the caller's callers.
    throw convert(e, signal, controlled)
  } finally {
    clearInterval(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * The synchronous form: progress once at the end (before an import is put in place, as in
 * `controlled`); the signal is checked once, before.
 */
export function controlledSync<T>(
  options: Controlled | undefined,
  caller: Function,
  run: (control: Control) => T,
): T {
  checkControlled(options ?? {}, caller)
  const { signal, onProgress } = options ?? {}
  if (signal?.aborted) throw abortError(signal.reason, caller)
  const control = new (addon().Control)(onProgress !== undefined)
  try {
    const out = run(control)
    onProgress?.({ done: control.done, total: control.total })
    addRetries(out, control.commit())
    return out
  } catch (e) {
    control.rollback()
    throw convert(e, signal, caller)
  }
}

/**
 * Adds the retries a held commit took (`Control.commit`) to the stats the call returned: an
 * import's `ImportStats`, or an install's `{ stats }`.
 */
function addRetries(out: unknown, retries: number): void {
  if (!retries || typeof out !== 'object' || out === null) return
  const o = out as { retries?: number; stats?: { retries?: number } }
  if (typeof o.retries === 'number') o.retries += retries
  else if (typeof o.stats?.retries === 'number') o.stats.retries += retries
}

/** Checks the `signal` and `onProgress` options (`controlled` and `controlledSync` do). */
function checkControlled(o: Controlled, caller: Function): void {
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', o.signal, caller)
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw invalidArgType('options.onProgress', 'of type function', o.onProgress, caller)
  }
}
