/**
 * cachelink: materialize files from a content-addressed cache by clone, hard link or copy,
 * and never fail on the hard link limit.
 * @module
 */
import { debuglog } from 'node:util'
import { invalidArgType, rethrow } from './errors.js'
import { addon } from './addon.js'
import { LINK_OPTIONS, type LinkMethod, type LinkOptions, type PathLike, normalize, packFlags, resolvePath, toPath } from './options.js'
import { checkOptions, type Known } from './suggest.js'

export type { CachelinkError } from './errors.js'
/**
 * Which engine runs this process's calls, chosen once when cachelink is first imported:
 * `'native'` (the Rust addon) or `'js'` (the TypeScript engine over Node's fs, used with
 * `CACHELINK_BACKEND=js` or when no native binary loads). See the README's "The JS backend".
 */
export { backend } from './addon.js'
export type { Backend } from './addon.js'
export {
  cleanTemp,
  cleanTempSync,
  fsInfo,
  fsInfoSync,
  scanCache,
  scanCacheSync,
} from './cache.js'
export type {
  CleanResult,
  CleanTempOptions,
  FoundPath,
  FsInfo,
  Leftover,
  LinkedFile,
  ScanOptions,
  ScanResult,
  Unrecognized,
  UnreadableDir,
} from './cache.js'
export type { Progress } from './control.js'
export { probe, probeSync } from './probe.js'
export type { MethodProbe, ProbeOptions, ProbeResult } from './probe.js'
export {
  importFiles,
  importFilesSync,
  importTree,
  importTreeSync,
} from './import.js'
export type {
  ImportDirEntry,
  ImportEntries,
  ImportEntry,
  ImportFallback,
  ImportFileEntry,
  ImportSymlinkEntry,
  ImportFilesOptions,
  ImportOptions,
  ImportProgress,
  ImportStats,
} from './import.js'
export { importPackages, importPackagesSync } from './packages.js'
export type { ImportPackagesOptions, ImportPackagesStats, PackageImport, PnpmFileInfo, PnpmFilesIndex } from './packages.js'
export type { LinkMethod, LinkOptions, MethodName, PathLike } from './options.js'
export { verifyEntries, verifyEntriesSync } from './verify.js'
export { pnpmStoreEntries } from './pnpm-store.js'
export type { PnpmStore, PnpmStoreEntry, PnpmStoreOptions } from './pnpm-store.js'
export type { VerifyEntry, VerifyMismatch, VerifyOptions, VerifyRepair, VerifyResult, VerifyUnreadable } from './verify.js'

/** What `linkFile` did. */
export interface LinkResult {
  /** The method actually used; `'none'` when the destination was left as it was. */
  method: LinkMethod | 'none'
  /** `true` when the cache entry had hit the link limit (or `maxLinks`) and was reset. */
  reset: boolean
  /**
   * What happened at the link limit, or `null` when it was not met:
   * `'reset'` (entry reset, destination linked to the fresh inode), `'copy'` (destination got
   * its own copy: `onLinkLimit: 'copy'`), `'copy-readonly-cache'` (the entry could not be reset
   * because its directory is not writable or the entry cannot be replaced, see `resetError`;
   * destination got a copy of its own, and the entry is unchanged).
   */
  linkLimit: 'reset' | 'copy' | 'copy-readonly-cache' | null
  /**
   * With `'copy-readonly-cache'`: the code that made the reset impossible (EACCES, EPERM, EROFS;
   * EBUSY when the final rename over the entry was refused, e.g. the entry is a mount point).
   */
  resetError: string | null
  /**
   * Methods tried first that do not work between these two places, with the code that said
   * so (EXDEV, ENOTSUP, ...), also those `auto` skipped because the process already knew (with
   * the code they failed with before).
   */
  fallbacks: Array<{ method: LinkMethod; code: string }>
  /**
   * The code that refused this file's hard link, when the file was then placed by the next
   * method (`method` says which); `null` otherwise. `'EPERM'`: Linux's `fs.protected_hardlinks`
   * (the default on most distributions) refused a link to a file of another user that the
   * process cannot write, e.g. a root-owned store used by an unprivileged user. On Windows
   * `'ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS'` (error 396: a OneDrive folder). This file only:
   * unlike `fallbacks`, nothing is remembered, and the next file is linked if it can be.
   * `'EACCES'`: a filesystem that refuses links so (FUSE: Android's shared storage, Termux)
   * after hard links have worked between the same two mounts; where they never have, the
   * EACCES is a `fallbacks` entry instead, remembered for the pair of mounts.
   */
  linkRefused: string | null
  /**
   * `'hidden'` when `maxLinks` was given and the file was hard-linked, but the cache entry
   * still reads one link after it: this filesystem hides link counts (SFTP through sshfs), so
   * `maxLinks` could not be applied (the server's own limit still resets the entry: see
   * `onLinkLimit`). `null` otherwise; without `maxLinks` nothing is looked at after a link.
   */
  linkCounts: 'hidden' | null
  /**
   * Transient failures waited out and tried again (README, "Fallback"): a rename refused for a
   * moment (on Windows a scanner holding the file: EBUSY, EPERM), a clone or copy that said
   * EAGAIN. 0 almost always.
   */
  retries: number
}

