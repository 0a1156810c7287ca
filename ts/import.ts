import { addon } from './addon.js'
import { CONTROLLED, type Controlled, controlled, controlledSync, type Progress } from './control.js'
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js'
import type { NativeImportOptions } from './native.js'
import { LINK_OPTIONS, type LinkMethod, type LinkOptions, normalize, type PathLike, toPath } from './options.js'
import { checkOptions, type Known, unknownKey } from './suggest.js'

/**
 * One entry of a batch: a file from the cache (`src`), a symlink (`symlink`) or an empty
 * directory (`dir: true`), at `path` under `into`.
 */
export type ImportEntry = ImportFileEntry | ImportSymlinkEntry | ImportDirEntry

interface EntryPath {
  /**
   * Relative to `into`, `/`-separated; a Buffer for names that are not UTF-8 (Linux, macOS).
   * `./` and repeated slashes are normalized away. Refused (`ERR_CACHELINK_UNSAFE_PATH`):
   * absolute paths, `..`, NUL, and on Windows only a backslash, a drive, `:`, `<>"|?*`, a
   * trailing dot or space and device names (`nul.txt`).
   */
  path: string | Buffer
}

/** A file from the cache. */
export interface ImportFileEntry extends EntryPath {
  /** The cache file. */
  src: string | Buffer
  /**
   * The exec bit for copies and clones (a hard link shares the cache entry's mode).
   * @default the cache entry's mode
   */
  executable?: boolean
  /**
   * The file's size in bytes, when your index knows it (pnpm's and uv's do). It lets a hard
   * link skip the `stat` of the cache file: the import then makes exactly the `link` calls a
   * plain loop would. It must be right: a wrong size for an empty file would link it instead of
   * creating it.
   * @default looked up with a `stat`
   */
  size?: number
  /**
   * The file will be written after the import (uv's `RECORD`, a file a postinstall edits): it
   * gets a clone or a copy of its own, never a hard link or a symlink to the cache.
   * @default false
   */
  mutable?: boolean
}

/** A symbolic link to `symlink` (as given: relative to the link's directory, or absolute). */
export interface ImportSymlinkEntry extends EntryPath {
  symlink: string | Buffer
}

/** A directory, made even when no file is placed in it. */
export interface ImportDirEntry extends EntryPath {
  dir: true
}

/** The fields of each kind of entry, one line each: any other field is refused (see `LINK_OPTIONS`). */
export const FILE_ENTRY = { path: true, src: true, executable: true, size: true, mutable: true } as const satisfies Known<
  keyof ImportFileEntry
>
export const SYMLINK_ENTRY = { path: true, symlink: true } as const satisfies Known<keyof ImportSymlinkEntry>
export const DIR_ENTRY = { path: true, dir: true } as const satisfies Known<keyof ImportDirEntry>

/**
 * The entries: an Array of {@link ImportEntry}, a Map of path to cache file, or a plain object
 * of path to cache file (pnpm's `filesMap` as it is).
 */
export type ImportEntries = ImportEntry[] | Map<string, string> | Record<string, string>

/** Files placed so far, of `total`. */
export type ImportProgress = Progress

