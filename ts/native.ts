import type * as Binding from './binding.js'

/**
 * The native addon as the facade calls it: the types `napi build` generates from the Rust
 * exports (`ts/binding.d.ts`, checked in CI to be up to date). `ts/binding-types.ts` checks that
 * the results it declares are exactly the public types.
 */
export type Native = typeof Binding

export type { Control, NativeLinkOptions, NativeImportOptions, PackageInstall } from './binding.js'

/** What the addon throws or rejects with: the raw OS error, libuv's name for it, and where. */
export interface NativeError extends Error {
  cachelink: true
  code: string
  raw: number
  syscall: string
  path: string
  dest?: string
  /** In a batch: the entry that failed. */
  entry?: string
  /** For cachelink's own codes (ERR_CACHELINK_*, ABORT_ERR): why. */
  detail?: string
}

/** The `ABI` this facade speaks; a binary reporting another one is stale. */
export const ABI = 5
