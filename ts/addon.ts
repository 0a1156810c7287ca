import { debuglog } from 'node:util'
import { js } from './js/index.js'
import { loadNative } from './loader.js'
import type { Native } from './native.js'

const debug = debuglog('cachelink')

let native: Native | undefined

/**
 * The backend, chosen on first use: the JS one with `CACHELINK_BACKEND=js` or when no native
 * binary loads (unless `CACHELINK_BACKEND=native`, which keeps the loader's error). A small
 * hook for the JS backend's branch; the lead's `backend` / ERR_CACHELINK_NO_BINARY work on main
 * replaces it.
 */
export function addon(): Native {
  native ??= select()
  return native
}

function select(): Native {
  const wanted = process.env.CACHELINK_BACKEND
  if (wanted === 'js') {
    debug('backend js (CACHELINK_BACKEND=js)')
    return js as unknown as Native
  }
  try {
    return loadNative()
  } catch (e) {
    if (wanted === 'native') throw e
    debug('backend js: %s', e instanceof Error ? e.message.split('\n')[0] : String(e))
    return js as unknown as Native
  }
}