export interface ImportOptions extends LinkOptions, Controlled {
  /**
   * When the destination directory already exists (a re-install):
   * - `'merge'`: files are placed into it one by one, each under `ifExists` (so with the default
   *   `ifExists: 'error'`, the first file that is already there fails with EEXIST); files it
   *   has that the entries do not name stay.
   * - `'replace'`: the import is staged beside it, complete, and then the two trade places in
   *   one step (Linux `renameat2(RENAME_EXCHANGE)`, macOS `renamex_np(RENAME_SWAP)`): a reader
   *   sees the old tree or the new one, never a mix. Where the OS cannot (Windows, some
   *   network and FUSE filesystems) the old one is renamed aside and the new one renamed in,
   *   so for that moment the destination is missing. On overlayfs a lower layer's directory
   *   (EXDEV) has its names moved aside one by one, then the new tree is renamed over the
   *   emptied destination (readers may see it part-moved). The old tree is then removed; the
   *   paths in `keep` are carried over first. If anything fails, the old tree stays whole.
   * - `'skip-if-linked'`: when the destination and every folder the entries need is a
   *   directory (not a symlink), every entry is already there (the cache file's own inode, or
   *   a file of its own with the same bytes and mode; symlinks and directories as described)
   *   and nothing else is (but the paths in `keep`), nothing is written and `stats.kept` counts
   *   the files; otherwise as `'replace'`.
   * - `'error'`: EEXIST (`mkdir`), nothing written.
   * @default 'merge'
   */
  onExisting?: 'merge' | 'replace' | 'skip-if-linked' | 'error'
  /**
   * With `onExisting: 'replace'` (or `'skip-if-linked'` when it replaces): paths under the old
   * destination moved into the new one before the swap, such as `['node_modules']` (pnpm's
   * `keepModulesDir`). When the new tree has a directory there too, it gets the names it lacks.
   * Never reached through a symlink: a kept path below a symlink of the old destination is
   * refused before anything is written (`ERR_CACHELINK_UNSAFE_PATH`, `entry` the kept path,
   * `path` the symlink); below a symlink or file of the new tree it stays with the old tree. A
   * kept path that is a symlink is carried over as the symlink.
   * @default []
   */
  keep?: string[]
  /**
   * When two entries name the same file with different sources: the same path twice (after
   * `./` and `//` are normalized), or, on a destination that does not tell case apart (APFS,
   * NTFS, exFAT; found out once per import and only when such a pair exists), paths that
   * differ only in case. `'error'` fails before anything is written
   * (`ERR_CACHELINK_ENTRY_CONFLICT`, naming the later entry); `'first'` / `'last'` keep one
   * and count the other in `stats.conflicts`. Exact duplicates (same path, same source) are
   * dropped silently. A file whose path another entry needs as a directory is always an error.
   * @default 'error'
   */
  onConflict?: 'error' | 'first' | 'last'

  /**
   * Stage the import in a temp sibling of the destination (`.<name>.cachelink-stage-<pid>-<random>`)
   * and rename it into place when complete, so the destination is absent or complete, never
   * partial (after a failure, an abort or a killed process). Applies when the destination does not
   * exist yet; into an existing directory, files are placed one by one under `ifExists`.
   * @default true
   */
  atomic?: boolean
  /**
   * Worker threads. cachelink runs the batch on its own threads, not one libuv job per file.
   * @default the number of cores
   */
  threads?: number
  /** Stops the workers between files; the promise rejects with an `AbortError`. */
  signal?: AbortSignal
  /**
   * Called on the JS thread about every 50 ms while files are placed, and once at the end,
   * before the import is put in place: a throw aborts the import (a staged one is removed) and
   * the call rejects with what was thrown.
   */
  onProgress?: (progress: ImportProgress) => void
}

export interface ImportFilesOptions extends ImportOptions {
  /** The destination directory. */
  into: PathLike
  /**
   * Accepted as `importPackages` accepts it; changes nothing here:
   * sources named by path are `lstat`ed anyway (README, "The store's trust model").
   * @default false
   */
  trustStore?: boolean
}

/** `importTree`'s options, one line each (see `LINK_OPTIONS`). */
export const IMPORT_OPTIONS = {
  ...LINK_OPTIONS,
  ...CONTROLLED,
  onExisting: true,
  keep: true,
  onConflict: true,
  atomic: true,
  threads: true,
} as const satisfies Known<keyof ImportOptions>

/** `importFiles`' options, one line each. */
export const IMPORT_FILES_OPTIONS = {
  ...IMPORT_OPTIONS,
  into: true,
  trustStore: true,
} as const satisfies Known<keyof ImportFilesOptions | 'trustStore'>

/** What an import did. */
export interface ImportStats {
  /** Files and symlinks placed (kept ones are in `kept`). */
  files: number
  /** Directories created. */
  dirs: number
  cloned: number
  hardlinked: number
  /** Non-empty files copied, for whatever reason (the `...Copies` counts say why, where it was not the method chain). */
  copied: number
  symlinked: number
  /** Cache entries reset at the link limit. */
  resets: number
  bytesCopied: number
  elapsedMs: number
  /** The method most files were placed with (what `auto` settled on); null when no files. */
  method: 'clone' | 'hardlink' | 'copy' | 'symlink' | null
  /** Files left as they were: already in place (`onExisting: 'skip-if-linked'`, `ifExists: 'keep'`, or already the cache file's inode). */
  kept: number
  /** Empty files, created rather than linked (the most linked content of any store). */
  emptyCreated: number
  /** Copies at the link limit without a reset: `onLinkLimit: 'copy'`, or a filesystem that refuses every link. */
  linkLimitCopies: number
  /** Copies at the link limit because the cache entry could not be reset (a read-only cache). */
  readonlyCacheCopies: number
  /** Files whose own hard link was refused (EPERM under Linux's `protected_hardlinks`; EACCES from a FUSE filesystem where links worked before; Windows error 396) and that were cloned or copied. */
  linkRefusedCopies: number
  /**
   * Files hard-linked with `maxLinks` where link counts are hidden (the entry still read one
   * link after it: SFTP through sshfs), so `maxLinks` could not be applied to them (`linkFile`'s
   * `linkCounts: 'hidden'`). 0 without `maxLinks`.
   */
  maxLinksUnchecked: number
  /** Entries dropped for another that named the same file (`onConflict: 'first' | 'last'`). */
  conflicts: number
  /** Methods that did not work here and what they failed with, per method and code, with how many files (also those `auto` skipped because the process already knew). */
  fallbacks: ImportFallback[]
  /** Transient failures waited out and tried again (README, "Fallback"): renames (the stage into place), removals of the old tree, clones and copies. */
  retries: number
}

