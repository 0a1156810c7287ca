import * as fs from 'node:fs'
import { dirname, join, resolve, sep } from 'node:path'
import { addon } from './addon.js'
import { controlled, controlledSync } from './control.js'
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js'
import {
  badSize,
  entryParts,
  IMPORT_OPTIONS,
  type ImportEntries,
  importOptions,
  type ImportOptions,
  type ImportStats,
  isPlainObject,
  unsafePath,
  wireRecord,
} from './import.js'
import type { NativeImportOptions, PackageInstall } from './native.js'
import { type PathLike, toPath } from './options.js'
import { checkKeys, type Known, similar } from './suggest.js'

/**
 * A file as pnpm's package index records it (the `files` of a pnpm 10 index file): its digest,
 * its mode, its size. cachelink finds it in the store from the digest and the mode, as pnpm's
 * `getFilePathByModeInCafs` does: `<store>/files/<2 hex>/<the rest>[-exec]`.
 */
export interface PnpmFileInfo {
  /** SRI as pnpm records it: `sha512-<base64>` (the first of several, `?options` ignored). */
  integrity?: string
  /** The digest in hex, instead of `integrity`. */
  digest?: string
  /** The file's mode: any execute bit means the store's `-exec` file, and an executable copy. */
  mode: number
  /** Its size in bytes: lets a hard link skip a look at the store file. */
  size?: number
  [other: string]: unknown
}

/** A package's index: relative path → what pnpm records for the file. */
export type PnpmFilesIndex = Record<string, PnpmFileInfo> | Map<string, PnpmFileInfo>

/** One package of an install. */
export interface PackageImport {
  /** The package's folder (pnpm: `node_modules/.pnpm/<name>@<version>/node_modules/<name>`). */
  into: PathLike
  /**
   * Its files: pnpm's index as it is (with `options.store`), or entries as
   * {@link importFiles} takes them (sources named by path).
   */
  files: PnpmFilesIndex | ImportEntries
}

/** A package's fields, one line each: any other is refused (see `LINK_OPTIONS` in options.ts). */
export const PACKAGE_FIELDS = { into: true, files: true } as const satisfies Known<keyof PackageImport>

export interface ImportPackagesOptions extends ImportOptions {
  /**
   * The store the indexes' digests name files in: pnpm's store directory (`pnpm store path`,
   * or its `v10`), whose files are at `files/<2 hex>/<the rest>[-exec]`. Needed when any
   * package's `files` is a pnpm index.
   */
  store?: PathLike
}

/** `importPackages`' options, one line each. */
export const IMPORT_PACKAGES_OPTIONS = {
  ...IMPORT_OPTIONS,
  store: true,
  trustStore: true,
} as const satisfies Known<keyof ImportPackagesOptions | 'trustStore'>

/** What an install did: every package's {@link ImportStats} summed, and how many packages. */
export interface ImportPackagesStats extends ImportStats {
  /** Packages imported. */
  packages: number
}

/** The store's `files` directory: `<dir>/v10/files` or `<dir>/files`. */
function filesDir(store: string | Buffer, caller: Function): string | Buffer {
  const under = (d: string | Buffer, name: string) =>
    typeof d === 'string' ? join(d, name) : Buffer.concat([d, Buffer.from(`/${name}`)])
  for (const dir of [under(under(store, 'v10'), 'files'), under(store, 'files')]) {
    try {
      if (fs.statSync(dir).isDirectory()) return dir
    } catch {}
  }
  throw invalidArgValue('options.store', String(store), 'is not a store: it has no files/ or v10/files/ directory', caller)
}

/** Whether `files` is a pnpm index (values are objects) rather than path → src. */
function isPnpmIndex(files: unknown): boolean {
  if (files instanceof Map) {
    for (const v of files.values()) return typeof v === 'object' && v !== null
    return false
  }
  if (!isPlainObject(files)) return false
  for (const k in files) return typeof files[k] === 'object' && files[k] !== null
  return false
}

/**
 * A pnpm index's files as wire records flagged `s` (see crate/src/engine/wire.rs): one
 * concatenation per file, no array of fields (this loop is the caller's whole cost per file).
 */
