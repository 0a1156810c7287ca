import { addon } from './addon.js'
import { CONTROLLED, type Controlled, controlled, controlledSync } from './control.js'
import { invalidArgType, outOfRange, rethrow } from './errors.js'
import { type PathLike, toPath } from './options.js'
import { checkOptions, type Known } from './suggest.js'

/** The filesystem a path is on. */
export interface FsInfo {
  /** As the OS names it: `'ext4'`, `'btrfs'`, `'tmpfs'`, `'nfs4'`, `'apfs'`, `'NTFS'`; null if unknown. */
  fsType: string | null
  /** What it is mounted from (`'/dev/loop3'`, `'fs-1.efs.us-east-1.amazonaws.com:/'`), where known. */
  source: string | null
  /** The device number, as `fs.stat` reports it. */
  device: number
  /** The most hard links a file there may have; null when unknown. */
  linkMax: number | null
  /**
   * Where `linkMax` comes from: `'pathconf'` (the OS asked the volume: macOS), `'fstype'` (the
   * filesystem type's fixed limit: ext4 65000, btrfs 65535, NTFS 1024, AWS EFS 177, ...; Linux
   * and Windows) or `'unknown'` (overlay, FUSE, NFS other than EFS, ...).
   */
  linkMaxFrom: 'pathconf' | 'fstype' | 'unknown'
}

/**
 * The filesystem of `path` (which must exist). A few system calls (`stat`, a read of
 * `/proc/self/mountinfo` on Linux), made on libuv's pool as `fs` calls are, so a slow or hung
 * mount does not hold the event loop.
 */
export async function fsInfo(path: PathLike): Promise<FsInfo> {
  const p = toPath(path, 'path', fsInfo)
  try {
    return await addon().fsInfo(p)
  } catch (e) {
    rethrow(e, fsInfo)
  }
}

/** The synchronous twin of {@link fsInfo}. */
export function fsInfoSync(path: PathLike): FsInfo {
  const p = toPath(path, 'path', fsInfoSync)
  try {
    return addon().fsInfoSync(p)
  } catch (e) {
    rethrow(e, fsInfoSync)
  }
}

/**
 * A path found under a cache. Names that are not valid UTF-8 (Linux allows any bytes) are
 * shown with `\xNN` escapes in `path`; `raw` always holds the exact bytes, which every fs and
 * cachelink call accepts as a path.
 */
export interface FoundPath {
  /** The path, exact when `exact` is true, else with `\xNN` for each byte that is not UTF-8. */
  path: string
  raw: Buffer
  /** `path` is exactly the name on disk. */
  exact: boolean
}

/** A cache file with many links. */
export interface LinkedFile extends FoundPath {
  links: number
  size: number
}

/**
 * What interrupted work left: a reset's temp file (`.<name>.cachelink-<host>-<pid>-<random>`, a
 * regular file or a symlink) or an import's stage directory
 * (`.<name>.cachelink-stage-<host>-<pid>-<random>`); or a reset's hold
 * (`.<name>.cachelink-held-<host>-<pid>-<random>`, a regular file: a second link to a reset
 * entry's fresh inode, see `resetEntry`'s `hold`). Names of versions before host ids
 * (`.<name>.cachelink-<pid>-<random>`) are recognized too.
 */
export interface Leftover extends FoundPath {
  kind: 'temp' | 'stage' | 'held'
  /** The process that made it (from its name), on the host that made it. */
  pid: number
  /**
   * The id of the host that made it (from its name: 12 hex digits, a hash of the machine's
   * host name, machine id, boot id and pid namespace); null in an older version's name.
   */
  host: string | null
  /** `host` is this machine's; null when the name has no host (its pid is looked up here). */
  thisHost: boolean | null
  /**
   * Since its last status change (ctime; on Windows, since it was created): unlike the mtime,
   * which a reset sets to its entry's, nobody can set it back.
   */
  ageMs: number
}

/**
 * A name in the format of a leftover that is not one, so cachelink leaves it alone:
 * `'no-leading-dot'` (`notes.cachelink-1-0123456789abcdef`), a temp's name on a `'directory'`
 * or on a FIFO, socket or device (`'not-a-regular-file'`), a stage's name on a file
 * (`'not-a-directory'`).
 */
export interface Unrecognized extends FoundPath {
  reason: 'no-leading-dot' | 'directory' | 'not-a-regular-file' | 'not-a-directory'
}

/** What {@link cleanTemp} removed (or, with `dryRun`, would remove), and what it left alone. */
export interface CleanResult {
  removed: Leftover[]
  /** Names like a leftover's that are not one: never removed. */
  unrecognized: Unrecognized[]
}

/** A directory that could not be read, with the code saying why. */
export interface UnreadableDir extends FoundPath {
  code: string
}

export interface ScanOptions extends Controlled {
  /**
   * List the files with at least this many links in `near`.
   * @default none listed
   */
  nearAt?: number
}

/** `scanCache`'s options, one line each (see `LINK_OPTIONS` in options.ts). */
export const SCAN_OPTIONS = { ...CONTROLLED, nearAt: true } as const satisfies Known<keyof ScanOptions>