/** A method that did not work during an import, the code it failed with, and for how many files. */
export interface ImportFallback {
  method: LinkMethod
  code: string
  count: number
}

type Call = 'files' | 'tree'

interface Prepared {
  what: string | Buffer
  into: string | Buffer
  options: NativeImportOptions
}

const SEP = Buffer.from([0])

/** An object literal (or one made with a null prototype): a record of path to source. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && [Object.prototype, null].includes(Object.getPrototypeOf(v))
}

function hasNul(value: string | Buffer): boolean {
  return typeof value === 'string' ? value.includes('\0') : value.includes(0)
}

export function unsafePath(path: string | Buffer, why: string, caller: Function): Error {
  const err = new Error(`Unsafe path in entry '${String(path)}': ${why}`)
  Object.assign(err, { code: 'ERR_CACHELINK_UNSAFE_PATH', entry: String(path) })
  Error.captureStackTrace(err, caller)
  return err
}

/**
 * The entries in the addon's wire form: `path\0src\0flags\0size\0...` (see
 * crate/src/engine/wire.rs): UTF-8 for strings, the bytes themselves for Buffers.
 */
function entriesRecord(entries: unknown, caller: Function): Buffer {
  const parts: Array<string | Buffer> = []
  return wireRecord(parts, entryParts(entries, parts, 'entries', caller))
}

/**
 * Appends the entries' wire records to `parts` (their fields named `<name>[i].path` in errors);
 * returns whether any is a Buffer.
 */
export function entryParts(entries: unknown, parts: Array<string | Buffer>, name: string, caller: Function): boolean {
  let buffers = false
  // The field's name is built only for an error: this runs once per file of an install.
  const pathOf = (value: unknown, i: number | string, field: string): string | Buffer => {
    if (typeof value === 'string') return value
    if (Buffer.isBuffer(value)) {
      buffers = true
      return value
    }
    throw invalidArgType(`${name}[${i}].${field}`, 'of type string or an instance of Buffer', value, caller)
  }
  const file = (i: number | string, path: unknown, src: unknown) => {
    const p = pathOf(path, i, 'path')
    const s = pathOf(src, i, 'src')
    if (hasNul(p)) throw unsafePath(p, 'the path contains a NUL byte', caller)
    if (s.length === 0 || hasNul(s)) {
      throw invalidArgValue(`${name}[${i}].src`, String(s), 'must be a path without null bytes', caller)
    }
    parts.push(p, s, '', '')
  }
  if (entries instanceof Map) {
    let i = 0
    for (const [path, src] of entries) file(i++, path, src)
  } else if (Array.isArray(entries)) {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Record<string, unknown>
      if (typeof e !== 'object' || e === null) throw invalidArgType(`${name}[${i}]`, 'of type object', e, caller)
      const path = pathOf(e.path, i, 'path')
      if (hasNul(path)) throw unsafePath(path, 'the path contains a NUL byte', caller)
      if (e.dir !== undefined) {
        if (e.dir !== true) throw invalidArgValue(`${name}[${i}].dir`, e.dir, 'must be true when given', caller)
        if (!knownFields(e, DIR_ENTRY)) throw unknownField(e, DIR_ENTRY, `${name}[${i}]`, 'a directory entry', caller)
        parts.push(path, '', 'd', '')
        continue
      }
      if (e.symlink !== undefined) {
        if (!knownFields(e, SYMLINK_ENTRY)) throw unknownField(e, SYMLINK_ENTRY, `${name}[${i}]`, 'a symlink entry', caller)
        const target = pathOf(e.symlink, i, 'symlink')
        if (target.length === 0 || hasNul(target)) {
          throw invalidArgValue(`${name}[${i}].symlink`, String(target), 'must be a path without null bytes', caller)
        }
        parts.push(path, target, 'l', '')
        continue
      }
      const src = pathOf(e.src, i, 'src')
      if (src.length === 0 || hasNul(src)) {
        throw invalidArgValue(`${name}[${i}].src`, String(src), 'must be a path without null bytes', caller)
      }
      const { executable, size, mutable } = e
      if (executable !== undefined && typeof executable !== 'boolean') {
        throw invalidArgType(`${name}[${i}].executable`, 'of type boolean', executable, caller)
      }
      if (mutable !== undefined && typeof mutable !== 'boolean') {
        throw invalidArgType(`${name}[${i}].mutable`, 'of type boolean', mutable, caller)
      }
      if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) >= 0)) badSize(`${name}[${i}].size`, size, caller)
      if (!knownFields(e, FILE_ENTRY)) throw unknownField(e, FILE_ENTRY, `${name}[${i}]`, 'a file entry', caller)
      const flags = (executable === undefined ? '' : executable ? 'x' : 'n') + (mutable ? 'm' : '')
      parts.push(path, src, flags, size === undefined ? '' : String(size))
    }
  } else if (isPlainObject(entries)) {
    const record = entries as Record<string, unknown>
    for (const path of Object.keys(record)) file(JSON.stringify(path), path, record[path])
  } else {
    throw invalidArgType(
      name,
      'an Array of entries, a Map of path to src, or a plain object of path to src',
      entries,
      caller,
    )
  }
  return buffers
}

