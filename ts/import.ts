import { addon } from './addon.js'
import { type Controlled, controlled, controlledSync, type Progress } from './control.js'
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js'
import type { NativeImportOptions } from './native.js'
import { type LinkOptions, normalize, type PathLike, toPath } from './options.js'

/** One file of a batch: where it goes (relative to `into`, `/`-separated) and where it comes from. */
export interface ImportEntry {
  /** Relative to `into`, `/`-separated; refused (`ERR_CACHELINK_UNSAFE_PATH`): absolute paths, `..`, NUL, and on Windows only a backslash, a drive, `:`, `<>"|?*`, a trailing dot or space and device names (`nul.txt`). */
  path: string
  /** The cache file. */
  src: string
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
}

/** Files placed so far, of `total`. */
export type ImportProgress = Progress

export interface ImportOptions extends LinkOptions, Controlled {
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
}

/** What an import did. */
export interface ImportStats {
  /** Files (and symlinks) placed. */
  files: number
  /** Directories created. */
  dirs: number
  cloned: number
  hardlinked: number
  copied: number
  symlinked: number
  /** Cache entries reset at the link limit. */
  resets: number
  /** Times a method did not work here and the next one was used (or was skipped: `auto` knew). */
  fallbacks: number
  bytesCopied: number
  elapsedMs: number
  /** The method most files were placed with (what `auto` settled on); null when no files. */
  method: 'clone' | 'hardlink' | 'copy' | 'symlink' | null
}

type Call = 'files' | 'tree'

interface Prepared {
  what: string | Buffer
  into: string | Buffer
  options: NativeImportOptions
}

/** The entries in the addon's wire form: `path\0src\0x\0size\0...` as UTF-8. */
function entriesRecord(entries: unknown, caller: Function): Buffer {
  let list: Array<{ path?: unknown; src?: unknown; executable?: unknown; size?: unknown }>
  if (entries instanceof Map) {
    list = [...entries].map(([path, src]) => ({ path, src }))
  } else if (Array.isArray(entries)) {
    list = entries
  } else {
    throw invalidArgType('entries', 'an Array of { path, src } or a Map of path to src', entries, caller)
  }
  const parts: string[] = []
  for (let i = 0; i < list.length; i++) {
    const e = list[i]
    if (typeof e !== 'object' || e === null) throw invalidArgType(`entries[${i}]`, 'of type object', e, caller)
    const { path, src, executable, size } = e
    if (typeof path !== 'string') throw invalidArgType(`entries[${i}].path`, 'of type string', path, caller)
    if (typeof src !== 'string') throw invalidArgType(`entries[${i}].src`, 'of type string', src, caller)
    if (executable !== undefined && typeof executable !== 'boolean') {
      throw invalidArgType(`entries[${i}].executable`, 'of type boolean', executable, caller)
    }
    if (path.includes('\0')) {
      const err = new Error(`Unsafe path in entry '${path}': the path contains a NUL byte`)
      Object.assign(err, { code: 'ERR_CACHELINK_UNSAFE_PATH', entry: path })
      Error.captureStackTrace(err, caller)
      throw err
    }
    if (src.length === 0 || src.includes('\0')) {
      throw invalidArgValue(`entries[${i}].src`, src, 'must be a path without null bytes', caller)
    }
    if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) >= 0)) {
      throw invalidArgValue(`entries[${i}].size`, size, 'must be a byte count (an integer >= 0)', caller)
    }
    parts.push(path, src, executable === undefined ? '' : executable ? '1' : '0', size === undefined ? '' : String(size))
  }
  return Buffer.from(parts.join('\0'))
}

function prepare(call: Call, what: unknown, into: unknown, options: unknown, caller: Function): Prepared {
  const o = (options ?? {}) as ImportFilesOptions
  const link = normalize(options, caller)
  const atomic = o.atomic ?? true
  if (typeof atomic !== 'boolean') throw invalidArgType('options.atomic', 'of type boolean', atomic, caller)
  const threads = o.threads ?? 0
  if (typeof threads !== 'number') throw invalidArgType('options.threads', 'of type number', threads, caller)
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
    throw outOfRange('options.threads', 'an integer from 0 (the number of cores) to 1024', threads, caller)
  }
  return {
    what: call === 'files' ? entriesRecord(what, caller) : toPath(what, 'src', caller),
    into: toPath(into, call === 'files' ? 'options.into' : 'into', caller),
    options: { link, atomic, threads },
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
 * threads. Every option of {@link linkFile} applies per file.
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
  entries: ImportEntry[] | Map<string, string>,
  options: ImportFilesOptions,
): Promise<ImportStats> {
  return runAsync('files', entries, (options as Partial<ImportFilesOptions> | undefined)?.into, options, importFiles)
}

/** The synchronous twin of {@link importFiles} (no progress until the end; the signal is checked once). */
export function importFilesSync(entries: ImportEntry[] | Map<string, string>, options: ImportFilesOptions): ImportStats {
  return runSync('files', entries, (options as Partial<ImportFilesOptions> | undefined)?.into, options, importFilesSync)
}

/**
 * Mirrors the directory `src` at `into`: files (by the chosen method), subdirectories,
 * symlinks as symlinks, exec bits.
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
