import type { ImportStats } from './import.js'

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

/**
 * The common outcome as one number (see `outcome_code` in binding.rs): method + 8 * linkLimit,
 * method 0 none, 1 clone, 2 hardlink, 3 copy, 4 symlink; linkLimit 0 none, 1 reset, 2 copy.
 */
export type NativeOutcomeCode = number

type PathArg = string | Buffer

/** src, dest, flags (the packed options: see `link_options` in binding.rs), maxLinks (0: none) */
type NativeLinkArgs = [PathArg, PathArg, number, number]

/** What an import did: exactly the public `ImportStats`. */
export type NativeStats = ImportStats

/** flags, maxLinks, atomic, threads (0: cores), control (ArrayBuffer: Int32 done, total, abort) */
type NativeImportTail = [number, number, boolean, number, ArrayBuffer]

export interface NativeFsInfo {
  fsType: string | null
  source: string | null
  device: number
  linkMax: number | null
  linkMaxFrom: 'pathconf' | 'fstype' | 'unknown'
}

/** A path as raw bytes, as shown (`\xNN` for bytes that are not UTF-8), and whether the two agree. */
type NativePath = [raw: Buffer, shown: string, exact: boolean]
export type NativeLeftover = [...NativePath, stage: boolean, pid: number, ageMs: number]

export interface NativeScan {
  files: number
  bytes: number
  dirs: number
  others: number
  mostLinks: number
  elapsedMs: number
  histogram: Array<[from: number, files: number]>
  near: Array<[...NativePath, links: number, size: number]>
  leftovers: NativeLeftover[]
  unreadable: Array<[...NativePath, code: string]>
}

export interface Native {
  /** entries: UTF-8 `path\0src\0x\0size\0...`: x '1', '0' or '', size decimal or '' */
  importFiles(entries: Buffer, into: PathArg, ...rest: NativeImportTail): Promise<NativeStats>
  importFilesSync(entries: Buffer, into: PathArg, ...rest: NativeImportTail): NativeStats
  importTree(src: PathArg, into: PathArg, ...rest: NativeImportTail): Promise<NativeStats>
  importTreeSync(src: PathArg, into: PathArg, ...rest: NativeImportTail): NativeStats
  abi: number
  linkFile(...args: NativeLinkArgs): Promise<NativeOutcome | NativeOutcomeCode>
  linkFileSync(...args: NativeLinkArgs): NativeOutcome | NativeOutcomeCode
  resetEntry(path: PathArg): Promise<void>
  resetEntrySync(path: PathArg): void
  fsInfo(path: PathArg): NativeFsInfo
  /** root, nearAt (0: list none), control */
  scan(root: PathArg, nearAt: number, control: ArrayBuffer): Promise<NativeScan>
  scanSync(root: PathArg, nearAt: number, control: ArrayBuffer): NativeScan
  /** root, olderThanMs, dryRun, control */
  clean(root: PathArg, olderThanMs: number, dryRun: boolean, control: ArrayBuffer): Promise<NativeLeftover[]>
  cleanSync(root: PathArg, olderThanMs: number, dryRun: boolean, control: ArrayBuffer): NativeLeftover[]
  errnoTable(): Array<[number, string]>
  clearFallbackMemo(): void
}

/** The `abi` this facade speaks; a binary reporting another one is stale. */
export const ABI = 2