/**
 * Whether every own field of an entry is in `known`: a `for...in` over a few keys, per entry
 * (about 60 ns an entry; a keyed load is cheaper than `Object.hasOwn` on the table).
 */
function knownFields(e: object, known: Known): boolean {
  for (const k in e) if ((known as Record<string, unknown>)[k] !== true && Object.hasOwn(e, k)) return false
  return true
}

function unknownField(e: object, known: Known, name: string, what: string, caller: Function): Error {
  for (const k in e) if (!Object.hasOwn(known, k) && Object.hasOwn(e, k)) return unknownKey(e, k, known, name, `a field of ${what}`, caller)
  return new Error('unreachable')
}

/** A `size` that is not a byte count: ERR_INVALID_ARG_TYPE for a non-number, else ERR_OUT_OF_RANGE. */
export function badSize(name: string, size: unknown, caller: Function): never {
  if (typeof size !== 'number') throw invalidArgType(name, 'of type number', size, caller)
  throw outOfRange(name, `a byte count (an integer from 0 to ${Number.MAX_SAFE_INTEGER})`, size, caller)
}

/** The wire records as one Buffer: UTF-8 for strings, Buffers' bytes as they are. */
export function wireRecord(parts: Array<string | Buffer>, buffers: boolean): Buffer {
  if (!buffers) return Buffer.from(parts.join('\0'))
  const chunks: Buffer[] = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (i > 0) chunks.push(SEP)
    chunks.push(typeof part === 'string' ? Buffer.from(part) : part)
  }
  return Buffer.concat(chunks)
}

const ON_EXISTING = ['merge', 'replace', 'skip-if-linked', 'error'] as const
const ON_CONFLICT = ['error', 'first', 'last'] as const

function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback: T, caller: Function): T {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgValue(name, value, `must be one of: ${allowed.map((a) => `'${a}'`).join(', ')}`, caller)
  }
  return value as T
}

/** `keep`: plain relative paths, `/`-separated, as the engine joins them to both trees. */
function keepList(value: unknown, caller: Function): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalidArgType('options.keep', 'an Array of relative paths', value, caller)
  return value.map((k, i) => {
    if (typeof k !== 'string') throw invalidArgType(`options.keep[${i}]`, 'of type string', k, caller)
    const names = k.split('/').filter((n) => n !== '' && n !== '.')
    const bad =
      names.length === 0 || names.includes('..') || k.startsWith('/') || k.includes('\0') || (process.platform === 'win32' && /[\\:]/.test(k))
    if (bad) throw invalidArgValue(`options.keep[${i}]`, k, 'must be a relative path inside the destination', caller)
    return names.join('/')
  })
}

/**
 * The options every import takes, checked, in the addon's form; `known` is the calling
 * function's table (`fn` its name), against which misspelled options are refused.
 */