function pnpmRecords(files: PnpmFilesIndex, name: string, caller: Function): { records: Buffer; count: number } {
  let out = ''
  let count = 0
  const one = (path: string, info: unknown) => {
    const f = info as PnpmFileInfo
    const digest = typeof f === 'object' && f !== null ? (f.integrity ?? f.digest) : undefined
    const mode = f?.mode
    const size = f?.size
    if (
      typeof digest !== 'string' ||
      typeof mode !== 'number' ||
      !(size === undefined || (Number.isSafeInteger(size) && size >= 0)) ||
      digest.length === 0 ||
      digest.includes('\0') ||
      path.includes('\0') ||
      // An integer from 0 to 0o177777 (one `&`, cheaper than Number.isInteger: this runs per file).
      (mode & 0o177777) !== mode
    ) {
      badFile(path, info, name, caller)
    }
    out += `${out === '' ? '' : '\0'}${path}\0${digest}${(mode & 0o111) !== 0 ? '\0sx\0' : '\0sn\0'}${size ?? ''}`
    count++
  }
  if (files instanceof Map) for (const [path, info] of files) one(path, info)
  else {
    const paths = Object.keys(files)
    for (let i = 0; i < paths.length; i++) one(paths[i], files[paths[i]])
  }
  return { records: Buffer.from(out), count }
}

/** Throws the error for a file of a pnpm index that `pnpmRecords` refused. */
function badFile(path: string, info: unknown, name: string, caller: Function): never {
  const field = `${name}[${JSON.stringify(path)}]`
  if (typeof info !== 'object' || info === null) throw invalidArgType(field, 'of type object', info, caller)
  const f = info as PnpmFileInfo
  const digest = f.integrity ?? f.digest
  // The index is pnpm's own format, so other fields are not refused; but this path is slow
  // anyway, so a missing field gets a guess among the record's fields (`integrty`, `Mode`).
  const guess = (want: string) => {
    const found = similar(want, Object.keys(f)).filter((k) => k !== want)
    return found.length === 0 ? '' : ` (the record has ${found.map((k) => `'${k}'`).join(', ')}: a misspelling?)`
  }
  if (typeof digest !== 'string' || digest.length === 0 || digest.includes('\0')) {
    const hint = digest === undefined ? guess('integrity') || guess('digest') : ''
    throw invalidArgType(`${field}.integrity`, `a non-empty string (or a hex \`digest\`)${hint}`, digest, caller)
  }
  if (typeof f.mode !== 'number') throw invalidArgType(`${field}.mode`, `an integer${f.mode === undefined ? guess('mode') : ''}`, f.mode, caller)
  if ((f.mode & 0o177777) !== f.mode) throw outOfRange(`${field}.mode`, 'an integer from 0 to 0o177777', f.mode, caller)
  if (f.size !== undefined && !(Number.isSafeInteger(f.size) && f.size >= 0)) badSize(`${field}.size`, f.size, caller)
  throw unsafePath(path, 'the path contains a NUL byte', caller)
}

interface Checked {
  store: string | Buffer | null
  options: NativeImportOptions
  packages: Listed[]
}

/** A package as given, its folder checked, and where it sits in another package of the install. */
interface Listed {
  pkg: PackageImport
  into: string | Buffer
  /** Nested in the package of this index (its folder below that one's), at `rel`. */
  outer?: number
  rel?: Buffer
}

/**
 * A folder as a key: resolved lexically as `path.resolve` does (`./`, `..`, repeated and trailing
 * separators; symlinks are not looked at), over its bytes (one char per byte), so a Buffer and
 * a string naming the same folder meet.
 */
function folderKey(into: string | Buffer): string {
  const bytes = (s: string) => Buffer.from(s).toString('latin1')
  return resolve(bytes(process.cwd()), typeof into === 'string' ? bytes(into) : into.toString('latin1'))
}

/**
 * Every package's folder, checked before anything is written: the same folder twice is refused
 * (`ERR_INVALID_ARG_VALUE` naming both), and a package whose folder is below another's is
 * marked nested in the nearest one (pnpm's hoisted `x` and `x/node_modules/y`).
 */
function listPackages(packages: Iterable<unknown>, caller: Function): Listed[] {
  const list: Listed[] = []
  const keys: string[] = []
  const byKey = new Map<string, number>()
  let i = 0
  for (const pkg of packages) {
    if (typeof pkg !== 'object' || pkg === null) throw invalidArgType(`packages[${i}]`, 'of type object', pkg, caller)
    checkKeys(pkg, PACKAGE_FIELDS, `packages[${i}]`, 'a field of a package', caller, {
      known: IMPORT_PACKAGES_OPTIONS,
      name: 'an option of importPackages: options',
    })
    const into = toPath((pkg as PackageImport).into, `packages[${i}].into`, caller)
    const key = folderKey(into)
    const first = byKey.get(key)
    if (first !== undefined) {
      throw invalidArgValue(`packages[${i}].into`, String(into), `names the same folder as packages[${first}].into`, caller)
    }
    byKey.set(key, i)
    keys.push(key)
    list.push({ pkg: pkg as PackageImport, into })
    i++
  }
  if (list.length > 1) {
    for (let j = 0; j < list.length; j++) {
      for (let d = dirname(keys[j]), up = keys[j]; d !== up; up = d, d = dirname(d)) {
        const outer = byKey.get(d)
        if (outer === undefined) continue
        list[j].outer = outer
        list[j].rel = Buffer.from(keys[j].slice(d.length + (d.endsWith(sep) ? 0 : 1)), 'latin1')
        break
      }
    }
  }
  return list
}