const debug = debuglog('cachelink')

const METHODS = ['none', 'clone', 'hardlink', 'copy', 'symlink'] as const
const LIMITS = [null, 'reset', 'copy'] as const

/** The outcome as `packed_outcome` (crate/src/binding/link.rs) packs the common case. */
function unpack(code: number): LinkResult {
  const linkLimit = LIMITS[code >> 3]
  return {
    method: METHODS[code & 7],
    reset: linkLimit === 'reset',
    linkLimit,
    resetError: null,
    fallbacks: [],
    linkRefused: null,
    linkCounts: null,
    retries: 0,
  }
}

function report(src: unknown, dest: unknown, outcome: number | LinkResult): LinkResult {
  const r = typeof outcome === 'number' ? unpack(outcome) : outcome
  if (debug.enabled) {
    for (const f of r.fallbacks) debug('fallback from %s (%s): %s -> %s', f.method, f.code, src, dest)
    if (r.linkRefused) debug('link refused (%s), %s instead: %s -> %s', r.linkRefused, r.method, src, dest)
    if (r.linkCounts) debug('link counts %s, maxLinks not applied: %s -> %s', r.linkCounts, src, dest)
    if (r.retries) debug('%d retries after transient failures: %s -> %s', r.retries, src, dest)
    if (r.linkLimit) {
      debug('link limit: %s%s: %s -> %s', r.linkLimit, r.resetError ? ` (${r.resetError})` : '', src, dest)
    }
  }
  return r
}

/**
 * Materializes the cache file `src` at `dest` by the fastest method that works, resetting the
 * cache entry when it has hit the hard link limit. Rejects with Node's fs error shape
 * (`code`, `errno`, `syscall`, `path`, `dest`).
 *
 * @example
 * ```ts
 * const r = await linkFile('/store/ab/cdef', 'node_modules/foo/index.js', { maxLinks: 177 })
 * r.method // 'hardlink' | 'clone' | 'copy' | 'symlink'
 * r.reset  // true when the cache entry was at the limit and was reset
 * ```
 */
export async function linkFile(src: PathLike, dest: PathLike, options?: LinkOptions): Promise<LinkResult> {
  const s = toPath(src, 'src', linkFile)
  const d = toPath(dest, 'dest', linkFile)
  const o = normalize(options, linkFile)
  checkOptions(options, LINK_OPTIONS, 'linkFile', linkFile)
  try {
    const r = await addon().linkFile(s, d, packFlags(o), o.maxLinks)
    return report(s, d, r)
  } catch (e) {
    rethrow(e, linkFile)
  }
}

