import { getSystemErrorMap } from 'node:util'
import type { NativeError } from './native.js'

/** Node's fs error: what `fs.link` and friends throw. */
export interface CachelinkError extends Error {
  /** libuv's code name, such as `'EMLINK'` (Windows ERROR_TOO_MANY_LINKS too). */
  code: string
  /**
   * Negative, the platform's libuv number: `util.getSystemErrorName(errno) === code`. Absent
   * for cachelink's own codes (`ERR_CACHELINK_*`), which no OS number describes.
   */
  errno: number
  syscall: string
  path: string
  dest?: string
  /** In a batch import: the entry (its path under `into`) that failed. */
  entry?: string
}

let byName: Map<string, [number, string]> | undefined

/** `[errno, description]` for a code name, from this platform's libuv table. */
function lookup(code: string): [number, string] {
  if (!byName) {
    byName = new Map()
    for (const [errno, [name, description]] of getSystemErrorMap()) {
      byName.set(name, [errno, description])
    }
  }
  return byName.get(code) ?? byName.get('UNKNOWN') ?? [-4094, 'unknown error']
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && (e as Partial<NativeError>).cachelink === true
}

/**
 * Builds Node's fs error from the addon's report, with Node's message format
 * (`EMLINK: too many links, link 'a' -> 'b'`) and a stack that starts at `caller`.
 */
export function fsError(n: NativeError, caller: Function): CachelinkError {
  if (n.code === 'ERR_CACHELINK_UNSAFE_PATH') {
    const err = new Error(`Unsafe path in entry '${n.entry ?? n.path}': ${n.detail}`) as CachelinkError
    Object.assign(err, { code: n.code, path: n.path, entry: n.entry ?? n.path })
    if (n.dest !== undefined) err.dest = n.dest
    Error.captureStackTrace(err, caller)
    return err
  }
  if (n.code.startsWith('ERR_CACHELINK_') && n.detail !== undefined) {
    // cachelink's own codes (ERR_CACHELINK_SOURCE_CHANGED): no OS number, so no `errno`.
    let message = `${n.code}: ${n.detail}, ${n.syscall} '${n.path}'`
    if (n.dest !== undefined) message += ` -> '${n.dest}'`
    const err = new Error(message) as CachelinkError
    Object.assign(err, { code: n.code, syscall: n.syscall, path: n.path })
    if (n.dest !== undefined) err.dest = n.dest
    if (n.entry !== undefined) err.entry = n.entry
    Error.captureStackTrace(err, caller)
    return err
  }
  const [errno, description] = lookup(n.code)
  let message = `${n.code}: ${description}, ${n.syscall} '${n.path}'`
  if (n.dest !== undefined) message += ` -> '${n.dest}'`
  const err = new Error(message) as CachelinkError
  err.errno = errno
  err.code = n.code
  err.syscall = n.syscall
  err.path = n.path
  if (n.dest !== undefined) err.dest = n.dest
  if (n.entry !== undefined) err.entry = n.entry
  Error.captureStackTrace(err, caller)
  return err
}

/** Node's AbortError, as `fs.promises` rejects with it. */
export function abortError(reason: unknown, caller: Function): Error {
  const err = new Error('The operation was aborted', { cause: reason }) as Error & { code: string }
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  Error.captureStackTrace(err, caller)
  return err
}

/** Rethrows what the addon threw as Node's fs error; anything else as it is. */
export function rethrow(e: unknown, caller: Function): never {
  throw isNativeError(e) ? fsError(e, caller) : e
}

function received(value: unknown): string {
  if (value == null) return ` Received ${value}`
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name
    return name ? ` Received an instance of ${name}` : ' Received [object]'
  }
  let shown = String(value)
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  if (typeof value === 'string') shown = `'${shown}'`
  return ` Received type ${typeof value} (${shown})`
}

type NodeCodeError = Error & { code: string }

function coded<E extends Error>(err: E, code: string, caller: Function): E & { code: string } {
  const e = err as E & { code: string }
  e.code = code
  Error.captureStackTrace(e, caller)
  return e
}

/** `ERR_INVALID_ARG_TYPE`, as Node words it. */
export function invalidArgType(
  name: string,
  expected: string,
  value: unknown,
  caller: Function,
): NodeCodeError {
  const msg = `The "${name}" argument must be ${expected}.${received(value)}`
  return coded(new TypeError(msg), 'ERR_INVALID_ARG_TYPE', caller)
}

/** `ERR_INVALID_ARG_VALUE`, as Node words it. */
export function invalidArgValue(
  name: string,
  value: unknown,
  reason: string,
  caller: Function,
): NodeCodeError {
  const shown = typeof value === 'string' ? `'${value}'` : String(value)
  const msg = `The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${shown}`
  return coded(new TypeError(msg), 'ERR_INVALID_ARG_VALUE', caller)
}

/** `ERR_OUT_OF_RANGE`, as Node words it. */
export function outOfRange(
  name: string,
  range: string,
  value: unknown,
  caller: Function,
): NodeCodeError {
  const msg = `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`
  return coded(new RangeError(msg), 'ERR_OUT_OF_RANGE', caller)
}