export interface ScanResult {
  /** Regular files (symlinks not followed) and their bytes. */
  files: number
  bytes: number
  dirs: number
  /** Symlinks, sockets, ... */
  others: number
  /** The highest link count seen. */
  mostLinks: number
  /** Files by link count: `from` to `to` links (`to` null: and more). */
  histogram: Array<{ from: number; to: number | null; files: number }>
  /** Files with at least `nearAt` links, most first. */
  near: LinkedFile[]
  leftovers: Leftover[]
  /** Names like a leftover's that are not one (walked like any other entry). */
  unrecognized: Unrecognized[]
  /** Directories that could not be read, with the code saying why. */
  unreadable: UnreadableDir[]
  elapsedMs: number
}

function nearAt(options: ScanOptions, caller: Function): number {
  checkOptions(options, SCAN_OPTIONS, 'scanCache', caller)
  const n = options.nearAt ?? 0
  if (typeof n !== 'number') throw invalidArgType('options.nearAt', 'of type number', n, caller)
  if (!Number.isSafeInteger(n) || n < 0) throw outOfRange('options.nearAt', 'an integer >= 0', n, caller)
  return n
}

/**
 * Walks the cache at `dir` natively (symlinks are not followed): files, bytes, a histogram of
 * link counts, the files with at least `nearAt` links, and leftovers of interrupted work.
 * `onProgress` gets the entries visited (`total` stays 0: a walk does not know it ahead).
 *
 * @example
 * ```ts
 * const { near } = await scanCache('/store', { nearAt: 0.9 * 65000 })
 * for (const f of near) await resetEntry(f.raw)
 * ```
 */
export async function scanCache(dir: PathLike, options: ScanOptions = {}): Promise<ScanResult> {
  const root = toPath(dir, 'dir', scanCache)
  const at = nearAt(options, scanCache)
  return controlled(options, scanCache, (control) => addon().scan(root, at, control))
}

/** The synchronous twin of {@link scanCache}. */
export function scanCacheSync(dir: PathLike, options: ScanOptions = {}): ScanResult {
  const root = toPath(dir, 'dir', scanCacheSync)
  const at = nearAt(options, scanCacheSync)
  return controlledSync(options, scanCacheSync, (control) => addon().scanSync(root, at, control))
}

export interface CleanTempOptions extends Controlled {
  /**
   * Only remove temp files and stages at least this old: since their last status change
   * (ctime), which a running reset keeps fresh; on Windows, since they were created.
   * @default 60000
   */
  olderThanMs?: number
  /**
   * Report what would be removed, remove nothing.
   * @default false
   */
  dryRun?: boolean
}

/** `cleanTemp`'s options, one line each. */
export const CLEAN_TEMP_OPTIONS = { ...CONTROLLED, olderThanMs: true, dryRun: true } as const satisfies Known<keyof CleanTempOptions>

function cleanArgs(options: CleanTempOptions, caller: Function): [number, boolean] {
  checkOptions(options, CLEAN_TEMP_OPTIONS, 'cleanTemp', caller)
  const older = options.olderThanMs ?? 60_000
  if (typeof older !== 'number') throw invalidArgType('options.olderThanMs', 'of type number', older, caller)
  // The addon takes whole milliseconds up to 2 ** 53 - 1 (285,000 years): more is not a time.
  if (!(older >= 0 && older <= Number.MAX_SAFE_INTEGER)) {
    throw outOfRange('options.olderThanMs', `>= 0 and <= ${Number.MAX_SAFE_INTEGER}`, older, caller)
  }
  const dryRun = options.dryRun ?? false
  if (typeof dryRun !== 'boolean') throw invalidArgType('options.dryRun', 'of type boolean', dryRun, caller)
  return [Math.floor(older), dryRun]
}

/**
 * Removes what interrupted work left under `dir` (walked natively): reset temp files
 * (`.<name>.cachelink-<host>-<pid>-<random>`) and import stages
 * (`.<name>.cachelink-stage-<host>-<pid>-<random>`) at least `olderThanMs` old whose process
 * is gone; and the holds of `resetEntry` (`.<name>.cachelink-held-…`) that have done their work:
 * the entry has a link besides the hold (a project linked it), or the entry names another inode
 * or nothing and the hold is `olderThanMs` old, or nothing linked or unlinked the inode for 30
 * days. Whether the process runs is asked only for leftovers of this host (and for older
 * versions' names, which have no host); another host's go by age alone. Only exact names on the
 * right kind of file (a temp: regular file or symlink; a stage: directory) are removed; look-alikes
 * are left and listed in `unrecognized`. On a cache shared between machines, pick an
 * `olderThanMs` longer than any import.
 */
export async function cleanTemp(dir: PathLike, options: CleanTempOptions = {}): Promise<CleanResult> {
  const root = toPath(dir, 'dir', cleanTemp)
  const [older, dryRun] = cleanArgs(options, cleanTemp)
  return controlled(options, cleanTemp, (control) => addon().clean(root, older, dryRun, control))
}

/** The synchronous twin of {@link cleanTemp}. */
export function cleanTempSync(dir: PathLike, options: CleanTempOptions = {}): CleanResult {
  const root = toPath(dir, 'dir', cleanTempSync)
  const [older, dryRun] = cleanArgs(options, cleanTempSync)
  return controlledSync(options, cleanTempSync, (control) => addon().cleanSync(root, older, dryRun, control))
}
