/**
 * The JS backend's errors: the same shape the addon throws (`NativeError`), made from Node's own
 * fs errors, so `ts/errors.ts` turns both into the same Node fs error.
 * @module
 */
import type { NativeError } from '../native.js'
import type { P } from './ops.js'

const isWindows = process.platform === 'win32'

/** A path as errors show it. */
export function shown(p: P): string {
  return typeof p === 'string' ? p : p.toString()
}

/** A cachelink-shaped error with `code`, for `syscall` on `path` (and `dest`). */
export function coded(code: string, syscall: string, path: P, dest?: P | null, raw = 0): NativeError {
  const err = new Error(`${code}, ${syscall}`) as NativeError
  err.cachelink = true
  err.code = code
  err.raw = raw
  err.syscall = syscall
  err.path = shown(path)
  if (dest != null) err.dest = shown(dest)
  return err
}

/** The code of a Node fs error (`UNKNOWN` for anything else). */
export function codeOf(e: unknown): string {
  const code = (e as { code?: unknown })?.code
  return typeof code === 'string' ? code : 'UNKNOWN'
}

/**
 * Node's fs error `e` as the addon would report it: its code, for `syscall`, on the engine's
 * paths. Windows' ERROR_TOO_MANY_LINKS (1142) reaches Node as `UNKNOWN` from `link`: EMLINK
 * (the native side maps 1142 to EMLINK; yarn does the same). Anything that is not an OS error
 * (a bug) is thrown as it is.
 */
export function fail(e: unknown, syscall: string, path: P, dest?: P | null): NativeError {
  if (isCachelink(e)) return e
  const n = e as NodeJS.ErrnoException
  if (!(e instanceof Error) || typeof n.code !== 'string') throw e
  const code = nodeCode(n)
  // On Unix libuv's number is -errno; on Windows the Win32 number is not exposed.
  const raw = typeof n.errno === 'number' && !isWindows ? -n.errno : 0
  const err = coded(code, syscall, path, dest, raw)
  if (code.startsWith('ERR_CACHELINK_')) err.detail = n.message
  return err
}

/**
 * The code the native engine would give for Node's fs error `n`: Windows' ERROR_TOO_MANY_LINKS
 * (1142) reaches Node as `UNKNOWN` from `link`, and is EMLINK (yarn reads it so too).
 */
export function nodeCode(n: NodeJS.ErrnoException, windows = isWindows): string {
  const code = n.code ?? 'UNKNOWN'
  return windows && code === 'UNKNOWN' && n.syscall === 'link' ? 'EMLINK' : code
}

export function isCachelink(e: unknown): e is NativeError {
  return e instanceof Error && (e as Partial<NativeError>).cachelink === true
}

/** Whether `e` is an error (Node's or ours) with `code`. */
export function is(e: unknown, code: string): boolean {
  return codeOf(e) === code
}