export function importOptions(options: unknown, caller: Function, known: Known, fn: string): NativeImportOptions {
  const o = (options ?? {}) as ImportFilesOptions
  const link = normalize(options, caller)
  checkOptions(options, known, fn, caller)
  const atomic = o.atomic ?? true
  if (typeof atomic !== 'boolean') throw invalidArgType('options.atomic', 'of type boolean', atomic, caller)
  const threads = o.threads ?? 0
  if (typeof threads !== 'number') throw invalidArgType('options.threads', 'of type number', threads, caller)
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
    throw outOfRange('options.threads', 'an integer from 0 (the number of cores) to 1024', threads, caller)
  }
  const onExisting = oneOf(o.onExisting, 'options.onExisting', ON_EXISTING, 'merge', caller)
  const onConflict = oneOf(o.onConflict, 'options.onConflict', ON_CONFLICT, 'error', caller)
  const keep = keepList(o.keep, caller)
  const trustStore = (o as { trustStore?: unknown }).trustStore ?? false
  if (typeof trustStore !== 'boolean') throw invalidArgType('options.trustStore', 'of type boolean', trustStore, caller)
  return { link, atomic, threads, onExisting, keep, onConflict, trustStore }
}

function prepare(call: Call, what: unknown, into: unknown, options: unknown, caller: Function): Prepared {
  const nativeOptions =
    call === 'files' ? importOptions(options, caller, IMPORT_FILES_OPTIONS, 'importFiles') : importOptions(options, caller, IMPORT_OPTIONS, 'importTree')
  return {
    what: call === 'files' ? entriesRecord(what, caller) : toPath(what, 'src', caller),
    into: toPath(into, call === 'files' ? 'options.into' : 'into', caller),
    options: nativeOptions,
  }
}

async function runAsync(
  call: Call,
  what: unknown,
  into: unknown,
  options: ImportOptions | undefined,
  caller: Function,
): Promise<ImportStats> {
  const p = prepare(call, what, into, options, caller)
  return controlled(options, caller, (control) =>
    call === 'files'
      ? addon().importFiles(p.what as Buffer, p.into, p.options, control)
      : addon().importTree(p.what, p.into, p.options, control),
  )
}

function runSync(call: Call, what: unknown, into: unknown, options: ImportOptions | undefined, caller: Function) {
  const p = prepare(call, what, into, options, caller)
  return controlledSync(options, caller, (control) =>
    call === 'files'
      ? addon().importFilesSync(p.what as Buffer, p.into, p.options, control)
      : addon().importTreeSync(p.what, p.into, p.options, control),
  )
}

/**
 * Materializes a package's file map into `options.into` in one native call, on cachelink's own
 * threads. Every option of {@link linkFile} applies per file. An existing `into` that is or holds
 * a `src` (symlinks resolved) is refused before anything is written (`ERR_CACHELINK_INTO_SOURCE`).
 *
 * @example
 * ```ts
 * const stats = await importFiles(
 *   [{ path: 'lib/index.js', src: '/store/ab/cdef01' }],
 *   { into: 'node_modules/.pnpm/foo@1.0.0/node_modules/foo' },
 * )
 * stats.hardlinked // 1
 * ```
 */
export async function importFiles(
  entries: ImportEntries,
  options: ImportFilesOptions,
): Promise<ImportStats> {
  return runAsync('files', entries, (options as Partial<ImportFilesOptions> | undefined)?.into, options, importFiles)
}

/** The synchronous twin of {@link importFiles} (no progress until the end; the signal is checked once). */
export function importFilesSync(entries: ImportEntries, options: ImportFilesOptions): ImportStats {
  return runSync('files', entries, (options as Partial<ImportFilesOptions> | undefined)?.into, options, importFilesSync)
}

/**
 * Mirrors the directory `src` at `into`: files (by the chosen method), subdirectories,
 * symlinks as symlinks, exec bits. An `into` inside `src`, or one that is or holds `src`, is
 * refused before anything is written (`ERR_CACHELINK_INTO_SOURCE`).
 *
 * @example
 * ```ts
 * await importTree('/cache/pkg-1.0', '/venv/lib/site-packages/pkg', { method: 'clone' })
 * ```
 */
export async function importTree(src: PathLike, into: PathLike, options?: ImportOptions): Promise<ImportStats> {
  return runAsync('tree', src, into, options, importTree)
}

/** The synchronous twin of {@link importTree}. */
export function importTreeSync(src: PathLike, into: PathLike, options?: ImportOptions): ImportStats {
  return runSync('tree', src, into, options, importTreeSync)
}
