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
  /** In a batch: the entry that failed. */
  entry?: string
  /** For cachelink's own codes (ERR_CACHELINK_*, ABORT_ERR): why. */
  detail?: string
}

type PathArg = string | Buffer

/** src, dest, method, fallback, onLinkLimit, maxLinks (0: none), ifExists */
type NativeLinkArgs = [PathArg, PathArg, string, boolean, string, number, string]

export interface NativeStats {
  files: number
  dirs: number
  cloned: number
  hardlinked: number
  copied: number
  symlinked: number
  resets: number
  fallbacks: number
  bytesCopied: number
  elapsedMs: number
  method: 'clone' | 'hardlink' | 'copy' | 'symlink' | null
}

/** ...link options, atomic, threads (0: cores), control (ArrayBuffer: Int32 done, total, abort) */
type NativeImportTail = [string, boolean, string, number, string, boolean, number, ArrayBuffer]

export interface Native {
  /** entries: UTF-8 `path\0src\0x\0size\0...`: x '1', '0' or '', size decimal or '' */
  importFiles(entries: Buffer, into: PathArg, ...rest: NativeImportTail): Promise<NativeStats>
  importFilesSync(entries: Buffer, into: PathArg, ...rest: NativeImportTail): NativeStats
  importTree(src: PathArg, into: PathArg, ...rest: NativeImportTail): Promise<NativeStats>
  importTreeSync(src: PathArg, into: PathArg, ...rest: NativeImportTail): NativeStats
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
