import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { debuglog } from 'node:util'
import { js } from './js/index.js'
import { loadNative } from './loader.js'
import type { Native } from './native.js'

const debug = debuglog('cachelink')

/** Which engine runs the calls: the Rust addon, or the TypeScript one over Node's fs. */
export type Backend = 'native' | 'js'

interface Choice {
  backend: Backend
  /** Why, in a few words (the CLI's `probe` shows it). */
  why: string
  engine?: Native
  /** Why the native addon did not load, when `CACHELINK_BACKEND=native` asked for it. */
  failure?: Error
}

/**
 * Chooses the backend once per process, when cachelink is first imported:
 * - `CACHELINK_BACKEND=js`: the JS backend, the addon is not loaded;
 * - `CACHELINK_BACKEND=native`: the addon, and when it does not load every call fails with
 *   `ERR_CACHELINK_NO_BINARY` (the loader's full text), without trying again;
 * - unset: the addon when it loads, else the JS backend.
 * Importing never throws.
 */
function choose(): Choice {
  let wanted = process.env.CACHELINK_BACKEND
  if (wanted !== undefined && wanted !== '' && wanted !== 'js' && wanted !== 'native') {
    process.emitWarning(`CACHELINK_BACKEND=${wanted} is neither 'native' nor 'js': ignored`, {
      code: 'CACHELINK_BACKEND',
    })
    wanted = undefined
  }
  if (wanted === 'js') {
    debug('backend js (CACHELINK_BACKEND=js)')
    return { backend: 'js', why: 'CACHELINK_BACKEND=js', engine: js as unknown as Native }
  }
  try {
    const engine = loadNative()
    debug('backend native')
    return { backend: 'native', why: 'the Rust addon', engine }
  } catch (e) {
    const failure = e instanceof Error ? e : new Error(String(e))
    const why = failure.message.split('\n')[0]
    if (wanted === 'native') {
      debug('no native binary (CACHELINK_BACKEND=native, every call fails): %s', why)
      return { backend: 'native', why: 'CACHELINK_BACKEND=native, but no binary loads', failure }
    }
    debug('backend js, no native binary: %s', why)
    return { backend: 'js', why: 'no native binary loads (NODE_DEBUG=cachelink says why)', engine: js as unknown as Native }
  }
}

/**
 * The choice is kept on `globalThis` under a key naming this copy's folder, so the ESM and the
 * CommonJS builds of one installed copy (dist/index.js and dist/index.cjs, which a process may
 * both load) make it once and share the engine; another installed copy makes its own.
 */
const key = Symbol.for(`cachelink.backend ${dirname(fileURLToPath(import.meta.url))}`)
const shared = globalThis as { [key]?: Choice }
const choice: Choice = (shared[key] ??= choose())

/** The backend this process uses: `'native'` (the Rust addon) or `'js'` (see the README). */
export const backend: Backend = choice.backend
/** Why this backend, in a few words. */
export const backendWhy: string = choice.why

/**
 * The chosen engine. When `CACHELINK_BACKEND=native` and the addon did not load, this call and
 * every later one throw `ERR_CACHELINK_NO_BINARY` with the loader's full text (every place
 * tried, and the fixes): a missing binary stays missing for the life of the process.
 */
export function addon(): Native {
  if (choice.engine) return choice.engine
  const failure = choice.failure as Error
  const err = new Error(failure.message, { cause: failure.cause }) as Error & { code: string }
  err.code = 'ERR_CACHELINK_NO_BINARY'
  Error.captureStackTrace(err, addon)
  throw err
}