/** The synchronous twin of {@link linkFile}: the same Rust code, on the calling thread. */
export function linkFileSync(src: PathLike, dest: PathLike, options?: LinkOptions): LinkResult {
  const s = toPath(src, 'src', linkFileSync)
  const d = toPath(dest, 'dest', linkFileSync)
  const o = normalize(options, linkFileSync)
  checkOptions(options, LINK_OPTIONS, 'linkFile', linkFileSync)
  try {
    const r = addon().linkFileSync(s, d, packFlags(o), o.maxLinks)
    return report(s, d, r)
  } catch (e) {
    rethrow(e, linkFileSync)
  }
}

/** Options of {@link resetEntry}. */
export interface ResetOptions {
  /**
   * Keep the entry looking in use until a project links it: the fresh inode gets a second link
   * beside the entry, `.<name>.cachelink-held-<host>-<pid>-<random>` (a hold), made before the
   * rename, so the entry never shows one link. pnpm's `store prune` deletes every store file
   * with one link, and the projects that use the entry keep the old inode: without the hold, a
   * prune before the next install deletes a file they all use. `cleanTemp` drops a hold once the
   * entry has a link besides it, or when nothing linked or unlinked the inode for 30 days.
   * Walks (`importTree`, `scanCache`, `probe`) never take a hold as an entry. Not made for a
   * name over 160 bytes, or where the filesystem refuses the link.
   * @default true for a file of a pnpm store (`…/files/<2 hex>/<name>`), false elsewhere (a
   * cache of package directories, as uv's, must not get extra names in them)
   */
  hold?: boolean
}

export const RESET_OPTIONS = { hold: true } as const satisfies Known<keyof ResetOptions>

/** A file of a pnpm store: `…/files/<2 lowercase hex>/<name>` (pnpm 10's `v10` and older). */
function inPnpmStore(path: string | Buffer): boolean {
  const full = resolvePath(path)
  const text = typeof full === 'string' ? full : full.toString('latin1')
  const parts = text.split(process.platform === 'win32' ? /[\\/]/ : '/')
  const n = parts.length
  return n >= 3 && parts[n - 3] === 'files' && /^[0-9a-f]{2}$/.test(parts[n - 2]) && parts[n - 1] !== ''
}

function holdOf(p: string | Buffer, options: unknown, caller: Function): boolean {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') throw invalidArgType('options', 'of type object', options, caller)
  checkOptions(options, RESET_OPTIONS, 'resetEntry', caller)
  const hold = (options as ResetOptions).hold
  if (hold === undefined) return inPnpmStore(p)
  if (typeof hold !== 'boolean') throw invalidArgType('options.hold', 'of type boolean', hold, caller)
  return hold
}

/**
 * Resets a cache entry on its own: replaces it with a fresh inode holding the same bytes,
 * mode, mtime (and owner, as root), by a temp file beside it renamed over it. Existing hard
 * links keep the old inode. For tools that maintain a cache. In a pnpm store the fresh inode is
 * held (`options.hold`) until a project links it.
 *
 * @example
 * ```ts
 * await resetEntry('/cache/pkg/lib.py') // its link count is 1 again
 * await resetEntry('/store/v10/files/ab/cdef') // 2: the entry, and its hold
 * ```
 */
export async function resetEntry(path: PathLike, options?: ResetOptions): Promise<void> {
  const p = toPath(path, 'path', resetEntry)
  const hold = holdOf(p, options, resetEntry)
  try {
    await addon().resetEntry(p, hold)
    debug('reset %s%s', p, hold ? ' (held)' : '')
  } catch (e) {
    rethrow(e, resetEntry)
  }
}

/** The synchronous twin of {@link resetEntry}. */
export function resetEntrySync(path: PathLike, options?: ResetOptions): void {
  const p = toPath(path, 'path', resetEntrySync)
  const hold = holdOf(p, options, resetEntrySync)
  try {
    addon().resetEntrySync(p, hold)
    debug('reset %s%s', p, hold ? ' (held)' : '')
  } catch (e) {
    rethrow(e, resetEntrySync)
  }
}

/**
 * Forgets which methods were found not to work between which devices (remembered for the life
 * of the process). For long-running processes whose mounts change.
 */
export function clearFallbackMemo(): void {
  addon().clearFallbackMemo()
}