function check(packages: unknown, options: unknown, caller: Function): Checked {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalidArgType('options', 'of type object', options, caller)
  }
  const o = (options ?? {}) as ImportPackagesOptions
  const nativeOptions = importOptions(options, caller, IMPORT_PACKAGES_OPTIONS, 'importPackages')
  if (typeof packages !== 'object' || packages === null || !(Symbol.iterator in packages)) {
    throw invalidArgType('packages', 'an iterable of { into, files }', packages, caller)
  }
  const store = o.store === undefined ? null : filesDir(toPath(o.store, 'options.store', caller), caller)
  return { store, options: nativeOptions, packages: listPackages(packages as Iterable<unknown>, caller) }
}

/**
 * Describes each package to the install as it goes (the threads start on the first), and
 * cancels the install when one cannot be described: then nothing is put in place.
 */
function feed(install: PackageInstall, packages: Listed[], store: unknown, caller: Function): void {
  try {
    for (let i = 0; i < packages.length; i++) {
      const { pkg, into: dir, outer, rel } = packages[i]
      const { files } = pkg
      if (isPnpmIndex(files)) {
        if (store === null) {
          throw invalidArgValue('options.store', undefined, `is needed: packages[${i}].files is a pnpm index`, caller)
        }
        const { records, count } = pnpmRecords(files as PnpmFilesIndex, `packages[${i}].files`, caller)
        install.add(dir, records, count, outer, rel)
      } else {
        const parts: Array<string | Buffer> = []
        const buffers = entryParts(files, parts, `packages[${i}].files`, caller)
        install.add(dir, wireRecord(parts, buffers), parts.length / 4, outer, rel)
      }
    }
  } catch (e) {
    install.cancel()
    throw e
  }
}

function flat(out: { stats: ImportStats; packages: number }): ImportPackagesStats {
  return { ...out.stats, packages: out.packages }
}

/**
 * A whole install in one call: every package imported as {@link importFiles} imports one
 * (into a stage beside its folder), each a job on cachelink's threads as soon as it is
 * described. With `options.store`, a package's `files` can be pnpm's index as it is (path →
 * `{ integrity, mode, size }`): the store paths are worked out in native code, so the caller
 * builds no object or string per file.
 *
 * All or nothing: the stages are renamed into place, in the order given, only once every
 * package is checked and imported. An error in any package, bad input, an abort or a throwing
 * `onProgress` removes every stage and every folder the install made: the call rejects and the
 * tree is as it was. Progress counts the files of every package. Store files are trusted to be
 * regular files (see the README).
 *
 * A package below another of the same call (`x` and `x/node_modules/y`, in any order) is imported
 * into the outer's stage and placed with it. Refused before anything is written: the same `into`
 * twice (`ERR_INVALID_ARG_VALUE`, after `path.resolve`), and an existing `into` that is or holds
 * the store or a `src` (`ERR_CACHELINK_INTO_SOURCE`).
 *
 * @example
 * ```ts
 * const stats = await importPackages(
 *   [{ into: 'node_modules/.pnpm/foo@1.0.0/node_modules/foo', files: index.files }],
 *   { store: '/home/me/.local/share/pnpm/store' },
 * )
 * stats.packages // 1
 * ```
 */
export async function importPackages(
  packages: Iterable<PackageImport>,
  options?: ImportPackagesOptions,
): Promise<ImportPackagesStats> {
  const c = check(packages, options, importPackages)
  return flat(
    await controlled(options, importPackages, (control) => {
      const install = new (addon().PackageInstall)(c.store, c.options, control)
      feed(install, c.packages, c.store, importPackages)
      return install.finish()
    }),
  )
}

/** The synchronous twin of {@link importPackages} (no progress until the end; the signal is checked once). */
export function importPackagesSync(packages: Iterable<PackageImport>, options?: ImportPackagesOptions): ImportPackagesStats {
  const c = check(packages, options, importPackagesSync)
  return flat(
    controlledSync(options, importPackagesSync, (control) => {
      const install = new (addon().PackageInstall)(c.store, c.options, control)
      feed(install, c.packages, c.store, importPackagesSync)
      return install.finishSync()
    }),
  )
}
