import { loadNative } from './loader.js'
import type { Native } from './native.js'

let native: Native | undefined

/** The native addon, loaded on first use. */
export function addon(): Native {
  native ??= loadNative()
  return native
}
