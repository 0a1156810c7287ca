import { abortError, fsError, invalidArgType, isNativeError } from './errors.js'

/** Progress of a long native call: `total` is 0 while unknown (a walk). */
export interface Progress {
  done: number
  total: number
}

export interface Controlled {
  signal?: AbortSignal
  onProgress?: (progress: Progress) => void
}

const PROGRESS_MS = 50

/** The addon's error as Node's fs error, or an AbortError; anything else as it is. */
export function convert(e: unknown, signal: AbortSignal | undefined, caller: Function): unknown {
  if (!isNativeError(e)) return e
  if (e.code === 'ABORT_ERR') return abortError(signal?.reason, caller)
  return fsError(e, caller)
}

/**
 * Runs a native call that shares a control buffer (`Int32Array [done, total, abort]`) with
 * this thread: reports its progress to `onProgress` about every 50 ms and once at the end, and
 * sets `abort` when the signal fires or `onProgress` throws (which then rejects the call).
 * Bad `signal` or `onProgress` options reject with a TypeError cut at `caller`.
 */
export async function controlled<T>(
  options: Controlled | undefined,
  caller: Function,
  run: (control: ArrayBuffer) => Promise<T>,
): Promise<T> {
  checkControlled(options ?? {}, caller)
  const { signal, onProgress } = options ?? {}
  if (signal?.aborted) throw abortError(signal.reason, controlled)
  const control = new Int32Array(new ArrayBuffer(16))
  const onAbort = () => Atomics.store(control, 2, 1)
  signal?.addEventListener('abort', onAbort, { once: true })
  let last = -1
  let progressError: unknown
  const tick = () => {
    const done = Atomics.load(control, 0)
    if (done === last || !onProgress) return
    last = done
    try {
      onProgress({ done, total: Atomics.load(control, 1) })
    } catch (e) {
      progressError ??= e
      Atomics.store(control, 2, 1)
    }
  }
  const timer = onProgress ? setInterval(tick, PROGRESS_MS) : undefined
  timer?.unref()
  try {
    const out = await run(control.buffer)
    if (progressError) throw progressError
    tick()
    return out
  } catch (e) {
    if (progressError) throw progressError
    // After an await the caller is no longer on the stack: cut at this frame instead, leaving
    // the async frames of the caller's callers.
    throw convert(e, signal, controlled)
  } finally {
    clearInterval(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

/** The synchronous form: progress once at the end; the signal is checked once, before. */
export function controlledSync<T>(
  options: Controlled | undefined,
  caller: Function,
  run: (control: ArrayBuffer) => T,
): T {
  checkControlled(options ?? {}, caller)
  const { signal, onProgress } = options ?? {}
  if (signal?.aborted) throw abortError(signal.reason, caller)
  const control = new Int32Array(new ArrayBuffer(16))
  let out: T
  try {
    out = run(control.buffer)
  } catch (e) {
    throw convert(e, signal, caller)
  }
  onProgress?.({ done: Atomics.load(control, 0), total: Atomics.load(control, 1) })
  return out
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
