import * as fs from 'node:fs'
import { join, relative } from 'node:path'
import { invalidArgValue } from './errors.js'
import { type PathLike, toPath } from './options.js'
import { checkOptions, type Known } from './suggest.js'
import type { VerifyEntry } from './verify.js'

/** A file of pnpm's content-addressable store, with what its index files say about it. */
export interface PnpmStoreEntry extends VerifyEntry {
  /** `<store>/v10/files/<2 hex>/<126 hex>[-exec]`. */
  path: string
  /** As the index records it: `sha512-<base64>`. */
  integrity: string
  /** The mode the index records (`-exec` in the name when any execute bit is set). */
  mode: number
  /** The size the index records. */
  size: number
  /** The package files that are this store file: `<name>@<version>/<path in the package>`. */
  uses: string[]
}

export interface PnpmStore {
  /** The store's version directory: `<store>/v10`. */
  dir: string
  /** One per store file (a file several packages share is listed once, with all its `uses`). */
  entries: PnpmStoreEntry[]
  /** Index files read. */
  packages: number
  /** Index files that could not be read or parsed, and why. */
  badIndexes: Array<{ path: string; message: string }>
}

export interface PnpmStoreOptions {
  /**
   * Another copy of the store (a backup, or a fresh store filled by `pnpm fetch --store-dir
   * <dir>` with the same lockfile): each entry's `good` is the file at the same place in it.
   * verifyEntries uses it only when its digest is the expected one.
   */
  repairFrom?: PathLike
}

/** `pnpmStoreEntries`' options, one line each (see `LINK_OPTIONS` in options.ts). */
export const PNPM_STORE_OPTIONS = { repairFrom: true } as const satisfies Known<keyof PnpmStoreOptions>

interface IndexFile {
  name?: unknown
  version?: unknown
  files?: unknown
  sideEffects?: unknown
}

interface FileInfo {
  integrity: string
  mode: number
  size: number
}

function isFileInfo(v: unknown): v is FileInfo {
  const f = v as Partial<FileInfo> | null
  return typeof f === 'object' && f !== null && typeof f.integrity === 'string' && typeof f.mode === 'number'
}

/** The version directory of pnpm 10's store: `dir` itself, or `dir/v10`. */
function storeVersionDir(dir: string, caller: Function): string {
  const isStore = (d: string) => fs.existsSync(join(d, 'index')) && fs.existsSync(join(d, 'files'))
  if (isStore(join(dir, 'v10'))) return join(dir, 'v10')
  if (isStore(dir)) return dir
  throw invalidArgValue('storeDir', dir, "is not a pnpm 10 store (no v10/index and v10/files; `pnpm store path` prints it)", caller)
}

/**
 * The CAS path pnpm 10 gives a file: the sha512 digest in hex, split after two digits, with
 * `-exec` when any execute bit of its mode is set (pnpm's `getFilePathByModeInCafs`). Null when
 * the integrity is not sha512 SRI.
 */
export function casPath(versionDir: string, integrity: string, mode: number): string | null {
  const m = /^sha512-([A-Za-z0-9+/]+={0,2})$/.exec(integrity.trim())
  if (!m) return null
  const hex = Buffer.from(m[1], 'base64').toString('hex')
  if (hex.length !== 128) return null
  return join(versionDir, 'files', hex.slice(0, 2), hex.slice(2) + ((mode & 0o111) !== 0 ? '-exec' : ''))
}

/**
 * Reads pnpm 10's store index (`<store>/v10/index/<2 hex>/<rest>-<name>@<version>.json`, each
 * `{ name, version, files: { [path]: { integrity, mode, size, checkedAt } } }`, and the files
 * of its `sideEffects` builds) into entries for {@link verifyEntries}: one per store file.
 *
 * @example
 * ```ts
 * const store = await pnpmStoreEntries('/home/me/.local/share/pnpm/store')
 * const r = await verifyEntries(store.entries)
 * ```
 */
export async function pnpmStoreEntries(storeDir: PathLike, options: PnpmStoreOptions = {}): Promise<PnpmStore> {
  checkOptions(options, PNPM_STORE_OPTIONS, 'pnpmStoreEntries', pnpmStoreEntries)
  const dir = storeVersionDir(String(toPath(storeDir, 'storeDir', pnpmStoreEntries)), pnpmStoreEntries)
  const from =
    options.repairFrom === undefined
      ? null
      : storeVersionDir(String(toPath(options.repairFrom, 'options.repairFrom', pnpmStoreEntries)), pnpmStoreEntries)
  const byPath = new Map<string, PnpmStoreEntry>()
  const badIndexes: PnpmStore['badIndexes'] = []
  const indexDir = join(dir, 'index')
  const files: string[] = []
  for (const sub of await fs.promises.readdir(indexDir, { withFileTypes: true })) {
    if (!sub.isDirectory()) continue
    for (const name of await fs.promises.readdir(join(indexDir, sub.name))) {
      if (name.endsWith('.json')) files.push(join(indexDir, sub.name, name))
    }
  }
  const add = (pkg: string, rel: string, info: FileInfo) => {
    const path = casPath(dir, info.integrity, info.mode)
    if (!path) return false
    let e = byPath.get(path)
    if (!e) {
      e = { path, integrity: info.integrity, mode: info.mode, size: info.size, uses: [] }
      if (from) e.good = join(from, relative(dir, path))
      byPath.set(path, e)
    }
    e.uses.push(`${pkg}/${rel}`)
    return true
  }
  let next = 0
  const reader = async () => {
    while (next < files.length) {
      const file = files[next++]
      let index: IndexFile
      try {
        index = JSON.parse(await fs.promises.readFile(file, 'utf8')) as IndexFile
      } catch (e) {
        badIndexes.push({ path: file, message: (e as Error).message })
        continue
      }
      const pkg = `${String(index.name)}@${String(index.version)}`
      const maps: unknown[] = [index.files]
      if (index.sideEffects && typeof index.sideEffects === 'object') {
        for (const build of Object.values(index.sideEffects)) maps.push((build as { added?: unknown } | null)?.added)
      }
      let bad = typeof index.files !== 'object' || index.files === null
      for (const map of maps) {
        if (!map || typeof map !== 'object') continue
        for (const [rel, info] of Object.entries(map)) if (!isFileInfo(info) || !add(pkg, rel, info)) bad = true
      }
      if (bad) badIndexes.push({ path: file, message: 'not the index format of pnpm 10 (files: { [path]: { integrity: sha512-…, mode } })' })
    }
  }
  await Promise.all(Array.from({ length: 16 }, reader))
  badIndexes.sort((a, b) => (a.path < b.path ? -1 : 1))
  const entries = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { dir, entries, packages: files.length - badIndexes.length, badIndexes }
}
