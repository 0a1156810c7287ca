import { debuglog } from 'node:util'
import { loadNative } from './loader.js'
import type { Native } from './native.js'

const debug = debuglog('cachelink')

let native: Native | undefined
/** Why the addon did not load: the load is attempted once per process. */
let failure: Error | undefined

/**
 * The native addon, loaded on first use. When it cannot be loaded, this call and every later
 * one throw `ERR_CACHELINK_NO_BINARY` with the loader's full text (every place tried, and the
 * fixes), without trying again: a missing binary stays missing for the life of the process.
 */
export function addon(): Native {
  if (native) return native
  if (!failure) {
    try {
      native = loadNative()
      return native
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e))
      debug('no native binary: %s', failure.message.split('\n')[0])
    }
  }
  const err = new Error(failure.message, { cause: failure.cause }) as Error & { code: string }
  err.code = 'ERR_CACHELINK_NO_BINARY'
  Error.captureStackTrace(err, addon)
  throw err
}
