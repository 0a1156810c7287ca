/**
 * The interface of the native addon (`crate/src/binding.rs`), as the facade calls it.
 * Arguments arrive validated and normalized; `maxLinks` 0 means none.
 */
export interface NativeOutcome {
  method: 'clone' | 'hardlink' | 'copy' | 'symlink' | 'none'
  reset: boolean
  linkLimit: 'reset' | 'copy' | 'copy-readonly-cache' | null
  resetError: string | null
  fallbacks: Array<{ method: 'clone' | 'hardlink' | 'copy' | 'symlink'; code: string }>
}

/** What the addon throws or rejects with: the raw OS error, libuv's name for it, and where. */
export interface NativeError extends Error {
  cachelink: true
  code: string
  raw: number
  syscall: string
  path: string
  dest?: string
}

type PathArg = string | Buffer

/** src, dest, method, fallback, onLinkLimit, maxLinks (0: none), ifExists */
type NativeLinkArgs = [PathArg, PathArg, string, boolean, string, number, string]

export interface Native {
  abi: number
  linkFile(...args: NativeLinkArgs): Promise<NativeOutcome>
  linkFileSync(...args: NativeLinkArgs): NativeOutcome
  resetEntry(path: PathArg): Promise<void>
  resetEntrySync(path: PathArg): void
  errnoTable(): Array<[number, string]>
  clearFallbackMemo(): void
}

/** The `abi` this facade speaks; a binary reporting another one is stale. */
export const ABI = 1
